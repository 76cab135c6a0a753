"""CPU DPO step time and peak memory: codepref's CPU settings vs TRL's defaults, same run.

Both sides train the same LoRA adapter (codepref's default rank/targets) on the same pairs
with TRL's ``DPOTrainer`` and ``ref_model=None``; what differs is the training settings:

* ``trl-default``: ``DPOConfig`` as TRL ships it plus ``use_cpu=True`` (without which TRL's
  default ``bf16=True`` is refused on a machine without CUDA): the model passed as a path,
  so TRL loads it fp32; ``bf16=True`` mixed precision, i.e. CPU autocast to bfloat16;
  gradient checkpointing on.
* ``codepref``: :class:`codepref.training.TrainConfig` resolved for CPU: fp32 weights and
  matmuls, no autocast, no gradient checkpointing (the activations fit in memory, so nothing
  is recomputed); TRL's fused LM head scoring only completion positions
  (:func:`codepref.training.trainer.score_only_completions_on_cpu`); one pair per forward
  pass (``micro_batch=1``: no pair padded to another's length); and the reference log-probs
  computed once before training and cached (``precompute_ref``), so a step has no
  reference forward. That pass is timed on its own and reported per pair, and beside the
  step time the step plus its share of the pass (what a first run on new pairs pays). Each
  pair runs as one packed row with its prompt computed once (``share_prompt``,
  :mod:`codepref.training.shared_prefix`).
* ``codepref-two-rows``: the same without ``share_prompt`` (each pair as TRL's two rows,
  prompt + chosen and prompt + rejected); ``codepref-plain``: also without the one-pair
  passes and the cached reference (codepref's first CPU settings).

The pairs are shaped like the learning experiment's: a ``--prompt-tokens`` prompt (the
qwen-coder protocol's prompts are ~150 tokens) and completions whose lengths are drawn,
seeded, between 0.4x and 1.6x ``--completion-tokens``, so chosen and rejected differ as real
pairs do and padding costs what it costs in a real run.

Each side runs in its own process (so its peak RSS is its own), takes ``--steps`` optimiser
steps of ``--pairs`` pairs each, and reports the median time of the steps after the first
(the first pays one-time allocations) in wall-clock and in process CPU time (steadier when
other work shares the cores), and its peak RSS. The goal: codepref's step time <= 0.5x TRL's.
``--profile`` prints each side's top operators (torch profiler, self CPU time) over its last
step.

Each side's MFU is printed beside its step time: the step's model FLOPs
(``model_flops.train_flops``: LoRA on a frozen base, 4N per token for forward + activation
gradients, 6x the adapter weights, 12 L d_attn per attended position, plus DPO's no-grad
reference forward, 2N; the LM head only at completion positions, the ones the loss needs) per
second over the fp32 GEMM peak of ``machine_peak.py``: wall time against the wall-clock peak,
CPU time against the per-CPU-second peak. Both sides do the same model FLOPs; TRL's
recomputation (gradient checkpointing) and its LM head over prompt positions are work on top
that MFU does not count; the FLOPs ``share_prompt`` saves (the second pass over each prompt)
are counted as done, so its MFU is an effective one (two-row work per second). The peak is measured quickly before the sides run (~10 s) unless
``--peak-json`` gives one from ``machine_peak.py --json``.

    python benchmarks/train_step.py                       # the default model (0.5B), ~15 min
    python benchmarks/train_step.py --profile             # and where each side's step goes
    python benchmarks/train_step.py --model smollm2-135m-instruct --steps 2
    python benchmarks/train_step.py --peak-json peak.json   # peak from machine_peak.py --json

Needs the ``train`` extra; the 0.5B model needs ~13 GB RAM per side.
"""

from __future__ import annotations

import argparse
import dataclasses
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

SETTINGS = ("trl-default", "codepref-plain", "codepref-two-rows", "codepref")


def _corpus() -> str:
    """Plain Python source to cut prompts and completions from (standard library text)."""
    import difflib
    import inspect

    return inspect.getsource(difflib)


