"""The learning experiment's record, from a finished ``codepref run`` directory.

Reads a run directory (``codepref run learn --run-dir RUN``), compares its ``before`` with its
last round's evaluation task by task (:mod:`codepref.evaluation.compare`: pass@1, the paired
bootstrap 95% CI of the difference, exact McNemar p, per benchmark and pooled), and

* with ``--out DIR``, writes what anyone needs to recompute that comparison: per benchmark
  and side one compact JSONL (``DIR/<bench>.before.jsonl``, ``DIR/<bench>.after.jsonl``;
  lines ``{"task_id", "passed"}``, greedy, one line per task) and ``DIR/summary.json``
  (``{"pooled": {"before", "after", "delta", "ci_low", "ci_high", "mcnemar_p"}, "<bench>":
  {...}}``, fractions);
* prints a Markdown block for ``benchmarks/results/learning_effect.md``: the config and its
  hash, the model file's and task sets' sha256, every stage's wall time on this machine,
  the pairs made, the training's last metrics, and the before/after table.

Recompute the committed comparison from the committed files alone::

    codepref compare benchmarks/results/learning_effect/humaneval+.before.jsonl \\
        benchmarks/results/learning_effect/humaneval+.after.jsonl

Usage::

    python benchmarks/learning_effect.py --run-dir RUN [--out benchmarks/results/learning_effect] [--name main]

**Variants.** A variant is a copy of the main run directory with some settings changed, rerun
with the same command plus ``--set`` (only the stages downstream of the change are redone)::

    cp -a RUN RUN-rpo
    codepref run learn --run-dir RUN-rpo --set train.nll_weight=1.0

``--variant LABEL=RUN_DIR`` (repeatable) adds one row per variant to a table after the main
block: what its config changes against the main run (read from both ``config.json`` files),
its training records, and the before-vs-after delta per benchmark and pooled with the CI and
McNemar p. ``--screen LABEL=A,B`` adds a row for any two evaluations ``codepref compare``
reads (e.g. a variant screened on ``mbpp-dev`` before its full evaluation).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from codepref.evaluation.compare import compare, load_evaluation, run_evaluations, summary
from codepref.records import iter_jsonl, read_header, write_text_atomic


def compact_lines(results_file: Path) -> list[dict]:
    """``{"task_id", "passed"}`` per task of a greedy results file (one sample per task)."""
    out = []
    for _, r in iter_jsonl(results_file):
        if r["n"] + r.get("excluded", 0) != 1:
            raise SystemExit(f"{results_file}: task {r['task_id']} has {r['n']} samples; the record is for greedy "
                             "evaluations with one sample per task")
        out.append({"task_id": r["task_id"], "passed": bool(r["correct"])})
    return sorted(out, key=lambda x: x["task_id"])


def stage_walls(run_dir: Path) -> list[tuple[str, float | None, str, str]]:
    """(stage, wall seconds, status, note) from the run's ledger."""
    ledger = json.loads((run_dir / "ledger.json").read_text())["stages"]
    return [(k, v.get("wall_s"), v["status"], v.get("note", "")) for k, v in ledger.items()]


def model_sha256(run_dir: Path) -> str | None:
    """The model file's sha256 as the evaluation cache recorded it (None if not cached)."""
    from codepref.evaluation.cache import cache_root

    for summary_file in sorted((run_dir / "eval").glob("*/*.summary.json")):
        key = (json.loads(summary_file.read_text()).get("eval_cache") or {}).get("key")
        key_file = cache_root() / key / "key.json" if key else None
        if key_file and key_file.is_file():
            return (json.loads(key_file.read_text()).get("model") or {}).get("sha256")
    return None


