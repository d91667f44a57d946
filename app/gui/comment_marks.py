"""Operator comments drawn on a plot: a labelled vertical line at each comment's time.

The lines are a pool reused from frame to frame (the live view moves them 60 times a
second; creating and removing items that often costs more than the trace), so drawing
is a position and, when it changed, a label per visible comment. The protocol's step
marks are the same kind of line in their own colour (:mod:`app.gui.step_marks`).

Labels closer than their width at the zoom shown stack on rows instead of printing over
each other (the rule: :mod:`app.gui.mark_labels`); the rows are laid out again when the
marks move or the view's range or size changes, touching only labels whose row or side
changed, so the live view's frames stay a position per line.
"""
from __future__ import annotations

from typing import Sequence

import pyqtgraph as pg
from PySide6.QtCore import Qt

from app.gui.mark_labels import HIDDEN, place_labels, rows_that_fit
from app.gui.style import COMMENT

#: characters of a comment shown on the trace (the whole text is in the log and info)
LABEL_CHARS = 40
#: where the labels sit along the lines (fraction of the plot's height from its bottom):
#: the comments above the protocol's steps, the comments' rows kept clear of the steps'
COMMENT_AT, STEP_AT = 0.92, 0.80
#: rows a stack of labels may take at most (more close marks: zoom in to read them)
MAX_ROWS = 4
#: space around a label's text: small, so that stacked rows sit close together
TEXT_MARGIN_PX = 1.0

_RIGHT, _LEFT = (0.0, 0.5), (1.0, 0.5)     # text anchors: right / left of the line


def short_label(text: str) -> str:
    """The comment as drawn: cut to LABEL_CHARS with an ellipsis."""
    return text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS - 1] + "…"


class CommentMarks:
    """The comments shown on one plot item."""

    def __init__(self, plot_item: pg.PlotItem, position: float = COMMENT_AT, color: str = COMMENT,
                 style: Qt.PenStyle = Qt.DashLine, above: float | None = STEP_AT) -> None:
        """``above``: the height of other labels under these (their first row stays
        clear of these rows); None: the rows may go down to the plot's bottom."""
        self._plot = plot_item
        self._view = plot_item.getViewBox()
        self._position = position          # where the label sits along the line (0–1)
        self._above = above
        self._color = color
        self._style = style
        self._lines: list[pg.InfiniteLine] = []
        self._sizes: list[tuple[float, float]] = []   # each pooled label's text, in pixels
        self._xs: list[float] = []
        self.shown: list[tuple[float, str]] = []   # (x, full text) as drawn (tests read it)
        self.rows: list[int] = []                  # each shown label's row (HIDDEN: not drawn)
        self._view.sigXRangeChanged.connect(self.relayout)
        self._view.sigResized.connect(self.relayout)

    def set(self, xs: Sequence[float], texts: Sequence[str]) -> None:
        """Draw a line at each x labelled with its text; hide the rest of the pool."""
        while len(self._lines) < len(xs):
            line = pg.InfiniteLine(angle=90, movable=False,
                                   pen=pg.mkPen(self._color, width=1, style=self._style),
                                   label="", labelOpts={"position": self._position,
                                                        "color": self._color,
                                                        "anchors": [_RIGHT, _RIGHT]})
            line.label.textItem.document().setDocumentMargin(TEXT_MARGIN_PX)
            line.setZValue(6)
            self._plot.addItem(line)
            self._lines.append(line)
            self._sizes.append((0.0, 0.0))
        for i, line in enumerate(self._lines):
            if i < len(xs):
                line.setPos(float(xs[i]))
                text = short_label(texts[i])
                fmt = text.replace("{", "{{").replace("}", "}}")
                if line.label.format != fmt:
                    line.label.format = fmt        # a str.format template: braces escaped
                    line.label.setText(text)       # now, hidden or not: it is measured
                    rect = line.label.textItem.boundingRect()
                    self._sizes[i] = (rect.width(), rect.height())
                if not line.isVisible():
                    line.show()
                    line.label.valueChanged()      # not updated while it was hidden
            elif line.isVisible():
                line.hide()
        self._xs = [float(x) for x in xs]
        self.shown = [(x, str(t)) for x, t in zip(self._xs, texts)]
        self.relayout()

    def labels(self) -> list[pg.TextItem | None]:
        """The label of each shown mark, None where it is not drawn (tests read them)."""
        return [None if row == HIDDEN else line.label for line, row in zip(self._lines, self.rows)]

    def relayout(self, *_args) -> None:
        """Put each shown label on its row and side for the current view (the rule:
        :func:`app.gui.mark_labels.place_labels`)."""
        n = len(self._xs)
        width, height = self._view.width(), self._view.height()
        (x0, x1), _ = self._view.viewRange()
        if not n or width <= 0 or height <= 0 or x1 <= x0:
            self.rows = [0] * n
            return
        scale = width / (x1 - x0)
        row_px = max(h for _, h in self._sizes[:n])
        floor = 0.0 if self._above is None else self._above * height + row_px / 2.0
        rows = rows_that_fit(self._position * height, row_px, floor, MAX_ROWS)
        placed = place_labels([(x - x0) * scale for x in self._xs],
                              [w for w, _ in self._sizes[:n]], width, rows)
        for line, where in zip(self._lines, placed):
            self._put(line.label, where.row, where.left, self._position - where.row * row_px / height)
        self.rows = [p.row for p in placed]

    @staticmethod
    def _put(label: pg.InfLineLabel, row: int, left: bool, position: float) -> None:
        """Move one label, touching it only if its row or side changed."""
        if row == HIDDEN:
            if label.isVisible():
                label.hide()
            return
        anchor = _LEFT if left else _RIGHT
        changed = label.orthoPos != position or tuple(label.anchors[0]) != anchor
        if changed:
            label.orthoPos = position
            label.anchors = [anchor, anchor]
        if not label.isVisible():
            label.show()                   # repositions it
        elif changed:
            label.updatePosition()
