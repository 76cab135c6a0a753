"""Soft result comparison of SQL results, following BIRD-CRITIC's "soft EX".

Standard library only: this module also runs inside the sandbox, where the evaluator
program is this file and :mod:`codepref.sql.evaluator` pasted together (so no
``from __future__`` import and no codepref imports here).

Soft EX, as BIRD-CRITIC's default test case defines it:

1. strip comments from predicted and gold SQL, and the ``DISTINCT`` after ``SELECT`` and
   ``ROUND(x, n)`` -> ``x`` (so that rounding and de-duplication choices do not decide);
2. run both, take the rows of each side's last statement;
3. normalise every value: floats are rounded to ``decimals`` (2) places, date and
   date-time values become ``YYYY-MM-DD`` (SQLite keeps them as ISO text, so ISO strings
   ``YYYY-MM-DD[ T]HH:MM[:SS[.fff]]`` are cut to their date);
4. compare as sets of rows, or as lists when the task's ``conditions`` say ``order``;
   with ``multiset`` (a codepref extension for tasks about duplicates) as bags, and
   ``DISTINCT`` is then kept;
5. an empty result on either side is a mismatch (as in BIRD-CRITIC).
"""

import re
import sqlite3

_ISO_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_QUOTES = {"'": "'", '"': '"', "`": "`", "[": "]"}


def segments(sql):
    """Split ``sql`` into ``(kind, text)`` pieces: "code", "string" (any quoted token) or "comment".

    Quoted tokens are SQLite's four kinds: '...', "...", `...` and [...]; a doubled
    closing quote inside '...', "..." or `...` is an escaped quote. Comments are
    ``-- ...`` to the end of the line and ``/* ... */``.
    """
    out = []
    i, n, start = 0, len(sql), 0
    while i < n:
        c = sql[i]
        if c in _QUOTES:
            close = _QUOTES[c]
            j = i + 1
            while j < n:
                if sql[j] == close:
                    if close != "]" and j + 1 < n and sql[j + 1] == close:
                        j += 2
                        continue
                    break
                j += 1
            out.append(("code", sql[start:i]))
            out.append(("string", sql[i:j + 1]))
            i = start = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(("code", sql[start:i]))
            out.append(("comment", sql[i:j]))
            i = start = j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(("code", sql[start:i]))
            out.append(("comment", sql[i:j]))
            i = start = j
        else:
            i += 1
    out.append(("code", sql[start:]))
    return [(k, t) for k, t in out if t]


def mask(sql):
    """``sql`` with every quoted token and comment blanked to spaces (same length).

    Searching the mask finds keywords and parentheses only where they are code, and its
    indices are valid in ``sql``.
    """
    return "".join(t if k == "code" else " " * len(t) for k, t in segments(sql))


def remove_comments(sql_list):
    """Each SQL text without ``--`` and ``/* */`` comments (quoted text is kept as is)."""
    cleaned = []
    for sql in sql_list:
        text = "".join(t if k != "comment" else (" " if t.startswith("/*") else "") for k, t in segments(sql))
        cleaned.append(re.sub(r"\n\s*\n+", "\n", text).strip())
    return cleaned


_SELECT_DISTINCT = re.compile(r"\bSELECT(\s+DISTINCT)\b", re.IGNORECASE)
_ROUND = re.compile(r"\bROUND\s*\(", re.IGNORECASE)


def remove_distinct(sql_list):
    """``SELECT DISTINCT`` -> ``SELECT`` in each text (``COUNT(DISTINCT x)`` is left alone)."""
    cleaned = []
    for sql in sql_list:
        for m in reversed(list(_SELECT_DISTINCT.finditer(mask(sql)))):
            sql = sql[:m.start(1)] + sql[m.end(1):]
        cleaned.append(sql)
    return cleaned


