"""The operator's flow in acquire mode: Enter confirms prompts, Run needs a subject and
writes into the data folder with the next name proposed after each run, and every
"can't do that now" is said under the Run button, where the operator just looked."""
from __future__ import annotations

import datetime as dt

import pytest
from PySide6.QtCore import Qt

from tests.gui_fakes import FakeSession
from tests.test_gui_wiring import connect, fill_metadata, window  # noqa: F401 - fixture

pytestmark = pytest.mark.gui


def test_enter_confirms_a_numeric_prompt(qtbot, window):  # noqa: F811
    page = window.acquire
    connect(qtbot, window)
    assert page.run_protocol()
    qtbot.waitUntil(lambda: page.prompt_panel.pending, timeout=10000)
    box = page.prompt_panel.number
    assert box.hasFocus() or box.lineEdit().hasFocus() or not window.isActiveWindow()
    box.lineEdit().selectAll()
    qtbot.keyClicks(box.lineEdit(), "31.5")
    qtbot.keyClick(box.lineEdit(), Qt.Key_Return)
    session = FakeSession.instances[-1]
    qtbot.waitUntil(lambda: "len" in session._answers, timeout=3000)
    assert session._answers["len"] == 31.5
    assert not page.prompt_panel.pending
    qtbot.waitUntil(lambda: not page.running, timeout=10000)


def test_enter_on_the_panel_confirms_a_plain_prompt(qtbot):
    from app.gui.prompt_panel import PromptPanel
    panel = PromptPanel()
    qtbot.addWidget(panel)
    panel.show()
    got = []
    panel.answered.connect(lambda pid, v: got.append((pid, v)))
    panel.show_prompt("p1", "Check the electrode, then continue")
    qtbot.keyClick(panel.cont, Qt.Key_Return)
    panel.show_prompt("p2", "Keypad Enter too", requested="length_mm", default=30.0)
    qtbot.keyClick(panel.number.lineEdit(), Qt.Key_Enter)
    assert got == [("p1", None), ("p2", 30.0)]


def test_run_requires_a_subject_and_says_so_under_run(qtbot, window):  # noqa: F811
    page = window.acquire
    connect(qtbot, window)
    page.metadata_form.editors["subject_id"].setText("")
    page.setup_tabs.setCurrentIndex(2)
    assert not page.run_protocol()
    assert not FakeSession.instances
    assert page.setup_tabs.currentIndex() == 1
    notice = page.run_controls.notice
    assert notice.isVisible() and "subject ID" in notice.text()


def test_not_connected_is_said_under_run(qtbot, window):  # noqa: F811
    page = window.acquire
    assert not page.run_protocol()
    assert page.run_controls.notice.isVisible()
    assert "Connect a rig first" in page.run_controls.notice.text()
    assert page.setup_tabs.currentIndex() == 0


def test_runs_go_to_the_data_folder_and_the_next_name_is_proposed(qtbot, window, tmp_path, monkeypatch):  # noqa: F811
    page = window.acquire
    out = page.run_controls.output
    monkeypatch.chdir(tmp_path.parent)          # not where files should land
    folder = tmp_path / "data"
    out.set_directory(folder)
    out.edit.setText("")
    out.auto = True
    connect(qtbot, window)
    page.run_controls.auto_continue.setChecked(True)
    fill_metadata(window, subject_id="rat 07")
    day = f"{dt.date.today():%Y%m%d}"
    assert page.run_protocol()
    assert page.last_output == folder / f"rat-07-{day}-01.h5"
    qtbot.waitUntil(lambda: not page.running, timeout=15000)
    assert page.last_output.exists()
    assert out.path == folder / f"rat-07-{day}-02.h5"     # moved on: no overwrite question
    asked = []
    out.confirm_overwrite = lambda p: asked.append(p) or False
    assert page.run_protocol()
    qtbot.waitUntil(lambda: not page.running, timeout=15000)
    assert asked == [] and (folder / f"rat-07-{day}-02.h5").exists()
    # a proposed name follows the subject; a typed one stays
    fill_metadata(window, subject_id="rat-08")
    page.metadata_form.changed.emit()
    assert out.path == folder / f"rat-08-{day}-01.h5"
    out.edit.setText("my-name")
    out.edit.textEdited.emit("my-name")
    fill_metadata(window, subject_id="rat-09")
    page.metadata_form.changed.emit()
    assert out.path == folder / "my-name.h5"
