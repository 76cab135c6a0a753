"""Pair precision when solutions are clustered by what they *return*, not by which asserts pass.

The pass-vector cluster (``pair_precision.py``'s consensus table, ``[rank] min_cluster``)
groups solutions that pass and fail the same self-generated asserts. When the model writes
an assert with a wrong expected value, every solution fails it and the assert says nothing.
Its *input* still does: two solutions that return the same value on it agree, whatever the
expected value was. This script measures that signal (the clustering of AlphaCode and
MBR-exec; see ../docs/learning.md), on samples and matrices from ``codepref generate`` /
``codepref execute``:

1. every call of a non-builtin function in the task's tests (the model's asserts and the
   prompt's stated example) is taken as an input, e.g. ``f(3, [1, 2])`` from
   ``assert f(3, [1, 2]) == 5``;
2. every distinct solution runs once in the sandbox with all of its task's inputs, each
   call under a 1-second alarm, and prints a canonical ``repr`` of each result (sets and
   dicts sorted, memory addresses dropped), or the exception's type, a timed-out or
   unreached call as one mark: its *signature*;
3. solutions with equal signatures form a behaviour cluster.

Printed beside the pass-vector filter, for each ``--solutions`` K: PageRank's pair kept when
the chosen solution's behaviour cluster has >= k members, and a pair whose chosen solution
is the prompt-gate-passing one with the largest behaviour cluster (``vote``: the rejected
one stays PageRank's when it behaves differently), judged against the benchmark's hidden
tests, with coverage over the tasks that have both a right and a wrong solution.

    python benchmarks/behaviour_clusters.py --samples S.jsonl --matrices M.jsonl \\
        --benchmark mbpp-train --solutions 8,16
"""

from __future__ import annotations

import argparse
import ast
import builtins
import json
import os
import sys
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pair_precision import filter_row, first_solutions, judged, solution_counts  # noqa: E402

from codepref.pairs.build import PairOptions, candidates, cluster_size, gate, task_picks  # noqa: E402
from codepref.records import Outcome, Program  # noqa: E402
from codepref.scoring import get_scorer  # noqa: E402

MARK = "@@cp-sig@@ "
_BUILTINS = set(dir(builtins))

UNFINISHED = "!unfinished"  # a call that timed out, or that the program never reached

# The harness appended to each solution: one line per input, its value in a canonical repr
# (sets and dicts in sorted order, no memory addresses), so equal behaviour prints equally
# in every process (string hashing, and so set order, is randomised per process). Literal
# braces are doubled for str.format.
_HARNESS = '''
import json as _cp_json, re as _cp_re, signal as _cp_signal
def _cp_alarm(*_a):
    raise TimeoutError()
def _cp_canon(v):
    if isinstance(v, (set, frozenset)):
        return type(v).__name__ + "{{" + ", ".join(sorted(map(_cp_canon, v))) + "}}"
    if isinstance(v, (list, tuple)):
        return type(v).__name__ + "[" + ", ".join(map(_cp_canon, v)) + "]"
    if isinstance(v, dict):
        return "dict{{" + ", ".join(sorted(_cp_canon(k) + ": " + _cp_canon(x) for k, x in v.items())) + "}}"
    return _cp_re.sub(r" at 0x[0-9a-fA-F]+", "", repr(v))
_cp_signal.signal(_cp_signal.SIGALRM, _cp_alarm)
for _cp_src in _cp_json.loads({calls!r}):
    _cp_signal.setitimer(_cp_signal.ITIMER_REAL, 1.0)
    try:
        _cp_val = _cp_canon(eval(_cp_src))[:300]
    except BaseException as _cp_e:
        _cp_val = "!" + type(_cp_e).__name__
    _cp_signal.setitimer(_cp_signal.ITIMER_REAL, 0)
    print({mark!r} + _cp_json.dumps(_cp_val), flush=True)
'''


def calls_of(test: str) -> list[str]:
    """Calls of non-builtin named functions in ``test``, outermost first, as source text."""
    try:
        tree = ast.parse(test)
    except SyntaxError:
        return []
    out, inner = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in _BUILTINS:
            if id(node) in inner:
                continue
            out.append(ast.unparse(node))
            inner.update(id(n) for n in ast.walk(node) if n is not node)
    return out


