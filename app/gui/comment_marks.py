"""Operator comments drawn on a plot: a labelled vertical line at each comment's time.

The lines are a pool reused from frame to frame (the live view moves them 60 times a
second; creating and removing items that often costs more than the trace), so drawing
is a position and, when it changed, a label per visible comment. The protocol's step
marks are the same kind of line in their own colour (:mod:`app.gui.step_marks`).
"""
from __future__ import annotations

from typing import Sequence

import pyqtgraph as pg
from PySide6.QtCore import Qt

from app.gui.style import COMMENT

#: characters of a comment shown on the trace (the whole text is in the log and info)
LABEL_CHARS = 40


def short_label(text: str) -> str:
    """The comment as drawn: cut to LABEL_CHARS with an ellipsis."""
    return text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS - 1] + "…"


class CommentMarks:
    """The comments shown on one plot item."""

    def __init__(self, plot_item: pg.PlotItem, position: float = 0.92, color: str = COMMENT,
                 style: Qt.PenStyle = Qt.DashLine) -> None:
        self._plot = plot_item
        self._position = position          # where the label sits along the line (0–1)
        self._color = color
        self._style = style
        self._lines: list[pg.InfiniteLine] = []
        self.shown: list[tuple[float, str]] = []   # (x, full text) as drawn (tests read it)

    def set(self, xs: Sequence[float], texts: Sequence[str]) -> None:
        """Draw a line at each x labelled with its text; hide the rest of the pool."""
        while len(self._lines) < len(xs):
            line = pg.InfiniteLine(angle=90, movable=False,
                                   pen=pg.mkPen(self._color, width=1, style=self._style),
                                   label="", labelOpts={"position": self._position,
                                                        "color": self._color})
            line.setZValue(6)
            self._plot.addItem(line)
            self._lines.append(line)
        for i, line in enumerate(self._lines):
            if i < len(xs):
                line.setPos(float(xs[i]))
                fmt = short_label(texts[i]).replace("{", "{{").replace("}", "}}")
                if line.label.format != fmt:
                    line.label.setFormat(fmt)      # a str.format template: braces escaped
                if not line.isVisible():
                    line.show()
            elif line.isVisible():
                line.hide()
        self.shown = [(float(x), str(t)) for x, t in zip(xs, texts)]
