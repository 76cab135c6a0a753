"""DSTC's minimax selection (Liu et al., "DSTC: Direct Preference Learning with Only
Self-Generated Tests and Code to Improve Code LMs", arXiv 2411.13611).

On the binary matrix ``r[j][k]`` (code j passes test k):

* chosen code   ``c+ = argmax_j  sum_k r[j][k]``  (the code passing the most tests);
* chosen test   ``t+ = argmin_{k: r[c+][k]} sum_j r[j][k]``  (the strictest test it passes);
* rejected test ``t- = argmax_{k: 0 < sum_j r[j][k] < n} sum_j r[j][k]``  (the most lenient
  test that not every code passes);
* rejected code ``c- = argmin_{j: not r[j][t-]} sum_k r[j][k]``  (among codes failing
  ``t-``, the one passing the fewest tests; this last rule is our completion of the
  paper's description).

Ties go to the lower index. With test-code concatenation the training texts are
``c+ + t+`` (chosen) and ``c- + t-`` (rejected). The per-solution score is the number of
tests passed. Test counts ``sum_j`` run over every sample (identical samples are votes);
codes are picked among distinct candidates. For ``k > 1`` pairs per task, the i-th best code is paired with the i-th
code (fewest tests first) among those failing ``t-``; each code is used once.

With a gate (tests the prompt states; see :mod:`codepref.pairs.build`), codes failing a
stated test count as passing none, and ``t-`` is taken among the separating tests that
``c+`` passes, so the rejected code fails a test the chosen code passes.
"""

from __future__ import annotations

import numpy as np

from codepref.scoring.base import EPS, BaseScorer, MatrixLike, Pick, _col, gated_out


class Minimax(BaseScorer):
    """DSTC minimax selection; ``score`` = tests passed.

    Example (worked out): rows ``[1,1,1]``, ``[1,1,0]``, ``[0,0,0]``. Test passers:
    ``[2, 2, 1]``. Chosen code #0 (3 tests); chosen test #2 (passed by 1 code); rejected
    test #0 (2 of 3 codes, the most lenient that separates; tie with #1 goes to #0);
    codes failing it: #2 -> rejected code #2.
    """

    name = "minimax"
    ground_truth = False

    def _score(self, passed: np.ndarray) -> np.ndarray:
        return passed.sum(axis=1).astype(float)

    def pick(self, matrix: MatrixLike, candidates: list[int] | None = None, k: int = 1,
             min_margin: float = 0.0, gate: np.ndarray | None = None) -> tuple[list[Pick], str]:
        c, raw, norm, pos, pool = self.prepare(matrix, candidates, gate)
        if len(pool) < 2:
            return [], "fewer than 2 distinct solutions"
        counts = c.passed.sum(axis=0)  # over every sample: identical samples are votes too
        n = c.passed.shape[0]
        separating = np.flatnonzero((counts > 0) & (counts < n))
        if not separating.size:
            return [], "no test separates the solutions"
        desc = sorted(pool, key=lambda i: (-raw[i], i))
        if gate is not None:  # t- must be a test the best eligible code passes
            ours = separating[c.passed[pos[desc[0]], separating]]
            separating = ours if ours.size else separating
        t_rej = int(separating[np.argmax(counts[separating])])
        failing = sorted((i for i in pool if not c.passed[pos[i], t_rej]), key=lambda i: (raw[i], i))
        picks: list[Pick] = []
        used: set[int] = set()
        reason = "no pair reaches the minimum margin"
        for ch in desc:
            if len(picks) >= k:
                break
            if ch in used:
                continue
            rj = next((i for i in failing if i not in used and i != ch), None)
            if rj is None:
                break
            margin = norm[ch] - norm[rj]
            if margin <= EPS or margin < min_margin - EPS:
                break
            ok = np.flatnonzero(c.passed[pos[ch]])
            t_ch = int(ok[np.argmin(counts[ok])]) if ok.size else None
            why = (f"minimax: chosen #{ch} passes {int(c.passed[pos[ch]].sum())}/{c.passed.shape[1]} tests, chosen test "
                   f"#{_col(c, t_ch)} (passed by {int(counts[t_ch]) if t_ch is not None else 0} codes); "
                   f"rejected test #{_col(c, t_rej)} (passed by {int(counts[t_rej])}/{n}), failed by "
                   f"rejected #{rj} passing {int(c.passed[pos[rj]].sum())}{gated_out(gate, rj)}; margin {margin:.3f}")
            picks.append(Pick(ch, rj, float(norm[ch]), float(norm[rj]), _col(c, t_ch), _col(c, t_rej), why))
            used.update((ch, rj))
        return picks, ("" if picks else reason)

