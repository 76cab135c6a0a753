"""``codepref evaluate`` input errors (all raised before any sandbox starts) and --help."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from codepref.cli import main


def run(*args):
    return CliRunner().invoke(main, ["evaluate", *args])


def test_help_lists_formats_and_command_is_registered():
    r = CliRunner().invoke(main, ["--help"])
    assert "evaluate" in r.output
    r = run("--help")
    assert r.exit_code == 0 and '"completion"' in r.output and "--k" in r.output


def test_bad_inputs_are_one_line_errors(tmp_path):
    samples = tmp_path / "s.jsonl"
    samples.write_text(json.dumps({"task_id": "HumanEval/999", "completion": "    return 1\n"}) + "\n")
    r = run("-b", "humaneval++", "--samples", str(samples))
    assert r.exit_code == 2 and "did you mean 'humaneval+'" in r.output
    r = run("-b", "humaneval", "--samples", str(samples))
    assert r.exit_code == 2 and "unknown task_id 'HumanEval/999'" in r.output and ":1:" in r.output
    r = run("-b", "humaneval", "--samples", str(samples), "--k", "0")
    assert r.exit_code == 2 and "--k" in r.output
    r = run("-b", "jsonl", "--samples", str(samples))
    assert r.exit_code == 2 and "--tasks-file" in r.output
    samples.write_text("")
    r = run("-b", "humaneval", "--samples", str(samples))
    assert r.exit_code == 2 and "no samples" in r.output
    r = run("-b", "mbpp+", "--samples", str(samples), "--data", str(tmp_path))
    assert r.exit_code == 2 and "MbppPlus.jsonl.gz" in r.output
    r = run("-b", "humaneval", "--samples", str(tmp_path / "missing.jsonl"))
    assert r.exit_code == 2 and "not found" in r.output


def test_importing_the_command_stays_light():
    code = ("import sys, codepref.cli.evaluate, codepref.evaluation, codepref.tasks; "
            "print(sorted(m for m in ('torch', 'numpy', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_sqlfix_errors_are_one_line(tmp_path, shared_data):
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"instance_id": "sqlfix/chinok/001", "sql": "SELECT 1"}) + "\n")
    r = run("-b", "sqlfix", "--samples", str(preds), "--data", str(shared_data))
    assert r.exit_code == 2
    assert r.output == (f"error: {preds}:1: unknown task 'sqlfix/chinok/001'; "
                        "did you mean 'sqlfix/chinook/001' or 'sqlfix/chinook/031'?\n")
    r = run("-b", "sqlfix", "--model", "smollm2-135m-instruct", "--n", "4", "--data", str(shared_data))
    assert r.exit_code == 2 and "sqlfix scores one prediction per task; got --n 4" in r.output
    r = CliRunner(env={"CODEPREF_DATA": "", "CODEPREF_CACHE": str(tmp_path)}).invoke(
        main, ["evaluate", "-b", "sqlfix", "--samples", str(preds)])
    assert r.exit_code == 2 and "no database directory" in r.output
    assert "sqlfix" in run("--help").output


def test_every_benchmark_has_a_registered_judge():
    import pytest

    from codepref.errors import UnknownNameError
    from codepref.evaluation.benchmarks import TESTS, get_benchmark
    from codepref.sql.benchmark import SQLFIX_JUDGE

    sqlfix = get_benchmark("sqlfix")
    assert sqlfix is SQLFIX_JUDGE and sqlfix.samples_per_task == 1 and sqlfix.test_timeout_s == 5.0
    assert sqlfix.samples_path(Path("m.sqlfix.results.jsonl")) == Path("m.sqlfix.predictions.jsonl")
    plus = get_benchmark("mbpp+")
    assert plus is TESTS and plus.samples_per_task is None and plus.sandbox_memory_mb == 4096
    assert plus.samples_path(Path("m.mbppplus.results.jsonl")) == Path("m.mbppplus.samples.jsonl")
    assert get_benchmark("jsonl").needs_tasks_file and get_benchmark("quickstart") is TESTS
    with pytest.raises(UnknownNameError, match="did you mean 'sqlfix'"):
        get_benchmark("sqlfx")


def test_data_folder_flag_is_data_everywhere():
    for command in (["evaluate"], ["sql", "evaluate"], ["sql", "predict"], ["sql", "tasks"]):
        out = CliRunner().invoke(main, [*command, "--help"]).output
        assert "--data DIR" in out and "--data-dir" not in out and "CODEPREF_DATA" in out, command
