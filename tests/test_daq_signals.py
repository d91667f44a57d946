"""DAQ signal work: hysteresis markers, pulse trains on the sample grid, the output schedule."""
from __future__ import annotations

import numpy as np
import pytest

from drivers.capabilities import StimulusSpec
from drivers.daq.ao_schedule import AoSchedule
from drivers.daq.signals import hysteresis_edges, pulse_train
from drivers.errors import LimitError


def test_hysteresis_ignores_noise_between_the_thresholds():
    rng = np.random.default_rng(0)
    x = np.zeros(1000)
    x[100:103] = 5.0
    x[500:503] = 5.0
    x += rng.normal(0, 0.3, x.size)            # noise crosses 0.5 V often, never 2.75 / 2.25
    x[300:320] = 2.5 + np.clip(rng.normal(0, 0.1, 20), -0.2, 0.2)  # hovering between: no edge
    edges, level, state = hysteresis_edges(x, 2.75, 2.25)
    assert list(edges) == [100, 500]
    assert level[100:103].all() and not level[103:300].any()
    assert state is False


def test_hysteresis_state_carries_across_blocks():
    x = np.r_[np.zeros(10), np.full(10, 5.0), np.full(5, 2.5), np.zeros(10)]
    whole, _, _ = hysteresis_edges(x, 3.0, 2.0)
    found, state = [], False
    for start in range(0, x.size, 7):
        edges, _, state = hysteresis_edges(x[start:start + 7], 3.0, 2.0, state)
        found.extend(edges + start)
    assert found == list(whole) == [10]


def test_pulse_train_volts_and_samples():
    t = pulse_train(StimulusSpec(3.0, 0.2, 4, 150.0), 10000.0, 2.0, 10.0)
    # period 66.67 samples: each pulse on its nearest sample, still known exactly
    assert list(t.pulse_offsets) == [0, 67, 133, 200]
    assert t.width_samples == 2
    on = np.flatnonzero(t.volts)
    assert list(on) == [0, 1, 67, 68, 133, 134, 200, 201]
    assert np.all(t.volts[on] == 1.5) and t.volts[-1] == 0.0


@pytest.mark.parametrize("spec, rate, match", [
    (StimulusSpec(20.0, 0.2), 10000.0, "above the analog output limit"),
    (StimulusSpec(1.0, 0.05), 10000.0, "not a whole number of samples"),
    (StimulusSpec(1.0, 0.25), 10000.0, "not a whole number of samples"),
    (StimulusSpec(1.0, 0.2, 3, 4000.0), 10000.0, "no gap"),
])
def test_pulse_train_refuses_what_it_cannot_deliver_exactly(spec, rate, match):
    with pytest.raises(LimitError, match=match):
        pulse_train(spec, rate, 1.0, 10.0)


def test_schedule_places_a_train_at_the_next_written_sample():
    s = AoSchedule()
    assert not s.chunk(100).any()
    placed, where = s.submit(pulse_train(StimulusSpec(1.0, 0.2, 3, 100.0), 10000.0, 1.0, 10.0))
    assert not placed.is_set()
    a = s.chunk(250)          # the train is 203 samples: split across two writes
    b = s.chunk(400)
    assert placed.is_set() and where == [100]
    out = np.r_[np.zeros(100), a, b]
    assert list(np.flatnonzero(out)) == [100, 101, 200, 201, 300, 301]
    starts, ends = s.pulses_in(150, 301)
    assert list(starts) == [200, 300] and list(ends) == [202, 302]
    assert s.live_after(301) and not s.live_after(302)


def test_schedule_cancel_drops_queued_and_unwritten_output():
    s = AoSchedule()
    s.chunk(10)
    placed, where = s.submit(pulse_train(StimulusSpec(1.0, 0.2, 10, 100.0), 10000.0, 1.0, 10.0))
    s.chunk(150)
    s.cancel()
    assert not s.chunk(2000).any()
    placed2, where2 = s.submit(pulse_train(StimulusSpec(1.0, 0.2), 10000.0, 1.0, 10.0))
    s.cancel()
    assert placed2.is_set() and where2 == []     # a waiting fire() learns nothing was placed
