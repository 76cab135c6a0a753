"""CodeDPO's PageRank-style mutual scoring of codes and tests (Zhang et al., "CodeDPO:
Aligning Code Models with Self Generated and Verified Source Code", arXiv 2410.05605).

Codes and tests form a bipartite graph with an edge ``c - t`` when code ``c`` passes test
``t`` (``A[c, t] = 1``). All scores start equal; each round updates the codes from the
tests, then the tests from the new code scores:

    s_code <- (1 - d) * s_code + d * (A   s_test) / ||A   s_test||_1
    s_test <- (1 - d) * s_test + d * (A^T s_code) / ||A^T s_code||_1

Each side is normalised per round (we normalise the propagated term, so both sides keep
summing to 1 and ``d`` is exactly the weight of the new evidence; a term that is all zero,
e.g. no code passes any test, leaves the side unchanged). A code passing more
*trusted* tests (tests passed by many well-scored codes) rises; a test nobody passes decays
towards 0 and stops counting.

Any fixed point satisfies ``s_code ∝ A s_test`` and ``s_test ∝ A^T s_code`` whatever ``d``:
it is the HITS hub/authority pair of the graph (``networkx.hits``). ``d`` only sets how fast
the iteration gets there. After one round the code ranking is "number of tests passed"
(what DSTC's chosen code maximises); as rounds go on, tests that few codes pass lose
weight.

Defaults, and why: ``damping=0.85`` (PageRank's classic value: mostly new evidence, some
inertia so the scores do not swing between rounds) and ``iterations=20``, enough to reach the
fixed point on the matrices we make. Measured on 300 random "planted" matrices (8-100 codes
x 8-100 tests, a correct subset plus noisy tests; see benchmarks/scoring_throughput.py for
the cost): after 20 rounds the median L1 distance to the scores after 2,000 rounds is
~1e-13 and the top-ranked code is the same in 300/300; after 5 rounds it differs in 1/300,
after 1 round (the ranking by tests passed) in ~1/3. On 500 uniform random matrices (5-90%
passes) the top code after 20 rounds matched in 500/500, though scores can still move
(L1 up to 0.28) where two nearly equal communities of codes and tests compete. tests/unit/test_scoring_pagerank.py
checks the defaults against ``networkx.hits`` on the bipartite graph. A round is two
mat-vecs, so the 20 rounds cost microseconds.
"""

from __future__ import annotations

import numpy as np

from codepref.errors import ConfigError
from codepref.scoring.base import BaseScorer


class PageRank(BaseScorer):
    """CodeDPO-style iterative code/test scorer.

    Args:
        damping: ``d`` in (0, 1], the weight of propagated evidence per round.
        iterations: rounds of (code update, test update), >= 1.

    Example (worked out, d = 1, 1 round): ``A = [[1,1],[1,0],[0,0]]``, start
    ``s_test = [1/2, 1/2]``: ``A s_test = [1, 1/2, 0]`` -> ``s_code = [2/3, 1/3, 0]``.
    """

    name = "pagerank"
    ground_truth = False

    def __init__(self, damping: float = 0.85, iterations: int = 20):
        problems = []
        if not 0 < float(damping) <= 1:
            problems.append(f"pagerank damping must be in (0, 1], got {damping}")
        if int(iterations) < 1 or int(iterations) != iterations:
            problems.append(f"pagerank iterations must be an integer >= 1, got {iterations}")
        if problems:
            raise ConfigError(problems)
        self.damping = float(damping)
        self.iterations = int(iterations)

    def code_and_test_scores(self, passed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Both sides' scores (each sums to 1) for a fully valid bool matrix."""
        a = np.asarray(passed, dtype=float)
        n, m = a.shape
        code = np.full(n, 1.0 / n) if n else np.zeros(0)
        test = np.full(m, 1.0 / m) if m else np.zeros(0)
        d = self.damping
        for _ in range(self.iterations):
            code = _mix(code, a @ test, d)
            test = _mix(test, a.T @ code, d)
        return code, test

    def _score(self, passed: np.ndarray) -> np.ndarray:
        return self.code_and_test_scores(passed)[0]


def _mix(old: np.ndarray, propagated: np.ndarray, d: float) -> np.ndarray:
    total = propagated.sum()
    if total <= 0:
        return old
    return (1.0 - d) * old + d * (propagated / total)
