"""The vllm backend on a CUDA GPU (``pytest -m gpu``; skipped without vllm or a GPU).

Mechanics only, on a tiny random-initialised Qwen2 built offline (no model hub on the
GPU machine): one ``LLM.generate`` call returns every sample, the same seed gives the
same text, ``max_tokens`` and stop strings hold, log-probabilities come back, and a
peft LoRA adapter loads through ``LoRARequest`` and changes the output.
"""

from __future__ import annotations

import pytest

from codepref.generation.backend import PromptSpec, Request, SamplingParams, open_generator

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def tiny_with_adapter(tmp_path_factory):
    pytest.importorskip("vllm", reason="needs codepref[gpu]")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from codepref.training.tiny import build_random_model

    base = build_random_model(tmp_path_factory.mktemp("tiny"), "tiny", seed=0)
    model = AutoModelForCausalLM.from_pretrained(base)
    lora = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                            init_lora_weights=False))  # random B: the adapter matters
    adapter = tmp_path_factory.mktemp("adapter")
    lora.save_pretrained(adapter)
    return str(base), str(adapter)


def test_vllm_samples_seeds_limits_and_adapter(tiny_with_adapter):
    base, adapter = tiny_with_adapter
    prompt = PromptSpec(text="def add(a, b):\n", stop=("\nclass",))
    sampled = Request(prompt, SamplingParams(temperature=1.0, top_p=0.95, max_tokens=12), seeds=(7, 8, 7))
    greedy = Request(prompt, SamplingParams(temperature=0, max_tokens=12))
    gen = open_generator("vllm", base, gpu_memory_utilization=0.3, max_model_len=512)
    try:
        outs, (plain,) = gen.generate([sampled, greedy])
    finally:
        gen.close()
    assert len(outs) == 3 and outs[0].text == outs[2].text
    assert all(0 < c.completion_tokens <= 12 and c.logprob is not None and c.logprob <= 0 for c in outs)
    assert all("\nclass" not in c.text for c in outs)
    gen = open_generator("vllm", base, adapter=adapter, max_lora_rank=8, gpu_memory_utilization=0.3,
                         max_model_len=512)
    try:
        (adapted,), = gen.generate([greedy])
    finally:
        gen.close()
    assert adapted.completion_tokens > 0 and adapted.text != plain.text
