"""User-supplied prompts: a JSONL file, one task a line.

Fields: ``task_id`` (or ``id``) and ``prompt`` are required; optional ``entry_point``,
``language`` (default ``python``), ``setup`` (code run before every solution), ``tests``
(a list of test programs, or one string; each is run in the solution's namespace and passes
when it raises nothing) and ``canonical_solution`` (kept in ``metadata``). Any other field
goes into ``metadata`` as well, and a ``metadata`` object is merged into it, so files
written from :class:`~codepref.records.Task` records (e.g. ``codepref sql tasks``) load
back unchanged. Ids must be unique.
"""

from __future__ import annotations

import os

from codepref.errors import InputError
from codepref.records import Task, iter_jsonl
from codepref.tasks import TaskSet, sha256_of

KNOWN_FIELDS = {"task_id", "id", "prompt", "entry_point", "language", "setup", "tests"}


def load_jsonl(path: str | os.PathLike[str] | None = None, *, data_dir: str | None = None) -> TaskSet:
    """Tasks from a JSONL prompts file (see the module docstring)."""
    if path is None:
        raise InputError("the jsonl task set needs a file: pass its path (--tasks-file)")
    src = str(path)
    tasks: list[Task] = []
    seen: dict[str, int] = {}
    for line, obj in iter_jsonl(path):
        task_id = obj.get("task_id", obj.get("id"))
        if not isinstance(task_id, str) or not task_id:
            raise InputError("missing string field 'task_id'", src, line)
        if task_id in seen:
            raise InputError(f"duplicate task_id {task_id!r} (first on line {seen[task_id]})", src, line)
        seen[task_id] = line
        prompt = obj.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise InputError("missing or empty string field 'prompt'", src, line)
        tests = obj.get("tests") or []
        if isinstance(tests, str):
            tests = [tests]
        if not isinstance(tests, list) or not all(isinstance(t, str) for t in tests):
            raise InputError("field 'tests' must be a string or a list of strings", src, line)
        for key in ("entry_point", "language", "setup"):
            if obj.get(key) is not None and not isinstance(obj[key], str):
                raise InputError(f"field {key!r} must be a string", src, line)
        nested = obj.get("metadata")
        if nested is not None and not isinstance(nested, dict):
            raise InputError("field 'metadata' must be an object", src, line)
        metadata = {k: v for k, v in obj.items() if k not in KNOWN_FIELDS and k != "metadata"}
        tasks.append(Task(
            id=task_id, language=obj.get("language") or "python", prompt=prompt,
            entry_point=obj.get("entry_point") or "", tests=list(tests), setup=obj.get("setup") or "",
            metadata={**(nested or {}), **metadata},
        ))
    if not tasks:
        raise InputError("no tasks in the file", src)
    return TaskSet("jsonl", "file", sha256_of(path), src, tasks)
