"""Scorers on hand-built matrices: every expected score and pick is worked out by hand.

Matrices are written as rows of 0/1 (solution i x test j, 1 = passed); ``P``/``F``/``S``
build :class:`PassMatrix` rows with passed / failed / sandbox_error cells.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from codepref.errors import ConfigError, InputError, UnknownNameError
from codepref.records import Outcome, PassMatrix
from codepref.scoring import SCORERS, get_scorer
from codepref.scoring.base import Scorer, as_arrays, clean, dstc_tests, normalise

P, F, S = Outcome.PASSED, Outcome.FAILED, Outcome.SANDBOX_ERROR
SELF_TEST_SCORERS = ["codet", "pagerank", "minimax"]


def pm(rows: list[list[Outcome]]) -> PassMatrix:
    return PassMatrix("t", rows, [[0.0] * len(r) for r in rows])


def test_registry_lists_the_four_scorers_and_each_follows_the_protocol():
    """The registry holds codet, minimax, oracle, pagerank; each instance is a Scorer."""
    assert SCORERS.names() == ["codet", "minimax", "oracle", "pagerank"]
    for name in SCORERS.names():
        sc = get_scorer(name)
        assert isinstance(sc, Scorer)
        assert sc.name == name
        assert sc.ground_truth is (name == "oracle")


def test_unknown_scorer_and_bad_options_are_clear_errors():
    with pytest.raises(UnknownNameError, match="did you mean 'codet'"):
        get_scorer("codt")
    with pytest.raises(ConfigError, match="scorer 'codet'.*unexpected keyword"):
        get_scorer("codet", damping=0.5)


# ----------------------------------------------------------------------------- CodeT


def test_codet_groups_by_identical_pass_sets():
    """Rows [1,1,0], [1,1,0], [1,0,1]: two groups.

    Group A = rows 0, 1 (tests {0, 1}): 2 tests x 2 solutions = 4.
    Group B = row 2 (tests {0, 2}): 2 tests x 1 solution = 2.
    With sqrt_group: 2 x sqrt(2) = 2.828 and 2 x 1 = 2.
    The pick: chosen row 0 (ties with row 1 go to the lower row), rejected row 2;
    normalised scores 1 and 2/4 = 0.5.
    """
    m = [[1, 1, 0], [1, 1, 0], [1, 0, 1]]
    assert get_scorer("codet").score(m).tolist() == [4, 4, 2]
    assert np.allclose(get_scorer("codet", sqrt_group=True).score(m), [2 * math.sqrt(2)] * 2 + [2])
    picks, _ = get_scorer("codet").pick(m)
    assert [(p.chosen, p.rejected, p.chosen_score, p.rejected_score) for p in picks] == [(0, 2, 1.0, 0.5)]


def test_codet_consensus_beats_a_lone_solution_passing_more_tests():
    """Rows: 3 identical-behaviour solutions pass tests {0} ; 1 solution passes {0, 1}.

    Group {0,1,2}: 1 test x 3 = 3; row 3: 2 tests x 1 = 2. CodeT prefers the consensus
    (row 0) and rejects row 3 -- unlike minimax, which counts tests only (row 3: 2 > 1).
    """
    m = [[1, 0], [1, 0], [1, 0], [1, 1]]
    assert get_scorer("codet").score(m).tolist() == [3, 3, 3, 2]
    picks, _ = get_scorer("codet").pick(m)
    assert (picks[0].chosen, picks[0].rejected) == (0, 3)
    assert get_scorer("minimax").score(m).tolist() == [1, 1, 1, 2]


# ----------------------------------------------------------------------------- edge cases


@pytest.mark.parametrize("name", SELF_TEST_SCORERS)
def test_ties_give_no_pair(name):
    """Rows [1,0] and [0,1]: each passes one test, alone in its group.

    codet: 1x1 = 1 each; minimax: 1 each; pagerank: symmetric, 1/2 each. Every
    scorer ties, so there is no preference to learn: no pick.
    """
    picks, reason = get_scorer(name).pick([[1, 0], [0, 1]])
    assert picks == []
    assert reason in ("all candidates score the same", "no pair reaches the minimum margin")


@pytest.mark.parametrize("name", SELF_TEST_SCORERS)
def test_all_pass_scores_tie(name):
    """Every solution passes every test: all scores equal (codet 2x3 = 6 each, minimax 2,
    pagerank 1/3), so no pair."""
    m = np.ones((3, 2), bool)
    s = get_scorer(name).score(m)
    assert np.allclose(s, s[0])
    assert get_scorer(name).pick(m)[0] == []


@pytest.mark.parametrize("name", SELF_TEST_SCORERS)
def test_all_fail_scores_tie(name):
    """No solution passes any test: codet 0 each, minimax 0 each, pagerank keeps the
    uniform start (1/3 each: a propagated term that is all zero changes nothing)."""
    m = np.zeros((3, 2), bool)
    s = get_scorer(name).score(m)
    assert np.allclose(s, s[0])
    assert get_scorer(name).pick(m)[0] == []


@pytest.mark.parametrize("name", SELF_TEST_SCORERS)
def test_single_solution_gives_no_pair(name):
    """One solution passing one of two tests: it has a score, but nothing to pair with."""
    sc = get_scorer(name)
    assert sc.score([[1, 0]]).shape == (1,)
    assert sc.pick([[1, 0]]) == ([], "fewer than 2 distinct solutions")


def test_a_test_no_solution_passes_changes_nothing():
    """Rows [1,1,0], [1,0,0], [0,0,0]; test 2 is passed by nobody.

    codet: row 0: 2 tests x 1 = 2, row 1: 1 x 1 = 1, row 2: 0 -> [2, 1, 0], the same as
    without test 2. minimax: test passers [2, 1, 0]; tests passed by some but not all:
    0 (2 codes) and 1 (1 code) -> rejected test 0; chosen code row 0 (2 tests); chosen
    test = the one it passes with fewest passers = test 1; codes failing test 0: row 2 ->
    rejected. Test 2 is never chosen.
    """
    m = [[1, 1, 0], [1, 0, 0], [0, 0, 0]]
    assert get_scorer("codet").score(m).tolist() == [2, 1, 0]
    assert get_scorer("codet").score([r[:2] for r in m]).tolist() == [2, 1, 0]
    (p,), _ = get_scorer("minimax").pick(m)
    assert (p.chosen, p.chosen_test, p.rejected_test, p.rejected) == (0, 1, 0, 2)


def test_sandbox_errors_are_excluded_never_failures():
    """Row 0 [P, S, P], row 1 [F, P, F], row 2 [S, S, S].

    Row 2 is all sandbox_error: dropped (score NaN, never picked). Test 1 has a
    sandbox_error in row 0: dropped for everybody. Left: rows 0, 1 x tests 0, 2 =
    [[1, 1], [0, 0]] -> codet [2, 0, NaN]; pick chosen 0, rejected 1.
    """
    m = pm([[P, S, P], [F, P, F], [S, S, S]])
    c = clean(m)
    assert c.rows.tolist() == [0, 1] and c.cols.tolist() == [0, 2]
    s = get_scorer("codet").score(m)
    assert s[:2].tolist() == [2, 0] and math.isnan(s[2])
    (p,), _ = get_scorer("codet").pick(m)
    assert (p.chosen, p.rejected) == (0, 1)


def test_a_sandbox_error_does_not_make_a_solution_look_worse():
    """Row 0 [P, S], row 1 [P, P], row 2 [F, F]. Counting S as a failure would rank row
    0 below row 1; excluding test 1 leaves [1], [1], [0]: rows 0 and 1 tie (codet 1 test x
    2 = 2 each), row 2 scores 0."""
    s = get_scorer("codet").score(pm([[P, S], [P, P], [F, F]]))
    assert s.tolist() == [2, 2, 0]


def test_as_arrays_and_normalise():
    """A plain list is all-valid; an empty matrix is 0x0; normalise divides by the max
    (all zero stays zero, NaN stays NaN)."""
    passed, valid = as_arrays([[1, 0]])
    assert passed.tolist() == [[True, False]] and valid.all()
    assert as_arrays(PassMatrix("t", [], []))[0].shape == (0, 0)
    with pytest.raises(InputError, match="2-D"):
        as_arrays([1, 0])
    assert normalise(np.array([2.0, 1.0, np.nan]))[:2].tolist() == [1.0, 0.5]
    assert normalise(np.zeros(2)).tolist() == [0.0, 0.0]


def test_dstc_tests_rule():
    """Rows [1,1,0], [1,0,1], [0,0,0]; passers per test [2, 1, 1].

    Chosen row 0 passes tests 0, 1 -> fewest passers: test 1. Rejected row 2 fails every
    test -> most passers: test 0. A code passing nothing has no chosen test; one failing
    nothing has no rejected test.
    """
    m = np.array([[1, 1, 0], [1, 0, 1], [0, 0, 0]], bool)
    assert dstc_tests(m, 0, 2) == (1, 0)
    assert dstc_tests(np.array([[0], [1]], bool), 0, 1) == (None, None)


# ----------------------------------------------------------------------------- minimax


def test_minimax_docstring_example():
    """Rows [1,1,1], [1,1,0], [0,0,0]; passers [2, 2, 1].

    Chosen code 0 (3 tests); chosen test 2 (1 passer); rejected test: most passers
    among 0 < c < 3 -> tests 0 and 1 tie at 2 -> test 0; failing test 0: row 2 ->
    rejected. Normalised scores: 3/3 = 1 and 0/3 = 0.
    """
    (p,), _ = get_scorer("minimax").pick([[1, 1, 1], [1, 1, 0], [0, 0, 0]])
    assert (p.chosen, p.chosen_test, p.rejected_test, p.rejected) == (0, 2, 0, 2)
    assert (p.chosen_score, p.rejected_score) == (1.0, 0.0)
    assert "rejected test #0" in p.why


def test_minimax_rejected_code_must_fail_the_rejected_test():
    """Rows [1,1,1,0], [1,0,0,1], [0,1,1,0], [1,1,0,0]; passers [3, 3, 2, 1].

    Rejected test = most passers but not all 4: tests 0 and 1 (3) -> test 0. Codes failing
    test 0: row 2 only (2 tests) -> rejected row 2, although row 1 passes as few tests
    (2). Chosen row 0 (3 tests), chosen test: among 0, 1, 2 the fewest passers -> 2.
    """
    (p,), _ = get_scorer("minimax").pick([[1, 1, 1, 0], [1, 0, 0, 1], [0, 1, 1, 0], [1, 1, 0, 0]])
    assert (p.chosen, p.chosen_test, p.rejected_test, p.rejected) == (0, 2, 0, 2)


def test_minimax_several_pairs_and_margin():
    """Rows: [1,1,1] (3), [1,1,0] (2), [1,0,0] (1), [0,0,0] (0); passers [3, 2, 1].

    Rejected test: test 0 (3 of 4). Failing it: row 3 only. k=2: first pair (0, 3); the
    second chosen (row 1) has no unused code failing test 0 left -> one pair only.
    With min_margin 1.0 the pair (1.0 vs 0.0) still passes; the rule never picks a
    rejected code that passes the rejected test.
    """
    m = [[1, 1, 1], [1, 1, 0], [1, 0, 0], [0, 0, 0]]
    picks, _ = get_scorer("minimax").pick(m, k=2)
    assert [(p.chosen, p.rejected) for p in picks] == [(0, 3)]
    assert len(get_scorer("minimax").pick(m, min_margin=1.0)[0]) == 1


def test_minimax_without_a_separating_test():
    """Rows [1,0], [1,0]: test 0 passed by all, test 1 by none -> no test separates."""
    assert get_scorer("minimax").pick([[1, 0], [1, 0]]) == ([], "no test separates the solutions")


# ----------------------------------------------------------------------------- picks


def test_pairs_per_task_uses_each_solution_once_and_stops_at_the_margin():
    """codet on rows (tests passed, all distinct patterns, groups of 1):
    [1,1,1] 3, [1,1,0] 2, [1,0,0] 1, [0,0,0] 0 -> normalised 1, 2/3, 1/3, 0.

    k=2: (row 0, row 3, margin 1) then (row 1, row 2, margin 1/3). With min_margin 0.5
    the second pair is dropped.
    """
    m = [[1, 1, 1], [1, 1, 0], [1, 0, 0], [0, 0, 0]]
    picks, _ = get_scorer("codet").pick(m, k=2)
    assert [(p.chosen, p.rejected) for p in picks] == [(0, 3), (1, 2)]
    assert picks[1].chosen_score == pytest.approx(2 / 3) and picks[1].rejected_score == pytest.approx(1 / 3)
    assert len(get_scorer("codet").pick(m, k=2, min_margin=0.5)[0]) == 1
    assert get_scorer("codet").pick(m, min_margin=1.0)[0][0].rejected == 3


def test_candidates_restrict_the_pick():
    """Same matrix, candidates rows 1 and 2 only (e.g. rows 0 and 3 were duplicates):
    pair (1, 2)."""
    m = [[1, 1, 1], [1, 1, 0], [1, 0, 0], [0, 0, 0]]
    (p,), _ = get_scorer("codet").pick(m, candidates=[1, 2])
    assert (p.chosen, p.rejected) == (1, 2)


def test_oracle_pairs_correct_with_incorrect():
    """Hidden-test rows [1,1], [1,0], [0,0]: correct = passes all -> scores [1, 0, 0];
    the pick pairs row 0 with row 1 (lowest row among the ties at 0)."""
    sc = get_scorer("oracle")
    assert sc.score([[1, 1], [1, 0], [0, 0]]).tolist() == [1, 0, 0]
    (p,), _ = sc.pick([[1, 1], [1, 0], [0, 0]])
    assert (p.chosen, p.rejected) == (0, 1)
    assert "incorrect" in p.why
