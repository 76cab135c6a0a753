"""Comparing two evaluations task by task: pass@1, a paired bootstrap CI and McNemar's test.

An *evaluation* is one or more benchmarks' per-task results, read from

* a results JSONL of ``codepref evaluate`` (one line per task: ``task_id``, ``n`` judged
  samples, ``correct`` ones; the header names the benchmark and its task set);
* a JSONL of compact lines ``{"task_id", "passed": true|false}`` (one sample per task;
  ``instance_id`` is read as ``task_id``, so sqlfix results files work as they are);
* a folder holding ``BENCH.results.jsonl`` files (``RUN/eval/NAME/`` of ``codepref run``);
* a run directory of ``codepref run``: its last evaluation (``eval/roundK`` with the highest
  K, else ``eval/before``). :func:`run_evaluations` gives its ``before`` and last
  evaluations, to compare a run with itself.

For each benchmark both evaluations have, :func:`compare` pairs the tasks and reports

* pass@1 of each: the mean over tasks of the task's pass fraction ``correct / n`` (the
  unbiased pass@1 for any n);
* their difference ``after - before`` and a **paired bootstrap** 95% interval: task indices
  are resampled with replacement (``resamples`` times, numpy's ``default_rng(seed)``), the
  mean per-task difference is recomputed on each resample, and the interval is the 2.5th and
  97.5th percentile of those means;
* the **exact McNemar** p-value when every task has one sample on both sides: a two-sided
  exact binomial test on the discordant tasks, ``b`` fail->pass and ``c`` pass->fail:
  ``p = min(1, 2 * sum_{i <= min(b, c)} C(b + c, i) / 2^(b + c))``, and 1 when ``b + c = 0``
  (None with more samples per task: the pairs are not binary);
* the tasks won (pass fraction up; fail->pass with one sample) and lost (down).

``pool=True`` adds the same over all compared benchmarks' tasks together (each task weighs
the same). Inputs that cannot be paired are refused with
:class:`~codepref.errors.InputError`: different benchmarks or task sets (by the headers'
task-set name and sha256 when both have them), different task ids, or different evaluation
protocols (a header's ``protocol``) unless ``allow_mixed_protocols``. A task without a
valid sample on either side (every sample hit a sandbox failure) is left out of the pair
and listed in ``excluded``.

:func:`summary` gives the shape the experiment writes as ``summary.json``::

    {"pooled": {"before", "after", "delta", "ci_low", "ci_high", "mcnemar_p"}, "<bench>": {...}}
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from codepref.errors import InputError
from codepref.records import iter_jsonl, read_header

RESULTS_SUFFIX = ".results.jsonl"
#: Bootstrap resamples and seed when none are given.
RESAMPLES = 10_000
SEED = 0
SUMMARY_KEYS = ("before", "after", "delta", "ci_low", "ci_high", "mcnemar_p")


@dataclass(frozen=True)
class Results:
    """One benchmark's per-task results from one file.

    Attributes:
        label: the benchmark's name: the header's, else from the file name.
        source: the file.
        scores: task id -> ``(correct, n)``; ``n == 0``: no valid sample.
        benchmark: the header's benchmark name, if the file has one.
        task_set: the header's task set (``name``, ``version``, ``sha256`` ...), if any.
        protocol: the header's evaluation protocol, if any.
    """

    label: str
    source: str
    scores: dict[str, tuple[int, int]]
    benchmark: str | None = None
    task_set: dict[str, Any] | None = None
    protocol: Any = None


@dataclass(frozen=True)
class BenchComparison:
    """The comparison of one benchmark (or the pool of several).

    Attributes:
        benchmark: the benchmark's name (``pooled`` for the pool).
        tasks: the paired tasks the numbers are over.
        before, after: pass@1 of each side (fractions).
        delta: ``after - before``.
        ci_low, ci_high: the paired bootstrap interval of ``delta``.
        mcnemar_p: the exact McNemar p-value, or None unless one sample per task.
        won, lost: task ids whose pass fraction went up / down.
        excluded: task ids left out (no valid sample on a side).
        protocol: the evaluation protocol of both sides (``[a, b]`` when they differ).
    """

    benchmark: str
    tasks: int
    before: float
    after: float
    delta: float
    ci_low: float
    ci_high: float
    mcnemar_p: float | None
    won: list[str]
    lost: list[str]
    excluded: list[str] = field(default_factory=list)
    protocol: Any = None

    def summary(self) -> dict[str, float | None]:
        """The six numbers of ``summary.json``."""
        return {k: getattr(self, k) for k in SUMMARY_KEYS}

    def to_dict(self) -> dict[str, Any]:
        return {"benchmark": self.benchmark, "tasks": self.tasks, **self.summary(), "won": self.won,
                "lost": self.lost, "excluded": self.excluded, "protocol": self.protocol}


@dataclass(frozen=True)
class Comparison:
    """Every compared benchmark, the pool (if asked), and how the numbers were made."""

    a: str
    b: str
    benchmarks: dict[str, BenchComparison]
    pooled: BenchComparison | None
    resamples: int
    seed: int
    unmatched: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "resamples": self.resamples, "seed": self.seed, "level": 0.95,
                "benchmarks": {k: v.to_dict() for k, v in self.benchmarks.items()},
                "pooled": self.pooled.to_dict() if self.pooled else None, "unmatched": self.unmatched,
                "summary": summary(self)}


# ----------------------------------------------------------------------------- statistics


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value of ``b`` fail->pass and ``c`` pass->fail tasks."""
    if b < 0 or c < 0:
        raise ValueError(f"counts must be >= 0, got {b}, {c}")
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    return float(min(Fraction(1), Fraction(2 * tail, 2 ** n)))