def make_rows(tokenizer, n_pairs: int, prompt_tokens: int, completion_tokens: int, seed: int = 0) -> list[dict]:
    """``n_pairs`` DPO rows: a ``prompt_tokens`` prompt and two completions whose lengths are
    drawn uniformly (seeded) from 0.4x..1.6x ``completion_tokens``."""
    import random

    rng = random.Random(seed)
    ids = tokenizer(_corpus())["input_ids"]
    rows, at = [], 0
    for _ in range(n_pairs):
        c, r = (max(2, round(completion_tokens * rng.uniform(0.4, 1.6))) for _ in range(2))
        prompt, at = ids[at: at + prompt_tokens], at + prompt_tokens
        chosen, at = ids[at: at + c - 1], at + c - 1  # TRL appends EOS
        rejected, at = ids[at: at + r - 1], at + r - 1
        rows.append({"prompt": tokenizer.decode(prompt), "chosen": tokenizer.decode(chosen),
                     "rejected": tokenizer.decode(rejected)})
    return rows


def step_flops(tokenizer, rows: list[dict], shape: ModelShape, reference_forward: bool = True) -> float:
    """Model FLOPs of one DPO step on ``rows`` with codepref's default LoRA adapter, with or
    without the reference forward (without: the reference log-probs come from a cache).

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
                       reference_forward=reference_forward)


def run_child(setting: str, model_dir: str, rows: list[dict], pairs: int, steps: int, profile: bool) -> dict:
    """One side of the benchmark, in this process: build, train ``steps`` steps, measure."""
    import torch
    from transformers import AutoTokenizer, PrinterCallback, TrainerCallback

    from codepref.training.config import TrainConfig
    from codepref.training.trainer import build_trainer, load_base, lora_config, reference_cache_file

    class Timer(TrainerCallback):
        def __init__(self):
            self.times: list[float] = []
            self.cpu: list[float] = []
            self.prof = None

        def on_step_begin(self, args, state, control, **kw):
            if profile and state.global_step == steps - 1:
                self.prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
                self.prof.__enter__()
            self.t0, self.c0 = time.perf_counter(), time.process_time()

        def on_step_end(self, args, state, control, **kw):
            self.times.append(time.perf_counter() - self.t0)
            self.cpu.append(time.process_time() - self.c0)
            if self.prof is not None:
                self.prof.__exit__(None, None, None)

    timer = Timer()
    ref = {}

    def ref_progress(done, total):
        ref["t0"], ref["c0"], ref["pairs"] = time.perf_counter(), time.process_time(), total

        def tick(n):
            ref["s"], ref["cpu_s"] = time.perf_counter() - ref["t0"], time.process_time() - ref["c0"]
        return tick

    t0 = time.perf_counter()
    out = tempfile.mkdtemp(prefix="codepref-bench-")
    cfg = TrainConfig(batch_size=pairs, grad_accum=1, max_steps=steps, save_steps=10_000)
    if setting == "codepref-plain":
        cfg = dataclasses.replace(cfg, micro_batch=pairs, precompute_ref=False,
                                  share_prompt=False).resolve(cuda_available=False)
        model, tokenizer = load_base(model_dir, cfg)
        trainer = build_trainer(cfg, model, tokenizer, rows, out, [timer])
    elif setting in ("codepref", "codepref-two-rows"):
        cfg = dataclasses.replace(cfg, share_prompt=setting == "codepref").resolve(cuda_available=False)
        model, tokenizer = load_base(model_dir, cfg)
        # a fresh cache file: the reference pass is measured, not read
        cache = reference_cache_file(cfg, model_dir, rows).with_name(f"bench-{os.getpid()}-{time.time_ns()}.json")
        trainer = build_trainer(cfg, model, tokenizer, rows, out, [timer], ref_cache=cache, ref_progress=ref_progress)
        cache.unlink(missing_ok=True)
    else:
        import datasets
        from trl import DPOConfig, DPOTrainer

        datasets.disable_progress_bars()
        # use_cpu=True is the one change TRL's defaults need on a machine without CUDA: its
        # default bf16=True is refused otherwise ("Your setup doesn't support bf16/gpu"). The
        # seed is codepref's, so both sides take the pairs in the same order.
        args = DPOConfig(output_dir=out, per_device_train_batch_size=pairs, max_steps=steps, use_cpu=True,
                         report_to=[], save_strategy="no", disable_tqdm=True, logging_steps=1,
                         seed=cfg.seed, data_seed=cfg.seed)
        trainer = DPOTrainer(model=model_dir, args=args, train_dataset=datasets.Dataset.from_list(rows),
                             processing_class=AutoTokenizer.from_pretrained(model_dir),
                             peft_config=lora_config(cfg), callbacks=[timer])
        trainer.remove_callback(PrinterCallback)
    load_s = time.perf_counter() - t0
    trainer.train()
    a = trainer.args
    top = []
    if timer.prof is not None:
        table = timer.prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12, max_name_column_width=40)
        top = table.splitlines()
    return {
        "setting": setting,
        "step_s": timer.times,
        "step_cpu_s": timer.cpu,
        "load_s": round(load_s, 2),
        "ref_pass_s": ref.get("s"),
        "ref_pass_cpu_s": ref.get("cpu_s"),
        "ref_pairs": ref.get("pairs"),
        "micro_batch": a.per_device_train_batch_size,
        "share_prompt": setting == "codepref",
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "bf16": bool(a.bf16),
        "activation_checkpointing": bool(getattr(a, "activation_checkpointing", a.gradient_checkpointing)),
        "threads": torch.get_num_threads(),
        "losses": [h["loss"] for h in trainer.state.log_history if "loss" in h],
        "profile": top,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="packaged model name or model folder (default: the default model)")
    ap.add_argument("--pairs", type=int, default=2, help="pairs per optimiser step (2)")
    ap.add_argument("--prompt-tokens", type=int, default=150, help="tokens per prompt (150)")
    ap.add_argument("--completion-tokens", type=int, default=200,
                    help="mean tokens per completion; each is drawn from 0.4x..1.6x of it (200)")
    ap.add_argument("--steps", type=int, default=3, help="optimiser steps per side; the first is not timed (3)")
    ap.add_argument("--only", default=None, metavar="SIDE[,SIDE]",
                    help=f"run only these sides, comma-separated, of {', '.join(SETTINGS)}")
    ap.add_argument("--profile", action="store_true", help="print each side's top operators over its last step")
    ap.add_argument("--peak-json", help="machine peak from benchmarks/machine_peak.py --json (default: measure it now)")
    ap.add_argument("--child", choices=SETTINGS, help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", help=argparse.SUPPRESS)
    ap.add_argument("--rows", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.steps < 2:
        ap.error("--steps must be >= 2 (the first step is not timed)")
    sides = args.only.split(",") if args.only else list(SETTINGS)
    if any(side not in SETTINGS for side in sides):
        ap.error(f"--only takes sides of {', '.join(SETTINGS)}, got {args.only!r}")

    if args.child:
        with open(args.rows) as fh:
            rows = json.load(fh)
        print(json.dumps(run_child(args.child, args.model_dir, rows, args.pairs, args.steps, args.profile)), flush=True)
        return 0

    from transformers import AutoTokenizer

    from codepref.generation.models import DEFAULT_MODEL
    from codepref.training.models import resolve_base

    base = resolve_base(args.model or DEFAULT_MODEL)
    tokenizer = AutoTokenizer.from_pretrained(base.path)
    rows = make_rows(tokenizer, args.pairs * args.steps, args.prompt_tokens, args.completion_tokens)
    lengths = [(len(tokenizer(r["prompt"] + r["chosen"])["input_ids"]) + 1,
                len(tokenizer(r["prompt"] + r["rejected"])["input_ids"]) + 1) for r in rows]
    print(f"model {base.spec} ({base.fingerprint['model_type']}, {base.fingerprint['num_hidden_layers']} layers, "
          f"vocab {base.fingerprint['vocab_size']}); {args.pairs} pairs per step, {args.steps} steps per side; "
          f"(chosen, rejected) sequence lengths {lengths}; {os.cpu_count()} CPUs, "
          f"{platform.processor() or platform.machine()}", flush=True)
    shape = ModelShape.from_model_dir(base.path)
    # each step sees its own pairs (the data order is seeded the same on both sides); the
    # model FLOPs of the median step are taken as the mean over the steps
    flops = statistics.mean(step_flops(tokenizer, rows[i: i + args.pairs], shape)
                            for i in range(0, len(rows), args.pairs))
    flops_cached = statistics.mean(step_flops(tokenizer, rows[i: i + args.pairs], shape, reference_forward=False)
                                   for i in range(0, len(rows), args.pairs))
    print(f"model FLOPs per step {flops / 1e9:.1f} GFLOP with a reference forward, {flops_cached / 1e9:.1f} "
          f"without (see model_flops.py)", flush=True)
    peak = load_or_measure(args.peak_json, None, shape, llama=False)["fp32"]
    results = {}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(rows, fh)
        rows_file = fh.name
    try:
        for setting in sides:
            cmd = [sys.executable, os.path.abspath(__file__), "--child", setting, "--model-dir", base.path,
                   "--rows", rows_file, "--pairs", str(args.pairs), "--steps", str(args.steps)] + (["--profile"] if args.profile else [])
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{setting}: failed\n{proc.stderr[-3000:]}", file=sys.stderr)
                return 1
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            f = flops_cached if r["ref_pass_s"] is not None else flops
            r["median_step_s"] = statistics.median(r["step_s"][1:])
            r["median_step_cpu_s"] = statistics.median(r["step_cpu_s"][1:])
            r["model_gflops"] = f / r["median_step_s"] / 1e9
            r["model_gflops_cpu"] = f / (r["median_step_cpu_s"] / r["threads"]) / 1e9
            r["mfu"] = mfu(r["model_gflops"], peak["peak_gflops"])
            r["mfu_cpu"] = mfu(r["model_gflops_cpu"], peak["peak_gflops_cpu"])
            # what a first run on new pairs pays per step: the step plus its pairs' share of the pass
            share = args.pairs / r["ref_pairs"] if r["ref_pass_s"] is not None else 0.0
            r["first_run_step_s"] = r["median_step_s"] + share * (r["ref_pass_s"] or 0.0)
            r["first_run_step_cpu_s"] = r["median_step_cpu_s"] + share * (r["ref_pass_cpu_s"] or 0.0)
            results[setting] = r
            ref = (f"  reference pass {r['ref_pass_s'] / r['ref_pairs']:.2f} s/pair once "
                   f"(step + its share {r['first_run_step_s']:.2f} s)" if r["ref_pass_s"] is not None else "")
            print(f"{setting:17s} step {r['median_step_s']:7.2f} s wall, {r['median_step_cpu_s']:7.2f} s CPU "
                  f"(first {r['step_s'][0]:.2f} s)  MFU {r['mfu']} wall, {r['mfu_cpu']} CPU  "
                  f"peak RSS {r['peak_rss_mb'] / 1024:5.2f} GiB  bf16={r['bf16']} "
                  f"checkpointing={r['activation_checkpointing']} pairs/pass={r['micro_batch']} "
                  f"threads={r['threads']} load {r['load_s']:.1f} s  wall {time.perf_counter() - t0:.0f} s{ref}",
                  flush=True)
            if r["profile"]:
                print("\n".join(f"    {line}" for line in r["profile"]), flush=True)
    finally:
        os.unlink(rows_file)
    if "codepref" in results and "codepref-two-rows" in results:
        c, p = results["codepref"], results["codepref-two-rows"]
        print(f"ratio codepref / codepref-two-rows (share_prompt): step time "
              f"{c['median_step_s'] / p['median_step_s']:.2f}x wall, {c['median_step_cpu_s'] / p['median_step_cpu_s']:.2f}x "
              f"CPU; reference pass {c['ref_pass_s'] / p['ref_pass_s']:.2f}x wall")
    if "codepref" in results and "codepref-plain" in results:
        c, p = results["codepref"], results["codepref-plain"]
        print(f"ratio codepref / codepref-plain: step time {c['median_step_s'] / p['median_step_s']:.2f}x wall, "
              f"{c['median_step_cpu_s'] / p['median_step_cpu_s']:.2f}x CPU; with the reference pass "
              f"{c['first_run_step_s'] / p['median_step_s']:.2f}x wall, "
              f"{c['first_run_step_cpu_s'] / p['median_step_cpu_s']:.2f}x CPU")
    if "codepref" in results and "trl-default" in results:
        c, t = results["codepref"], results["trl-default"]
        ratio = c["median_step_s"] / t["median_step_s"]
        cpu_ratio = c["median_step_cpu_s"] / t["median_step_cpu_s"]
        first = c["first_run_step_s"] / t["median_step_s"]
        first_cpu = c["first_run_step_cpu_s"] / t["median_step_cpu_s"]
        mem = c["peak_rss_mb"] / t["peak_rss_mb"]
        print(f"ratio codepref / trl-default: step time {ratio:.2f}x wall (goal <= 0.50x: "
              f"{'met' if ratio <= 0.5 else 'NOT met'}), {cpu_ratio:.2f}x CPU time; with the reference pass "
              f"of a first run on new pairs {first:.2f}x wall, {first_cpu:.2f}x CPU; peak memory {mem:.2f}x; "
              f"MFU {c['mfu']} vs {t['mfu']} wall, {c['mfu_cpu']} vs {t['mfu_cpu']} CPU "
              f"(fp32 GEMM peak {peak['peak_gflops']:.1f} GFLOP/s wall, {peak['peak_gflops_cpu']:.1f} per CPU-second "
              f"x threads)")
        print("(CPU time is the steadier figure on a shared machine: other tenants stretch wall time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
