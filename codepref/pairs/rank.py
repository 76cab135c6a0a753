"""The rank stage: samples + pass matrices -> DPO pairs or KTO samples (``codepref rank``).

Reads the samples (``codepref generate``) and matrices (``codepref execute``), scores every
task with one registered scorer, builds records with :mod:`codepref.pairs.build` and, if
asked, adds CodeDPO efficiency pairs timed in the sandbox (:mod:`codepref.pairs.efficiency`).
With ``consensus = "behaviour"`` it first runs every candidate on the inputs of the model's
tests in the sandbox (:mod:`codepref.pairs.behaviour`), about one run per candidate.
The output header records the settings, the input files' hashes and ``tasks_total`` (the
tasks ranked, the denominator of coverage in ``codepref audit``). Correctness records take
milliseconds; the output is still written the resumable way (append, atomic rename), so an
interrupted efficiency run keeps what it timed.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codepref.config import SandboxConfig
from codepref.errors import ConfigError
from codepref.execution import sandbox_pool
from codepref.hashing import file_sha256, json_sha256
from codepref.pairs.build import FORMATS, RECORDS, BuildStats, PairOptions, build_records
from codepref.pairs.data import load_task_data
from codepref.pairs.efficiency import EfficiencyOptions, efficiency_picks
from codepref.progress import Progress
from codepref.records import ResumableJsonl, make_header
from codepref.scoring import get_scorer


@dataclass
class RankResult:
    """What ``rank_file`` wrote."""

    path: Path
    stats: BuildStats
    efficiency_records: int = 0
    efficiency_tasks: int = 0
    skipped_existing: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = self.stats.summary()
        if self.efficiency_records:
            text += f"; {self.efficiency_records} efficiency records from {self.efficiency_tasks} tasks"
        return "; ".join([text, *self.notes])


@dataclass(frozen=True)
class EfficiencyTiming:
    """Where and how efficiency candidates are timed (``rank_file``'s efficiency arguments).

    Attributes:
        options: the efficiency settings (repeats, min_speedup ...).
        config: sandbox settings of a pool opened for the timing (default ``SandboxConfig()``).
        pool: an open :class:`~codepref.execution.SandboxPool` to time in instead.
        progress: ``progress(done, total) -> tick(n)`` factory, ticked per timing run.
    """

    options: EfficiencyOptions
    config: SandboxConfig | None = None
    pool: Any = None
    progress: Callable[[int, int], Callable[[int], None]] | None = None


def record_key(r: dict[str, Any]) -> tuple:
    """A record's identity in the output: task, kind, pair number, label (KTO)."""
    return (r["task_id"], r.get("kind", "correctness"), r.get("pair", 0), r.get("label"))


def rank_file(
    samples_path: str | os.PathLike[str],
    matrices_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    scorer: str = "pagerank",
    scorer_options: dict[str, Any] | None = None,
    fmt: str = "dpo",
    options: PairOptions | None = None,
    prompts: dict[str, str] | None = None,
    allow_ground_truth: bool = False,
    efficiency: EfficiencyOptions | None = None,
    config: SandboxConfig | None = None,
    pool=None,
    progress: Progress | None = None,
) -> RankResult:
    """Score every task and write DPO or KTO records to ``out_path``.

    Args:
        scorer: a name in :data:`codepref.scoring.SCORERS`.
        scorer_options: keyword options of the scorer (e.g. ``{"damping": 0.9}``).
        fmt: ``"dpo"`` or ``"kto"``.
        options: pair-building options (:class:`PairOptions`).
        prompts: task id -> prompt (else the samples' ``prompt`` field).
        allow_ground_truth: permit a ground-truth scorer (the oracle), whose matrices must
            come from hidden tests; off by default so training data never uses them by
            accident.
        efficiency: add efficiency pairs (DPO only) with these settings; needs Docker.
        config: sandbox settings for efficiency timing and behaviour signatures
            (``options.consensus = "behaviour"``); pool: an open SandboxPool instead.
        progress: progress factory for those sandbox runs.

    Raises:
        ConfigError: unknown format, scorer options, a ground-truth scorer not allowed, or
            efficiency pairs asked in KTO format.
        InputError: bad input files (see :func:`codepref.pairs.data.load_task_data`).
        OutputMismatchError: ``out_path`` was written with other settings or inputs.
    """
    options = options or PairOptions()
    if fmt not in FORMATS:
        raise ConfigError([f"format must be one of {', '.join(FORMATS)}, got {fmt!r}"])
    if efficiency is not None and fmt != "dpo":
        raise ConfigError(["efficiency pairs are DPO pairs; use --format dpo"])
    sc = get_scorer(scorer, **(scorer_options or {}))
    if sc.ground_truth and not allow_ground_truth:
        raise ConfigError([f"scorer {scorer!r} uses ground-truth tests and is for audits only; "
                           "pass --allow-ground-truth if these matrices really come from hidden tests"])
    tasks = load_task_data(samples_path, matrices_path, prompts)
    settings = {
        "scorer": scorer,
        "scorer_options": scorer_options or {},
        "format": fmt,
        "options": dataclasses.asdict(options),
        "efficiency": dataclasses.asdict(efficiency) if efficiency else None,
        "samples_sha256": file_sha256(samples_path),
        "matrices_sha256": file_sha256(matrices_path),
        "prompts_sha256": json_sha256({t.task_id: t.prompt for t in tasks}, 16, compact=False),
    }
    header = make_header("pairs" if fmt == "dpo" else "kto_samples", settings, tasks_total=len(tasks))
    out = ResumableJsonl(out_path, header, key=record_key)
    done = out.open()
    result = RankResult(Path(out_path), BuildStats(), skipped_existing=len(done))
    try:
        if options.consensus == "behaviour" and options.min_cluster > 1:
            tasks = _with_behaviours(tasks, pool, config, progress, options.dedupe, result.notes)
        for _task, _picks, records in build_records(tasks, sc, options, fmt, result.stats):
            out.extend(r for r in records if record_key(r) not in done)
        if efficiency is not None:
            timing = EfficiencyTiming(efficiency, config=config, pool=pool, progress=progress)
            result.efficiency_records, result.efficiency_tasks = _efficiency(tasks, sc, options, timing, out, done)
        out.finalize()
    finally:
        out.close()
    return result


def _with_behaviours(tasks: list, pool, config: SandboxConfig | None, progress: Progress | None, dedupe: bool,
                     notes: list[str]) -> list:
    """``tasks`` with their behaviour signatures (:mod:`codepref.pairs.behaviour`), each
    candidate run once in the sandbox; a note says how many tasks count pass vectors instead."""
    from codepref.pairs.behaviour import signatures

    with sandbox_pool(pool, config or SandboxConfig()) as sandbox:
        sigs = signatures(tasks, sandbox, progress, dedupe)
    missing = sum(t.task_id not in sigs for t in tasks)
    if missing:
        notes.append(f"{missing} of {len(tasks)} tasks have no behaviour signatures (not Python, or their tests "
                     "call nothing): their consensus counts pass vectors")
    return [dataclasses.replace(t, behaviours=sigs[t.task_id]) if t.task_id in sigs else t for t in tasks]


def _efficiency(tasks, sc, options: PairOptions, timing: EfficiencyTiming, out: ResumableJsonl,
                done: set) -> tuple[int, int]:
    """Time the candidates of the tasks without efficiency records in ``done``, append their
    efficiency pairs to ``out``; return ``(records, tasks)`` written."""
    from codepref.pairs.efficiency import efficiency_plan

    todo = [t for t in tasks if (t.task_id, "efficiency", 0, None) not in done]
    runs = sum(len(efficiency_plan(t, sc, options, timing.options)[0]) for t in todo)
    runs = runs if runs >= 2 else 0
    if not runs:
        return 0, 0
    tick = timing.progress(0, runs) if timing.progress else None
    written = timed = 0
    with sandbox_pool(timing.pool, timing.config or SandboxConfig()) as sandbox:
        for task, picks in efficiency_picks(todo, sc, options, timing.options, sandbox, tick):
            records = RECORDS["dpo"](task, picks, f"{sc.name}+efficiency", options, kind="efficiency")
            out.extend(r for r in records if record_key(r) not in done)
            written += len(records)
            timed += 1
    return written, timed
