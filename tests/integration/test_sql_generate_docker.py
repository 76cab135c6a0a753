"""SQL tasks through the generate stage with a real (tiny) model, then the execute stage and
the pipeline's sqlfix evaluation, in the real sandbox.

SmolLM2-135M writes no correct SQL: the tests check the mechanics (SQL prompts, SQL samples,
sql-language matrices). A gold fix and the issue SQL are added beside the model's samples,
with a check parsed from a model-style answer, to show the cells judge SQL correctly.
"""

from __future__ import annotations

import importlib.util
import json

import pytest
from click.testing import CliRunner

from codepref.cli import main
from codepref.languages import generation_hooks
from codepref.records import iter_jsonl
from codepref.sql import sqlfix_path
from codepref.tasks import sqlfix

# find_spec, not importorskip: importing llama_cpp before codepref.generation.llamacpp sets
# OMP_WAIT_POLICY=PASSIVE makes decoding on a busy CPU several times slower.
pytestmark = [pytest.mark.docker, pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="needs codepref[cpu]")]

SMALL_MODEL = ["--model", "smollm2-135m-instruct", "-o", "parallel=2", "-o", "n_ctx=8192"]


def test_generate_sql_samples_then_execute(tmp_path, shared_data, monkeypatch):
    monkeypatch.setenv("CODEPREF_DATA", str(shared_data))
    samples = tmp_path / "samples.jsonl"
    r = CliRunner().invoke(main, ["generate", "--tasks", "sqlfix", "--limit", "2", "--out", str(samples),
                                  "--n-solutions", "2", "--n-tests", "4", "--test-samples", "2",
                                  "--max-tokens", "64", "--test-max-tokens", "64", *SMALL_MODEL])
    assert r.exit_code == 0, r.output
    rows = [obj for _, obj in iter_jsonl(samples)]
    solutions = [s for s in rows if s["kind"] == "solution"]
    assert sorted((s["task_id"], s["index"]) for s in solutions) == [
        ("sqlfix/chinook/001", 0), ("sqlfix/chinook/001", 1), ("sqlfix/chinook/002", 0), ("sqlfix/chinook/002", 1)]
    for s in solutions:  # the SQL fix prompt (its prefilled fence), read as SQL
        assert s["raw"].startswith("```sql\n") and "def " not in s["text"]
        assert s["params"]["style"] == "chat"
    tests = [s for s in rows if s["kind"] == "test"]
    for t in tests:
        assert t["text"].endswith(";") and t["text"].split(None, 1)[0].upper() in ("SELECT", "WITH", "VALUES")
        if t["params"].get("source") != "solution":  # the model's own checks
            assert t["raw"].startswith("```sql\nSELECT ")
    for task_id in ("sqlfix/chinook/001", "sqlfix/chinook/002"):  # at most n_tests, indices 0..k-1
        idx = [t["index"] for t in tests if t["task_id"] == task_id]
        assert idx == list(range(len(idx))) and len(idx) <= 4

    # A gold fix, the issue SQL and a check from a model-style answer, beside the model's samples.
    raw = json.loads(sqlfix_path().read_text().splitlines()[0])
    task_id = raw["instance_id"]
    answer = "```sql\nSELECT COUNT(*) = 275 FROM result;\nSELECT COUNT(*) = 275 FROM result\n```\nEvery artist is kept."
    task = sqlfix.load(data_dir=shared_data).by_id()[task_id]
    checks, _ = generation_hooks(task.language).parse_tests(task, answer, set())
    assert checks == ["SELECT COUNT(*) = 275 FROM result;"]
    gold_same, issue_same = generation_hooks("sql").solution_tests(task, [raw["sol_sql"][0], raw["issue_sql"][0]])
    extra = [{"task_id": task_id, "kind": "solution", "index": 2, "text": raw["sol_sql"][0]},
             {"task_id": task_id, "kind": "solution", "index": 3, "text": raw["issue_sql"][0]},
             {"task_id": task_id, "kind": "test", "index": 100, "text": checks[0]},
             {"task_id": task_id, "kind": "test", "index": 101, "text": gold_same},
             {"task_id": task_id, "kind": "test", "index": 102, "text": issue_same}]
    with samples.open("a") as fh:
        fh.writelines(json.dumps(e) + "\n" for e in extra)

    matrices = tmp_path / "matrices.jsonl"
    r = CliRunner().invoke(main, ["execute", "--samples", str(samples), "--out", str(matrices), "--workers", "1"])
    assert r.exit_code == 0, r.output
    by_task = {m["task_id"]: m for _, m in iter_jsonl(matrices)}
    assert set(by_task) == {task_id, "sqlfix/chinook/002"}
    m = by_task[task_id]
    assert m["language"] == "sql" and m["solution_index"] == [0, 1, 2, 3]
    column = m["test_index"].index(100)
    assert m["outcomes"][2][column] == "passed"  # the gold fix keeps all 275 artists
    assert m["outcomes"][3][column] == "failed"  # the issue SQL's inner join drops 71
    # agreement checks: each fix passes "same rows as itself" and fails "same rows as the other"
    gold_col, issue_col = m["test_index"].index(101), m["test_index"].index(102)
    assert (m["outcomes"][2][gold_col], m["outcomes"][2][issue_col]) == ("passed", "failed")
    assert (m["outcomes"][3][gold_col], m["outcomes"][3][issue_col]) == ("failed", "passed")
    assert not any(o == "sandbox_error" for mat in by_task.values() for row in mat["outcomes"] for o in row)


def test_pipeline_evaluates_sqlfix(tmp_path, shared_data):
    from codepref.pipeline import Display, Run
    from codepref.runconfig import load_run_config

    config = load_run_config("sql", [f"run.data_dir={json.dumps(str(shared_data))}", "evaluate.limit=2",
                                     "evaluate.max_tokens=32", "generate.model=smollm2-135m-instruct",
                                     "generate.backend_options={parallel = 2, n_ctx = 8192}", "sandbox.workers=1"])
    assert config.evaluate.benchmarks == ["sqlfix"]
    run = Run(tmp_path / "run", config, Display(echo=lambda s: None, bars=False))
    try:
        evals = run.evaluate("before", adapter=None, upstream={})
    finally:
        run.close()
    s = evals["sqlfix"]
    assert s["tasks"] == 2 and s["tasks_in_benchmark"] == 66 and set(s["pass_at_k"]["sqlfix"]) == {"pass@1"}
    d = tmp_path / "run" / "eval" / "before"
    predictions = [obj for _, obj in iter_jsonl(d / "sqlfix.predictions.jsonl")]
    assert [p["instance_id"] for p in predictions] == ["sqlfix/chinook/001", "sqlfix/chinook/002"]
    assert len(list(iter_jsonl(d / "sqlfix.results.jsonl"))) == 2
    ledger = json.loads((tmp_path / "run" / "ledger.json").read_text())["stages"]
    assert ledger["eval.before.sqlfix"]["status"] == "complete"
