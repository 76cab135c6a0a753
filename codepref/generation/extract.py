"""Getting the program out of a model's answer: stop sequences, code fences, sanitising.

* Completion-style prompts (base models continue ``def f(...):\\n    \"\"\"doc\"\"\"``):
  :func:`truncate_at_stop` cuts the continuation at the first stop sequence (by default
  the usual HumanEval ones: a new top-level ``def``/``class``/``if``/``print``/comment).
* Chat answers: :func:`extract_solution` takes the code out of Markdown fences (or the
  longest stretch of lines that parses, when there are none) and sanitises it.
* :func:`sanitize` is EvalPlus's ``sanitize`` (evalplus 0.3.1, which uses tree-sitter)
  re-implemented on :mod:`ast`: take the longest run of consecutive lines that parses as
  Python (:func:`code_extract`), keep its top-level imports and the first definition of
  each name (functions that contain a ``return``, classes, assignments), and with an entry
  point only the definitions the entry point reaches through the names it uses. Example
  calls, ``print`` lines, tests and ``if __name__ == "__main__":`` blocks are dropped.
  One deliberate difference: decorated definitions are kept (tree-sitter calls them
  ``decorated_definition``, which EvalPlus's version silently drops).
"""

from __future__ import annotations

import ast
import re

#: Stop sequences for completion-style HumanEval/MBPP prompts (Codex paper, bigcode harness).
DEFAULT_STOPS = ("\nclass ", "\ndef ", "\n#", "\nif ", "\nprint(", "\nassert ")

_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:^[ \t]*```[ \t]*$|\Z)", re.S | re.M)
_PYTHON_TAGS = {"", "python", "py", "python3", "py3"}


def truncate_at_stop(text: str, stops: tuple[str, ...] | list[str] = DEFAULT_STOPS) -> str:
    """``text`` up to (not including) the earliest occurrence of any stop sequence."""
    cut = len(text)
    for stop in stops:
        i = text.find(stop)
        if i != -1:
            cut = min(cut, i)
    return text[:cut]


def fenced_blocks(text: str) -> list[str]:
    """Contents of the Markdown code blocks tagged as Python (or untagged), in order.

    A block left open at the end of the text (an answer cut by the token limit) counts.
    """
    return [m.group(2) for m in _FENCE.finditer(text) if m.group(1).lower() in _PYTHON_TAGS]


def parses(code: str) -> bool:
    """True when ``code`` is syntactically valid Python (EvalPlus's ``syntax_check``)."""
    try:
        ast.parse(code)
        return True
    except (SyntaxError, MemoryError, ValueError):
        return False


def code_extract(text: str) -> str:
    """The longest run of consecutive lines that parses, counting non-blank lines.

    Same result as EvalPlus's ``code_extract`` (earliest start wins ties), without its
    cubic cost: for each start line only the longest parsing window is looked for, and
    starts that cannot beat the best run so far are skipped. Trailing blank lines are dropped.
    """
    lines = text.split("\n")
    nonblank = [1 if line.strip() else 0 for line in lines]
    suffix = [0] * (len(lines) + 1)
    for i in range(len(lines) - 1, -1, -1):
        suffix[i] = suffix[i + 1] + nonblank[i]
    best, best_pair = 0, (0, -1)
    for i in range(len(lines)):
        if suffix[i] <= best:
            break
        if not nonblank[i]:
            continue
        count = suffix[i]
        for j in range(len(lines) - 1, i - 1, -1):
            if count <= best:
                break
            if nonblank[j] and parses("\n".join(lines[i:j + 1])):
                best, best_pair = count, (i, j)
                break
            count -= nonblank[j]
    i, j = best_pair
    return "\n".join(lines[i:j + 1])


def _names_in(node: ast.AST) -> set[str]:
    names: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            names.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            names.add(sub.attr)
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(sub.name)
    return names


def _has_return(node: ast.AST) -> bool:
    return any(isinstance(sub, ast.Return) for sub in ast.walk(node))


def _definition(node: ast.stmt) -> tuple[bool, str | None]:
    """(is a kept kind of definition, its name) for a top-level statement."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return _has_return(node), node.name
    if isinstance(node, ast.ClassDef):
        return True, node.name
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        first = targets[0]
        return True, first.id if len(targets) == 1 and isinstance(first, ast.Name) else None
    return False, None


def _reachable(entry_point: str, deps: dict[str | None, set[str]]) -> set[str]:
    seen, queue = {entry_point}, [entry_point]
    while queue:
        for name in deps.get(queue.pop(0), ()):
            if name not in seen:
                seen.add(name)
                queue.append(name)
    return seen


def _segment(lines: list[str], node: ast.stmt) -> str:
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return "\n".join(lines[first - 1:node.end_lineno])


def sanitize(code: str, entry_point: str | None = None) -> str:
    """EvalPlus's sanitiser (see the module docstring); falls back to :func:`code_extract`."""
    extracted = code_extract(code)
    try:
        tree = ast.parse(extracted)
    except (SyntaxError, MemoryError, ValueError):
        return extracted
    lines = extracted.split("\n")
    imports, definitions, names = [], [], set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(node)
            continue
        kept, name = _definition(node)
        if kept and (name is None or name not in names):
            if name is not None:
                names.add(name)
            definitions.append((name, node))
    if entry_point:
        reach = _reachable(entry_point, {name: _names_in(node) for name, node in definitions})
        definitions = [(n, d) for n, d in definitions if n in reach]
    out = "\n".join(_segment(lines, node) for node in imports + [d for _, d in definitions]).strip()
    return out or extracted


def extract_code(answer: str, entry_point: str | None = None) -> str:
    """The code of a chat answer before sanitising: its fenced Python, else the whole text.

    With several blocks: all of them joined when that parses (helpers and main function
    in separate blocks), else the first that defines ``entry_point``, else the longest.
    """
    blocks = fenced_blocks(answer)
    if not blocks:
        return answer
    joined = "\n".join(b.rstrip("\n") for b in blocks)
    if len(blocks) == 1 or parses(joined):
        return joined
    if entry_point:
        pattern = re.compile(rf"^\s*(async\s+)?def\s+{re.escape(entry_point)}\s*\(", re.M)
        for block in blocks:
            if pattern.search(block):
                return block
    return max(blocks, key=len)


def extract_solution(answer: str, entry_point: str | None = None) -> str:
    """The program in a chat answer: :func:`extract_code` then :func:`sanitize`."""
    return sanitize(extract_code(answer, entry_point), entry_point)