def signatures(data, pool) -> dict[tuple[str, str], tuple]:
    """(task id, solution text) -> the tuple of its results on the task's inputs."""
    programs, keys = [], []
    for d in data:
        calls = sorted({c for t in d.tests for c in calls_of(t)})
        if not calls:
            continue
        for i in candidates(d.solutions):
            keys.append((d.task_id, d.solutions[i], len(calls)))
            code = d.solutions[i] + "\n" + _HARNESS.format(calls=json.dumps(calls), mark=MARK)
            programs.append(Program(id=str(len(programs)), language="python", code=code, timeout_s=30.0))
    out = {}
    for res in pool.run(programs):
        task, text, n = keys[int(res.id)]
        if res.outcome is Outcome.SANDBOX_ERROR:
            continue
        vals = [json.loads(line[len(MARK):]) for line in res.stdout.split("\n") if line.startswith(MARK)]
        vals = [UNFINISHED if v == "!TimeoutError" else v for v in vals]
        out[(task, text)] = tuple(vals) + (UNFINISHED,) * (n - len(vals))
    return out


def rows_for(data, verdicts, sigs) -> tuple[list[dict], set]:
    """One row per task with a PageRank pick: its precision and both cluster sizes, and the vote pair."""
    sc, opts = get_scorer("pagerank"), PairOptions()
    rows, mixed = [], set()
    for d in data:
        cands = candidates(d.solutions)
        right = {i: verdicts.get((d.task_id, d.solutions[i])) for i in cands}
        if any(v is True for v in right.values()) and any(v is False for v in right.values()):
            mixed.add(d.task_id)
        picks, _ = task_picks(d, sc, opts)
        if not picks:
            continue
        p = picks[0]
        sig = {i: sigs.get((d.task_id, d.solutions[i])) for i in cands}
        size = Counter(s for s in sig.values() if s is not None)
        g = gate(d)
        eligible = [i for i in cands if g is None or g[i]]
        vote_size = Counter(sig[i] for i in eligible if sig[i] is not None)
        row = {"task": d.task_id,
               "precise": right[p.chosen] is True and right[p.rejected] is False,
               "pass_cluster": cluster_size(d, cands, p.chosen),
               "behaviour": size[sig[p.chosen]] if sig[p.chosen] is not None else 0}
        # vote: the eligible solution whose behaviour the most eligible solutions share
        # (PageRank's own chosen one on a tie), against PageRank's rejected one.
        best = max(vote_size.values(), default=0)
        top = [i for i in eligible if sig[i] is not None and vote_size[sig[i]] == best]
        chosen = p.chosen if p.chosen in top else (top[0] if top else None)
        if chosen is not None and sig[p.rejected] != sig[chosen]:
            row["vote"] = {"precise": right[chosen] is True and right[p.rejected] is False, "size": best}
        rows.append(row)
    return rows, mixed


def table(rows, mixed) -> str:
    lines = [f"{len(rows)} PageRank pairs; {len(mixed)} tasks have a right and a wrong solution", "",
             "| keep a pair when | pairs | precision | coverage |", "|---|---:|---:|---:|"]

    def line(label, kept):
        row = filter_row(label, kept, mixed)
        if row:
            lines.append(row)

    for k in range(1, 9):
        line(f"pass-vector cluster >= {k}", [r for r in rows if r["pass_cluster"] >= k])
    for k in range(1, 9):
        line(f"behaviour cluster >= {k}", [r for r in rows if r["behaviour"] >= k])
    for k in range(1, 9):
        line(f"vote (largest gate-passing behaviour cluster) >= {k}",
             [dict(r["vote"], task=r["task"]) for r in rows if "vote" in r and r["vote"]["size"] >= k])
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", required=True)
    ap.add_argument("--matrices", required=True)
    ap.add_argument("--benchmark", default="mbpp-train")
    ap.add_argument("--solutions", default="", metavar="K[,K]", help="report on each task's first K solutions")
    ap.add_argument("--workers", type=int, default=0)
    args = ap.parse_args()

    with judged(args.samples, args.matrices, args.benchmark, args.workers) as (data, verdicts, pool):
        sigs = signatures(data, pool)
    n_inputs = [len({c for t in d.tests for c in calls_of(t)}) for d in data]
    print(f"{len(data)} tasks; inputs per task: median {sorted(n_inputs)[len(n_inputs) // 2]} "
          f"(none in {sum(n == 0 for n in n_inputs)}); signatures of {len(sigs)} distinct solutions\n")
    for k in solution_counts(args.solutions):
        sub = first_solutions(data, k) if k else data
        print(f"## {'the first %d solutions of each task' % k if k else 'all solutions'}\n")
        print(table(*rows_for(sub, verdicts, sigs)) + "\n")


if __name__ == "__main__":
    main()
