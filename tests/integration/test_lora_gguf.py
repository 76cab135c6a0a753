"""A peft LoRA adapter converted to GGUF changes llama.cpp's log-probs as it changes
transformers' (the on-policy rounds and the "after" evaluation sample through it).

SmolLM2 is a ``llama``-architecture model, whose q/k rows are permuted by the GGUF
conversion, so the adapter targets q_proj and k_proj only: a wrong permutation (or a wrong
tensor name, shape or scale) would leave llama.cpp's change unrelated to transformers'.
The adapter is random (peft ``init_lora_weights=False``) so that its effect is large; the
check is the correlation of the per-token log-prob changes, and their size ratio.
"""

from __future__ import annotations

import numpy as np
import pytest

from codepref.lora_gguf import convert_adapter

pytestmark = [pytest.mark.slow]

TEXT = "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n"


def hf_token_logprobs(model, ids):
    import torch

    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float()
    lp = torch.log_softmax(logits, -1)
    return np.array([lp[i, ids[i + 1]].item() for i in range(len(ids) - 1)])


def cpp_token_logprobs(gguf, ids, lora=None):
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf), lora_path=str(lora) if lora else None, logits_all=True, n_ctx=256,
                verbose=False, n_threads=2)
    llm.eval(ids)
    scores = np.array(llm.scores[:len(ids)], dtype=np.float64)
    scores -= np.log(np.exp(scores - scores.max(-1, keepdims=True)).sum(-1, keepdims=True)) + scores.max(-1, keepdims=True)
    out = np.array([scores[i, ids[i + 1]] for i in range(len(ids) - 1)])
    llm.close()
    return out


def test_converted_adapter_moves_llamacpp_like_transformers(tmp_path, monkeypatch):
    pytest.importorskip("llama_cpp", reason="needs codepref[cpu]")
    pytest.importorskip("peft", reason="needs codepref[train]")
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from codepref.generation.models import resolve
    from codepref.training.models import resolve_base

    gguf = resolve("smollm2-135m-instruct").gguf(fetch_missing=True)
    base_dir = resolve_base("smollm2-135m-instruct").path
    tok = AutoTokenizer.from_pretrained(base_dir)
    ids = tok(TEXT)["input_ids"]

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    base_hf = hf_token_logprobs(model, ids)
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj"],
                                                  init_lora_weights=False))
    with torch.no_grad():  # a strong adapter, so its effect stands out of quantisation noise
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.mul_(20.0)
    lora_hf = hf_token_logprobs(peft_model, ids)
    peft_model.save_pretrained(tmp_path / "adapter")

    out = convert_adapter(tmp_path / "adapter", gguf, tmp_path / "adapter.gguf")
    assert out.is_file() and not (tmp_path / "adapter.gguf.partial").exists()
    base_cpp = cpp_token_logprobs(gguf, ids)
    lora_cpp = cpp_token_logprobs(gguf, ids, out)

    # The same conversion without the q/k row permutation: what a naming-only converter gives.
    import codepref.lora_gguf as lora_gguf

    monkeypatch.setattr(lora_gguf, "_permute", lambda rows, n_head, n_head_kv: rows)
    unpermuted = convert_adapter(tmp_path / "adapter", gguf, tmp_path / "unpermuted.gguf")
    wrong_cpp = cpp_token_logprobs(gguf, ids, unpermuted)

    d_hf, d_cpp, d_wrong = lora_hf - base_hf, lora_cpp - base_cpp, wrong_cpp - base_cpp
    noise = np.abs(base_cpp - base_hf).mean()  # quantisation (Q4_1) difference without adapters
    assert np.abs(d_hf).mean() > 3 * noise, "the adapter is too weak to test anything"
    corr = np.corrcoef(d_hf, d_cpp)[0, 1]
    corr_wrong = np.corrcoef(d_hf, d_wrong)[0, 1]
    print(f"correlation {corr:.3f}, without the permutation {corr_wrong:.3f}, noise {noise:.3f}")
    assert corr > 0.7, f"log-prob changes disagree (correlation {corr:.3f})"
    assert corr > corr_wrong + 0.2, f"the permutation does not matter? ({corr:.3f} vs {corr_wrong:.3f})"
    ratio = np.abs(d_cpp).mean() / np.abs(d_hf).mean()
    assert 0.5 < ratio < 2.0, f"llama.cpp's change is {ratio:.2f}x transformers' (alpha/r scale?)"


@pytest.mark.docker
def test_evaluate_samples_through_a_trained_adapter_with_llamacpp(tmp_path):
    """``codepref evaluate --adapter`` with the llama.cpp backend converts the peft folder once
    (``adapter.gguf`` inside it) and samples through it: a strong random adapter changes the
    greedy answer; the evaluation is not taken from (or put into) the evaluation cache."""
    pytest.importorskip("llama_cpp", reason="needs codepref[cpu]")
    pytest.importorskip("peft", reason="needs codepref[train]")
    import json

    import torch
    from click.testing import CliRunner
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from codepref.cli import main
    from codepref.records import iter_jsonl
    from codepref.training.models import resolve_base

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(resolve_base("smollm2-135m-instruct").path, dtype=torch.float32)
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                                  init_lora_weights=False))
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.mul_(20.0)
    peft_model.save_pretrained(tmp_path / "adapter")

    def evaluate(name: str, *extra: str):
        out = tmp_path / f"{name}.results.jsonl"
        r = CliRunner().invoke(main, ["evaluate", "-b", "humaneval", "--model", "smollm2-135m-instruct", "--limit",
                                      "1", "--max-tokens", "24", "--k", "1", "--workers", "1", "--out", str(out),
                                      "--no-eval-cache", *extra])
        assert r.exit_code == 0, r.output
        return r, [s["continuation"] for _, s in iter_jsonl(tmp_path / f"{name}.samples.jsonl")]

    _, base = evaluate("base")
    r, adapted = evaluate("adapted", "--adapter", str(tmp_path / "adapter"))
    assert (tmp_path / "adapter" / "adapter.gguf").is_file()
    assert base[0].strip() and adapted != base, "the adapter did not change the answer"
    summary = json.loads((tmp_path / "adapted.summary.json").read_text())
    assert summary["tasks"] == 1
