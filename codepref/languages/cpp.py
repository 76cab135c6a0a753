"""C++ (g++ 12, ``-std=c++11``): programs are built once, then run.

Sandbox: the image ``codepref-sandbox-cpp`` (Debian's ``g++``, ``libssl-dev`` for CPP/162's
MD5 and ``libboost-dev`` for the ``boost/any.hpp`` that CPP/22 and CPP/137 include). Every
program is compiled with ``g++ -std=c++11 -o {dir}/program {file} -lcrypto -lssl``: the
flags HumanEval-X's harness uses (it links OpenSSL for CPP/162 only; linking it always gives
the same verdicts, since a program's own symbols take precedence over a shared library's).
A compile error is ``failed`` with g++'s message in stderr.

Programs: a solution is a function (its includes, ``using`` lines and the function, no
``main``); :func:`with_helpers` puts HumanEval-X's helper includes the text lacks in front.

* one cell (:func:`assemble`): helpers + solution + a ``main`` running the test;
* a matrix row (:func:`assemble_tests`): helpers + solution + one function per test +
  a ``main`` running the test whose index is its first argument. The sandbox compiles it once
  and runs it once per test, each in its own process (N compiles for N x M cells). Each test
  sits between ``codepref-test-begin J``/``codepref-test-end J`` comments inside ``#ifndef
  CODEPREF_SKIP_TEST_J``: when every compiler error lies in tests (a self-written test that
  calls the function with the wrong arguments, or compares a vector with a braced list), the
  sandbox builds the row again with ``-DCODEPREF_SKIP_TEST_J`` for those tests, which then
  fail alone instead of failing every test of the row (:data:`SKIP_TEST_ARG`).

Outcome: passed iff the build succeeds and the program exits 0. The ``main`` of both
assemblies turns SIGABRT (a failed ``assert``, an uncaught exception) into exit status 1, so
a failing test is ``failed`` as in every language; other signals (a segfault) are ``error``.

Generation: completion style continues the prompt (the function's body) and is cut where the
body closes (:func:`codepref.languages.clike.close_body`); chat style asks for the function
in a ```` ```cpp ```` block. Tests are single ``assert(NAME(...) == ...);`` statements; the
prompt's own examples are HumanEval-X's ``example_test`` asserts when the task has them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from codepref.languages import GenerationHooks, Language
from codepref.languages import clike

if TYPE_CHECKING:
    from codepref.generation.prompts import PromptSpec
    from codepref.records import Task

#: HumanEval-X's helper includes (CodeGeeX ``IMPORT_HELPER["cpp"]``), added when missing.
HELPER_INCLUDES = ("#include<stdlib.h>", "#include<algorithm>", "#include<math.h>", "#include<stdio.h>",
                   "#include<vector>", "#include<string>", "#include<climits>", "#include<cstring>",
                   "#include<iostream>")
BUILD = ("g++", "-std=c++11", "-o", "{dir}/program", "{file}", "-lcrypto", "-lssl")
#: The build argument that leaves test ``j`` out of a matrix row (see the module docstring).
SKIP_TEST_ARG = "-DCODEPREF_SKIP_TEST_{j}"
ASSERT_HEADS = ("assert",)
SYSTEM = "You are a careful C++ programmer."
COMPLETION_STOPS = ("\n}", "\nint main", "\n```")
FENCE_STOPS = ("\n```",)
_TAGS = {"cpp", "c++", "cc", "cxx"}
_TEST_HEAD = "#undef NDEBUG\n#include<assert.h>\n#include<type_traits>\n"
_MAIN_HEAD = ("#include<csignal>\n#include<unistd.h>\n"
              "extern \"C\" void codepref_abort(int) { _exit(1); }\n")
_ON_ABORT = "    signal(SIGABRT, codepref_abort);\n"


def missing_helpers(text: str) -> str:
    """The helper include lines ``text`` does not contain, one a line (HumanEval-X's rule)."""
    return "".join(line + "\n" for line in HELPER_INCLUDES if line not in text)


def with_helpers(solution: str) -> str:
    """``solution`` with the helper includes it lacks in front."""
    return missing_helpers(solution) + solution.rstrip() + "\n"


def assemble(solution: str, test: str) -> str:
    """One program: the solution and a ``main`` that runs ``test`` (one or more statements)."""
    return (f"{with_helpers(solution)}{_TEST_HEAD}{_MAIN_HEAD}int main(){{\n{_ON_ABORT}"
            f"{test.rstrip()}\nreturn 0;\n}}\n")


def assemble_tests(solution: str, tests: list[str]) -> str:
    """One program holding every test; ``./program J`` runs test ``J`` (exit 0: passed)."""
    parts = [with_helpers(solution), _TEST_HEAD, _MAIN_HEAD, "#include<cstdlib>\n"]
    for j, test in enumerate(tests):
        parts.append(f"// codepref-test-begin {j}\n#ifndef CODEPREF_SKIP_TEST_{j}\n"
                     f"static void codepref_test_{j}() {{\n{test.rstrip()}\n}}\n#endif\n// codepref-test-end {j}\n")
    cases = "".join(f"#ifndef CODEPREF_SKIP_TEST_{j}\n    case {j}: codepref_test_{j}(); return 0;\n#endif\n"
                    for j in range(len(tests)))
    parts.append(f"int main(int argc, char **argv) {{\n{_ON_ABORT}    int j = argc > 1 ? atoi(argv[1]) : -1;\n"
                 f"    switch (j) {{\n{cases}    }}\n    return 2;\n}}\n")
    return "".join(parts)


def entry_point(declaration: str) -> str:
    """The function a HumanEval-X C++ declaration declares: the name before the last ``(...) {``."""
    found = re.findall(r"([A-Za-z_]\w*)\s*\([^()]*(?:\([^()]*\)[^()]*)*\)\s*\{", declaration)
    return found[-1] if found else ""


# ----------------------------------------------------------------------------- generation


def solution_prompt(task: Task, style: str) -> PromptSpec:
    """Completion: the prompt continued (the body); chat: the function in a cpp block."""
    from codepref.generation.prompts import PromptSpec

    if style == "completion":
        return PromptSpec(text=task.prompt, stop=COMPLETION_STOPS)
    user = ("Complete the following C++ function. Answer with the whole function (and the includes it "
            "needs) in one ```cpp code block, without a main function.\n"
            f"```cpp\n{task.prompt.strip()}\n```\n")
    return PromptSpec(messages=({"role": "system", "content": SYSTEM}, {"role": "user", "content": user}),
                      prefill="```cpp\n", stop=FENCE_STOPS)


def test_prompt(task: Task, style: str, count: int) -> PromptSpec | None:
    """Asserts calling the entry point, one a line, without a solution shown; None without one."""
    from codepref.generation.prompts import PromptSpec

    name = task.entry_point
    if not name:
        return None
    start = f"assert ({name}("
    if style == "completion":
        text = f"{task.prompt.rstrip()}\n    // ...\n}}\n\n{_TEST_HEAD}int main(){{\n"
        return PromptSpec(text=text, prefill="    " + start, stop=("\n}", "\n```"))
    user = (f"Here is the description and declaration of a C++ function `{name}`:\n"
            f"```cpp\n{task.prompt.strip()}\n```\n"
            f"Write {count} different C++ assert statements that check whether an implementation of `{name}` "
            f"is correct. Each is one line `assert ({name}(...) == expected);` with concrete arguments and the "
            "exact expected value. Cover typical and edge cases. Write only the asserts, one per line: "
            "do not implement the function and do not write main.")
    return PromptSpec(messages=({"role": "system", "content": SYSTEM}, {"role": "user", "content": user}),
                      prefill="```cpp\n" + start, stop=FENCE_STOPS)


def solution_text(task: Task, style: str, answer: str) -> str:
    """Completion: prompt + the body up to where it closes; chat: the code block without ``main``,
    with the prompt's include and ``using`` lines it lacks in front."""
    if style == "completion":
        return task.prompt + clike.close_body(answer)
    code = clike.fenced_code(answer, _TAGS)
    if code is None:
        code = answer
    code = clike.remove_function(code, "main")
    head = [line for line in task.prompt.splitlines()
            if line.strip().startswith(("#include", "using namespace")) and line.strip() not in code]
    return ("\n".join(head) + "\n" if head else "") + code.strip() + "\n"


def typed_braces(stmt: str) -> str:
    """``assert (f(x) == {1, 2});`` -> ``assert (f(x) == std::decay<decltype(f(x))>::type{1, 2});``.

    C++ cannot compare with a braced list (``== {...}`` does not compile), yet models write
    such asserts for vector- and string-valued functions (in a 12-task ``codepref run cpp``,
    every test of 6 tasks). The right side is meant as a value of the left side's type, so it
    is written as one; any other statement is returned unchanged.
    """
    open_at = stmt.find("(")
    if open_at < 0:
        return stmt
    close = clike.matching(stmt, open_at)
    if close < 0:
        return stmt
    inner = stmt[open_at + 1:close]
    depth, op = 0, -1
    for i, c in clike.code_chars(inner):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and inner.startswith(("==", "!="), i) and op < 0:
            op = i
    if op < 0:
        return stmt
    left, right = inner[:op].strip(), inner[op + 2:].strip()
    if not (left and right.startswith("{")):
        return stmt
    end = clike.matching(right, 0)
    if end != len(right) - 1:  # not one braced list (e.g. {1} && x)
        return stmt
    typed = f"{inner[:op + 2]} std::decay<decltype({left})>::type{right}"
    return stmt[:open_at + 1] + typed + stmt[close:]


def parse_tests(task: Task, answer: str, seen: set[str]) -> tuple[list[str], int]:
    """New complete ``assert(...)`` statements calling the entry point (a braced list compared
    with the result typed as the result, :func:`typed_braces`), and all assert heads."""
    found = []
    for stmt in clike.statements(answer, ASSERT_HEADS):
        if task.entry_point and not clike.calls(stmt, task.entry_point):
            continue
        stmt = typed_braces(stmt)
        if stmt not in seen:
            seen.add(stmt)
            found.append(stmt)
    return found, clike.count_heads(answer, ASSERT_HEADS)


def stated_tests(task: Task) -> list[str]:
    """The asserts of the task's ``example_test`` (HumanEval-X: the prompt's examples), less
    those calling a helper the example defines before ``main`` (``issame``): a test is one
    statement and cannot bring a function along."""
    example = task.metadata.get("example_test") or ""
    before_main = example.split("int main", 1)[0]
    helpers = set(re.findall(r"([A-Za-z_]\w*)\s*\([^()]*\)\s*\{", before_main)) - {task.entry_point}
    tests, _ = parse_tests(task, example, set())
    return [t for t in tests if not any(clike.calls(t, h) for h in helpers)]


CPP = Language(
    name="cpp",
    filename="program.cpp",
    argv=("{bin}/program",),
    assemble=assemble,
    build=BUILD,
    build_timeout_s=60.0,
    assemble_tests=assemble_tests,
    skip_test_arg=SKIP_TEST_ARG,
    packages=("g++", "libssl-dev", "libboost-dev"),
    generation=GenerationHooks(solution_prompt=solution_prompt, test_prompt=test_prompt,
                               solution_text=solution_text, parse_tests=parse_tests, prompt_tests=stated_tests),
)
