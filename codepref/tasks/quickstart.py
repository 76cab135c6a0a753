"""The ``quickstart`` task set: built-in Python training prompts that ship inside the package.

About sixty function-synthesis problems written for this project (strings, lists, dicts,
number theory, simple parsing, intervals, matrices, recursion, dates), a mix of ``easy`` and
``medium``: a 0.5B code model solves some of them only some of the time, so its sampled
solutions differ in correctness and preference pairs exist. They are package data in
``codepref/data/quickstart/prompts.jsonl``, one JSON object a line:

* ``task_id`` — ``"quickstart/NN_name"``;
* ``prompt`` — a HumanEval-style completion prompt: the signature and a docstring that states
  the edge cases, with one or two ``>>>`` examples;
* ``entry_point`` — the function's name;
* ``canonical_solution`` — the indented body; ``prompt + canonical_solution`` is a program;
* ``tests`` — 5 to 10 independent single-line ``assert`` statements calling the function;
* ``difficulty`` — ``"easy"`` or ``"medium"``.

As pipeline :class:`~codepref.records.Task` records: ``id`` = ``task_id``, language
``python``, ``prompt``, ``entry_point``, ``tests`` = the asserts, and ``metadata`` =
``{"canonical_solution", "difficulty"}``.

None of the problems shares an entry-point name with HumanEval or MBPP, and none is a
near-duplicate of their texts (``tests/unit/test_quickstart_data.py`` checks both); CI runs
every canonical solution, and a ``return None`` body, against the tests in the sandbox.
"""

from __future__ import annotations

import os
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from codepref.errors import InputError
from codepref.hashing import bytes_sha256
from codepref.records import Task, iter_jsonl

NAME = "quickstart"
RESOURCE = ("data", "quickstart", "prompts.jsonl")
DIFFICULTIES = ("easy", "medium")
FIELDS: dict[str, type] = {
    "task_id": str,
    "prompt": str,
    "entry_point": str,
    "canonical_solution": str,
    "tests": list,
    "difficulty": str,
}


def prompts_file() -> Traversable:
    """The shipped prompts file, as an :mod:`importlib.resources` handle."""
    return resources.files("codepref").joinpath(*RESOURCE)


def version() -> str:
    """A short content hash (sha256, 12 hex digits) of the shipped file, for output headers."""
    return bytes_sha256(prompts_file().read_bytes(), 12)


def to_task(obj: dict[str, Any], source: str, line: int) -> Task:
    """Check one file record and turn it into a Task.

    Raises:
        InputError: naming ``source`` and ``line`` and listing every problem of the record.
    """
    problems = [f"missing field {k!r}" for k in FIELDS if k not in obj]
    problems += [f"field {k!r} must be a {t.__name__}" for k, t in FIELDS.items()
                 if k in obj and not isinstance(obj[k], t)]
    if not problems:
        if not obj["tests"] or not all(isinstance(t, str) and t.strip() for t in obj["tests"]):
            problems.append("field 'tests' must be a non-empty list of non-empty strings")
        if obj["difficulty"] not in DIFFICULTIES:
            problems.append(f"difficulty {obj['difficulty']!r} is not one of {', '.join(DIFFICULTIES)}")
        if not obj["entry_point"].isidentifier():
            problems.append(f"entry_point {obj['entry_point']!r} is not a Python identifier")
    if problems:
        raise InputError("; ".join(problems), source, line)
    return Task(
        id=obj["task_id"],
        language="python",
        prompt=obj["prompt"],
        entry_point=obj["entry_point"],
        tests=list(obj["tests"]),
        metadata={"canonical_solution": obj["canonical_solution"], "difficulty": obj["difficulty"]},
    )


def read_quickstart(path: str | os.PathLike[str]) -> list[Task]:
    """Read a prompts file in the quickstart format (see the module docstring).

    Raises:
        InputError: for malformed JSON, a bad record, or a task id used twice.
    """
    tasks: list[Task] = []
    seen: dict[str, int] = {}
    for line, obj in iter_jsonl(path):
        task = to_task(obj, str(path), line)
        if task.id in seen:
            raise InputError(f"task id {task.id!r} already used on line {seen[task.id]}", str(path), line)
        seen[task.id] = line
        tasks.append(task)
    return tasks


def load_quickstart() -> list[Task]:
    """The built-in quickstart training prompts, in file order."""
    with resources.as_file(prompts_file()) as path:
        return read_quickstart(path)
