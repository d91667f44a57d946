"""Auxiliary channels of a DAQ rig in the GUI: switchable traces under the force, live
(from the aux ring) and in replay (from the recording's /aux)."""
from __future__ import annotations

import numpy as np
import pytest

from app.gui.app import ensure_app
from app.gui.live_view import LiveView
from app.gui.replay_view import ReplayView
from app.live.aux_ring import AuxRing, RecordingAux
from app.live.ring_buffer import RingBuffer
from drivers.capabilities import SampleBlock
from tests.synthetic import SessionSpec, session_recording

pytestmark = pytest.mark.gui

CHANNELS = [{"name": "emg", "unit": "mV"}, {"name": "length", "unit": "mm"}]


def _blocks(first: int, count: int, n: int = 500):
    for b in range(count):
        idx = np.arange(first + b * n, first + (b + 1) * n)
        aux = np.vstack([np.sin(idx / 30.0), 30.0 + idx * 0.0]).astype(np.float32)
        yield SampleBlock(int(idx[0]), np.zeros(n, np.float32), np.zeros(n, np.uint8), 10000.0,
                          0.0, aux)


def test_aux_ring_keeps_indices_gaps_and_restarts():
    ring = AuxRing(seconds=2.0)
    ring.configure(CHANNELS, 1000.0)              # 2000 samples
    for block in _blocks(0, 2):
        ring.write_block(block)
    ring.write_block(next(_blocks(1500, 1)))      # a 500-sample gap
    out = ring.read(900, 2100)
    assert out.shape == (2, 1200)
    assert np.isnan(out[:, 100:600]).all()        # 1000..1500 missing
    np.testing.assert_allclose(out[1, :100], 30.0)
    np.testing.assert_allclose(out[0, 600:1100], np.sin(np.arange(1500, 2000) / 30.0), rtol=1e-6)
    assert np.isnan(out[:, 1100:]).all()          # beyond the end
    ring.write_block(next(_blocks(2000, 1)))
    assert np.isnan(ring.read(0, 500)).all()      # older than the ring holds now
    ring.write_block(next(_blocks(0, 1)))         # stream restarted at 0
    assert np.isnan(ring.read(1500, 2000)).all() and not np.isnan(ring.read(0, 500)).any()


def test_live_view_draws_switchable_aux_traces(qtbot):
    ensure_app()
    ring = RingBuffer.for_duration(10.0, 10000.0)
    aux = AuxRing(10.0)
    aux.configure(CHANNELS, 10000.0)
    view = LiveView(ring)
    qtbot.addWidget(view)
    view.resize(900, 700)
    view.show()
    assert not view.aux.isVisible()                # no channels: no panel
    view.set_aux_source(aux)
    for block in _blocks(0, 20):
        ring.write_block(block)
        aux.write_block(block)
    view.redraw()
    assert view.aux.isVisible()
    assert [b.text() for b in view.aux.boxes] == ["emg (mV)", "length (mm)"]
    x, y = view.aux.curves[1].getData()
    assert len(x) > 0 and np.nanmax(y) == pytest.approx(30.0)
    assert x[-1] <= 0.0
    view.aux.boxes[0].setChecked(False)
    assert not view.aux.plots[0].isVisible() and view.aux.plots[1].isVisible()
    assert view.aux.visible_channels() == ["length"]
    view.set_aux_source(None)
    assert not view.aux.isVisible()
    view.timer.stop()


def test_replay_shows_the_recordings_aux_channels(qtbot):
    ensure_app()
    rec, _ = session_recording(SessionSpec(fs=5000.0, twitches=2, ff_freqs=(50,), with_trials=True),
                               group="vehicle")
    rec.aux = {"emg": np.sin(np.arange(rec.samples) / 20.0).astype(np.float32)}
    rec.aux_units = {"emg": "mV"}
    view = ReplayView()
    qtbot.addWidget(view)
    view.show()
    try:
        view.show_recording(rec, {"file": "synthetic"}, background=False)
        assert [b.text() for b in view.live_view.aux.boxes] == ["emg (mV)"]
        src = view.live_view.aux.source
        assert isinstance(src, RecordingAux)
        np.testing.assert_array_equal(src.read(10, 20)[0], rec.aux["emg"][10:20])
        assert np.isnan(src.read(rec.samples - 5, rec.samples + 5)[0, 5:]).all()
    finally:
        view.close_view()
