"""The run report: ``RUN/report.md`` and ``RUN/report.html`` with PNG plots in ``RUN/figures/``.

Everything is read back from the run directory (so ``codepref report RUN`` can redo it):

* **pass@k before/after** per benchmark, from ``eval/NAME/BENCH.summary.json``;
* **before versus after**, for every evaluated round: per benchmark and pooled over all of
  them, pass@1 before and after, the delta with its paired bootstrap 95% interval, the exact
  McNemar p-value and the tasks won and lost (:mod:`codepref.evaluation.compare`, from
  ``eval/NAME/BENCH.results.jsonl``), and a strip per benchmark of every task's flip:
  fail->pass green, pass->fail red, unchanged grey (dark: passed both times, light: failed);
* **pass-matrix heatmaps** of a few tasks of round 1 (``matrices.jsonl``): rows are solutions,
  columns self-generated tests, a cell is passed / failed / error / timeout-or-other;
* **pair statistics** per round (``pairs.jsonl``): records, tasks ranked, tasks with a pair,
  mean chosen and rejected scores;
* **scorer agreement**: for every two scorers, the share of tasks whose best solution
  (argmax of the scores, ties broken by row order) is the same, on round 1's matrices;
* **training curves**: loss and reward margin per step, from ``roundK/adapter/metrics.jsonl``.

matplotlib is imported inside :func:`write_report` only (extra ``codepref[report]``).
"""

from __future__ import annotations

import html
import json
import os
from itertools import combinations
from pathlib import Path
from typing import Any

from codepref.errors import InputError
from codepref.records import iter_jsonl, read_header

#: outcome -> heatmap value: 1 passed, 0 failed, -1 error, -2 anything else (timeout, oom ...).
OUTCOME_VALUE = {"passed": 1, "failed": 0, "error": -1}
HEATMAP_TASKS = 4


