"""The live view's playout clock (issue 14), driven with made-up times: it scrolls at the
sample rate between bursty arrivals, about one arrival period behind, never ahead of the
data, catches up when the stream stops and jumps on a restart, a stall or a big lag."""
from __future__ import annotations

import numpy as np
import pytest

from app.live.scroll_clock import MAX_LATENCY_S, SLEW_MAX, ScrollClock

RATE = 10_000.0
FRAME = 1 / 60


def run(clock: ScrollClock, arrivals: list[tuple[float, int]], until: float, *,
        frame: float = FRAME, t0: float = 0.0, generation: int = 0,
        rate: float = RATE) -> list[tuple[float, float, int]]:
    """Frames every ``frame`` s from ``t0`` to ``until``; at each, the ring's end is that
    of the last arrival ``(time, end_sample)`` at or before it. Returns (t, position, end)."""
    out = []
    times = np.array([a[0] for a in arrivals])
    t = t0
    while t < until:
        k = int(np.searchsorted(times, t, side="right")) - 1
        end = arrivals[k][1] if k >= 0 else 0
        out.append((t, clock.update(t, end, generation, rate), end))
        t += frame
    return out


def paced(period: float, until: float, start: float = 0.0, first_end: int = 0,
          rate: float = RATE) -> list[tuple[float, int]]:
    """A stream read every ``period`` s: each read brings the samples of that period."""
    n = int(round((until - start) / period))
    return [(start + k * period, first_end + int(round(k * period * rate))) for k in range(1, n + 1)]


