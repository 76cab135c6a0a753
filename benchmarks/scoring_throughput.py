"""Scoring throughput: every scorer on 1,000 random 100 x 100 pass matrices, in one run.

For each scorer (codet, pagerank, minimax) it times ``pick`` -- what ``codepref rank`` calls
per task: clean the matrix, score, choose the pair -- on

* ``numpy``:      the scorer as shipped, from a bool array;
* ``PassMatrix``: the same from the record the execute stage writes (outcome enums, so the
  conversion to arrays is included: this is the cost ``rank`` really pays);
* ``naive``:      a straightforward pure-Python implementation of the same formula (lists and
  dicts, no numpy), on a prefix of the matrices; its picks are checked to be identical.

and prints the time per matrix, the ratio naive / numpy, and the scoring time as a share
of the time the sandbox needs to *execute* the same cells. That execution rate is measured
in the same run (a 10 x 20 matrix of trivial asserts through ``SandboxPool.run_matrices``),
so it needs Docker and the sandbox image; without them the benchmark stops and says so, and
``--no-sandbox`` times the scorers alone (no share column).

    python benchmarks/scoring_throughput.py [--matrices 1000] [--size 100] [--naive 50] [--no-sandbox]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from codepref.errors import SandboxError
from codepref.records import Outcome, PassMatrix
from codepref.scoring import get_scorer

SCORERS = ("codet", "pagerank", "minimax")


# ----------------------------------------------------------------------------- naive baselines


def naive_codet(rows: list[list[bool]]) -> list[float]:
    groups: dict[tuple, int] = {}
    for r in rows:
        groups[tuple(r)] = groups.get(tuple(r), 0) + 1
    return [float(sum(r) * groups[tuple(r)]) for r in rows]


def naive_pagerank(rows: list[list[bool]], d: float = 0.85, iterations: int = 20) -> list[float]:
    n, m = len(rows), len(rows[0])
    code, test = [1.0 / n] * n, [1.0 / m] * m
    for _ in range(iterations):
        prop = [sum(test[j] for j in range(m) if rows[i][j]) for i in range(n)]
        total = sum(prop)
        if total > 0:
            code = [(1 - d) * code[i] + d * prop[i] / total for i in range(n)]
        prop = [sum(code[i] for i in range(n) if rows[i][j]) for j in range(m)]
        total = sum(prop)
        if total > 0:
            test = [(1 - d) * test[j] + d * prop[j] / total for j in range(m)]
    return code


def naive_minimax_pick(rows: list[list[bool]]) -> tuple[int, int] | None:
    n, m = len(rows), len(rows[0])
    passes = [sum(r) for r in rows]
    counts = [sum(rows[i][j] for i in range(n)) for j in range(m)]
    sep = [j for j in range(m) if 0 < counts[j] < n]
    if not sep:
        return None
    t_rej = max(sep, key=lambda j: (counts[j], -j))
    chosen = max(range(n), key=lambda i: (passes[i], -i))
    failing = [i for i in range(n) if not rows[i][t_rej] and i != chosen]
    if not failing:
        return None
    rejected = min(failing, key=lambda i: (passes[i], i))
    return (chosen, rejected) if passes[chosen] > passes[rejected] else None


def naive_pick(name: str, rows: list[list[bool]]) -> tuple[int, int] | None:
    if name == "minimax":
        return naive_minimax_pick(rows)
    s = naive_codet(rows) if name == "codet" else naive_pagerank(rows)
    top = max(s)
    norm = [x / top for x in s] if top > 0 else [0.0] * len(s)
    chosen = min(range(len(s)), key=lambda i: (-norm[i], i))
    rejected = min(range(len(s)), key=lambda i: (norm[i], i))
    return (chosen, rejected) if norm[chosen] - norm[rejected] > 1e-12 else None


# ----------------------------------------------------------------------------- timing


def random_matrices(k: int, size: int, seed: int = 0) -> list[np.ndarray]:
    """Random bool matrices with a per-matrix pass rate in [0.05, 0.95]."""
    rng = np.random.default_rng(seed)
    return [rng.random((size, size)) < rng.uniform(0.05, 0.95) for _ in range(k)]


def as_record(a: np.ndarray) -> PassMatrix:
    cell = {True: Outcome.PASSED, False: Outcome.FAILED}
    rows = [[cell[bool(x)] for x in row] for row in a]
    return PassMatrix("t", rows, [[0.0] * a.shape[1] for _ in rows])


def time_per_matrix(fn, items) -> float:
    start = time.perf_counter()
    for x in items:
        fn(x)
    return (time.perf_counter() - start) / len(items)


def sandbox_cells_per_s() -> float:
    """Cells/s of the matrix path on a 10 x 20 matrix of trivial asserts, measured now.

    Raises:
        SandboxError: no Docker engine answers, or the sandbox image is missing.
    """
    from codepref.config import SandboxConfig
    from codepref.execution import SandboxPool
    from codepref.records import MatrixJob

    sols = [f"def f(x):\n    return x + {i % 2}\n" for i in range(10)]
    tests = [f"assert f({j}) == {j}" for j in range(20)]
    with SandboxPool(SandboxConfig()) as pool:
        list(pool.run_matrices([MatrixJob("warm", "python", sols[:2], tests[:2])]))  # start containers
        start = time.perf_counter()
        list(pool.run_matrices([MatrixJob("bench", "python", sols, tests, timeout_s=5.0)]))
        elapsed = time.perf_counter() - start
    return len(sols) * len(tests) / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--matrices", type=int, default=1000)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--naive", type=int, default=50, help="matrices for the pure-Python baseline")
    ap.add_argument("--no-sandbox", action="store_true", help="skip measuring the sandbox's cell rate")
    args = ap.parse_args()

    mats = random_matrices(args.matrices, args.size)
    records = [as_record(a) for a in mats]
    naive_rows = [a.tolist() for a in mats[:args.naive]]
    cells = args.matrices * args.size * args.size
    exec_s = None
    print(f"{args.matrices} random {args.size}x{args.size} matrices ({cells:,} cells)")
    if not args.no_sandbox:
        try:
            rate = sandbox_cells_per_s()
        except SandboxError as e:
            raise SystemExit(f"cannot measure the sandbox's execution rate: {e}\n"
                             "(pass --no-sandbox to time the scorers without the share of execution)") from None
        exec_s = cells / rate
        print(f"sandbox execution rate: {rate:.0f} cells/s (measured now, 10 x 20 matrix) "
              f"-> {exec_s:,.0f} s to execute these cells")
    print(f"\n{'scorer':<9} {'numpy ms':>9} {'PassMatrix ms':>14} {'naive ms':>9} {'naive/numpy':>12} "
          f"{'total s':>8}" + ("" if exec_s is None else f" {'share of execution':>19}"))
    for name in SCORERS:
        sc = get_scorer(name)
        for a, rows in zip(mats[:args.naive], naive_rows):  # same picks as the baseline
            picks, _ = sc.pick(a)
            got = (picks[0].chosen, picks[0].rejected) if picks else None
            want = naive_pick(name, rows)
            assert got == want, f"{name}: numpy {got} != naive {want}"
        t_np = time_per_matrix(sc.pick, mats)
        t_rec = time_per_matrix(sc.pick, records)
        t_naive = time_per_matrix(lambda r, n=name: naive_pick(n, r), naive_rows)
        total = t_rec * args.matrices
        print(f"{name:<9} {t_np * 1e3:>9.3f} {t_rec * 1e3:>14.3f} {t_naive * 1e3:>9.2f} {t_naive / t_np:>11.1f}x "
              f"{total:>8.2f}" + ("" if exec_s is None else f" {total / exec_s:>18.2e}"))
    print(f"\nratio = naive pure-Python time / numpy time per matrix (same picks, checked on {args.naive})"
          + ("." if exec_s is None else
             f"; share = scoring from PassMatrix records / sandbox time for the same {cells:,} cells "
             f"(1 in {math.floor(exec_s / max(total, 1e-9)):,})."))


if __name__ == "__main__":
    main()
