"""Replay: a comment added afterwards at a chosen time (the GUI's 'myoforce annotate
--comment --at'): written to the file marked as added afterwards at round(t × rate),
read back and drawn at once on both plots, in the session information and in playback;
the time follows the detail plot's centre or a click on it; refusals are one line beside
the entry and write nothing; imports, NWB exports and files still being recorded offer
no entry, saying why."""
from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from app.errors import UserError
from app.gui.app import ensure_app
from app.gui.replay_view import ReplayView
from app.recorder.comments import MAX_COMMENT_CHARS, validate_comment
from app.recorder.reader import open_session
from tests.fixtures import make_fixtures as mf
from tests.helpers_recording import open_recorder, ramp_blocks, write_synthetic_session
from tests.replay_fixtures import view_fixture  # noqa: F401  (provides the "view" fixture)

pytestmark = pytest.mark.gui
FIX = mf.__file__.rsplit("/", 1)[0]


@pytest.fixture
def session(tmp_path):
    path = tmp_path / "session.h5"
    s = write_synthetic_session(path)
    return path, s


def _file_comments(path):
    with open_session(path) as sf:
        return sf.comments, sf.sample_rate_hz


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _info_value(tree, label):
    node = tree.topLevelItem(0)                  # "file": the file's own fields
    return next(node.child(k).text(1) for k in range(node.childCount())
                if node.child(k).text(0) == label)


def _info_comments(tree):
    for i in range(tree.topLevelItemCount()):
        node = tree.topLevelItem(i)
        if node.text(0) == "comments":
            return [(node.child(k).text(0), node.child(k).text(1)) for k in range(node.childCount())]
    return []


def test_a_comment_at_a_chosen_time_is_written_and_drawn_at_once(qtbot, view, session):
    path, written = session
    view.open(path, background=False)
    bar, ov = view.comment_bar, view.overview
    assert bar.can_comment and bar.status.text() == ""
    entries = int(_info_value(view.info_tree, "audit log entries"))
    ov.region.setRegion((1.0, 1.6))
    span = ov._span
    rate = view.recording.sample_rate_hz
    qtbot.keyClicks(bar.edit, "re-tied {tendon}")
    bar.at.selectAll()                  # typed into the time field (the spin box has focus)
    qtbot.keyClicks(bar.at, "1.2346")
    qtbot.keyClick(bar.at, Qt.Key_Return)                  # Enter in the time field adds too

    comments, file_rate = _file_comments(path)
    assert file_rate == rate
    assert [(c.text, c.sample, c.added_afterwards, c.source) for c in comments] == [
        ("re-tied {tendon}", round(1.2346 * rate), True, "replay")]
    t = comments[0].sample / rate
    # drawn at once, on both plots, and listed in the session information
    assert ov.over_comments.shown == [(pytest.approx(t), "re-tied {tendon}")]
    assert ov.detail_comments.shown == ov.over_comments.shown
    assert _info_comments(view.info_tree) == [(f"{t:.2f} s", "re-tied {tendon} (added afterwards)")]
    assert int(_info_value(view.info_tree, "audit log entries")) == entries + 1   # not stale
    assert bar.edit.text() == "" and f"sample {comments[0].sample}" in bar.status.text()
    assert view.info["comments"][0]["added_afterwards"] is True
    # the view stayed where it was and still reads the samples (through a new handle)
    assert ov._span == span
    ov.show_span(1.2, 1.21)                                      # raw samples, from the file
    x, y = ov.detail_curve.getData()
    i0 = int(round(x[0] * rate))
    assert len(y) > 50
    np.testing.assert_array_equal(y, written.force_mN[i0:i0 + len(y)])
    # playback shows it too: behind the position at once, and again after a seek
    view.playback.seek(15_000)
    assert [(m.sample, m.label) for m in view.ring.markers() if m.kind == "comment"] == [
        (comments[0].sample, "re-tied {tendon}")]
    # a second one: both in the file, both drawn
    bar.choose(0.5)
    bar.edit.setText("bubble in bath")
    qtbot.keyClick(bar.edit, Qt.Key_Return)
    comments, _ = _file_comments(path)
    assert [c.text for c in comments] == ["bubble in bath", "re-tied {tendon}"]
    assert [text for _, text in ov.detail_comments.shown] == ["bubble in bath", "re-tied {tendon}"]


