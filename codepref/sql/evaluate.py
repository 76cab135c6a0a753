"""Evaluating SQL fixes on a task set: success rate overall and per category.

:func:`evaluate_sql` judges one prediction per task with the sandboxed evaluator
(:mod:`codepref.sql.runner`), writes one record per task (resumable JSONL) and returns a
summary::

    {"benchmark": "sqlfix", "n": 66, "success": 12, "success_rate": 0.18,
     "per_category": {"join": {"n": 6, "success": 2, "success_rate": 0.33}, ...},
     "missing": 0, "timeouts": 1, "sandbox_errors": 0, "broken_tasks": 0}

A task *succeeds* when its prediction passes every test case and its ``issue_sql`` fails
(BIRD-CRITIC's rule; a task whose issue SQL passes counts as ``broken_tasks``). Tasks
without a prediction count as failed and are reported as ``missing``. Verdicts of
``sandbox_error`` count as failed too and are reported.

Prediction files (JSONL, one line per task, a codepref header line allowed) name the task
with ``instance_id`` (or ``task_id``) and give the SQL as ``pred_sqls`` (list or string),
``sql`` (string), or ``completion``/``solution`` (raw model output; the SQL is extracted
with :func:`codepref.sql.extract.extract_sql`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from codepref.config import SandboxConfig
from codepref.errors import InputError
from codepref.progress import Progress, Tick
from codepref.records import ResumableJsonl, iter_jsonl, make_header
from codepref.sql.runner import SqlJob, run_sql_jobs
from codepref.sql.task import SqlTask

PRED_KEYS = ("pred_sqls", "sql", "completion", "solution")


def read_predictions(path: str | os.PathLike[str], tasks: Iterable[SqlTask]) -> dict[str, list[str]]:
    """Read one prediction per task; ``instance_id -> list of SQL texts``.

    Raises:
        InputError: naming the line: no id, an unknown id (with the closest known ones), a
            duplicated id, no SQL field, a field of the wrong type, non-UTF-8 or bad JSON.
    """
    import difflib

    from codepref.sql.extract import extract_sql

    known = {t.instance_id for t in tasks}
    src = str(path)
    preds: dict[str, list[str]] = {}
    lines: dict[str, int] = {}
    for line, obj in iter_jsonl(path):
        iid = obj.get("instance_id", obj.get("task_id"))
        if not isinstance(iid, str) or not iid:
            raise InputError("missing 'instance_id' (or 'task_id')", src, line)
        if iid not in known:
            close = difflib.get_close_matches(iid, known, n=2)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise InputError(f"unknown task {iid!r}{hint}", src, line)
        if iid in preds:
            raise InputError(f"duplicate prediction for {iid!r} (first on line {lines[iid]})", src, line)
        key = next((k for k in PRED_KEYS if k in obj), None)
        if key is None:
            raise InputError(f"no SQL: give one of {', '.join(PRED_KEYS)}", src, line)
        value = obj[key]
        if key == "pred_sqls" and isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise InputError("'pred_sqls' must be a list of strings", src, line)
            sqls = value
        elif isinstance(value, str):
            sqls = [extract_sql(value)] if key in ("completion", "solution") else [value]
        else:
            raise InputError(f"{key!r} must be a string" + (" or a list of strings" if key == "pred_sqls" else ""),
                             src, line)
        preds[iid] = [s for s in sqls if s.strip()]
        lines[iid] = line
    return preds


def _record(task: SqlTask, verdict: dict[str, Any], pred: list[str] | None) -> dict[str, Any]:
    keep = ("status", "execution_error", "timeout_error", "assertion_error", "issue_sql_passed_unexpectedly",
            "passed_test_cases", "total_test_cases", "error_message", "sandbox_error", "duration_s", "issue")
    rec = {"instance_id": task.instance_id, "db_id": task.db_id, "category": task.category,
           "passed": verdict.get("status") == "success"}
    rec.update({k: verdict[k] for k in keep if k in verdict})
    rec["pred_sqls"] = pred
    return rec


def summarize(records: Iterable[dict[str, Any]], tasks: Iterable[SqlTask], benchmark: str = "") -> dict[str, Any]:
    """Success counts overall and per category from per-task records (see module docstring)."""
    by_id = {r["instance_id"]: r for r in records}
    tasks = list(tasks)
    per: dict[str, dict[str, Any]] = {}
    summary: dict[str, Any] = {"benchmark": benchmark, "n": len(tasks), "success": 0, "missing": 0,
                               "timeouts": 0, "sandbox_errors": 0, "broken_tasks": 0}
    for t in tasks:
        rec = by_id.get(t.instance_id)
        cat = per.setdefault(t.category or "uncategorized", {"n": 0, "success": 0})
        cat["n"] += 1
        if rec is None or rec.get("pred_sqls") is None:
            summary["missing"] += 1
            continue
        ok = bool(rec.get("passed"))
        summary["success"] += ok
        cat["success"] += ok
        summary["timeouts"] += bool(rec.get("timeout_error"))
        summary["sandbox_errors"] += bool(rec.get("sandbox_error"))
        summary["broken_tasks"] += bool(rec.get("issue_sql_passed_unexpectedly"))
    summary["success_rate"] = summary["success"] / summary["n"] if summary["n"] else 0.0
    for cat in per.values():
        cat["success_rate"] = cat["success"] / cat["n"]
    summary["per_category"] = dict(sorted(per.items()))
    return summary


def evaluate_sql(
    tasks: list[SqlTask],
    predictions: Mapping[str, list[str]],
    directory: Path,
    *,
    out_path: str | os.PathLike[str] | None = None,
    benchmark: str = "",
    pool=None,
    config: SandboxConfig | None = None,
    query_timeout_s: float = 5.0,
    progress: Progress | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Judge ``predictions`` (``instance_id -> SQL texts``) on ``tasks``.

    Args:
        tasks: the task set.
        predictions: one prediction per task id; tasks without one count as failed.
        directory: the database directory.
        out_path: per-task records JSONL (resumable; written atomically when complete). An
            existing file from other tasks or predictions is refused (OutputMismatchError).
        benchmark: the task set's name, for the header and summary.
        pool, config: the sandbox (see :func:`codepref.sql.runner.run_sql_jobs`).
        query_timeout_s: wall-clock limit per SQL statement.
        progress: ``progress(done, total) -> tick(n)`` factory for a progress bar.

    Returns:
        ``(summary, records)``; records are in task order.
    """
    from codepref.hashing import json_sha256

    digest = json_sha256({k: list(v) for k, v in predictions.items()}, 16, compact=False)
    settings = {"benchmark": benchmark, "query_timeout_s": query_timeout_s,
                "tasks": sorted(t.instance_id for t in tasks), "predictions_sha256": digest}
    out = None
    done: dict[str, dict[str, Any]] = {}
    if out_path is not None:
        out = ResumableJsonl(out_path, make_header("sql_eval", settings), key=lambda r: r["instance_id"])
        keys = out.open()
        src = out.partial
        done = {obj["instance_id"]: obj for _, obj in iter_jsonl(src) if obj.get("instance_id") in keys}
    try:
        records: dict[str, dict[str, Any]] = dict(done)
        todo = [t for t in tasks if t.instance_id not in done]
        jobs = []
        for t in todo:
            pred = predictions.get(t.instance_id)
            if pred is None:
                rec = _record(t, {"status": "failed", "error_message": "no prediction"}, None)
                records[t.instance_id] = rec
                if out is not None:
                    out.append(rec)
            else:
                jobs.append(SqlJob(t.instance_id, t, list(pred)))
        tick = progress(len(tasks) - len(jobs), len(tasks)) if progress else None
        for job, verdict in run_sql_jobs(jobs, directory, pool=pool, config=config,
                                         query_timeout_s=query_timeout_s, progress=tick):
            rec = _record(job.task, verdict, job.pred_sqls)
            records[job.task.instance_id] = rec
            if out is not None:
                out.append(rec)
        if out is not None:
            out.finalize()
    finally:
        if out is not None:
            out.close()
    ordered = [records[t.instance_id] for t in tasks if t.instance_id in records]
    return summarize(ordered, tasks, benchmark), ordered


