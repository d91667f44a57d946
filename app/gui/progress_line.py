"""A light progress bar: painted on the next frame, never synchronously.

``QProgressBar.setValue`` repaints synchronously; with a big window (and the offscreen
platform) that cost the GUI thread 20 ms per protocol progress event. This widget only
calls ``update()``, so progress costs one small paint in the next frame.
"""
from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget


class ProgressLine(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._fraction = 0.0
        self._text = "idle"
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.setMinimumHeight(22)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(200, 22)

    def value(self) -> int:
        """Progress in thousandths (0–1000), like the QProgressBar it replaces."""
        return int(round(self._fraction * 1000))

    def format(self) -> str:
        return self._text

    def set_progress(self, fraction: float | None, text: str = "") -> None:
        changed = False
        if fraction is not None:
            f = max(0.0, min(1.0, float(fraction)))
            changed |= f != self._fraction
            self._fraction = f
        if text and text != self._text:
            self._text = text
            changed = True
        if changed:
            self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        r = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        p.setPen(QColor("#9e9e9e"))
        p.setBrush(QColor("#ffffff"))
        p.drawRoundedRect(r, 3, 3)
        if self._fraction > 0:
            fill = QRectF(r.x(), r.y(), r.width() * self._fraction, r.height())
            p.setPen(Qt.NoPen)
            p.setBrush(QColor("#64b5f6"))
            p.drawRoundedRect(fill, 3, 3)
        p.setPen(QColor("#000000"))
        p.drawText(self.rect(), Qt.AlignCenter, self._text)
        p.end()
