"""The CodeDPO PageRank-style scorer: worked examples, its defaults, and HITS as a reference."""

from __future__ import annotations

import numpy as np
import pytest

from codepref.errors import ConfigError
from codepref.scoring import get_scorer
from codepref.scoring.pagerank import PageRank


def test_one_round_by_hand():
    """d = 1, one round, A = [[1,1],[1,0],[0,0]].

    Start s_test = [1/2, 1/2]. Codes: A s_test = [1, 1/2, 0], sum 3/2 -> [2/3, 1/3, 0].
    Tests: A^T s_code = [2/3 + 1/3, 2/3] = [1, 2/3], sum 5/3 -> [3/5, 2/5].
    """
    code, test = PageRank(damping=1.0, iterations=1).code_and_test_scores(np.array([[1, 1], [1, 0], [0, 0]], bool))
    assert code == pytest.approx([2 / 3, 1 / 3, 0])
    assert test == pytest.approx([3 / 5, 2 / 5])


def test_damping_keeps_part_of_the_old_scores():
    """d = 0.85, one round, same A. s_code = 0.15 * [1/3]*3 + 0.85 * [2/3, 1/3, 0]
    = [0.05 + 0.5667, 0.05 + 0.2833, 0.05] = [0.6167, 0.3333, 0.05]."""
    code, _ = PageRank(damping=0.85, iterations=1).code_and_test_scores(np.array([[1, 1], [1, 0], [0, 0]], bool))
    assert code == pytest.approx([0.05 + 0.85 * 2 / 3, 0.05 + 0.85 / 3, 0.05])


def test_a_test_nobody_passes_decays_geometrically():
    """A = [[1,0],[0,0]]: test 1 never receives evidence, so each round keeps
    (1 - d) of its score: after k rounds 1/2 * 0.15^k. Code 1 likewise: 1/2 * 0.15^k."""
    code, test = PageRank(0.85, 5).code_and_test_scores(np.array([[1, 0], [0, 0]], bool))
    assert test[1] == pytest.approx(0.5 * 0.15 ** 5)
    assert code[1] == pytest.approx(0.5 * 0.15 ** 5)
    assert code.sum() == pytest.approx(1) and test.sum() == pytest.approx(1)


def test_defaults_are_documented_values():
    """damping 0.85 and 20 rounds (see the module docstring for why)."""
    sc = get_scorer("pagerank")
    assert (sc.damping, sc.iterations) == (0.85, 20)


def test_defaults_reach_the_fixed_point_on_random_matrices():
    """On random 8..60 x 8..60 matrices (seeded), 20 rounds at d = 0.85 give the same top
    code as 2,000 rounds in every case, and scores within 1e-6 (L1) in most: the defaults
    are converged except where two nearly equal communities of codes/tests compete
    (slow power iteration), which moves scores but not the top pick."""
    rng = np.random.default_rng(7)
    dist = []
    for _ in range(50):
        a = rng.random((rng.integers(8, 61), rng.integers(8, 61))) < rng.uniform(0.1, 0.9)
        ref = PageRank(0.85, 2000).code_and_test_scores(a)[0]
        got = get_scorer("pagerank").code_and_test_scores(a)[0]
        dist.append(np.abs(got - ref).sum())
        assert np.isclose(ref[np.argmax(got)], ref.max())
    assert np.median(dist) < 1e-9
    assert np.mean(np.array(dist) < 1e-6) >= 0.9


def test_fixed_point_is_hits_of_the_bipartite_graph():
    """With edges code -> test for every pass, the fixed point of the update is HITS:
    codes are hubs (s ∝ A t), tests authorities (t ∝ A^T s). networkx.hits computes it
    independently (power iteration on its own)."""
    nx = pytest.importorskip("networkx")
    rng = np.random.default_rng(1)
    a = rng.random((8, 6)) < 0.5
    g = nx.DiGraph()
    g.add_nodes_from([f"c{i}" for i in range(8)] + [f"t{j}" for j in range(6)])
    g.add_edges_from((f"c{i}", f"t{j}") for i, j in zip(*np.nonzero(a)))
    hubs, auth = nx.hits(g, max_iter=10_000, tol=1e-12)
    code, test = get_scorer("pagerank").code_and_test_scores(a)
    assert code == pytest.approx([hubs[f"c{i}"] for i in range(8)], abs=1e-6)
    assert test == pytest.approx([auth[f"t{j}"] for j in range(6)], abs=1e-6)


def test_trusted_tests_outweigh_many_untrusted_ones():
    """Rows 0-2 pass tests {0, 1} (a consensus), row 3 passes tests {2, 3, 4}, each of
    which only row 3 passes. Counting tests, row 3 wins (3 > 2); after the iteration the
    tests passed by 3 codes carry the mass and rows 0-2 outrank row 3."""
    a = np.array([[1, 1, 0, 0, 0]] * 3 + [[0, 0, 1, 1, 1]], bool)
    s = get_scorer("pagerank").score(a)
    assert s[0] == pytest.approx(s[1]) == pytest.approx(s[2])
    assert s[0] > s[3]
    assert PageRank(0.85, 1).score(a)[3] > PageRank(0.85, 1).score(a)[0]  # one round = counting


@pytest.mark.parametrize("kwargs", [{"damping": 0}, {"damping": 1.5}, {"iterations": 0}, {"iterations": 2.5}])
def test_bad_options_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        PageRank(**kwargs)
