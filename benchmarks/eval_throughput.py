"""HumanEval+ judging throughput: codepref (Docker sandbox) vs evalplus, same samples, same run.

Both judge the 164 canonical HumanEval+ solutions on all base and plus inputs (about 125,000
calls). Two rounds each:

* cold: codepref measures the canonical solutions' runtimes in the sandbox (empty cache),
  evalplus computes its ground truth (empty ``XDG_CACHE_HOME``);
* warm: both reuse what the cold round cached.

evalplus runs its ``evaluate`` (the ``evalplus.evaluate`` CLI's function, ``parallel=N``) in a
subprocess, with the data from ``HUMANEVAL_OVERRIDE_PATH``, timed from its import to its return; codepref runs ``evaluate`` in-process with N sandbox
workers. Wall times include everything each tool does for the run; ratio = evalplus / codepref
(> 1: codepref is faster). Note the work is not the same: evalplus isolates nothing (it
runs candidates in forked processes of its own) and codepref runs the canonical solution
next to each candidate instead of storing expected outputs.

    python benchmarks/eval_throughput.py [--data-dir DIR] [--workers N]

``--data-dir`` defaults to ``$CODEPREF_DATA``, else the default data folder (where
``codepref data fetch humaneval+`` puts HumanEval+).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_samples(data_dir: Path, path: Path) -> int:
    rows = [json.loads(x) for x in gzip.open(data_dir / "evalplus" / "HumanEvalPlus.jsonl.gz", "rt")]
    path.write_text("".join(json.dumps({"task_id": r["task_id"], "solution": r["prompt"] + r["canonical_solution"]})
                            + "\n" for r in rows))
    return len(rows)


def run_codepref(samples: Path, data_dir: Path, workers: int, out: Path) -> tuple[float, dict]:
    from codepref.config import SandboxConfig
    from codepref.evaluation.run import EVAL_MEMORY_MB, evaluate

    for p in out.parent.glob(out.name + "*"):
        p.unlink()
    t0 = time.perf_counter()
    summary = evaluate("humaneval+", samples, results_path=out, summary_path=out.with_suffix(".summary.json"),
                       data_dir=str(data_dir), config=SandboxConfig(workers=workers, memory_mb=EVAL_MEMORY_MB), ks=[1])
    return time.perf_counter() - t0, summary["pass_at_k"]


#: Times ``evalplus.evaluate.evaluate`` (what ``evalplus.evaluate`` runs) from its import on, and
#: exits without waiting for its "stuck" watchdog thread, which sleeps 20 s at a time.
EVALPLUS_RUN = """
import os, sys, time
t0 = time.perf_counter()
from evalplus.evaluate import evaluate
evaluate("humaneval", samples=sys.argv[1], parallel=int(sys.argv[2]), i_just_wanna_run=True)
print(f"WALL {time.perf_counter() - t0:.3f}", flush=True)
os._exit(0)
"""


def run_evalplus(samples: Path, data_dir: Path, workers: int, cache: Path) -> tuple[float, str]:
    # evalplus keeps its verdicts beside the samples and asks before overwriting them.
    samples.with_name(samples.name.replace(".jsonl", "_eval_results.json")).unlink(missing_ok=True)
    env = {**os.environ, "XDG_CACHE_HOME": str(cache),
           "HUMANEVAL_OVERRIDE_PATH": str(data_dir / "evalplus" / "HumanEvalPlus.jsonl.gz")}
    proc = subprocess.run([sys.executable, "-c", EVALPLUS_RUN, str(samples), str(workers)],
                          capture_output=True, text=True, env=env, check=True)
    lines = proc.stdout.splitlines()
    wall = float(next(x for x in lines if x.startswith("WALL ")).split()[1])
    scores = " ".join(x.strip() for x in lines if x.startswith("pass@"))
    return wall, scores


def main() -> None:
    from codepref.tasks import data_root

    default_data = str(data_root())  # before CODEPREF_CACHE is pointed at a temporary folder below
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=default_data)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    data_dir = Path(args.data_dir)
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        os.environ["CODEPREF_CACHE"] = str(tmp / "codepref-cache")
        samples = tmp / "canonical.jsonl"
        n = write_samples(data_dir, samples)
        print(f"HumanEval+ canonical solutions: {n} tasks, base + plus inputs, {args.workers} workers", flush=True)
        rows = []
        for round_ in ("cold", "warm"):
            ours, our_scores = run_codepref(samples, data_dir, args.workers, tmp / "codepref.results.jsonl")
            theirs, their_scores = run_evalplus(samples, data_dir, args.workers, tmp / "evalplus-cache")
            rows.append((round_, ours, theirs))
            print(f"{round_:5s} codepref {ours:7.1f} s  {json.dumps(our_scores)}", flush=True)
            print(f"{round_:5s} evalplus {theirs:7.1f} s  {their_scores}", flush=True)
        print("\nround  codepref_s  evalplus_s  ratio(evalplus/codepref)")
        for round_, ours, theirs in rows:
            print(f"{round_:5s}  {ours:10.1f}  {theirs:10.1f}  {theirs / ours:6.2f}")


if __name__ == "__main__":
    main()
