"""Acquire mode end to end on the simulated rig, driven as a technician would.

Connect the simulated rig, fill in the subject, run Protocol 1 (demo timing) to the end,
see the results table filled and the file on disk; STOP in the middle of a tetanus turns
the simulated stimulator's output off at once and leaves a valid file.
"""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.gui.app import ensure_app
from app.gui.main_window import MainWindow
from app.gui.protocol_panel import default_protocol_path

pytestmark = [pytest.mark.gui, pytest.mark.slow]

LONG_TETANUS = """\
name: long tetanus
pulse_width_ms: 0.2
current_mA: 3.0
steps:
  - kind: twitch
    name: twitch
    count: 1
    interval_s: 0.3
  - kind: tetanus
    name: long-tetanus
    frequency_hz: 100
    duration_ms: 2000
    rest_s: 1.0
"""


@pytest.fixture
def window(qtbot, tmp_path):
    ensure_app()
    win = MainWindow()
    win.confirm_quit = lambda: True
    win.acquire.metadata_form.editors["subject_id"].setText("rat-test")   # Run requires one
    win.acquire.run_controls.output.set_directory(tmp_path)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()    # aborts anything running and releases the rig


def connect_sim(qtbot, win):
    page = win.acquire
    assert page.rig_panel.source.currentData() == "sim"
    assert page.rig_panel.muscle.currentText() == "rat-edl"
    qtbot.mouseClick(page.rig_panel.connect_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: page.rig_panel.connected, timeout=30000)
    assert "33521A" in page.rig_panel.status.text()
    qtbot.waitUntil(lambda: page.experiment.ring.end_sample > 5000, timeout=10000)  # live trace
    return page.experiment.rig.sim


def fill_subject(win, **values):
    form = win.acquire.metadata_form
    for name, value in values.items():
        ed = form.editors[name]
        if hasattr(ed, "setText"):
            ed.setText(str(value))
        else:
            ed.setCurrentText(str(value))


def test_protocol1_demo_to_the_end(qtbot, window, tmp_path):
    from app.recorder.reader import load_recording, session_info

    page = window.acquire
    assert page.protocol_panel.path == default_protocol_path()
    assert page.protocol_panel.tree.topLevelItemCount() == 1 + len(page.protocol_panel.protocol.steps)
    connect_sim(qtbot, window)
    fill_subject(window, subject_id="rat-12", group="treatment", compound="MF-1",
                 dose_mg_per_kg="3", sex="female", side="left", muscle="EDL", body_mass_g="280")
    out = tmp_path / "rat-12.h5"
    page.run_controls.output.set_path(out)
    page.run_controls.auto_continue.setChecked(True)
    qtbot.mouseClick(page.run_controls.run_button, Qt.LeftButton)
    assert page.running
    qtbot.waitUntil(lambda: page.results_table.results.rowCount() >= 3, timeout=30000)
    assert page.trial_overlay.count >= 1
    qtbot.waitUntil(lambda: not page.running, timeout=150000)
    assert page.finished_status == "completed", page.log.lines[-5:]

    rows = page.results_table.rows
    assert len(rows) >= 25
    ff = [r for r in rows if r["step"] == "force-frequency"]
    assert [r["frequency_hz"] for r in ff if r["kind"] == "tetanus"] == [10, 20, 40, 60, 80, 100, 150]
    assert len(page.ff_plot.freqs) >= 7 and max(page.ff_plot.freqs) == 150
    peaks = [r["peak_force_mN"] for r in ff if r["kind"] == "tetanus"]
    assert peaks[-1] > peaks[0] > 0                       # force grows with frequency
    twitch = next(r for r in rows if r["step"] == "twitches")
    assert 5 < twitch["time_to_peak_ms"] < 60 and twitch["half_relaxation_ms"] > 0
    assert page.trial_overlay.latest["index"] == rows[-1]["index"]
    assert page.run_controls.progress.value() == 1000

    rec = load_recording(out)
    info = session_info(out)
    assert info["complete"] and info["status"] == "complete"
    assert info["metadata"]["subject_id"] == "rat-12" and info["metadata"]["compound"] == "MF-1"
    assert len(rec.trials) == len(rows)
    assert rec.sample_rate_hz == 10000.0
    # the rig stays connected for the next run, live again
    assert page.experiment.connected
    assert page.run_controls.run_button.isEnabled()


