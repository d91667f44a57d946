"""Replay: a trial excluded from the session's numbers with a reason, and included again
(the GUI's 'myoforce annotate --exclude-trial N --reason TEXT' / '--include-trial N'):
written to the file through the core (source 'replay'), re-analysed at once (Pt becomes
the mean of the other twitches, and comes back), shown in the trial list, the details,
the results table, the summary and the session panel; the context menus of the trial
list and the results table do the same; refusals are one line under the control and
write nothing; files that take no exclusions disable the control, saying why."""
from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.errors import UserError
from app.gui.replay_view import ReplayView
from app.gui.results_table import COLUMNS
from app.recorder.exclusions import MAX_REASON_CHARS, read_exclusions, validate_reason
from app.recorder.reader import load_recording
from tests.fixtures import make_fixtures as mf
from tests.helpers_recording import open_recorder, ramp_blocks
from tests.test_trial_exclusion import write_session
from tests.replay_fixtures import view_fixture  # noqa: F401  (provides the "view" fixture)

pytestmark = pytest.mark.gui
FIX = mf.__file__.rsplit("/", 1)[0]
COL = {key: i for i, (key, _h, _f) in enumerate(COLUMNS)}


@pytest.fixture
def session(tmp_path):
    path = tmp_path / "s.h5"
    write_session(path)                   # twitches 0-2 (1 is odd, 1.5x), tetani 3-5
    return path


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _row(view, index):
    return next(i for i, t in enumerate(view.recording.trials) if t.index == index)


def _item(view, index):
    return view.trial_list.item(_row(view, index))


def _cell(view, index, key, role=Qt.DisplayRole):
    model = view.results_table.results
    row = next(i for i, r in enumerate(model.rows) if r["index"] == index)
    return model.data(model.index(row, COL[key]), role)


def _info_children(tree, label):
    for i in range(tree.topLevelItemCount()):
        node = tree.topLevelItem(i)
        if node.text(0) == label:
            return [(node.child(k).text(0), node.child(k).text(1)) for k in range(node.childCount())]
    return []


def _twitch_peaks(view):
    return {r["index"]: r["peak_force_mN"] for r in view.results_table.rows if r["kind"] == "twitch"}


def test_exclude_a_twitch_with_a_reason_then_include_it_again(qtbot, view, session):
    view.open(session, background=False)
    bar = view.exclusion_bar
    assert bar.can_exclude and bar.status.text() == ""
    peaks = _twitch_peaks(view)
    pt_before = view.session_result.summary.pt_mN
    assert pt_before == pytest.approx(np.mean(list(peaks.values())), rel=1e-9)
    count = view.analysis_count
    raw = np.asarray(view.recording.force_mN[:])

    view.trial_list.setCurrentRow(_row(view, 1))
    assert not bar.exclude_button.isHidden() and bar.include_button.isHidden()
    assert bar.ask_row.isHidden()
    bar.exclude_button.click()                           # asks for the reason
    assert not bar.ask_row.isHidden() and bar.prompt.text() == "Exclude trial 1 because:"
    qtbot.keyClicks(bar.reason, "animal moved <sneezed>")
    qtbot.keyClick(bar.reason, Qt.Key_Return)

    # in the file, through the core, as the replay's
    ex = read_exclusions(session)
    assert list(ex) == [1] and ex[1].reason == "animal moved <sneezed>" and ex[1].source == "replay"
    assert load_recording(session, lazy=False).exclusions[1].reason == "animal moved <sneezed>"
    # analysed again: Pt is the mean of the other twitches, trial 1 still measured
    assert view.analysis_count == count + 1
    s = view.session_result.summary
    assert s.pt_trials == [0, 2]
    assert s.pt_mN == pytest.approx((peaks[0] + peaks[2]) / 2, rel=1e-9)
    assert s.pt_mN < 0.9 * pt_before
    from app.labels import summary_parts
    text = view.summary.text()
    assert summary_parts(s)[0] in text and f"{pt_before:.1f}" not in text
    assert "excluded: trial 1 (animal moved &lt;sneezed&gt;)" in text
    assert _twitch_peaks(view)[1] == pytest.approx(peaks[1], rel=1e-12)
    # shown as excluded, with the reason, everywhere
    item = _item(view, 1)
    assert item.text().endswith("(excluded: animal moved <sneezed>)") and item.font().strikeOut()
    assert "replay" in item.toolTip()
    assert not _item(view, 0).font().strikeOut() and "excluded" not in _item(view, 0).text()
    assert "excluded from the session's numbers: animal moved &lt;sneezed&gt;" in \
        view.trial_text.text()
    assert _cell(view, 1, "flags") == "excluded"
    assert _cell(view, 1, "error").startswith("excluded: animal moved <sneezed> (replay")
    assert _cell(view, 1, "peak_force_mN", Qt.FontRole).strikeOut()
    assert _cell(view, 0, "peak_force_mN", Qt.FontRole) is None and _cell(view, 0, "error") == ""
    assert _info_children(view.info_tree, "excluded trials") == [("trial 1",
                                                                   "animal moved <sneezed>")]
    assert bar.exclude_button.isHidden() and not bar.include_button.isHidden()
    assert bar.ask_row.isHidden() and "trial 1 excluded" in bar.status.text()
    # the samples are read on through the reopened file
    np.testing.assert_array_equal(np.asarray(view.recording.force_mN[:]), raw)

    bar.include_button.click()                           # taken back: numbers come back
    assert read_exclusions(session) == {}
    assert view.analysis_count == count + 2
    s = view.session_result.summary
    assert s.pt_trials == [0, 1, 2] and s.pt_mN == pytest.approx(pt_before, rel=1e-12)
    assert "excluded" not in view.summary.text()
    assert "excluded" not in _item(view, 1).text() and not _item(view, 1).font().strikeOut()
    assert "excluded" not in view.trial_text.text() and _cell(view, 1, "flags") == ""
    assert _info_children(view.info_tree, "excluded trials") == []
    assert not bar.exclude_button.isHidden() and "included again" in bar.status.text()