def _strip_round_once(sql):
    """Replace the first ``ROUND(a[, n])`` outside quotes by ``(a)``; None if there is none."""
    masked = mask(sql)
    m = _ROUND.search(masked)
    if not m:
        return None
    depth, comma = 0, None
    for pos in range(m.end() - 1, len(masked)):
        ch = masked[pos]
        if ch == "(":
            depth += 1
        elif ch == "," and depth == 1 and comma is None:
            comma = pos
        elif ch == ")":
            depth -= 1
            if depth == 0:
                inner = sql[m.end():comma if comma is not None else pos].strip()
                return sql[:m.start()] + "(" + inner + ")" + sql[pos + 1:]
    return None  # unbalanced: leave the text alone


def remove_round(sql_list):
    """``ROUND(x, n)`` -> ``(x)`` everywhere in each text, nested calls included."""
    cleaned = []
    for sql in sql_list:
        while True:
            nxt = _strip_round_once(sql)
            if nxt is None:
                break
            sql = nxt
        cleaned.append(sql)
    return cleaned


def split_statements(sql):
    """Split SQL text into complete statements (without trailing ``;``), dropping empty ones.

    Splits at ``;`` outside quotes and comments, and only where
    :func:`sqlite3.complete_statement` agrees, so ``CREATE TRIGGER ... BEGIN ...; END``
    stays whole. A trailing statement without ``;`` is kept.
    """
    statements, buf = [], []
    for kind, text in segments(sql):
        if kind != "code":
            buf.append(text)
            continue
        parts = text.split(";")
        for k, part in enumerate(parts):
            buf.append(part)
            if k < len(parts) - 1:
                candidate = "".join(buf)
                if sqlite3.complete_statement(candidate.replace("\x00", " ") + ";"):
                    statements.append(candidate)
                    buf = []
                else:
                    buf.append(";")
    statements.append("".join(buf))
    return [s.strip() for s in statements if remove_comments([s])[0].strip()]


def normalize_value(value, decimals=2):
    """One value for soft comparison: rounded float, ``YYYY-MM-DD`` date, hex for bytes."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        r = round(value, decimals)
        return 0.0 if r == 0 else r
    if isinstance(value, str):
        m = _ISO_DATETIME.match(value)
        return m.group(1) if m else value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return value


def preprocess_results(rows, decimals=2):
    """Rows (sequences) -> tuples of normalised values (see :func:`normalize_value`)."""
    return [tuple(normalize_value(v, decimals) for v in row) for row in rows]


def _bag(rows):
    counts = {}
    for r in rows:
        counts[r] = counts.get(r, 0) + 1
    return counts


def results_match(pred_rows, gold_rows, conditions=None, decimals=2):
    """True when two result sets agree under soft EX.

    Args:
        pred_rows: rows of the predicted SQL.
        gold_rows: rows of the gold SQL.
        conditions: the task's comparison options: ``order`` (compare as lists) and
            ``multiset`` (compare as bags, duplicates count); default: compare as sets.
        decimals: floats are rounded to this many places first.
    """
    conditions = conditions or {}
    pred = preprocess_results(pred_rows, decimals)
    gold = preprocess_results(gold_rows, decimals)
    if not pred or not gold:
        return False
    if conditions.get("order"):
        return pred == gold
    if conditions.get("multiset"):
        return _bag(pred) == _bag(gold)
    return set(pred) == set(gold)


def soft_sql(sql_list, conditions=None):
    """The SQL that soft EX runs: comments, ``SELECT DISTINCT`` (unless multiset) and ROUND removed."""
    conditions = conditions or {}
    sql_list = remove_comments(sql_list)
    if not conditions.get("multiset"):
        sql_list = remove_distinct(sql_list)
    return remove_round(sql_list)


def check_sql_function_usage(sqls, required_keywords):
    """1 if every keyword occurs (case-insensitively) in the joined SQL, else 0."""
    if not sqls:
        return 0
    text = " ".join(s.lower() for s in sqls)
    return int(all(k.lower() in text for k in required_keywords))