def markdown(run_dir: Path, name: str, comparison, after_name: str) -> str:
    config = json.loads((run_dir / "config.json").read_text())
    lines = [f"### {name}", "", f"- run: `codepref run {config['run']['name']}`, config sha256 "
             f"`{(run_dir / 'config.sha256').read_text().strip()[:16]}`"]
    sha = model_sha256(run_dir)
    lines.append(f"- model: `{config['generate']['model']}` ({config['generate']['backend']})"
                 + (f", file sha256 `{sha[:16]}`" if sha else ""))
    for f in sorted((run_dir / "eval" / "before").glob("*.results.jsonl")):
        ts = ((read_header(f) or {}).get("settings") or {}).get("task_set") or {}
        lines.append(f"- {ts.get('name')} {ts.get('version')}: {ts.get('tasks')} tasks, sha256 "
                     f"`{str(ts.get('sha256'))[:16]}`")
    pairs = sorted(run_dir.glob("round*/pairs.jsonl"))
    for p in pairs:
        n = sum(1 for _ in iter_jsonl(p))
        lines.append(f"- {p.parent.name}: {n} training records ({config['rank']['format']}, "
                     f"scorer {config['rank']['scorer']})")
    lines += ["", "| stage | wall | status | note |", "|---|---|---|---|"]
    for stage, wall, status, note in stage_walls(run_dir):
        lines.append(f"| {stage} | {'-' if wall is None else f'{wall / 60:.1f} min'} | {status} | {note} |")
    lines += ["", f"before vs {after_name} (paired bootstrap {comparison.resamples} resamples, seed "
              f"{comparison.seed}; exact McNemar):", "",
              "| benchmark | tasks | before | after | delta | 95% CI | McNemar p | won | lost |",
              "|---|---|---|---|---|---|---|---|---|"]
    rows = list(comparison.benchmarks.values()) + ([comparison.pooled] if comparison.pooled else [])
    for c in rows:
        p = "-" if c.mcnemar_p is None else f"{c.mcnemar_p:.3g}"
        lines.append(f"| {c.benchmark} | {c.tasks} | {c.before:.1%} | {c.after:.1%} | {100 * c.delta:+.1f} | "
                     f"[{100 * c.ci_low:+.1f}, {100 * c.ci_high:+.1f}] | {p} | {len(c.won)} | {len(c.lost)} |")
    return "\n".join(lines)


def answer_changes(before_dir: Path, after_dir: Path) -> str:
    """How the greedy answers moved, per benchmark: answers identical before and after, the
    flipped verdicts split into those the base tests decide and those only the plus inputs
    decide (EvalPlus), and the mean answer length in characters."""
    lines = ["| benchmark | identical answers | flips decided by base tests (won/lost) | plus-only flips "
             "(won/lost) | mean answer chars before -> after |", "|---|---|---|---|---|"]
    for results in sorted(before_dir.glob("*.results.jsonl")):
        bench = results.name[:-len(".results.jsonl")]
        other = after_dir / results.name
        if not other.is_file():
            continue
        verdict = {}
        for side, f in (("before", results), ("after", other)):
            for _, r in iter_jsonl(f):
                s0 = r["samples"][0] if r.get("samples") else {}
                verdict[side, r["task_id"]] = (bool(s0.get("base")), bool(r["correct"]))
        text = {}
        for side, d in (("before", before_dir), ("after", after_dir)):
            for _, x in iter_jsonl(d / f"{bench}.samples.jsonl"):
                if x.get("kind", "solution") == "solution" and x.get("index", 0) == 0:
                    text[side, x["task_id"]] = x.get("text", "")
        tasks = sorted({t for side, t in verdict if side == "before"} & {t for side, t in verdict if side == "after"})
        same = sum(text.get(("before", t)) == text.get(("after", t)) for t in tasks)
        base, plus = [0, 0], [0, 0]
        for t in tasks:
            (b0, p0), (b1, p1) = verdict["before", t], verdict["after", t]
            if p0 == p1:
                continue
            bucket = base if b0 != b1 else plus
            bucket[0 if p1 else 1] += 1
        mean = lambda side: sum(len(text.get((side, t), "")) for t in tasks) / max(len(tasks), 1)  # noqa: E731
        lines.append(f"| {bench} | {same} of {len(tasks)} | {base[0]}/{base[1]} | {plus[0]}/{plus[1]} | "
                     f"{mean('before'):.0f} -> {mean('after'):.0f} |")
    return "\n".join(lines)


