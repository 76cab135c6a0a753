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


# ------------------------------------------------------------------ tests stated in the prompt

#: What separates a call from its expected value in prose examples: ``f(1) == 2``,
#: ``f(1) ==> 2``, ``f(1) ➞ 2``, ``f(1) -> 2``, ``f(1) => 2``, ``f(1) → 2``, ``f(1) returns 2``.
_ARROWS = ("==>", "==", "➞", "->", "=>", "→", "should return", "returns", "return")


def prompt_tests(prompt: str, entry_point: str, *, limit: int | None = None) -> list[str]:
    """The examples a task's prompt states, as single independent asserts.

    Three forms are read, in this order, and normalised like the model's asserts
    (:func:`normalise_assert`; duplicates dropped):

    1. doctest examples, ``>>> call`` followed by the expected output: ``assert call ==
       expected`` when the call is one expression calling ``entry_point`` and the output
       parses as a Python expression (a value's repr), ``assert call is None`` when the
       output is empty (doctest shows nothing exactly for None), ``assert source`` when
       the source is itself a comparison with no output (``>>> f(1) == 2``); examples
       that raise or span statements are skipped;
    2. ``assert`` statements in the prompt (MBPP's prompts carry one);
    3. prose examples on one line: ``entry_point(args) <arrow> expected``, where the arrow
       is one of ``==>``, ``==``, ``➞``, ``->``, ``=>``, ``→`` or "(should) return(s)", and the
       expected value is the rest of the line (a trailing ``.`` or ``,`` removed; when that
       is a worked sum like ``19 - 5 - 6 = 8``, the part after the last ``=``; ``true`` and
       ``false`` read as booleans).

    These tests come with the task, not from the model, so a solution failing one is wrong
    for certain unless the prompt itself is wrong; the pair builder uses them as a gate
    (see :mod:`codepref.pairs.build`).
    """
    import doctest

    allowed = _BUILTINS | {entry_point} | prompt_names(prompt)
    seen: set[str] = set()
    out: list[str] = []

    def keep(snippet: str) -> None:
        norm = normalise_assert(snippet, entry_point, allowed)
        if norm is not None and norm not in seen:
            seen.add(norm)
            out.append(norm)

    try:
        examples = doctest.DocTestParser().get_examples(prompt)
    except ValueError:  # inconsistent doctest indentation
        examples = []
    for ex in examples:
        source, want = ex.source.strip(), _doctest_want(ex.want)
        if "\n" in source or not _is_expr(source):
            continue
        if not want and isinstance(ast.parse(source, mode="eval").body, ast.Compare):
            keep(f"assert {source}")  # ">>> f(1) == 2" written as a claim, no output line
        elif not want:  # doctest shows nothing exactly when the value is None
            keep(f"assert {source} is None")
        elif _is_expr(want):
            keep(f"assert {source} == {want}")
    for snippet in candidate_asserts(prompt):
        keep(snippet)
    if entry_point:
        for line in prompt.splitlines():
            call, rest = _leading_call(line, entry_point)
            if call is None:
                continue
            for arrow in _ARROWS:
                if rest.startswith(arrow):
                    want = rest[len(arrow):].strip().rstrip(".,;").strip()
                    if not _is_expr(want) and "=" in want:  # "f(5) -> 5 - 2 = 3": the result
                        want = want.rsplit("=", 1)[1].strip()
                    want = {"true": "True", "false": "False"}.get(want, want)
                    if want and _is_expr(want):
                        keep(f"assert {call} == {want}")
                    break
    return out if limit is None else out[:limit]


def _doctest_want(want: str) -> str:
    """A doctest's expected output without the docstring's closing quotes that follow it."""
    lines = []
    for line in want.splitlines():
        if line.strip().startswith(('"""', "'''")):
            break
        lines.append(line)
    return "\n".join(lines).strip()


def _is_expr(src: str) -> bool:
    try:
        ast.parse(src, mode="eval")
    except (SyntaxError, ValueError):
        return False
    return True


def _leading_call(line: str, name: str) -> tuple[str | None, str]:
    """``(call, rest)`` when ``line`` holds ``name(...)`` with balanced brackets, else ``(None, "")``.

    The call is the first occurrence of ``name(`` not preceded by an identifier character
    or ``.``; ``rest`` is what follows it, stripped.
    """
    start = line.find(name + "(")
    while start > 0 and (line[start - 1].isalnum() or line[start - 1] in "_."):
        start = line.find(name + "(", start + 1)
    if start < 0:
        return None, ""
    depth = 0
    quote = ""
    for k in range(start + len(name), len(line)):
        ch = line[k]
        if quote:
            if ch == quote and line[k - 1] != "\\":
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                call = line[start:k + 1]
                return (call, line[k + 1:].strip()) if _is_expr(call) else (None, "")
    return None, ""
