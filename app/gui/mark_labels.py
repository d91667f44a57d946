"""Where the labels of vertical marks go so that they never cover each other.

A protocol's note and prompt steps take no stream time, so the next step starts at the
same sample, and their labels, drawn at one height, were printed over each other
('setup' over 'supramaximal'); so were any two marks closer than a label's width at the
zoom shown. The rule, in pixels at the current view (Qt-free; the caller recomputes it
when the marks, the view range or the plot's size change; O(marks x rows), a few dozen
marks, never per sample):

- a label sits right of its line (it reads on from where the step starts), or left of
  it when it would run past the plot's right edge and fits there;
- labels are taken in order of their left edge, each onto the first row where it
  clears the label before it by ``GAP_PX`` (row 0 at the requested height, each next
  row one label height lower), so marks far enough apart keep one row and close ones
  stack in time order;
- a label that finds no free row among those the plot has room for is not drawn (its
  line stays): zooming in spreads the marks and brings it back;
- a mark outside the view has no label (it would be a clipped piece of text naming a
  line one cannot see).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

#: clear space between two labels on one row
GAP_PX = 6.0
#: the row of a label that is not drawn
HIDDEN = -1


@dataclass(frozen=True)
class Placement:
    row: int        # 0: the requested height, 1 one label height lower, ...; HIDDEN: not drawn
    left: bool      # the label sits left of its line (near the plot's right edge)


def label_side_left(x_px: float, width_px: float, view_width_px: float) -> bool:
    """Left of the line only when the label does not fit right of it but fits left; if
    it fits neither way, the side with more room."""
    if x_px + width_px <= view_width_px:
        return False
    if x_px - width_px >= 0.0:
        return True
    return x_px > view_width_px - x_px


def rows_that_fit(top_px: float, row_px: float, floor_px: float, most: int) -> int:
    """How many rows of ``row_px`` fit from a first row centred at ``top_px`` (pixels
    from the plot's bottom) down to ``floor_px``, the lowest a label's bottom edge may
    reach; at least 1 (a lone label is always drawn where asked), at most ``most``."""
    if row_px <= 0.0:
        return 1
    extra = math.floor((top_px - row_px / 2.0 - floor_px) / row_px)
    return max(1, min(most, 1 + extra))


def place_labels(xs_px: Sequence[float], widths_px: Sequence[float],
                 view_width_px: float, rows: int) -> list[Placement]:
    """A row and a side for the label of each mark at ``xs_px`` (pixels from the plot's
    left edge) with the given label widths, on at most ``rows`` rows."""
    lefts: list[float] = []
    rights: list[float] = []
    sides: list[bool] = []
    for x, w in zip(xs_px, widths_px):
        left = label_side_left(x, w, view_width_px)
        sides.append(left)
        lefts.append(x - w if left else x)
        rights.append(x if left else x + w)
    ends = [-math.inf] * max(1, rows)        # right edge of the last label on each row
    placed = [HIDDEN] * len(lefts)
    inside = [i for i, x in enumerate(xs_px) if 0.0 <= x <= view_width_px]
    for i in sorted(inside, key=lefts.__getitem__):
        for row, end in enumerate(ends):
            if lefts[i] >= end + GAP_PX:
                ends[row] = rights[i]
                placed[i] = row
                break
    return [Placement(row, left) for row, left in zip(placed, sides)]
