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

Generation (:data:`SQL`'s hooks): a solution is the corrected SQL asked for with
:func:`codepref.sql.prompts.fix_prompt` and read with :func:`codepref.sql.extract.extract_sql`;
tests are the result checks above, asked for with :func:`codepref.sql.prompts.tests_prompt`
and read with :func:`codepref.sql.extract.extract_sql_tests`, plus one check per sampled
fix, "the same rows as this fix" (:func:`agreement_checks`), so that the pass matrix shows
which candidates agree even when the model's own checks say little. A task's ``prompt`` is the
problem statement (schema, issue, the user's SQL) and its ``setup`` the database directive.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from codepref.languages import GenerationHooks, Language
from codepref.sql.script import DB_DIRECTIVE, same_rows_check

if TYPE_CHECKING:
    from codepref.config import SandboxConfig
    from codepref.generation.prompts import PromptSpec
    from codepref.records import Task

MOUNT = "/data/sql"
_QUERY_START = re.compile(r"^\s*(SELECT|WITH|VALUES)\b", re.IGNORECASE)

# Copy the directive's database (if any) into the private dir, then run the script.
_RUN = (
    'db="{dir}/db.sqlite"; '
    'rel=$(sed -n "1s/^-- *codepref-db: *//p" "{file}" | tr -d "\\r"); '
    'if [ -n "$rel" ]; then cp "' + MOUNT + '/$rel" "$db" && chmod 600 "$db" || exit 3; fi; '
    'exec sqlite3 -safe -bail -batch "$db" < "{file}"'
)


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


def agreement_checks(task: Task, solutions: list[str]) -> list[str]:
    """One check per distinct sampled fix that is a single query: "the same rows as it".

    In a pass matrix these columns group the candidates by their result: the fix most
    others agree with scores highest under CodeT (self-consistency of execution results,
    as in MBR-exec). Fixes that are not a single query (UPDATE/DELETE ...) give no check.
    The row order counts when the task's ``conditions`` say so.
    """
    conditions = (task.metadata.get("sql_task") or {}).get("conditions") or {}
    out: list[str] = []
    for sol in solutions:
        statements = _statements(sol)
        if len(statements) != 1:
            continue
        query = _strip_leading_comments(statements[0]).strip()
        if not _QUERY_START.match(query):
            continue
        check = same_rows_check(query, order=bool(conditions.get("order")),
                                multiset=bool(conditions.get("multiset"))) + ";"
        if check not in out:
            out.append(check)
    return out


def _strip_leading_comments(sql: str) -> str:
    from codepref.sql.compare import remove_comments

    return remove_comments([sql])[0]


def fix_prompt(task: Task, style: str) -> PromptSpec:
    """The prompt asking for the corrected SQL of ``task``."""
    from codepref.sql.prompts import fix_prompt as make

    return make(task.prompt, style)


def checks_prompt(task: Task, style: str, count: int) -> PromptSpec:
    """The prompt asking for ``count`` result checks of a fix of ``task`` (no fix shown)."""
    from codepref.sql.prompts import tests_prompt

    return tests_prompt(task.prompt, style, count)


def solution_text(task: Task, style: str, answer: str) -> str:
    """The SQL of the answer's last SQL block (either style: the prefill opens the block)."""
    from codepref.sql.extract import extract_sql

    return extract_sql(answer)


def read_checks(task: Task, answer: str, seen: set[str]) -> tuple[list[str], int]:
    """New complete check queries in ``answer``, and all statements it held."""
    from codepref.sql.extract import candidate_checks, extract_sql_tests

    return extract_sql_tests(answer, seen=seen), len(candidate_checks(answer))


def sandbox(config: SandboxConfig, data_dir: str | None) -> SandboxConfig:
    """``config`` plus the read-only database mount at ``/data/sql`` (ConfigError without data)."""
    from codepref.sql.runner import sql_sandbox_config
    from codepref.sql.task import sql_dir

    return sql_sandbox_config(config, sql_dir(data_dir))


SQL = Language(
    name="sql",
    filename="program.sql",
    argv=("sh", "-c", _RUN),
    assemble=assemble,
    inproc_python=False,
    generation=GenerationHooks(solution_prompt=fix_prompt, test_prompt=checks_prompt,
                               solution_text=solution_text, parse_tests=read_checks,
                               solution_tests=agreement_checks),
    sandbox=sandbox,
)
