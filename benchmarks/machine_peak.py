"""Machine peak: this machine's fp32 GEMM FLOP/s (torch) and llama.cpp's quantised matmul rate.

What the speed benchmarks' MFU (model FLOPs utilisation: achieved model FLOP/s / peak) is
measured against, so a rate says how far it is from the machine's limit, not only from a peer.

* **fp32 GEMM** (torch, ``torch.get_num_threads()`` = the cores): ``x @ W.T`` with ``W`` an
  ``nn.Linear`` weight (out x in), what a bias-free ``nn.Linear`` runs, at the default model's shapes -- q/o, k/v, gate/up, down and
  the LM head -- for ``M`` tokens in (1, 8, 32, 256, 512). Each timing follows one warm-up
  call and is the fastest of at least two calls lasting ``--min-time`` seconds together (a
  peak: other tenants only slow a call down). ``fp32 peak`` = the best shape's rate.
* **bf16 GEMM** (``--bf16``): the same calls with both operands in bfloat16 (torch's oneDNN
  kernels; native dot products on AVX512-BF16 cores), the ceiling a bf16 matmul can reach here.
* **llama.cpp batched prompt evaluation** (llama-cpp-python, the packaged Q4_K_M GGUF,
  ``n_batch = n_ubatch = 512``, no sampling): one ``eval`` of ``--tokens`` tokens, i.e. big
  matmuls of the quantised weights against 512 activations, converted to FLOP/s with
  ``model_flops``: ``2 * N_body * T + 2 * N_head + 4 * L * d_attn * T(T+1)/2`` (the body's
  matmuls for every token, the LM head for the last token only, causal attention). The
  packaged "Q4_K_M" file mixes Q5_0, Q8_0, Q6_K and Q4_K tensors. ``--q8`` also times a Q8_0
  copy made here with ``llama_model_quantize`` (``allow_requantize``: the packaged GGUF is
  the only copy of the weights on this machine, so Q8_0 is requantised from it; its speed,
  not its accuracy, is what is measured).

Each rate is also given per CPU-second (``_cpu``: FLOPs / process CPU seconds x threads),
which other work on the cores disturbs less than wall time. Writes ``--json PATH`` for
``generation_throughput.py --peak-json`` and ``train_step.py --peak-json``; they can also run
:func:`measure` with a short budget themselves.

    python benchmarks/machine_peak.py [--model qwen2.5-coder-0.5b-instruct] [--q8] [--json peak.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from model_flops import ModelShape, causal_attended  # noqa: E402

MS = (1, 8, 32, 256, 512)
QUICK_MS = (512,)


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def gemm_shapes(shape: ModelShape, *, head: bool = True) -> dict[str, tuple[int, int]]:
    """The distinct ``(in, out)`` matmul shapes of the model (q and o share one, k and v one,
    gate and up one), plus the LM head."""
    lin = shape.linears()
    out = {"q/o": lin["q_proj"], "k/v": lin["k_proj"], "gate/up": lin["gate_proj"], "down": lin["down_proj"]}
    if head:
        out["lm_head"] = (shape.hidden, shape.vocab)
    return out


def gemm_rates(shape: ModelShape, ms=MS, *, min_time: float = 0.3, head: bool = True,
               threads: int | None = None, dtype: str = "float32") -> dict:
    """``x @ W.T`` FLOP/s at the model's shapes for each token count in ``ms``, both in
    ``dtype`` (``float32``, or ``bfloat16``: torch's bf16 GEMM, native on AVX512-BF16 cores).

    Returns:
        ``{"threads", "rows": [{"shape", "m", "k", "n", "ms", "gflops", "gflops_cpu"}],
        "peak_gflops", "peak_gflops_cpu", "peak_at"}``.
    """
    import torch

    torch.set_num_threads(threads or cores())
    n_threads = torch.get_num_threads()
    torch.manual_seed(0)
    rows = []
    with torch.inference_mode():
        for name, (k, n) in gemm_shapes(shape, head=head).items():
            dt = getattr(torch, dtype)
            wt = torch.randn(n, k).to(dt).t()  # nn.Linear's (out, in) weight, used transposed
            for m in ms:
                x = torch.randn(m, k).to(dt)
                out = torch.empty(m, n, dtype=dt)
                torch.mm(x, wt, out=out)  # warm-up: first-call allocations, page faults
                walls, cpus = [], []
                while len(walls) < 2 or sum(walls) < min_time:
                    t0, c0 = time.perf_counter(), time.process_time()
                    torch.mm(x, wt, out=out)
                    walls.append(time.perf_counter() - t0)
                    cpus.append(time.process_time() - c0)
                flops = 2.0 * m * k * n
                rows.append({"shape": name, "m": m, "k": k, "n": n, "ms": round(min(walls) * 1e3, 3),
                             "gflops": round(flops / min(walls) / 1e9, 2),
                             "gflops_cpu": round(flops / max(min(cpus), 1e-9) * n_threads / 1e9, 2)})
            del wt
    best = max(rows, key=lambda r: r["gflops"])
    return {"threads": n_threads, "rows": rows, "peak_gflops": best["gflops"],
            "peak_gflops_cpu": max(r["gflops_cpu"] for r in rows), "peak_at": f"{best['shape']} M={best['m']}"}


def _prompt_tokens(llm, n: int) -> list[int]:
    """``n`` tokens of real text (Python standard-library source), repeated if short."""
    import difflib
    import inspect

    toks = llm.tokenize(inspect.getsource(difflib).encode(), add_bos=False)
    while len(toks) < n:
        toks = toks + toks
    return toks[:n]


def llamacpp_rate(gguf: str | Path, shape: ModelShape, *, tokens: int = 512, repeats: int = 1,
                  threads: int | None = None) -> dict:
    """llama.cpp's batched prompt-evaluation FLOP/s on ``gguf`` (one ``eval`` of ``tokens``).

    One short warm-up eval first; the fastest of ``repeats`` timed evals counts.
    """
    from llama_cpp import Llama

    threads = threads or cores()
    batch = min(tokens, 512)
    t0 = time.perf_counter()
    llm = Llama(str(gguf), n_ctx=max(tokens, 512), n_batch=batch, n_ubatch=batch, n_threads=threads,
                n_threads_batch=threads, verbose=False)
    load_s = time.perf_counter() - t0
    try:
        toks = _prompt_tokens(llm, tokens)
        llm.reset()
        llm.eval(toks[:32])
        walls, cpus = [], []
        for _ in range(repeats):
            llm.reset()
            t0, c0 = time.perf_counter(), time.process_time()
            llm.eval(toks)
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
    finally:
        llm.close()
    chunks = -(-tokens // batch)  # logits at the last token of each n_batch chunk
    flops = shape.forward_flops(tokens, causal_attended(tokens), head_tokens=chunks)
    wall, cpu = min(walls), min(cpus)
    return {"model": Path(gguf).name, "tokens": tokens, "n_batch": batch, "threads": threads,
            "load_s": round(load_s, 2), "eval_s": round(wall, 3), "tokens_per_s": round(tokens / wall, 1),
            "gflop_per_token": round(flops / tokens / 1e9, 4), "gflops": round(flops / wall / 1e9, 2),
            "gflops_cpu": round(flops / cpu * threads / 1e9, 2)}


def quantize_q8(src: str | Path, dst: str | Path, threads: int | None = None) -> None:
    """Write a Q8_0 copy of ``src`` to ``dst`` (requantising already quantised tensors)."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0
    params.allow_requantize = True
    params.nthread = threads or cores()
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), params)
    if rc != 0:
        raise RuntimeError(f"llama_model_quantize failed with code {rc}")


