"""The live view's playout clock: where in the stream the display is, frame by frame.

Samples reach the ring buffer in bursts (the amplifier's serial reads are paced: about
25 arrivals a second, 400 samples each at 10 kHz), but the screen refreshes 60 times a
second or more. A trace whose right edge is the newest sample therefore stands still for
one or two frames and then jumps. A video player solves the same problem with a jitter
buffer: it plays a little behind what it has received, at the media's own rate.

:class:`ScrollClock` does that for the trace. Given the host's monotonic time and the
ring's state at each frame it returns the *displayed position*: the stream position (in
samples, fractional) that the right edge of the trace shows. The position

* advances at the sample rate (times the playback speed), so the trace scrolls evenly;
* is held about one arrival period behind the newest sample: the *latency*, the 90th
  percentile of the last :data:`HISTORY` observed arrival intervals (an occasional late
  block does not move it), at most :data:`MAX_LATENCY_S` — the display is never later
  than that, and a stream arriving more slowly than that scrolls, holds, then scrolls;
* is never past the newest sample (nothing is drawn that has not been measured);
* stays locked by slewing: it runs at most :data:`SLEW_MAX` faster or slower than the
  sample rate, in proportion to how far it is from its target (the newest arrival's
  position, extrapolated at the sample rate, minus the latency), so arrival jitter and
  a device clock that drifts against the host's are absorbed without a visible jump (a
  proportional loop: a drift ``d`` leaves a standing error of ``d / SLEW_GAIN``, 0.05 ms
  for a crystal's 100 ppm; an integral term was tried and wound up during latency
  changes and holds);
* jumps to its target when the stream restarts (a new ring generation), when samples
  arrive again after a stall of more than :data:`STALL_S`, or when it is more than
  :data:`JUMP_S` behind (scrolling would take seconds to catch up);
* when the stream stops, scrolls on to the last sample (the target runs on, the newest
  sample holds it) and stays there.

Arrivals are seen when a frame finds the ring's end has grown, so their times are only
as precise as the frame period; the latency estimate includes that. Qt-free and given the
time by its caller: tests drive it with made-up times.
"""
from __future__ import annotations

import math
from collections import deque

MAX_LATENCY_S = 0.2      # the display is never further behind the newest sample than this
DEFAULT_LATENCY_S = 0.05  # before any arrival interval has been seen (paced reads: 40 ms)
HISTORY = 32             # arrival intervals the latency is estimated from (~1.3 s at 25/s)
LATENCY_QUANTILE = 0.9   # the latency covers this share of recent intervals
SLEW_MAX = 0.08          # at most 8 % faster or slower than the sample rate: not visible
SLEW_GAIN = 2.0          # speed change per second of error (1/s): locks within ~0.5 s
STALL_S = 0.5            # no samples for this long: the stream stopped (or the host stalled)
JUMP_S = 0.25            # further behind than this: jump rather than scroll for seconds


class ScrollClock:
    """Maps host time to the displayed stream position; see the module docstring."""

    def __init__(self, *, max_latency_s: float = MAX_LATENCY_S,
                 default_latency_s: float = DEFAULT_LATENCY_S, history: int = HISTORY,
                 slew_max: float = SLEW_MAX, slew_gain: float = SLEW_GAIN,
                 stall_s: float = STALL_S, jump_s: float = JUMP_S) -> None:
        self.max_latency_s = float(max_latency_s)
        self.slew_max = float(slew_max)
        self.slew_gain = float(slew_gain)
        self.stall_s = float(stall_s)
        self.jump_s = float(jump_s)
        self._default_latency = min(float(default_latency_s), self.max_latency_s)
        self._intervals: deque[float] = deque(maxlen=max(1, int(history)))
        self._latency = self._default_latency
        self._generation: int | None = None
        self._pos = 0.0
        self._t = 0.0               # host time of the previous update
        self._end = 0               # ring end seen at the previous update
        self._t_arrival = 0.0       # host time the newest samples were seen
        self.jumps = 0              # resets and jumps (diagnostics, tests)

    @property
    def position(self) -> float:
        """Displayed stream position (samples): one past the last sample shown."""
        return self._pos

    @property
    def latency_s(self) -> float:
        """How far behind the newest sample the clock aims to display (seconds)."""
        return self._latency

    def update(self, now: float, end_sample: int, generation: int, rate_hz: float) -> float:
        """The displayed position at host time ``now`` (seconds, monotonic), given the
        ring's ``end_sample`` (one past its newest sample), its ``generation`` and the
        stream's rate in samples per host second (sample rate times playback speed)."""
        rate = max(float(rate_hz), 1e-9)
        end = int(end_sample)
        if generation != self._generation or end < self._end:
            self._generation = generation
            self._jump(now, end, rate)
            return self._pos
        dt = max(0.0, now - self._t)
        self._t = now
        if end > self._end:                               # samples arrived
            interval = now - self._t_arrival
            self._t_arrival, self._end = now, end
            if interval > self.stall_s:                   # back after a stall
                self._jump(now, end, rate, back=False)
                return self._pos
            self._intervals.append(interval)
            self._latency = self._estimate_latency()
        target = self._target(now, rate)
        error_s = (target - self._pos) / rate
        if (min(target, end) - self._pos) / rate > self.jump_s:
            self._pos = target                            # far behind: jump
            self.jumps += 1
        else:
            slew = min(self.slew_max, max(-self.slew_max, self.slew_gain * error_s))
            self._pos += rate * dt * (1.0 + slew)
        self._pos = min(self._pos, float(end))
        return self._pos

    def _target(self, now: float, rate: float) -> float:
        """Where the display should be: the newest arrival extrapolated at the stream rate,
        ``latency`` behind."""
        return self._end + rate * (now - self._t_arrival - self._latency)

    def _jump(self, now: float, end: int, rate: float, back: bool = True) -> None:
        """Restart the display ``latency`` behind ``end``, as if samples had just arrived;
        in the same stream (``back`` False) only forwards: a trace never scrolls back."""
        self._t = self._t_arrival = now
        self._end = end
        target = self._target(now, rate)
        self._pos = target if back else min(max(self._pos, target), float(end))
        self.jumps += 1

    def _estimate_latency(self) -> float:
        """The :data:`LATENCY_QUANTILE` quantile of the recent arrival intervals, capped."""
        ordered = sorted(self._intervals)
        k = max(0, math.ceil(LATENCY_QUANTILE * len(ordered)) - 1)
        return min(ordered[k], self.max_latency_s)
