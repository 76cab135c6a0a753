"""Named evaluation protocols: how a solution is asked for and read back, as a model card did it.

A benchmark score depends on the prompt as much as on the model: Qwen2.5-Coder-0.5B-Instruct
scores 61.6 on HumanEval under its technical report's protocol and 54.9 under codepref's
chat prompt. A :class:`Protocol` names one complete way of sampling a solution: the prompt
(a :class:`~codepref.generation.prompts.PromptSpec`: raw ``text`` sent as it is, or chat
``messages`` rendered by the tokenizer's chat template, plus the prefill and the stop
strings), the default number of new tokens, and how the model's answer (``prefill +
completion``) becomes the program that is judged. The protocol name is written into every
samples and results header, so results of different protocols are never compared by
accident (``codepref compare`` refuses them).

Registered protocols (:data:`PROTOCOLS`):

* ``chat`` and ``completion``: codepref's own prompt styles
  (:func:`codepref.generation.prompts.solution_prompt` through each language's
  :class:`~codepref.languages.GenerationHooks`), exactly as before protocols existed. Their
  style also applies to the test prompts. ``auto`` (no protocol named) is ``chat`` for
  instruct models and ``completion`` otherwise.
* ``qwen-coder``: the Qwen2.5-Coder technical report's (arXiv 2409.12186, Table 16), from
  its repository's ``qwencoder-eval/instruct/eval_plus`` (``model.py``: ``ChatML``): a
  hard-coded ChatML prompt (no tokenizer chat template), system "You are an intelligent
  programming assistant to produce Python algorithmic solutions", user "Can you complete
  the following Python function?" and the stripped task prompt in a python fence, the
  assistant turn prefilled with an opening python fence; greedy in the report; up to 2048
  new tokens; stops ``<|endoftext|>``, ``<|endofmask|>``, ``</s>``, ``\\nif __name__``,
  ``\\ndef main(``, ``\\nprint(``, ``\\n#`` and the closing fence ``\\n````; the completion is cut
  at any remaining fence, tabs become 4 spaces, and EvalPlus's sanitiser keeps what the
  entry point needs. HumanEval(+) and MBPP(+) use the same template (MBPP+ prompts are its
  docstring-with-one-assert format). (Their vLLM engine was built with
  ``max_model_len=1536``, so prompt + answer were capped at 1536 tokens there; codepref
  caps only the new tokens.)
* ``evalplus-instruct``: EvalPlus's own instruct prompt (``evalplus.codegen`` and
  ``evalplus.provider.utility.make_raw_chat_prompt``): the user message "Please provide a
  self-contained Python script that solves the following problem in a markdown code
  block:" with the stripped task prompt in a plain fence, rendered by the model's chat
  template, and the assistant turn prefilled with "Below is a Python script with a
  self-contained function that solves the problem and passes corresponding tests:" and an
  opening python fence; 768 new tokens (EvalPlus's default); stops EvalPlus's ``EOS`` plus
  ``\\n```\\n``; tabs become 4 spaces and the answer is sanitised with the entry point.

``qwen-coder`` and ``evalplus-instruct`` ask for Python functions only; the test prompts of
``codepref generate`` keep the ``auto`` style under them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from codepref.errors import ConfigError, InputError, UnknownNameError
from codepref.generation.prompts import STYLES, PromptSpec
from codepref.records import Task
from codepref.registry import Registry

#: Most new tokens of a solution when neither the protocol nor the user says otherwise.
DEFAULT_MAX_TOKENS = 512

# ----------------------------------------------------------------------------- qwen-coder

QWEN_SYSTEM = "You are an intelligent programming assistant to produce Python algorithmic solutions"
QWEN_USER = "Can you complete the following Python function?"
#: The start of the assistant turn, written for the model (part of the answer).
QWEN_PREFILL = "```python\n"
#: ``model.py``'s ``EOS`` list plus the closing fence ``ChatML`` adds.
QWEN_STOPS = ("<|endoftext|>", "<|endofmask|>", "</s>", "\nif __name__", "\ndef main(", "\nprint(", "\n#", "\n```")

# ----------------------------------------------------------------------------- evalplus-instruct

EVALPLUS_INSTRUCTION = ("Please provide a self-contained Python script that solves the following problem "
                        "in a markdown code block:")
EVALPLUS_RESPONSE = ("Below is a Python script with a self-contained function that solves the problem "
                     "and passes corresponding tests:")
EVALPLUS_PREFILL = f"{EVALPLUS_RESPONSE}\n```python\n"
#: ``evalplus.provider.utility.EOS`` plus the closing fence of chat models.
EVALPLUS_STOPS = ("<|endoftext|>", "<|endofmask|>", "</s>", "\nif __name__", "\ndef main(", "\nprint(", "\n```\n")


@dataclass(frozen=True)
class Protocol:
    """One named way of asking for a solution and reading the answer.

    Attributes:
        name: the registry name (``--protocol NAME``, ``[evaluate] protocol``).
        description: one line for ``--help``.
        prompt: ``task -> PromptSpec``, the solution prompt.
        extract: ``(task, answer) -> program``; ``answer`` is the model's whole answer (the
            prefill, where the backend sent it, plus the completion).
        max_tokens: default most new tokens per solution.
        style: the prompt style of what the protocol does not prompt for itself (the test
            prompts of ``codepref generate``); None: ``auto`` (chat for instruct models).
        languages: the task languages it prompts for; None for every language with prompts.
        source: where the protocol is defined (paper, repository, file).
    """

    name: str
    description: str
    prompt: Callable[[Task], PromptSpec]
    extract: Callable[[Task, str], str]
    max_tokens: int = DEFAULT_MAX_TOKENS
    style: str | None = None
    languages: tuple[str, ...] | None = None
    source: str = ""

    def check_language(self, language: str) -> None:
        """Raise InputError when the protocol has no prompt for ``language``'s tasks."""
        if self.languages is not None and language not in self.languages:
            raise InputError(f"protocol {self.name!r} prompts for {', '.join(self.languages)} tasks only, "
                             f"not {language}; use --protocol chat or completion")

    def solution_prompt(self, task: Task) -> PromptSpec:
        """The prompt asking for one solution of ``task``."""
        self.check_language(task.language)
        return self.prompt(task)

    def solution_text(self, task: Task, answer: str) -> str:
        """The program to judge, from the model's whole answer to :meth:`solution_prompt`."""
        return self.extract(task, answer)