def write_report(run_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` (and ``figures/*.png``) for ``run_dir``.

    Raises:
        InputError: ``run_dir`` is not a run directory (no ``config.json``).
        ImportError: matplotlib is not installed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = Path(run_dir)
    if not (run / "config.json").is_file():
        raise InputError(f"{run} is not a run directory (no config.json)")
    figs = run / "figures"
    figs.mkdir(exist_ok=True)
    summary = _read_json(run / "summary.json")
    sections: list[tuple[str, list[str], list[str]]] = []  # (title, markdown lines, images)

    sections.append(("Summary", _summary_lines(summary, _read_json(run / "ledger.json")), []))
    evals = read_evals(run)
    if evals:
        sections.append(("pass@k before and after", _eval_lines(evals), [_plot_evals(plt, evals, figs)]))
    comparisons, problems = read_comparisons(run)
    for name, (comparison, flips) in comparisons.items():
        sections.append((f"Before versus {name}", _comparison_lines(comparison),
                         [_plot_flips(plt, name, flips, figs)]))
    if problems:
        sections.append(("Before versus after", [f"not compared: {p}" for p in problems], []))
    matrices = read_records(run / "round1" / "matrices.jsonl")
    if matrices:
        img = _plot_heatmaps(plt, matrices, figs)
        sections.append(("Pass matrices (round 1)", [f"{len(matrices)} tasks executed; heatmaps of up to "
                                                     f"{HEATMAP_TASKS} tasks with the most varied results."],
                         [img] if img else []))
    stats = pair_stats(run)
    if stats:
        sections.append(("Pairs", _table(["round", "records", "tasks ranked", "tasks with records",
                                          "mean chosen score", "mean rejected score"],
                                         [[r, s["records"], s["tasks_ranked"], s["tasks_with_records"],
                                           _f(s["chosen_score"]), _f(s["rejected_score"])]
                                          for r, s in stats.items()]), []))
    agreement = scorer_agreement(run)
    if agreement:
        sections.append(("Scorer agreement (round 1)",
                         ["Share of tasks whose top solution is the same under both scorers.", ""]
                         + _table(["scorers", "tasks", "agreement"],
                                  [[f"{a} / {b}", n, _f(v)] for (a, b), (v, n) in agreement.items()]), []))
    curves = read_curves(run)
    if curves:
        sections.append(("Training", [f"{r}: {len(rows)} logged steps, last loss {_f(rows[-1].get('loss'))}, "
                                      f"last reward margin {_f(rows[-1].get('rewards/margins'))}"
                                      for r, rows in curves.items()], [_plot_curves(plt, curves, figs)]))
    plt.close("all")
    md, page = _render(summary.get("name", run.name), sections)
    (run / "report.md").write_text(md)
    (run / "report.html").write_text(page)
    return run / "report.md", run / "report.html"


# --------------------------------------------------------------------------- reading the run


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def read_records(path: Path) -> list[dict[str, Any]]:
    return [obj for _, obj in iter_jsonl(path)] if path.is_file() else []


def read_evals(run: Path) -> dict[str, dict[str, dict[str, float]]]:
    """``{model name: {benchmark: {"pass@k": value}}}``, models in run order (before first)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    root = run / "eval"
    if not root.is_dir():
        return out
    names = sorted((d.name for d in root.iterdir() if d.is_dir()),
                   key=lambda n: (n != "before", int(n[5:]) if n.startswith("round") and n[5:].isdigit() else 0))
    for name in names:
        for f in sorted((root / name).glob("*.summary.json")):
            s = json.loads(f.read_text())
            out.setdefault(name, {})[s["benchmark"]] = s["pass_at_k"].get(s["benchmark"], {})
    return out


def read_comparisons(run: Path) -> tuple[dict[str, tuple[Any, dict[str, list[tuple[str, float, float]]]]], list[str]]:
    """``before`` versus every later evaluation of the run, and why any could not be compared.

    Returns:
        ``{name: (Comparison, flips)}`` for each ``eval/roundK`` with results beside
        ``eval/before`` (``flips``: benchmark -> ``(task id, pass fraction before, after)``
        per paired task, in the order of the before results file: the benchmark's), and one line per evaluation that could not be
        paired (different tasks, a missing results file ...).
    """
    from codepref.errors import CodeprefError
    from codepref.evaluation.compare import compare, load_evaluation, run_evaluations

    try:
        names = run_evaluations(run)
    except InputError:
        return {}, []
    if "before" not in names or len(names) < 2:
        return {}, []
    out: dict[str, tuple[Any, dict[str, list[tuple[str, float, float]]]]] = {}
    problems = []
    try:
        before = load_evaluation(names["before"])
    except CodeprefError as e:
        return {}, [f"eval/before: {e}"]
    for name, folder in names.items():
        if name == "before":
            continue
        try:
            after = load_evaluation(folder)
            comparison = compare(before, after, pool=True, a_name=str(names["before"]), b_name=str(folder))
        except CodeprefError as e:
            problems.append(f"eval/{name}: {e}")
            continue
        flips = {}
        for bench in comparison.benchmarks:
            b, a = before[bench].scores, after[bench].scores
            flips[bench] = [(t, b[t][0] / b[t][1], a[t][0] / a[t][1]) for t in b
                            if b[t][1] > 0 and a.get(t, (0, 0))[1] > 0]
        out[name] = (comparison, flips)
    return out, problems


def comparison_summary(comparison) -> dict[str, dict[str, Any]]:
    """What ``summary.json`` holds of a comparison: :func:`codepref.evaluation.compare.summary`
    (``{"pooled": {...}, "<bench>": {...}}``: before, after, delta, ci_low, ci_high, mcnemar_p)
    with each entry's task count and the numbers of tasks won and lost."""
    from codepref.evaluation.compare import summary

    rows = {"pooled": comparison.pooled, **comparison.benchmarks}
    return {name: {**numbers, "tasks": rows[name].tasks, "won": len(rows[name].won), "lost": len(rows[name].lost)}
            for name, numbers in summary(comparison).items()}


def pair_stats(run: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for d in sorted(run.glob("round*"), key=lambda p: int(p.name[5:]) if p.name[5:].isdigit() else 0):
        path = d / "pairs.jsonl"
        if not path.is_file():
            continue
        recs = read_records(path)
        header = read_header(path) or {}
        chosen = [r["chosen_score"] for r in recs if isinstance(r.get("chosen_score"), (int, float))]
        rejected = [r["rejected_score"] for r in recs if isinstance(r.get("rejected_score"), (int, float))]
        out[d.name] = {"records": len(recs), "tasks_ranked": header.get("tasks_total", "-"),
                       "tasks_with_records": len({r["task_id"] for r in recs}),
                       "chosen_score": sum(chosen) / len(chosen) if chosen else None,
                       "rejected_score": sum(rejected) / len(rejected) if rejected else None}
    return out


def scorer_agreement(run: Path) -> dict[tuple[str, str], tuple[float, int]]:
    """Top-1 agreement of every two training scorers on round 1's matrices."""
    import numpy as np

    from codepref.records import PassMatrix
    from codepref.scoring import SCORERS, get_scorer

    rows = [r for r in read_records(run / "round1" / "matrices.jsonl") if r.get("outcomes") and r["outcomes"][0]]
    if not rows:
        return {}
    names = [n for n in SCORERS.names() if not get_scorer(n).ground_truth]
    tops: dict[str, list[int]] = {n: [] for n in names}
    for rec in rows:
        matrix = PassMatrix.from_dict(rec)
        for n in names:
            s = np.asarray(get_scorer(n).score(matrix), dtype=float)
            tops[n].append(int(np.nanargmax(s)) if np.isfinite(s).any() else -1)
    return {(a, b): (sum(x == y for x, y in zip(tops[a], tops[b])) / len(rows), len(rows))
            for a, b in combinations(names, 2)}


def read_curves(run: Path) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for d in sorted(run.glob("round*"), key=lambda p: int(p.name[5:]) if p.name[5:].isdigit() else 0):
        rows = [r for r in read_records(d / "adapter" / "metrics.jsonl") if "loss" in r]
        if rows:
            out[d.name] = rows
    return out


# --------------------------------------------------------------------------- plots


def _plot_evals(plt, evals, figs: Path) -> str:
    benches = sorted({b for m in evals.values() for b in m})
    ks = sorted({k for m in evals.values() for s in m.values() for k in s}, key=lambda k: int(k.split("@")[1]))
    labels = [f"{b}\n{k}" for b in benches for k in ks]
    fig, ax = plt.subplots(figsize=(max(4, 1.6 * len(labels) * max(1, len(evals)) / 2), 3.2))
    width = 0.8 / len(evals)
    for i, (name, m) in enumerate(evals.items()):
        vals = [m.get(b, {}).get(k, 0.0) for b in benches for k in ks]
        ax.bar([x + i * width for x in range(len(labels))], vals, width, label=name)
    ax.set_xticks([x + width * (len(evals) - 1) / 2 for x in range(len(labels))], labels)
    ax.set_ylim(0, 1)
    ax.set_ylabel("pass@k")
    ax.legend()
    fig.tight_layout()
    fig.savefig(figs / "passk.png", dpi=100)
    return "figures/passk.png"


def _plot_heatmaps(plt, matrices, figs: Path) -> str | None:
    import numpy as np

    def grid(rec):
        return np.array([[OUTCOME_VALUE.get(o, -2) for o in row] for row in rec["outcomes"]])

    usable = [r for r in matrices if r.get("outcomes") and r["outcomes"][0]]
    if not usable:
        return None
    usable.sort(key=lambda r: -float(np.std(grid(r))))
    chosen = usable[:HEATMAP_TASKS]
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap(["#d62728", "#ff7f0e", "#ffdd57", "#2ca02c"])  # other, error, failed, passed
    fig, axes = plt.subplots(1, len(chosen), figsize=(3.2 * len(chosen), 3), squeeze=False)
    for ax, rec in zip(axes[0], chosen):
        g = grid(rec)
        ax.imshow(g, vmin=-2.5, vmax=1.5, cmap=cmap, aspect="auto", interpolation="nearest")
        ax.set_xticks(range(g.shape[1]))
        ax.set_yticks(range(g.shape[0]))
        ax.set_title(rec["task_id"].split("/")[-1][:28], fontsize=8)
        ax.set_xlabel("test")
        ax.set_ylabel("solution")
    fig.suptitle("green passed, yellow failed, orange error, red timeout/other", fontsize=8)
    fig.tight_layout()
    fig.savefig(figs / "matrices.png", dpi=100)
    return "figures/matrices.png"


#: flip -> strip colour: fail->pass, pass->fail, passed both times, failed both times.
FLIP_COLOURS = {"won": "#2ca02c", "lost": "#d62728", "kept": "#7f7f7f", "none": "#d9d9d9"}


def flip_kind(before: float, after: float) -> str:
    """``won`` / ``lost`` (pass fraction up / down), else ``kept`` (passed) or ``none`` (failed)."""
    if after > before:
        return "won"
    if after < before:
        return "lost"
    return "kept" if before > 0 else "none"


def _plot_flips(plt, name: str, flips: dict[str, list[tuple[str, float, float]]], figs: Path) -> str:
    """One strip per benchmark, one cell per task (in benchmark order), coloured by its flip."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    kinds = list(FLIP_COLOURS)
    cmap = ListedColormap([FLIP_COLOURS[k] for k in kinds])
    fig, axes = plt.subplots(len(flips), 1, figsize=(9, 0.9 * len(flips) + 0.9), squeeze=False)
    for ax, (bench, rows) in zip(axes[:, 0], flips.items()):
        codes = [[kinds.index(flip_kind(b, a)) for _, b, a in rows]]
        ax.imshow(codes, cmap=cmap, vmin=-0.5, vmax=len(kinds) - 0.5, aspect="auto", interpolation="nearest")
        won = sum(flip_kind(b, a) == "won" for _, b, a in rows)
        lost = sum(flip_kind(b, a) == "lost" for _, b, a in rows)
        ax.set_yticks([])
        ax.set_ylabel(bench, rotation=0, ha="right", va="center", fontsize=8)
        ax.set_title(f"{len(rows)} tasks: {won} fail->pass, {lost} pass->fail", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    axes[-1, 0].set_xlabel("task (in benchmark order)")
    labels = {"won": "fail->pass", "lost": "pass->fail", "kept": "passed both", "none": "failed both"}
    fig.legend(handles=[Patch(color=FLIP_COLOURS[k], label=labels[k]) for k in kinds], loc="lower center",
               ncol=4, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    path = f"figures/flips_{name}.png"
    fig.savefig(figs / f"flips_{name}.png", dpi=100)
    return path


def _plot_curves(plt, curves, figs: Path) -> str:
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3))
    for name, rows in curves.items():
        steps = [r.get("step", i + 1) for i, r in enumerate(rows)]
        a1.plot(steps, [r["loss"] for r in rows], marker="o", label=name)
        a2.plot(steps, [r.get("rewards/margins", float("nan")) for r in rows], marker="o", label=name)
    a1.set_title("loss")
    a2.set_title("reward margin")
    for a in (a1, a2):
        a.set_xlabel("step")
        a.legend()
    fig.tight_layout()
    fig.savefig(figs / "training.png", dpi=100)
    return "figures/training.png"


# --------------------------------------------------------------------------- text


def _f(v) -> str:
    return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + \
        ["| " + " | ".join(_f(c) if isinstance(c, float) else str(c) for c in r) + " |" for r in rows]


def _summary_lines(summary: dict[str, Any], ledger: dict[str, Any]) -> list[str]:
    lines = []
    if summary:
        lines.append(f"Config sha256 `{summary.get('config_sha256', '')[:16]}`, {summary.get('rounds')} round(s), "
                     f"total wall time {summary.get('total_wall_s')} s.")
        lines.append("Pairs made: " + ", ".join(f"{r} {n}" for r, n in summary.get("pairs", {}).items()) + ".")
    stages = ledger.get("stages", {})
    if stages:
        lines += ["", *_table(["stage", "status", "wall s", "result"],
                              [[n, e.get("status"), e.get("wall_s", "-"), e.get("note", "")] for n, e in stages.items()])]
    return lines


def _eval_lines(evals) -> list[str]:
    benches = sorted({b for m in evals.values() for b in m})
    ks = sorted({k for m in evals.values() for s in m.values() for k in s}, key=lambda k: int(k.split("@")[1]))
    rows = [[b, k, *(_f(evals[n].get(b, {}).get(k)) for n in evals)] for b in benches for k in ks]
    return _table(["benchmark", "metric", *evals], rows)


def _comparison_lines(comparison) -> list[str]:
    """The comparison as a table: per benchmark (and pooled, with several), then the tasks lost."""
    rows = list(comparison.benchmarks.values())
    if len(rows) > 1:
        rows.append(comparison.pooled)
    lines = [f"Paired over the tasks both evaluations judged; 95% paired bootstrap interval of the delta "
             f"({comparison.resamples} resamples, seed {comparison.seed}); exact McNemar p with one sample "
             "per task (- otherwise).", ""]
    lines += _table(["benchmark", "tasks", "pass@1 before", "pass@1 after", "delta", "95% CI", "McNemar p",
                     "won", "lost"],
                    [[c.benchmark, c.tasks, f"{c.before:.3f}", f"{c.after:.3f}", f"{c.delta:+.3f}",
                      f"[{c.ci_low:+.3f}, {c.ci_high:+.3f}]", "-" if c.mcnemar_p is None else f"{c.mcnemar_p:.3g}",
                      len(c.won), len(c.lost)] for c in rows])
    for c in comparison.benchmarks.values():
        for what, ids in (("fail->pass", c.won), ("pass->fail", c.lost)):
            if ids:
                more = f" and {len(ids) - 10} more" if len(ids) > 10 else ""
                lines += ["", f"{c.benchmark} {what}: {', '.join(ids[:10])}{more}"]
    if comparison.unmatched:
        lines += ["", f"only one side has: {', '.join(comparison.unmatched)}"]
    return lines


def _render(name: str, sections) -> tuple[str, str]:
    md = [f"# codepref run report: {name}", ""]
    body = [f"<h1>codepref run report: {html.escape(name)}</h1>"]
    for title, lines, images in sections:
        md += [f"## {title}", "", *lines, ""] + [f"![{title}]({img})" for img in images] + [""]
        body.append(f"<h2>{html.escape(title)}</h2>")
        body.append(_md_to_html(lines))
        body += [f'<img src="{img}" alt="{html.escape(title)}">' for img in images]
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>codepref report</title><style>"
            "body{font-family:sans-serif;max-width:960px;margin:2em auto}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:2px 8px}img{max-width:100%}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")
    return "\n".join(md) + "\n", page


def _md_to_html(lines: list[str]) -> str:
    out, table = [], []
    for line in [*lines, ""]:
        if line.startswith("|"):
            if not line.startswith("|---"):
                table.append([c.strip() for c in line.strip("|").split("|")])
            continue
        if table:
            head, *rest = table
            out.append("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in head) + "</tr>"
                       + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rest)
                       + "</table>")
            table = []
        if line:
            out.append(f"<p>{html.escape(line).replace('`', '')}</p>")
    return "\n".join(out)
