"""Issue 14: the live trace scrolls on every frame, also between two arrivals of samples,
with markers, auxiliary traces and readout drawn for the displayed position. The view's
clock is injected: frames are driven by hand, nothing depends on real time."""
from __future__ import annotations

import numpy as np
import pytest

from app.gui.app import ensure_app
from app.gui.live_view import LiveView
from app.live.aux_ring import AuxRing
from app.live.ring_buffer import RingBuffer
from drivers.capabilities import FLAG_TRIGGER_EDGE, SampleBlock

pytestmark = pytest.mark.gui

RATE = 10_000.0
FRAME = 1 / 60
READ = 0.04                        # the amplifier's paced reads: 400 samples every 40 ms


class Rig:
    """A ring (and aux ring) fed in paced reads, a view whose clock is ``self.now``."""

    def __init__(self, qtbot) -> None:
        ensure_app()
        self.now = 100.0
        self.ring = RingBuffer.for_duration(20.0, RATE)
        self.aux = AuxRing(20.0)
        self.aux.configure([{"name": "emg", "unit": "mV"}], RATE)
        self.view = LiveView(self.ring, window_s=2.0, clock=lambda: self.now)
        self.view.timer.stop()                      # frames are driven by the test
        qtbot.addWidget(self.view)
        self.view.set_aux_source(self.aux)
        self.view.resize(900, 600)
        self.view.show()
        qtbot.waitExposed(self.view)
        self.end = 0
        self.next_read = self.now

    def arrive(self, stim_at: int | None = None) -> None:
        n = int(READ * RATE)
        idx = np.arange(self.end, self.end + n)
        flags = np.zeros(n, np.uint8)
        if stim_at is not None:
            flags[stim_at - self.end] = FLAG_TRIGGER_EDGE
        block = SampleBlock(self.end, (idx / RATE).astype(np.float32), flags, RATE, 0.0,
                            np.sin(idx / 30.0).astype(np.float32)[None, :])
        self.ring.write_block(block)
        self.aux.write_block(block)
        self.end += n

    def to_next_read(self) -> None:
        """Frames up to the one at which the next read is due (not drawn yet)."""
        while self.next_read > self.now:
            self.view.redraw()
            self.now += FRAME

    def frames(self, seconds: float) -> None:
        """Frames for ``seconds`` with a read every 40 ms (as the serial reader does)."""
        stop = self.now + seconds
        while self.now < stop:
            while self.next_read <= self.now:
                self.arrive()
                self.next_read += READ
            self.view.redraw()
            self.now += FRAME


def test_trace_moves_between_two_arrivals(qtbot):
    rig = Rig(qtbot)
    view = rig.view
    rig.frames(2.0)                                   # locked on the stream
    rig.to_next_read()          # the frame at which samples arrive, then one with none new
    rig.arrive()
    rig.next_read += READ
    view.redraw()
    pos1, draws1, end1 = view.last_end_sample, view.draws, rig.ring.end_sample
    x1, y1 = view.curve.getData()
    rig.now += FRAME
    view.redraw()                                     # no sample arrived since
    assert rig.ring.end_sample == end1
    pos2 = view.last_end_sample
    x2, y2 = view.curve.getData()
    assert pos2 > pos1 and view.draws == draws1 + 1
    assert pos2 <= rig.ring.end_sample                # never ahead of the data
    assert pos2 - pos1 == pytest.approx(FRAME * RATE, rel=0.1)    # at the sample rate
    # the trace moved: its right end shows the (ramp) force of the displayed position
    assert float(y2[-1]) > float(y1[-1])
    assert float(np.nanmax(y2)) == pytest.approx((pos2 - 1) / RATE, abs=1e-6)
    assert x2.max() <= 0.0
    # the envelope's bins sit on fixed stream samples: the same bins, moved along
    at1 = np.unique(np.round(2 * x1 * RATE).astype(np.int64) + 2 * pos1)
    at2 = np.unique(np.round(2 * x2 * RATE).astype(np.int64) + 2 * pos2)
    assert len(at2) > 400 and len(np.intersect1d(at1, at2)) >= 0.95 * len(at2)
    # the auxiliary trace is drawn for the same samples and bins
    ax, _ay = view.aux.curves[0].getData()
    assert np.array_equal(ax, x2)


def test_markers_and_readout_follow_the_displayed_position(qtbot):
    rig = Rig(qtbot)
    view = rig.view
    rig.frames(1.0)
    rig.to_next_read()
    stim = rig.end + int(READ * RATE) - 1
    rig.arrive(stim_at=stim)                          # a pulse in the newest sample
    rig.next_read += READ
    view.redraw()
    assert view.last_end_sample <= stim               # not displayed yet: no marker yet
    xs, _ = view.stim.getData()
    assert xs is None or len(xs) == 0
    rig.frames(0.3)
    assert view.last_end_sample > stim
    xs, _ = view.stim.getData()
    assert xs[0] == xs[1] == pytest.approx((stim - view.last_end_sample) / RATE)
    # the readout (refreshed 5 times a second) names the displayed time and force
    rig.now += 0.25
    view.redraw()
    t_shown = view.last_end_sample / RATE
    assert view.readout.text().split()[2] == f"{t_shown:.1f}"
    assert float(view.readout.text().split()[4]) == pytest.approx((view.last_end_sample - 1) / RATE, abs=0.05)


def test_freeze_window_and_stop(qtbot):
    rig = Rig(qtbot)
    view = rig.view
    rig.frames(3.0)
    view.freeze.setChecked(True)
    pos, draws = view.last_end_sample, view.draws
    rig.frames(0.5)
    assert view.last_end_sample == pos and view.draws == draws     # frozen: held still
    view.freeze.setChecked(False)
    rig.frames(0.6)
    assert view.last_end_sample > pos
    # a longer window redraws at once, with the same position
    draws, pos = view.draws, view.last_end_sample
    view.window.setValue(4.0)
    view.redraw()
    assert view.draws == draws + 1
    x, _ = view.curve.getData()
    assert x.min() >= -4.0 - 2 * view.window_s / view._columns and x.min() < -3.5
    # the stream stops: the trace catches up to the last sample, then stops redrawing
    for _ in range(30):
        view.redraw()
        rig.now += FRAME
    assert view.last_end_sample == rig.ring.end_sample
    draws = view.draws
    for _ in range(5):
        view.redraw()
        rig.now += FRAME
    assert view.draws == draws


def test_readout_force_is_the_last_sample_measured():
    from app.gui.live_view import last_finite
    assert last_finite(np.array([1.0, 2.0, 3.0], np.float32)) == 3.0
    assert last_finite(np.array([1.0, 2.0, np.nan, np.nan], np.float32)) == 2.0   # a gap
    assert np.isnan(last_finite(np.array([np.nan], np.float32)))
    assert np.isnan(last_finite(np.array([], np.float32)))
