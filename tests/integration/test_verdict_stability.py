"""HumanEval+ verdicts do not depend on the machine's load.

The same small sample file is judged twice with the same cached reference times: once as the
machine is, once while busy-loop processes on the host compete for its CPUs (more of them
than there are cores, started and stopped by the test, each ending by itself after at most
``LOAD_S`` seconds). Every sample's verdict and per-column status must be the same both ways.

The file holds the case from the bug report, HumanEval/96 (``count_up_to``): a correct but
slow O(n^2) trial division, which needs about half of EvalPlus's 1 s per-input floor on the
largest plus inputs (n near 15,700) on a quiet machine. Under wall-clock limits a competing
load pushed it over the limit; judged on CPU time it passes both ways. A genuinely too slow
solution (the canonical one plus a busy loop taking over ten times the limit in each call) must fail
both ways, as must a wrong one; canonical solutions of other tasks pass both ways.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codepref.config import SandboxConfig
from codepref.evaluation.run import EVAL_MEMORY_MB, evaluate, load_task_set
from codepref.execution import SandboxPool

pytestmark = pytest.mark.docker

#: Upper bound of each competing process's life (they are stopped earlier when the run ends).
LOAD_S = 180
BUSY = "import time\nend = time.monotonic() + {s}\nwhile time.monotonic() < end:\n    pass\n"

SLOW_96 = '''def count_up_to(n):
    """The primes below n, by trial division of every number by every smaller one (O(n^2))."""
    return [i for i in range(2, n) if all(i % j for j in range(2, i // 2 + 1))]
'''
WRONG_96 = '''def count_up_to(n):
    return [i for i in range(2, n + 1) if all(i % j for j in range(2, int(i ** 0.5) + 1))]
'''
BUSY_LOOP = "    for _ in range(300_000_000):\n        pass\n"  # 10-20 s per call: 10x the 1 s limit and more


def sample_file(path: Path, data: Path) -> list[tuple[str, str]]:
    """Write the samples; return ``(task_id, kind)`` per line."""
    tasks = load_task_set("humaneval+", data_dir=str(data)).by_id()
    t96 = tasks["HumanEval/96"]
    canonical_96 = t96.prompt + t96.metadata["canonical_solution"]
    head, sep, body = canonical_96.partition('    """\n\n')
    lines = [("HumanEval/96", "canonical", canonical_96),
             ("HumanEval/96", "slow_correct", SLOW_96),
             ("HumanEval/96", "too_slow", head + sep + BUSY_LOOP + body),
             ("HumanEval/96", "wrong", WRONG_96)]
    for tid in ("HumanEval/0", "HumanEval/12"):
        lines.append((tid, "canonical", tasks[tid].prompt + tasks[tid].metadata["canonical_solution"]))
    assert sep and "for _ in range" in lines[2][2]
    path.write_text("".join(json.dumps({"task_id": t, "solution": s}) + "\n" for t, _, s in lines))
    return [(t, k) for t, k, _ in lines]


def judge(samples: Path, data: Path, out: Path, pool: SandboxPool) -> dict[tuple[str, int], dict]:
    """Per ``(task_id, index)``: the sample's verdict record as the results file has it."""
    evaluate("humaneval+", samples, results_path=out, summary_path=out.with_suffix(".summary.json"),
             data_dir=str(data), pool=pool, ks=[1])
    records = [json.loads(x) for x in out.read_text().splitlines()[1:]]
    return {(r["task_id"], s["index"]): {k: s[k] for k in ("passed", "base", "plus", "status", "valid")}
            for r in records for s in r["samples"]}


def test_verdicts_are_the_same_with_and_without_competing_load(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("CODEPREF_CACHE", str(tmp_path / "cache"))  # reference times measured once, then reused
    samples = tmp_path / "samples.jsonl"
    kinds = sample_file(samples, shared_data)
    # One row per unit: the slow sample's cells need not wait for the other samples of its task.
    with SandboxPool(SandboxConfig(workers=2, memory_mb=EVAL_MEMORY_MB, batch_size=1)) as pool:
        t0 = time.monotonic()
        quiet = judge(samples, shared_data, tmp_path / "quiet.results.jsonl", pool)
        quiet_s = time.monotonic() - t0

        n_busy = (os.cpu_count() or 1) + 1
        busy = [subprocess.Popen([sys.executable, "-c", BUSY.format(s=LOAD_S)]) for _ in range(n_busy)]
        try:
            t0 = time.monotonic()
            loaded = judge(samples, shared_data, tmp_path / "loaded.results.jsonl", pool)
            loaded_s = time.monotonic() - t0
            still_busy = [p.poll() is None for p in busy]
        finally:
            for p in busy:
                p.kill()
                p.wait()
    assert all(still_busy), "the competing load ended before the judging did"
    print(f"judged in {quiet_s:.1f} s, under {n_busy} busy loops in {loaded_s:.1f} s")

    assert loaded == quiet
    by_kind = {}
    position: dict[str, int] = {}
    for tid, kind in kinds:
        position[tid] = position.get(tid, -1) + 1
        by_kind[(tid, kind)] = quiet[(tid, position[tid])]
    assert by_kind[("HumanEval/96", "slow_correct")]["passed"]  # the held-back file's sample
    assert by_kind[("HumanEval/96", "canonical")]["passed"]
    too_slow = by_kind[("HumanEval/96", "too_slow")]
    assert not too_slow["passed"] and too_slow["status"]["base"] == "fail"  # its first input's limit
    assert not by_kind[("HumanEval/96", "wrong")]["base"]
    assert by_kind[("HumanEval/0", "canonical")]["passed"] and by_kind[("HumanEval/12", "canonical")]["passed"]
