"""Contamination guard: training tasks must not overlap the benchmarks a run evaluates on.

:func:`check_overlap` compares every training task with every benchmark task three ways and
returns one :class:`Overlap` per (training task, benchmark task) pair that matches, with the
first rule that fired:

``same_id``
    Both ids name the same problem of the same source family: the part before the first
    ``/`` is the family (``Mbpp/601``, ``HumanEval/3``), and ids match exactly. Ids without a
    family (``"1"``) are never compared: bare numbers mean nothing across sources.
``same_text``
    The normalised prompts are equal, or the normalised *descriptions* are (the prompt
    without its ``assert`` and ``>>>`` example lines, so one problem restated with other
    example tests still matches). Normalising (:func:`normalise`) lower-cases the text and
    keeps its words ``\\w+`` only, which drops docstring quotes, all punctuation and
    whitespace differences.
``ngram``
    The two normalised prompts share a run of ``n`` = 13 consecutive words. This is the
    test-set decontamination rule of GPT-3 (Brown et al. 2020, "Language Models are Few-Shot
    Learners", Appendix C: a 13-gram collision of lower-cased words with punctuation removed
    marks an example as dirty), applied to whole prompts. Runs made of numbers only are
    skipped: they are shared example data (``1 2 3 ... 13``, one input list used by two
    different MBPP problems), not a shared problem. A 13-word run catches a problem restated
    with a few words changed; MBPP's templated statements also reach it ("write a python
    function to check whether the given number can be represented ..." for sum versus
    difference of two squares), so the rule errs on the side of flagging sibling problems.

On MBPP's train/validation/few-shot problems that MBPP+ does not use, these rules flag a
handful as near-copies of MBPP+ or MBPP test problems (e.g. MBPP 928 restates Mbpp/427
word for word; MBPP 649 is Mbpp/170 with the same example); the ``mbpp-train`` task set
drops every one of them (:mod:`codepref.tasks.mbpp_train`).

:func:`guard` raises :class:`~codepref.errors.ContaminationError` unless the overlap is
explicitly allowed. A run should call it before its train stage, with the run's training
tasks and the task sets of its evaluate benchmarks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from codepref.errors import ContaminationError
from codepref.records import Task
from codepref.tasks import TaskSet

#: Words per n-gram (GPT-3's 13).
NGRAM = 13
SAME_ID, SAME_TEXT, NGRAM_RULE = "same_id", "same_text", "ngram"
_WORD = re.compile(r"\w+")
_EXAMPLE_LINE = re.compile(r"^\s*(assert\b|>>>)")


@dataclass(frozen=True)
class Overlap:
    """One training task that overlaps one benchmark task.

    Attributes:
        train_id: the training task.
        benchmark: the benchmark task set's name.
        benchmark_id: the benchmark task.
        why: ``same_id``, ``same_text`` or ``ngram`` (the first rule that matched).
        detail: what matched: the id, ``prompt`` or ``description``, or the shared n-gram.
    """

    train_id: str
    benchmark: str
    benchmark_id: str
    why: str
    detail: str

    def __str__(self) -> str:
        return f"{self.train_id} ~ {self.benchmark} {self.benchmark_id} ({self.why}: {self.detail})"


def words(text: str) -> list[str]:
    """The lower-cased words (``\\w+``) of ``text``: no punctuation, quotes or spacing left."""
    return _WORD.findall(text.lower())


def normalise(text: str) -> str:
    """``text`` as comparable words: lower-cased, punctuation and quotes dropped, single spaces."""
    return " ".join(words(text))


def description(prompt: str) -> str:
    """The prompt without its example lines (lines starting with ``assert`` or ``>>>``)."""
    return "\n".join(line for line in prompt.splitlines() if not _EXAMPLE_LINE.match(line))


def ngrams(ws: list[str], n: int = NGRAM) -> list[tuple[str, ...]]:
    """The ``n``-word runs of ``ws`` in text order, except runs of numbers only (example data)."""
    runs = (tuple(ws[i:i + n]) for i in range(len(ws) - n + 1))
    return [g for g in runs if not all(w.isdigit() for w in g)]


def family(task_id: str) -> str | None:
    """The source family of an id (``Mbpp`` of ``Mbpp/601``), or None for an id without one."""
    head, sep, _ = task_id.partition("/")
    return head if sep and head else None


def _texts(task: Task) -> list[tuple[str, str]]:
    """``(what, normalised text)`` pairs compared by the ``same_text`` rule."""
    full = normalise(task.prompt)
    out = [("prompt", full)] if full else []
    desc = normalise(description(task.prompt))
    if desc and desc != full:
        out.append(("description", desc))
    return out


def _name(benchmark: TaskSet | tuple[str, Iterable[Task]]) -> tuple[str, list[Task]]:
    if isinstance(benchmark, TaskSet):
        return benchmark.name, list(benchmark.tasks)
    name, tasks = benchmark
    return name, list(tasks)


def check_overlap(train: TaskSet | Iterable[Task], benchmarks: Iterable[TaskSet | tuple[str, Iterable[Task]]], *,
                  n: int = NGRAM) -> list[Overlap]:
    """Every (training task, benchmark task) pair that overlaps, in training-task order.

    Args:
        train: the training tasks (a TaskSet or any list of Task).
        benchmarks: the benchmark task sets (or ``(name, tasks)`` pairs).
        n: words per n-gram for the ``ngram`` rule.

    Returns:
        One :class:`Overlap` per overlapping pair, with the first rule that matched (see the
        module docstring); empty when the training tasks are clean.
    """
    by_id: dict[str, list[tuple[str, str]]] = {}
    by_text: dict[str, list[tuple[str, str, str]]] = {}
    by_gram: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    order: dict[tuple[str, str], int] = {}
    for bench in benchmarks:
        name, tasks = _name(bench)
        for task in tasks:
            key = (name, task.id)
            order.setdefault(key, len(order))
            if family(task.id):
                by_id.setdefault(task.id, []).append(key)
            for what, text in _texts(task):
                by_text.setdefault(text, []).append((name, task.id, what))
            for gram in set(ngrams(words(task.prompt), n)):
                by_gram.setdefault(gram, []).append(key)

    found: list[Overlap] = []
    for task in train:
        hits: dict[tuple[str, str], tuple[str, str]] = {}
        if family(task.id):
            for key in by_id.get(task.id, []):
                hits.setdefault(key, (SAME_ID, task.id))
        for what, text in _texts(task):
            for name, bid, their in by_text.get(text, []):
                hits.setdefault((name, bid), (SAME_TEXT, what if what == their else f"{what} = {their}"))
        for gram in ngrams(words(task.prompt), n):  # in text order: the detail is the first shared run
            for key in by_gram.get(gram, []):
                hits.setdefault(key, (NGRAM_RULE, " ".join(gram)))
        for key in sorted(hits, key=order.__getitem__):
            why, detail = hits[key]
            found.append(Overlap(task.id, key[0], key[1], why, detail))
    return found


def describe(overlaps: list[Overlap], limit: int = 10) -> str:
    """The first ``limit`` overlaps, one per line, and how many more there are."""
    lines = [f"  {o}" for o in overlaps[:limit]]
    if len(overlaps) > limit:
        lines.append(f"  ... and {len(overlaps) - limit} more")
    return "\n".join(lines)


def guard(train: TaskSet | Iterable[Task], benchmarks: Iterable[TaskSet | tuple[str, Iterable[Task]]], *,
          allow: bool = False, n: int = NGRAM) -> list[Overlap]:
    """Refuse training tasks that overlap the benchmarks, unless ``allow``; return the overlaps.

    Raises:
        ContaminationError: some training task overlaps a benchmark task and ``allow`` is
            False; the message names the first 10 overlaps and counts the training tasks.
    """
    overlaps = check_overlap(train, benchmarks, n=n)
    if overlaps and not allow:
        tasks = len({o.train_id for o in overlaps})
        raise ContaminationError(
            f"{tasks} training task(s) overlap the evaluation benchmarks ({len(overlaps)} pair(s)); "
            f"training on them would inflate the scores:\n{describe(overlaps)}\n"
            "drop them from the training tasks, or allow the overlap explicitly "
            "([run] allow_contamination = true)", overlaps)
    return overlaps


__all__ = ["NGRAM", "Overlap", "check_overlap", "describe", "description", "family", "guard", "ngrams",
           "normalise", "words"]