def steps(frames: list[tuple[float, float, int]], after: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame advance of the position, as a multiple of the sample rate, after ``after``."""
    t = np.array([f[0] for f in frames])
    pos = np.array([f[1] for f in frames])
    speed = np.diff(pos) / (np.diff(t) * RATE)
    return t[1:][t[1:] > after], speed[t[1:] > after]


def test_scrolls_every_frame_at_the_sample_rate_between_bursts():
    clock = ScrollClock()
    frames = run(clock, paced(0.04, 6.0), 6.0)
    _, speed = steps(frames, after=1.5)
    # every frame moves, within the slew limit of the sample rate (no holds, no jumps)
    assert speed.min() >= 1 - SLEW_MAX - 1e-9 and speed.max() <= 1 + SLEW_MAX + 1e-9
    # frames that moved although no samples had arrived since the previous frame
    between = sum(1 for a, b in zip(frames, frames[1:]) if b[0] > 1.5 and b[2] == a[2] and b[1] > a[1])
    assert between > 100
    # locked: on average, exactly the sample rate
    assert np.mean(speed) == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("period", [0.04, 0.1])
def test_latency_is_about_one_arrival_period(period):
    clock = ScrollClock()
    frames = run(clock, paced(period, 6.0), 6.0)
    # arrivals are seen on frames, so an interval reads as up to a frame longer
    assert period - 1e-9 <= clock.latency_s <= period + FRAME + 1e-9
    lag = np.array([(end - pos) / RATE for t, pos, end in frames if t > 3.0])
    assert lag.min() >= 0.0 and lag.max() <= clock.latency_s + FRAME
    assert lag.mean() == pytest.approx(clock.latency_s - period / 2, abs=FRAME)


def test_latency_is_capped():
    clock = ScrollClock()
    run(clock, paced(0.4, 8.0), 8.0)
    assert clock.latency_s == MAX_LATENCY_S


def test_never_ahead_of_the_newest_sample_with_jittery_arrivals_and_frames():
    rng = np.random.default_rng(7)
    clock = ScrollClock()
    t, end, arrivals = 0.0, 0, []
    while t < 20.0:
        gap = rng.choice([rng.uniform(0.005, 0.12), rng.uniform(0.2, 0.7)], p=[0.95, 0.05])
        t += gap
        end += int(gap * RATE * rng.uniform(0.9, 1.1))
        arrivals.append((t, end))
    times = np.array([a[0] for a in arrivals])
    now, last = 0.0, -np.inf
    for _ in range(3000):
        now += rng.uniform(0.002, 0.05)
        k = int(np.searchsorted(times, now, side="right")) - 1
        e = arrivals[k][1] if k >= 0 else 0
        pos = clock.update(now, e, 0, RATE)
        assert pos <= e
        assert pos >= last - 1e-6          # one stream, never backwards
        last = pos


def test_catches_up_to_the_last_sample_when_the_stream_stops_and_stays():
    clock = ScrollClock()
    arrivals = paced(0.04, 3.0)
    last_end = arrivals[-1][1]
    frames = run(clock, arrivals, 5.0)
    before_stop = [pos for t, pos, _ in frames if t < 3.0]
    assert last_end - before_stop[-1] > 0.02 * RATE          # it was behind while streaming
    after = [(t, pos) for t, pos, _ in frames if t >= 3.0 + MAX_LATENCY_S / (1 - SLEW_MAX) + FRAME]
    assert after and all(pos == last_end for _, pos in after)
    catching = [pos for t, pos, _ in frames if t >= 3.0]
    assert all(b >= a for a, b in zip(catching, catching[1:]))   # scrolls there, no jump back


def test_a_restart_jumps_to_the_new_stream():
    clock = ScrollClock()
    run(clock, paced(0.04, 2.0), 2.0)
    jumps = clock.jumps
    pos = clock.update(2.0, 400, 1, RATE)              # new generation, restarted at 0
    assert pos <= 400
    assert pos == pytest.approx(400 - clock.latency_s * RATE)
    assert clock.jumps == jumps + 1
    frames = run(clock, paced(0.04, 4.0, start=2.0, first_end=400), 4.0, t0=2.0 + FRAME, generation=1)
    _, speed = steps(frames, after=3.0)
    assert speed.min() >= 1 - SLEW_MAX - 1e-9 and speed.max() <= 1 + SLEW_MAX + 1e-9


def _stall(backlog_s: float) -> tuple[ScrollClock, tuple, tuple]:
    """1 s without samples, then ``backlog_s`` of them at once and the stream goes on:
    the clock and the frames just before and at the resumption."""
    clock = ScrollClock()
    arrivals = paced(0.04, 2.0)
    arrivals += paced(0.04, 5.0, start=3.0, first_end=arrivals[-1][1] + int(backlog_s * RATE))
    frames = run(clock, arrivals, 5.0)
    i = next(i for i, f in enumerate(frames) if f[0] > 2.5 and f[2] > frames[i - 1][2])
    _, speed = steps(frames, after=4.0)
    assert speed.min() >= 1 - SLEW_MAX - 1e-9 and speed.max() <= 1 + SLEW_MAX + 1e-9
    return clock, frames[i - 1], frames[i]


def test_samples_after_a_stall_jump_rather_than_scroll():
    # a backlog (the host stalled): straight to the latency behind the newest sample
    for backlog_s in (0.15, 1.0):
        clock, before, resume = _stall(backlog_s)
        assert before[1] == before[2]                        # it had caught up and waited
        assert resume[1] == pytest.approx(resume[2] - clock.latency_s * RATE)
        assert resume[1] - before[1] > (backlog_s - 0.06) * RATE   # not 8 % faster for seconds


def test_a_resumed_stream_never_scrolls_back():
    clock, before, resume = _stall(0.0)                     # paused, then continued
    assert before[1] == before[2] and resume[1] >= before[1]


def test_far_behind_jumps_without_a_stall():
    clock = ScrollClock()
    # a steady stream, except one read that brings 2 s more than its period
    arrivals = [(t, e + (int(2 * RATE) if t >= 2.0 else 0)) for t, e in paced(0.04, 4.0)]
    frames = run(clock, arrivals, 4.0)
    after = next(f for f in frames if f[0] >= 2.0)
    assert after[2] - after[1] < (clock.latency_s + FRAME) * RATE


@pytest.mark.parametrize("drift", [0.99, 1.01])
def test_stays_locked_to_a_device_clock_that_drifts(drift):
    """The device's sample clock runs 1 % slow or fast against the host's (far more than
    a crystal's 100 ppm): the display slews to follow it instead of running into the
    newest sample or falling behind."""
    clock = ScrollClock()
    frames = run(clock, paced(0.04, 20.0, rate=RATE * drift), 20.0)
    _, speed = steps(frames, after=2.0)
    assert speed.min() >= 1 - SLEW_MAX - 1e-9 and speed.max() <= 1 + SLEW_MAX + 1e-9
    assert np.mean(speed) == pytest.approx(drift, abs=0.002)
    lag = np.array([(end - pos) / RATE for t, pos, end in frames if t > 2.0])
    assert lag.min() >= 0.0 and lag.max() <= clock.latency_s + FRAME
    assert clock.jumps == 1                                 # the start only


def test_one_late_block_does_not_raise_the_latency():
    clock = ScrollClock()
    arrivals = [(t + (0.3 if t >= 2.0 else 0.0), e) for t, e in paced(0.04, 4.0)]
    run(clock, arrivals, 2.6)                   # the late one is among the last 32
    assert clock.latency_s <= 0.04 + FRAME + 1e-9


def test_slews_gently_when_the_arrival_period_changes():
    clock = ScrollClock()
    arrivals = paced(0.03, 3.0)
    arrivals += paced(0.12, 8.0, start=3.0, first_end=arrivals[-1][1])
    frames = run(clock, arrivals, 8.0)
    _, speed = steps(frames, after=1.0)
    assert speed.max() <= 1 + SLEW_MAX + 1e-9           # never a jump forward
    assert speed.min() >= 0.0
    assert clock.latency_s >= 0.12
    _, late = steps(frames, after=6.0)                   # locked again on the new period
    assert late.min() >= 1 - SLEW_MAX - 1e-9


def test_playback_speed_scrolls_at_that_multiple_of_the_rate():
    clock = ScrollClock()
    speed_x = 20
    # the feeder writes just before every frame, speed_x times faster than real time
    arrivals = [(k * FRAME - 1e-6, int(k * FRAME * RATE * speed_x)) for k in range(1, 300)]
    frames = run(clock, arrivals, 4.9, rate=RATE * speed_x)
    t = np.array([f[0] for f in frames])
    pos = np.array([f[1] for f in frames])
    adv = np.diff(pos)[t[1:] > 1.0] / (FRAME * RATE * speed_x)
    assert adv.min() >= 1 - SLEW_MAX - 1e-6 and adv.max() <= 1 + SLEW_MAX + 1e-6
    assert clock.jumps == 1                               # the start only
