"""Pieces of the SQL scripts the sandbox runs: the database directive and the same-rows check.

Both the ``sql`` language (:mod:`codepref.languages.sql`, which assembles and runs the
scripts) and the ``sqlfix`` task set (:mod:`codepref.tasks.sqlfix`, which writes each task's
setup and gold check) need them; they live here, below both, because task sets must not
import the languages layer. Standard library only.
"""

from __future__ import annotations

#: The first-line marker naming the database a script runs on (see :func:`db_directive`).
DB_DIRECTIVE = "-- codepref-db:"


def db_directive(relative_path: str) -> str:
    """The first line that makes a script run on a copy of ``/data/sql/<relative_path>``."""
    return f"{DB_DIRECTIVE} {relative_path}"


def same_rows_check(query: str, *, order: bool = False, multiset: bool = False) -> str:
    """A check that ``result`` holds exactly the rows of ``query`` (one query, no ``;``).

    Rows are compared as sets (``EXCEPT`` both ways); with ``order`` each row is numbered
    first (``result``'s rowid against ``ROW_NUMBER() OVER ()`` of the query); with
    ``multiset`` the row counts must agree too. A column-count mismatch is an SQL error, so
    the cell fails. Unlike soft EX there is no rounding.
    """
    mine, theirs = "SELECT * FROM result", f"SELECT * FROM ({query})"
    if order:
        mine, theirs = "SELECT rowid, * FROM result", f"SELECT ROW_NUMBER() OVER (), * FROM ({query})"
    check = f"SELECT NOT EXISTS ({mine} EXCEPT {theirs}) AND NOT EXISTS ({theirs} EXCEPT {mine})"
    if multiset:
        check += f" AND (SELECT COUNT(*) FROM result) = (SELECT COUNT(*) FROM ({query}))"
    return check
