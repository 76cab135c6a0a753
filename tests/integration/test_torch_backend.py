"""The torch backend (codepref.generation.torchgen) on a tiny random-initialised Qwen2 (CPU, seconds).

What is checked is the machinery against transformers, the reference implementation of the
same architecture, in fp32: the decoder's logits after a prompt and after decode steps of
several slots at different positions (including slots whose prompt cells were copied), a LoRA
adapter merged at load against peft's model, greedy decoding token for token against
transformers' ``generate``, seeded samples, stop strings, ``max_tokens`` and the token ids of
what was kept. The real model's greedy HumanEval scores are in docs/architecture.md.
"""

from __future__ import annotations

import json

import pytest
import torch

from codepref.generation.backend import Request, SamplingParams, open_generator
from codepref.generation.models import ModelError
from codepref.generation.prompts import PromptSpec
from codepref.generation.torchgen import Decoder, TorchGenerator
from codepref.training.tiny import build_random_model

PROMPTS = ["def add(a, b):\n", "for i in range(10):\n    print(i)\nclass Stack:\n"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_random_model(tmp_path_factory.mktemp("tiny"), "tiny", seed=0)


@pytest.fixture(scope="module")
def reference(tiny):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny, dtype=torch.float32).eval(), AutoTokenizer.from_pretrained(tiny)


def _ref_logits(model, ids):
    with torch.inference_mode():
        return model(torch.tensor([ids])).logits[0, -1]


def test_decoder_logits_match_transformers_for_prompts_and_decode_steps(tiny, reference):
    model, tok = reference
    dec = Decoder(tiny, "float32")
    dec.reserve(4, 256)
    prompts = [tok(p).input_ids for p in PROMPTS]
    with torch.inference_mode():
        for slot, ids in enumerate(prompts):
            torch.testing.assert_close(dec.prefill(ids, slot), _ref_logits(model, ids), atol=1e-4, rtol=1e-4)
        dec.copy_slot(0, 2, len(prompts[0]))  # a second sample of the first prompt
        seqs = [list(prompts[0]), list(prompts[1]), list(prompts[0])]
        nxt = [[5, 9, 11], [17, 3, 8], [40, 41, 42]]  # any tokens: what is compared is the logits
        for step in range(3):
            toks = torch.tensor([n[step] for n in nxt])
            logits = dec.decode(toks, torch.tensor([len(s) for s in seqs]))
            for slot, s in enumerate(seqs):
                s.append(nxt[slot][step])
                torch.testing.assert_close(logits[slot], _ref_logits(model, s), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_no_weight_keeps_the_safetensors_file_mapped(tiny, dtype, tmp_path):
    """safetensors hands out views of the file's memory map; every tensor the decoder keeps
    is a copy, so once it is loaded the file is no longer mapped (it had kept the whole fp32
    file resident: 4.2 GB for the default model instead of 1.5)."""
    import gc
    import shutil
    from pathlib import Path

    folder = shutil.copytree(tiny, tmp_path / "model")  # a copy no other test's model maps
    files = [str(f) for f in Path(folder).glob("*.safetensors")]
    dec = Decoder(folder, dtype)
    gc.collect()
    maps = Path("/proc/self/maps").read_text()
    assert dec.layers and not [f for f in files if f in maps]


def test_a_lora_adapter_is_merged_into_the_weights(tiny, tmp_path, reference):
    peft = pytest.importorskip("peft")
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny, dtype=torch.float32)
    cfg = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False)
    lora = peft.get_peft_model(base, cfg).eval()
    lora.save_pretrained(tmp_path / "adapter")
    ids = reference[1](PROMPTS[1]).input_ids
    want = _ref_logits(lora, ids)
    assert not torch.allclose(want, _ref_logits(reference[0], ids), atol=1e-3)  # the adapter changes the model
    dec = Decoder(tiny, "float32", adapter=str(tmp_path / "adapter"))
    dec.reserve(1, 128)
    with torch.inference_mode():
        torch.testing.assert_close(dec.prefill(ids, 0), want, atol=1e-4, rtol=1e-4)
    cfg_file = tmp_path / "adapter" / "adapter_config.json"
    cfg_file.write_text(json.dumps({**json.loads(cfg_file.read_text()), "use_dora": True}))
    with pytest.raises(ModelError, match="only plain LoRA"):
        Decoder(tiny, "float32", adapter=str(tmp_path / "adapter"))
    # a full copy of a module (peft's modules_to_save) would be dropped by a merge: refused
    from safetensors.torch import load_file, save_file

    cfg_file.write_text(json.dumps({**json.loads(cfg_file.read_text()), "use_dora": False}))
    weights = tmp_path / "adapter" / "adapter_model.safetensors"
    save_file({**load_file(str(weights)), "base_model.model.lm_head.modules_to_save.weight": torch.zeros(2, 2)},
              str(weights))
    with pytest.raises(ModelError, match="other than LoRA matrices"):
        Decoder(tiny, "float32", adapter=str(tmp_path / "adapter"))


