"""One generic registry for every pluggable thing (languages, tasks, generators, scorers).

Entries are lazy: registering ``"python": "codepref.languages.python:PYTHON"`` imports
nothing until the entry is first looked up, so ``import codepref`` and ``codepref --help``
stay cheap. Unknown names raise :class:`~codepref.errors.UnknownNameError` with the
closest known names ("did you mean ...").
"""

from __future__ import annotations

import difflib
import importlib
from typing import Generic, TypeVar

from codepref.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object mapping whose values may be ``"module:attr"`` strings loaded on demand.

    Args:
        kind: what the registry holds, used in error messages ("language", "scorer" ...).
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T | str] = {}

    def register(self, name: str, obj: T | str, *, replace: bool = False) -> None:
        """Add ``obj`` (or a lazy ``"module:attr"`` reference) under ``name``."""
        if name in self._entries and not replace:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = obj

    def get(self, name: str) -> T:
        """Return the object registered as ``name``, importing it on first use."""
        try:
            entry = self._entries[name]
        except KeyError:
            raise UnknownNameError(self._unknown_message(name)) from None
        if isinstance(entry, str):
            module_name, _, attr = entry.partition(":")
            entry = getattr(importlib.import_module(module_name), attr)
            self._entries[name] = entry
        return entry  # type: ignore[return-value]

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def _unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, self._entries, n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        known = ", ".join(self.names()) or "none"
        return f"unknown {self.kind} {name!r}{hint} (known: {known})"
