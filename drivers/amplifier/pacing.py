"""When the amplifier's reader thread reads, and how long STOP may take: two timing
policies of the stream, kept apart from the driver's state so they can be read and
tested on their own (docs/wire-protocols.md, section 2).

Paced reads: while the stream is light the reader sleeps, then takes everything that
arrived in one read, instead of waking for every piece the port delivers (about 100
wake-ups/s, each costing a read, a parse and a delivery: a fixed cost per wake-up,
whatever the bytes). The price is latency: blocks reach subscribers (recorder, live
display, protocol runner) up to one period later; the live display scrolls smoothly
over it. Stimulus timing is unaffected (pulses are marked in the stream by the
hardware).
"""
from __future__ import annotations

from drivers.amplifier.frames import FRAME_SIZE

#: Streaming reads are paced to one per this many seconds while the stream is light.
#: ``SerialForceAmplifier(read_period_s=...)`` chooses another trade-off (0: no pacing).
READ_PERIOD_S = 0.04
#: Pacing is for light streams only: a stream that brings more than this many bytes per
#: period (from about 17 kHz at 40 ms) is read as it comes, so the port's and the
#: device's buffers never fill while the reader sleeps. At a rig's 10 kHz a period
#: brings 4800 bytes.
PACED_READ_MAX_BYTES = 8192
#: A paced read bringing more than this many periods' worth is a backlog draining (the
#: host was busy): reads follow at once until it is gone.
BACKLOG_PERIODS = 2.0
#: STOP waits at most this long for a backlog to drain, whatever the estimate says.
MAX_DRAIN_S = 3600.0


class ReadPacer:
    """Decides, before each streaming read, how long the reader sleeps first.

    ``can_pace`` says the transport can hand over exactly what has arrived without
    waiting (``read_ready``); without it every read is a plain timed read."""

    def __init__(self, rate_hz: float, period_s: float, can_pace: bool, now: float) -> None:
        per_period = rate_hz * period_s * FRAME_SIZE          # bytes a period brings
        self.period_s = period_s
        self.paced = can_pace and 0 < per_period <= PACED_READ_MAX_BYTES
        self._backlog_bytes = BACKLOG_PERIODS * per_period
        self._last_read = now
        self._last_size = 0

    def wait_s(self, now: float) -> float | None:
        """Seconds to sleep before the next read (0: read now without waiting for data),
        or ``None`` for an unpaced read (the stream is heavy, or a backlog drains)."""
        if not self.paced or self._last_size > self._backlog_bytes:
            return None
        return max(0.0, self._last_read + self.period_s - now)

    def read_done(self, size: int, now: float) -> None:
        """A read returned ``size`` bytes at ``now``."""
        self._last_read, self._last_size = now, size


def stop_wait_s(timeout_s: float, rate_hz: float, elapsed_s: float, received: int) -> float:
    """How long STOP may wait for the end-of-stream frame.

    The device first sends whatever it still holds. Its backlog is estimated from the
    clock (samples due since START minus samples received) and the time to send it from
    the rate samples arrived at so far; the wait is the timeout plus twice that."""
    elapsed = max(elapsed_s, 1e-3)
    backlog = max(0.0, elapsed * rate_hz - received)
    drain_s = backlog / max(received / elapsed, 1.0) if backlog else 0.0
    return timeout_s + 2.0 * min(drain_s, MAX_DRAIN_S)
