"""JavaScript (Node.js 18): programs run with ``node program.js``.

Sandbox: the image ``codepref-sandbox-javascript`` (Debian's ``nodejs``).

Programs (matrix cells, :func:`assemble`): the solution, then the test in a block of its own
that has ``assert`` (node's ``assert`` module) in scope and where ``console.assert`` throws.
So a failing test ends node with exit status 1 whether it is written
``assert.deepStrictEqual(f(1), 2)``, ``assert(f(1) === 2)`` or ``console.assert(f(1) === 2)``
(plain node only prints "Assertion failed" for the last and exits 0): the exit-status rule of
every language holds (exit 0: passed, nonzero: failed). The HumanEval-X benchmark keeps its
own rule instead (passed iff stdout and stderr are both empty; see
:mod:`codepref.evaluation.humaneval_x`).

Generation: completion style continues the prompt (the function's body) and is cut where the
body closes (:func:`codepref.languages.clike.close_body`); chat style asks for the function in
a ```` ```javascript ```` block. Tests are single ``assert...(...)``/``console.assert(...)``
statements calling the entry point; the prompt's own examples are HumanEval-X's
``example_test`` asserts when the task has them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from codepref.languages import GenerationHooks, Language
from codepref.languages import clike

if TYPE_CHECKING:
    from codepref.generation.prompts import PromptSpec
    from codepref.records import Task

ASSERT_HEADS = ("console.assert", "assert.deepStrictEqual", "assert.strictEqual", "assert.deepEqual",
                "assert.equal", "assert.ok", "assert")
SYSTEM = "You are a careful JavaScript programmer."
COMPLETION_STOPS = ("\n}", "\nconst test", "\nconsole.", "\n```")
FENCE_STOPS = ("\n```",)
_TAGS = {"javascript", "js", "node", "jsx"}
_PRELUDE = ("const assert = require('assert');\n"
            "console.assert = (ok, ...what) => { if (!ok) throw new assert.AssertionError("
            "{message: ['console.assert failed', ...what].join(' ')}); };\n")


def assemble(solution: str, test: str) -> str:
    """The solution, then ``test`` in its own block where asserts throw (see the module docstring)."""
    return f"{solution.rstrip()}\n;{{\n{_PRELUDE}{test.rstrip()}\n}}\n"


def entry_point(declaration: str) -> str:
    """The function a HumanEval-X JavaScript declaration defines (``const NAME = (...) => {``)."""
    m = re.search(r"(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=", declaration)
    if m is None:
        m = re.search(r"function\s+([A-Za-z_$][\w$]*)\s*\(", declaration)
    return m.group(1) if m else ""


# ----------------------------------------------------------------------------- generation


def solution_prompt(task: Task, style: str) -> PromptSpec:
    """Completion: the prompt continued (the body); chat: the function in a javascript block."""
    from codepref.generation.prompts import PromptSpec

    if style == "completion":
        return PromptSpec(text=task.prompt, stop=COMPLETION_STOPS)
    user = ("Complete the following JavaScript function. Answer with the whole function in one ```javascript "
            "code block, without tests or example calls.\n"
            f"```javascript\n{task.prompt.strip()}\n```\n")
    return PromptSpec(messages=({"role": "system", "content": SYSTEM}, {"role": "user", "content": user}),
                      prefill="```javascript\n", stop=FENCE_STOPS)


def test_prompt(task: Task, style: str, count: int) -> PromptSpec | None:
    """``assert.deepStrictEqual(NAME(...), expected);`` lines, no solution shown; None without a name."""
    from codepref.generation.prompts import PromptSpec

    name = task.entry_point
    if not name:
        return None
    start = f"assert.deepStrictEqual({name}("
    if style == "completion":
        text = f"{task.prompt.rstrip()}\n  // ...\n}}\n\nconst assert = require('assert');\n"
        return PromptSpec(text=text, prefill=start, stop=("\n\n", "\n```", "\nconsole.log"))
    user = (f"Here is the description and declaration of a JavaScript function `{name}`:\n"
            f"```javascript\n{task.prompt.strip()}\n```\n"
            f"Write {count} different tests that check whether an implementation of `{name}` is correct. "
            f"Each is one line `assert.deepStrictEqual({name}(...), expected);` with concrete arguments and "
            "the exact expected value. Cover typical and edge cases. Write only these lines: do not "
            "implement the function.")
    return PromptSpec(messages=({"role": "system", "content": SYSTEM}, {"role": "user", "content": user}),
                      prefill="```javascript\n" + start, stop=FENCE_STOPS)


def solution_text(task: Task, style: str, answer: str) -> str:
    """Completion: prompt + the body up to where it closes; chat: the code block."""
    if style == "completion":
        return task.prompt + clike.close_body(answer)
    code = clike.fenced_code(answer, _TAGS)
    return (code if code is not None else answer).strip() + "\n"


def parse_tests(task: Task, answer: str, seen: set[str]) -> tuple[list[str], int]:
    """New complete assert statements calling the entry point, and all assert heads."""
    found = []
    for stmt in clike.statements(answer, ASSERT_HEADS):
        if task.entry_point and not clike.calls(stmt, task.entry_point):
            continue
        if stmt not in seen:
            seen.add(stmt)
            found.append(stmt)
    return found, clike.count_heads(answer, ASSERT_HEADS)


def stated_tests(task: Task) -> list[str]:
    """The ``console.assert`` lines of the task's ``example_test`` (HumanEval-X)."""
    example = task.metadata.get("example_test") or ""
    tests, _ = parse_tests(task, example, set())
    return tests


JAVASCRIPT = Language(
    name="javascript",
    filename="program.js",
    argv=("node", "{file}"),
    assemble=assemble,
    packages=("nodejs",),
    generation=GenerationHooks(solution_prompt=solution_prompt, test_prompt=test_prompt,
                               solution_text=solution_text, parse_tests=parse_tests, prompt_tests=stated_tests),
)
