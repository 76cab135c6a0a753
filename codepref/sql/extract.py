"""Getting SQL out of model output: the fix, and self-generated checks.

Model answers come as fenced blocks (```sql, ```sqlite or bare ```), possibly cut off
before the closing fence, or as bare SQL followed by an explanation. :func:`extract_sql`
returns the statements of the last SQL block (the final answer when a model first quotes
the broken query); :func:`extract_sql_tests` returns single, complete, de-duplicated
``SELECT`` checks.
"""

from __future__ import annotations

import re

from codepref.sql.compare import remove_comments, split_statements

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:\n[ \t]*```|\Z)", re.DOTALL)
_SQL_START = re.compile(r"^\s*(SELECT|WITH|UPDATE|DELETE|INSERT|REPLACE|CREATE|DROP|ALTER|VALUES|PRAGMA|BEGIN)\b",
                        re.IGNORECASE)
_CHECK_START = re.compile(r"^\s*(SELECT|WITH|VALUES)\b", re.IGNORECASE)
_SQL_LANGS = {"sql", "sqlite", "sqlite3", ""}


def _blocks(text: str) -> list[tuple[str, str]]:
    """``(language, body)`` of every fenced block, the last one may be unterminated."""
    return [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text)]


def _bare_sql(text: str) -> str:
    """SQL written without fences: from the first line that starts a statement to the end
    of that paragraph run (stops at a blank line followed by prose)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if _SQL_START.match(line):
            out = []
            for j in range(i, len(lines)):
                if not lines[j].strip() and j + 1 < len(lines) and not _SQL_START.match(lines[j + 1]) \
                        and not lines[j + 1].startswith((" ", "\t")):
                    break
                out.append(lines[j])
            return "\n".join(out)
    return ""


def extract_sql(text: str) -> str:
    """The SQL answer in ``text``, as statements joined by ``;\\n`` (``""`` if none).

    Picks the last fenced block tagged sql/sqlite (or untagged) that contains a
    statement; without fences, the first run of lines that starts with a SQL keyword.
    NUL characters (seen in real model output) are dropped.
    """
    text = text.replace("\x00", "")
    candidates = [body for lang, body in _blocks(text) if lang in _SQL_LANGS]
    chosen = ""
    for body in reversed(candidates):
        if any(_SQL_START.match(remove_comments([s])[0]) for s in split_statements(body)):
            chosen = body
            break
    if not chosen and not candidates:
        chosen = _bare_sql(text)
    statements = [s for s in split_statements(chosen) if remove_comments([s])[0]]
    return ";\n".join(statements) + (";" if statements else "")


def _normal(sql: str) -> str:
    return re.sub(r"\s+", " ", remove_comments([sql])[0]).strip().lower()


def is_complete_query(sql: str) -> bool:
    """A single, syntactically complete query (checked by SQLite's own tokenizer and,
    when sqlglot is installed, its parser)."""
    import sqlite3

    body = remove_comments([sql])[0]
    if "\x00" in body or not _CHECK_START.match(body) or not sqlite3.complete_statement(body + ";"):
        return False
    if len(split_statements(body)) != 1:
        return False
    try:
        import sqlglot
    except ImportError:  # pragma: no cover - sqlglot is a dependency of the sql extra
        return True
    try:
        return len(sqlglot.parse(body, read="sqlite")) == 1
    except sqlglot.errors.SqlglotError:
        return False


def candidate_checks(text: str) -> list[str]:
    """Every non-empty statement of the answer's SQL blocks (the whole text if it has none),
    comments removed: what :func:`extract_sql_tests` chooses from."""
    text = text.replace("\x00", "")
    bodies = [body for lang, body in _blocks(text) if lang in _SQL_LANGS] or [text]
    out = []
    for body in bodies:
        for statement in split_statements(body):
            statement = remove_comments([statement])[0]
            if statement.strip():
                out.append(statement)
    return out


def extract_sql_tests(text: str, limit: int | None = None, seen: set[str] | None = None) -> list[str]:
    """Distinct complete check queries in ``text`` (fenced or not), in order of appearance.

    Args:
        text: the model's answer.
        limit: keep at most this many (None: all).
        seen: normalised checks kept before (e.g. from other answers for the same task);
            they count as duplicates, and the kept ones are added to it.
    """
    seen = set() if seen is None else seen
    out: list[str] = []
    for statement in candidate_checks(text):
        if limit is not None and len(out) >= limit:
            break
        if not is_complete_query(statement):
            continue
        key = _normal(statement)
        if key in seen:
            continue
        seen.add(key)
        out.append(statement + ";")
    return out
