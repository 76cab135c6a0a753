"""Where ``codepref generate --tasks`` gets its tasks: a task set name or a JSONL file.

A name registered in :data:`codepref.tasks.TASKS` (``humaneval``, ``mbpp`` ...) loads that
set; an existing file goes through the ``jsonl`` task loader (one prompt a line:
``task_id``, ``prompt``, optional ``entry_point`` ...). The task set's header (name,
version, content hash) goes into the samples file's header.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codepref.errors import InputError
from codepref.records import Task


def load_tasks(spec: str) -> tuple[list[Task], dict[str, Any]]:
    """Tasks named by ``spec`` and the header fields describing them (``{"tasks": ...}``).

    Raises:
        InputError: ``spec`` is neither a known task set nor an existing file, or the data
            cannot be read (the task loaders say where to get missing data).
    """
    from codepref.tasks import TASKS

    if spec in TASKS:
        taskset = TASKS.get(spec)()
    elif Path(spec).is_file():
        taskset = TASKS.get("jsonl")(spec)
    else:
        raise InputError(f"--tasks {spec!r} is neither a task set ({', '.join(TASKS.names())}) "
                         "nor an existing JSONL file")
    header = taskset.header() if hasattr(taskset, "header") else {"name": spec}
    return list(taskset), {"tasks": header}
