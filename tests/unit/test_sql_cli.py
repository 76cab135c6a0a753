"""`codepref sql` error paths that need no sandbox: one clear line, the right exit code."""

import json

from click.testing import CliRunner

from codepref.cli import main


def test_missing_database_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("CODEPREF_DATA", raising=False)
    monkeypatch.setenv("CODEPREF_CACHE", str(tmp_path))  # no default data folder either
    result = CliRunner().invoke(main, ["sql", "verify"])
    assert result.exit_code == 2
    assert "error: invalid configuration: no database directory: pass --data DIR or set CODEPREF_DATA" in result.output
    assert "run: codepref data fetch chinook northwind" in result.output


def test_bad_predictions_are_named_by_line(tmp_path):
    data = tmp_path / "sql" / "chinook"
    data.mkdir(parents=True)
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"instance_id": "sqlfix/chinook/001", "sql": "SELECT 1"}) + "\n"
                     + json.dumps({"instance_id": "sqlfix/chinok/002", "sql": "SELECT 1"}) + "\n")
    result = CliRunner().invoke(main, ["sql", "evaluate", "--predictions", str(preds), "--data", str(tmp_path)])
    assert result.exit_code == 2
    assert f"{preds}:2: unknown task 'sqlfix/chinok/002'; did you mean 'sqlfix/chinook/002'" in result.output
    preds.write_bytes(b'{"instance_id": "sqlfix/chinook/001", "sql": "\xff"}\n')
    result = CliRunner().invoke(main, ["sql", "evaluate", "--predictions", str(preds), "--data", str(tmp_path)])
    assert result.exit_code == 2 and "not valid UTF-8" in result.output


def test_unknown_rewind_operator(tmp_path):
    (tmp_path / "sql").mkdir()
    result = CliRunner().invoke(main, ["sql", "rewind", "--out", str(tmp_path / "o.jsonl"), "--data", str(tmp_path),
                                       "--operators", "join_type,bogus"])
    assert result.exit_code == 2 and "unknown rewind operator(s) bogus" in result.output
