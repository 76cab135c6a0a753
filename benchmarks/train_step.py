"""CPU DPO step time and peak memory: codepref's CPU settings vs TRL's defaults, same run.

Both sides train the same LoRA adapter (codepref's default rank/targets) on the same pairs
with TRL's ``DPOTrainer`` and ``ref_model=None``; what differs is the training settings:

* ``trl-default``: ``DPOConfig`` as TRL ships it plus ``use_cpu=True`` (without which TRL's
  default ``bf16=True`` is refused on a machine without CUDA): the model passed as a path,
  so TRL loads it fp32; ``bf16=True`` mixed precision, i.e. CPU autocast to bfloat16;
  gradient checkpointing on.
* ``codepref``: :class:`codepref.training.TrainConfig` resolved for CPU (fp32 weights and
  matmuls, no autocast, no gradient checkpointing: the activations of 2 pairs x 256 tokens
  fit in memory, so nothing is recomputed) and TRL's fused LM head scoring only completion
  positions (:func:`codepref.training.trainer.score_only_completions_on_cpu`).

Each side runs in its own process (so its peak RSS is its own), takes ``--steps`` optimiser
steps of one batch (``--pairs`` pairs, each sequence ``--tokens`` tokens: half prompt, half
completion), and reports the median time of the steps after the first (the first pays
one-time allocations) in wall-clock and in process CPU time (steadier when other work shares
the cores), and its peak RSS. The goal: codepref's step time <= 0.8x TRL's.

Each side's MFU is printed beside its step time: the step's model FLOPs
(``model_flops.train_flops``: LoRA on a frozen base, 4N per token for forward + activation
gradients, 6x the adapter weights, 12 L d_attn per attended position, plus DPO's no-grad
reference forward, 2N; the LM head only at completion positions, the ones the loss needs) per
second over the fp32 GEMM peak of ``machine_peak.py``: wall time against the wall-clock peak,
CPU time against the per-CPU-second peak. Both sides do the same model FLOPs; TRL's
recomputation (gradient checkpointing) and its LM head over prompt positions are work on top
that MFU does not count. The peak is measured quickly before the sides run (~10 s) unless
``--peak-json`` gives one from ``machine_peak.py --json``.

    python benchmarks/train_step.py                       # the default model (0.5B), ~10 min
    python benchmarks/train_step.py --model smollm2-135m-instruct --steps 2
    python benchmarks/train_step.py --peak-json peak.json   # peak from machine_peak.py --json

Needs the ``train`` extra; the 0.5B model needs ~13 GB RAM per side.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from machine_peak import load_or_measure, mfu  # noqa: E402
from model_flops import ModelShape, causal_attended, train_flops  # noqa: E402

SETTINGS = ("trl-default", "codepref")


def _corpus() -> str:
    """Plain Python source to cut prompts and completions from (standard library text)."""
    import difflib
    import inspect

    return inspect.getsource(difflib)


def make_rows(tokenizer, n_pairs: int, tokens: int) -> list[dict]:
    """``n_pairs`` DPO rows whose prompt and each completion are ``tokens // 2`` tokens."""
    half = tokens // 2
    ids = tokenizer(_corpus())["input_ids"]
    rows = []
    for i in range(n_pairs):
        base = i * 3 * half
        chunk = ids[base: base + 3 * half]
        rows.append({
            "prompt": tokenizer.decode(chunk[:half]),
            "chosen": tokenizer.decode(chunk[half: 2 * half - 1]),  # TRL appends EOS
            "rejected": tokenizer.decode(chunk[2 * half: 3 * half - 1]),
        })
    return rows


