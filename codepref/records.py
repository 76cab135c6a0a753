"""Typed records passed between stages, and the JSONL files that hold them.

Every stage writes one record per line, after a header line ``{"_header": {...}}`` that
names the record kind, the codepref version and a hash of the settings that produced the
file. Output is appended to ``NAME.partial`` and flushed line by line; once a stage is done
the file is renamed to ``NAME`` atomically. A rerun that finds a ``.partial`` file resumes
after its last complete line; one that finds the final file skips what it holds.
"""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from codepref import __version__
from codepref.errors import InputError, OutputMismatchError
from codepref.hashing import json_sha256

HEADER_KEY = "_header"


class Outcome(str, enum.Enum):
    """What happened to one program or one solution x test cell.

    ``sandbox_error`` means the sandbox itself failed (after retries); it says nothing about
    the code and is never counted as a test failure.
    """

    PASSED = "passed"  # exit status 0
    FAILED = "failed"  # ran to the end and reported failure: AssertionError or nonzero exit
    ERROR = "error"  # crashed: another exception, a signal (segfault), output over the cap
    TIMEOUT = "timeout"  # wall-clock limit reached; the whole process group was killed
    OOM = "oom"  # the memory limit was hit (cgroup OOM kill or MemoryError)
    SANDBOX_ERROR = "sandbox_error"  # the sandbox failed; excluded from scoring


@dataclass(frozen=True)
class Program:
    """One program to run in the sandbox (``codepref sandbox exec`` input line)."""

    id: str
    language: str
    code: str
    timeout_s: float | None = None
    stdin: str | None = None


@dataclass(frozen=True)
class ExecResult:
    """The result of one program (``codepref sandbox exec`` output line)."""

    id: str
    outcome: Outcome
    exit_code: int | None
    duration_s: float
    stdout: str = ""
    stderr: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["outcome"] = self.outcome.value
        return d


@dataclass(frozen=True)
class MatrixJob:
    """All solutions x all tests of one task (``codepref sandbox matrix`` input line).

    Attributes:
        task_id: the task's id.
        language: a name in the language registry.
        solutions: candidate programs (each is loaded once, then forked per test).
        tests: test snippets, each run against each solution in a fresh fork.
        setup: code run before each solution (imports, helpers), may be empty.
        timeout_s: wall-clock limit per cell; ``None`` takes the sandbox default.
        test_timeouts_s: optional per-test limits overriding ``timeout_s``.
    """

    task_id: str
    language: str
    solutions: list[str]
    tests: list[str]
    setup: str = ""
    timeout_s: float | None = None
    test_timeouts_s: list[float] | None = None


