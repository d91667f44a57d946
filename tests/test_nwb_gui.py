"""GUI replay of an exported NWB file: the window opens it like the session, with the
same trials and the same results."""
from __future__ import annotations

import pytest

pytest.importorskip("pynwb")

from app.gui.app import ensure_app  # noqa: E402
from app.gui.main_window import MainWindow  # noqa: E402
from app.nwb.export import export_session  # noqa: E402
from tests.helpers_recording import write_synthetic_session  # noqa: E402

pytestmark = pytest.mark.gui


def test_replay_of_the_nwb_file_shows_what_the_session_shows(qtbot, tmp_path):
    ensure_app()
    write_synthetic_session(tmp_path / "s.h5")
    export_session(tmp_path / "s.h5", tmp_path / "s.nwb")
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    views = {}
    for name in ("s.h5", "s.nwb"):
        v = win.open_file(tmp_path / name)
        qtbot.waitUntil(lambda v=v: v.analysis_count == 1, timeout=30000)
        views[name] = v
    h5, nwb = views["s.h5"], views["s.nwb"]
    assert nwb.recording.format == "nwb" and win.tabs.tabText(2) == "s.nwb"
    assert nwb.trial_list.count() == h5.trial_list.count() == 3
    assert nwb.info["status"] == "complete" and nwb.info["format"] == "NWB"
    assert nwb.results_table.rows == h5.results_table.rows
    win.close()


def test_file_export_nwb_writes_the_replayed_session(qtbot, tmp_path):
    from app.gui.nwb_export import export_view
    from app.importers import load_recording
    ensure_app()
    write_synthetic_session(tmp_path / "s.h5", status="aborted")
    win = MainWindow()
    qtbot.addWidget(win)
    v = win.open_file(tmp_path / "s.h5")
    qtbot.waitUntil(lambda: v.analysis_count == 1, timeout=30000)
    said: list[tuple[str, str]] = []
    assert export_view(v, tmp_path / "out.nwb", lambda t, x: said.append((t, x)),
                       background=False)
    assert said[0][0] == "NWB file written" and "aborted" in said[0][1]
    assert load_recording(tmp_path / "out.nwb").samples == v.recording.samples
    assert not export_view(v, tmp_path / "s.h5", lambda t, x: said.append((t, x)),
                           background=False)                  # never over the input
    assert "input" in said[-1][1] or ".nwb" in said[-1][1]
    win.close()
