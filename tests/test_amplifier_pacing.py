"""The amplifier's read pacing and STOP allowance, as pure policies (injected times)."""
from __future__ import annotations

import pytest

from drivers.amplifier.frames import FRAME_SIZE
from drivers.amplifier.pacing import BACKLOG_PERIODS, MAX_DRAIN_S, ReadPacer, stop_wait_s


def test_a_light_stream_is_read_once_per_period():
    p = ReadPacer(10_000.0, 0.04, can_pace=True, now=100.0)
    assert p.paced
    assert p.wait_s(100.0) == pytest.approx(0.04)        # sleep first, then take it all
    p.read_done(4800, 100.04)
    assert p.wait_s(100.05) == pytest.approx(0.03)
    assert p.wait_s(100.2) == 0.0                        # late already: read at once


def test_a_backlog_is_read_at_once_until_it_is_gone():
    p = ReadPacer(10_000.0, 0.04, can_pace=True, now=0.0)
    per_period = 10_000 * 0.04 * FRAME_SIZE
    p.read_done(int(BACKLOG_PERIODS * per_period) + 1, 1.0)
    assert p.wait_s(1.0) is None                         # unpaced while draining
    p.read_done(int(per_period), 1.001)
    assert p.wait_s(1.001) == pytest.approx(0.04)


@pytest.mark.parametrize("rate, period, can_pace", [
    (100_000.0, 0.04, True),      # heavy: more than PACED_READ_MAX_BYTES a period
    (10_000.0, 0.0, True),        # pacing switched off
    (10_000.0, 0.04, False),      # the port cannot say what has arrived (socket://)
])
def test_heavy_streams_and_ports_that_cannot_pace_are_read_as_they_come(rate, period, can_pace):
    p = ReadPacer(rate, period, can_pace, now=0.0)
    assert not p.paced and p.wait_s(0.0) is None


def test_stop_waits_the_timeout_when_nothing_is_owed():
    assert stop_wait_s(1.0, 10_000.0, elapsed_s=10.0, received=100_000) == 1.0
    assert stop_wait_s(1.0, 10_000.0, elapsed_s=10.0, received=100_500) == 1.0


def test_stop_waits_for_the_backlog_at_the_rate_it_arrived():
    # 10 s at 100 kHz due, 500 000 received: 500 000 owed at 50 000/s -> 10 s, twice
    assert stop_wait_s(1.0, 100_000.0, elapsed_s=10.0, received=500_000) == pytest.approx(21.0)


def test_stop_wait_is_bounded_even_when_nothing_arrived():
    assert stop_wait_s(1.0, 100_000.0, elapsed_s=100.0, received=0) == 1.0 + 2 * MAX_DRAIN_S
