"""SQL debugging tasks in the style of BIRD-CRITIC (SWE-SQL), on SQLite.

* :mod:`~codepref.sql.task` — the task format (BIRD-CRITIC's fields) and database lookup.
* :mod:`~codepref.sql.compare` — soft result comparison ("soft EX"); stdlib only.
* :mod:`~codepref.sql.evaluator` — the evaluator that runs inside the sandbox; stdlib only.
* :mod:`~codepref.sql.runner` — runs the evaluator in the Docker sandbox.
* :mod:`~codepref.sql.evaluate` — success rate of predictions, overall and per category.
* :mod:`~codepref.sql.rewind` — SQL-Rewind: new debug tasks by mutating verified SQL (sqlglot).
* :mod:`~codepref.sql.prompts`, :mod:`~codepref.sql.extract` — prompts and SQL extraction.

The ``sqlfix`` benchmark (66 hand-written tasks over Chinook and Northwind) ships as
``codepref/sql/data/sqlfix.jsonl``; :func:`sqlfix_path` locates it.
"""

from __future__ import annotations

from pathlib import Path

from codepref.hashing import file_sha256

DATA_DIR = Path(__file__).resolve().parent / "data"


def sqlfix_path() -> Path:
    """The shipped sqlfix task file."""
    return DATA_DIR / "sqlfix.jsonl"


def rewind_seeds_path() -> Path:
    """The shipped seed queries for SQL-Rewind (verified SQL, not the sqlfix solutions)."""
    return DATA_DIR / "rewind_seeds.jsonl"


def file_version(path: Path) -> str:
    """A short content hash of a data file (recorded in output headers)."""
    return file_sha256(path, length=12)