def test_greedy_decoding_matches_transformers_generate(tiny, reference):
    model, tok = reference
    gen = TorchGenerator(str(tiny), dtype="float32", parallel=2)  # 3 requests: a slot is refilled
    params = SamplingParams(temperature=0.0, max_tokens=12)
    outs = gen.generate([Request(PromptSpec(text=p), params) for p in PROMPTS + ["x = [1, 2, 3]\n"]])
    for prompt, (c,) in zip(PROMPTS + ["x = [1, 2, 3]\n"], outs):
        enc = tok(prompt, return_tensors="pt")
        with torch.inference_mode():
            ids = model.generate(**enc, max_new_tokens=12, do_sample=False, eos_token_id=sorted(gen.end_ids),
                                 pad_token_id=tok.pad_token_id)[0, enc.input_ids.shape[1]:].tolist()
        ends = [k for k, t in enumerate(ids) if t in gen.end_ids]
        kept = ids[:ends[0]] if ends else ids
        assert list(c.token_ids) == kept and c.text == tok.decode(kept)
        assert c.finish_reason == ("stop" if ends else "length") and c.completion_tokens == len(kept) + bool(ends)
        assert c.prompt_tokens == enc.input_ids.shape[1] and c.logprob < 0
    gen.close()


def test_seeded_samples_stop_strings_and_the_generator_protocol(tiny):
    gen = open_generator("torch", str(tiny), dtype="float32", parallel=4)
    assert gen.id == f"torch:{tiny}" and gen.prefill_chat and gen.min_chunk_sequences == 16
    params = SamplingParams(temperature=1.0, top_p=0.9, max_tokens=20)
    req = Request(PromptSpec(text=PROMPTS[0]), params, seeds=(1, 2, 3, 1))
    first = gen.generate([req])[0]
    again = gen.generate([req, Request(PromptSpec(text=PROMPTS[1]), params, seeds=(5, 6))])[0]
    assert [c.text for c in first] == [c.text for c in again]  # a sample depends on its seed and prompt
    assert first[0].text == first[3].text and len({c.text for c in first}) > 1
    text = first[1].text
    assert len(text) > 4 and first[1].finish_reason == "length" and first[1].completion_tokens == 20
    # a stop string that the seeded sample reaches: two printable ASCII characters after its
    # first (a random model's text may hold bytes that are no UTF-8, shown as U+FFFD)
    at = next(k for k in range(1, len(text) - 1) if text[k:k + 2].isascii() and text[k:k + 2].isprintable())
    stop = text[at:at + 2]
    (cut,) = gen.generate([Request(PromptSpec(text=PROMPTS[0], stop=(stop,)), params, seeds=(2,))])[0]
    assert cut.text == text[:text.index(stop)] and cut.finish_reason == "stop"
    assert b"".join(gen._pieces[t] for t in cut.token_ids).decode("utf-8") == cut.text
    gen.close()


def test_models_it_cannot_run_get_a_clear_error(tiny, tmp_path):
    cfg = json.loads((tiny / "config.json").read_text())
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps({**cfg, "architectures": ["GPT2LMHeadModel"]}))
    with pytest.raises(ModelError, match="use the hf backend"):
        Decoder(bad)
    (bad / "config.json").write_text(json.dumps({**cfg, "rope_scaling": {"rope_type": "yarn", "factor": 4.0}}))
    with pytest.raises(ModelError, match="scaled RoPE"):
        Decoder(bad)
