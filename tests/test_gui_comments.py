"""Comments in the GUI: the box under the live trace records a line at the current
sample (Enter; Ctrl+M focuses it), the trace shows it as a labelled line, the Log lists
it, a comment with no run going is refused with the reason (never dropped silently);
replay shows the file's comments on the overview, in playback and in the info tree."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.recorder.comments import read_comments
from tests.gui_fakes import FakeSession
from tests.helpers_recording import open_recorder
from tests.test_gui_wiring import connect, fill_metadata, window  # noqa: F401 - fixture

pytestmark = pytest.mark.gui


class RecordingSession(FakeSession):
    """The fake session with a real recorder on the run's output file, fed by the fake
    amplifier's stream (as ExperimentSession's recorder is)."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.h5, self.path = self.path, self.path.with_suffix(".fake")
        self.recorder = None

    def run(self):
        amp = self.rig.amplifier
        rec = open_recorder(self.h5, amp.sample_rate_hz)
        unsubscribe = amp.subscribe(rec.put_block)
        self.recorder = rec
        try:
            return super().run()
        finally:
            unsubscribe()
            rec.close()


def test_comment_during_a_run_is_recorded_drawn_and_logged(qtbot, window, tmp_path):  # noqa: F811
    page = window.acquire
    page.session_factory = RecordingSession
    connect(qtbot, window)
    box = page.comment_box

    # no run: refused with the reason, the text kept
    qtbot.keyClicks(box.edit, "before the run")
    qtbot.keyClick(box.edit, Qt.Key_Return)
    assert "no recording is running" in box.status.text()
    assert box.edit.text() == "before the run"
    assert "comment not saved" in page.log.lines[-1]

    fill_metadata(window, subject_id="rat-09")
    out = tmp_path / "rat-09.h5"
    page.run_controls.output.set_path(out)
    assert page.run_protocol()
    qtbot.waitUntil(lambda: page.prompt_panel.pending, timeout=10000)   # session holds here
    session = FakeSession.instances[-1]
    qtbot.waitUntil(lambda: session.recorder is not None
                    and page.experiment.ring.end_sample > 300, timeout=5000)

    page.setFocus()
    qtbot.keyClick(page, Qt.Key_M, Qt.ControlModifier)
    assert box.edit.hasFocus() or not window.isActiveWindow()
    box.edit.clear()
    box.edit.setText("   ")
    qtbot.keyClick(box.edit, Qt.Key_Return)
    assert "comment is empty" in box.status.text()
    box.edit.setText("x" * 300)                       # refused whole, never cut to fit
    qtbot.keyClick(box.edit, Qt.Key_Return)
    assert "300 characters" in box.status.text() and len(box.edit.text()) == 300
    box.edit.setText("re-tied {tendon}")
    qtbot.keyClick(box.edit, Qt.Key_Return)
    assert box.edit.text() == "" and box.status.text() == ""
    assert "comment at" in page.log.lines[-1] and "re-tied {tendon}" in page.log.lines[-1]
    marks = [m for m in page.experiment.ring.markers() if m.kind == "comment"]
    assert [m.label for m in marks] == ["re-tied {tendon}"]
    # drawn on the live trace once the display reaches it, left of 'now'
    qtbot.waitUntil(lambda: [t for _, t in page.live_view.comments.shown] == ["re-tied {tendon}"],
                    timeout=5000)
    x = page.live_view.comments.shown[0][0]
    assert -page.live_view.window_s <= x <= 0

    page.experiment.answer("len", 32.0)
    qtbot.waitUntil(lambda: not page.running, timeout=15000)
    got = read_comments(out)
    assert [(c.sample, c.text, c.added_afterwards) for c in got] == [
        (marks[0].sample, "re-tied {tendon}", False)]


def test_replay_shows_the_comments_of_a_file(qtbot, tmp_path):
    from app.gui.app import ensure_app
    from app.gui.replay_view import ReplayView
    from app.recorder.comments import add_comment_afterwards, record_comment
    from tests.helpers_recording import ramp_blocks
    ensure_app()
    path = tmp_path / "s.h5"
    rec = open_recorder(path, 1000.0)
    for b in ramp_blocks(4000, 100, 1000.0):
        rec.put_block(b)
        if b.first_sample == 900:
            record_comment(rec, "extra anaesthetic 0.05 ml")
    rec.close()
    add_comment_afterwards(path, "bubble in bath", 3.0)

    view = ReplayView()
    qtbot.addWidget(view)
    view.show()
    view.open(path, background=False)
    assert view.overview.over_comments.shown == [(1.0, "extra anaesthetic 0.05 ml"),
                                                 (3.0, "bubble in bath")]
    assert view.overview.detail_comments.shown == view.overview.over_comments.shown
    tree = view.info_tree
    node = next(tree.topLevelItem(i) for i in range(tree.topLevelItemCount())
                if tree.topLevelItem(i).text(0) == "comments")
    assert [(node.child(i).text(0), node.child(i).text(1)) for i in range(node.childCount())] == [
        ("1.00 s", "extra anaesthetic 0.05 ml"), ("3.00 s", "bubble in bath (added afterwards)")]
    # playback feeds them to the live view's ring as comment markers
    view.playback.seek(3500)
    assert [(m.sample, m.label) for m in view.ring.markers() if m.kind == "comment"] == [
        (3000, "bubble in bath")]
    view.close_view()
