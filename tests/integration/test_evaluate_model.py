"""``codepref evaluate --model``: samples come from a real (tiny) model, then are judged.

SmolLM2-135M writes no correct code; the test checks the plumbing (``slow``: loading and
sampling a model on a busy 2-core machine took 0.5-6 min): the generate stage's
samples file beside the results, n samples per task, every one judged, pass@k reported.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from codepref.cli import main
from codepref.records import iter_jsonl, read_header

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_evaluate_with_a_model(tmp_path):
    pytest.importorskip("llama_cpp", reason="needs codepref[cpu]")
    out = tmp_path / "smol.humaneval.results.jsonl"
    args = ["evaluate", "-b", "humaneval", "--model", "smollm2-135m-instruct", "--limit", "2", "--n", "2",
            "--temperature", "0.8", "--max-tokens", "48", "--k", "1,2", "--out", str(out), "--workers", "2"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    samples = tmp_path / "smol.humaneval.samples.jsonl"
    assert read_header(samples)["tasks"] == "humaneval"
    lines = [obj for _, obj in iter_jsonl(samples)]
    assert sorted((x["task_id"], x["index"]) for x in lines) == [
        ("HumanEval/0", 0), ("HumanEval/0", 1), ("HumanEval/1", 0), ("HumanEval/1", 1)]
    records = [obj for _, obj in iter_jsonl(out)]
    assert {rec["task_id"]: rec["n"] for rec in records} == {"HumanEval/0": 2, "HumanEval/1": 2}
    summary = json.loads((tmp_path / "smol.humaneval.summary.json").read_text())
    assert set(summary["pass_at_k"]["humaneval"]) == {"pass@1", "pass@2"} and summary["samples"] == 4
