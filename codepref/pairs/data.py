"""One task's inputs to pair building: prompt, solution and test texts, and the pass matrix.

The rank stage joins three sources: the samples file (texts, by ``(task_id, kind,
index)``), the matrices file (``codepref execute`` output: a pass matrix whose rows and
columns name sample indices in ``solution_index`` / ``test_index``) and the prompts (from
the task set, or a ``prompt`` field on the sample lines). A matrices line without those
index lists (e.g. from ``codepref sandbox matrix``) is read as: rows = solution samples
in index order, columns = distinct non-empty test samples in index order.

The prompt of a task's records is what its solutions were *sampled from* when the samples
record it (``codepref generate`` writes the rendered ``prompt`` and each solution's
``continuation``; see :mod:`codepref.generation.stage`): then the records are on-policy, the
exact text the model saw and wrote. Otherwise (samples from elsewhere, or made before these
fields existed) it is the task set's prompt, else a ``prompt`` field of the sample lines.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from codepref.errors import InputError
from codepref.records import PassMatrix, is_int_list, iter_jsonl
from codepref.samples import TaskSamples, distinct_tests, read_generated_samples


@dataclass
class TaskData:
    """Everything pair building needs for one task.

    Attributes:
        task_id: the task.
        prompt: the prompt column of the pairs.
        language: the language of solutions and tests (for test-code concatenation).
        solutions: solution texts, one per matrix row.
        tests: test texts, one per matrix column.
        matrix: the pass matrix.
        solution_index: sample index of each row.
        test_index: sample index of each column.
        stated: columns whose test the task's prompt states (docstring examples ...), not
            the model; a solution failing one is wrong (see :func:`codepref.pairs.build.gate`).
        continuations: per row, the text the model sampled after ``prompt`` (``prompt`` is
            then the rendered text it was sampled from); empty when the samples do not record
            them for every row, and ``prompt`` is the task's.
        continuation_ids: per row (when ``continuations`` is set), the token ids the model
            sampled for it; an empty list where the samples do not record them.
        behaviours: per row, its behaviour signature on the inputs of the model's tests
            (:mod:`codepref.pairs.behaviour`; None: no signature); empty unless computed.
    """

    task_id: str
    prompt: str
    language: str
    solutions: list[str]
    tests: list[str]
    matrix: PassMatrix
    solution_index: list[int]
    test_index: list[int]
    stated: list[int] = dataclasses.field(default_factory=list)
    continuations: list[str] = dataclasses.field(default_factory=list)
    continuation_ids: list[list[int]] = dataclasses.field(default_factory=list)
    behaviours: list[str | None] = dataclasses.field(default_factory=list)


def completion_of(prompt: str, text: str) -> str:
    """The part of ``text`` after ``prompt`` when ``text`` starts with it, else ``text``.

    Completion-style generation stores ``prompt + completion`` as the solution; the DPO
    ``chosen``/``rejected`` columns must be the continuation of the ``prompt`` column.
    """
    return text[len(prompt):] if prompt and text.startswith(prompt) else text


def load_task_data(
    samples_path: str | os.PathLike[str],
    matrices_path: str | os.PathLike[str],
    prompts: dict[str, str] | None = None,
) -> list[TaskData]:
    """Join samples, matrices and prompts, in the matrices file's order.

    Args:
        prompts: task id -> prompt; used unless the samples record what each solution was
            sampled from (the rendered ``prompt`` and every row's ``continuation``); when None
            (or a task is missing from it), the sample lines' ``prompt`` field is used.

    Raises:
        InputError: a matrix line that does not parse, a task or sample index missing from
            the samples, a shape that does not match, or a task with no prompt.
    """
    samples = read_generated_samples(samples_path)
    src = str(matrices_path)
    out: list[TaskData] = []
    seen: set[str] = set()
    for line, obj in iter_jsonl(matrices_path):
        try:
            matrix = PassMatrix.from_dict(obj)
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"not a pass matrix line ({type(e).__name__}: {e})", src, line) from None
        tid = matrix.task_id
        if tid in seen:
            raise InputError(f"duplicate task_id {tid!r}", src, line)
        seen.add(tid)
        ts = samples.get(tid)
        if ts is None:
            raise InputError(f"task {tid!r} has no samples in {samples_path}", src, line)
        sol_idx, test_idx = _indices(obj, ts, src, line)
        sol_text = dict(ts.solutions)
        test_text = dict(ts.tests)
        for what, idx, texts in (("solution", sol_idx, sol_text), ("test", test_idx, test_text)):
            for i in idx:
                if i not in texts:
                    raise InputError(f"task {tid!r}: {what} sample {i} is not in {samples_path}", src, line)
        n, m = matrix.shape
        if n != len(sol_idx) or (n and m != len(test_idx)) or any(len(r) != m for r in matrix.outcomes) \
                or [len(r) for r in matrix.durations] != [len(r) for r in matrix.outcomes]:
            raise InputError(f"task {tid!r}: matrix shape {n}x{m} does not match {len(sol_idx)} solutions "
                             f"x {len(test_idx)} tests", src, line)
        sampled = ts.prompt is not None and bool(sol_idx) and all(i in ts.continuations for i in sol_idx)
        prompt = ts.prompt if sampled else (prompts or {}).get(tid, ts.prompt)
        if prompt is None:
            raise InputError(f"no prompt for task {tid!r}: pass the task set (--tasks NAME|FILE)", src, line)
        out.append(TaskData(tid, prompt, obj.get("language") or "python", [sol_text[i] for i in sol_idx],
                            [test_text[j] for j in test_idx], matrix, sol_idx, test_idx,
                            [c for c, j in enumerate(test_idx) if j in ts.stated],
                            [ts.continuations[i] for i in sol_idx] if sampled else [],
                            [ts.continuation_ids.get(i, []) for i in sol_idx] if sampled else []))
    return out


def _indices(obj: dict, ts: TaskSamples, src: str, line: int) -> tuple[list[int], list[int]]:
    sol = obj.get("solution_index")
    test = obj.get("test_index")
    for key, value in (("solution_index", sol), ("test_index", test)):
        if value is not None and not is_int_list(value):
            raise InputError(f"field {key!r} must be a list of integers", src, line)
    if sol is None:
        sol = [i for i, _ in ts.solutions]
    if test is None:
        test = [i for i, _ in distinct_tests(ts.tests)]
    return sol, test