def config_changes(main: dict, other: dict, prefix: str = "") -> list[str]:
    """``section.key=value`` for every setting of ``other`` that differs from ``main``."""
    out = []
    for key in sorted(set(main) | set(other)):
        a, b = main.get(key), other.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_changes(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}={json.dumps(b)}")
    return out


def variant_row(label: str, comparison, changes: str, records: str) -> str:
    """One Markdown row: label, changes, records, delta [CI] per benchmark then pooled, the pooled McNemar p."""
    rows = list(comparison.benchmarks.values()) + ([comparison.pooled] if comparison.pooled else [])
    deltas = "; ".join(f"{c.benchmark} {100 * c.delta:+.1f} [{100 * c.ci_low:+.1f}, {100 * c.ci_high:+.1f}]"
                       for c in rows)
    p = "-" if rows[-1].mcnemar_p is None else f"{rows[-1].mcnemar_p:.3g}"
    return f"| {label} | {changes or '-'} | {records} | {deltas} | {p} |"


def variants_table(main_dir: Path, variants: list[str], screens: list[str]) -> str:
    """The table of ``--variant LABEL=RUN_DIR`` and ``--screen LABEL=A,B`` rows (see the module docstring)."""
    main_config = json.loads((main_dir / "config.json").read_text())
    lines = ["| variant | changes against the main run | training records | delta per benchmark, then pooled "
             "[95% CI], points | McNemar p |", "|---|---|---|---|---|"]
    for spec in variants:
        label, _, path = spec.partition("=")
        run_dir = Path(path)
        evals = run_evaluations(run_dir)
        names = list(evals)
        if "before" not in evals or len(names) < 2:
            raise SystemExit(f"variant {label}: {run_dir} needs eval/before and a round's evaluation")
        c = compare(load_evaluation(evals["before"]), load_evaluation(evals[names[-1]]), pool=True)
        changes = config_changes(main_config, json.loads((run_dir / "config.json").read_text()))
        pairs = sorted(run_dir.glob("round*/pairs.jsonl"))
        records = " + ".join(str(sum(1 for _ in iter_jsonl(p))) for p in pairs) or "-"
        lines.append(variant_row(label, c, ", ".join(f"`{x}`" for x in changes), records))
    for spec in screens:
        label, _, paths = spec.partition("=")
        a, _, b = paths.partition(",")
        c = compare(load_evaluation(a), load_evaluation(b), pool=True)
        lines.append(variant_row(label, c, f"screen: `{a}` vs `{b}`", "-"))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run-dir", required=True, type=Path, help="a finished codepref run directory")
    ap.add_argument("--out", type=Path, default=None, help="write the per-task JSONL files and summary.json here")
    ap.add_argument("--name", default="main run", help="the heading of the Markdown block")
    ap.add_argument("--variant", action="append", default=[], metavar="LABEL=RUN_DIR",
                    help="a variant's run directory (repeatable): one row of the variants table")
    ap.add_argument("--screen", action="append", default=[], metavar="LABEL=A,B",
                    help="any two evaluations to compare (repeatable): one row of the variants table")
    args = ap.parse_args()
    evals = run_evaluations(args.run_dir)
    if "before" not in evals or len(evals) < 2:
        raise SystemExit(f"{args.run_dir}: needs eval/before and a round's evaluation, has {', '.join(evals)}")
    after_name = list(evals)[-1]
    before, after = load_evaluation(evals["before"]), load_evaluation(evals[after_name])
    comparison = compare(before, after, pool=True, a_name=str(evals["before"]), b_name=str(evals[after_name]))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for bench in comparison.benchmarks:
            for side, ev in (("before", before), ("after", after)):
                lines = compact_lines(Path(ev[bench].source))
                write_text_atomic(args.out / f"{bench}.{side}.jsonl", "".join(json.dumps(x) + "\n" for x in lines))
        write_text_atomic(args.out / "summary.json", json.dumps(summary(comparison), indent=2) + "\n")
    print(markdown(args.run_dir, args.name, comparison, after_name))
    print("\nHow the answers moved:\n\n" + answer_changes(evals["before"], evals[after_name]))
    if args.variant or args.screen:
        print("\n" + variants_table(args.run_dir, args.variant, args.screen))


if __name__ == "__main__":
    main()
