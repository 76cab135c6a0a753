"""GPU smoke benchmark: QLoRA DPO on a random-initialised Qwen2 at 0.5B scale.

Model weights cannot travel to the GPU machine, and throughput and memory do not depend on
weight values, so the model is built there from Qwen2.5-0.5B's shape (24 layers, hidden
896, 151,936-token vocabulary; :func:`codepref.training.tiny.build_random_model`). It is then
trained exactly as ``codepref train`` trains on CUDA: 4-bit NF4 base with double
quantisation and bf16 compute, LoRA r=16 on all attention/MLP projections, gradient
checkpointing, paged AdamW, TRL's DPOTrainer with ``ref_model=None``.

Reported: seconds per step, tokens per second (prompt + completion tokens of the chosen and
rejected sequences, steps after the first two), peak GPU memory
(``torch.cuda.max_memory_allocated``), and that the loss stayed finite. With ``$OUT`` set
the figures are also written to ``$OUT/gpu_train_smoke.json``.

    python benchmarks/gpu_train_smoke.py                      # on the GPU machine, 20 steps
    python benchmarks/gpu_train_smoke.py --shape tiny --device cpu --steps 3   # CPU check

Needs the ``train`` extra there (torch, transformers, peft, accelerate, trl, datasets,
bitsandbytes).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", choices=("0.5b", "tiny"), default="0.5b", help="model shape (0.5b)")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="cuda (default) or cpu (a check)")
    ap.add_argument("--steps", type=int, default=20, help="optimiser steps (20)")
    ap.add_argument("--pairs", type=int, default=8, help="pairs per step (8)")
    ap.add_argument("--tokens", type=int, default=512, help="tokens per sequence, prompt + completion (512)")
    ap.add_argument("--quantization", choices=("4bit", "none"), default="4bit", help="4bit = QLoRA (default)")
    args = ap.parse_args(argv)
    if args.steps < 3:
        ap.error("--steps must be >= 3 (the first two are warm-up)")
    if args.pairs < 1 or args.tokens < 16:
        ap.error("--pairs must be >= 1 and --tokens >= 16")
    return args


def make_rows(tokenizer, n_pairs: int, tokens: int) -> list[dict]:
    """Pairs whose prompt and completions are ``tokens // 2`` tokens of Python source each."""
    import difflib
    import inspect

    half = tokens // 2
    ids = tokenizer(inspect.getsource(difflib))["input_ids"]
    while len(ids) < 3 * half * n_pairs:
        ids = ids + ids
    rows = []
    for i in range(n_pairs):
        chunk = ids[i * 3 * half: (i + 1) * 3 * half]
        rows.append({"prompt": tokenizer.decode(chunk[:half]),
                     "chosen": tokenizer.decode(chunk[half: 2 * half - 1]),
                     "rejected": tokenizer.decode(chunk[2 * half: 3 * half - 1])})
    return rows


def run(args: argparse.Namespace) -> dict:
    import torch
    from transformers import TrainerCallback

    from codepref.training.config import TrainConfig
    from codepref.training.tiny import build_random_model
    from codepref.training.trainer import build_trainer, load_base

    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        raise SystemExit("no CUDA device (use --device cpu --shape tiny for a CPU check)")
    tmp = tempfile.mkdtemp(prefix="codepref-gpu-smoke-")
    t0 = time.perf_counter()
    model_dir = build_random_model(os.path.join(tmp, "model"), args.shape, seed=0)
    build_s = time.perf_counter() - t0
    cfg = TrainConfig(device=args.device, quantization=args.quantization, batch_size=args.pairs, grad_accum=1,
                      max_steps=args.steps, max_length=args.tokens + 8, save_steps=10_000,
                      learning_rate=5e-5).resolve(cuda_available=cuda)
    model, tokenizer = load_base(str(model_dir), cfg)
    rows = make_rows(tokenizer, args.pairs, args.tokens)
    n_tokens = sum(len(tokenizer(r["prompt"] + r[c])["input_ids"]) + 1 for r in rows for c in ("chosen", "rejected"))

    class Timer(TrainerCallback):
        def __init__(self):
            self.times: list[float] = []

        def on_step_begin(self, a, state, control, **kw):
            if cuda:
                torch.cuda.synchronize()
            self.t = time.perf_counter()

        def on_step_end(self, a, state, control, **kw):
            if cuda:
                torch.cuda.synchronize()
            self.times.append(time.perf_counter() - self.t)

    timer = Timer()
    trainer = build_trainer(cfg, model, tokenizer, rows, os.path.join(tmp, "out"), [timer])
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    measured = timer.times[2:]
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "shape": args.shape,
        "parameters": _count_parameters(str(model_dir)),
        "trainable": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
        "quantization": cfg.quantization,
        "optimizer": cfg.optimizer,
        "gradient_checkpointing": cfg.gradient_checkpointing,
        "steps": len(timer.times),
        "pairs_per_step": args.pairs,
        "tokens_per_step": n_tokens,
        "median_step_s": round(statistics.median(measured), 3),
        "tokens_per_s": round(n_tokens * len(measured) / sum(measured), 1),
        "peak_gpu_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "loss_first_last": [losses[0], losses[-1]],
        "loss_finite": all(l == l and abs(l) != float("inf") for l in losses),
        "model_build_s": round(build_s, 1),
        "versions": _versions(),
    }


def _count_parameters(model_dir: str) -> int:
    """Parameters of the unquantised model (4-bit layers store two weights per byte)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_dir))
    return sum(p.numel() for p in model.parameters())


def _versions() -> dict:
    from importlib import metadata

    out = {}
    for name in ("torch", "transformers", "peft", "trl", "bitsandbytes", "accelerate", "datasets"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    print(json.dumps(result, indent=2))
    print(f"{result['device']}: QLoRA DPO {result['shape']} x {result['steps']} steps: "
          f"{result['median_step_s']} s/step, {result['tokens_per_s']} tokens/s, "
          f"peak GPU memory {result['peak_gpu_mem_gib']} GiB, loss finite {result['loss_finite']}")
    if os.environ.get("OUT"):
        with open(os.path.join(os.environ["OUT"], "gpu_train_smoke.json"), "w") as fh:
            json.dump(result, fh, indent=2)
    return 0 if result["loss_finite"] else 1


if __name__ == "__main__":
    sys.exit(main())
