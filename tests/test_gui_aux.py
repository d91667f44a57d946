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


SHORT_GUI = """\
name: daq gui
pulse_width_ms: 0.2
current_mA: 3.0
steps:
  - kind: twitch
    name: twitch
    count: 2
    interval_s: 0.3
"""


@pytest.mark.slow
def test_acquire_on_the_simulated_daq_rig_shows_and_records_aux(qtbot, tmp_path):
    from PySide6.QtCore import Qt

    from app.gui.main_window import MainWindow
    from app.recorder.reader import open_session

    ensure_app()
    win = MainWindow()
    win.confirm_quit = lambda: True
    win.acquire.metadata_form.editors["subject_id"].setText("rat-daq")
    win.acquire.run_controls.output.set_directory(tmp_path)
    qtbot.addWidget(win)
    win.show()
    try:
        page = win.acquire
        proto = tmp_path / "short.yaml"
        proto.write_text(SHORT_GUI)
        assert page.protocol_panel.load(proto)
        page.rig_panel.sim_kind.setCurrentIndex(page.rig_panel.sim_kind.findData("daq"))
        qtbot.mouseClick(page.rig_panel.connect_button, Qt.LeftButton)
        qtbot.waitUntil(lambda: page.rig_panel.connected, timeout=30000)
        assert "NI-DAQmx" in page.rig_panel.status.text()
        qtbot.waitUntil(lambda: page.experiment.ring.end_sample > 5000, timeout=10000)
        aux = page.live_view.aux
        assert aux.isVisible() and [b.text() for b in aux.boxes] == [
            "emg (mV)", "length (mm)", "stim_current (mA)"]
        qtbot.waitUntil(lambda: aux.curves[1].getData()[0] is not None
                        and len(aux.curves[1].getData()[0]) > 0, timeout=5000)
        out = tmp_path / "daq.h5"
        page.run_controls.output.set_path(out)
        assert page.run_protocol()
        qtbot.waitUntil(lambda: not page.running, timeout=30000)
        assert page.finished_status == "completed"
        assert page.experiment.rig.sim.ao_volts == 0.0
        with open_session(out) as s:
            assert [c["name"] for c in s.aux_channels] == ["emg", "length", "stim_current"]
            assert s.pulse_samples.size == 2
    finally:
        win.close()
