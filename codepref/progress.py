"""Progress reporting: the one shape every stage's progress bar has.

A long-running function takes ``progress: Progress | None``. When it knows how much work
there is, it calls ``progress(done, total)`` once (``done``: units already finished, e.g.
by an earlier run it resumes) and gets a :data:`Tick`, which it then calls with the number
of units finished since the last call. Code that runs several phases with different units
(tasks, then cells) takes :data:`ProgressBars` and asks it for one :data:`Progress` per unit.

:func:`codepref.cli.common.tqdm_progress` makes a tqdm bar of this shape for the commands,
and the run display (:class:`codepref.pipeline.Display`) one line per stage. Functions that
take a :data:`Tick` directly (the sandbox pool) leave starting the bar to their caller.

When stderr is not a terminal (a run under ``nohup``, a CI log), tqdm draws nothing, so
:func:`line_progress` takes its place: a plain line at most once a minute with the count,
the rate and the time left, which a log file keeps.

Two callbacks have another shape on purpose: a generation backend reports its position
``(done, total)`` in completions (:data:`codepref.generation.backend.GenProgress`, which the
generate stage turns into ticks), and fetching a packaged model reports ``(phase, done,
total)`` over several phases in bytes (:data:`codepref.generation.models.Progress`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

#: ``tick(n)``: ``n`` more units of work are finished.
Tick = Callable[[int], Any]

#: ``progress(done, total) -> tick``: starts a bar of ``total`` units, ``done`` of them finished.
Progress = Callable[[int, int], Tick]

#: ``bars(unit) -> progress``: a :data:`Progress` for work counted in ``unit`` (``"cells"`` ...).
ProgressBars = Callable[[str], Progress]


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"


def line_progress(echo: Callable[[str], Any], label: str, unit: str, done: int, total: int,
                  interval_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> Tick:
    """A :data:`Tick` that echoes ``LABEL: DONE/TOTAL UNIT (P%), R UNIT/min, about T left``
    when at least ``interval_s`` passed since the last line (or the start), and once at the
    end if any line was printed. The rate counts only the units finished since the start
    (``done`` of them were finished by an earlier run)."""
    start = last = clock()
    state = {"done": done, "printed": False}

    def tick(n: int) -> None:
        nonlocal last
        state["done"] += n
        now = clock()
        finished = state["done"] >= total
        if now - last < interval_s and not (finished and state["printed"]):
            return
        last = now
        state["printed"] = True
        new = state["done"] - done
        rate = new / max(now - start, 1e-9) * 60
        text = f"{label}: {state['done']}/{total} {unit} ({100 * state['done'] / max(total, 1):.0f}%)"
        if new > 0:
            text += f", {rate:.3g} {unit}/min"
            if not finished:
                text += f", about {_duration((total - state['done']) / rate * 60)} left"
        echo(text)

    return tick


def terminal() -> bool:
    """True when stderr is an interactive terminal (where tqdm draws its bars)."""
    return sys.stderr.isatty()


__all__ = ["Tick", "Progress", "ProgressBars", "line_progress", "terminal"]
