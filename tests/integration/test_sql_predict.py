"""`codepref sql predict` with a real (tiny) packaged model through llama.cpp, then evaluate."""

import json

import pytest
from click.testing import CliRunner

from codepref.cli import main
from codepref.records import iter_jsonl

pytestmark = [pytest.mark.slow, pytest.mark.docker]


def test_predict_then_evaluate_with_a_tiny_model(shared_data, tmp_path):
    pytest.importorskip("llama_cpp")
    preds = tmp_path / "preds.jsonl"
    args = ["sql", "predict", "--out", str(preds), "--data", str(shared_data), "--model", "smollm2-135m-instruct",
            "--limit", "2", "--max-tokens", "48", "-o", "parallel=2", "-o", "n_ctx=8192"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    rows = [obj for _, obj in iter_jsonl(preds)]
    assert [r["instance_id"] for r in rows] == ["sqlfix/chinook/001", "sqlfix/chinook/002"]
    for r in rows:
        assert r["completion"].startswith("```sql\n") and isinstance(r["pred_sqls"], list)
        assert r["generator"].startswith("llamacpp:") and r["params"]["temperature"] == 0.0
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and "0 new predictions" in again.output
    # the predictions file is what `codepref sql evaluate` reads (a tiny model may well fail)
    tasks = tmp_path / "two.jsonl"
    from codepref.sql import sqlfix_path

    tasks.write_text("".join(open(sqlfix_path(), encoding="utf-8").readlines()[:2]))
    result = CliRunner().invoke(main, ["sql", "evaluate", "--predictions", str(preds), "--tasks", str(tasks),
                                       "--data", str(shared_data), "--workers", "1"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "preds.results.summary.json").read_text())
    assert summary["n"] == 2 and summary["missing"] == 0
