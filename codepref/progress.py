"""Progress reporting: the one shape every stage's progress bar has.

A long-running function takes ``progress: Progress | None``. When it knows how much work
there is, it calls ``progress(done, total)`` once (``done``: units already finished, e.g.
by an earlier run it resumes) and gets a :data:`Tick`, which it then calls with the number
of units finished since the last call. Code that runs several phases with different units
(tasks, then cells) takes :data:`ProgressBars` and asks it for one :data:`Progress` per unit.

:func:`codepref.cli.common.tqdm_progress` makes a tqdm bar of this shape for the commands,
and the run display (:class:`codepref.pipeline.Display`) one line per stage. Functions that
take a :data:`Tick` directly (the sandbox pool) leave starting the bar to their caller.

Two callbacks have another shape on purpose: a generation backend reports its position
``(done, total)`` in completions (:data:`codepref.generation.backend.GenProgress`, which the
generate stage turns into ticks), and fetching a packaged model reports ``(phase, done,
total)`` over several phases in bytes (:data:`codepref.generation.models.Progress`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: ``tick(n)``: ``n`` more units of work are finished.
Tick = Callable[[int], Any]

#: ``progress(done, total) -> tick``: starts a bar of ``total`` units, ``done`` of them finished.
Progress = Callable[[int, int], Tick]

#: ``bars(unit) -> progress``: a :data:`Progress` for work counted in ``unit`` (``"cells"`` ...).
ProgressBars = Callable[[str], Progress]

__all__ = ["Tick", "Progress", "ProgressBars"]