def test_the_context_menus_of_the_list_and_the_table(qtbot, view, session):
    view.open(session, background=False)
    bar = view.exclusion_bar
    view.trial_list.setCurrentRow(_row(view, 0))
    for widget in (view.trial_list, view.results_table):
        assert widget.contextMenuPolicy() == Qt.CustomContextMenu
    # the table names the trial under the pointer
    table = view.results_table
    table.resize(900, 400)
    rect = table.visualRect(table.results.index(_row(view, 4), 0))
    assert table.trial_at(rect.center()) == 4
    pos = view.trial_list.visualItemRect(_item(view, 2)).center()
    assert view._index_at_row(view.trial_list.indexAt(pos).row()) == 2

    (action,) = bar.menu_for(4).actions()
    assert action.text() == "Exclude trial 4…" and action.isEnabled()
    action.trigger()                       # selects trial 4 and asks why
    assert view.trial_list.currentRow() == _row(view, 4)
    assert not bar.ask_row.isHidden() and bar.prompt.text() == "Exclude trial 4 because:"
    bar.reason.setText("electrode slipped")
    bar.confirm_button.click()
    assert {i: e.reason for i, e in read_exclusions(session).items()} == {4: "electrode slipped"}
    view.trial_list.setCurrentRow(_row(view, 0))
    (action,) = bar.menu_for(4).actions()
    assert action.text() == "Include trial 4"
    action.trigger()
    assert read_exclusions(session) == {} and view.trial_list.currentRow() == _row(view, 4)


def test_choosing_another_trial_drops_the_reason_being_typed(qtbot, view, session):
    view.open(session, background=False)
    bar = view.exclusion_bar
    view.trial_list.setCurrentRow(_row(view, 1))
    bar.exclude_button.click()
    bar.reason.setText("animal moved")
    view.trial_list.setCurrentRow(_row(view, 2))     # not for trial 2
    assert bar.ask_row.isHidden() and bar.reason.text() == ""
    bar.confirm_button.click()
    qtbot.keyClick(bar.reason, Qt.Key_Return)
    assert read_exclusions(session) == {}


@pytest.mark.parametrize("text", ["", "   ", "x" * (MAX_REASON_CHARS + 1), "moved\x07",
                                  "moved\nagain"])
def test_a_bad_reason_is_one_line_and_writes_nothing(qtbot, view, session, text):
    view.open(session, background=False)
    bar = view.exclusion_bar
    before, count = _digest(session), view.analysis_count
    with pytest.raises(UserError) as why:
        validate_reason(text)
    view.trial_list.setCurrentRow(_row(view, 1))
    bar.exclude_button.click()
    bar.reason.setText(text)
    bar.confirm_button.click()
    assert bar.status.text() == str(why.value) and "\n" not in bar.status.text()
    assert bar.reason.text() == text and not bar.ask_row.isHidden()     # kept, to fix it
    assert _digest(session) == before and view.analysis_count == count
    assert "excluded" not in _item(view, 1).text()


@pytest.mark.parametrize("index, excluded, words", [
    (99, True, "no trial 99 in this session"),
    (2, False, "trial 2 is not excluded"),
])
def test_what_the_core_refuses_after_reading_the_file_writes_nothing(view, session, index,
                                                                      excluded, words):
    view.open(session, background=False)
    before = _digest(session)
    raw = np.asarray(view.recording.force_mN[:200])
    assert not view.set_exclusion(index, excluded, "moved")
    assert words in view.exclusion_bar.status.text()
    assert "\n" not in view.exclusion_bar.status.text()
    assert _digest(session) == before
    np.testing.assert_array_equal(np.asarray(view.recording.force_mN[:200]), raw)  # reopened


