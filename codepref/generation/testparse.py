"""Turn a model's test-writing output into single, independent ``assert`` statements.

A generated test text is scanned line by line for statements that start with ``assert``
(at any indentation, inside code fences or test functions alike); an assert that spans
lines is joined until it parses. Each candidate is kept only if

1. it parses as exactly one ``assert`` statement,
2. it calls the task's function (``entry_point``) somewhere,
3. it is independent: every name it reads is a builtin, the function under test, a name
   the task's prompt defines (imports, helpers), or bound inside the assert itself
   (comprehension targets, lambda arguments) — an assert that reads a variable set by an
   earlier line would fail on its own, so it is dropped,
4. its condition is not a constant,

and is normalised with :func:`ast.unparse`, so that asserts differing only in spacing,
quotes or parentheses are duplicates; the first occurrence wins. At most ``limit`` are
returned.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterable

MAX_LINES_PER_ASSERT = 30
_BUILTINS = frozenset(dir(builtins))


def prompt_names(prompt: str) -> set[str]:
    """Top-level names a task prompt defines (imports, functions, classes, assignments).

    The prompt usually ends in a docstring without a body, so ``pass`` is appended before
    parsing; a prompt that still does not parse defines nothing.
    """
    for source in (prompt, prompt.rstrip() + "\n    pass\n"):
        try:
            tree = ast.parse(source)
            break
        except SyntaxError:
            continue
    else:
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                names.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def candidate_asserts(text: str) -> list[str]:
    """Source snippets in ``text`` that start with ``assert`` and parse (joined if multi-line)."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        head = lines[i].lstrip()
        if not (head.startswith("assert ") or head.startswith("assert(")):
            i += 1
            continue
        snippet = head
        for j in range(i, min(i + MAX_LINES_PER_ASSERT, len(lines))):
            if j > i:
                snippet += "\n" + lines[j]
            if _parses(snippet):
                out.append(snippet)
                i = j + 1
                break
        else:
            i += 1  # never parsed: a syntax error; move on to the next line
    return out


def parse_asserts(text: str, entry_point: str, *, known_names: Iterable[str] = (),
                  limit: int | None = None, seen: set[str] | None = None) -> list[str]:
    """The valid, independent, distinct asserts in ``text`` (see the module docstring).

    Args:
        text: the model's output (fences, prose and test functions are tolerated).
        entry_point: the function under test; every kept assert calls it.
        known_names: names available besides builtins (see :func:`prompt_names`).
        limit: keep at most this many (None: all).
        seen: normalised asserts already kept elsewhere (e.g. from other samples of the
            same task); they count as duplicates, and kept ones are added to it.

    Returns:
        Normalised assert statements, one line each (``ast.unparse``), in order of appearance.
    """
    allowed = _BUILTINS | {entry_point} | set(known_names)
    seen = set() if seen is None else seen
    kept: list[str] = []
    for snippet in candidate_asserts(text):
        if limit is not None and len(kept) >= limit:
            break
        norm = normalise_assert(snippet, entry_point, allowed)
        if norm is None or norm in seen:
            continue
        seen.add(norm)
        kept.append(norm)
    return kept


def normalise_assert(snippet: str, entry_point: str, allowed: set[str] | frozenset[str]) -> str | None:
    """``ast.unparse`` of ``snippet`` if it is one valid independent assert, else None."""
    try:
        tree = ast.parse(snippet)
    except (SyntaxError, ValueError):
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return None
    node = tree.body[0]
    if isinstance(node.test, ast.Constant):
        return None
    if not _calls(node, entry_point):
        return None
    if _free_names(node) - set(allowed):
        return None
    return ast.unparse(node)


def _parses(src: str) -> bool:
    try:
        ast.parse(src)
    except (SyntaxError, ValueError):
        return False
    return True


def _calls(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name
               for n in ast.walk(node))


def _free_names(node: ast.AST) -> set[str]:
    """Names read in ``node`` that it does not bind itself (comprehensions, lambdas, walrus)."""
    loads: set[str] = set()
    bound: set[str] = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            (loads if isinstance(n.ctx, ast.Load) else bound).add(n.id)
        elif isinstance(n, ast.arg):
            bound.add(n.arg)
    return loads - bound
