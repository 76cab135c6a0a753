"""Behaviour signatures (codepref.pairs.behaviour) and the pair options that use them
(``consensus = "behaviour"``, ``sure_rejected``). The harness runs here in a real Python
subprocess; the sandbox run is in tests/integration/test_execute_rank_docker.py."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from codepref.errors import ConfigError
from codepref.pairs.behaviour import MARK, behaviour_program, call_inputs, parse_signature
from codepref.pairs.build import PairOptions, cluster_size, task_picks
from codepref.pairs.data import TaskData
from codepref.records import Outcome, PassMatrix
from codepref.scoring import get_scorer

P, F = Outcome.PASSED, Outcome.FAILED


def run(code: str, seed: str = "0") -> str:
    """Run a program in a fresh interpreter (PYTHONHASHSEED fixed to ``seed``); its stdout."""
    env = dict(os.environ, PYTHONHASHSEED=seed)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env).stdout


def signature(solution: str, calls: list[str], seed: str = "0", timeout_s: float = 1.0) -> str | None:
    return parse_signature(run(behaviour_program(solution, calls, timeout_s), seed))


# ----------------------------------------------------------------------------- inputs


def test_call_inputs_takes_what_each_assert_checks():
    tests = ["assert f(1) == 2", "assert not f(2)", "assert f(1) == 3",  # f(1) again: once
             "assert math.isclose(g(1.0), 2.0, rel_tol=1e-3)", "assert len(f(3)) == 3",
             "assert x == 1",  # calls nothing
             "def broken(:",  # does not parse
             "assert abs(h(2) - 1) < 1e-6\nassert f(9) != 0", "print(f(4))"]
    assert call_inputs(tests) == ["f(1)", "f(2)", "g(1.0)", "len(f(3))", "abs(h(2) - 1)", "f(9)"]
    assert call_inputs(tests, limit=2) == ["f(1)", "f(2)"]
    assert call_inputs([]) == []


# ----------------------------------------------------------------------------- signatures

RIGHT = "def f(xs):\n    return sorted(set(xs))\n"
ALSO_RIGHT = "def f(xs):\n    out = []\n    for x in sorted(xs):\n        if x not in out:\n            out.append(x)\n    return out\n"
WRONG = "def f(xs):\n    return sorted(xs)\n"
CALLS = ["f([3, 1, 3])", "f([])", "f(None)"]


def test_same_behaviour_same_signature_other_behaviour_other():
    """Two different programs that return the same on every input (an exception's type
    included: ``f(None)`` raises TypeError in both) share a signature; one that keeps the
    duplicate differs."""
    a, b, c = (signature(s, CALLS) for s in (RIGHT, ALSO_RIGHT, WRONG))
    assert a is not None and a == b and a != c


def test_a_set_of_strings_has_one_signature_under_any_hash_seed():
    """Set iteration order depends on PYTHONHASHSEED; the harness sorts set elements."""
    sol = "def f(n):\n    return {str(i) * 3 for i in range(n)}\n"
    sigs = {signature(sol, ["f(12)"], seed=s) for s in ("1", "2", "3", "4")}
    assert len(sigs) == 1 and None not in sigs


def test_float_noise_below_12_digits_and_object_addresses_do_not_split():
    one = "class K:\n    pass\ndef f():\n    return (0.1 + 0.2, K)\n"
    two = "class K:\n    pass\ndef f():\n    return (0.3, K)\n"
    assert signature(one, ["f()"]) == signature(two, ["f()"])
    gen = "def f():\n    return (x for x in [1])\n"
    assert signature(gen, ["f()"], seed="1") == signature(gen, ["f()"], seed="2")


def test_a_call_that_hangs_times_out_and_the_rest_still_run():
    slow = "def f(x):\n    while x:\n        pass\n    return 0\n"
    out = run(behaviour_program(slow, ["f(1)", "f(0)"], timeout_s=0.5))
    line = [ln for ln in out.splitlines() if ln.startswith(MARK)]
    assert len(line) == 1 and len(eval(line[0][len(MARK):])) == 2
    assert signature(slow, ["f(1)", "f(0)"], timeout_s=0.5) != signature("def f(x):\n    return 0\n",
                                                                          ["f(1)", "f(0)"])


def test_parse_signature_without_a_line_is_none():
    assert parse_signature("") is None
    assert parse_signature("hello\n") is None
    assert parse_signature(MARK + "not json\n") is None
    assert parse_signature(MARK + '{"a": 1}\n') is None
    assert parse_signature("x\n" + MARK + '["a"]\n') == parse_signature(MARK + '["a"]\n')
    assert signature("import sys\nsys.exit(3)\n", CALLS) is None  # the solution exits at import


# ----------------------------------------------------------------------------- pair options

PROMPT = "def f(xs):\n"
#: columns: the prompt's stated example (column 0), then two model tests whose expected
#: values are wrong for the right answer.
TESTS = ["assert f([1, 1]) == [1]", "assert f([2, 1]) == [2, 1]", "assert f([3]) == []"]


def make_task(rows, behaviours, stated=(0,)) -> TaskData:
    sols = [PROMPT + f"    return {i}\n" for i in range(len(rows))]
    m = PassMatrix("T/1", [list(r) for r in rows], [[0.0] * len(r) for r in rows])
    return TaskData("T/1", PROMPT, "python", sols, list(TESTS), m, list(range(len(rows))), [0, 1, 2],
                    list(stated), behaviours=list(behaviours))


#: rows 0-2 behave alike ("a") with pass vectors that differ; row 3 ("b") passes the wrong
#: model tests; row 4 fails the stated example; row 5 has no signature.
ROWS = [[P, F, F], [P, F, F], [P, F, P], [P, P, P], [F, P, F], [P, F, F]]
BEH = ["a", "a", "a", "b", "c", None]


def test_behaviour_clusters_what_pass_vectors_split():
    t = make_task(ROWS, BEH)
    pool = list(range(6))
    assert [cluster_size(t, pool, r, "behaviour") for r in range(6)] == [3, 3, 3, 1, 1, 0]
    assert [cluster_size(t, pool, r) for r in range(6)] == [3, 3, 1, 1, 1, 3]  # pass vectors
    no_sigs = make_task(ROWS, [])
    assert cluster_size(no_sigs, pool, 0, "behaviour") == cluster_size(no_sigs, pool, 0) == 3


def test_min_cluster_counts_behaviour_when_asked():
    """PageRank prefers row 3 (it passes every test, the wrong ones included). Its behaviour
    is shared by no one: behaviour consensus >= 2 drops the pick and says why; pass-vector
    consensus counts row 3's cluster (1) the same way."""
    t, sc = make_task(ROWS, BEH), get_scorer("pagerank")
    picks, _ = task_picks(t, sc, PairOptions())
    assert picks[0].chosen == 3
    assert task_picks(t, sc, PairOptions(min_cluster=2, consensus="behaviour")) == (
        [], "no consensus: fewer than 2 candidates share the chosen solution's behaviour")
    rows = [[P, F, F]] * 3 + [[P, F, F], [F, P, F], [P, F, F]]  # now row 0 is chosen: cluster "a" of 3
    t2 = make_task(rows, BEH)
    (pick,), _ = task_picks(t2, sc, PairOptions(min_cluster=3, consensus="behaviour"))
    assert BEH[pick.chosen] == "a"