def test_the_time_follows_the_detail_centre_or_a_click_on_it(qtbot, view, session):
    path, _ = session
    view.open(path, background=False)
    view.tabs.setCurrentWidget(view.overview)
    bar, ov = view.comment_bar, view.overview
    ov.region.setRegion((0.4, 0.6))
    assert bar.at.value() == pytest.approx(0.5) and not bar.chosen
    assert ov.cursor.isVisible() and ov.cursor.value() == pytest.approx(0.5)
    # a click on the detail plot at 0.55 s chooses that time (snapped to a sample)
    vb = ov.detail.getPlotItem().getViewBox()
    scene = vb.mapViewToScene(QPointF(0.55, float(np.mean(vb.viewRange()[1]))))
    pos = ov.detail.mapFromScene(scene)
    qtbot.mouseClick(ov.detail.viewport(), Qt.LeftButton, pos=QPoint(pos.x(), pos.y()))
    assert bar.chosen and bar.at.value() == pytest.approx(0.55, abs=0.002)
    assert bar.at.value() * 10_000 == pytest.approx(round(bar.at.value() * 10_000))
    assert ov.cursor.value() == pytest.approx(bar.at.value())
    chosen = bar.at.value()
    ov.region.setRegion((0.5, 0.7))           # still in view: kept
    assert bar.at.value() == chosen
    ov.region.setRegion((1.0, 1.2))           # out of view: back to the centre
    assert bar.at.value() == pytest.approx(1.1) and not bar.chosen


@pytest.mark.parametrize("text", ["", "   ", "x" * (MAX_COMMENT_CHARS + 1), "bell\x07",
                                  "re-tied\ntendon"])
def test_a_refused_comment_says_why_in_one_line_and_writes_nothing(qtbot, view, session, text):
    path, _ = session
    view.open(path, background=False)
    bar = view.comment_bar
    before = _digest(path)
    with pytest.raises(UserError) as why:
        validate_comment(text)
    bar.edit.setText(text)
    bar.add_button.click()
    assert bar.status.text() == str(why.value) and "\n" not in bar.status.text()
    assert bar.edit.text() == text                                  # kept, to fix it
    assert _digest(path) == before and _file_comments(path)[0] == []
    assert view.overview.detail_comments.shown == []


def test_a_comment_while_the_file_is_still_being_read_waits(qtbot, view, session):
    path, _ = session
    before = _digest(path)
    view.open(path)                           # loading on a worker thread
    assert not view.add_comment("too early", 0.5)
    assert "still being opened" in view.comment_bar.status.text()
    qtbot.waitUntil(lambda: view.analysis_count == 1 and not view.overview.building,
                    timeout=30000)
    assert _digest(path) == before
    assert view.add_comment("now", 0.5)
    assert [c.text for c in _file_comments(path)[0]] == ["now"]


def test_a_session_still_being_recorded_offers_no_entry(qtbot, view, tmp_path):
    path = tmp_path / "live.h5"
    rec = open_recorder(path, 1000.0)
    try:
        for b in ramp_blocks(3000, 100, 1000.0):
            rec.put_block(b)
        qtbot.waitUntil(lambda: rec.samples_flushed >= 3000, timeout=10000)
        view.open(path, background=False)
        bar = view.comment_bar
        assert not bar.can_comment and not bar.edit.isEnabled()
        assert "still being recorded" in bar.status.text()
        assert not view.add_comment("re-tied tendon", 1.0)
        assert "still being recorded" in bar.status.text()
    finally:
        rec.close()
    assert _file_comments(path)[0] == []
    view.open(path, background=False)         # Reload once finished: now it can
    assert view.comment_bar.can_comment and view.add_comment("re-tied tendon", 1.0)
    assert [(c.sample, c.text) for c in _file_comments(path)[0]] == [(1000, "re-tied tendon")]


@pytest.mark.parametrize("name", ["twitch.csv", "dmc_twitch.ddf"])
def test_an_imported_recording_offers_no_entry_and_says_why(qtbot, view, tmp_path, name):
    path = tmp_path / name
    shutil.copy(f"{FIX}/{name}", path)
    before = _digest(path)
    view.open(path, background=False)
    assert view.recording is not None
    bar = view.comment_bar
    assert not bar.can_comment and not bar.add_button.isEnabled()
    assert bar.status.text() == f"{path}: comments are added to myoforce .h5 sessions only"
    assert not view.overview.cursor.isVisible()
    assert not view.add_comment("re-tied tendon", 0.1)
    assert _digest(path) == before


