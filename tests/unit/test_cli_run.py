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
    r = invoke("run", "learn", "--dry-run")
    assert r.exit_code == 0, r.output
    learn = json.loads(r.stdout)
    assert learn["run"]["tasks"] == "mbpp-train" and learn["evaluate"]["benchmarks"] == ["humaneval+", "mbpp+"]
    assert learn["generate"]["protocol"] == learn["evaluate"]["protocol"] == "qwen-coder"
    assert learn["evaluate"]["temperature"] == 0.0 and learn["evaluate"]["limit"] == 0


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


def _results(path, passed: dict[str, bool]) -> None:
    """A results file of ``codepref evaluate`` reduced to what a comparison reads."""
    header = {"_header": {"kind": "eval_results", "settings_hash": "0", "protocol": "qwen-coder",
                          "settings": {"benchmark": path.name.split(".")[0]}}}
    rows = [{"task_id": t, "n": 1, "correct": int(ok), "excluded": 0} for t, ok in passed.items()]
    path.write_text("\n".join(json.dumps(x) for x in [header, *rows]) + "\n")


def test_report_compares_before_and_after_task_by_task(tmp_path):
    """Every round's before/after table (per benchmark and pooled) and flip strips, from the
    results files; the pipeline writes the same numbers into summary.json."""
    pytest.importorskip("matplotlib")
    from codepref.pipeline import Display, Run
    from codepref.report import comparison_summary, read_comparisons

    run = tmp_path / "run"
    (run / "config.json").parent.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(load_run_config(None).to_dict()))
    he = [f"HumanEval/{i}" for i in range(10)]
    mb = [f"Mbpp/{i}" for i in range(2, 12)]
    before = {"humaneval+": {t: i < 4 for i, t in enumerate(he)}, "mbpp+": {t: i < 5 for i, t in enumerate(mb)}}
    # round1: HumanEval/4-7 fail->pass, HumanEval/0 pass->fail; Mbpp/7 fail->pass
    after = {"humaneval+": {t: 1 <= i < 8 for i, t in enumerate(he)}, "mbpp+": {t: i < 6 for i, t in enumerate(mb)}}
    for name, evals in (("before", before), ("round1", after), ("round2", before)):
        (run / "eval" / name).mkdir(parents=True)
        for bench, passed in evals.items():
            _results(run / "eval" / name / f"{bench}.results.jsonl", passed)
            (run / "eval" / name / f"{bench}.summary.json").write_text(json.dumps(
                {"benchmark": bench, "pass_at_k": {bench: {"pass@1": sum(passed.values()) / len(passed)}}}))

    comparisons, problems = read_comparisons(run)
    assert problems == [] and list(comparisons) == ["round1", "round2"]
    numbers = comparison_summary(comparisons["round1"][0])
    assert numbers["humaneval+"]["before"] == 0.4 and numbers["humaneval+"]["after"] == 0.7
    assert numbers["humaneval+"]["won"] == 4 and numbers["humaneval+"]["lost"] == 1
    assert numbers["humaneval+"]["mcnemar_p"] == pytest.approx(0.375)  # 2 * (1 + 5) / 2^5
    assert numbers["pooled"]["tasks"] == 20 and numbers["pooled"]["delta"] == pytest.approx(0.2)
    assert numbers["pooled"]["ci_low"] <= 0.2 <= numbers["pooled"]["ci_high"]
    assert comparison_summary(comparisons["round2"][0])["mbpp+"]["delta"] == 0.0

    r = invoke("report", str(run))
    assert r.exit_code == 0, r.output
    md = (run / "report.md").read_text()
    assert "## Before versus round1" in md and "## Before versus round2" in md
    assert "| humaneval+ | 10 | 0.400 | 0.700 | +0.300 |" in md
    assert "| pooled | 20 | 0.450 | 0.650 | +0.200 |" in md
    assert "humaneval+ pass->fail: HumanEval/0" in md and "mbpp+ fail->pass: Mbpp/7" in md
    assert "![Before versus round1](figures/flips_round1.png)" in md
    for png in ("flips_round1.png", "flips_round2.png"):
        assert (run / "figures" / png).read_bytes()[:4] == b"\x89PNG"

    r = Run(run, load_run_config(None), Display(echo=lambda s: None))
    try:
        assert r.comparisons()["round1"] == numbers
    finally:
        r.close()


def test_report_refuses_a_folder_that_is_not_a_run(tmp_path):
    r = invoke("report", str(tmp_path))
    assert r.exit_code == 2 and "not a run directory" in r.output
