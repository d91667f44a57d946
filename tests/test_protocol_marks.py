"""Step and trial marks (app.live.protocol_marks): one rule for the live trace and
replay, at the samples the recording names, never where the stream happened to be.
A step is marked where it began (the runner's StepStarted.sample, the file's
step-started audit entries), so rests, notes and prompts are marked too; without that
sample, at its first trial."""
from __future__ import annotations

import numpy as np

from app.live.experiment import Experiment
from app.live.playback import Playback
from app.live.protocol_marks import STEP, TRIAL, all_marks, from_trials
from app.live.ring_buffer import RingBuffer
from app.recording import Recording, Trial
from protocols.events import StepStarted, TrialRecorded


def _event(index, step, first_pulse, start, kind="twitch", hz=None, step_index=0):
    return TrialRecorded(trial_index=index, step_index=step_index, step=step, kind=kind,
                         status="completed", start_sample=start, stop_sample=start + 500,
                         first_pulse_sample=first_pulse, pulses=1, requested_pulses=1,
                         current_mA=1.0, pulse_width_ms=0.2, frequency_hz=hz, length_mm=None)


def _trials():
    stim = np.array([1000, 2000, 3000, 3020, 4000], dtype=np.int64)
    return [Trial(0, "twitch", 950, 1500, stim[:1], step="twitch series"),
            Trial(1, "twitch", 1950, 2500, stim[1:2], step="twitch series"),
            Trial(2, "tetanus", 2950, 3500, stim[2:4], frequency_hz=50.0, step="force-frequency"),
            Trial(3, "twitch", 3950, 4500, np.zeros(0, np.int64), step="force-frequency")]


def _started(index, name, sample, kind="twitch"):
    return StepStarted(index=index, count=9, name=name, kind=kind, sample=sample)


def test_without_step_starts_a_step_is_marked_at_its_first_trial_and_every_trial_at_its_first_pulse():
    marks = all_marks(from_trials(_trials()))
    assert marks == [(1000, "twitch series", STEP), (1000, "twitch 0", TRIAL),
                     (2000, "twitch 1", TRIAL),
                     (3000, "force-frequency", STEP), (3000, "tetanus 2 50 Hz", TRIAL),
                     (3950, "twitch 3", TRIAL)]          # no pulse found: its window's start


def test_trials_without_a_step_name_get_no_step_mark():
    trials = [Trial(i, "twitch", 100 * i, 100 * i + 50, np.array([100 * i + 10])) for i in range(3)]
    assert [kind for _, _, kind in all_marks(from_trials(trials))] == [TRIAL] * 3


def test_live_marks_sit_at_the_samples_the_runner_names_not_the_newest():
    exp = Experiment(ring_seconds=10.0, sample_rate_hz=1000.0)
    exp.ring.write(0, np.zeros(5000, np.float32))          # the stream is far ahead
    exp._on_runner_event(_event(0, "twitch series", 1200, 1150))
    exp._on_runner_event(_event(1, "twitch series", 2200, 2150))
    exp._on_runner_event(_event(2, "fatigue", None, 3100, step_index=1))
    got = [(m.sample, m.label, m.kind) for m in exp.ring.markers()]
    assert got == [(1200, "twitch series", STEP), (1200, "twitch 0", TRIAL),
                   (2200, "twitch 1", TRIAL),
                   (3100, "fatigue", STEP), (3100, "twitch 2", TRIAL)]
    assert all(m.sample != exp.ring.end_sample for m in exp.ring.markers())


def test_replay_feeds_the_same_marks_into_the_ring():
    trials = _trials()
    rec = Recording("mem", "test", 1000.0, np.zeros(5000, np.float32),
                    np.array([1000, 2000, 3000, 3020], np.int64), trials)
    ring = RingBuffer(10_000, 1000.0)
    now = [0.0]
    pb = Playback(rec, ring, clock=lambda: now[0], speed=10.0, max_chunk_s=5.0)
    pb.play()
    now[0] = 1.0
    pb.tick()
    assert pb.finished
    got = [(m.sample, m.label, m.kind) for m in ring.markers()]
    assert sorted(got) == sorted(all_marks(from_trials(trials)))
    # the replay overview's step list is the one the ring received
    assert pb.step_marks == [(1000, "twitch series"), (3000, "force-frequency")]
    assert pb.step_marks == [(s, label) for s, label, kind in sorted(got) if kind == STEP]


def test_step_starts_mark_every_step_where_it_began_and_trials_do_not_mark_it_again():
    starts = [(900, "twitch series"), (2600, "rest 30 s"), (2900, "force-frequency")]
    marks = all_marks(from_trials(_trials()), starts)
    assert marks == [(900, "twitch series", STEP), (1000, "twitch 0", TRIAL),
                     (2000, "twitch 1", TRIAL), (2600, "rest 30 s", STEP),
                     (2900, "force-frequency", STEP), (3000, "tetanus 2 50 Hz", TRIAL),
                     (3950, "twitch 3", TRIAL)]


