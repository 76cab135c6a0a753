"""Text helpers shared by languages with C-like syntax (C++, JavaScript): braces, code
blocks, and single assert-like statements.

Rules (no parser of either language is needed):

* a *scan* skips string and character literals (``"..."``, ``'...'``, JavaScript's
  ```...```) and comments (``//`` to the end of the line, ``/* ... */``), so braces and
  parentheses inside them do not count;
* :func:`close_body` cuts a completion where the function body the prompt opened closes
  (the first ``}`` at depth 0), adding the ``}`` when the completion stopped before it
  (HumanEval-X's own rule: stop when ``count("{") + 1 == count("}")``, then keep up to the
  last ``}``);
* :func:`statements` finds every statement starting with one of the given heads
  (``assert``, ``console.assert``, ``assert.deepStrictEqual`` ...) whose parentheses
  balance, ending at the ``;`` (or line end) after the closing parenthesis.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+#-]*)[^\n]*\n(.*?)(?:^[ \t]*```[ \t]*$|\Z)", re.S | re.M)


def code_chars(text: str, start: int = 0) -> Iterator[tuple[int, str]]:
    """``(index, char)`` of every character of ``text`` outside literals and comments."""
    i, n = start, len(text)
    while i < n:
        c = text[i]
        if c in "\"'`":
            j = i + 1
            while j < n and text[j] != c:
                if text[j] == "\\":
                    j += 1
                elif text[j] == "\n" and c != "`":
                    break
                j += 1
            i = j + 1
            continue
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j == -1 else j
            continue
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j == -1 else j + 2
            continue
        yield i, c
        i += 1


def close_body(completion: str) -> str:
    """``completion`` of an opened function body, cut where the body closes (``}`` kept).

    A completion that never closes the body (a stop sequence or the token limit ended it)
    gets ``"\\n}"`` appended.
    """
    depth = 1
    for i, c in code_chars(completion):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return completion[: i + 1]
    return completion.rstrip() + "\n}"


def matching(text: str, open_at: int) -> int:
    """The index of the bracket closing the one at ``open_at``; -1 if it never closes."""
    pairs = {"(": ")", "{": "}", "[": "]"}
    stack: list[str] = []
    for i, c in code_chars(text, open_at):
        if c in pairs:
            stack.append(pairs[c])
        elif c in ")}]":
            if not stack or stack.pop() != c:
                return -1
            if not stack:
                return i
    return -1


def remove_function(code: str, name: str) -> str:
    """``code`` without the top-level definition of function ``name`` (e.g. ``main``)."""
    for m in re.finditer(rf"^[^\S\n]*(?:[\w:<>,*&\s]+\s)?{re.escape(name)}\s*\([^;{{]*?\)\s*\{{", code, re.M):
        end = matching(code, m.end() - 1)
        if end != -1:
            return (code[: m.start()] + code[end + 1:]).rstrip() + "\n"
    return code


def fenced_code(answer: str, tags: set[str]) -> str | None:
    """The longest fenced code block of ``answer`` tagged with one of ``tags`` (or untagged)."""
    blocks = [m.group(2) for m in _FENCE.finditer(answer) if m.group(1).lower() in tags | {""}]
    return max(blocks, key=len) if blocks else None


def statements(text: str, heads: tuple[str, ...]) -> list[str]:
    """Every complete statement of ``text`` that starts with one of ``heads`` followed by ``(``.

    A statement runs to its balanced closing parenthesis and keeps a following ``;``; the
    text is returned with whitespace runs collapsed to one space outside literals (lines
    joined), so the same statement written twice compares equal.
    """
    pattern = re.compile(r"(?<![\w.$])(" + "|".join(re.escape(h) for h in heads) + r")\s*\(")
    out = []
    pos = 0
    while True:
        m = pattern.search(text, pos)
        if m is None:
            return out
        end = matching(text, m.end() - 1)
        if end == -1:
            pos = m.end()
            continue
        stmt = text[m.start(): end + 1]
        out.append(collapse(stmt) + ";")
        pos = end + 1


def count_heads(text: str, heads: tuple[str, ...]) -> int:
    """How many times a statement head followed by ``(`` occurs (complete or not)."""
    return len(re.findall(r"(?<![\w.$])(?:" + "|".join(re.escape(h) for h in heads) + r")\s*\(", text))


def collapse(code: str) -> str:
    """``code`` without comments, whitespace runs outside literals collapsed to one space."""
    out: list[str] = []
    kept = dict(code_chars(code))
    i = 0
    while i < len(code):
        if i in kept:
            c = kept[i]
            if c.isspace():
                if out and out[-1] != " ":
                    out.append(" ")
            else:
                out.append(c)
            i += 1
            continue
        j = i
        while j < len(code) and j not in kept:
            j += 1
        skipped = code[i:j]
        if skipped[:1] in "\"'`" and not skipped.startswith(("//", "/*")):
            out.append(skipped)
        elif out and out[-1] != " ":
            out.append(" ")
        i = j
    return "".join(out).strip()


def calls(statement: str, name: str) -> bool:
    """True when ``statement`` calls ``name`` (as a word followed by ``(``)."""
    return re.search(rf"(?<![\w.$]){re.escape(name)}\s*\(", statement) is not None
