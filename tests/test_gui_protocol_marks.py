"""The protocol on the live trace: a line labelled with the step's name where each step
starts (prompts included) and a light tick per trial, at the stream samples the runner
names; replay shows the same marks from the file's step-started entries and trial table,
or, for a file without those entries, each step at its first trial (overview, detail,
playback)."""
from __future__ import annotations

import pytest

from app.live.protocol_marks import STEP, TRIAL
from protocols.events import StepStarted, TrialRecorded
from tests.gui_fakes import FakeSession
from tests.helpers_recording import write_synthetic_session
from tests.test_gui_wiring import connect, fill_metadata, window  # noqa: F401 - fixture

pytestmark = pytest.mark.gui


def test_a_run_marks_its_steps_and_trials_where_the_runner_says(qtbot, window, tmp_path):  # noqa: F811
    page = window.acquire
    connect(qtbot, window)
    recorded: list[TrialRecorded] = []
    started: list[StepStarted] = []
    page.experiment.subscribe(lambda ev: recorded.append(ev) if isinstance(ev, TrialRecorded)
                              else started.append(ev) if isinstance(ev, StepStarted) else None)
    fill_metadata(window, subject_id="rat-11")
    page.run_controls.output.set_path(tmp_path / "rat-11.h5")
    assert page.run_protocol()
    qtbot.waitUntil(lambda: page.prompt_panel.pending, timeout=10000)   # twitches done, held
    twitches = [ev for ev in recorded if ev.step == "twitch"]
    assert len(twitches) == FakeSession.instances[-1].trials
    ring = page.experiment.ring
    steps = [(m.sample, m.label) for m in ring.markers() if m.kind == STEP]
    trials = [(m.sample, m.label) for m in ring.markers() if m.kind == TRIAL]
    # each step where it began (the event's sample, not its first trial's pulse), the
    # prompt step (no trial) too
    assert [ev.name for ev in started] == ["twitch", "prompt"]
    assert steps == [(ev.sample, ev.name) for ev in started]
    assert steps[0][0] < twitches[0].first_pulse_sample
    assert trials == [(ev.first_pulse_sample, f"twitch {ev.trial_index}") for ev in twitches]

    view = page.live_view
    qtbot.waitUntil(lambda: [t for _, t in view.steps.shown] == ["twitch", "prompt"]
                    and len(view.trials.shown) == len(twitches), timeout=5000)
    view.freeze.setChecked(True)                           # hold the picture still
    rate = ring.sample_rate_hz
    assert [x for x, _ in view.steps.shown] == pytest.approx(
        [(s - view.last_end_sample) / rate for s, _ in steps])
    assert view.trials.shown == pytest.approx([(s - view.last_end_sample) / rate for s, _ in trials])
    xs, ys = view.trials.curve.getData()                   # one curve: a pair per trial
    assert len(xs) == 2 * len(twitches)
    top = view.plot.getPlotItem().getViewBox().viewRange()[1][1]
    assert max(ys) == pytest.approx(top) and min(ys) < top

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


def test_replay_marks_each_step_where_its_step_started_entry_is(qtbot, tmp_path):
    """A file with step-started entries: each step at its entry's sample (the rest, which
    records no trial, too); the trials keep their own ticks."""
    import json

    from app.gui.app import ensure_app
    from app.gui.replay_view import ReplayView
    from app.recorder.revisions import append_audit_row
    ensure_app()
    path = tmp_path / "s.h5"
    write_synthetic_session(path, rate_hz=1000.0)       # twitches at 0.2, 0.7 s; tetanus at 1.2 s
    for sample, index, name, kind in [(150, 0, "twitch", "twitch"), (900, 1, "settle", "rest"),
                                      (1100, 2, "tetanus", "tetanus")]:
        append_audit_row(path, {"time_utc": "2026-01-01T00:00:00Z", "sample": sample,
                                "kind": "step-started", "message": f"step [{index + 1}/3] {name} ({kind})",
                                "fields": json.dumps({"step_kind": kind, "step": name,
                                                      "step_index": index})})
    view = ReplayView()
    qtbot.addWidget(view)
    view.show()
    view.open(path, background=False)
    assert view.overview.over_steps.shown == [(0.15, "twitch"), (0.9, "settle"), (1.1, "tetanus")]
    view.playback.seek(view.recording.samples)
    assert [(m.sample, m.label, m.kind) for m in view.ring.markers()] == [
        (150, "twitch", STEP), (200, "twitch 0", TRIAL), (700, "twitch 1", TRIAL),
        (900, "settle", STEP), (1100, "tetanus", STEP), (1200, "tetanus 2 100 Hz", TRIAL)]
    view.close_view()
