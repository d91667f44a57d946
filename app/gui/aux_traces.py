"""Auxiliary channel traces under the force trace, each switchable on and off.

One small plot per channel (its own unit on its own axis: an EMG in mV and a length in
mm never share a scale), x-linked to the force plot, drawn by the force view's timer
from a Qt-free :class:`~app.live.aux_ring.AuxSource` for the same sample window and
decimated the same way. Hidden when the rig or the file has no auxiliary channels.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.gui.style import envelope_curve
from app.live.aux_ring import AuxSource
from app.live.decimate import decimate_to_columns

COLORS = ("#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


class AuxTraces(QWidget):
    """Checkbox per channel + one plot per visible channel."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source: AuxSource | None = None
        self.boxes: list[QCheckBox] = []
        self.plots: list[pg.PlotWidget] = []
        self.curves: list[pg.PlotDataItem] = []
        self._bar = QHBoxLayout()
        self._bar.setContentsMargins(0, 0, 0, 0)
        self._plots = QVBoxLayout()
        self._plots.setContentsMargins(0, 0, 0, 0)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(self._bar)
        lay.addLayout(self._plots)
        self.setVisible(False)

    def set_source(self, source: AuxSource | None, link_to: pg.PlotWidget | None = None) -> None:
        """Show ``source``'s channels (all switched on); None or no channels hides the panel.
        The same channels again (the file reopened, the rig reconnected) keep the panel
        and its switches as the user set them."""
        if source is not None and self.source is not None and self.boxes \
                and source.channels == self.source.channels:
            self.source = source
            return
        for w in (*self.boxes, *self.plots):
            w.setParent(None)
            w.deleteLater()
        while self._bar.count():
            item = self._bar.takeAt(0)
            if item.widget() is not None:
                item.widget().setParent(None)
        self.boxes, self.plots, self.curves = [], [], []
        self.source = source
        channels = source.channels if source is not None else []
        self.setVisible(bool(channels))
        if not channels:
            return
        self._bar.addWidget(QLabel("Auxiliary:"))
        for i, (name, unit) in enumerate(channels):
            box = QCheckBox(f"{name} ({unit})" if unit else name)
            box.setChecked(True)
            box.setToolTip(f"Show or hide the auxiliary channel '{name}'")
            plot = pg.PlotWidget()
            plot.getAxis("left").setLabel(f"{name} ({unit})" if unit else name)
            plot.setMouseEnabled(x=False, y=True)
            plot.getPlotItem().hideButtons()
            plot.setMaximumHeight(120)
            if link_to is not None:
                plot.setXLink(link_to)
            box.toggled.connect(plot.setVisible)
            self._bar.addWidget(box)
            self._plots.addWidget(plot)
            box.setVisible(True)       # children added to a shown panel start hidden
            plot.setVisible(True)
            self.boxes.append(box)
            self.plots.append(plot)
            self.curves.append(envelope_curve(plot.getPlotItem(), color=COLORS[i % len(COLORS)]))
        self._bar.addStretch(1)

    def visible_channels(self) -> list[str]:
        if self.source is None:
            return []
        return [name for (name, _), box in zip(self.source.channels, self.boxes) if box.isChecked()]

    def draw(self, start: int, stop: int, end: int, rate: float, columns: int,
             bin_size: int | None = None) -> None:
        """Samples ``[start, stop)`` with x = 0 at sample ``end``, in the force trace's
        bins (``bin_size`` samples from ``start``; default: fit to ``columns``)."""
        if self.source is None or not self.boxes:
            return
        shown = [i for i, box in enumerate(self.boxes) if box.isChecked()]
        if not shown:
            return
        data = self.source.read(start, stop)
        x0 = (start - end) / rate
        for i in shown:
            x, y = decimate_to_columns(data[i], columns, x0, 1.0 / rate, bin_size)
            self.curves[i].setData(x, y, connect="finite")
            finite = y[np.isfinite(y)]           # the envelope holds every bin's extremes
            if finite.size:
                lo, hi = float(finite.min()), float(finite.max())
                pad = 0.05 * max(hi - lo, 1e-6)
                self.plots[i].setYRange(lo - pad, hi + pad, padding=0)
