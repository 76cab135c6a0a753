"""Prompts for SQL debugging: asking a model for a fix, and for checks of a fix.

The problem statement (a :class:`~codepref.records.Task`'s ``prompt`` for SQL tasks) is
made by :func:`problem_text`: the relevant part of the schema, the user's issue and their
SQL. :func:`fix_prompt` and :func:`tests_prompt` wrap it as a
:class:`~codepref.generation.prompts.PromptSpec` in the two styles the generation stage
knows (``completion`` for base models, ``chat`` for instruct models, with the opening
code fence prefilled).

Self-generated tests for SQL are *result-property checks*: single queries returning a
true/false value about the fixed query's rows, which the ``sql`` language exposes as a
temporary table ``result`` (see :mod:`codepref.languages.sql`), e.g.
``SELECT COUNT(*) = 24 FROM result``. For UPDATE/DELETE fixes a check queries the
changed tables.
"""

from __future__ import annotations

import re
from pathlib import Path

from codepref.errors import InputError
from codepref.sql.task import SqlTask, schema_sql

SYSTEM = "You are an expert SQLite developer who debugs SQL queries."
FENCE_STOPS = ("\n```",)


def relevant_tables(db_path: Path, sqls: list[str]) -> list[str]:
    """Names of the database's tables and views that the SQL mentions (whole words)."""
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(f"file:{db_path}?mode=ro&immutable=1", uri=True)) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'")]
    text = "\n".join(sqls)
    found = []
    for name in names:
        pattern = r"(?<![\w\]\"`])" + re.escape(name) + r"(?![\w\[\"`])"
        if re.search(pattern, text, re.IGNORECASE):
            found.append(name)
    return found


def problem_text(task: SqlTask, db_path: Path) -> str:
    """The full problem statement: schema of the tables involved, the issue, the SQL."""
    sqls = task.issue_sql + task.preprocess_sql
    tables = relevant_tables(db_path, sqls) or None
    schema = schema_sql(db_path, tables)
    issue_sql = ";\n".join(s.strip().rstrip(";") for s in task.issue_sql) + ";"
    setup = ""
    if task.preprocess_sql:
        pre = ";\n".join(s.strip().rstrip(";") for s in task.preprocess_sql) + ";"
        setup = f"\nThe database was prepared with:\n```sql\n{pre}\n```\n"
    return (
        f"SQLite database `{task.db_id}`, schema of the tables involved:\n```sql\n{schema}\n```\n{setup}\n"
        f"A user reports:\n{task.query.strip()}\n\n"
        f"The user's SQL:\n```sql\n{issue_sql}\n```\n"
    )


def _check(prompt: str, style: str) -> None:
    if style not in ("completion", "chat"):
        raise InputError(f"unknown prompt style {style!r} (known: completion, chat)")
    if not prompt.strip():
        raise InputError("empty SQL problem statement")


def fix_prompt(prompt: str, style: str = "chat"):
    """A PromptSpec asking for the corrected SQL of a problem statement.

    The answer is the fixed SQL inside a ```sql block; with the fence prefilled and
    ``\\n``` `` as the stop string, the completion is the SQL itself.
    """
    from codepref.generation.prompts import PromptSpec

    _check(prompt, style)
    instruction = ("Fix the user's SQL so that it does what they want. Keep the columns they select "
                   "unless the issue asks otherwise. Answer with the complete corrected SQL in one "
                   "```sql code block.")
    if style == "completion":
        text = f"{prompt.rstrip()}\n\n{instruction}\n\nCorrected SQL:\n"
        return PromptSpec(text=text, prefill="```sql\n", stop=FENCE_STOPS)
    return PromptSpec(messages=({"role": "system", "content": SYSTEM},
                                {"role": "user", "content": f"{prompt.rstrip()}\n\n{instruction}"}),
                      prefill="```sql\n", stop=FENCE_STOPS)


def tests_prompt(prompt: str, style: str = "chat", count: int = 5):
    """A PromptSpec asking for ``count`` result-property checks (no fix is shown)."""
    from codepref.generation.prompts import PromptSpec

    _check(prompt, style)
    instruction = (
        f"Do not fix the SQL. Instead write {count} checks that a correct fix must pass. The rows of the "
        "corrected query will be stored in a table named `result` with the same column names. Each check "
        "is one SQLite SELECT that returns a single true (1) or false (0) value, for example "
        "`SELECT COUNT(*) = 3 FROM result;` or `SELECT NOT EXISTS (SELECT 1 FROM result WHERE total < 0);`. "
        "If the fix is an UPDATE or DELETE, query the changed tables instead of `result`. "
        "Write one check per line, ending with a semicolon, inside one ```sql code block."
    )
    if style == "completion":
        text = f"{prompt.rstrip()}\n\n{instruction}\n\nChecks:\n"
        return PromptSpec(text=text, prefill="```sql\nSELECT ", stop=FENCE_STOPS)
    return PromptSpec(messages=({"role": "system", "content": SYSTEM},
                                {"role": "user", "content": f"{prompt.rstrip()}\n\n{instruction}"}),
                      prefill="```sql\nSELECT ", stop=FENCE_STOPS)
