"""Python 3: programs are solution + test; run in-process in a fork of the sandbox server.

Generation: solutions continue the task's prompt (completion style) or come out of a chat
answer's code block (:mod:`codepref.generation.extract`); tests are single independent
asserts calling the entry point (:mod:`codepref.generation.testparse`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codepref.generation.prompts import solution_prompt, unit_test_prompt
from codepref.languages import GenerationHooks, Language, concatenate

if TYPE_CHECKING:
    from codepref.generation.prompts import PromptSpec
    from codepref.records import Task


def asserts_prompt(task: Task, style: str, count: int) -> PromptSpec | None:
    """CodeT-style assert prompt for the entry point; None for a task without one."""
    return unit_test_prompt(task, style, count=count) if task.entry_point else None


def solution_text(task: Task, style: str, answer: str) -> str:
    """Completion style: the prompt plus its continuation; chat: the sanitised code block."""
    if style == "completion":
        return task.prompt + answer
    from codepref.generation.extract import extract_solution

    return extract_solution(answer, task.entry_point)


def read_asserts(task: Task, answer: str, seen: set[str]) -> tuple[list[str], int]:
    """New independent asserts of the entry point in ``answer``, and all assert-like snippets."""
    from codepref.generation.testparse import candidate_asserts, parse_asserts, prompt_names

    found = parse_asserts(answer, task.entry_point, known_names=prompt_names(task.prompt), seen=seen)
    return found, len(candidate_asserts(answer))


def stated_tests(task: Task) -> list[str]:
    """The examples the task's prompt states, as asserts of the entry point."""
    from codepref.generation.testparse import prompt_tests

    return prompt_tests(task.prompt, task.entry_point) if task.entry_point else []


PYTHON = Language(
    name="python",
    filename="program.py",
    argv=("python3", "{file}"),
    assemble=concatenate,
    inproc_python=True,
    generation=GenerationHooks(solution_prompt=solution_prompt, test_prompt=asserts_prompt,
                               solution_text=solution_text, parse_tests=read_asserts,
                               prompt_tests=stated_tests),
)