def test_an_nwb_export_offers_no_entry(qtbot, view, session, tmp_path):
    pytest.importorskip("pynwb")
    from app.nwb.export import export_session
    src, _ = session
    out = tmp_path / "session.nwb"
    export_session(src, out)
    view.open(out, background=False)
    assert view.recording is not None and not view.comment_bar.can_comment
    assert "myoforce .h5 sessions only" in view.comment_bar.status.text()


def test_a_recording_without_a_file_offers_no_entry(view):
    from tests.synthetic import SessionSpec, session_recording
    rec, _ = session_recording(SessionSpec(fs=2000.0, twitches=1, ff_freqs=(50,)))
    view.show_recording(rec, {"file": "synthetic"}, background=False)
    assert not view.comment_bar.can_comment
    assert view.comment_bar.status.text() == "no file to add comments to"


def test_ctrl_m_shows_the_recording_and_focuses_the_entry(qtbot, view, session):
    path, _ = session
    view.open(path, background=False)
    view.tabs.setCurrentIndex(0)
    assert view.comment_shortcut.key().toString() == "Ctrl+M"
    view.activateWindow()
    if view.isActiveWindow():
        qtbot.keyClick(view.trial_list, Qt.Key_M, Qt.ControlModifier)
    else:                                       # no window manager to activate it
        view.comment_shortcut.activated.emit()
    assert view.tabs.currentWidget() is view.overview
    qtbot.waitUntil(view.comment_bar.edit.hasFocus, timeout=2000)


def test_aux_switches_survive_the_same_channels_read_again(qtbot):
    from app.gui.aux_traces import AuxTraces

    class Source:
        def __init__(self, channels):
            self.channels = channels

        def read(self, start, stop):
            return np.zeros((len(self.channels), max(0, stop - start)), np.float32)

    ensure_app()
    panel = AuxTraces()
    qtbot.addWidget(panel)
    panel.set_source(Source([("emg", "mV"), ("length", "mm")]))
    panel.boxes[0].setChecked(False)
    again = Source([("emg", "mV"), ("length", "mm")])
    panel.set_source(again)
    assert panel.source is again and panel.visible_channels() == ["length"]
    panel.set_source(Source([("emg", "mV")]))        # other channels: a fresh panel
    assert panel.visible_channels() == ["emg"]


def test_aux_channels_read_on_after_a_comment_with_their_switches(qtbot, view, tmp_path):
    from tests.test_recorder_aux import _block, _record
    path = tmp_path / "aux.h5"
    _record(path, [_block(i, 500) for i in range(0, 20_000, 500)])
    view.open(path, background=False)
    aux = view.live_view.aux
    assert [b.text() for b in aux.boxes] == ["emg (mV)", "length (mm)"]
    aux.boxes[0].setChecked(False)
    assert view.add_comment("electrode moved", 1.0)
    assert aux.visible_channels() == ["length"]           # as the user left them
    got = aux.source.read(1000, 1500)                      # through the reopened file
    np.testing.assert_allclose(got[1], np.arange(1000, 1500) / 1000.0, rtol=1e-6)


def test_a_file_open_in_another_tab_is_refused_and_both_read_on(qtbot, view, session):
    path, written = session
    other = ReplayView()
    qtbot.addWidget(other)
    view.open(path, background=False)
    other.open(path, background=False)
    before = _digest(path)
    assert not view.add_comment("re-tied tendon", 0.5)
    assert "cannot open for writing" in view.comment_bar.status.text()
    assert view.comment_bar.edit.isEnabled() and _digest(path) == before
    for v in (view, other):                       # neither lost its file
        np.testing.assert_array_equal(v.recording.force_mN[100:200], written.force_mN[100:200])
    other.close_view()                            # the other tab closed: the file is free
    other.close_view()                            # (twice is harmless)
    assert view.add_comment("re-tied tendon", 0.5)
    assert [c.text for c in _file_comments(path)[0]] == ["re-tied tendon"]
