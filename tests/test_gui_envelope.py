"""The replay's overview and detail plots draw the true envelope at every zoom.

A known signal (a smooth tetanic plateau, a train of fast twitches) is rendered by the
real :class:`~app.gui.overview.OverviewPlot` at several zoom levels; in the grabbed
image, every pixel column's drawn extent is compared with the raw samples' min and max
in that column. The drawn trace must reach each column's true extremes (no clipped
peaks, no steps below a plateau) and never go beyond what the column and its
neighbours hold (no dips or spikes that are not in the data; the line joining two
columns runs between their neighbouring values, as the raw trace does).
"""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QImage

from app.gui.style import TRACE

pytestmark = pytest.mark.gui

RATE = 10_000.0
TOL_PX = 2   # pixel rounding of the line ends and of the mapping


def _signal() -> np.ndarray:
    """20 s: a 2382 mN tetanus (5.0–5.5 s, smooth plateau) and 40 fast twitches
    (10–12 s, every 50 ms: 3 ms rise, 15 ms decay), small noise."""
    t = np.arange(int(20 * RATE)) / RATE
    y = np.random.default_rng(3).normal(0.0, 2.0, t.size)
    on = (t >= 5.0) & (t < 5.5)
    y += np.where(on, 2382.0 * (1 - np.exp(-(t - 5.0) / 0.02)), 0.0)
    off = t >= 5.5
    y += np.where(off, 2382.0 * (1 - np.exp(-0.5 / 0.02)) * np.exp(-(t - 5.5) / 0.03), 0.0)
    for k in range(40):
        t0 = 10.0 + 0.05 * k
        dt = np.clip(t - t0, 0.0, None)
        y += 600.0 * (1 - np.exp(-dt / 0.003)) * np.exp(-dt / 0.015)
    return y.astype(np.float32)


def _mapping(plot):
    """Affine maps from data (t, value) to widget pixels of a PlotWidget."""
    vb = plot.getPlotItem().getViewBox()

    def px(t: float, v: float) -> tuple[float, float]:
        p = plot.viewportTransform().map(vb.mapViewToScene(QPointF(t, v)))
        return p.x() + plot.viewport().x(), p.y() + plot.viewport().y()
    (x0, y0), (x1, y1) = px(0.0, 0.0), px(1.0, 1000.0)
    return (x0, x1 - x0), (y0, (y1 - y0) / 1000.0)


def _check_envelope(plot, y: np.ndarray, t0: float, t1: float) -> int:
    """Compare drawn vs raw per pixel column; returns the number of columns checked."""
    img = plot.grab().toImage().convertToFormat(QImage.Format_RGB32)
    bgra = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine() // 4, 4)
    (ax, bx), (ay, by) = _mapping(plot)
    # the trace's blue, also where the translucent grid is drawn over it (grey on blue)
    ref = QColor(TRACE)
    blue = (bgra[:, :, 0].astype(int) - bgra[:, :, 2]) > (ref.blue() - ref.red()) // 2
    c0, c1 = int(np.ceil(ax + bx * t0)) + 2, int(np.floor(ax + bx * t1)) - 2
    raw_top, raw_bot, drawn_top, drawn_bot = {}, {}, {}, {}
    for c in range(c0 - 1, c1 + 2):
        # samples whose time maps into [c, c+1) in pixels
        s0 = int(np.ceil(((c - ax) / bx) * RATE))
        s1 = int(np.ceil(((c + 1 - ax) / bx) * RATE))
        seg = y[max(0, s0):max(0, s1)]
        if seg.size == 0:
            continue
        raw_top[c], raw_bot[c] = ay + by * float(seg.max()), ay + by * float(seg.min())
        rows = np.flatnonzero(blue[:, c])
        if rows.size:
            drawn_top[c], drawn_bot[c] = int(rows.min()), int(rows.max())
    checked = 0
    for c in range(c0, c1):
        if c not in raw_top or c not in drawn_top:
            continue
        near = [k for k in (c - 1, c, c + 1) if k in raw_top]
        drawn = [k for k in (c - 1, c, c + 1) if k in drawn_top]
        hi_lim = min(raw_top[k] for k in near) - TOL_PX      # highest allowed (smallest row)
        lo_lim = max(raw_bot[k] for k in near) + TOL_PX      # lowest allowed
        # reached: each column's extremes are drawn (within a pixel either side: rounding)
        assert min(drawn_top[k] for k in drawn) <= raw_top[c] + TOL_PX, f"column {c}: peak clipped ({t0}–{t1} s)"
        assert max(drawn_bot[k] for k in drawn) >= raw_bot[c] - TOL_PX, f"column {c}: trough clipped ({t0}–{t1} s)"
        # nothing invented: no column drawn beyond what it and its neighbours hold
        assert drawn_top[c] >= hi_lim, f"column {c}: drawn above the data ({t0}–{t1} s)"
        assert drawn_bot[c] <= lo_lim, f"column {c}: drawn below the data ({t0}–{t1} s)"
        checked += 1
    return checked


def _shown_overview(qtbot, y: np.ndarray, stim):
    from app.gui.overview import OverviewPlot
    w = OverviewPlot()
    qtbot.addWidget(w)
    w.resize(1100, 800)
    w.show()
    qtbot.waitExposed(w)
    w.set_data(y, RATE, stim, background=False)
    return w


@pytest.mark.parametrize("span", [(0.0, 20.0), (0.0, 10.0), (4.8, 6.0), (9.9, 12.2), (5.0, 5.3),
                                  (10.0, 10.12)])
def test_detail_draws_the_true_envelope_at_every_zoom(qtbot, span):
    y = _signal()
    w = _shown_overview(qtbot, y, np.array([50_000]))
    w.detail.setYRange(-100, 2500, padding=0)
    w.show_span(*span)
    qtbot.wait(20)
    columns = _check_envelope(w.detail, y, *span)
    assert columns > 300


def test_overview_draws_the_true_envelope(qtbot):
    y = _signal()
    w = _shown_overview(qtbot, y, None)
    w.overview.setXRange(0, 20, padding=0)
    w.overview.setYRange(-100, 2500, padding=0)
    w.region.hide()            # the region's brush would tint the trace
    qtbot.wait(20)
    assert _check_envelope(w.overview, y, 0.0, 20.0) > 300


def test_live_view_paced_at_60_hz_or_more_without_a_second_downsampling(qtbot):
    """Issue 14: redraws at the display refresh (at least 60 Hz) and pyqtgraph does not
    downsample the column envelope again."""
    from PySide6.QtCore import Qt

    from app.gui.live_view import LiveView, frame_interval_ms
    from app.live.ring_buffer import RingBuffer
    view = LiveView(RingBuffer.for_duration(20.0, RATE))
    qtbot.addWidget(view)
    assert view.timer.interval() <= 1000 / 60 and view.timer.interval() == frame_interval_ms(view)
    assert view.timer.timerType() == Qt.PreciseTimer
    for curve in (view.curve,):
        assert curve.opts["autoDownsample"] is False and curve.opts["downsample"] == 1
        assert curve.opts["clipToView"] is False
    from app.gui.overview import OverviewPlot
    ov = OverviewPlot()
    qtbot.addWidget(ov)
    for curve in (ov.over_curve, ov.detail_curve):
        assert curve.opts["autoDownsample"] is False and curve.opts["clipToView"] is False
    view.timer.stop()
