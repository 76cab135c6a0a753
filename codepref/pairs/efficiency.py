"""CodeDPO efficiency pairs: among solutions that pass the trusted tests, prefer the faster.

Per task (Python tasks only: the timing harness runs inside the solution's process):

1. *trusted tests*: the tests passed by the scorer's top-ranked solution (the same
   scorer that made the correctness pairs);
2. *candidates*: distinct non-empty solutions passing every trusted test (and, with the
   prompt gate, every test the prompt states), best-scored first, at most ``max_candidates``;
3. each candidate runs in the sandbox as ``solution + harness``. The harness compiles the
   trusted tests once and times one pass over all of them with :mod:`timeit`: ``autorange``
   picks a loop count ``N`` that takes >= 0.2 s, then ``repeat`` measurements of ``N``
   loops each give per-pass times ``t_1..t_R`` (measured inside the process, so process
   start and import costs are not counted);
4. the fastest and slowest candidates (then the 2nd fastest and 2nd slowest ...) form a
   pair when the difference is beyond noise: ``median(slow) / median(fast) >= min_speedup``
   **and** the measurements do not overlap, ``max(t_fast) < min(t_slow)``.

A pair's ``chosen_score`` is 1.0 and its ``rejected_score`` is ``median(fast) /
median(slow)`` (relative speed); ``kind`` is "efficiency". Candidates whose timing run
does not pass (a flaky test, a timeout) are left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from codepref.errors import ConfigError
from codepref.pairs.build import PairOptions, candidates, gate, skip_reason
from codepref.pairs.data import TaskData
from codepref.progress import Tick
from codepref.records import Outcome, Program
from codepref.scoring.base import Pick, Scorer, clean

MARK = "CODEPREF_TIMES "

HARNESS = '''

import json as _cp_json, timeit as _cp_timeit
_cp_codes = [compile(_cp_src, "<test>", "exec") for _cp_src in _cp_json.loads({tests!r})]
def _cp_pass():
    for _cp_code in _cp_codes:
        exec(_cp_code, globals())
_cp_timer = _cp_timeit.Timer(_cp_pass)
_cp_number, _ = _cp_timer.autorange()
print({mark!r} + _cp_json.dumps([t / _cp_number for t in _cp_timer.repeat(repeat={repeats}, number=_cp_number)]))
'''


@dataclass(frozen=True)
class EfficiencyOptions:
    """Efficiency pair settings.

    Attributes:
        repeats: timed measurements per candidate (>= 3).
        min_speedup: smallest ``median(slow) / median(fast)`` that counts (>= 1).
        max_candidates: most candidates timed per task (>= 2).
        timeout_s: wall-clock limit of one candidate's timing run.
    """

    repeats: int = 5
    min_speedup: float = 1.2
    max_candidates: int = 4
    timeout_s: float = 20.0

    def __post_init__(self) -> None:
        problems = []
        if self.repeats < 3:
            problems.append(f"efficiency repeats must be >= 3, got {self.repeats}")
        if self.min_speedup < 1:
            problems.append(f"min_speedup must be >= 1, got {self.min_speedup}")
        if self.max_candidates < 2:
            problems.append(f"max_candidates must be >= 2, got {self.max_candidates}")
        if self.timeout_s <= 0:
            problems.append(f"efficiency timeout_s must be > 0, got {self.timeout_s}")
        if problems:
            raise ConfigError(problems)


def timing_program(solution: str, tests: list[str], repeats: int) -> str:
    """``solution`` followed by the timing harness over ``tests``."""
    return solution.rstrip() + "\n" + HARNESS.format(tests=json.dumps(tests), mark=MARK, repeats=repeats)


def parse_times(stdout: str) -> list[float] | None:
    """The per-pass times printed by the harness, or None."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARK):
            try:
                times = json.loads(line[len(MARK):])
            except json.JSONDecodeError:
                return None
            return [float(t) for t in times] if times else None
    return None


def efficiency_plan(task: TaskData, scorer: Scorer, options: PairOptions,
                    eff: EfficiencyOptions) -> tuple[list[int], list[int]]:
    """``(candidate rows, trusted test columns)`` of one task; empty when it has none."""
    if task.language != "python" or skip_reason(task, PairOptions(skip_uniform=False)):
        return [], []
    c = clean(task.matrix)
    scores = scorer.score_cleaned(c) if hasattr(scorer, "score_cleaned") else scorer.score(task.matrix)
    ok_rows = gate(task) if options.prompt_gate else None
    pool = [i for i in candidates(task.solutions, options.dedupe)
            if not np.isnan(scores[i]) and (ok_rows is None or ok_rows[i])]
    if len(pool) < 2:
        return [], []
    pos = {int(r): k for k, r in enumerate(c.rows)}
    top = max(pool, key=lambda i: (scores[i], -i))
    trusted = np.flatnonzero(c.passed[pos[top]])
    if not trusted.size:
        return [], []
    ok = [i for i in pool if c.passed[pos[i], trusted].all()]
    if len(ok) < 2:
        return [], []
    ok.sort(key=lambda i: (-scores[i], i))
    return ok[:eff.max_candidates], [int(c.cols[j]) for j in trusted]


def pick_faster(times: dict[int, list[float]], k: int, min_speedup: float) -> list[Pick]:
    """Pairs (fast, slow) whose speed difference is beyond noise (see the module docstring)."""
    med = {i: float(np.median(t)) for i, t in times.items()}
    fast = sorted(times, key=lambda i: (med[i], i))
    slow = sorted(times, key=lambda i: (-med[i], i))
    picks: list[Pick] = []
    used: set[int] = set()
    for f, s in zip(fast, slow):
        if len(picks) >= k or f == s or f in used or s in used:
            break
        ratio = med[s] / med[f] if med[f] > 0 else float("inf")
        if ratio < min_speedup or max(times[f]) >= min(times[s]):
            break
        why = (f"efficiency: #{f} runs the trusted tests in {med[f] * 1e3:.3g} ms (median of {len(times[f])}) "
               f"vs {med[s] * 1e3:.3g} ms for #{s}: {ratio:.2f}x faster, no overlap of the measurements")
        picks.append(Pick(f, s, 1.0, med[f] / med[s], None, None, why))
        used.update((f, s))
    return picks


def efficiency_picks(tasks: list[TaskData], scorer: Scorer, options: PairOptions, eff: EfficiencyOptions,
                     pool, progress: Tick | None = None):
    """Yield ``(task, picks)`` for every task with >= 2 timed candidates.

    Args:
        pool: a :class:`~codepref.execution.SandboxPool` to time candidates in.
        progress: called with 1 per timing run finished.
    """
    plans = []
    programs = []
    for t, task in enumerate(tasks):
        rows, trusted = efficiency_plan(task, scorer, options, eff)
        if len(rows) < 2:
            continue
        tests = [task.tests[j] for j in trusted]
        plans.append((t, task, rows))
        programs += [Program(f"{t}:{r}", task.language, timing_program(task.solutions[r], tests, eff.repeats),
                             eff.timeout_s) for r in rows]
    results = {}
    for res in pool.iter_run(programs, progress):
        results[res.id] = res
    for t, task, rows in plans:
        times = {}
        for r in rows:
            res = results.get(f"{t}:{r}")
            if res is not None and res.outcome is Outcome.PASSED:
                parsed = parse_times(res.stdout)
                if parsed:
                    times[r] = parsed
        if len(times) >= 2:
            picks = pick_faster(times, options.pairs_per_task, eff.min_speedup)
            if picks:
                yield task, picks
