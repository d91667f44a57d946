"""Play / pause, speed (1x–50x) and position of a :class:`~app.live.playback.Playback`."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSlider, QWidget

from app.live.playback import Playback

SPEEDS = [1, 2, 5, 10, 20, 50]


class PlaybackControls(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.playback: Playback | None = None
        self.play_button = QPushButton("▶ Play")
        self.play_button.setCheckable(True)
        self.play_button.toggled.connect(self._toggled)
        self.speed = QComboBox()
        for s in SPEEDS:
            self.speed.addItem(f"{s}×", s)
        self.speed.setToolTip("Playback speed")
        self.speed.currentIndexChanged.connect(self._speed_changed)
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, 1000)
        self.slider.sliderReleased.connect(self._seek)
        self.time = QLabel("0.0 / 0.0 s")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.play_button)
        lay.addWidget(QLabel("Speed"))
        lay.addWidget(self.speed)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.time)
        self.setEnabled(False)

    def set_playback(self, playback: Playback | None) -> None:
        self.playback = playback
        self.setEnabled(playback is not None)
        self.update_position()

    def set_speed(self, speed: float) -> None:
        idx = min(range(len(SPEEDS)), key=lambda i: abs(SPEEDS[i] - speed))
        self.speed.setCurrentIndex(idx)

    def _toggled(self, on: bool) -> None:
        pb = self.playback
        if pb is None:
            return
        if on:
            pb.play()
        else:
            pb.pause()
        self.play_button.setText("❚❚ Pause" if on else "▶ Play")

    def _speed_changed(self, _i: int) -> None:
        if self.playback is not None:
            self.playback.set_speed(float(self.speed.currentData()))

    def _seek(self) -> None:
        pb = self.playback
        if pb is None:
            return
        pb.seek(int(self.slider.value() / 1000 * pb.recording.samples))
        if self.play_button.isChecked():
            pb.play()

    def update_position(self) -> None:
        """Called by the redraw timer: slider and time follow the playback."""
        pb = self.playback
        if pb is None:
            self.time.setText("—")
            return
        if not self.slider.isSliderDown() and pb.duration_s > 0:
            self.slider.blockSignals(True)
            self.slider.setValue(int(1000 * pb.position_s / pb.duration_s))
            self.slider.blockSignals(False)
        self.time.setText(f"{pb.position_s:7.1f} / {pb.duration_s:.1f} s")
        if self.play_button.isChecked() and not pb.playing:
            self.play_button.blockSignals(True)
            self.play_button.setChecked(False)
            self.play_button.setText("▶ Play")
            self.play_button.blockSignals(False)

    def pause(self) -> None:
        if self.play_button.isChecked():
            self.play_button.setChecked(False)
