"""The oracle: correctness by the benchmark's hidden reference tests (for audits only).

Given a matrix of solutions x *hidden* tests, a solution scores 1.0 when it passes every
(valid) hidden test and 0.0 otherwise: ``s_i = prod_j r[i][j]``. Pairs made with it pair a
correct solution with an incorrect one, so they are the ceiling any self-test scorer can
reach on the same samples (pair precision 1 by construction, the largest coverage the
samples allow). It needs ground truth, which training prompts do not have, so ``codepref
rank`` refuses it unless asked explicitly: it is never used to build training data by
default.
"""

from __future__ import annotations

import numpy as np

from codepref.scoring.base import BaseScorer


class Oracle(BaseScorer):
    """Ground-truth scorer: 1.0 if a solution passes all hidden tests, else 0.0."""

    name = "oracle"
    ground_truth = True

    def _score(self, passed: np.ndarray) -> np.ndarray:
        if passed.shape[1] == 0:
            return np.zeros(passed.shape[0])
        return passed.all(axis=1).astype(float)

    def describe(self, passed: np.ndarray, row: int, raw: float) -> str:
        verdict = "correct" if raw > 0 else "incorrect"
        return f"is {verdict} ({int(passed[row].sum())}/{passed.shape[1]} hidden tests)"
