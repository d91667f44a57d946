"""Labels of marks that start close together do not print over each other: a note or
prompt step starts at the same sample as the next step ('setup' and 'supramaximal'),
so their labels stack on rows at a wide view and sit side by side once zoomed in; a
lone mark's label stays where it was; comments and steps on one plot stay apart; the
rule (app.gui.mark_labels) in pixels, the drawing compared by the labels' scene
rectangles."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pyqtgraph as pg
import pytest

from app.gui.app import ensure_app
from app.gui.comment_marks import COMMENT_AT, MAX_ROWS, STEP_AT, CommentMarks
from app.gui.mark_labels import GAP_PX, HIDDEN, place_labels, rows_that_fit
from app.gui.step_marks import step_lines
from app.live.protocol_marks import STEP
from app.live.ring_buffer import RingBuffer

pytestmark = pytest.mark.gui


# --- the rule, in pixels -------------------------------------------------------------

def test_labels_at_one_x_stack_in_time_order_and_apart_share_a_row():
    same = place_labels([100.0, 100.0], [40.0, 80.0], 800.0, rows=3)
    assert [p.row for p in same] == [0, 1] and not any(p.left for p in same)
    near = place_labels([100.0, 130.0], [40.0, 80.0], 800.0, rows=3)      # 30 px < 40 + gap
    assert [p.row for p in near] == [0, 1]
    apart = place_labels([100.0, 100.0 + 40.0 + GAP_PX], [40.0, 80.0], 800.0, rows=3)
    assert [p.row for p in apart] == [0, 0]


def test_a_label_flips_left_near_the_right_edge_and_an_overflow_is_not_drawn():
    edge = place_labels([790.0], [60.0], 800.0, rows=3)
    assert edge[0].left and edge[0].row == 0
    crowd = place_labels([50.0] * 5, [30.0] * 5, 800.0, rows=3)
    assert [p.row for p in crowd] == [0, 1, 2, HIDDEN, HIDDEN]
    outside = place_labels([-5.0, 805.0, 400.0], [30.0] * 3, 800.0, rows=3)
    assert [p.row for p in outside] == [HIDDEN, HIDDEN, 0]


def test_rows_that_fit_stop_above_the_floor():
    assert rows_that_fit(top_px=300.0, row_px=20.0, floor_px=0.0, most=4) == 4
    assert rows_that_fit(top_px=100.0, row_px=20.0, floor_px=55.0, most=4) == 2   # 90-70, 70-50 no
    assert rows_that_fit(top_px=30.0, row_px=20.0, floor_px=25.0, most=4) == 1    # always one


# --- drawn ---------------------------------------------------------------------------

def process_events() -> None:
    from PySide6.QtWidgets import QApplication
    for _ in range(3):
        QApplication.processEvents()


def drawn_rects(*marks: CommentMarks) -> list:
    """Scene rectangles of the labels drawn, half a pixel in from each side (rows are
    one label height apart, so neighbours touch; rounding must not count as overlap),
    once the view has painted (pyqtgraph maps a new view range at the next paint)."""
    process_events()
    return [label.sceneBoundingRect().adjusted(0.5, 0.5, -0.5, -0.5)
            for m in marks for label in m.labels() if label is not None]


def disjoint(rects) -> bool:
    return not any(a.intersects(b) for a, b in itertools.combinations(rects, 2))


@pytest.fixture
def plot(qtbot):
    ensure_app()
    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    widget.resize(800, 400)
    widget.show()
    qtbot.waitExposed(widget)
    widget.setXRange(0.0, 100.0, padding=0)
    return widget


@pytest.mark.parametrize("second_x", [10.0, 10.4])
def test_close_steps_stack_at_a_wide_view_and_separate_zoomed_in(plot, second_x):
    steps = step_lines(plot.getPlotItem())
    steps.set([10.0, second_x], ["setup", "supramaximal"])
    wide = drawn_rects(steps)
    assert len(wide) == 2 and disjoint(wide)
    assert steps.rows == [0, 1]
    assert wide[0].bottom() <= wide[1].top()                 # the first step on top

    plot.setXRange(9.9, 12.0, padding=0)                      # relaid on the range change
    if second_x == 10.0:                                      # one line: still stacked
        assert steps.rows == [0, 1] and disjoint(drawn_rects(steps))
        return
    near = drawn_rects(steps)
    assert steps.rows == [0, 0] and disjoint(near)
    assert near[0].center().y() == pytest.approx(near[1].center().y())
    assert near[0].right() < near[1].left()


def test_a_single_mark_keeps_its_label_right_of_its_line_at_its_height(plot):
    steps = step_lines(plot.getPlotItem())
    steps.set([10.0], ["twitches"])
    vb = plot.getPlotItem().getViewBox()
    (rect,) = [label.sceneBoundingRect() for label in steps.labels()]
    line_x = vb.mapViewToScene(pg.Point(10.0, 0.0)).x()
    box = vb.sceneBoundingRect()
    assert steps.rows == [0]
    assert rect.left() == pytest.approx(line_x, abs=1.0)
    assert rect.center().y() == pytest.approx(box.bottom() - STEP_AT * box.height(), abs=1.0)


def test_comments_and_steps_at_one_time_all_readable_and_a_crowd_capped(plot):
    item = plot.getPlotItem()
    comments, steps = CommentMarks(item), step_lines(item)
    comments.set([10.0, 10.0], ["re-tied tendon", "bubble in bath"])
    steps.set([10.0] * 6, [f"step {i}" for i in range(6)])
    assert disjoint(drawn_rects(comments, steps))
    assert comments.rows == [0, 1]                # then the steps' labels: no more room
    assert steps.rows == [*range(MAX_ROWS), HIDDEN, HIDDEN]
    assert [line.label.isVisible() for line in steps._lines] == [True] * MAX_ROWS + [False] * 2
    plot.resize(800, 90)                          # short: fewer rows (relaid on the resize)
    process_events()
    assert 1 <= len(drawn_rects(steps)) < MAX_ROWS and disjoint(drawn_rects(steps))


def test_the_live_view_stacks_steps_and_comments_at_one_sample(qtbot):
    from app.gui.live_view import LiveView
    ensure_app()
    rate = 1000.0
    ring = RingBuffer.for_duration(5.0, rate)
    ring.write(0, np.zeros(2000, np.float32))
    for label, kind in [("setup", STEP), ("supramaximal", STEP),
                        ("re-tied tendon", "comment"), ("bubble in bath", "comment")]:
        ring.add_marker(label, 1000, kind)
    view = LiveView(ring, window_s=2.0)
    view.timer.stop()
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.show()
    qtbot.waitExposed(view)
    view.draw(ring.read(0, 2000))
    assert [t for _, t in view.steps.shown] == ["setup", "supramaximal"]
    assert [t for _, t in view.comments.shown] == ["re-tied tendon", "bubble in bath"]
    rects = drawn_rects(view.comments, view.steps)
    assert len(rects) == 4 and disjoint(rects)
    ring.write(2000, np.zeros(700, np.float32))               # scrolled on: 0.7 s later
    view.draw(ring.read(0, 2700))
    assert len(drawn_rects(view.steps)) == 2 and disjoint(drawn_rects(view.comments, view.steps))


def test_replay_overview_and_detail_stack_a_note_step_over_the_next(qtbot, tmp_path):
    from app.gui.replay_view import ReplayView
    from app.recorder.revisions import append_audit_row
    from tests.helpers_recording import write_synthetic_session
    ensure_app()
    path = tmp_path / "s.h5"
    write_synthetic_session(path, rate_hz=1000.0)
    for sample, index, name, kind in [(150, 0, "setup", "note"), (150, 1, "supramaximal", "twitch"),
                                      (1100, 2, "tetanus", "tetanus")]:
        append_audit_row(path, {"time_utc": "2026-01-01T00:00:00Z", "sample": sample,
                                "kind": "step-started", "message": f"step [{index + 1}/3] {name} ({kind})",
                                "fields": json.dumps({"step_kind": kind, "step": name,
                                                      "step_index": index})})
    view = ReplayView()
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.show()
    view.open(path, background=False)
    process_events()
    ov = view.overview
    assert [t for _, t in ov.over_steps.shown] == ["setup", "supramaximal", "tetanus"]
    for marks in (ov.over_steps, ov.detail_steps):
        assert marks.rows[:2] == [0, 1]
        rects = drawn_rects(marks)
        assert len(rects) == 3 and disjoint(rects)
    view.close_view()


def test_comment_labels_sit_at_their_own_height(plot):
    comments = CommentMarks(plot.getPlotItem())
    comments.set([50.0], ["note"])
    box = plot.getPlotItem().getViewBox().sceneBoundingRect()
    (rect,) = drawn_rects(comments)
    assert rect.center().y() == pytest.approx(box.bottom() - COMMENT_AT * box.height(), abs=1.0)
