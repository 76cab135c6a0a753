"""SQL-Rewind end to end in the sandbox: kept mutants run and change the result."""

import json

import pytest
from click.testing import CliRunner

from codepref.cli import main
from codepref.config import SandboxConfig
from codepref.records import iter_jsonl
from codepref.sql import rewind_seeds_path
from codepref.sql.evaluate import verify_tasks
from codepref.sql.task import SqlTask, read_sql_tasks, sql_dir

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def rewound(shared_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rewind")
    seeds = tmp / "seeds.jsonl"
    lines = open(rewind_seeds_path(), encoding="utf-8").read().splitlines()
    seeds.write_text("\n".join(lines[:8] + lines[-8:]) + "\n")
    out, stats = tmp / "tasks.jsonl", tmp / "stats.json"
    result = CliRunner().invoke(main, ["sql", "rewind", "--seeds", str(seeds), "--out", str(out),
                                       "--data", str(shared_data), "--workers", "2", "--stats", str(stats)])
    assert result.exit_code == 0, result.output
    return seeds, out, json.loads(stats.read_text())


def test_kept_tasks_are_result_changing_mutants(shared_data, rewound):
    seeds, out, stats = rewound
    tasks = read_sql_tasks(out)
    assert len(tasks) == stats["kept"] > 0
    assert stats["seed_verified"] == stats["seeds"] == 16
    assert stats["survived"] + stats["unchanged"] + stats["run_failed"] == stats["executed"]
    for t in tasks:
        assert t.extra["source"] == "rewind" and t.issue_sql != t.sol_sql and t.query
    # judged again, independently: every gold passes and every mutant fails by its result, not by an error
    results = verify_tasks(tasks, sql_dir(shared_data), config=SandboxConfig(workers=2))
    assert all(r["gold_passes"] and r["issue_fails"] for r in results)
    assert not any(r["issue"]["execution_error"] or r["issue"]["timeout_error"] for r in results)


def test_rerun_resumes_without_duplicates(shared_data, rewound):
    seeds, out, stats = rewound
    before = [obj["instance_id"] for _, obj in iter_jsonl(out)]
    result = CliRunner().invoke(main, ["sql", "rewind", "--seeds", str(seeds), "--out", str(out),
                                       "--data", str(shared_data), "--workers", "1"])
    assert result.exit_code == 0, result.output
    after = [obj["instance_id"] for _, obj in iter_jsonl(out)]
    assert after == before
    assert all(SqlTask.from_dict(obj).extra["seed_id"] for _, obj in iter_jsonl(out))