def paired_bootstrap(before, after, *, resamples: int = RESAMPLES, seed: int = SEED,
                     level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the mean of ``after - before`` over tasks resampled with replacement.

    Args:
        before, after: per-task scores, the same tasks in the same order.
        resamples: bootstrap resamples; seed: for ``numpy.random.default_rng``.
        level: the interval's coverage (0.95: the 2.5th and 97.5th percentiles).
    """
    import numpy as np

    d = np.asarray(after, dtype=float) - np.asarray(before, dtype=float)
    n = len(d)
    if n == 0:
        raise ValueError("no tasks to resample")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    rows = max(1, 2_000_000 // n)  # resamples per chunk: bounded memory for any task count
    for start in range(0, resamples, rows):
        k = min(rows, resamples - start)
        means[start:start + k] = d[rng.integers(0, n, size=(k, n))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def compare_scores(name: str, before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], *,
                   resamples: int = RESAMPLES, seed: int = SEED, protocol: Any = None) -> BenchComparison:
    """Compare two ``task id -> (correct, n)`` maps over the same task ids (sorted)."""
    if set(before) != set(after):
        raise InputError(f"{name}: the two sides cover different tasks; a paired comparison needs the same tasks")
    excluded = sorted(t for t in before if before[t][1] == 0 or after[t][1] == 0)
    ids = sorted(t for t in before if before[t][1] > 0 and after[t][1] > 0)
    if not ids:
        raise InputError(f"{name}: no task has a valid sample on both sides")
    fb = [before[t][0] / before[t][1] for t in ids]
    fa = [after[t][0] / after[t][1] for t in ids]
    won = [t for t, x, y in zip(ids, fb, fa) if y > x]
    lost = [t for t, x, y in zip(ids, fb, fa) if y < x]
    single = all(before[t][1] == 1 and after[t][1] == 1 for t in ids)
    mean_b, mean_a = sum(fb) / len(ids), sum(fa) / len(ids)
    low, high = paired_bootstrap(fb, fa, resamples=resamples, seed=seed)
    return BenchComparison(name, len(ids), mean_b, mean_a, mean_a - mean_b, low, high,
                           mcnemar_exact(len(won), len(lost)) if single else None, won, lost, excluded, protocol)


# ----------------------------------------------------------------------------- reading


def _label(path: Path) -> str:
    name = path.name
    for suffix in (RESULTS_SUFFIX, ".jsonl"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def read_results(path: str | os.PathLike[str]) -> Results:
    """Per-task results of one file (any of the line formats in the module docstring).

    Raises:
        InputError: a missing file, a line without a task id or verdict, a task twice, no tasks.
    """
    p = Path(path)
    if not p.is_file():
        partial = p.with_name(p.name + ".partial")
        hint = " (only an unfinished .partial exists: finish that evaluation first)" if partial.is_file() else ""
        raise InputError(f"no results file{hint}", str(p))
    header = read_header(p) or {}
    settings = header.get("settings") if isinstance(header.get("settings"), dict) else {}
    scores: dict[str, tuple[int, int]] = {}
    for line, obj in iter_jsonl(p):
        tid = obj.get("task_id", obj.get("instance_id"))
        if not isinstance(tid, (str, int)) or isinstance(tid, bool):
            raise InputError("missing 'task_id' (or 'instance_id')", str(p), line)
        tid = str(tid)
        if tid in scores:
            raise InputError(f"task {tid!r} appears twice", str(p), line)
        scores[tid] = _score(obj, str(p), line)
    if not scores:
        raise InputError("no task results in the file", str(p))
    benchmark = settings.get("benchmark") if isinstance(settings.get("benchmark"), str) else None
    task_set = header.get("task_set", settings.get("task_set"))
    protocol = header.get("protocol", settings.get("protocol"))
    return Results(benchmark or _label(p), str(p), scores, benchmark,
                   task_set if isinstance(task_set, dict) else None, protocol)


def _score(obj: dict[str, Any], src: str, line: int) -> tuple[int, int]:
    """``(correct, n)`` of one line: ``n``/``correct`` counts, else a boolean ``passed``."""
    if "n" in obj and "correct" in obj:
        n, correct = obj["n"], obj["correct"]
        if any(isinstance(v, bool) or not isinstance(v, int) for v in (n, correct)) or not 0 <= correct <= n:
            raise InputError(f"'n' and 'correct' must be integers with 0 <= correct <= n, got {n!r}, {correct!r}",
                             src, line)
        return correct, n
    if "passed" in obj:
        if not isinstance(obj["passed"], bool):
            raise InputError(f"'passed' must be true or false, got {obj['passed']!r}", src, line)
        return int(obj["passed"]), 1
    raise InputError("needs 'passed' (true/false) or 'n' and 'correct' (codepref evaluate results)", src, line)


def _round_order(name: str) -> tuple[int, int]:
    m = re.fullmatch(r"round(\d+)", name)
    return (1, int(m.group(1))) if m else (0, 0) if name == "before" else (-1, 0)


def run_evaluations(run_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """A run directory's evaluation folders, ``name -> RUN/eval/NAME``, from ``before`` to the last round.

    Raises:
        InputError: the directory holds no ``eval/`` folders.
    """
    root = Path(run_dir) / "eval"
    found = [d for d in root.iterdir() if d.is_dir() and _round_order(d.name)[0] >= 0] if root.is_dir() else []
    if not found:
        raise InputError("not a run directory with evaluations (no eval/before or eval/roundK folder)", str(run_dir))
    return {d.name: d for d in sorted(found, key=lambda d: _round_order(d.name))}


def load_evaluation(path: str | os.PathLike[str]) -> dict[str, Results]:
    """Benchmark label -> results of a results file, a folder of them, or a run directory (its last evaluation).

    Raises:
        InputError: nothing to read at ``path``, or a bad results file.
    """
    p = Path(path)
    if p.is_file():
        r = read_results(p)
        return {r.label: r}
    if not p.is_dir():
        raise InputError("not found", str(p))
    if (p / "eval").is_dir():
        p = list(run_evaluations(p).values())[-1]
    files = sorted(p.glob("*" + RESULTS_SUFFIX))
    if not files:
        raise InputError(f"no *{RESULTS_SUFFIX} files in the folder", str(p))
    out: dict[str, Results] = {}
    for f in files:
        r = read_results(f)
        if r.label in out:
            raise InputError(f"two results files for benchmark {r.label!r}: {out[r.label].source} and {f}", str(p))
        out[r.label] = r
    return out


# ----------------------------------------------------------------------------- comparing


def _pairs(a: dict[str, Results], b: dict[str, Results]) -> tuple[list[tuple[str, Results, Results]], list[str]]:
    """The benchmarks to compare, and those only one side has."""
    if len(a) == 1 and len(b) == 1:
        (ra,), (rb,) = a.values(), b.values()
        if ra.benchmark and rb.benchmark and ra.benchmark != rb.benchmark:
            raise InputError(f"different benchmarks: {ra.source} is {ra.benchmark}, {rb.source} is {rb.benchmark}")
        return [(ra.benchmark or rb.benchmark or ra.label, ra, rb)], []
    common = [k for k in a if k in b]
    if not common:
        raise InputError(f"no benchmark in common: {', '.join(a)} versus {', '.join(b)}")
    return [(k, a[k], b[k]) for k in common], sorted(set(a) ^ set(b))


def _check(name: str, ra: Results, rb: Results, allow_mixed_protocols: bool) -> Any:
    """Refuse two results that are not the same task set; return the protocol to record."""
    ta, tb = ra.task_set or {}, rb.task_set or {}
    for key in ("name", "sha256"):
        if ta.get(key) and tb.get(key) and ta[key] != tb[key]:
            raise InputError(f"{name}: different task sets: {ra.source} has {ta.get('name')} "
                             f"(sha256 {str(ta.get('sha256'))[:12]}), {rb.source} has {tb.get('name')} "
                             f"(sha256 {str(tb.get('sha256'))[:12]}); compare evaluations of the same tasks")
    only_a, only_b = sorted(set(ra.scores) - set(rb.scores)), sorted(set(rb.scores) - set(ra.scores))
    if only_a or only_b:
        def some(ids: list[str]) -> str:
            return ", ".join(ids[:3]) + (" ..." if len(ids) > 3 else "")
        raise InputError(f"{name}: the two evaluations cover different tasks ({len(ra.scores)} and {len(rb.scores)}; "
                         f"{len(only_a)} only in {ra.source}{': ' + some(only_a) if only_a else ''}; "
                         f"{len(only_b)} only in {rb.source}{': ' + some(only_b) if only_b else ''}); "
                         "a paired comparison needs the same tasks on both sides")
    if ra.protocol is not None and rb.protocol is not None and ra.protocol != rb.protocol:
        if not allow_mixed_protocols:
            raise InputError(f"{name}: different evaluation protocols: {ra.protocol!r} ({ra.source}) and "
                             f"{rb.protocol!r} ({rb.source}); pass --allow-mixed-protocols to compare anyway")
        return [ra.protocol, rb.protocol]
    return ra.protocol if ra.protocol is not None else rb.protocol


def compare(a: dict[str, Results], b: dict[str, Results], *, pool: bool = False, resamples: int = RESAMPLES,
            seed: int = SEED, allow_mixed_protocols: bool = False, a_name: str = "A", b_name: str = "B") -> Comparison:
    """Compare evaluation ``a`` (before) with ``b`` (after), benchmark by benchmark.

    Args:
        a, b: :func:`load_evaluation` results; single files are paired whatever their labels.
        pool: also compare all benchmarks' tasks together.
        resamples, seed: the paired bootstrap's.
        allow_mixed_protocols: compare results whose headers name different protocols.
        a_name, b_name: what the inputs were, for the record.

    Raises:
        InputError: the inputs cannot be paired (see the module docstring).
    """
    pairs, unmatched = _pairs(a, b)
    benches: dict[str, BenchComparison] = {}
    pooled_a: dict[str, tuple[int, int]] = {}
    pooled_b: dict[str, tuple[int, int]] = {}
    protocols = []
    for name, ra, rb in pairs:
        protocol = _check(name, ra, rb, allow_mixed_protocols)
        protocols.append(protocol)
        benches[name] = compare_scores(name, ra.scores, rb.scores, resamples=resamples, seed=seed, protocol=protocol)
        pooled_a.update({f"{name}:{t}": v for t, v in ra.scores.items()})
        pooled_b.update({f"{name}:{t}": v for t, v in rb.scores.items()})
    pooled = None
    if pool:
        same = all(p == protocols[0] for p in protocols)
        pooled = compare_scores("pooled", pooled_a, pooled_b, resamples=resamples, seed=seed,
                                protocol=protocols[0] if same else protocols)
    return Comparison(a_name, b_name, benches, pooled, resamples, seed, unmatched)


def summary(comparison: Comparison) -> dict[str, dict[str, float | None]]:
    """``{"pooled": {...}, "<bench>": {...}}`` with before, after, delta, ci_low, ci_high, mcnemar_p."""
    out = {"pooled": comparison.pooled.summary()} if comparison.pooled else {}
    out.update({name: c.summary() for name, c in comparison.benchmarks.items()})
    return out


def format_table(comparison: Comparison, *, list_tasks: int = 10) -> str:
    """The comparison as a plain-text table, then the tasks won and lost per benchmark."""
    rows = list(comparison.benchmarks.values()) + ([comparison.pooled] if comparison.pooled else [])
    head = ["benchmark", "tasks", "before", "after", "delta", "95% CI", "McNemar p", "won", "lost"]
    table = [[c.benchmark, str(c.tasks), f"{c.before:.4f}", f"{c.after:.4f}", f"{c.delta:+.4f}",
              f"[{c.ci_low:+.4f}, {c.ci_high:+.4f}]", "-" if c.mcnemar_p is None else f"{c.mcnemar_p:.4g}",
              str(len(c.won)), str(len(c.lost))] for c in rows]
    widths = [max(len(r[i]) for r in [head, *table]) for i in range(len(head))]

    def fmt(r: list[str]) -> str:
        return "  ".join(x.ljust(w) if i == 0 else x.rjust(w) for i, (x, w) in enumerate(zip(r, widths)))

    lines = [f"A (before): {comparison.a}", f"B (after):  {comparison.b}",
             f"paired bootstrap: {comparison.resamples} resamples, seed {comparison.seed}", "",
             fmt(head), fmt(["-" * w for w in widths]), *map(fmt, table)]
    for c in comparison.benchmarks.values():
        for what, ids in (("won (fail->pass)", c.won), ("lost (pass->fail)", c.lost), ("excluded", c.excluded)):
            if ids:
                more = f" ... and {len(ids) - list_tasks} more" if len(ids) > list_tasks else ""
                lines.append(f"{c.benchmark} {what}: {', '.join(ids[:list_tasks])}{more}")
        if c.protocol is not None:
            lines.append(f"{c.benchmark} protocol: {c.protocol}")
    if comparison.unmatched:
        lines.append(f"not compared (only one side has them): {', '.join(comparison.unmatched)}")
    return "\n".join(lines)


__all__ = ["BenchComparison", "Comparison", "Results", "compare", "compare_scores", "format_table",
           "load_evaluation", "mcnemar_exact", "paired_bootstrap", "read_results", "run_evaluations", "summary"]