def verify_tasks(
    tasks: list[SqlTask],
    directory: Path,
    *,
    pool=None,
    config: SandboxConfig | None = None,
    query_timeout_s: float = 5.0,
    progress: Tick | None = None,
) -> list[dict[str, Any]]:
    """Check every task in the sandbox: its gold ``sol_sql`` passes and its ``issue_sql`` fails.

    Returns one dict per task (task order): ``instance_id``, ``gold_passes``,
    ``issue_fails`` and the evaluator's messages.
    """
    jobs = [SqlJob(t.instance_id, t, None) for t in tasks]
    found: dict[str, dict[str, Any]] = {}
    for job, v in run_sql_jobs(jobs, directory, pool=pool, config=config, query_timeout_s=query_timeout_s,
                               progress=progress):
        gold_ok = not (v.get("execution_error") or v.get("timeout_error") or v.get("assertion_error"))
        found[job.key] = {"instance_id": job.key, "category": job.task.category, "gold_passes": bool(gold_ok),
                          "issue_fails": not v.get("issue_sql_passed_unexpectedly", True) and "issue" in v,
                          "error_message": v.get("error_message", ""), "issue": v.get("issue")}
    return [found[t.instance_id] for t in tasks]


def evaluate_sqlfix(
    predictions_path: str | os.PathLike[str],
    *,
    data: str | os.PathLike[str] | None = None,
    out_path: str | os.PathLike[str] | None = None,
    tasks_path: str | os.PathLike[str] | None = None,
    config: SandboxConfig | None = None,
    query_timeout_s: float = 5.0,
    progress: Progress | None = None,
    limit: int | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ``sqlfix`` benchmark in one call (``codepref evaluate --benchmark sqlfix`` runs it
    through :func:`codepref.sql.benchmark.run_sqlfix`).

    Args:
        predictions_path: one line per task (``instance_id``/``task_id`` and ``pred_sqls``,
            ``sql``, or a raw ``completion``/``solution``; see :func:`read_predictions`).
        data: the database directory (default ``$CODEPREF_DATA``).
        out_path: per-task records JSONL (resumable); None keeps them in memory only.
        tasks_path: another task file instead of the shipped sqlfix set.
        config, query_timeout_s, progress: see :func:`evaluate_sql`.
        limit: judge only the first ``limit`` tasks (predictions must be for those).

    Returns:
        ``(summary, records)``: success rate overall and per category, and one record per task.
    """
    from codepref.sql import file_version, sqlfix_path
    from codepref.sql.task import read_sql_tasks, sql_dir

    directory = sql_dir(data)
    path = Path(tasks_path) if tasks_path else sqlfix_path()
    tasks = read_sql_tasks(path)[:limit]
    preds = read_predictions(predictions_path, tasks)
    summary, records = evaluate_sql(tasks, preds, directory, out_path=out_path,
                                    benchmark="sqlfix" if tasks_path is None else path.stem, config=config,
                                    query_timeout_s=query_timeout_s, progress=progress)
    summary["tasks_version"] = file_version(path)
    return summary, records
