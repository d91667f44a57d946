"""Force–frequency: peak force against stimulation frequency, growing trial by trial."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.gui.style import FF, pen


class ForceFrequencyPlot(QWidget):
    def __init__(self, parent: QWidget | None = None, title: str = "Force–frequency") -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget(title=title)
        self.plot.setLabel("left", "peak force (mN)")
        self.plot.setLabel("bottom", "frequency (Hz)")
        self.curve = self.plot.plot(pen=pen(FF, 2), symbol="o", symbolSize=8,
                                    symbolBrush=FF, symbolPen="k")
        self.freqs: list[float] = []
        self.forces: list[float] = []
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot)

    def clear(self) -> None:
        self.freqs, self.forces = [], []
        self.curve.setData([], [])

    def add_point(self, frequency_hz: float, force_mN: float) -> None:
        if frequency_hz is None or force_mN is None or not np.isfinite(force_mN):
            return
        self.freqs.append(float(frequency_hz))
        self.forces.append(float(force_mN))
        self._update()

    def set_points(self, freqs, forces) -> None:
        self.freqs = [float(f) for f in freqs]
        self.forces = [float(f) for f in forces]
        self._update()

    def _update(self) -> None:
        order = np.argsort(self.freqs, kind="stable")
        self.curve.setData(np.asarray(self.freqs)[order], np.asarray(self.forces)[order])
