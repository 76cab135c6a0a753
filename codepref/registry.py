"""One generic registry for every pluggable thing (languages, tasks, generators, scorers).

Entries are lazy: registering ``"python": "codepref.languages.python:PYTHON"`` imports
nothing until the entry is first looked up, so ``import codepref`` and ``codepref --help``
stay cheap. Unknown names raise :class:`~codepref.errors.UnknownNameError` with the
closest known names ("did you mean ...").

Plugins: a registry made with an entry-point ``group`` also holds what installed packages
declare in that group (``codepref.languages``, ``codepref.tasks``, ``codepref.scorers``),
e.g. in a plugin's ``pyproject.toml``::

    [project.entry-points."codepref.languages"]
    bash = "codepref_bash:BASH"

The entry point's name is the registry name and its value the lazy ``"module:attr"``
reference. Installed entry points are read once, the first time a name is not among the
built-in ones (or all names are listed), so built-in lookups never scan them. A built-in
name wins over a plugin of the same name (the plugin is listed as shadowed).
"""

from __future__ import annotations

import difflib
import importlib
from typing import Generic, TypeVar

from codepref.errors import UnknownNameError

T = TypeVar("T")

BUILTIN = "built-in"


class Registry(Generic[T]):
    """A name -> object mapping whose values may be ``"module:attr"`` strings loaded on demand.

    Args:
        kind: what the registry holds, used in error messages ("language", "scorer" ...).
        group: the Python entry-point group plugins register in (None: no plugins).
    """

    def __init__(self, kind: str, group: str | None = None):
        self.kind = kind
        self.group = group
        self._entries: dict[str, T | str] = {}
        self._origins: dict[str, str] = {}
        self._shadowed: dict[str, str] = {}
        self._plugins_read = group is None

    def register(self, name: str, obj: T | str, *, replace: bool = False, origin: str = BUILTIN) -> None:
        """Add ``obj`` (or a lazy ``"module:attr"`` reference) under ``name``.

        ``origin`` says where it comes from (``built-in``, or a plugin's distribution).
        """
        if name in self._entries and not replace:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = obj
        self._origins[name] = origin

    def get(self, name: str) -> T:
        """Return the object registered as ``name``, importing it on first use."""
        if name not in self._entries:
            self._read_plugins()
        try:
            entry = self._entries[name]
        except KeyError:
            raise UnknownNameError(self._unknown_message(name)) from None
        if isinstance(entry, str):
            module_name, _, attr = entry.partition(":")
            try:
                entry = getattr(importlib.import_module(module_name), attr)
            except (ImportError, AttributeError) as e:
                if self._origins.get(name, BUILTIN) == BUILTIN:
                    raise
                raise UnknownNameError(f"{self.kind} {name!r} from plugin {self._origins[name]} cannot be "
                                       f"loaded ({entry}): {e}") from None
            self._entries[name] = entry
        return entry  # type: ignore[return-value]

    def names(self) -> list[str]:
        """All registered names (built-in and installed plugins), sorted."""
        self._read_plugins()
        return sorted(self._entries)

    def origin(self, name: str) -> str:
        """Where ``name`` comes from: ``built-in`` or ``plugin DIST VERSION``."""
        self.get(name)
        return self._origins.get(name, BUILTIN)

    def shadowed(self) -> dict[str, str]:
        """Plugin entries ignored because a built-in has their name: name -> plugin."""
        self._read_plugins()
        return dict(self._shadowed)

    def __contains__(self, name: object) -> bool:
        if name not in self._entries:
            self._read_plugins()
        return name in self._entries

    def _read_plugins(self) -> None:
        """Register the installed entry points of :attr:`group` (once)."""
        if self._plugins_read:
            return
        self._plugins_read = True
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.group):
            dist = getattr(ep, "dist", None)
            origin = f"plugin {dist.name} {dist.version}" if dist is not None else f"plugin {ep.value}"
            if ep.name in self._entries:
                if self._origins.get(ep.name) != origin:
                    self._shadowed[ep.name] = origin
                continue
            self.register(ep.name, ep.value, origin=origin)

    def _unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, self._entries, n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        known = ", ".join(self.names()) or "none"
        return f"unknown {self.kind} {name!r}{hint} (known: {known})"