def test_stop_mid_tetanus_turns_output_off_and_keeps_a_valid_file(qtbot, window, tmp_path):
    from app.recorder.reader import session_info

    page = window.acquire
    proto = tmp_path / "long.yaml"
    proto.write_text(LONG_TETANUS)
    assert page.protocol_panel.load(proto)
    sim = connect_sim(qtbot, window)
    server = sim.stimulator_device
    out = tmp_path / "aborted.h5"
    page.run_controls.output.set_path(out)
    assert page.run_protocol()
    # wait until the 2 s train is being delivered
    qtbot.waitUntil(lambda: server.output_on and server.state["burst_ncycles"] > 1, timeout=30000)
    qtbot.wait(300)
    assert server.output_on
    pending_before = sim.world.pending_pulses()
    assert pending_before > 0                              # mid-train
    qtbot.mouseClick(window.stop_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not server.output_on, timeout=1000)
    qtbot.waitUntil(lambda: sim.world.pending_pulses() == 0, timeout=1000)
    qtbot.waitUntil(lambda: not page.running, timeout=20000)
    assert page.finished_status == "aborted"
    assert not server.output_on
    info = session_info(out)
    assert info["status"] == "aborted" and info["complete"]   # closed cleanly, marked aborted
    assert info["samples"] > 0 and info["trials"] >= 1


def test_esc_is_stop_everywhere(qtbot, window, tmp_path):
    page = window.acquire
    proto = tmp_path / "long.yaml"
    proto.write_text(LONG_TETANUS)
    assert page.protocol_panel.load(proto)
    sim = connect_sim(qtbot, window)
    page.run_controls.output.set_path(tmp_path / "esc.h5")
    assert page.run_protocol()
    qtbot.waitUntil(lambda: sim.stimulator_device.output_on and page.results_table.results.rowCount() >= 1,
                    timeout=30000)
    page.setup_tabs.setCurrentIndex(1)
    page.metadata_form.editors["notes"].setFocus()       # focus in a text field
    qtbot.keyClick(page.metadata_form.editors["notes"], Qt.Key_Escape)
    assert window.stop_count == 1
    qtbot.waitUntil(lambda: not sim.stimulator_device.output_on, timeout=1000)
    qtbot.waitUntil(lambda: not page.running, timeout=20000)
    assert page.finished_status == "aborted"


PROMPTED = """\
name: prompted
pulse_width_ms: 0.2
current_mA: 3.0
steps:
  - kind: prompt
    name: set-length
    id: set-length
    text: Set the muscle to its starting length and enter it.
    request: length_mm
    default: 30
  - kind: twitch
    name: twitch
    count: 1
    interval_s: 0.3
"""


def test_operator_prompt_panel_answers_the_real_runner(qtbot, window, tmp_path):
    page = window.acquire
    proto = tmp_path / "prompted.yaml"
    proto.write_text(PROMPTED)
    assert page.protocol_panel.load(proto)
    sim = connect_sim(qtbot, window)
    page.run_controls.output.set_path(tmp_path / "prompted.h5")
    assert page.run_protocol()
    qtbot.waitUntil(lambda: page.prompt_panel.pending, timeout=20000)
    assert page.prompt_panel.prompt_id == "set-length"
    assert page.prompt_panel.number.isVisibleTo(page.prompt_panel)
    assert page.prompt_panel.number.value() == 30.0
    assert "starting length" in page.prompt_panel.text.text()
    page.prompt_panel.number.setValue(31.5)
    qtbot.mouseClick(page.prompt_panel.cont, Qt.LeftButton)
    qtbot.waitUntil(lambda: not page.running, timeout=20000)
    assert page.finished_status == "completed"
    assert not page.prompt_panel.pending
    assert page.results_table.rows[0]["length_mm"] == 31.5
    assert sim.world.length_mm == 31.5                   # set through the rig's length control
