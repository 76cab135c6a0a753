"""``codepref rank`` / ``audit`` / ``execute`` through click's CliRunner (no Docker needed here)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from codepref.cli import main
from codepref.records import PassMatrix, iter_jsonl, make_header, read_header

PROMPT = "def add(a, b):\n"
SOLS = [PROMPT + "    return a + b\n", PROMPT + "    return a + b\n", PROMPT + "    return a - b\n",
        PROMPT + "    return a * b\n"]
TESTS = ["assert add(1, 2) == 3", "assert add(2, 2) == 4", "assert add(0, 0) == 0"]
#: rows: +, + (duplicate), -, * -- the worked example of tests/unit/test_pairs.py
ROWS = [["passed"] * 3, ["passed"] * 3, ["failed", "failed", "passed"], ["failed", "passed", "passed"]]


def write_jsonl(path, header_kind, lines):
    with open(path, "w") as fh:
        fh.write(json.dumps({"_header": make_header(header_kind, {})}) + "\n")
        for obj in lines:
            fh.write(json.dumps(obj) + "\n")


def sample_lines(tid, prompt=None):
    out = [{"task_id": tid, "kind": "solution", "index": i, "text": s} for i, s in enumerate(SOLS)]
    out += [{"task_id": tid, "kind": "test", "index": j, "text": t} for j, t in enumerate(TESTS)]
    return [o | {"prompt": prompt} for o in out] if prompt is not None else out


def matrix(tid, rows=ROWS):
    return PassMatrix.from_dict({"task_id": tid, "outcomes": rows, "durations": [[0.0] * 3] * len(rows)}).to_dict()


@pytest.fixture
def files(tmp_path):
    """Samples of the worked example (task T/0) with prompts, its matrix, and an all-pass
    task T/1 (same texts, every cell passed)."""
    write_jsonl(tmp_path / "s.jsonl", "samples", sample_lines("T/0", PROMPT) + sample_lines("T/1", PROMPT))
    write_jsonl(tmp_path / "m.jsonl", "pass_matrices", [matrix("T/0"), matrix("T/1", [["passed"] * 3] * 4)])
    return tmp_path


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_rank_writes_trl_columns_and_a_header(files):
    r = run("rank", "--samples", str(files / "s.jsonl"), "--matrices", str(files / "m.jsonl"),
            "--scorer", "codet", "--out", str(files / "p.jsonl"))
    assert r.exit_code == 0, r.output
    assert "codet: 1 records from 1/2 tasks (no pair: all pass 1)" in r.output
    recs = [o for _, o in iter_jsonl(files / "p.jsonl")]
    assert len(recs) == 1 and {"prompt", "chosen", "rejected"} <= set(recs[0])
    header = read_header(files / "p.jsonl")
    assert header["tasks_total"] == 2 and header["settings"]["scorer"] == "codet"
    # a rerun with the same settings changes nothing; other settings are refused
    again = run("rank", "--samples", str(files / "s.jsonl"), "--matrices", str(files / "m.jsonl"),
                "--scorer", "codet", "--out", str(files / "p.jsonl"))
    assert again.exit_code == 0 and [o for _, o in iter_jsonl(files / "p.jsonl")] == recs
    other = run("rank", "--samples", str(files / "s.jsonl"), "--matrices", str(files / "m.jsonl"),
                "--scorer", "minimax", "--out", str(files / "p.jsonl"))
    assert other.exit_code == 2 and "written with other settings" in other.output


def test_rank_kto_concat_and_scorer_options(files):
    r = run("rank", "--samples", str(files / "s.jsonl"), "--matrices", str(files / "m.jsonl"), "--format", "kto",
            "--concat-tests", "-o", "damping=0.5", "-o", "iterations=3", "--out", str(files / "k.jsonl"))
    assert r.exit_code == 0, r.output
    recs = [o for _, o in iter_jsonl(files / "k.jsonl")]
    assert [x["label"] for x in recs] == [True, False]
    assert recs[0]["completion"].endswith("assert add(1, 2) == 3\n") and recs[0]["scorer"] == "pagerank"
    assert read_header(files / "k.jsonl")["settings"]["scorer_options"] == {"damping": 0.5, "iterations": 3}


@pytest.mark.parametrize("args, message", [
    (["--scorer", "oracle"], "for audits only; pass --allow-ground-truth"),
    (["--scorer", "pagernk"], "unknown scorer 'pagernk'; did you mean 'pagerank'"),
    (["-o", "damping=2"], "pagerank damping must be in (0, 1]"),
    (["-o", "bogus=1"], "unexpected keyword argument 'bogus'"),
    (["--format", "kto", "--efficiency"], "efficiency pairs are DPO pairs"),
    (["--min-margin", "3"], "min_margin must be in [0, 1]"),
])
def test_rank_errors_are_one_line(files, args, message):
    r = run("rank", "--samples", str(files / "s.jsonl"), "--matrices", str(files / "m.jsonl"),
            "--out", str(files / "p.jsonl"), *args)
    assert r.exit_code == 2
    assert message in r.output and "Traceback" not in r.output
    assert not (files / "p.jsonl").exists()


def test_rank_prompts_from_a_task_file(tmp_path):
    """Samples without prompts: --tasks FILE gives them."""
    write_jsonl(tmp_path / "s.jsonl", "samples", sample_lines("T/0"))
    write_jsonl(tmp_path / "m.jsonl", "pass_matrices", [matrix("T/0")])
    (tmp_path / "tasks.jsonl").write_text(json.dumps({"task_id": "T/0", "prompt": PROMPT, "entry_point": "add"}) + "\n")
    base = ["rank", "--samples", str(tmp_path / "s.jsonl"), "--matrices", str(tmp_path / "m.jsonl")]
    r = run(*base, "--out", str(tmp_path / "p.jsonl"))
    assert r.exit_code == 2 and "no prompt for task 'T/0'" in r.output
    r = run(*base, "--tasks", str(tmp_path / "tasks.jsonl"), "--out", str(tmp_path / "p.jsonl"))
    assert r.exit_code == 0, r.output
    (rec,) = [o for _, o in iter_jsonl(tmp_path / "p.jsonl")]
    assert rec["prompt"] == PROMPT and rec["chosen"] == "    return a + b\n"


def test_rank_bad_matrix_line_names_file_and_line(files):
    (files / "bad.jsonl").write_text('{"task_id": "T/0"}\nnot json\n')
    r = run("rank", "--samples", str(files / "s.jsonl"), "--matrices", str(files / "bad.jsonl"),
            "--out", str(files / "p.jsonl"))
    assert r.exit_code == 2 and "bad.jsonl:1: not a pass matrix line" in r.output


def test_audit_needs_pairs_or_samples_and_matrices(files):
    r = run("audit", "--benchmark", "x")
    assert r.exit_code == 2 and "give either --pairs FILE" in r.output
    r = run("audit", "--benchmark", "x", "--samples", str(files / "s.jsonl"))
    assert r.exit_code == 2 and "--samples and --matrices go together" in r.output


def test_help_texts_explain_the_commands():
    for cmd, words in (("rank", "--concat-tests"), ("audit", "pair precision"), ("execute", "--cell-timeout")):
        r = run(cmd, "--help")
        assert r.exit_code == 0 and words in r.output
