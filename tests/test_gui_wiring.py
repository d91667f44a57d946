"""The acquire window's wiring, driven as a technician would, against a fake rig and a
fake protocol session (fast, deterministic). The real simulated rig and the real runner
are in test_gui_acquire.py."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.gui.app import ensure_app
from app.gui.main_window import MainWindow
from app.live.experiment import Experiment
from tests.gui_fakes import FakeSession, fake_rig

pytestmark = pytest.mark.gui

PROTOCOL = """\
name: tiny
pulse_width_ms: 0.2
current_mA: 1.0
steps:
  - kind: twitch
    count: 2
    interval_s: 1.0
  - kind: tetanus
    frequency_hz: 100
    duration_ms: 300
    rest_s: 2
"""


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    ensure_app()
    FakeSession.instances.clear()
    rigs = []

    def connect_sim(self, muscle="rat-edl", **kw):
        rig = fake_rig()
        rigs.append(rig)
        return self.attach(rig)

    monkeypatch.setattr(Experiment, "connect_sim", connect_sim)
    win = MainWindow()
    win.confirm_quit = lambda: True
    qtbot.addWidget(win)
    win.acquire.session_factory = FakeSession
    proto = tmp_path / "tiny.yaml"
    proto.write_text(PROTOCOL)
    assert win.acquire.protocol_panel.load(proto)
    win.acquire.metadata_form.editors["subject_id"].setText("rat-test")   # Run requires one
    win.acquire.run_controls.output.set_directory(tmp_path)
    win.show()
    win.rigs = rigs
    yield win
    win.close()


def connect(qtbot, win):
    page = win.acquire
    qtbot.mouseClick(page.rig_panel.connect_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: page.rig_panel.connected, timeout=5000)
    # the live trace fills while idle (monitoring starts on connect)
    qtbot.waitUntil(lambda: page.experiment.ring.end_sample > 200, timeout=5000)


def fill_metadata(win, **values):
    form = win.acquire.metadata_form
    for name, value in values.items():
        ed = form.editors[name]
        if hasattr(ed, "setCurrentText") and not hasattr(ed, "setText"):
            ed.setCurrentText(str(value))
        else:
            ed.setText(str(value))


def test_run_answer_prompt_and_finish(qtbot, window, tmp_path):
    page = window.acquire
    connect(qtbot, window)
    fill_metadata(window, subject_id="rat-07", group="vehicle", sex="male", body_mass_g="312.5")
    out = tmp_path / "run.h5"
    page.run_controls.output.set_path(out)
    qtbot.mouseClick(page.run_controls.run_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: page.prompt_panel.pending, timeout=10000)
    session = FakeSession.instances[-1]
    assert session.metadata.subject_id == "rat-07" and session.metadata.body_mass_g == 312.5
    assert session.metadata.sex == "male"
    assert not page.run_controls.run_button.isEnabled()
    assert page.results_table.results.rowCount() == 4
    # the panel is not modal: the window still redraws while it waits
    redraws = page.live_view.redraws
    qtbot.waitUntil(lambda: page.live_view.redraws > redraws + 2, timeout=3000)
    page.prompt_panel.number.setValue(33.5)
    qtbot.mouseClick(page.prompt_panel.cont, Qt.LeftButton)
    qtbot.waitUntil(lambda: not page.running, timeout=15000)
    assert session._answers == {"len": 33.5}
    assert page.finished_status == "completed"
    rows = page.results_table.rows
    assert [r["index"] for r in rows] == list(range(7))
    assert rows[0]["step"] == "twitch" and rows[-1]["frequency_hz"] == 150.0
    assert page.ff_plot.freqs == [50.0, 100.0, 150.0]
    assert page.trial_overlay.count == 7
    assert page.trial_overlay.latest["peak_force_mN"] == 70.0
    assert out.exists()
    assert any("finished: completed" in line for line in page.log.lines)


def test_esc_stops_a_running_protocol(qtbot, window, tmp_path):
    page = window.acquire
    connect(qtbot, window)
    page.run_controls.output.set_path(tmp_path / "esc.h5")
    assert page.run_protocol()
    qtbot.waitUntil(lambda: page.results_table.results.rowCount() >= 1, timeout=10000)
    stim = window.rigs[-1].stimulator
    aborts = stim.aborts
    # Esc is application-wide: send it to a widget deep inside the window
    page.results_table.setFocus()
    qtbot.keyClick(page.results_table, Qt.Key_Escape)
    assert window.stop_count == 1
    qtbot.waitUntil(lambda: stim.aborts > aborts, timeout=2000)
    qtbot.waitUntil(lambda: not page.running, timeout=10000)
    assert page.finished_status == "aborted"
    assert not stim.output
    assert page.results_table.results.rowCount() < 7
    assert page.run_controls.run_button.isEnabled()


def test_stop_button_while_prompt_waits(qtbot, window, tmp_path):
    page = window.acquire
    connect(qtbot, window)
    page.run_controls.output.set_path(tmp_path / "stop.h5")
    assert page.run_protocol()
    qtbot.waitUntil(lambda: page.prompt_panel.pending, timeout=10000)
    qtbot.mouseClick(window.stop_button, Qt.LeftButton)
    assert not page.prompt_panel.pending
    qtbot.waitUntil(lambda: not page.running, timeout=10000)
    assert page.finished_status == "aborted"
    assert window.rigs[-1].stimulator.aborts >= 1


def test_invalid_metadata_or_existing_file_refuses_to_run(qtbot, window, tmp_path):
    page = window.acquire
    connect(qtbot, window)
    fill_metadata(window, body_mass_g="-3", temperature_C="abc")
    assert not page.run_protocol()
    assert page.setup_tabs.currentIndex() == 1
    assert "background" in page.metadata_form.editors["body_mass_g"].styleSheet()
    assert "Body mass (g)" in page.metadata_form.error.text()
    assert not FakeSession.instances
    fill_metadata(window, body_mass_g="250", temperature_C="37")
    existing = tmp_path / "exists.h5"
    existing.write_bytes(b"precious")
    page.run_controls.output.set_path(existing)
    asked = []
    page.run_controls.output.confirm_overwrite = lambda p: asked.append(p) or False
    assert not page.run_protocol()
    assert asked == [existing] and existing.read_bytes() == b"precious"
    assert not FakeSession.instances
    page.run_controls.output.confirm_overwrite = lambda p: True
    assert page.run_protocol()
    page.stop()
    qtbot.waitUntil(lambda: not page.running, timeout=10000)


def test_protocol_edits_are_validated(qtbot, window):
    panel = window.acquire.protocol_panel
    assert panel.tree.topLevelItemCount() == 3       # protocol header + 2 steps
    assert not panel.set_value(("steps", 1, "frequency_hz"), "-5")
    assert "frequency_hz" in panel.message.text()
    assert panel.protocol.steps[1].frequency_hz == 100
    assert not panel.set_value(("steps", 0, "count"), "two")
    assert panel.set_value(("steps", 1, "frequency_hz"), "150")
    assert panel.protocol.steps[1].frequency_hz == 150 and panel.edited
    assert "frequency_hz: 150" in panel.protocol_text
    # editing through the tree widget itself
    step = panel.step_item(0)
    count_item = next(step.child(i) for i in range(step.childCount()) if step.child(i).text(0) == "count")
    count_item.setText(1, "3")
    assert panel.protocol.steps[0].count == 3


def test_live_view_draws_stimulus_markers(qtbot, window):
    page = window.acquire
    connect(qtbot, window)
    amp = window.rigs[-1].amplifier
    amp.pending_edges.append(amp.sample + 50)
    qtbot.waitUntil(lambda: len(page.experiment.ring.stim_samples()) == 1, timeout=5000)
    qtbot.waitUntil(lambda: page.live_view.stim.getData()[0] is not None
                    and len(page.live_view.stim.getData()[0]) == 2, timeout=3000)
    page.live_view.freeze.setChecked(True)               # hold the picture still
    x, _y = page.live_view.curve.getData()
    assert x is not None and len(x) > 10
    assert x.max() <= 0 and x.min() >= -page.live_view.window_s  # 0 = now
    xs, ys = page.live_view.stim.getData()
    stim = page.experiment.ring.stim_samples()[0]
    assert xs[0] == xs[1] == pytest.approx((stim - page.live_view.last_end_sample) / amp.sample_rate_hz)
    assert np.all(ys < np.nanmin(page.experiment.ring.read_last(10).force_mN))


def test_quitting_while_running_asks_first(qtbot, window, tmp_path):
    page = window.acquire
    connect(qtbot, window)
    page.run_controls.output.set_path(tmp_path / "quit.h5")
    assert page.run_protocol()
    asked = []
    window.confirm_quit = lambda: asked.append(1) or False
    window.close()
    assert asked and page.running and window.isVisible()     # declined: still running
    window.confirm_quit = lambda: True
    window.close()
    assert not page.experiment.running and not page.experiment.connected
    assert window.rigs[-1].stimulator.aborts >= 1
