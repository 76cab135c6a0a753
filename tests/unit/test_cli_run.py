"""``codepref run`` / ``quickstart`` / ``report`` through click's CliRunner, user state in a temp dir.

These paths stop before any model or sandbox starts (config errors, --dry-run, a report of a
run directory written by hand); the whole pipeline is in tests/integration/test_pipeline.py.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from codepref.cli import main
from codepref.runconfig import config_hash, load_run_config


@pytest.fixture(autouse=True)
def user_state(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CODEPREF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def invoke(*args):
    return CliRunner().invoke(main, list(args))


def test_commands_are_registered_with_help():
    r = invoke("--help")
    assert r.exit_code == 0
    for name in ("run", "quickstart", "report", "compare"):
        assert name in r.output
    r = invoke("run", "--help")
    assert r.exit_code == 0 and "--set" in r.output and "--run-dir" in r.output and "quickstart" in r.output


def test_dry_run_prints_the_resolved_quickstart_config(tmp_path):
    r = invoke("run", "--dry-run", "--set", "generate.n_solutions=6")
    assert r.exit_code == 0, r.output
    resolved = json.loads(r.stdout)
    assert resolved["generate"]["n_solutions"] == 6 and resolved["run"]["tasks"] == "quickstart"
    assert config_hash(resolved) == config_hash(load_run_config(None, ["generate.n_solutions=6"]).to_dict())
    assert not (tmp_path / "runs").exists()


def test_dry_run_of_a_file_and_of_a_shipped_name(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text('[run]\nname = "mine"\nrounds = 2\n')
    r = invoke("run", str(f), "--dry-run")
    assert r.exit_code == 0 and json.loads(r.stdout)["run"]["rounds"] == 2
    r = invoke("run", "paper-scale", "--dry-run")
    assert r.exit_code == 0 and json.loads(r.stdout)["generate"]["backend"] == "vllm"


def test_config_errors_are_listed_at_once_with_exit_code_2(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text('[genrate]\nx = 1\n[train]\nbeta = -1.0\n[rank]\nscorer = "nope"\n')
    r = invoke("run", str(f))
    assert r.exit_code == 2
    assert "unknown section [genrate] (did you mean [generate]?)" in r.output
    assert "[train] beta" in r.output and "scorer 'nope'" in r.output
    assert not (tmp_path / "runs").exists()
    r = invoke("quickstart", "--set", "evaluate.limit=-1")
    assert r.exit_code == 2 and "limit must be >= 0" in r.output
    r = invoke("run", str(tmp_path / "missing.toml"))
    assert r.exit_code == 2 and "not found" in r.output


def test_report_of_a_hand_written_run_dir(tmp_path):
    pytest.importorskip("matplotlib")
    run = tmp_path / "run"
    (run / "eval" / "before").mkdir(parents=True)
    (run / "eval" / "round1").mkdir(parents=True)
    (run / "round1" / "adapter").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(load_run_config(None).to_dict()))
    for name, value in (("before", 0.4), ("round1", 0.5)):
        (run / "eval" / name / "humaneval.summary.json").write_text(json.dumps(
            {"benchmark": "humaneval", "pass_at_k": {"humaneval": {"pass@1": value}}}))
    header = {"_header": {"kind": "x", "settings_hash": "0"}}
    rows = [{"task_id": "t/1", "solution_index": [0, 1], "test_index": [0, 1],
             "outcomes": [["passed", "failed"], ["error", "timeout"]], "durations": [[0.1, 0.1], [0.1, 0.1]]}]
    (run / "round1" / "matrices.jsonl").write_text("\n".join(json.dumps(x) for x in [header, *rows]) + "\n")
    steps = [{"step": i, "loss": 0.69 - 0.1 * i, "rewards/margins": 0.05 * i} for i in (1, 2)]
    (run / "round1" / "adapter" / "metrics.jsonl").write_text("\n".join(json.dumps(x) for x in [header, *steps]) + "\n")
    r = invoke("report", str(run))
    assert r.exit_code == 0, r.output
    md = (run / "report.md").read_text()
    assert "pass@k before and after" in md and "| humaneval | pass@1 | 0.400 | 0.500 |" in md
    assert "last loss 0.490" in md
    for png in ("passk.png", "matrices.png", "training.png"):
        assert (run / "figures" / png).read_bytes()[:4] == b"\x89PNG"
    assert "<table>" in (run / "report.html").read_text()


def test_report_refuses_a_folder_that_is_not_a_run(tmp_path):
    r = invoke("report", str(tmp_path))
    assert r.exit_code == 2 and "not a run directory" in r.output
