"""The protocol drawn on a trace: a labelled line where each step starts, a light tick
per trial (the marks of :mod:`app.live.protocol_marks`, the same live and in replay).

Cheap per frame, as the live view redraws 60 times a second: the step lines are the
comment lines' pool in the step colour (a label costs ~0.1 ms to paint, and a step
starts every few tens of seconds), the trial ticks ONE curve of line pairs, as the
stimulus markers are, whatever the number of trials in the window.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from app.gui.comment_marks import STEP_AT, CommentMarks
from app.gui.style import STEP, TRIAL_TICK, pen

#: the top of the plot the trial ticks take (a fraction of its height)
TICK_HEIGHT = 0.06


def step_lines(plot_item: pg.PlotItem, position: float = STEP_AT) -> CommentMarks:
    """A pool of solid step-coloured lines labelled with the step's name (the comments'
    labels sit higher, so the two do not cover each other); steps starting close
    together stack their labels downwards, as far as the plot's bottom."""
    return CommentMarks(plot_item, position=position, color=STEP, style=Qt.SolidLine, above=None)


class TrialTicks:
    """A short light tick at the top of the plot at each trial's mark."""

    def __init__(self, plot_item: pg.PlotItem) -> None:
        self.curve = plot_item.plot(pen=pen(TRIAL_TICK, 1), connect="pairs")
        self.curve.setZValue(4)
        self.shown: list[float] = []      # x of each tick as drawn (tests read it)

    def set(self, xs: Sequence[float], y_range: tuple[float, float]) -> None:
        """Ticks at ``xs``, hanging from the top of ``y_range`` (the plot's view)."""
        if not len(xs):
            if self.shown:
                self.curve.setData([], [])
                self.shown = []
            return
        lo, hi = y_range
        top, bottom = hi, hi - TICK_HEIGHT * (hi - lo)
        x = np.repeat(np.asarray(xs, dtype=np.float64), 2)
        y = np.tile([bottom, top], len(xs))
        self.curve.setData(x, y, connect="pairs")
        self.shown = [float(v) for v in xs]
