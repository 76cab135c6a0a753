"""SQL (SQLite): programs run through the ``sqlite3`` command-line shell in the sandbox.

A program is a SQL script. If its first line is a database directive::

    -- codepref-db: chinook/Chinook_Sqlite.sqlite

the named file (relative to the read-only database mount ``/data/sql``, see
:func:`codepref.sql.runner.sql_sandbox_config`) is copied into the program's private
directory and the script runs against that fresh copy; otherwise against an empty
database. The shell runs in ``-safe`` mode (no ATTACH, no ``.shell``/``.system``, no
file I/O functions) with ``-bail``: the first failing statement ends the program with a
nonzero status, which the sandbox reports as ``failed``.

Matrix cells (a candidate fix x a candidate test): :func:`assemble` makes the script

1. the setup and solution statements; if the last one is a query (``SELECT``/``WITH``/
   ``VALUES``), its rows are kept as a temporary table ``result`` instead of printed;
2. the test: one SQL query whose first column of the first row must be true, e.g.
   ``SELECT COUNT(*) = 5 FROM result`` or ``SELECT NOT EXISTS (SELECT 1 FROM result
   WHERE total < 0)``. It is checked with a CHECK constraint, so a false, NULL or missing
   value fails the cell.

Tests for UPDATE/DELETE fixes simply query the changed tables.
"""

from __future__ import annotations

import re

from codepref.languages import Language

DB_DIRECTIVE = "-- codepref-db:"
MOUNT = "/data/sql"
_QUERY_START = re.compile(r"^\s*(SELECT|WITH|VALUES)\b", re.IGNORECASE)

# Copy the directive's database (if any) into the private dir, then run the script.
_RUN = (
    'db="{dir}/db.sqlite"; '
    'rel=$(sed -n "1s/^-- *codepref-db: *//p" "{file}" | tr -d "\\r"); '
    'if [ -n "$rel" ]; then cp "' + MOUNT + '/$rel" "$db" && chmod 600 "$db" || exit 3; fi; '
    'exec sqlite3 -safe -bail -batch "$db" < "{file}"'
)


def db_directive(relative_path: str) -> str:
    """The first line that makes a script run on a copy of ``/data/sql/<relative_path>``."""
    return f"{DB_DIRECTIVE} {relative_path}"


def _statements(sql: str) -> list[str]:
    from codepref.sql.compare import split_statements

    return split_statements(sql)


def assemble(solution: str, test: str) -> str:
    """A script running ``solution`` then checking ``test`` (see the module docstring)."""
    lines = solution.splitlines()
    head = ""
    if lines and lines[0].lstrip().startswith(DB_DIRECTIVE):
        head, solution = lines[0].strip() + "\n", "\n".join(lines[1:])
    if not test.strip():
        return f"{head}{solution.rstrip()}\n"
    statements = _statements(solution)
    body = [s + ";" for s in statements]
    if statements and _QUERY_START.match(_strip_leading_comments(statements[-1])):
        body[-1] = f"CREATE TEMP TABLE result AS {statements[-1]};"
    checks = _statements(test)
    check = checks[-1] if checks else "SELECT 0"
    body += [
        "CREATE TEMP TABLE codepref_check(ok CHECK (coalesce(ok, 0) <> 0));",
        f"INSERT INTO codepref_check VALUES (({check}));",
    ]
    return head + "\n".join(body) + "\n"


def _strip_leading_comments(sql: str) -> str:
    from codepref.sql.compare import remove_comments

    return remove_comments([sql])[0]


SQL = Language(
    name="sql",
    filename="program.sql",
    argv=("sh", "-c", _RUN),
    assemble=assemble,
    inproc_python=False,
)