def step_flops(tokenizer, rows: list[dict], shape: ModelShape) -> float:
    """Model FLOPs of one DPO step on ``rows`` with codepref's default LoRA adapter.

    Each pair is two sequences, prompt + chosen and prompt + rejected (TRL appends EOS to
    each completion); the loss needs log-probs of the completion tokens only.
    """
    from codepref.training.config import TrainConfig

    cfg = TrainConfig()
    tokens = attended = head = 0
    for r in rows:
        p = len(tokenizer(r["prompt"])["input_ids"])
        for key in ("chosen", "rejected"):
            c = len(tokenizer(r[key])["input_ids"]) + 1
            tokens += p + c
            attended += causal_attended(p + c)
            head += c
    return train_flops(shape, tokens, attended, head, lora_params=shape.lora_params(cfg.lora_r, cfg.lora_targets),
                       reference_forward=not cfg.precompute_ref)


def run_child(setting: str, model_dir: str, rows: list[dict], steps: int) -> dict:
    """One side of the benchmark, in this process: build, train ``steps`` steps, measure."""
    import torch
    from transformers import AutoTokenizer, PrinterCallback, TrainerCallback

    from codepref.training.config import TrainConfig
    from codepref.training.trainer import build_trainer, load_base, lora_config

    class Timer(TrainerCallback):
        def __init__(self):
            self.times: list[float] = []
            self.cpu: list[float] = []

        def on_step_begin(self, args, state, control, **kw):
            self.t0, self.c0 = time.perf_counter(), time.process_time()

        def on_step_end(self, args, state, control, **kw):
            self.times.append(time.perf_counter() - self.t0)
            self.cpu.append(time.process_time() - self.c0)

    timer = Timer()
    t0 = time.perf_counter()
    out = tempfile.mkdtemp(prefix="codepref-bench-")
    cfg = TrainConfig(batch_size=len(rows), grad_accum=1, max_steps=steps, save_steps=10_000)
    if setting == "codepref":
        cfg = cfg.resolve(cuda_available=False)
        model, tokenizer = load_base(model_dir, cfg)
        trainer = build_trainer(cfg, model, tokenizer, rows, out, [timer])
    else:
        import datasets
        from trl import DPOConfig, DPOTrainer

        datasets.disable_progress_bars()
        # use_cpu=True is the one change TRL's defaults need on a machine without CUDA: its
        # default bf16=True is refused otherwise ("Your setup doesn't support bf16/gpu").
        args = DPOConfig(output_dir=out, per_device_train_batch_size=len(rows), max_steps=steps, use_cpu=True,
                         report_to=[], save_strategy="no", disable_tqdm=True, logging_steps=1)
        trainer = DPOTrainer(model=model_dir, args=args, train_dataset=datasets.Dataset.from_list(rows),
                             processing_class=AutoTokenizer.from_pretrained(model_dir),
                             peft_config=lora_config(cfg), callbacks=[timer])
        trainer.remove_callback(PrinterCallback)
    load_s = time.perf_counter() - t0
    trainer.train()
    a = trainer.args
    return {
        "setting": setting,
        "step_s": timer.times,
        "step_cpu_s": timer.cpu,
        "load_s": round(load_s, 2),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "bf16": bool(a.bf16),
        "activation_checkpointing": bool(getattr(a, "activation_checkpointing", a.gradient_checkpointing)),
        "threads": torch.get_num_threads(),
        "losses": [h["loss"] for h in trainer.state.log_history if "loss" in h],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="packaged model name or model folder (default: the default model)")
    ap.add_argument("--pairs", type=int, default=2, help="pairs per step (2)")
    ap.add_argument("--tokens", type=int, default=256, help="tokens per sequence, prompt + completion (256)")
    ap.add_argument("--steps", type=int, default=2, help="optimiser steps per side; the first is not timed (2)")
    ap.add_argument("--only", choices=SETTINGS, default=None, help="run one side only")
    ap.add_argument("--peak-json", help="machine peak from benchmarks/machine_peak.py --json (default: measure it now)")
    ap.add_argument("--child", choices=SETTINGS, help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", help=argparse.SUPPRESS)
    ap.add_argument("--rows", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.steps < 2:
        ap.error("--steps must be >= 2 (the first step is not timed)")

    if args.child:
        with open(args.rows) as fh:
            rows = json.load(fh)
        print(json.dumps(run_child(args.child, args.model_dir, rows, args.steps)), flush=True)
        return 0

    from transformers import AutoTokenizer

    from codepref.generation.models import DEFAULT_MODEL
    from codepref.training.models import resolve_base

    base = resolve_base(args.model or DEFAULT_MODEL)
    tokenizer = AutoTokenizer.from_pretrained(base.path)
    rows = make_rows(tokenizer, args.pairs, args.tokens)
    lengths = [len(tokenizer(r["prompt"] + r["chosen"])["input_ids"]) + 1 for r in rows]
    print(f"model {base.spec} ({base.fingerprint['model_type']}, {base.fingerprint['num_hidden_layers']} layers, "
          f"vocab {base.fingerprint['vocab_size']}); {args.pairs} pairs x ~{args.tokens} tokens "
          f"(chosen sequences {lengths}); {args.steps} steps per side; {os.cpu_count()} CPUs, "
          f"{platform.processor() or platform.machine()}", flush=True)
    shape = ModelShape.from_model_dir(base.path)
    flops = step_flops(tokenizer, rows, shape)
    print(f"model FLOPs per step {flops / 1e9:.1f} GFLOP (LoRA DPO with a reference forward; see model_flops.py)",
          flush=True)
    peak = load_or_measure(args.peak_json, None, shape, llama=False)["fp32"]
    results = {}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(rows, fh)
        rows_file = fh.name
    try:
        for setting in (args.only,) if args.only else SETTINGS:
            cmd = [sys.executable, os.path.abspath(__file__), "--child", setting, "--model-dir", base.path,
                   "--rows", rows_file, "--steps", str(args.steps)]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{setting}: failed\n{proc.stderr[-3000:]}", file=sys.stderr)
                return 1
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            r["median_step_s"] = statistics.median(r["step_s"][1:])
            r["median_step_cpu_s"] = statistics.median(r["step_cpu_s"][1:])
            r["model_gflops"] = flops / r["median_step_s"] / 1e9
            r["model_gflops_cpu"] = flops / (r["median_step_cpu_s"] / r["threads"]) / 1e9
            r["mfu"] = mfu(r["model_gflops"], peak["peak_gflops"])
            r["mfu_cpu"] = mfu(r["model_gflops_cpu"], peak["peak_gflops_cpu"])
            results[setting] = r
            print(f"{setting:12s} step {r['median_step_s']:7.2f} s wall, {r['median_step_cpu_s']:7.2f} s CPU "
                  f"(first {r['step_s'][0]:.2f} s)  MFU {r['mfu']} wall, {r['mfu_cpu']} CPU  "
                  f"peak RSS {r['peak_rss_mb'] / 1024:5.2f} GiB  bf16={r['bf16']} "
                  f"checkpointing={r['activation_checkpointing']} threads={r['threads']} "
                  f"load {r['load_s']:.1f} s  wall {time.perf_counter() - t0:.0f} s", flush=True)
    finally:
        os.unlink(rows_file)
    if len(results) == 2:
        c, t = results["codepref"], results["trl-default"]
        ratio = c["median_step_s"] / t["median_step_s"]
        cpu_ratio = c["median_step_cpu_s"] / t["median_step_cpu_s"]
        mem = c["peak_rss_mb"] / t["peak_rss_mb"]
        print(f"ratio codepref / trl-default: step time {ratio:.2f}x wall (goal <= 0.80x: "
              f"{'met' if ratio <= 0.8 else 'NOT met'}), {cpu_ratio:.2f}x CPU time, peak memory {mem:.2f}x; "
              f"MFU {c['mfu']} vs {t['mfu']} wall, {c['mfu_cpu']} vs {t['mfu_cpu']} CPU "
              f"(fp32 GEMM peak {peak['peak_gflops']:.1f} GFLOP/s wall, {peak['peak_gflops_cpu']:.1f} per CPU-second "
              f"x threads)")
        print("(CPU time is the steadier figure on a shared machine: other tenants stretch wall time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
