"""The latest contraction overlaid on the earlier ones, with Pt, TPT and ½RT marked."""
from __future__ import annotations

from collections import deque
from typing import Any, Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.analysis.results import flag_codes
from app.gui.style import HALF, LATEST, OLDER, PT, pen, plot_columns
from app.labels import peak_name

MAX_CURVES = 10
MAX_POINTS = 1500   # per curve at least (min/max pairs, 2 per pixel column on wider plots): peaks stay exact


class TrialOverlay(QWidget):
    """Trials aligned at their first stimulus (t = 0 ms); the newest in colour."""

    def __init__(self, parent: QWidget | None = None, title: str = "Contractions") -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget(title=title)
        self.plot.setLabel("left", "force (mN)")
        self.plot.setLabel("bottom", "time from stimulus (ms)")
        self._curves: deque[pg.PlotDataItem] = deque()
        self.points = pg.ScatterPlotItem(size=9)
        self.points.setZValue(10)
        self.plot.addItem(self.points)
        self._labels: list[pg.TextItem] = []
        self.latest: dict[str, Any] | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot)

    @property
    def count(self) -> int:
        return len(self._curves)

    def clear(self) -> None:
        for c in self._curves:
            self.plot.removeItem(c)
        self._curves.clear()
        self._clear_marks()
        self.latest = None

    def _clear_marks(self) -> None:
        self.points.setData([])
        for item in self._labels:
            self.plot.removeItem(item)
        self._labels.clear()

    def add_trial(self, t_ms: np.ndarray, force_mN: np.ndarray,
                  result: Mapping[str, Any] | None = None, label: str = "",
                  sample_rate_hz: float | None = None) -> None:
        """Add one contraction (times relative to its first stimulus) and mark its results."""
        if self._curves:                    # only the previous latest changes colour
            prev = self._curves[-1]
            prev.setPen(pen(OLDER))
            prev.setZValue(0)
        x, y = _decimate(np.asarray(t_ms, float), np.asarray(force_mN, np.float32),
                         max(MAX_POINTS // 2, plot_columns(self.plot)))
        curve = self.plot.plot(x, y, pen=pen(LATEST), name=label or None)
        curve.setZValue(5)
        self._curves.append(curve)
        while len(self._curves) > MAX_CURVES:
            self.plot.removeItem(self._curves.popleft())
        self.latest = dict(result or {})
        self._mark(self.latest, sample_rate_hz)
        self._fit_y()

    def _fit_y(self) -> None:
        """Force axis over every curve with headroom above the highest: the Pt/Po label
        sits above the peak and must not be clipped at the top (pyqtgraph's auto range
        ignores text items)."""
        lo, hi = np.inf, -np.inf
        for c in self._curves:
            _x, y = c.getData()
            if y is not None and len(y) and np.isfinite(y).any():
                lo, hi = min(lo, float(np.nanmin(y))), max(hi, float(np.nanmax(y)))
        if not np.isfinite(lo):
            return
        span = max(hi - lo, 1.0)
        self.plot.enableAutoRange(y=False)
        self.plot.setYRange(lo - 0.05 * span, hi + 0.30 * span, padding=0)

    def _mark(self, r: Mapping[str, Any], rate: float | None = None) -> None:
        """Pt at the peak (TPT from the stimulus), ½RT at the relaxation point.

        ``peak_force_mN`` is above baseline; the analysis' ``markers`` (recording sample
        indices of stimulus, peak and relaxation point) place the marks exactly when the
        sample rate is known, otherwise TPT and TPT + ½RT are used."""
        self._clear_marks()
        amp, tpt = _num(r.get("peak_force_mN")), _num(r.get("time_to_peak_ms"))
        if amp is None or tpt is None:
            return
        m = r.get("markers") or {}
        # a removed baseline trend (flag baseline-drift) lifts the levels onto the trace
        base = (_num(r.get("baseline_mN")) or 0.0) + (_num(m.get("trend_peak_mN")) or 0.0)
        stim = _num(m.get("stim"))
        peak_y = base + amp
        peak_x = tpt
        at = m.get("po", m.get("peak"))             # where Pt/Po was read
        if rate and stim is not None and _num(at) is not None:
            peak_x = (at - stim) * 1000.0 / rate
        spots = [dict(pos=(peak_x, peak_y), brush=pg.mkBrush(PT), pen=pen("k"), symbol="o")]
        name = peak_name(r.get("kind"))
        codes = flag_codes(r)
        flagged = f"\n⚑ {', '.join(codes)}" if codes else ""
        self._text(f"{name} {amp:.0f} mN\nTPT {tpt:.1f} ms{flagged}", peak_x, peak_y, PT)
        hrt = _num(r.get("half_relaxation_ms"))
        if hrt is not None:
            if rate and stim is not None and _num(m.get("relax")) is not None:
                x = (m["relax"] - stim) * 1000.0 / rate
                y = _num(m.get("relax_level_mN"))
                if y is not None:
                    y += _num(m.get("trend_relax_mN")) or 0.0
                if y is None or not min(base, peak_y) <= y <= max(base, peak_y):
                    y = base + amp / 2.0
            else:
                x, y = tpt + hrt, base + amp / 2.0
            spots.append(dict(pos=(x, y), brush=pg.mkBrush(HALF), pen=pen("k"), symbol="d"))
            self._text(f"½RT {hrt:.1f} ms", x, y, HALF)
        self.points.setData(spots)

    def _text(self, text: str, x: float, y: float, color: str) -> None:
        item = pg.TextItem(text, color=color, anchor=(-0.1, 1.0))
        item.setPos(x, y)
        self.plot.addItem(item)
        self._labels.append(item)


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def _decimate(x: np.ndarray, y: np.ndarray, columns: int = MAX_POINTS // 2) -> tuple[np.ndarray, np.ndarray]:
    """Two points per pixel column at most: each column's min and max in time order
    (peaks survive; no bin wider than a column)."""
    if y.shape[0] <= 2 * columns or len(x) < 2:
        return x, y
    from app.live.decimate import decimate_to_columns
    return decimate_to_columns(y, columns, float(x[0]), float(x[1] - x[0]))
