"""Resolving a task spec given on the command line or in a config: a task set name or a JSONL file.

A name registered in :data:`codepref.tasks.TASKS` (``humaneval``, ``mbpp`` ...) loads that
set; an existing file goes through the ``jsonl`` task loader (one prompt a line:
``task_id``, ``prompt``, optional ``entry_point`` ...). The task set's header (name,
version, content hash) goes into the samples file's header, and :func:`samples_task_set`
reads it back, so the later stages (execute, rank) can reload the same tasks by name.

Every stage that needs tasks (generate, execute, rank, audit, the pipeline) loads them here,
at the bottom layer, rather than through another stage's module.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

from codepref.errors import InputError
from codepref.records import Task, read_header
from codepref.tasks import TASKS, TaskSet


def _load(name: str, path: str | None, data_dir: str | None) -> TaskSet | list[Task]:
    """What the registered loader returns: a TaskSet, or a plain list for sets that ship
    their data (``quickstart``)."""
    loader = TASKS.get(name)
    if "data_dir" in inspect.signature(loader).parameters:
        return loader(path, data_dir=data_dir)
    return loader(path) if path is not None else loader()


def load_task_set(name: str, *, path: str | None = None, data_dir: str | None = None) -> TaskSet:
    """Load a registered task set (``path`` overrides its data file; ``jsonl`` requires it;
    ``data_dir`` is the data folder, default ``$CODEPREF_DATA`` then the user cache)."""
    loaded = _load(name, path, data_dir)
    if isinstance(loaded, TaskSet):
        return loaded
    return TaskSet(name, "file", "", path or name, list(loaded))


def load_tasks(spec: str, data_dir: str | None = None) -> tuple[list[Task], dict[str, Any]]:
    """Tasks named by ``spec`` and the header fields describing them (``{"tasks": ...}``).

    ``spec`` is a registered task set or a JSONL prompts file; ``data_dir`` is the data
    folder for task sets that read one.

    Raises:
        InputError: ``spec`` is neither a known task set nor an existing file, or the data
            cannot be read (the task loaders say where to get missing data).
    """
    if spec in TASKS:
        taskset = _load(spec, None, data_dir)
    elif Path(spec).is_file():
        taskset = TASKS.get("jsonl")(spec)
    else:
        raise InputError(f"--tasks {spec!r} is neither a task set ({', '.join(TASKS.names())}) "
                         "nor an existing JSONL file")
    header = taskset.header() if isinstance(taskset, TaskSet) else {"name": spec}
    return list(taskset), {"tasks": header}


def load_task_map(spec: str, data_dir: str | None = None) -> dict[str, Task]:
    """Task id -> Task for a task set name (``humaneval`` ...) or a JSONL prompts file.

    Raises:
        InputError: ``spec`` names no known task set and no readable file.
    """
    tasks, _ = load_tasks(spec, data_dir)
    return {t.id: t for t in tasks}


def samples_task_set(samples_path: str | os.PathLike[str]) -> str | None:
    """The registered task set named in a samples file's header, if any.

    The header's ``tasks`` is the set's name, or (``codepref generate``) its description
    ``{"name", "version", "sha256", "tasks"}``; one read from a file given by path
    (version ``file``) cannot be reloaded by its name, so it gives None.
    """
    name = (read_header(samples_path) or {}).get("tasks")
    if isinstance(name, dict):
        name = name.get("name") if name.get("version") != "file" else None
    if not isinstance(name, str):
        return None
    return name if name in TASKS else None
