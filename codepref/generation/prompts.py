"""Every prompt codepref sends to a model: solutions and self-generated tests.

Two styles, for two kinds of model:

* ``completion`` — the raw task prompt (signature + docstring) is continued by the model,
  as in the original HumanEval and CodeT setups. Works with base and instruct models.
* ``chat`` — an instruction in the model's chat template, with the start of the answer
  already written (the *prefill*, e.g. an opening code fence), as in EvalPlus's instruct
  prompts. Backends that cannot prefill (``openai`` chat) send the messages only.

A :class:`PromptSpec` holds either ``text`` (completion style) or ``messages`` (chat),
plus the prefill and stop strings. A backend renders it to one string
(``chat template(messages) + prefill`` or ``text + prefill``); the model's answer is
``prefill + completion``.

The test prompts never show a solution: only the task's own prompt (signature and
docstring) and the function name.

The two solution styles are the ``chat`` and ``completion`` protocols of
:mod:`codepref.generation.protocols`, which also holds model cards' own prompts (``qwen-coder``,
``evalplus-instruct``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from codepref.errors import InputError
from codepref.records import Task

STYLES = ("completion", "chat")

#: Where a HumanEval-style function body ends in completion style (the Codex paper's stops).
COMPLETION_STOPS = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\nassert ")
#: Where a prefilled code block ends.
FENCE_STOPS = ("\n```",)
#: Where a run of completion-style asserts ends.
TEST_COMPLETION_STOPS = ("\n\n", "\ndef ", "\nclass ", "\nif ", "\nprint(", "\n#", "\n```")

SYSTEM = "You are a careful Python programmer."


@dataclass(frozen=True)
class PromptSpec:
    """One prompt, before a backend renders it.

    Attributes:
        text: the raw prompt (completion style), or None.
        messages: chat messages ``[{"role", "content"}, ...]`` (chat style), or None.
        prefill: the start of the answer, written for the model; part of the answer.
        stop: strings that end the completion (not included in the output).
    """

    text: str | None = None
    messages: tuple[dict[str, str], ...] | None = None
    prefill: str = ""
    stop: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if (self.text is None) == (self.messages is None):
            raise ValueError("a PromptSpec has either text or messages")

    @property
    def style(self) -> str:
        return "completion" if self.text is not None else "chat"


def _check(task: Task, style: str) -> None:
    if style not in STYLES:
        raise InputError(f"unknown prompt style {style!r} (known: {', '.join(STYLES)})")
    if not task.prompt.strip():
        raise InputError(f"task {task.id} has an empty prompt")


def solution_prompt(task: Task, style: str) -> PromptSpec:
    """The prompt asking for one solution of ``task``.

    Completion style continues ``task.prompt`` and stops at the next top-level statement;
    the solution is ``task.prompt + completion``. Chat style asks for a self-contained
    script in a code block and prefills the fence, so the completion is the code itself.
    """
    _check(task, style)
    if style == "completion":
        return PromptSpec(text=task.prompt, stop=COMPLETION_STOPS)
    user = ("Please provide a self-contained Python script that solves the following problem "
            f"in a markdown code block:\n```python\n{task.prompt.strip()}\n```\n")
    return PromptSpec(
        messages=({"role": "system", "content": SYSTEM}, {"role": "user", "content": user}),
        prefill="```python\n",
        stop=FENCE_STOPS,
    )


def unit_test_prompt(task: Task, style: str, count: int = 10) -> PromptSpec:
    """The prompt asking for assert-style tests of ``task``'s function (no solution shown).

    Completion style follows CodeT: the prompt with a ``pass`` body, then
    ``# check the correctness of NAME`` and ``assert NAME(`` for the model to continue.
    Chat style asks for ``count`` asserts with concrete inputs and expected outputs and
    prefills ``assert NAME(`` inside a code block.
    """
    _check(task, style)
    name = task.entry_point
    if not name:
        raise InputError(f"task {task.id} has no entry point: cannot ask for tests of it")
    start = f"assert {name}("
    if style == "completion":
        text = f"{task.prompt.rstrip()}\n    pass\n\n\n# check the correctness of {name}\n"
        return PromptSpec(text=text, prefill=start, stop=TEST_COMPLETION_STOPS)
    user = (
        f"Here is the signature and docstring of a Python function `{name}`:\n"
        f"```python\n{task.prompt.strip()}\n```\n"
        f"Write {count} different assert statements that check whether an implementation of "
        f"`{name}` is correct. Each assert calls `{name}` with concrete arguments and compares "
        "the result with the exact expected value. Cover typical cases and edge cases. "
        "Write one assert per line and nothing else: do not implement the function."
    )
    return PromptSpec(
        messages=({"role": "system", "content": SYSTEM}, {"role": "user", "content": user}),
        prefill="```python\n" + start,
        stop=FENCE_STOPS,
    )
