"""The scorer protocol and what every scorer shares: cleaning a matrix, normalising scores,
picking chosen/rejected solutions, and DSTC's choice of tests for test-code concatenation.

A scorer turns one task's pass matrix (solution ``i`` x test ``j``) into one score per
solution: higher means "more likely correct". Scorers see only *valid* cells: a cell whose
outcome is ``sandbox_error`` says nothing about the code and is never a failure. Before
scoring, :func:`clean` drops

1. every solution whose row is entirely ``sandbox_error`` (it gets score NaN and is never
   chosen nor rejected), then
2. every test with a ``sandbox_error`` cell among the remaining solutions,

so all remaining solutions are compared on exactly the same tests.

Pairs are made from normalised scores ``s / max(s)`` (the best solution has 1.0; when every
score is 0 they stay 0): the *margin* of a pair is ``s_chosen - s_rejected`` in those units,
which makes one ``min_margin`` meaningful for every scorer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from codepref.errors import InputError
from codepref.records import Outcome, PassMatrix

MatrixLike = Any  # a PassMatrix, or anything np.asarray turns into a 2-D bool array
EPS = 1e-12
_CODE = {o: k for k, o in enumerate(Outcome)}


@dataclass(frozen=True)
class Cleaned:
    """The fully valid part of a matrix.

    Attributes:
        passed: bool array ``len(rows) x len(cols)``.
        rows: indices (into the original matrix) of the solutions kept.
        cols: indices of the tests kept.
        shape: the original matrix's shape.
    """

    passed: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    shape: tuple[int, int]


@dataclass(frozen=True)
class Pick:
    """One chosen/rejected decision on one task (indices into the original matrix).

    Attributes:
        chosen: row of the preferred solution.
        rejected: row of the dispreferred solution.
        chosen_score: the chosen solution's normalised score (0..1).
        rejected_score: the rejected solution's normalised score.
        chosen_test: column of the test to append to the chosen code for DSTC
            concatenation (None when the chosen code passes no test).
        rejected_test: column of the test to append to the rejected code (None when the
            rejected code fails no test).
        why: a one-line human-readable reason.
    """

    chosen: int
    rejected: int
    chosen_score: float
    rejected_score: float
    chosen_test: int | None
    rejected_test: int | None
    why: str


@runtime_checkable
class Scorer(Protocol):
    """What every scorer provides.

    Attributes:
        name: the registry name.
        ground_truth: True when the scorer's matrix must come from hidden reference tests
            (the ``oracle``); such scorers are for audits, not for training data.
    """

    name: str
    ground_truth: bool

    def score(self, matrix: MatrixLike) -> np.ndarray:
        """Per-solution scores (float array, NaN for excluded solutions)."""
        ...

    def pick(self, matrix: MatrixLike, candidates: list[int] | None = None, k: int = 1,
             min_margin: float = 0.0, gate: np.ndarray | None = None) -> tuple[list[Pick], str]:
        """Up to ``k`` picks among ``candidates``; the reason when there are none.

        ``gate`` (bool per row), when given, marks the solutions that may be chosen: the
        others are known to be wrong (they fail a test the task's prompt states) and score 0.
        """
        ...


def as_arrays(matrix: MatrixLike) -> tuple[np.ndarray, np.ndarray]:
    """``(passed, valid)`` bool arrays of the same 2-D shape.

    A :class:`PassMatrix` gives both; a plain array is taken as ``passed`` with every cell
    valid.

    Raises:
        InputError: for anything that is not 2-D.
    """
    if isinstance(matrix, PassMatrix):
        n, m = matrix.shape
        if n == 0:
            return np.zeros((0, 0), bool), np.zeros((0, 0), bool)
        if any(len(row) != m for row in matrix.outcomes):
            raise InputError(f"task {matrix.task_id!r}: pass matrix rows have different lengths")
        codes = np.fromiter((_CODE[o] for row in matrix.outcomes for o in row), dtype=np.int8, count=n * m)
        codes = codes.reshape(n, m)
        return codes == _CODE[Outcome.PASSED], codes != _CODE[Outcome.SANDBOX_ERROR]
    passed = np.asarray(matrix, dtype=bool)
    if passed.size == 0 and passed.ndim < 2:
        passed = passed.reshape(0, 0)
    if passed.ndim != 2:
        raise InputError(f"a pass matrix must be 2-D (solutions x tests), got shape {passed.shape}")
    return passed, np.ones_like(passed, dtype=bool)


def clean(matrix: MatrixLike) -> Cleaned:
    """Drop all-``sandbox_error`` solutions, then tests with any ``sandbox_error`` cell."""
    passed, valid = as_arrays(matrix)
    n, m = passed.shape
    rows = np.flatnonzero(valid.any(axis=1)) if m else np.arange(n)
    cols = np.flatnonzero(valid[rows].all(axis=0)) if len(rows) else np.arange(m)
    return Cleaned(passed[np.ix_(rows, cols)], rows, cols, (n, m))


def normalise(scores: np.ndarray) -> np.ndarray:
    """``s / max(s)`` over the non-NaN scores (all-zero scores stay zero)."""
    scores = np.asarray(scores, dtype=float)
    finite = scores[~np.isnan(scores)]
    top = finite.max() if finite.size else 0.0
    return scores / top if top > 0 else np.where(np.isnan(scores), np.nan, 0.0)


def dstc_tests(passed: np.ndarray, chosen: int, rejected: int) -> tuple[int | None, int | None]:
    """DSTC's tests for a chosen/rejected code pair (indices into ``passed``).

    * chosen test: among the tests the chosen code passes, the one passed by the fewest
      codes (the strictest test it satisfies);
    * rejected test: among the tests the rejected code fails, the one passed by the most
      codes (the most lenient test that still separates).

    Ties go to the lower test index; None when there is no such test.
    """
    counts = passed.sum(axis=0)
    ok = np.flatnonzero(passed[chosen])
    bad = np.flatnonzero(~passed[rejected])
    chosen_test = int(ok[np.argmin(counts[ok])]) if ok.size else None
    rejected_test = int(bad[np.argmax(counts[bad])]) if bad.size else None
    return chosen_test, rejected_test


class BaseScorer:
    """Shared machinery: subclasses implement :meth:`_score` on a cleaned bool matrix.

    The default :meth:`pick` pairs the i-th best with the i-th worst distinct candidate
    (``i = 0 .. k-1``): sort candidates by normalised score, descending for chosen and
    ascending for rejected (ties: lower row first), and stop at the first pair whose margin
    is not positive or is below ``min_margin``, or when the two lists meet. Each solution
    is used in at most one pair, so no single sample dominates the training data.
    """

    name = ""
    ground_truth = False

    def _score(self, passed: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def score(self, matrix: MatrixLike) -> np.ndarray:
        return self.score_cleaned(clean(matrix))

    def score_cleaned(self, c: Cleaned) -> np.ndarray:
        """Scores for every original row (NaN for excluded ones) from a cleaned matrix."""
        out = np.full(c.shape[0], np.nan)
        if len(c.rows):
            out[c.rows] = self._score(c.passed)
        return out

    def describe(self, passed: np.ndarray, row: int, raw: float) -> str:
        """How one solution earned its score (row of the cleaned matrix)."""
        return f"passes {int(passed[row].sum())}/{passed.shape[1]} tests, score {raw:.4g}"

    def prepare(self, matrix: MatrixLike, candidates: list[int] | None = None, gate: np.ndarray | None = None):
        """What every ``pick`` starts from: the cleaned matrix, raw and normalised scores,
        each kept row's position in the cleaned matrix, and the candidates that are kept
        (``candidates`` or every row). Rows outside ``gate`` get raw score 0 before
        normalising, so they are never chosen and are the first to be rejected."""
        c = clean(matrix)
        raw = self.score_cleaned(c)
        if gate is not None:
            raw = np.where(np.asarray(gate, dtype=bool) | np.isnan(raw), raw, 0.0)
        norm = normalise(raw)
        pos = {int(r): i for i, r in enumerate(c.rows)}
        pool = [i for i in (range(c.shape[0]) if candidates is None else candidates) if i in pos]
        return c, raw, norm, pos, pool

    def pick(self, matrix: MatrixLike, candidates: list[int] | None = None, k: int = 1,
             min_margin: float = 0.0, gate: np.ndarray | None = None) -> tuple[list[Pick], str]:
        c, raw, norm, pos, pool = self.prepare(matrix, candidates, gate)
        if len(pool) < 2:
            return [], "fewer than 2 distinct solutions"
        desc = sorted(pool, key=lambda i: (-norm[i], i))
        asc = sorted(pool, key=lambda i: (norm[i], i))
        picks: list[Pick] = []
        used: set[int] = set()
        reason = "no pair reaches the minimum margin"
        for ch, rj in zip(desc, asc):
            if len(picks) >= k or ch in used or rj in used or ch == rj:
                break
            margin = norm[ch] - norm[rj]
            if margin <= EPS or margin < min_margin - EPS:
                if not picks:
                    reason = "all candidates score the same" if margin <= EPS else reason
                break
            ct, rt = dstc_tests(c.passed, pos[ch], pos[rj])
            why = (f"{self.name}: chosen #{ch} {self.describe(c.passed, pos[ch], raw[ch])}; "
                   f"rejected #{rj} {self.describe(c.passed, pos[rj], raw[rj])}{gated_out(gate, rj)}; "
                   f"margin {margin:.3f}")
            picks.append(Pick(ch, rj, float(norm[ch]), float(norm[rj]), _col(c, ct), _col(c, rt), why))
            used.update((ch, rj))
        return picks, ("" if picks else reason)


def gated_out(gate: np.ndarray | None, row: int) -> str:
    """The note a pick's ``why`` gets for a rejected solution outside the gate."""
    return " (fails a test the prompt states)" if gate is not None and not gate[row] else ""


def _col(c: Cleaned, j: int | None) -> int | None:
    return None if j is None else int(c.cols[j])
