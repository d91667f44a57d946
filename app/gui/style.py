"""Colours and pyqtgraph settings shared by the plots."""
from __future__ import annotations

import pyqtgraph as pg

TRACE = "#1f4e9c"
STIM = "#d62728"
LATEST = "#d62728"
OLDER = "#b4b4b4"   # opaque: no alpha blending when painting
PT = "#2ca02c"
HALF = "#9467bd"
FF = "#ff7f0e"
COMMENT = "#6a3d9a"   # operator comments on the traces
STEP = "#2e7d32"      # where a protocol step starts
TRIAL_TICK = "#a0a0a0"   # light: one tick per trial

STOP_STYLE = """
QPushButton#stopButton {
    background: #c62828; color: white; font-weight: bold; font-size: 18px;
    border: 2px solid #7f0000; border-radius: 6px; padding: 6px 28px; min-height: 34px;
}
QPushButton#stopButton:hover { background: #e53935; }
QPushButton#stopButton:pressed { background: #8e0000; }
"""


def configure_pyqtgraph() -> None:
    """White plots (legible on screen and on paper), no antialiasing (fast)."""
    pg.setConfigOptions(background="w", foreground="k", antialias=False)


def pen(color, width: int = 1):
    return pg.mkPen(color, width=width)


def fast_curve(plot_item: pg.PlotItem, color=TRACE, **kw) -> pg.PlotDataItem:
    """A curve for raw samples (many points): pyqtgraph's peak-preserving auto
    downsampling and clip to view."""
    curve = plot_item.plot(pen=pen(color), **kw)
    curve.setDownsampling(auto=True, method="peak")
    curve.setClipToView(True)
    return curve


def envelope_curve(plot_item: pg.PlotItem, color=TRACE, **kw) -> pg.PlotDataItem:
    """A curve for points already decimated to pixel columns (``app.live.decimate``):
    drawn as given. Downsampling them again would cost a second pass per frame and,
    with bins that straddle columns, draw steps and dips that are not in the data."""
    curve = plot_item.plot(pen=pen(color), **kw)
    curve.setDownsampling(ds=1, auto=False)
    curve.setClipToView(False)
    return curve


def plot_columns(plot) -> int:
    """Device pixel columns of a PlotWidget's data area (at least 100)."""
    vb = plot.getPlotItem().getViewBox()
    ratio = plot.devicePixelRatioF() if hasattr(plot, "devicePixelRatioF") else 1.0
    return max(100, int(vb.width() * ratio))
