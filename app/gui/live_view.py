"""The scrolling force trace: the last N seconds of the ring buffer, redrawn by ONE timer.

The amplifier's reader thread writes the Qt-free ring buffer; this widget never receives
samples through Qt. A single precise QTimer paced at the screen's refresh rate (at least
60 Hz) asks a playout clock (:class:`~app.live.scroll_clock.ScrollClock`) where the
display is in the stream — a little behind the newest sample, advancing at the sample
rate, so the trace scrolls on every frame although samples arrive in bursts ~25 times a
second — reads the window ending there, decimates it to two points per pixel column
(each column's min and max: peaks survive; the bins are aligned to the stream, so they
do not shift as the window moves) and redraws the curve, the stimulus markers (from the
trigger-edge flags), the operator's comments (the ring's ``comment`` markers, as
labelled lines), where each protocol step starts (``step`` markers, lines labelled
with the step's name) and a light tick per trial (``trial`` markers, one curve), the
auxiliary traces and the readout, all for that same position;
the curve draws those points as they are (pyqtgraph does not downsample them a second
time). ``before_redraw`` lets a playback feeder advance on the same timer, and
``stream_speed`` tells the clock its speed.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.gui.aux_traces import AuxTraces
from app.gui.comment_marks import CommentMarks
from app.gui.step_marks import TrialTicks, step_lines
from app.gui.style import STIM, envelope_curve, pen, plot_columns
from app.live.decimate import column_bin_size, decimate_to_columns
from app.live.protocol_marks import STEP as STEP_MARK
from app.live.protocol_marks import TRIAL as TRIAL_MARK
from app.live.ring_buffer import RingBuffer, Snapshot
from app.live.scroll_clock import ScrollClock

MIN_REDRAW_HZ = 60.0     # frame pacing floor, whatever the screen reports
MAX_REDRAW_HZ = 144.0


def frame_interval_ms(widget: QWidget) -> int:
    """Timer interval for one redraw per display refresh (60–144 Hz), rounded down so
    the timer never runs slower than the display."""
    from PySide6.QtGui import QGuiApplication
    screen = widget.screen() or QGuiApplication.primaryScreen()
    hz = screen.refreshRate() if screen is not None else MIN_REDRAW_HZ
    hz = min(max(hz or MIN_REDRAW_HZ, MIN_REDRAW_HZ), MAX_REDRAW_HZ)
    return max(1, int(1000.0 / hz))


def last_finite(values: np.ndarray) -> float:
    """The newest finite value (NaN: none), looking at the end first: lost samples are
    NaN, and the readout names the last force measured."""
    if values.size and np.isfinite(values[-1]):
        return float(values[-1])
    at = np.flatnonzero(np.isfinite(values))
    return float(values[at[-1]]) if at.size else float("nan")


class LiveView(QWidget):
    """Last ``window_s`` seconds of a ring buffer, with stimulus markers."""

    def __init__(self, ring: RingBuffer, window_s: float = 10.0, parent: QWidget | None = None,
                 title: str = "Force (live)", clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(parent)
        self.ring = ring
        self.before_redraw: Callable[[], None] | None = None
        # playback: the feeder's speed (the displayed position advances at rate x speed)
        self.stream_speed: Callable[[], float] | None = None
        self.clock = clock         # host time for the playout clock (tests inject one)
        self.scroll = ScrollClock()
        self.redraws = 0           # completed timer callbacks (bench reads this)
        self.draws = 0             # callbacks that moved or changed the trace
        self._last_key: tuple | None = None
        self._x_window: float | None = None
        self.last_end_sample = 0
        self._readout_t = 0.0
        self._columns = 200

        self.plot = pg.PlotWidget(title=title)
        self.plot.setLabel("left", "force (mN)")
        # time relative to the displayed position (the trace's right end): the axis never
        # moves, so its ticks are drawn once instead of every frame (they cost more than
        # the trace)
        self.plot.setLabel("bottom", "time (s, 0 = now)")
        # no grid: pyqtgraph's grid costs ~7 ms per frame, more than the trace itself
        self.plot.setMouseEnabled(x=False, y=True)
        self.curve = envelope_curve(self.plot.getPlotItem())
        self.stim = self.plot.plot(pen=pen(STIM, 1), connect="pairs")
        self.stim.setZValue(5)
        self.comments = CommentMarks(self.plot.getPlotItem())
        self.steps = step_lines(self.plot.getPlotItem())
        self.trials = TrialTicks(self.plot.getPlotItem())

        self.window = QDoubleSpinBox(suffix=" s", decimals=1, minimum=0.5, maximum=600.0)
        self.window.setValue(window_s)
        self.window.setToolTip("Length of the scrolling window")
        self.window.setAccessibleName("window length")
        self.freeze = QCheckBox("Freeze")
        self.freeze.setToolTip("Stop scrolling to look at the trace (acquisition goes on)")
        self.autoscale = QCheckBox("Auto Y")
        self.autoscale.setChecked(True)
        self.autoscale.setToolTip("Fit the force axis to the trace (otherwise drag/zoom it yourself)")
        self._y_range: tuple[float, float] | None = None
        self.plot.enableAutoRange(x=False, y=False)   # ranges are set here, cheaply
        self.plot.getPlotItem().hideButtons()
        self.readout = QLabel("—")
        self.readout.setTextInteractionFlags(Qt.TextSelectableByMouse)

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Window"))
        bar.addWidget(self.window)
        bar.addWidget(self.freeze)
        bar.addWidget(self.autoscale)
        bar.addStretch(1)
        bar.addWidget(self.readout)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.plot, 1)
        self.aux = AuxTraces()           # a DAQ rig's auxiliary channels, switchable
        lay.addWidget(self.aux)

        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.PreciseTimer)       # coarse timers drift to 5 % late
        self.timer.setInterval(frame_interval_ms(self))
        self.timer.timeout.connect(self.redraw)
        self.timer.start()

    @property
    def window_s(self) -> float:
        return float(self.window.value())

    def set_ring(self, ring: RingBuffer) -> None:
        self.ring = ring
        self.scroll = ScrollClock()      # another ring's generations mean nothing to it
        self._last_key = None

    def set_aux_source(self, source) -> None:
        """Auxiliary channels drawn under the force for the same window (None: none)."""
        self.aux.set_source(source, link_to=self.plot)
        self._last_key = None

    def redraw(self) -> None:
        """One timer tick: advance a feeder if any and the playout clock (also while
        frozen or hidden, so it stays locked), then redraw if the displayed position,
        the window or the plot's width changed."""
        try:
            if self.before_redraw is not None:
                self.before_redraw()
            ring = self.ring
            speed = self.stream_speed() if self.stream_speed is not None else 1.0
            position = self.scroll.update(self.clock(), ring.end_sample, ring.generation,
                                          ring.sample_rate_hz * speed)
            if self.freeze.isChecked() or not self.isVisible():
                return
            stop = int(math.floor(position))
            self._columns = plot_columns(self.plot)
            key = (ring.generation, stop, self.window_s, self._columns)
            if key == self._last_key:
                return
            self._last_key = key
            n = int(round(self.window_s * ring.sample_rate_hz))
            b = column_bin_size(n, self._columns)     # as for the window alone
            # bins on multiples of b (from the oldest whole bin held): they stay put
            start = max((stop - n) // b, -(-ring.start_sample // b)) * b
            self.draw(ring.read(start, stop), stop, b)
            self.draws += 1
        finally:
            self.redraws += 1

    def draw(self, snap: Snapshot, end: int | None = None, bin_size: int | None = None) -> None:
        """Draw ``snap`` with x = 0 at sample ``end`` (default: its end), decimated in bins
        of ``bin_size`` samples counted from its first sample (default: fit to the plot)."""
        n = len(snap)
        window = self.window_s
        if self._x_window != window:
            self._x_window = window
            self.plot.setXRange(-window, 0.0, padding=0)
        if n == 0:
            self.curve.setData([], [])
            self.stim.setData([], [])
            self.comments.set([], [])
            self.steps.set([], [])
            self.trials.set([], (0.0, 1.0))
            self.readout.setText("no data")
            return
        rate = snap.sample_rate_hz
        end = self.last_end_sample = snap.end_sample if end is None else int(end)   # x = 0
        # two points per pixel column (its min and max in time order), drawn as they are
        x, y = decimate_to_columns(snap.force_mN, self._columns, (snap.first_sample - end) / rate,
                                   1.0 / rate, bin_size)
        self.curve.setData(x, y, connect="finite")
        notes = [m for m in snap.markers if m.kind == "comment"]
        self.comments.set([(m.sample - end) / rate for m in notes], [m.label for m in notes])
        steps = [m for m in snap.markers if m.kind == STEP_MARK]
        self.steps.set([(m.sample - end) / rate for m in steps], [m.label for m in steps])
        if self.aux.source is not None:
            self.aux.draw(snap.first_sample, snap.end_sample, end, rate, self._columns, bin_size)
        # the envelope holds every bin's extremes: its range is the window's, in ~3000
        # points instead of a copy of every finite sample (at 60 frames a second)
        finite = y[np.isfinite(y)]
        if finite.size:
            lo_v, hi_v = float(finite.min()), float(finite.max())
            span = max(hi_v - lo_v, 1.0)
            ts = (snap.stim_samples - end) / rate
            xs = np.repeat(ts, 2)
            ys = np.tile([lo_v - 0.10 * span, lo_v - 0.02 * span], len(ts))
            self.stim.setData(xs, ys, connect="pairs")
            if self.autoscale.isChecked():
                self._fit_y(lo_v - 0.10 * span, hi_v)
            now = self.clock()
            if now - self._readout_t > 0.2:        # a readable rate, and cheap
                self._readout_t = now
                lost = self.ring.lost_samples
                self.readout.setText(f"t = {end / rate:8.1f} s   {last_finite(snap.force_mN):8.1f} mN   "
                                     f"{rate / 1000:g} kHz" + (f"   lost {lost}" if lost else ""))
        # after the force axis is set: the ticks hang from its top
        ticks = [(m.sample - end) / rate for m in snap.markers if m.kind == TRIAL_MARK]
        self.trials.set(ticks, tuple(self.plot.getPlotItem().getViewBox().viewRange()[1]))

    def _fit_y(self, lo: float, hi: float) -> None:
        """Follow the data with hysteresis: the axis (and its tick labels, costly to
        regenerate) changes only when the trace leaves the range or uses little of it."""
        pad = 0.05 * max(hi - lo, 1.0)
        cur = self._y_range
        if cur is not None:
            c_lo, c_hi = cur
            inside = c_lo <= lo and hi <= c_hi
            used = (hi - lo) / max(c_hi - c_lo, 1e-9)
            if inside and used > 0.4:
                return
        self._y_range = (lo - pad, hi + pad)
        self.plot.setYRange(lo - pad, hi + pad, padding=0)