def test_an_exclusion_while_the_file_is_read_waits_then_analyses_in_the_background(
        qtbot, view, session):
    before = _digest(session)
    view.open(session)                                # loading on a worker thread
    assert not view.set_exclusion(1, True, "animal moved")
    assert view.exclusion_bar.status.text().startswith("wait: the file is still being opened")
    qtbot.waitUntil(lambda: view.analysis_count == 1 and not view.overview.building,
                    timeout=30000)
    assert _digest(session) == before
    peaks = _twitch_peaks(view)
    assert view.set_exclusion(1, True, "animal moved")
    assert view.analysing                             # analysed again on a worker thread
    assert not view.set_exclusion(1, False)           # the analysis reads the file: wait
    assert "wait: the analysis is still reading the file" in view.exclusion_bar.status.text()
    qtbot.waitUntil(lambda: view.analysis_count == 2, timeout=30000)
    assert view.session_result.summary.pt_mN == pytest.approx((peaks[0] + peaks[2]) / 2,
                                                              rel=1e-9)
    assert list(read_exclusions(session)) == [1]


def test_a_session_still_being_recorded_disables_the_control(qtbot, view, tmp_path):
    path = tmp_path / "live.h5"
    rec = open_recorder(path, 1000.0)
    try:
        for b in ramp_blocks(3000, 100, 1000.0):
            rec.put_block(b)
        qtbot.waitUntil(lambda: rec.samples_flushed >= 3000, timeout=10000)
        view.open(path, background=False)
        bar = view.exclusion_bar
        assert not bar.can_exclude and not bar.exclude_button.isEnabled()
        assert "still being recorded" in bar.status.text()
        assert not bar.menu_for(0).actions()[0].isEnabled()
        assert not view.set_exclusion(0, True, "moved")
        assert "still being recorded" in bar.status.text()
    finally:
        rec.close()
    assert read_exclusions(path) == {}


@pytest.mark.parametrize("name", ["twitch.csv", "dmc_twitch.ddf"])
def test_an_imported_recording_disables_the_control_and_says_why(qtbot, view, tmp_path, name):
    path = tmp_path / name
    shutil.copy(f"{FIX}/{name}", path)
    before = _digest(path)
    view.open(path, background=False)
    assert view.recording is not None and view.recording.trials
    bar = view.exclusion_bar
    why = f"{path}: trials are excluded in myoforce .h5 sessions only"
    assert not bar.can_exclude and bar.status.text() == why
    assert not bar.exclude_button.isEnabled() and not bar.include_button.isEnabled()
    (action,) = bar.menu_for(view.recording.trials[0].index).actions()
    assert not action.isEnabled() and action.toolTip() == why
    bar.ask()
    assert bar.ask_row.isHidden()
    assert not view.set_exclusion(view.recording.trials[0].index, True, "moved")
    assert _digest(path) == before


def test_an_nwb_export_shows_its_exclusion_but_takes_none(qtbot, view, session, tmp_path):
    pytest.importorskip("pynwb")
    from app.nwb.export import export_session
    from app.recorder.exclusions import set_trial_exclusion
    set_trial_exclusion(session, 1, True, "animal moved")
    out = tmp_path / "s.nwb"
    export_session(session, out)
    view.open(out, background=False)
    bar = view.exclusion_bar
    assert not bar.can_exclude and "myoforce .h5 sessions only" in bar.status.text()
    assert _item(view, 1).text().endswith("(excluded: animal moved)")
    assert view.session_result.summary.pt_trials == [0, 2]


def test_a_recording_without_a_file_disables_the_control(view):
    from tests.synthetic import SessionSpec, session_recording
    rec, _ = session_recording(SessionSpec(fs=2000.0, twitches=1, ff_freqs=(50,)))
    view.show_recording(rec, {"file": "synthetic"}, background=False)
    assert not view.exclusion_bar.can_exclude
    assert view.exclusion_bar.status.text() == "no file to exclude trials in"
    assert not view.set_exclusion(0, True, "moved")


def test_a_file_open_in_another_tab_is_refused_and_both_read_on(qtbot, view, session):
    other = ReplayView()
    qtbot.addWidget(other)
    view.open(session, background=False)
    other.open(session, background=False)
    before = _digest(session)
    assert not view.set_exclusion(1, True, "animal moved")
    assert "cannot open for writing" in view.exclusion_bar.status.text()
    assert _digest(session) == before
    for v in (view, other):
        assert np.isfinite(np.asarray(v.recording.force_mN[100:200])).all()
    other.close_view()
    assert view.set_exclusion(1, True, "animal moved")
    assert list(read_exclusions(session)) == [1]