@dataclass
class PassMatrix:
    """Outcomes of every solution x test cell of one task.

    ``outcomes[i][j]`` is the outcome of solution ``i`` on test ``j``. Cells whose outcome
    is ``sandbox_error`` are excluded from scoring (see :meth:`valid`).
    """

    task_id: str
    outcomes: list[list[Outcome]]
    durations: list[list[float]]

    @property
    def shape(self) -> tuple[int, int]:
        n = len(self.outcomes)
        return n, (len(self.outcomes[0]) if n else 0)

    def passed(self):
        """Boolean numpy array, True where the cell passed."""
        import numpy as np

        return np.array([[o is Outcome.PASSED for o in row] for row in self.outcomes], dtype=bool)

    def valid(self):
        """Boolean numpy array, False where the sandbox failed (cell excluded)."""
        import numpy as np

        return np.array(
            [[o is not Outcome.SANDBOX_ERROR for o in row] for row in self.outcomes], dtype=bool
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "outcomes": [[o.value for o in row] for row in self.outcomes],
            "durations": [[round(d, 6) for d in row] for row in self.durations],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PassMatrix:
        return cls(
            task_id=d["task_id"],
            outcomes=[[Outcome(o) for o in row] for row in d["outcomes"]],
            durations=[[float(x) for x in row] for row in d["durations"]],
        )


@dataclass(frozen=True)
class Task:
    """A programming prompt.

    Attributes:
        id: unique id within its task set ("HumanEval/0", "Mbpp/2" ...).
        language: a name in the language registry.
        prompt: the text shown to the model.
        entry_point: the function the solution must define ("" if none).
        tests: reference (hidden) test programs; may be empty for training prompts.
        setup: code prepended to every solution (imports), may be empty.
        metadata: anything task-set specific (canonical solution, db id, buggy SQL ...).
    """

    id: str
    language: str
    prompt: str
    entry_point: str = ""
    tests: list[str] = field(default_factory=list)
    setup: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sample:
    """One generated text: a candidate solution or a candidate test.

    Attributes:
        task_id: the task it answers.
        kind: ``"solution"`` or ``"test"``.
        index: position among the task's samples of this kind.
        text: the extracted code.
        generator: model id and backend that produced it.
        params: sampling parameters (temperature, top_p, seed ...).
        logprob: total log-probability of the raw completion, if the backend gives it.
        raw: the raw completion before extraction.
    """

    task_id: str
    kind: str
    index: int
    text: str
    generator: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    logprob: float | None = None
    raw: str = ""


@dataclass(frozen=True)
class Pair:
    """A DPO preference pair; the first three columns are TRL's ``prompt/chosen/rejected``."""

    prompt: str
    chosen: str
    rejected: str
    task_id: str = ""
    scorer: str = ""
    chosen_score: float = 0.0
    rejected_score: float = 0.0
    why: str = ""


@dataclass(frozen=True)
class Labelled:
    """A KTO sample; the first three columns are TRL's ``prompt/completion/label``."""

    prompt: str
    completion: str
    label: bool
    task_id: str = ""
    scorer: str = ""
    score: float = 0.0


# --------------------------------------------------------------------------- JSONL io


def settings_hash(settings: dict[str, Any]) -> str:
    """A short stable hash of JSON-serialisable settings (sorted keys)."""
    return json_sha256(settings, 16)


def make_header(kind: str, settings: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The header line's content: record kind, codepref version, settings and their hash."""
    return {
        "kind": kind,
        "codepref": __version__,
        "settings_hash": settings_hash(settings),
        "settings": settings,
        **extra,
    }


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` all at once: ``NAME.partial`` first, then renamed over
    ``path`` (readers never see half a file); the parent folder is created if missing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def is_int_list(value: Any) -> bool:
    """True for a JSON list of integers (booleans, which are ints in Python, excluded)."""
    return isinstance(value, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in value)


def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each record line, skipping the header and blanks.

    Raises:
        InputError: naming the file and line, for bytes that are not UTF-8, text that is
            not JSON, or JSON that is not an object.
    """
    name = str(path)
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise InputError("file not found", name) from None
    with fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(f"not valid UTF-8 ({e.reason} at byte {e.start})", name, lineno) from None
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                raise InputError(f"malformed JSON: {e.msg} (column {e.colno})", name, lineno) from None
            if not isinstance(obj, dict):
                raise InputError(f"expected a JSON object, got {type(obj).__name__}", name, lineno)
            if HEADER_KEY in obj:
                continue
            yield lineno, obj


def read_header(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The header of a JSONL file written by codepref, or None if it has none."""
    try:
        with open(path, "rb") as fh:
            first = fh.readline()
    except FileNotFoundError:
        return None
    try:
        obj = json.loads(first)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return obj.get(HEADER_KEY) if isinstance(obj, dict) else None


class ResumableJsonl:
    """An append-only JSONL output that is renamed into place when complete.

    Usage::

        out = ResumableJsonl(path, header, key=lambda r: r["id"])
        done = out.open()              # keys already written (from NAME or NAME.partial)
        for rec in work_not_in(done):
            out.append(rec)            # one line, flushed
        out.finalize()                 # atomic rename NAME.partial -> NAME

    A torn last line (a kill mid-write) is dropped on open. An existing file whose header
    has another ``settings_hash`` raises :class:`OutputMismatchError` rather than mixing
    results of different settings.
    """

    def __init__(self, path: str | os.PathLike[str], header: dict[str, Any], key: Callable[[dict], Any]):
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.header = header
        self.key = key
        self._fh = None
        self.done: set[Any] = set()

    def open(self) -> set[Any]:
        """Prepare for appending; return the keys of records already written."""
        if self.path.exists():
            self._check_header(self.path)
            self.done = {self.key(obj) for _, obj in iter_jsonl(self.path)}
            os.replace(self.path, self.partial)
        elif self.partial.exists():
            self._check_header(self.partial)
            self._drop_torn_tail(self.partial)
            self.done = {self.key(obj) for _, obj in iter_jsonl(self.partial)}
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.partial, "w", encoding="utf-8") as fh:
                fh.write(json.dumps({HEADER_KEY: self.header}) + "\n")
        self._fh = open(self.partial, "a", encoding="utf-8")
        return set(self.done)

    def append(self, record: dict[str, Any]) -> None:
        """Write one record as one line and flush it."""
        assert self._fh is not None, "call open() first"
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._fh.flush()
        self.done.add(self.key(record))

    def extend(self, records: Iterable[dict[str, Any]]) -> None:
        for r in records:
            self.append(r)

    def close(self) -> None:
        """Close without finalizing (the ``.partial`` file stays for a later resume)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def finalize(self) -> Path:
        """fsync and rename ``NAME.partial`` to ``NAME``; return the final path."""
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self.close()
        os.replace(self.partial, self.path)
        return self.path

    def __enter__(self) -> ResumableJsonl:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_header(self, path: Path) -> None:
        found = read_header(path)
        want = self.header.get("settings_hash")
        got = (found or {}).get("settings_hash")
        if found is None or found.get("kind") != self.header.get("kind") or got != want:
            raise OutputMismatchError(
                f"{path} was written with other settings or is not a codepref "
                f"{self.header.get('kind')} file (settings hash {got} != {want}); "
                "choose another output path or delete it"
            )

    @staticmethod
    def _drop_torn_tail(path: Path) -> None:
        with open(path, "rb+") as fh:
            data = fh.read()
            if data and not data.endswith(b"\n"):
                fh.truncate(data.rfind(b"\n") + 1)
