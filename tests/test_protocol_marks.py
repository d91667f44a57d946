"""Step and trial marks (app.live.protocol_marks): one rule for the live trace and
replay, at the samples the recording names, never where the stream happened to be."""
from __future__ import annotations

import numpy as np

from app.live.experiment import Experiment
from app.live.playback import Playback
from app.live.protocol_marks import STEP, TRIAL, all_marks, from_trials
from app.live.ring_buffer import RingBuffer
from app.recording import Recording, Trial
from protocols.events import TrialRecorded


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


def test_a_step_is_marked_at_its_first_trial_and_every_trial_at_its_first_pulse():
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