def test_live_step_marks_sit_at_the_step_started_sample_not_the_newest():
    exp = Experiment(ring_seconds=10.0, sample_rate_hz=1000.0)
    exp.ring.write(0, np.zeros(5000, np.float32))          # the stream is far ahead
    exp._on_runner_event(_started(0, "twitch series", 1100))
    exp._on_runner_event(_event(0, "twitch series", 1200, 1150))
    exp._on_runner_event(_event(1, "twitch series", 2200, 2150))
    exp._on_runner_event(_started(1, "settle", 2400, kind="rest"))     # records no trial
    exp._on_runner_event(_started(2, "fatigue", None))                 # no sample known
    exp._on_runner_event(_event(2, "fatigue", None, 3100, step_index=2))
    got = [(m.sample, m.label, m.kind) for m in exp.ring.markers()]
    assert got == [(1100, "twitch series", STEP), (1200, "twitch 0", TRIAL),
                   (2200, "twitch 1", TRIAL), (2400, "settle", STEP),
                   (3100, "fatigue", STEP), (3100, "twitch 2", TRIAL)]


def test_step_starts_are_read_from_the_audit_table_new_and_old_entries():
    from app.recorder.step_starts import StepStart, step_starts_from_audit
    audit = {"kind": np.array(["step-started", "comment", "step-started", "step-started"], object),
             "sample": np.array([500, 600, 40, 900]),
             "message": np.array(["step [2/3] rest (rest)", "x", "step [1/3] my (odd) step (twitch)",
                                  "garbled"], object),
             "fields": np.array(['{"step_kind": "rest", "step": "settle", "step_index": 1}', "{}",
                                 '{"step_kind": "twitch"}', "not json"], object)}
    assert step_starts_from_audit(audit) == [StepStart(40, 0, "my (odd) step", "twitch"),
                                             StepStart(500, 1, "settle", "rest")]


def test_a_session_marks_each_step_where_its_audit_entry_is_live_and_in_replay(tmp_path):
    """The runner's StepStarted.sample is the sample of the file's step-started entry (one
    source); replay draws the same step marks, the rest and the note included."""
    from app.live.sources import load_for_replay
    from app.metadata import SessionMetadata
    from app.recorder.reader import open_session
    from app.session import ExperimentSession
    from drivers.limits import StimulusLimits
    from tests.test_protocol_runner import FAST, fake_rig, protocol

    p = protocol("""\
        - {kind: note, text: hello}
        - {kind: twitch, count: 2, interval_s: 0.05, current_mA: 3}
        - {kind: rest, duration_s: 0.2}
        - {kind: twitch, name: again, count: 1, interval_s: 0.05, current_mA: 3}
        """, FAST)
    path = tmp_path / "m.h5"
    session = ExperimentSession(p, fake_rig(limits=StimulusLimits(min_pulse_interval_s=0.01)),
                                path, SessionMetadata(subject_id="t"), tare_samples=10,
                                auto_continue=True)
    started: list[StepStarted] = []
    recorded: list[TrialRecorded] = []
    session.subscribe(lambda ev: started.append(ev) if isinstance(ev, StepStarted) else
                      recorded.append(ev) if isinstance(ev, TrialRecorded) else None)
    session.start()
    finished = session.wait(30)
    session.close()
    assert finished is not None and finished.status == "completed"

    with open_session(path) as sf:
        entries = [e.sample for e in sf.audit if e.kind == "step-started"]
        starts = sf.step_starts
    assert [ev.sample for ev in started] == entries == [s.sample for s in starts]
    assert [s.name for s in starts] == [ev.name for ev in started] == [
        "note-1", "twitch-2", "rest-3", "again"]
    samples = [ev.sample for ev in started]
    assert 0 < samples[0] and samples == sorted(samples) and samples[-1] > samples[0]
    for ev in started:              # never after the step's first stimulus
        first = [t.first_pulse_sample for t in recorded if t.step_index == ev.index]
        assert not first or ev.sample <= first[0]

    recording, info = load_for_replay(path)
    ring = RingBuffer(recording.samples + 10, recording.sample_rate_hz)
    pb = Playback(recording, ring, clock=lambda: 0.0, prefill_s=recording.duration_s + 1,
                  step_starts=[(s["sample"], s["step"]) for s in info["step_starts"]])
    pb.seek(recording.samples)
    steps = [(m.sample, m.label) for m in ring.markers() if m.kind == STEP]
    assert steps == [(ev.sample, ev.name) for ev in started]
    assert pb.step_marks == steps          # what the replay overview marks
