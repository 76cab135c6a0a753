"""CodeT's dual execution agreement (Chen et al., "CodeT: Code Generation with Generated
Tests", arXiv 2207.10397).

Solutions are grouped by the exact set of tests they pass (a "consensus set"). With
``S_x`` the solutions of a group and ``S_y`` the tests they all pass, every solution of
the group scores

    f(S) = |S_y| * |S_x|                (the paper's formula, the default)
    f(S) = |S_y| * sqrt(|S_x|)          (``sqrt_group=True``, as in CodeT's released code)

so a behaviour shared by many samples and confirmed by many tests wins. Solutions that pass
no test score 0. Identical solutions count separately: each sample is a vote.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from codepref.scoring.base import BaseScorer


class CodeT(BaseScorer):
    """CodeT dual-agreement scorer.

    Args:
        sqrt_group: weight the group size by its square root (CodeT's released code)
            instead of linearly (the paper).

    Example (worked out): rows ``[1,1,0]``, ``[1,1,0]``, ``[1,0,1]`` form groups of size
    2 (2 tests) and 1 (2 tests): scores ``[4, 4, 2]``; with ``sqrt_group`` ``[2.83, 2.83, 2]``.
    """

    name = "codet"
    ground_truth = False

    def __init__(self, sqrt_group: bool = False):
        self.sqrt_group = bool(sqrt_group)

    def _score(self, passed: np.ndarray) -> np.ndarray:
        n, m = passed.shape
        if m == 0:
            return np.zeros(n)
        keys = [row.tobytes() for row in np.packbits(passed, axis=1)]  # the exact set of tests passed
        size = Counter(keys)
        group = np.array([size[k] for k in keys], dtype=float)
        return passed.sum(axis=1) * (np.sqrt(group) if self.sqrt_group else group)

    def describe(self, passed: np.ndarray, row: int, raw: float) -> str:
        same = int((passed == passed[row]).all(axis=1).sum())
        return (f"is one of {same} solutions passing the same {int(passed[row].sum())}/{passed.shape[1]} "
                f"tests, score {raw:.4g}")
