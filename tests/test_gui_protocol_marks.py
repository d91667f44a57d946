"""The protocol on the live trace: a line labelled with the step's name where each step
starts and a light tick per trial, at the stream samples the runner names; replay shows
the same marks from the file's trial table (overview, detail, playback)."""
from __future__ import annotations

import pytest

from app.live.protocol_marks import STEP, TRIAL
from protocols.events import TrialRecorded
from tests.gui_fakes import FakeSession
from tests.helpers_recording import write_synthetic_session
from tests.test_gui_wiring import connect, fill_metadata, window  # noqa: F401 - fixture

pytestmark = pytest.mark.gui


def test_a_run_marks_its_steps_and_trials_where_the_runner_says(qtbot, window, tmp_path):  # noqa: F811
    page = window.acquire
    connect(qtbot, window)
    recorded: list[TrialRecorded] = []
    page.experiment.subscribe(lambda ev: recorded.append(ev) if isinstance(ev, TrialRecorded) else None)
    fill_metadata(window, subject_id="rat-11")
    page.run_controls.output.set_path(tmp_path / "rat-11.h5")
    assert page.run_protocol()
    qtbot.waitUntil(lambda: page.prompt_panel.pending, timeout=10000)   # twitches done, held
    twitches = [ev for ev in recorded if ev.step == "twitch"]
    assert len(twitches) == FakeSession.instances[-1].trials
    ring = page.experiment.ring
    steps = [(m.sample, m.label) for m in ring.markers() if m.kind == STEP]
    trials = [(m.sample, m.label) for m in ring.markers() if m.kind == TRIAL]
    # the twitch step at its first trial's pulse; the prompt step (no trial) unmarked
    assert steps == [(twitches[0].first_pulse_sample, "twitch")]
    assert trials == [(ev.first_pulse_sample, f"twitch {ev.trial_index}") for ev in twitches]

    view = page.live_view
    qtbot.waitUntil(lambda: [t for _, t in view.steps.shown] == ["twitch"]
                    and len(view.trials.shown) == len(twitches), timeout=5000)
    view.freeze.setChecked(True)                           # hold the picture still
    rate = ring.sample_rate_hz
    assert view.steps.shown[0][0] == pytest.approx((steps[0][0] - view.last_end_sample) / rate)
    assert view.trials.shown == pytest.approx([(s - view.last_end_sample) / rate for s, _ in trials])
    xs, ys = view.trials.curve.getData()                   # one curve: a pair per trial
    assert len(xs) == 2 * len(twitches)
    top = view.plot.getPlotItem().getViewBox().viewRange()[1][1]
    assert max(ys) == pytest.approx(top) and min(ys) < top
    assert not any("step" == m.kind and m.label == "prompt" for m in ring.markers())

    page.experiment.answer("len", 32.0)
    qtbot.waitUntil(lambda: not page.running, timeout=15000)


def test_replay_shows_the_step_marks_of_the_trial_table(qtbot, tmp_path):
    from app.gui.app import ensure_app
    from app.gui.replay_view import ReplayView
    ensure_app()
    path = tmp_path / "s.h5"
    write_synthetic_session(path, rate_hz=1000.0)       # twitches at 0.2, 0.7 s; tetanus at 1.2 s
    view = ReplayView()
    qtbot.addWidget(view)
    view.show()
    view.open(path, background=False)
    assert view.overview.over_steps.shown == [(0.2, "twitch"), (1.2, "tetanus")]
    assert view.overview.detail_steps.shown == view.overview.over_steps.shown

    view.playback.seek(view.recording.samples)              # playback: as they were live
    assert [(m.sample, m.label, m.kind) for m in view.ring.markers()] == [
        (200, "twitch", STEP), (200, "twitch 0", TRIAL), (700, "twitch 1", TRIAL),
        (1200, "tetanus", STEP), (1200, "tetanus 2 100 Hz", TRIAL)]
    live = view.live_view
    live.draw(view.ring.read(0, view.recording.samples))
    end = view.recording.samples
    assert live.steps.shown == [((200 - end) / 1000.0, "twitch"), ((1200 - end) / 1000.0, "tetanus")]
    assert live.trials.shown == pytest.approx([(s - end) / 1000.0 for s in (200, 700, 1200)])
    view.close_view()
