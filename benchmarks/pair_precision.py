"""Pair precision and coverage of every scorer against a benchmark's hidden tests.

Reads the samples (``codepref generate``) and pass matrices (``codepref execute``) of a
benchmark's tasks, judges every distinct solution once with the benchmark's hidden tests
(the same judge as ``codepref evaluate``), then builds pairs in memory for each scorer and
setting and prints one Markdown table: pairs, coverage (tasks with a pair / tasks ranked),
pair precision (chosen correct AND rejected wrong), chosen-correct and rejected-wrong
rates. The baseline rows, measured in the same run:

* ``oracle``  -- pairs from the hidden verdicts themselves: the most coverage any scorer can
  reach at precision 1 on these samples;
* ``random``  -- the *expected* rates of a uniformly random ordered pair of distinct candidates
  on every task the scorers do not skip (with ``c`` correct among ``k`` judged candidates:
  precision ``c (k - c) / (k (k - 1))``, chosen-correct ``c / k``, rejected-wrong
  ``(k - c) / k``, averaged over tasks): what the self-generated tests add.

``--solutions 8,16`` repeats every table on the first K solutions of each task (sample index
< K), so one N = 16 run also answers what N = 8 would have given on the same prompts (the
question "does sampling more per prompt make pairs more precise?" without a second run's noise).

When the samples hold tests the prompts state (``params.source = "prompt"``), every scorer
runs with the prompt gate on and off (``PairOptions.prompt_gate``).

    python benchmarks/pair_precision.py --samples S.jsonl --matrices M.jsonl --benchmark humaneval \\
        [--margins 0,0.5] [--json OUT]

The end-to-end recipe that produces its inputs (the closing note's figures)::

    codepref generate --tasks humaneval --limit 50 --n-solutions 8 --n-tests 10 --test-samples 3 --out S.jsonl
    codepref execute --samples S.jsonl --out M.jsonl
    python benchmarks/pair_precision.py --samples S.jsonl --matrices M.jsonl --benchmark humaneval
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from contextlib import contextmanager

from codepref.config import SandboxConfig
from codepref.execution import SandboxPool
from codepref.tasks.source import load_task_map
from codepref.languages import sandbox_for
from codepref.evaluation.audit import AuditRow, audit_records, format_table, hidden_verdicts, oracle_task
from codepref.pairs.build import PairOptions, build_records, candidates, cluster_size, gate, skip_reason, task_picks
from codepref.pairs.data import load_task_data
from codepref.records import PassMatrix
from codepref.scoring import get_scorer


def random_row(data, verdicts, opts: PairOptions) -> AuditRow:
    """Expected audit of uniformly random pairs (see the module docstring)."""
    prec, good, bad, n = 0.0, 0.0, 0.0, 0
    for d in data:
        if skip_reason(d, opts):
            continue
        v = [verdicts.get((d.task_id, d.solutions[i])) for i in candidates(d.solutions, opts.dedupe)]
        v = [x for x in v if x is not None]
        k, c = len(v), sum(v)
        if k < 2:
            continue
        n += 1
        prec += c * (k - c) / (k * (k - 1))
        good += c / k
        bad += (k - c) / k
    row = AuditRow("random (expected)", "", "dpo", len(data), n, n, n, round(prec), round(good), round(bad))
    row.exact = (prec / n, good / n, bad / n) if n else (None, None, None)
    return row


def settings() -> list[tuple[str, dict]]:
    return [("codet", {}), ("codet", {"sqrt_group": True}), ("pagerank", {}), ("pagerank", {"iterations": 1}),
            ("minimax", {})]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", required=True)
    ap.add_argument("--matrices", required=True)
    ap.add_argument("--benchmark", default="humaneval")
    ap.add_argument("--margins", default="0,0.5", help="comma-separated min_margin values")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--json", default=None, help="write the rows as JSON here")
    ap.add_argument("--pairs-per-task", type=int, default=1,
                    help="most pairs per task in the scorer table (1, the learning run's setting)")
    ap.add_argument("--solutions", default="", metavar="K[,K]",
                    help="also (or only) report on each task's first K solutions, e.g. 8,16 (default: all)")
    args = ap.parse_args()

    with judged(args.samples, args.matrices, args.benchmark, args.workers) as (data, verdicts, _):
        pass
    all_rows = []
    for k in solution_counts(args.solutions):
        if k is not None:
            print(f"## the first {k} solutions of each task\n")
        all_rows += report(first_solutions(data, k) if k else data, verdicts, args.margins, k,
                           args.pairs_per_task)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(all_rows, fh, indent=1)


@contextmanager
def judged(samples: str, matrices: str, benchmark: str, workers: int = 0):
    """The tasks' data (samples joined with their matrices) and each distinct solution's
    verdict by the benchmark's hidden tests; yields ``(data, verdicts, pool)``, the sandbox
    pool open for more work until the block ends."""
    tasks = load_task_map(benchmark)
    data = load_task_data(samples, matrices, {t: x.prompt for t, x in tasks.items()})
    config = sandbox_for(SandboxConfig(workers=workers), {t.language for t in tasks.values()})
    with SandboxPool(config) as pool:
        verdicts = hidden_verdicts({d.task_id: [s for s in d.solutions if s.strip()] for d in data}, tasks, pool,
                                   set_name=benchmark)
        yield data, verdicts, pool


def solution_counts(text: str) -> list[int | None]:
    """``--solutions`` ("8,16") as a list of K; ``[None]`` (all solutions) when empty."""
    return [int(k) for k in text.split(",") if k.strip()] or [None]


def filter_row(label: str, kept: list[dict], mixed: set) -> str | None:
    """A Markdown row for the pairs ``kept`` by a filter (each ``{"task", "precise"}``):
    how many, their precision, and coverage of the ``mixed`` tasks (those with a right and a
    wrong candidate); None when the filter keeps nothing."""
    if not kept:
        return None
    cov = len({r["task"] for r in kept} & mixed) / max(1, len(mixed))
    prec = sum(r["precise"] for r in kept) / len(kept)
    return f"| {label} | {len(kept)} | {prec:.3f} | {cov:.2f} |"


def first_solutions(data, k: int):
    """Each task cut to its solutions with sample index < ``k`` (rows of the matrix too)."""
    out = []
    for d in data:
        rows = [r for r, i in enumerate(d.solution_index) if i < k]
        m = PassMatrix(d.task_id, [d.matrix.outcomes[r] for r in rows], [d.matrix.durations[r] for r in rows])
        out.append(dataclasses.replace(
            d, solutions=[d.solutions[r] for r in rows], matrix=m,
            solution_index=[d.solution_index[r] for r in rows],
            continuations=[d.continuations[r] for r in rows] if d.continuations else []))
    return out


def report(data, verdicts, margins: str, k: int | None, pairs_per_task: int = 1) -> list[dict]:
    """Print the tables for ``data``; return the rows as dicts (with ``solutions`` = k)."""
    n, m = [d.matrix.shape[0] for d in data], [d.matrix.shape[1] for d in data]
    correct = [sum(bool(verdicts.get((d.task_id, s))) for s in d.solutions) for d in data]
    print(f"{len(data)} tasks; solutions per task: median {statistics.median(n)} (min {min(n)}); distinct tests "
          f"per task: median {statistics.median(m)} (min {min(m)}, >= 8 in {sum(x >= 8 for x in m)}); "
          f"solutions correct by the hidden tests: {sum(correct)}/{sum(n)}; tasks with both a correct and a wrong "
          f"solution: {sum(0 < c < k for c, k in zip(correct, n))}")
    print(f"skip reasons (self-tests): {dict(_reasons(data))}\n")

    stated = [d for d in data if d.stated]
    if stated:
        closed = sum(not gate(d)[candidates(d.solutions)].any() for d in stated)  # stated: gate is not None
        print(f"tasks whose prompt states tests: {len(stated)}/{len(data)} ({sum(len(d.stated) for d in stated)} "
              f"tests); no solution passes them on {closed}\n")
    rows = []
    for margin in [float(x) for x in margins.split(",")]:
        for gated in ([True, False] if stated else [False]):
            opts = PairOptions(min_margin=margin, prompt_gate=gated, pairs_per_task=pairs_per_task)
            kind = f"min_margin {margin:g}" + (f", gate {'on' if gated else 'off'}" if stated else "")
            runs = [(f"{name}{_fmt(kw)}", get_scorer(name, **kw), data) for name, kw in settings()]
            if margin == 0 and not gated:
                runs.append(("oracle", get_scorer("oracle"), [oracle_task(d, verdicts) for d in data]))
            for label, sc, tasks_in in runs:
                recs = [r for _, _, rs in build_records(tasks_in, sc, opts, "dpo") for r in rs]
                for r in recs:
                    r["scorer"] = label
                (row,) = audit_records(recs, verdicts, len(tasks_in)) or [_empty(label, len(tasks_in))]
                row.kind = kind
                rows.append(row)
            if margin == 0 and not gated:
                rand = random_row(data, verdicts, PairOptions(min_margin=margin, prompt_gate=False))
                rand.kind = kind
                rows.append(rand)
    print(_exact(format_table(rows), rows))
    print("\n" + consensus_table(data, verdicts) + "\n")
    return [dict(_as_dict(r), solutions=k) for r in rows]


def consensus_table(data, verdicts, scorer: str = "pagerank") -> str:
    """Precision of the default pairs kept only where the samples agree, as a Markdown table.

    Two agreement signals of the chosen solution, read from the pass matrix alone:

    * ``cluster``: how many candidates have exactly the chosen one's pass vector over the
      model's tests (CodeT's consensus set; a lone winner is weak evidence);
    * ``gate``: how many candidates pass every test the prompt states;
    * ``tests``: the share of the model's own tests (valid cells, stated tests excluded) that
      the chosen solution passes (0 when the task has none): a chosen answer that fails most
      of the model's asserts is often a wrong one that merely passes the stated example;
    * ``cluster >= 3 and tests >= 0.5``: both.

    Coverage is over the tasks with both a right and a wrong candidate (by the hidden
    verdicts): the share of them that keep a pair. Issue goal: precision >= 0.9 at
    coverage >= 0.5.
    """
    from codepref.scoring.base import as_arrays

    sc, opts = get_scorer(scorer), PairOptions()
    rows, mixed = [], set()
    for d in data:
        cands = candidates(d.solutions, opts.dedupe)
        right = [bool(verdicts.get((d.task_id, d.solutions[i]))) for i in cands]
        if any(right) and not all(right):
            mixed.add(d.task_id)
        picks, _ = task_picks(d, sc, opts)
        if not picks:
            continue
        p = picks[0]
        passed, valid = as_arrays(d.matrix)
        ok = passed & valid
        g = gate(d)
        own = [j for j in range(ok.shape[1]) if j not in set(d.stated) and valid[p.chosen, j]]
        cluster = cluster_size(d, cands, p.chosen)
        tests = float(ok[p.chosen, own].mean()) if own else 0.0
        rows.append({"task": d.task_id,
                     "precise": bool(verdicts.get((d.task_id, d.solutions[p.chosen])))
                     and verdicts.get((d.task_id, d.solutions[p.rejected])) is False,
                     "cluster": cluster,
                     "gate": int(g[cands].sum()) if g is not None else len(cands),
                     "tests": tests,
                     "both": min(cluster / 3, tests / 0.5)})
    lines = [f"consensus filters on {scorer}'s pairs ({len(mixed)} tasks have a right and a wrong candidate)", "",
             "| keep a pair when | pairs | precision | coverage |", "|---|---:|---:|---:|"]
    filters = [(f"chosen's cluster >= {k}", "cluster", k) for k in range(1, 9)]
    filters += [(f"gate-passing candidates >= {k}", "gate", k) for k in range(1, 7)]
    filters += [(f"chosen passes >= {f:g} of the model's tests", "tests", f) for f in (0.25, 0.5, 0.75, 1.0)]
    filters += [("cluster >= 3 and passes >= 0.5 of the model's tests", "both", 1.0)]
    for label, key, k in filters:
        row = filter_row(label, [r for r in rows if r[key] >= k], mixed)
        if row:
            lines.append(row)
    return "\n".join(lines)


def _exact(table: str, rows) -> str:
    """Put the random row's exact (fractional) rates into the table."""
    lines = table.splitlines()
    for i, r in enumerate(rows):
        if getattr(r, "exact", None) and r.exact[0] is not None:
            cells = lines[i + 2].split(" | ")
            cells[-3:] = [f"{x:.3f}" for x in r.exact[:2]] + [f"{r.exact[2]:.3f} |"]
            lines[i + 2] = " | ".join(cells)
    return "\n".join(lines)


def _as_dict(row) -> dict:
    d = row.to_dict()
    if getattr(row, "exact", None):
        d.update(zip(("precision", "chosen_correct", "rejected_wrong"), row.exact))
    return d


def _fmt(kw: dict) -> str:
    return "(" + ", ".join(f"{k}={v}" for k, v in kw.items()) + ")" if kw else ""


def _reasons(data):
    from collections import Counter

    return Counter(skip_reason(d, PairOptions()) or "scored" for d in data)


def _empty(label, total):
    return AuditRow(label, "", "dpo", total, 0, 0, 0, 0, 0, 0)


if __name__ == "__main__":
    main()