def nominal_fp32_peak() -> dict | None:
    """cores x 32 FLOP/cycle x clock: two 8-wide fp32 FMA units per core (AVX2 + FMA on
    Zen 2+/Haswell+), at the clock /proc/cpuinfo reports (under a hypervisor, the nominal
    one). A back-of-envelope bound for context; the measured rates are what MFU uses."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    if " avx2 " not in text or " fma " not in text:
        return None
    mhz = [float(line.split(":")[1]) for line in text.splitlines() if line.startswith("cpu MHz")]
    if not mhz:
        return None
    ghz = max(mhz) / 1000
    return {"ghz": round(ghz, 3), "flop_per_cycle": 32, "gflops": round(cores() * 32 * ghz, 1)}


def measure(gguf: str | Path | None, shape: ModelShape, *, quick: bool = False, min_time: float = 0.3,
            tokens: int = 512, q8: bool = False, llama: bool = True, bf16: bool = False) -> dict:
    """The probe: fp32 GEMM rates and (with ``gguf`` and ``llama``) llama.cpp's rate.

    ``quick`` (for a benchmark's own run, ~10-40 s): only ``M = 512`` and no LM-head shape
    (the largest per-layer shapes reach the peak), one timed eval.
    """
    t0 = time.perf_counter()
    result: dict = {
        "machine": {"cpu": _cpu_name(), "cores": cores(), "load_avg": list(os.getloadavg()),
                    "nominal_fp32": nominal_fp32_peak()},
        "model": {"name": shape.name, "layers": shape.layers, "hidden": shape.hidden,
                  "intermediate": shape.intermediate, "heads": shape.heads, "kv_heads": shape.kv_heads,
                  "head_dim": shape.head_dim, "vocab": shape.vocab, "body_params": shape.body_params,
                  "head_params": shape.head_params},
        "fp32": gemm_rates(shape, QUICK_MS if quick else MS, min_time=min_time, head=not quick),
    }
    if bf16:
        result["bf16"] = gemm_rates(shape, QUICK_MS if quick else MS, min_time=min_time, head=not quick,
                                    dtype="bfloat16")
    if gguf is not None and llama:
        result["llamacpp"] = llamacpp_rate(gguf, shape, tokens=tokens)
        if q8:
            with tempfile.TemporaryDirectory(prefix="codepref-q8.") as tmp:
                dst = Path(tmp) / (Path(gguf).stem + ".Q8_0.gguf")
                q0 = time.perf_counter()
                quantize_q8(gguf, dst)
                quant_s = time.perf_counter() - q0
                result["llamacpp_q8_0"] = {**llamacpp_rate(dst, shape, tokens=tokens),
                                           "quantize_s": round(quant_s, 1), "requantized_from": Path(gguf).name}
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result


def load_or_measure(peak_json: str | None, gguf: str | Path | None, shape: ModelShape, *,
                    llama: bool = True, bf16: bool = False) -> dict:
    """The peak from ``peak_json`` (written by this script) or a quick :func:`measure` now
    (with torch's bf16 GEMM too when ``bf16``)."""
    if peak_json:
        return json.loads(Path(peak_json).read_text())
    print("measuring the machine peak (quick; pass --peak-json from benchmarks/machine_peak.py to skip) ...",
          flush=True)
    peak = measure(gguf, shape, quick=True, min_time=0.2, llama=llama, bf16=bf16)
    print(summary(peak), flush=True)
    return peak


def summary(peak: dict) -> str:
    """One line: the CPU and its peaks."""
    f = peak["fp32"]
    parts = [f"{peak['machine']['cpu']}: fp32 GEMM peak {f['peak_gflops']:.1f} GFLOP/s ({f['peak_at']}, {f['threads']} threads; "
             f"{f['peak_gflops_cpu']:.1f} per CPU-second x threads)"]
    if "bf16" in peak:
        parts.append(f"bf16 GEMM peak {peak['bf16']['peak_gflops']:.1f} GFLOP/s ({peak['bf16']['peak_at']})")
    for key in ("llamacpp", "llamacpp_q8_0"):
        if key in peak:
            q = peak[key]
            parts.append(f"{key} prompt eval {q['gflops']:.1f} GFLOP/s ({q['tokens_per_s']} tok/s, "
                         f"{q['gflops_cpu']:.1f} per CPU-second x threads)")
    return "; ".join(parts)


def mfu(gflops: float, peak_gflops: float) -> str:
    """MFU as a percentage string; above 100% the peak was measured under heavier load than
    the run (other work on the cores), and it says so."""
    if peak_gflops <= 0:
        return "n/a"
    pct = 100 * gflops / peak_gflops
    return f"{pct:.1f}%" + (" (peak measured under heavier load?)" if pct > 100 else "")


def _cpu_name() -> str:
    """The CPU's model name with its family and model numbers (which tell apart CPUs sharing
    one name, e.g. two generations of "AMD EPYC"), from codepref's /proc/cpuinfo reader."""
    from codepref.generation.models import cpu_fields

    cpu = cpu_fields()
    name = cpu.get("model name") or platform.processor() or platform.machine()
    numbers = ", ".join(f"{k} {cpu[k]}" for k in ("cpu family", "model") if k in cpu)
    return f"{name} ({numbers})" if numbers else name


def _model(spec: str) -> tuple[Path, ModelShape]:
    from codepref.generation.models import resolve

    gguf = resolve(spec).gguf()
    return gguf, ModelShape.from_gguf(gguf)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct", help="packaged model name or .gguf file")
    ap.add_argument("--tokens", type=int, default=512, help="tokens of the llama.cpp prompt evaluation (512)")
    ap.add_argument("--min-time", type=float, default=0.3, help="seconds of timed calls per GEMM shape and M (0.3)")
    ap.add_argument("--quick", action="store_true", help="M=512 only, no LM-head shape")
    ap.add_argument("--q8", action="store_true", help="also time a Q8_0 copy made here (~1 GB of temporary disk)")
    ap.add_argument("--skip-llamacpp", action="store_true")
    ap.add_argument("--bf16", action="store_true", help="also torch's bf16 GEMM at the same shapes")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)

    gguf, shape = _model(args.model)
    print(f"model {shape.name}: {shape.layers} layers, hidden {shape.hidden}, intermediate {shape.intermediate}, "
          f"{shape.heads}/{shape.kv_heads} heads x {shape.head_dim}, vocab {shape.vocab}; "
          f"N = {shape.body_params / 1e6:.1f}M body + {shape.head_params / 1e6:.1f}M LM head; "
          f"forward {shape.forward_flops_per_token(0) / 1e9:.3f} GFLOP/token + attention", flush=True)
    peak = measure(gguf, shape, quick=args.quick, min_time=args.min_time, tokens=args.tokens, q8=args.q8,
                   llama=not args.skip_llamacpp, bf16=args.bf16)
    m = peak["machine"]
    print(f"{m['cpu']}, {m['cores']} cores, load average {' '.join(f'{x:.2f}' for x in m['load_avg'])}")
    if m["nominal_fp32"]:
        n = m["nominal_fp32"]
        print(f"nominal fp32 FMA bound: {m['cores']} cores x {n['flop_per_cycle']} FLOP/cycle x {n['ghz']} GHz "
              f"= {n['gflops']} GFLOP/s")
    for key in ("fp32", "bf16"):
        if key not in peak:
            continue
        print(f"\n{key} x @ W.T, {peak[key]['threads']} threads: GFLOP/s (per CPU-second x threads); "
              f"peak {peak[key]['peak_gflops']} at {peak[key]['peak_at']}")
        rows = peak[key]["rows"]
        ms = sorted({r["m"] for r in rows})
        print(f"{'shape':9s} {'k x n':>13s} " + " ".join(f"{'M=' + str(x):>15s}" for x in ms))
        for name in dict.fromkeys(r["shape"] for r in rows):
            cells = {r["m"]: r for r in rows if r["shape"] == name}
            r0 = next(iter(cells.values()))
            print(f"{name:9s} {str(r0['k']) + 'x' + str(r0['n']):>13s} "
                  + " ".join(f"{cells[x]['gflops']:6.1f} ({cells[x]['gflops_cpu']:6.1f})" for x in ms))
    print()
    for key in ("llamacpp", "llamacpp_q8_0"):
        if key in peak:
            q = peak[key]
            print(f"{key}: {q['model']} eval of {q['tokens']} tokens (n_batch {q['n_batch']}, {q['threads']} threads) "
                  f"{q['eval_s']} s = {q['tokens_per_s']} tok/s x {q['gflop_per_token']} GFLOP/token "
                  f"= {q['gflops']} GFLOP/s ({q['gflops_cpu']} per CPU-second x threads)"
                  + (f"; quantised in {q['quantize_s']} s" if "quantize_s" in q else ""))
    print(summary(peak))
    print(f"probe took {peak['seconds']} s")
    if args.json:
        Path(args.json).write_text(json.dumps(peak, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
