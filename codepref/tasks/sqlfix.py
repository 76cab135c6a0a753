"""The ``sqlfix`` task set: SQL debugging tasks (BIRD-CRITIC style) on SQLite.

66 hand-written tasks over the Chinook and Northwind sample databases, 6 per category:
join type, GROUP BY/HAVING, NULL semantics, integer division, dates (strftime), ORDER
BY/LIMIT ties, DISTINCT, correlated subqueries, window functions, CTEs and UPDATE/DELETE.
Each has a user issue, the SQL that misbehaves and a verified fix; CI checks that every fix
passes and every issue SQL fails.

As pipeline :class:`~codepref.records.Task` records (language ``sql``):

* ``prompt`` — the problem statement (:func:`codepref.sql.prompts.problem_text`);
* ``setup`` — the database directive (:mod:`codepref.sql.script`) and ``preprocess_sql``;
* ``tests`` — for query tasks, one SQL check that the fix's rows equal the gold rows
  (:func:`gold_check`; an approximation of soft EX without rounding, for scoring audits);
  empty for UPDATE/DELETE tasks. The official verdict is
  :func:`codepref.sql.evaluate.evaluate_sql`;
* ``metadata`` — ``sql_task`` (the full BIRD-CRITIC record), ``db_file``, ``category``.

The databases come from a directory given by ``data_dir`` or ``$CODEPREF_DATA``.
"""

from __future__ import annotations

import os
from pathlib import Path

from codepref.records import Task
from codepref.sql import sqlfix_path
from codepref.sql.script import db_directive, same_rows_check
from codepref.sql.task import SqlTask, db_file, read_sql_tasks, sql_dir

NAME = "sqlfix"
VERSION = "1.0"


def gold_check(task: SqlTask) -> str | None:
    """A SQL check that ``result`` holds the gold query's rows, or None for tasks whose
    gold SQL is not a single query or that have their own test cases.

    See :func:`codepref.sql.script.same_rows_check` (the ``order`` and ``multiset``
    conditions apply). Unlike soft EX there is no rounding, so an equivalent fix with
    different float arithmetic can fail this check.
    """
    from codepref.sql.compare import remove_comments, split_statements

    statements = [s for text in task.sol_sql for s in split_statements(text)]
    if task.test_cases or len(statements) != 1:
        return None
    gold = remove_comments(statements)[0]
    if not gold.lstrip().upper().startswith(("SELECT", "WITH", "VALUES")):
        return None
    return same_rows_check(gold, order=bool(task.conditions.get("order")),
                           multiset=bool(task.conditions.get("multiset")))


def to_task(task: SqlTask, directory: Path) -> Task:
    """One SQL debugging task as a pipeline Task (see the module docstring)."""
    from codepref.sql.prompts import problem_text

    path = db_file(directory, task.db_id)
    rel = path.resolve().relative_to(directory.resolve()).as_posix()
    setup = "\n".join([db_directive(rel), *(s.strip().rstrip(";") + ";" for s in task.preprocess_sql)])
    check = gold_check(task)
    return Task(id=task.instance_id, language="sql", prompt=problem_text(task, path), entry_point="",
                tests=[check] if check else [], setup=setup,
                metadata={"sql_task": task.to_dict(), "db_file": rel, "category": task.category})


def load_sql_tasks(path: str | os.PathLike[str] | None = None) -> list[SqlTask]:
    """The sqlfix tasks in BIRD-CRITIC form (from ``path``, default: the shipped file)."""
    return read_sql_tasks(path or sqlfix_path())


def load(path: str | os.PathLike[str] | None = None, *, data_dir: str | os.PathLike[str] | None = None):
    """The sqlfix tasks as a :class:`~codepref.tasks.TaskSet` of pipeline Tasks.

    Args:
        path: another task file in the same format (default: the shipped sqlfix set).
        data_dir: the database directory or a data root holding it as ``sql/`` (default
            ``$CODEPREF_DATA``); the prompts show the schema read from it.
    """
    from codepref.tasks import TaskSet, sha256_of

    file = Path(path) if path is not None else sqlfix_path()
    directory = sql_dir(data_dir)
    tasks = [to_task(t, directory) for t in load_sql_tasks(file)]
    return TaskSet(NAME if path is None else file.stem, VERSION if path is None else "file", sha256_of(file),
                   str(file), tasks)
