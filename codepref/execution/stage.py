"""The execute stage: generated samples -> one solution x test pass matrix per task.

``codepref execute --samples S.jsonl --out M.jsonl`` reads :class:`~codepref.records.Sample`
lines (from ``codepref generate``), groups them by task, and runs every candidate solution
against every candidate test through :meth:`SandboxPool.run_matrices` (each Python solution
is loaded once, each test runs in a fresh fork of it). Output: one line per task, a
:class:`~codepref.records.PassMatrix` plus the sample indices of its rows and columns::

    {"task_id", "outcomes": [[..per test..] per solution], "durations": [[..]],
     "solution_index": [i, ...], "test_index": [j, ...], "language": "python"}

Details that matter for scoring:

* rows are *all* solution samples in index order, duplicates included (CodeT counts
  identical samples as separate votes); identical solution texts are executed once and
  their row is copied.
* columns are the distinct, non-empty test samples in index order (an identical test
  sampled twice would otherwise count twice).
* a task with no test gets an ``n x 0`` matrix; one with no solution an empty matrix.

The output is resumable: finished tasks are skipped on a rerun, and a file written from
other samples or settings is refused (:class:`~codepref.errors.OutputMismatchError`).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from typing import Any

from codepref.config import ClusterConfig, SandboxConfig
from codepref.errors import InputError
from codepref.execution.executor import open_executor
from codepref.hashing import file_sha256
from codepref.progress import Progress
from codepref.records import MatrixJob, PassMatrix, ResumableJsonl, Task, make_header
from codepref.samples import TaskSamples, distinct_tests, read_generated_samples


def execute_samples(
    samples_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    config: SandboxConfig | None = None,
    *,
    tasks: dict[str, Task] | None = None,
    language: str = "python",
    cell_timeout_s: float = 5.0,
    progress: Progress | None = None,
    pool=None,
    cluster: ClusterConfig | None = None,
) -> Counter:
    """Build every task's pass matrix from a samples file; return outcome counts.

    Args:
        samples_path: ``codepref generate`` output.
        out_path: the matrices JSONL (resumed if partly written).
        config: sandbox settings (default :class:`SandboxConfig()`).
        tasks: task id -> :class:`Task`, giving each task's language and setup code; every
            sampled task must be in it. Without it every task is ``language`` with no setup.
        language: the language of every task when ``tasks`` is None.
        cell_timeout_s: wall-clock limit per solution x test cell.
        progress: started with ``(0, total_cells)``, ticked per cell.
        pool: a :class:`SandboxPool` or other executor to use (one is made and closed if None).
        cluster: where the cells run when ``pool`` is None (default: this machine's pool);
            the records are the same on every backend, so it is not part of the settings hash.

    Raises:
        InputError: bad sample lines, or a sampled task missing from ``tasks``.
        OutputMismatchError: ``out_path`` holds results of other samples or settings.
    """
    config = config or SandboxConfig()
    if cell_timeout_s <= 0:
        raise InputError(f"cell timeout must be > 0, got {cell_timeout_s}")
    grouped = read_generated_samples(samples_path)
    if tasks is not None:
        missing = [t for t in grouped if t not in tasks]
        if missing:
            raise InputError(f"{len(missing)} sampled task(s) are not in the task set, e.g. {missing[0]!r}",
                             str(samples_path))
    settings = {
        "samples_sha256": file_sha256(samples_path),
        "cell_timeout_s": cell_timeout_s,
        "language": None if tasks is not None else language,
        **{k: getattr(config, k) for k in ("image", "memory_mb", "cpus", "pids_limit")},
    }
    out = ResumableJsonl(out_path, make_header("pass_matrices", settings), key=lambda r: r["task_id"])
    done = out.open()
    counts: Counter = Counter()
    try:
        plans = [_plan(ts, tasks, language, cell_timeout_s) for ts in grouped.values() if ts.task_id not in done]
        for plan in plans:
            if not plan.job.tests or not plan.job.solutions:
                out.append(plan.record(PassMatrix(plan.job.task_id, [[] for _ in plan.rows], [[] for _ in plan.rows])))
        runnable = [p for p in plans if p.job.tests and p.job.solutions]
        total = sum(len(p.job.solutions) * len(p.job.tests) for p in runnable)
        tick = progress(0, total) if progress else None
        if runnable:
            by_id = {p.job.task_id: p for p in runnable}
            with open_executor(pool, config, cluster) as sandbox:
                for matrix in sandbox.run_matrices([p.job for p in runnable], tick):
                    rec = by_id[matrix.task_id].record(matrix)
                    out.append(rec)
                    counts.update(o for row in rec["outcomes"] for o in row)
        out.finalize()
    finally:
        out.close()
    return counts


@dataclass
class _Plan:
    """One task's job over distinct solutions, and how to expand it back to all rows."""

    job: MatrixJob
    rows: list[int]  # row r of the output is distinct solution rows[r] of the job
    solution_index: list[int]
    test_index: list[int]

    def record(self, m: PassMatrix) -> dict[str, Any]:
        d = PassMatrix(m.task_id, [m.outcomes[r] for r in self.rows] if m.outcomes else [[] for _ in self.rows],
                       [m.durations[r] for r in self.rows] if m.durations else [[] for _ in self.rows]).to_dict()
        d.update(solution_index=self.solution_index, test_index=self.test_index, language=self.job.language)
        return d


def _plan(ts: TaskSamples, tasks: dict[str, Task] | None, language: str, timeout_s: float) -> _Plan:
    task = tasks[ts.task_id] if tasks is not None else None
    texts: dict[str, int] = {}
    rows = [texts.setdefault(text, len(texts)) for _, text in ts.solutions]
    tests = distinct_tests(ts.tests)
    job = MatrixJob(ts.task_id, task.language if task else language, list(texts), [t for _, t in tests],
                    task.setup if task else "", timeout_s)
    return _Plan(job, rows, [i for i, _ in ts.solutions], [i for i, _ in tests])
