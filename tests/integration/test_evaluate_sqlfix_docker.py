"""``codepref evaluate --benchmark sqlfix``: gold fixes succeed, the issue SQL fails (real sandbox)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from codepref.cli import main
from codepref.records import iter_jsonl
from codepref.sql import sqlfix_path

pytestmark = pytest.mark.docker

FEW = ("sqlfix/chinook/001", "sqlfix/northwind/002", "sqlfix/chinook/032")  # two joins, one UPDATE/DELETE


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def raw_tasks():
    return [obj for _, obj in iter_jsonl(sqlfix_path())]


def evaluate(data, *args):
    return CliRunner().invoke(main, ["evaluate", "-b", "sqlfix", "--data", str(data), "--workers", "1", *args])


def test_gold_fixes_of_a_task_file_succeed_and_issue_sql_fails(tmp_path, shared_data, raw_tasks):
    few = write_jsonl(tmp_path / "few.jsonl", [t for t in raw_tasks if t["instance_id"] in FEW])
    gold = write_jsonl(tmp_path / "gold.jsonl", [{"instance_id": t["instance_id"], "pred_sqls": t["sol_sql"]}
                                                 for t in raw_tasks if t["instance_id"] in FEW])
    r = evaluate(shared_data, "--samples", str(gold), "--tasks-file", str(few))
    assert r.exit_code == 0, r.output
    assert "3 of 3 tasks, success rate 100.0%" in r.output
    assert any(line.split()[:4] == ["all", "3", "3", "100.0%"] for line in r.output.splitlines())
    results = [obj for _, obj in iter_jsonl(tmp_path / "gold.sqlfix.results.jsonl")]
    assert sorted(r["instance_id"] for r in results) == sorted(FEW) and all(r["passed"] for r in results)
    summary = json.loads((tmp_path / "gold.sqlfix.summary.json").read_text())
    assert summary["pass_at_k"] == {"few": {"pass@1": 1.0}} and summary["per_category"]["dml"]["success"] == 1

    issue = write_jsonl(tmp_path / "issue.jsonl", [{"instance_id": t["instance_id"], "sql": t["issue_sql"][0]}
                                                   for t in raw_tasks if t["instance_id"] in FEW])
    r = evaluate(shared_data, "--samples", str(issue), "--tasks-file", str(few))
    assert r.exit_code == 0, r.output
    assert "success rate 0.0%" in r.output
    assert not any(obj["passed"] for _, obj in iter_jsonl(tmp_path / "issue.sqlfix.results.jsonl"))


def test_gold_fixes_of_the_whole_set_succeed(tmp_path, shared_data, raw_tasks):
    gold = write_jsonl(tmp_path / "gold.jsonl", [{"instance_id": t["instance_id"], "pred_sqls": t["sol_sql"]}
                                                 for t in raw_tasks])
    out = tmp_path / "out" / "gold.results.jsonl"
    out.parent.mkdir()
    r = evaluate(shared_data, "--samples", str(gold), "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "66 of 66 tasks, success rate 100.0%" in r.output
    summary = json.loads((tmp_path / "out" / "gold.summary.json").read_text())
    assert summary["benchmark"] == "sqlfix" and summary["success"] == 66 and len(summary["per_category"]) == 11
    assert summary["pass_at_k"] == {"sqlfix": {"pass@1": 1.0}}


def test_audit_judges_sql_candidates_with_the_gold_rows_check(shared_data, raw_tasks):
    """The pair audit's hidden verdict for SQL tasks: the task's gold-rows check, run with
    the databases mounted (sandbox_for); the gold fix is correct, the issue SQL is not."""
    from codepref.config import SandboxConfig
    from codepref.execution import SandboxPool
    from codepref.languages import sandbox_for
    from codepref.evaluation.audit import hidden_verdicts
    from codepref.tasks import sqlfix

    tasks = {t.id: t for t in sqlfix.load(data_dir=shared_data).tasks if t.id in FEW[:2]}
    raw = {r["instance_id"]: r for r in raw_tasks}
    wanted = {tid: [raw[tid]["sol_sql"][0], raw[tid]["issue_sql"][0]] for tid in tasks}
    with SandboxPool(sandbox_for(SandboxConfig(workers=1), ["sql"], str(shared_data))) as pool:
        verdicts = hidden_verdicts(wanted, tasks, pool)
    assert {k: v for k, v in verdicts.items()} == {
        (tid, prog): prog == raw[tid]["sol_sql"][0] for tid, progs in wanted.items() for prog in progs}