# ----------------------------------------------------------------------------- builders


def _style_prompt(style: str) -> Callable[[Task], PromptSpec]:
    def prompt(task: Task) -> PromptSpec:
        from codepref.languages import generation_hooks

        return generation_hooks(task.language).solution_prompt(task, style)

    return prompt


def _style_extract(style: str) -> Callable[[Task, str], str]:
    def extract(task: Task, answer: str) -> str:
        from codepref.languages import generation_hooks

        return generation_hooks(task.language).solution_text(task, style, answer)

    return extract


def _check(task: Task) -> None:
    if not task.prompt.strip():
        raise InputError(f"task {task.id} has an empty prompt")


def qwen_coder_prompt(task: Task) -> PromptSpec:
    """``qwencoder-eval/instruct/eval_plus/model.py``'s ``ChatML`` prompt, as raw text.

    The text holds the ChatML special tokens itself; backends tokenize it with special
    tokens parsed (llama.cpp ``special=True``, transformers' and vLLM's tokenizers by default).
    """
    _check(task)
    text = (f"<|im_start|>system\n{QWEN_SYSTEM}<|im_end|>\n"
            f"<|im_start|>user\n{QWEN_USER}\n```python\n{task.prompt.strip()}\n```\n<|im_end|>\n"
            "<|im_start|>assistant\n")
    return PromptSpec(text=text, prefill=QWEN_PREFILL, stop=QWEN_STOPS)


def evalplus_instruct_prompt(task: Task) -> PromptSpec:
    """EvalPlus's instruct prompt (``make_raw_chat_prompt``) as messages and a prefill.

    EvalPlus renders the user turn and an assistant turn holding the response prefix, a
    python fence and a marker, then cuts the text at the marker; the chat template applied
    to the user turn (with the generation prompt) plus the prefill is the same text.
    """
    _check(task)
    user = f"{EVALPLUS_INSTRUCTION}\n```\n{task.prompt.strip()}\n```\n"
    return PromptSpec(messages=({"role": "user", "content": user},), prefill=EVALPLUS_PREFILL,
                      stop=EVALPLUS_STOPS)


def _after_prefill(answer: str, prefill: str) -> str:
    """The completion: ``answer`` without the prefill (a backend that cannot prefill a chat
    answer returns the reply alone)."""
    return answer[len(prefill):] if answer.startswith(prefill) else answer


def qwen_coder_extract(task: Task, answer: str) -> str:
    """The completion up to any remaining fence, tabs as 4 spaces, sanitised with the entry
    point (``generate.py``, then ``evalplus.sanitize``)."""
    from codepref.generation.extract import sanitize

    code = _after_prefill(answer, QWEN_PREFILL).replace("\t", "    ")
    return sanitize(code.split("```")[0], task.entry_point or None)


def evalplus_instruct_extract(task: Task, answer: str) -> str:
    """The completion with tabs as 4 spaces, sanitised with the entry point (``evalplus.codegen``)."""
    from codepref.generation.extract import sanitize

    code = _after_prefill(answer, EVALPLUS_PREFILL).replace("\t", "    ")
    return sanitize(code, task.entry_point or None)


