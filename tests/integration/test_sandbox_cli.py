"""`codepref sandbox exec|matrix` end to end: output format, resume, bad input."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from codepref.cli import main
from codepref.records import iter_jsonl

pytestmark = pytest.mark.docker


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_exec_writes_results_and_resumes(tmp_path):
    src, out = tmp_path / "programs.jsonl", tmp_path / "results.jsonl"
    rows = [{"id": f"p{i}", "language": "python", "code": f"print({i})"} for i in range(6)]
    rows.append({"id": "fail", "language": "python", "code": "assert False"})
    rows.append({"id": "slow", "language": "python", "code": "while True: pass", "timeout_s": 1})
    rows.append({"id": "in", "language": "python", "code": "print(input()[::-1])", "stdin": "abc\n"})
    _write(src, rows[:4])
    runner = CliRunner()
    r = runner.invoke(main, ["sandbox", "exec", "--in", str(src), "--out", str(out), "--workers", "2"])
    assert r.exit_code == 0, r.output
    first = out.read_text().splitlines()
    # More input arrives: a rerun runs only the new programs and keeps the old lines as they were.
    _write(src, rows)
    r = runner.invoke(main, ["sandbox", "exec", "--in", str(src), "--out", str(out), "--workers", "2"])
    assert r.exit_code == 0, r.output
    assert "ran 5" in r.output
    lines = out.read_text().splitlines()
    assert lines[: len(first)] == first
    results = {o["id"]: o for _, o in iter_jsonl(out)}
    assert set(results) == {row["id"] for row in rows}
    assert set(results["p0"]) == {"id", "outcome", "exit_code", "duration_s", "stdout", "stderr"}
    assert results["p3"]["stdout"] == "3\n" and results["p3"]["outcome"] == "passed"
    assert results["fail"]["outcome"] == "failed" and results["fail"]["exit_code"] == 1
    assert results["slow"]["outcome"] == "timeout"
    assert results["in"]["stdout"] == "cba\n"
    r = runner.invoke(main, ["sandbox", "exec", "--in", str(src), "--out", str(out)])
    assert "nothing to run" in r.output


def test_exec_bad_line_is_one_clear_error_and_loses_nothing(tmp_path):
    src, out = tmp_path / "programs.jsonl", tmp_path / "results.jsonl"
    _write(src, [{"id": "a", "language": "python", "code": "print(1)"}])
    runner = CliRunner()
    assert runner.invoke(main, ["sandbox", "exec", "--in", str(src), "--out", str(out)]).exit_code == 0
    before = out.read_bytes()
    with open(src, "a") as fh:
        fh.write('{"id": "b", "language": "python", "code": "print(2)"\n')
    r = runner.invoke(main, ["sandbox", "exec", "--in", str(src), "--out", str(out)])
    assert r.exit_code == 2
    assert r.output.strip().splitlines()[-1].startswith(f"error: {src}:2: malformed JSON")
    assert out.read_bytes() == before


def test_matrix_cli(tmp_path):
    src, out = tmp_path / "jobs.jsonl", tmp_path / "matrices.jsonl"
    _write(src, [
        {"task_id": "inc", "language": "python", "solutions": ["def f(x):\n    return x + 1", "def f(x):\n    return x"],
         "tests": ["assert f(1) == 2", "assert f(0) == 0", "f('a') + 1"]},
        {"task_id": "setup", "language": "python", "setup": "import math", "solutions": ["r = math.sqrt(4)"],
         "tests": ["assert r == 2"], "timeout_s": 2},
    ])
    r = CliRunner().invoke(main, ["sandbox", "matrix", "--in", str(src), "--out", str(out)])
    assert r.exit_code == 0, r.output
    got = {o["task_id"]: o for _, o in iter_jsonl(out)}
    assert got["inc"]["outcomes"] == [["passed", "failed", "error"], ["failed", "passed", "error"]]
    assert got["setup"]["outcomes"] == [["passed"]]
    assert len(got["inc"]["durations"]) == 2 and len(got["inc"]["durations"][0]) == 3