def test_sure_rejected_keeps_only_rejected_answers_that_fail_the_stated_tests():
    """Three pairs asked, two made; the rejected answers are taken lowest score first: row 4
    (fails the stated example, score 0), then row 0, which passes it and which sure_rejected
    drops."""
    t, sc = make_task(ROWS, BEH), get_scorer("pagerank")
    loose, _ = task_picks(t, sc, PairOptions(pairs_per_task=3))
    sure, _ = task_picks(t, sc, PairOptions(pairs_per_task=3, sure_rejected=True))
    assert [p.rejected for p in loose] == [4, 0] and [p.rejected for p in sure] == [4]
    passing = make_task([r for r in ROWS if r[0] == P], [b for b, r in zip(BEH, ROWS) if r[0] == P])
    assert task_picks(passing, sc, PairOptions(sure_rejected=True)) == (
        [], "no rejected answer fails a test the prompt states")
    no_gate, _ = task_picks(t, sc, PairOptions(pairs_per_task=3, sure_rejected=True, prompt_gate=False))
    assert no_gate and all(p.rejected == 4 for p in no_gate)  # the stated tests still judge the rejected
    unstated = make_task(ROWS, BEH, stated=())
    assert task_picks(unstated, sc, PairOptions(sure_rejected=True)) == (
        [], "the prompt states no test, so no rejected answer is surely wrong")


def test_bad_consensus():
    with pytest.raises(ConfigError, match="consensus must be one of pass, behaviour"):
        PairOptions(consensus="votes")