PROTOCOLS: Registry[Protocol] = Registry("protocol")
PROTOCOLS.register("chat", Protocol(
    name="chat", description="codepref's chat prompt, the code fence prefilled, 512 tokens",
    prompt=_style_prompt("chat"), extract=_style_extract("chat"), style="chat",
    source="codepref.generation.prompts.solution_prompt"))
PROTOCOLS.register("completion", Protocol(
    name="completion", description="the task prompt continued, cut at the next top-level statement, 512 tokens",
    prompt=_style_prompt("completion"), extract=_style_extract("completion"), style="completion",
    source="codepref.generation.prompts.solution_prompt"))
PROTOCOLS.register("qwen-coder", Protocol(
    name="qwen-coder", description="the Qwen2.5-Coder report's hard-coded ChatML prompt, 2048 tokens",
    prompt=qwen_coder_prompt, extract=qwen_coder_extract, max_tokens=2048, languages=("python",),
    source="arXiv 2409.12186 Table 16; QwenLM/Qwen2.5-Coder qwencoder-eval/instruct/eval_plus/model.py"))
PROTOCOLS.register("evalplus-instruct", Protocol(
    name="evalplus-instruct", description="EvalPlus's instruct prompt through the chat template, 768 tokens",
    prompt=evalplus_instruct_prompt, extract=evalplus_instruct_extract, max_tokens=768, languages=("python",),
    source="evalplus/evalplus evalplus/codegen.py and evalplus/provider/utility.py"))


def get_protocol(name: str) -> Protocol:
    """The registered protocol ``name`` (UnknownNameError with the closest names if none)."""
    return PROTOCOLS.get(name)


def protocols_help() -> str:
    """Every protocol with its description, for ``--help``."""
    return "; ".join(f"{name}: {PROTOCOLS.get(name).description}" for name in PROTOCOLS.names())


def protocol_problems(protocol: str, prompt_style: str) -> list[str]:
    """What is wrong with asking for ``protocol`` (``""``: none) with ``prompt_style``.

    ``prompt_style`` ``chat`` or ``completion`` selects the protocol of that name, so a named
    protocol goes only with ``auto`` or with the style of the same name.
    """
    if not protocol:
        return []
    if protocol not in PROTOCOLS:
        try:
            PROTOCOLS.get(protocol)
        except UnknownNameError as e:
            return [str(e)]
    if prompt_style != "auto" and prompt_style != protocol:
        return [f"prompt_style {prompt_style!r} selects protocol {prompt_style!r}, which conflicts with "
                f"protocol {protocol!r}; give one of them"]
    return []


def requested_protocol(protocol: str, prompt_style: str) -> str:
    """The protocol asked for: ``protocol``, else the one ``prompt_style`` selects; ``""`` for
    ``auto`` (decided by the model: chat for instruct models).

    Raises:
        ConfigError: an unknown protocol, or a prompt style naming another protocol.
    """
    problems = protocol_problems(protocol, prompt_style)
    if problems:
        raise ConfigError(problems)
    if protocol:
        return protocol
    return prompt_style if prompt_style in STYLES else ""


def auto_protocol(chat_default: bool) -> str:
    """What ``auto`` means for a model: ``chat`` for instruct models, else ``completion``."""
    return "chat" if chat_default else "completion"


def model_protocol(model: str) -> str | None:
    """The protocol recorded for a packaged model (its best measured one), or None."""
    from codepref.generation.models import MODELS

    return MODELS.get(model).protocol if model in MODELS else None


def evaluation_protocol(protocol: str, prompt_style: str, model: str, language: str = "python") -> str:
    """The protocol an evaluation of ``language`` tasks samples with: the one asked for, else
    the model's recorded protocol when it prompts for ``language`` (``qwen-coder`` is for
    Python: a SQL benchmark of the same model keeps ``auto``), else ``""`` (``auto``).

    Raises:
        ConfigError: an unknown protocol, or a prompt style naming another protocol.
    """
    asked = requested_protocol(protocol, prompt_style)
    if asked:
        return asked
    recorded = model_protocol(model)
    if recorded:
        languages = PROTOCOLS.get(recorded).languages
        if languages is None or language in languages:
            return recorded
    return ""


def default_max_tokens(protocol: str) -> int:
    """The protocol's default most new tokens (``""``, i.e. ``auto``: chat or completion's)."""
    return PROTOCOLS.get(protocol).max_tokens if protocol else DEFAULT_MAX_TOKENS


__all__ = ["DEFAULT_MAX_TOKENS", "PROTOCOLS", "Protocol", "auto_protocol", "default_max_tokens", "evaluation_protocol",
           "get_protocol", "model_protocol", "protocol_problems", "protocols_help", "requested_protocol"]
