"""Progress in a log file: when stderr is not a terminal, long work prints a plain line at
most once a minute with its count, rate and time left, and a last line when it finishes."""

from __future__ import annotations

from codepref.pipeline import Display
from codepref.progress import line_progress


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_line_a_minute_with_rate_and_time_left():
    lines, clock = [], Clock()
    tick = line_progress(lines.append, "generate", "solutions", 100, 1000, clock=clock)
    clock.t += 30
    tick(50)
    assert lines == []  # less than a minute: nothing yet
    clock.t += 30
    tick(50)  # 200 done, 100 of them in 60 s
    assert lines == ["generate: 200/1000 solutions (20%), 100 solutions/min, about 8m00s left"]
    clock.t += 10
    tick(10)
    assert len(lines) == 1
    clock.t += 7200
    tick(790)  # finished
    assert lines[-1].startswith("generate: 1000/1000 solutions (100%)") and "left" not in lines[-1]


def test_short_work_prints_nothing():
    lines, clock = [], Clock()
    tick = line_progress(lines.append, "execute", "cells", 0, 10, clock=clock)
    for _ in range(10):
        clock.t += 1
        tick(1)
    assert lines == []


def test_the_run_display_uses_lines_off_a_terminal(monkeypatch):
    import codepref.progress as progress

    monkeypatch.setattr(progress, "terminal", lambda: False)
    lines = []
    display = Display(echo=lines.append, line_every_s=0.0)
    display.begin("round1.generate")
    tick = display.bar("solutions")(0, 4)
    tick(1)
    assert lines[0] == "==> round1.generate"
    assert lines[1].startswith("    round1.generate: 1/4 solutions (25%), ") and lines[1].endswith(" left")
