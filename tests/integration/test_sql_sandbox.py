"""SQL tasks judged in the real Docker sandbox: the sqlfix set, hostile SQL, the `sql` language."""

import json
import time

import pytest
from click.testing import CliRunner

from codepref.cli import main
from codepref.config import SandboxConfig
from codepref.execution import SandboxPool
from codepref.records import MatrixJob, Outcome, Program
from codepref.sql import sqlfix_path
from codepref.sql.evaluate import evaluate_sql, verify_tasks
from codepref.sql.runner import SqlJob, run_sql_jobs, sql_sandbox_config
from codepref.sql.task import SqlTask, read_sql_tasks, sql_dir
from codepref.tasks import sqlfix

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def directory(shared_data):
    return sql_dir(shared_data)


@pytest.fixture(scope="module")
def pool(directory):
    with SandboxPool(sql_sandbox_config(SandboxConfig(workers=2), directory)) as p:
        yield p


@pytest.fixture(scope="module")
def tasks():
    return read_sql_tasks(sqlfix_path())


def test_every_gold_passes_and_every_issue_fails(directory, pool, tasks):
    results = verify_tasks(tasks, directory, pool=pool)
    assert [r["instance_id"] for r in results if not r["gold_passes"]] == []
    assert [r["instance_id"] for r in results if not r["issue_fails"]] == []


def test_pipeline_checks_agree_with_the_evaluator_on_gold_and_issue(shared_data, pool, tasks):
    """The SQL checks in Task.tests (run by the `sql` language) pass the gold and fail the issue SQL."""
    by_id = {t.instance_id: t for t in tasks}
    jobs = []
    for task in sqlfix.load(data_dir=shared_data):
        if task.tests:
            raw = by_id[task.id]
            jobs.append(MatrixJob(task.id, "sql", [raw.sol_sql[0], raw.issue_sql[0]], task.tests, task.setup))
    assert len(jobs) >= 50
    for m in pool.run_matrices(jobs):
        assert m.outcomes[0] == [Outcome.PASSED], m.task_id
        assert m.outcomes[1] == [Outcome.FAILED], m.task_id


def _task(issue="SELECT GenreId FROM Genre WHERE GenreId < 5", sol="SELECT GenreId FROM Genre"):
    return SqlTask(instance_id="h", db_id="chinook", query="", issue_sql=[issue], sol_sql=[sol])


@pytest.mark.parametrize("sql, flags", [
    ("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r", ["timeout_error"]),
    ("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT x FROM r", ["execution_error"]),
    ("SELECT count(*) FROM Track a, Track b, Track c", ["timeout_error"]),
    # sorting a 12M-row cross join: out of heap or out of time, whichever comes first
    ("SELECT a.Name, b.Name FROM Track a, Track b ORDER BY random()", ["execution_error", "timeout_error"]),
    ("ATTACH DATABASE '/data/sql/northwind/northwind.sqlite' AS nw; SELECT * FROM nw.Orders", ["execution_error"]),
    ("ATTACH DATABASE 'x.db' AS x; CREATE TABLE x.t(a)", ["execution_error"]),
])
def test_hostile_predictions_end_within_their_limits(directory, pool, sql, flags):
    t0 = time.monotonic()
    [(_, verdict)] = list(run_sql_jobs([SqlJob("h", _task(), [sql])], directory, pool=pool, query_timeout_s=2.0))
    assert verdict["status"] == "failed" and any(verdict[f] for f in flags), verdict
    assert time.monotonic() - t0 < 20
    # the same pool still judges a normal prediction correctly afterwards
    [(_, ok)] = list(run_sql_jobs([SqlJob("ok", _task(), None)], directory, pool=pool))
    assert ok["status"] == "success"


def test_sql_language_runs_plain_scripts(pool):
    from codepref.sql.script import db_directive

    head = db_directive("chinook/Chinook_Sqlite.sqlite") + "\n"
    res = pool.run([Program("count", "sql", head + "SELECT COUNT(*) FROM Genre;"),
                    Program("attach", "sql", head + "ATTACH '/data/sql/northwind/northwind.sqlite' AS n;"),
                    Program("shell", "sql", ".shell id"),
                    Program("error", "sql", "SELECT * FROM nowhere;")])
    assert res[0].outcome is Outcome.PASSED and res[0].stdout.strip() == "25"
    assert all(r.outcome is Outcome.FAILED for r in res[1:])
    assert "safe mode" in res[1].stderr and "safe mode" in res[2].stderr


def test_evaluate_reports_overall_and_per_category(directory, pool, tasks, tmp_path):
    picked = tasks[:12]
    preds = {}
    for k, t in enumerate(picked):
        preds[t.instance_id] = t.sol_sql if k % 2 == 0 else t.issue_sql
    preds.pop(picked[-1].instance_id)
    summary, records = evaluate_sql(picked, preds, directory, out_path=tmp_path / "r.jsonl", pool=pool,
                                    benchmark="sqlfix")
    passed = {r["instance_id"] for r in records if r["passed"]}
    assert passed == {t.instance_id for k, t in enumerate(picked[:-1]) if k % 2 == 0}
    assert summary["success"] == len(passed) and summary["missing"] == 1 and summary["n"] == len(picked)
    assert sum(c["n"] for c in summary["per_category"].values()) == len(picked)
    assert sum(c["success"] for c in summary["per_category"].values()) == len(passed)
    # a rerun resumes from the complete file without running anything again
    again, _ = evaluate_sql(picked, preds, directory, out_path=tmp_path / "r.jsonl", pool=pool, benchmark="sqlfix")
    assert again == summary


def test_cli_evaluate_with_raw_completions(shared_data, tasks, tmp_path):
    t = tasks[0]
    preds = tmp_path / "p.jsonl"
    fixed = "\n".join(t.sol_sql)
    lines = [{"instance_id": t.instance_id, "completion": f"The join drops rows.\n```sql\n{fixed}\n```\nDone."}]
    preds.write_text("".join(json.dumps(x) + "\n" for x in lines))
    tasks_file = tmp_path / "one.jsonl"
    tasks_file.write_text(json.dumps(t.to_dict()) + "\n")
    result = CliRunner().invoke(main, ["sql", "evaluate", "--predictions", str(preds), "--tasks", str(tasks_file),
                                       "--data", str(shared_data), "--workers", "1"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "p.results.summary.json").read_text())
    assert summary["success"] == 1 and summary["n"] == 1 and summary["benchmark"] == "one"
    assert summary["per_category"][t.category]["success_rate"] == 1.0
