"""Prompt batching: are several prompts per ``llama_decode`` faster than one at a time?

When a sampled sequence finishes, codepref's llama.cpp backend evaluates the next waiting
prompt alone (one ``llama_decode`` of that prompt's tokens in a free slot's KV stream). In a
one-sample-per-prompt workload (evaluation, ``generation_throughput.py``) prompt evaluation
is about a third of the time, and one prompt is ~100-200 tokens where llama.cpp's matmul
kernels like batches of 512. This measures what evaluating ``k`` prompts together would buy,
before building it: the first ``--prompts`` HumanEval prompts (chat style, the default
model) evaluated ``k`` per ``llama_decode``, each in its own slot (consecutive sequence ids,
as the backend keeps them; one KV stream per sequence, ``n_batch`` 2048, ``n_ubatch`` 512:
llama.cpp splits such a batch into micro-batches that take the same number of tokens from
each sequence). Rates are prompt tokens per second of wall time, ``k`` alternating over
``--passes`` passes (the cache cleared before each), and each ``k``'s mean against ``k = 1``.

    python benchmarks/prompt_batching.py [--prompts 24] [--ks 1,2,4,8] [--passes 2]
"""

from __future__ import annotations

import argparse
import time


def fill(gen, prompts: list[list[int]], first_slot: int) -> None:
    """One batch holding each prompt in its own slot (``first_slot``, +1, ...), logits at
    each prompt's last token, then one ``llama_decode``."""
    b = gen._batch
    row = 0
    for offset, tokens in enumerate(prompts):
        for pos, tok in enumerate(tokens):
            b.token[row] = tok
            b.pos[row] = pos
            b.n_seq_id[row] = 1
            b.seq_id[row][0] = first_slot + offset
            b.logits[row] = pos == len(tokens) - 1
            row += 1
    b.n_tokens = row
    gen._decode()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--prompts", type=int, default=24, help="HumanEval prompts per pass (a multiple of every k)")
    ap.add_argument("--ks", default="1,2,4,8", help="prompts per llama_decode to compare")
    ap.add_argument("--passes", type=int, default=2)
    args = ap.parse_args()
    if not 1 <= args.prompts <= 32:
        ap.error("--prompts must be 1..32 (one slot each)")
    import codepref.generation.llamacpp  # noqa: F401  (sets OMP_WAIT_POLICY before llama_cpp loads)
    from codepref.generation.backend import open_generator
    from codepref.generation.prompts import solution_prompt
    from codepref.tasks.source import load_tasks

    tasks, _ = load_tasks("humaneval")
    ks = [int(k) for k in args.ks.split(",")]
    gen = open_generator("llamacpp", args.model, parallel=32, n_batch=2048, processes=1)
    prompts = [gen.tokenize(gen.render(solution_prompt(t, "chat"))) for t in tasks[:args.prompts]]
    n_tokens = sum(map(len, prompts))
    print(f"{len(prompts)} prompts, {n_tokens} tokens ({n_tokens / len(prompts):.0f} per prompt), "
          f"{gen._threads} threads")
    rates: dict[int, list[float]] = {k: [] for k in ks}
    lib, mem = gen._lib, gen._ctx.memory
    for _ in range(args.passes):
        for k in ks:
            lib.llama_memory_clear(mem, True)
            t0 = time.perf_counter()
            for start in range(0, len(prompts), k):
                fill(gen, prompts[start:start + k], start)
            rates[k].append(n_tokens / (time.perf_counter() - t0))
    gen.close()
    base = sum(rates[ks[0]]) / len(rates[ks[0]])
    print(f"\n| prompts per llama_decode | passes, prompt tok/s | mean | vs k={ks[0]} |\n|---|---|---|---|")
    for k in ks:
        mean = sum(rates[k]) / len(rates[k])
        print(f"| {k} | {', '.join(f'{r:.0f}' for r in rates[k])} | {mean:.0f} | {mean / base:.2f}x |")


if __name__ == "__main__":
    main()
