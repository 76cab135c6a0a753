"""Kill-and-resume: SIGKILL a ``codepref run`` subprocess during the execute stage, rerun it.

Checks: generate is not redone (its file is untouched and the rerun says it skipped it); the
records execute had written before the kill are kept byte for byte and not recomputed; the
finished matrices file has exactly one record per sampled task (none lost, none duplicated).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from codepref.records import iter_jsonl

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SETTINGS = [
    "run.task_limit=6", "generate.model=smollm2-135m-instruct", "generate.n_solutions=4",
    "generate.n_tests=6", "generate.test_samples=2", "generate.max_tokens=96", "generate.test_max_tokens=128",
    "generate.backend_options={parallel = 4, n_ctx = 4096}", "sandbox.workers=1", "sandbox.batch_size=1",
    "rank.skip_uniform=false", "evaluate.benchmarks=[]",
]


def command(run_dir):
    args = [sys.executable, "-m", "codepref", "run", "--run-dir", str(run_dir)]
    for s in SETTINGS:
        args += ["--set", s]
    return args


def stage_status(run_dir, name):
    try:
        return json.loads((run_dir / "ledger.json").read_text())["stages"].get(name, {}).get("status")
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def test_sigkill_during_execute_then_rerun(tmp_path):
    pytest.importorskip("llama_cpp", reason="needs codepref[cpu]")
    run_dir = tmp_path / "run"
    partial = run_dir / "round1" / "matrices.jsonl.partial"
    proc = subprocess.Popen(command(run_dir), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 900
    try:
        while time.monotonic() < deadline and proc.poll() is None and stage_status(run_dir, "round1.execute") is None:
            time.sleep(0.002)
        # Freeze the run while looking, so a busy machine cannot let execute finish unseen;
        # let it go on in short slices until execute has written at least one record.
        os.kill(proc.pid, signal.SIGSTOP)
        while stage_status(run_dir, "round1.execute") == "started" and \
                not (partial.is_file() and len(partial.read_bytes().splitlines()) >= 2):
            os.kill(proc.pid, signal.SIGCONT)
            time.sleep(0.02)
            os.kill(proc.pid, signal.SIGSTOP)
        assert stage_status(run_dir, "round1.execute") == "started", "execute finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert stage_status(run_dir, "round1.execute") == "started"
    before_kill = partial.read_bytes()
    kept = [line for line in before_kill.splitlines(keepends=True) if line.endswith(b"\n")]
    samples = run_dir / "round1" / "samples.jsonl"
    samples_mtime = samples.stat().st_mtime_ns

    rerun = subprocess.run(command(run_dir), cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr
    assert "round1.generate: complete, skipped" in rerun.stderr
    assert "round1.execute: resuming unfinished work" in rerun.stderr
    assert samples.stat().st_mtime_ns == samples_mtime

    final = (run_dir / "round1" / "matrices.jsonl").read_bytes()
    assert final.startswith(b"".join(kept))  # work done before the kill is kept, not redone
    ids = [obj["task_id"] for _, obj in iter_jsonl(run_dir / "round1" / "matrices.jsonl")]
    sampled = {obj["task_id"] for _, obj in iter_jsonl(samples)}
    assert len(ids) == len(set(ids)) and set(ids) == sampled
    assert not partial.exists()
    ledger = json.loads((run_dir / "ledger.json").read_text())["stages"]
    assert all(e["status"] == "complete" for e in ledger.values())
