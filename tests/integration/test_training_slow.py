"""Slow training checks: the QLoRA code path on CPU, and real steps on a real model."""

from __future__ import annotations

import json
import math

import pytest
import torch

from codepref.records import iter_jsonl
from codepref.training import TrainConfig, load_adapter, train
from codepref.training.tiny import build_random_model

pytestmark = pytest.mark.slow

PAIRS = [
    ("Write a Python function add(a, b) that returns the sum of a and b.\n",
     "def add(a, b):\n    return a + b\n", "def add(a, b):\n    return a - b\n"),
    ("Write a Python function is_even(n) that returns True when n is even.\n",
     "def is_even(n):\n    return n % 2 == 0\n", "def is_even(n):\n    return n % 2 == 1\n"),
    ("Write a Python function last(xs) that returns the last element of a list.\n",
     "def last(xs):\n    return xs[-1]\n", "def last(xs):\n    return xs[0]\n"),
    ("Write a Python function square(x) that returns x squared.\n",
     "def square(x):\n    return x * x\n", "def square(x):\n    return x + x\n"),
]


def _pairs(path):
    with open(path, "w") as fh:
        for i, (p, c, r) in enumerate(PAIRS):
            fh.write(json.dumps({"prompt": p, "chosen": c, "rejected": r, "task_id": f"t{i}"}) + "\n")
    return path


def _metrics(out):
    return [obj for _, obj in iter_jsonl(out / "metrics.jsonl")]


def test_qlora_code_path_runs_on_cpu(tmp_path):
    """4-bit NF4 base (bitsandbytes' CPU backend), LoRA on top, the DPO loss falls."""
    import bitsandbytes as bnb
    from transformers import TrainerCallback

    tiny = build_random_model(tmp_path / "tiny", "tiny", seed=1)
    seen = {}

    class Inspect(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kw):
            layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
            seen["n4bit"] = len(layers)
            seen["quant_type"] = {m.weight.quant_type for m in layers}
            seen["double_quant"] = all(m.weight.quant_state.nested for m in layers)

    cfg = TrainConfig(quantization="4bit", device="cpu", learning_rate=1e-2, grad_accum=1, batch_size=2,
                      max_steps=6, lora_r=4)
    result = train(_pairs(tmp_path / "pairs.jsonl"), str(tiny), tmp_path / "out", cfg, callbacks=(Inspect(),))
    # 2 layers x 7 projections are NF4, double-quantised
    assert seen == {"n4bit": 14, "quant_type": {"nf4"}, "double_quant": True}
    rows = _metrics(tmp_path / "out")
    assert result.steps == 6 and rows[0]["loss"] == pytest.approx(math.log(2), abs=1e-4)
    assert rows[-1]["loss"] < rows[0]["loss"]
    run = json.loads((tmp_path / "out" / "train_config.json").read_text())
    assert run["config"]["quantization"] == "4bit"
    model, _ = load_adapter(tmp_path / "out")
    with torch.no_grad():
        assert torch.isfinite(model(input_ids=torch.tensor([[1, 2, 3]])).logits).all()


def test_two_real_dpo_steps_on_smollm2(tmp_path):
    """The packaged SmolLM2-135M (GGUF -> cached safetensors copy), 2 real DPO steps."""
    cfg = TrainConfig(max_steps=2, batch_size=2, grad_accum=1, max_length=256, learning_rate=1e-4)
    result = train(_pairs(tmp_path / "pairs.jsonl"), "smollm2-135m-instruct", tmp_path / "out", cfg)
    rows = _metrics(tmp_path / "out")
    assert result.steps == 2 and [r["step"] for r in rows] == [1, 2]
    assert rows[0]["loss"] == pytest.approx(math.log(2), abs=1e-4)
    assert all(math.isfinite(r["loss"]) and r["logps/chosen"] < 0 for r in rows)
    run = json.loads((tmp_path / "out" / "train_config.json").read_text())
    assert run["model"]["fingerprint"]["model_type"] == "llama" and run["model"]["spec"] == "smollm2-135m-instruct"
    adapter = json.loads((tmp_path / "out" / "adapter_config.json").read_text())
    assert set(adapter["target_modules"]) == set(cfg.lora_targets) and adapter["r"] == cfg.lora_r
