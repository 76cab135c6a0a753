"""The ``sqlfix`` benchmark as ``codepref evaluate`` and the pipeline run it.

:data:`SQLFIX_JUDGE` is its entry in :data:`codepref.evaluation.benchmarks.BENCHMARKS`.
:func:`run_sqlfix` judges a predictions file, or first has a ``generate`` callback write
one (``codepref evaluate --benchmark sqlfix --model M``; the pipeline's evaluate stage; the
judge's :meth:`SqlfixJudge.sample` writes it through the generate stage, see
:func:`codepref.sql.predict.predict_tasks`), with :func:`codepref.sql.evaluate.evaluate_sqlfix`,
and writes what the Python benchmarks write (:func:`codepref.evaluation.run.evaluate`): a
per-task results JSONL (resumable) and a summary JSON. The summary is
:func:`codepref.sql.evaluate.summarize`'s (success rate overall and per category) plus::

    {"tasks": 66, "tasks_in_benchmark": 66, "pass_at_k": {"sqlfix": {"pass@1": 0.18}},
     "predictions_file": ..., "results_file": ..., "wall_s": ..., "summary_file": ...}

The success rate of one prediction per task is its pass@1, so run summaries and reports
read it like any other benchmark's.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codepref.config import ClusterConfig, SandboxConfig
from codepref.errors import InputError
from codepref.records import Task, write_text_atomic

if TYPE_CHECKING:
    from codepref.config import GenerationConfig
    from codepref.evaluation.benchmarks import EvalSettings

SQLFIX = "sqlfix"
#: ``generate(tasks, predictions path) -> None``: writes one prediction per (pipeline, ``sql``)
#: task, e.g. :meth:`SqlfixJudge.sample`.
Generate = Callable[[list[Task], Path], None]
#: ``progress(unit) -> start(done, total) -> tick(n)``, e.g. ``codepref.cli.common.tqdm_progress``.
Progress = Callable[[str], Callable[[int, int], Callable[[int], Any]]]


def predictions_beside(results_path: str | os.PathLike[str]) -> Path:
    """``X.results.jsonl`` -> ``X.predictions.jsonl`` (where a model's predictions go)."""
    p = Path(results_path)
    return p.with_name(p.name.removesuffix(".jsonl").removesuffix(".results") + ".predictions.jsonl")


def run_sqlfix(
    predictions: str | os.PathLike[str] | None,
    *,
    results_path: str | os.PathLike[str] | None = None,
    summary_path: str | os.PathLike[str] | None = None,
    data: str | os.PathLike[str] | None = None,
    tasks_path: str | os.PathLike[str] | None = None,
    config: SandboxConfig | None = None,
    query_timeout_s: float = 5.0,
    generate: Generate | None = None,
    limit: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Judge sqlfix predictions (given, or made by ``generate``); return the summary (also written).

    Args:
        predictions: the predictions JSONL (formats of
            :func:`codepref.sql.evaluate.read_predictions`); None when ``generate`` makes it.
        results_path, summary_path: outputs (default: ``STEM.sqlfix.results.jsonl`` beside the
            predictions, and the summary beside the results).
        data: the database directory or a data root holding it as ``sql/`` (default
            ``$CODEPREF_DATA``).
        tasks_path: another task file instead of the shipped sqlfix set.
        config: sandbox settings (the database mount is added).
        query_timeout_s: wall-clock limit per SQL statement.
        generate: writes the predictions for the tasks (as pipeline tasks,
            :func:`codepref.tasks.sqlfix.to_task`); called with a path beside
            ``results_path`` (``X.predictions.jsonl``), which it may resume.
        limit: with ``generate``, only the first ``limit`` tasks are predicted and judged.
        progress: progress-bar factory.

    Raises:
        InputError: neither predictions nor ``generate`` and a results path; bad predictions
            (an unknown task id, with the closest known ones). ConfigError: no database
            directory. SandboxError: no sandbox.
    """
    from codepref.evaluation.run import default_outputs, summary_beside
    from codepref.sql import sqlfix_path
    from codepref.sql.evaluate import evaluate_sqlfix
    from codepref.sql.task import read_sql_tasks, sql_dir
    from codepref.tasks.sqlfix import to_task

    started = time.monotonic()
    directory = sql_dir(data)
    tasks = read_sql_tasks(tasks_path or sqlfix_path())
    if predictions is None:
        if generate is None or results_path is None:
            raise InputError("give a predictions file, or a model to predict with and an output path")
        predictions = predictions_beside(results_path)
        generate([to_task(t, directory) for t in (tasks[:limit] if limit else tasks)], predictions)
    else:
        limit = None
    results_path = Path(results_path or default_outputs(predictions, SQLFIX)[0])
    summary_path = Path(summary_path or summary_beside(results_path))
    summary, _ = evaluate_sqlfix(predictions, data=directory, out_path=results_path, tasks_path=tasks_path,
                                 config=config, query_timeout_s=query_timeout_s,
                                 progress=progress("tasks") if progress else None, limit=limit or None)
    summary.update(tasks=summary["n"], tasks_in_benchmark=len(tasks),
                   pass_at_k={summary["benchmark"]: {"pass@1": summary["success_rate"]}},
                   predictions_file=str(predictions), results_file=str(results_path),
                   wall_s=round(time.monotonic() - started, 2))
    write_text_atomic(summary_path, json.dumps(summary, indent=2) + "\n")
    summary["summary_file"] = str(summary_path)
    return summary


@dataclass(frozen=True)
class SqlfixJudge:
    """``sqlfix`` in the benchmark registry (:mod:`codepref.evaluation.benchmarks`): one
    predicted fix per task, judged by execution on SQLite (``codepref sql evaluate``); the
    success rate is its pass@1, reported per category too. ``test_timeout_s`` is the limit
    per SQL statement."""

    language: str = "sql"
    samples_per_task: int | None = 1
    test_timeout_s: float = 5.0
    sandbox_memory_mb: int | None = None
    needs_tasks_file: bool = False

    def samples_path(self, results_path: str | os.PathLike[str]) -> Path:
        return predictions_beside(results_path)

    def sample(self, tasks: list[Task], path: Path, config: GenerationConfig, *, benchmark: str,
               progress: Progress | None = None, cluster: ClusterConfig | None = None) -> None:
        """One fix per task into the predictions file ``path``, by the generate stage (on the
        generator actors of ``cluster`` when ``cluster.generate``)."""
        from codepref.sql.predict import predict_tasks

        predict_tasks(tasks, path, config, progress=progress("completions") if progress else None, cluster=cluster)

    def evaluate(self, settings: EvalSettings, progress: Progress | None = None) -> dict[str, Any]:
        generate = None
        if settings.generation is not None:
            generate = functools.partial(self.sample, config=settings.generation, benchmark=settings.benchmark,
                                         progress=progress, cluster=settings.cluster)
        return run_sqlfix(settings.samples, results_path=settings.results_path, summary_path=settings.summary_path,
                          data=settings.data, tasks_path=settings.tasks_path, config=settings.sandbox,
                          query_timeout_s=settings.judge.test_timeout_s, generate=generate, limit=settings.limit,
                          progress=progress)

    def report(self, summary: dict[str, Any]) -> tuple[list[str], list[str]]:
        head = (f"{summary['benchmark']} (tasks {summary['tasks_version']}): {summary['tasks']} of "
                f"{summary['tasks_in_benchmark']} tasks, success rate {summary['success_rate']:.1%}")
        return [head, format_summary(summary)], []


def format_summary(summary: dict[str, Any]) -> str:
    """A small table: category, n, successes, rate; then the total line and any notes."""
    rows = [f"{'category':<22}{'n':>4}{'ok':>5}{'rate':>8}"]
    for cat, c in summary["per_category"].items():
        rows.append(f"{cat:<22}{c['n']:>4}{c['success']:>5}{c['success_rate']:>8.1%}")
    rows.append(f"{'all':<22}{summary['n']:>4}{summary['success']:>5}{summary['success_rate']:>8.1%}")
    notes = [f"{k.replace('_', ' ')}: {summary[k]}" for k in ("missing", "timeouts", "sandbox_errors", "broken_tasks")
             if summary.get(k)]
    return "\n".join(rows + ([", ".join(notes)] if notes else []))


SQLFIX_JUDGE = SqlfixJudge()
