"""Pair precision when solutions are clustered by what they *return*, not by which asserts pass.

The pass-vector cluster (``pair_precision.py``'s consensus table, ``[rank] min_cluster``)
groups solutions that pass and fail the same self-generated asserts. When the model writes
an assert with a wrong expected value, every solution fails it and the assert says nothing.
Its *input* still does: two solutions that return the same value on it agree, whatever the
expected value was. ``[rank] consensus = "behaviour"`` counts that agreement
(:mod:`codepref.pairs.behaviour`: every distinct solution runs once in the sandbox on the
expressions its task's asserts check, and solutions with equal results share a signature;
the clustering of AlphaCode and MBR-exec, see ../docs/learning.md). This script measures it
on samples and matrices from ``codepref generate`` / ``codepref execute``, judged against
the benchmark's hidden tests, with the pairs ``codepref rank`` would make (PageRank, the
prompt gate on) under each consensus filter:

* ``pass-vector cluster >= k``: ``--min-cluster k`` (``consensus = "pass"``);
* ``behaviour cluster >= k``: ``--min-cluster k --consensus behaviour``;
* ``... and the rejected one fails the stated example``: the same with ``--sure-rejected``.

Coverage is over the tasks that have both a right and a wrong solution (issue goal: precision
>= 0.9 at coverage >= 0.5). ``--solutions 8,16`` repeats the table on each task's first K
solutions; ``--pairs-per-task`` as in ``codepref rank``.

    python benchmarks/behaviour_clusters.py --samples S.jsonl --matrices M.jsonl \\
        --benchmark mbpp-train --solutions 8,16 [--pairs-per-task 4]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pair_precision import filter_row, first_solutions, judged, solution_counts  # noqa: E402

from codepref.pairs.behaviour import call_inputs, signatures  # noqa: E402
from codepref.pairs.build import PairOptions, candidates, task_picks  # noqa: E402
from codepref.scoring import get_scorer  # noqa: E402

#: (label, PairOptions fields) of the filters in the table; ``{k}`` is the cluster size.
FILTERS = [("pass-vector cluster >= {k}", {"consensus": "pass"}),
           ("behaviour cluster >= {k}", {"consensus": "behaviour"}),
           ("behaviour cluster >= {k} and the rejected one fails the stated example",
            {"consensus": "behaviour", "sure_rejected": True})]


def with_signatures(data, by_text: dict[tuple[str, str], str | None]):
    """Each task with ``behaviours`` looked up by solution text (so a cut task keeps them)."""
    return [dataclasses.replace(d, behaviours=[by_text.get((d.task_id, s)) for s in d.solutions]) for d in data]


def table(data, verdicts, pairs_per_task: int = 1) -> str:
    mixed = set()
    for d in data:
        right = [verdicts.get((d.task_id, d.solutions[i])) for i in candidates(d.solutions)]
        if True in right and False in right:
            mixed.add(d.task_id)
    lines = [f"{len(data)} tasks; {len(mixed)} have a right and a wrong solution; PageRank, up to "
             f"{pairs_per_task} pair(s) per task", "",
             "| keep a pair when | pairs | precision | coverage |", "|---|---:|---:|---:|"]
    sc = get_scorer("pagerank")
    for label, fields in FILTERS:
        for k in range(1, 9):
            opts = PairOptions(pairs_per_task=pairs_per_task, min_cluster=k, **fields)
            kept = [{"task": d.task_id,
                     "precise": verdicts.get((d.task_id, d.solutions[p.chosen])) is True
                     and verdicts.get((d.task_id, d.solutions[p.rejected])) is False}
                    for d in data for p in task_picks(d, sc, opts)[0]]
            row = filter_row(label.format(k=k), kept, mixed)
            if row:
                lines.append(row)
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", required=True)
    ap.add_argument("--matrices", required=True)
    ap.add_argument("--benchmark", default="mbpp-train")
    ap.add_argument("--solutions", default="", metavar="K[,K]", help="report on each task's first K solutions")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--pairs-per-task", type=int, default=1, help="most pairs per task, as codepref rank's")
    args = ap.parse_args()

    with judged(args.samples, args.matrices, args.benchmark, args.workers) as (data, verdicts, pool):
        sigs = signatures(data, pool)
    by_text = {(d.task_id, d.solutions[r]): sig for d in data for r, sig in enumerate(sigs.get(d.task_id, []))
               if sig is not None}
    n_inputs = [len(call_inputs(d.tests)) for d in data]
    print(f"{len(data)} tasks; inputs per task: median {statistics.median(n_inputs)} "
          f"(none in {sum(n == 0 for n in n_inputs)}); signatures of {len(by_text)} distinct solutions\n")
    for k in solution_counts(args.solutions):
        sub = with_signatures(first_solutions(data, k) if k else data, by_text)
        print(f"## {'the first %d solutions of each task' % k if k else 'all solutions'}\n")
        print(table(sub, verdicts, args.pairs_per_task) + "\n")

if __name__ == "__main__":
    main()
