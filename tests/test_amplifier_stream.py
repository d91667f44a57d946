"""The force amplifier through the real stack: SimAmplifierDevice on a pty, pyserial,
SerialTransport, FrameParser and SerialForceAmplifier, sampling the shared SimWorld.

Waits are bounded (a hang fails the test instead of stalling the suite); nothing here
asserts on speed.
"""
from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
import serial

from drivers.amplifier.driver import SerialForceAmplifier
from drivers.capabilities import FLAG_OVERRANGE, Calibration, SampleBlock, StreamNotice
from drivers.errors import DeviceDisconnected, DeviceError, DeviceTimeout
from sim_devices.amplifier_device import SimAmplifierDevice
from sim_devices.world import SimWorld

RATE = 10000
pytestmark = pytest.mark.slow


class Tap:
    """Collects blocks and notices from the reader thread; waits with deadlines."""

    def __init__(self, amp: SerialForceAmplifier) -> None:
        self.blocks: list[SampleBlock] = []
        self.notices: list[StreamNotice] = []
        self._cond = threading.Condition()
        amp.subscribe(self._block)
        amp.subscribe_notices(self._notice)

    def _block(self, block: SampleBlock) -> None:
        with self._cond:
            self.blocks.append(block)
            self._cond.notify_all()

    def _notice(self, notice: StreamNotice) -> None:
        with self._cond:
            self.notices.append(notice)
            self._cond.notify_all()

    @property
    def received(self) -> int:
        return sum(len(b) for b in self.blocks)

    def wait_samples(self, more: int, timeout_s: float = 5.0) -> None:
        target = self.received + more
        with self._cond:
            assert self._cond.wait_for(lambda: self.received >= target, timeout_s), \
                f"only {self.received} of {target} samples arrived"

    def wait_notice(self, kind: str, timeout_s: float = 3.0) -> StreamNotice:
        with self._cond:
            assert self._cond.wait_for(lambda: any(n.kind == kind for n in self.notices),
                                       timeout_s), f"no {kind!r} notice; got {self.notices}"
            return next(n for n in self.notices if n.kind == kind)

    def kinds(self, kind: str) -> list[StreamNotice]:
        return [n for n in self.notices if n.kind == kind]

    def series(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(index, force, flags) of everything received."""
        idx = np.concatenate([np.arange(b.first_sample, b.end_sample) for b in self.blocks])
        force = np.concatenate([b.force_mN for b in self.blocks])
        flags = np.concatenate([b.flags for b in self.blocks])
        return idx, force, flags


@pytest.fixture
def world():
    return SimWorld()


@pytest.fixture
def device(world):
    dev = SimAmplifierDevice(world, seed=7)
    dev.start()
    yield dev
    dev.close()


@pytest.fixture
def amp(device):
    amp = SerialForceAmplifier.open(device.port, timeout_s=0.5)
    amp.configure(RATE)
    yield amp
    try:
        amp.close()
    except DeviceError:
        pass  # a test that killed the stream has already checked the error


def _assert_contiguous(blocks: list[SampleBlock]) -> None:
    assert blocks[0].first_sample == 0
    for a, b in zip(blocks, blocks[1:]):
        assert b.first_sample == a.end_sample, f"gap or overlap at {a.end_sample}"


def _call_with_deadline(fn, timeout_s: float = 3.0):
    """Run ``fn`` in a thread; fail if it hangs. Returns its exception (or None)."""
    box: list[BaseException | None] = [None]

    def run():
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box[0] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout_s)
    assert not thread.is_alive(), f"{fn} hung for {timeout_s} s"
    return box[0]


def _expected_edge(device: SimAmplifierDevice, pulse_t: float) -> int:
    """Stream index of the first sample at or after a pulse (the spec's edge rule)."""
    return math.ceil((pulse_t - device.stream_start_time) * RATE - 1e-9)


# ------------------------------------------------------------------------ streaming
def test_five_seconds_at_10_khz_without_a_gap(amp, device):
    assert amp.identity == device.identity and amp.sample_rate_hz == RATE
    blocks = amp.collect(5.0)
    _assert_contiguous(blocks)
    total = sum(len(b) for b in blocks)
    assert total >= 5 * RATE
    assert blocks[-1].end_sample == total == device.samples_sent
    stats = amp.stats
    assert stats.samples == total and stats.blocks == len(blocks)
    assert (stats.gaps, stats.lost_samples, stats.checksum_errors, stats.bytes_discarded) == (0, 0, 0, 0)
    assert all(b.force_mN.dtype == np.float32 and b.sample_rate_hz == RATE for b in blocks)
    assert len(blocks) > 50  # delivered as it streams, in blocks of some ms, not at the end
    flags = np.concatenate([b.flags for b in blocks])
    assert not (flags & FLAG_OVERRANGE).any() and not blocks[0].trigger_samples().size
    assert not amp.streaming and device.streaming is False


def test_single_pulse_gives_one_marker_then_force(amp, device, world):
    tap = Tap(amp)
    amp.start()
    tap.wait_samples(RATE // 5)
    (pulse_t,) = world.schedule_burst(10, 1, 5.0, 0.2)
    tap.wait_samples(RATE // 2)
    amp.stop()
    idx, force, flags = tap.series()
    edges = np.concatenate([b.trigger_samples() for b in tap.blocks])
    assert edges.shape == (1,)
    edge = int(edges[0])
    assert edge == _expected_edge(device, pulse_t)
    k = int(np.searchsorted(idx, edge))
    before = force[k - 1000:k]
    baseline, noise = float(np.median(before)), float(np.std(before))
    peak = float(force[k:k + RATE // 10].max())  # a twitch peaks within 100 ms
    assert peak - baseline > 10 * noise + 1.0, (peak, baseline, noise)
    assert before.max() < baseline + 6 * noise + 0.5  # no rise before the stimulus


def test_150_hz_train_gives_45_markers_66_or_67_samples_apart(amp, device, world):
    tap = Tap(amp)
    amp.start()
    tap.wait_samples(RATE // 10)
    times = world.schedule_burst(150, 45, 5.0, 0.2)
    tap.wait_samples(int(0.45 * RATE))
    amp.stop()
    edges = np.concatenate([b.trigger_samples() for b in tap.blocks])
    assert edges.size == 45
    assert set(np.diff(edges).tolist()) <= {66, 67}
    assert np.array_equal(edges, [_expected_edge(device, t) for t in times])


def test_tare_zeroes_the_baseline(amp, device):
    before = np.concatenate([b.force_mN for b in amp.collect(0.3)])
    cal = amp.tare(1000)
    assert cal == amp.calibration and cal.offset_counts != 0
    assert cal.scale_mN_per_count == device.true_scale_mN_per_count
    after = np.concatenate([b.force_mN for b in amp.collect(0.3)])
    assert abs(float(before.mean())) > 5.0  # the transducer's zero offset is some mN
    assert abs(float(after.mean())) < 0.1 * abs(float(before.mean()))
    assert abs(float(after.mean())) < 5 * float(after.std()) / math.sqrt(1000) + 0.5
    assert amp.read_calibration() == cal  # stored in the device


def test_calibration_round_trip_through_the_device(amp, device):
    cal = Calibration(scale_mN_per_count=0.0015, offset_counts=1234.5)
    amp.write_calibration(cal)
    assert device.calibration == (0.0015, 1234.5)
    assert amp.read_calibration() == cal
    amp.close()
    again = SerialForceAmplifier.open(device.port, timeout_s=0.5)
    try:
        assert again.calibration == cal  # non-volatile: a new session reads it back
        again.write_calibration(Calibration(0.002, 0.0))
        assert again.read_calibration() == Calibration(0.002, 0.0)
    finally:
        again.close()


# --------------------------------------------------------------------------- faults
def test_garbled_stream_resynchronizes_and_counts_every_loss(amp, device):
    tap = Tap(amp)
    amp.start()
    tap.wait_samples(RATE // 5)
    device.faults.garbage_every_s = 0.05
    device.faults.garbage_bytes = 40
    device.faults.bit_flip_probability = 2e-4
    tap.wait_samples(int(1.5 * RATE))
    device.faults.bit_flip_probability = 0.0  # so that the end-of-stream frame arrives whole
    device.faults.garbage_every_s = 0.0
    tap.wait_samples(RATE // 5)
    amp.stop()
    stats = amp.stats
    assert stats.bytes_discarded > 0 and stats.checksum_errors > 0 and stats.lost_samples > 0
    assert sum(n.count for n in tap.kinds("resync")) == stats.bytes_discarded
    assert sum(n.count for n in tap.kinds("checksum")) == stats.checksum_errors
    gaps = tap.kinds("gap")
    assert len(gaps) == stats.gaps and sum(n.count for n in gaps) == stats.lost_samples
    # output is ordered, split only at reported gaps, and every sample is accounted for
    idx, _, _ = tap.series()
    assert np.all(np.diff(idx) >= 1)
    jumps = np.flatnonzero(np.diff(idx) > 1)
    assert {int(idx[j + 1]) for j in jumps} <= {n.sample for n in gaps}
    end = tap.wait_notice("stopped").sample
    assert end == device.samples_sent == stats.samples + stats.lost_samples
    assert idx[-1] == end - 1 or any(n.sample == end for n in gaps)


def test_vanishing_device_is_reported_and_nothing_hangs(amp, device):
    tap = Tap(amp)
    amp.start()
    tap.wait_samples(RATE // 10)
    device.vanish()
    notice = tap.wait_notice("disconnected", timeout_s=3.0)
    assert device.port in notice.message and "lost" in notice.message
    assert not amp.streaming
    err = _call_with_deadline(amp.stop)
    assert isinstance(err, DeviceDisconnected)
    with pytest.raises(DeviceDisconnected):
        amp.status()
    assert _call_with_deadline(amp.close) is None
    with pytest.raises(DeviceError):
        SerialForceAmplifier.open(device.port, timeout_s=0.3)


def test_stalled_device_times_out_and_a_new_session_recovers(amp, device):
    tap = Tap(amp)
    amp.start()
    tap.wait_samples(RATE // 10)
    device.faults.stall = True
    notice = tap.wait_notice("timeout", timeout_s=3.0)
    assert "stalled" in notice.message
    err = _call_with_deadline(amp.stop)
    assert isinstance(err, DeviceTimeout)
    with pytest.raises(DeviceTimeout):
        amp.tare()
    assert _call_with_deadline(amp.close) is None
    # the device wakes up still streaming; the next session stops it and carries on
    device.faults.stall = False
    again = SerialForceAmplifier.open(device.port, timeout_s=0.5)
    try:
        assert not device.streaming and again.identity == device.identity
        blocks = again.collect(0.2)
        _assert_contiguous(blocks)
    finally:
        again.close()


def test_device_overflow_gives_a_gap_notice_with_the_exact_count(amp, device):
    tap = Tap(amp)
    amp.start()
    tap.wait_samples(RATE // 5)
    device.drop_samples(137)
    tap.wait_samples(RATE // 5)
    amp.stop()
    (gap,) = tap.kinds("gap")
    assert gap.count == 137
    stats = amp.stats
    assert (stats.gaps, stats.lost_samples, stats.checksum_errors) == (1, 137, 0)
    idx, _, _ = tap.series()
    steps = np.diff(idx)
    assert np.array_equal(np.unique(steps), [1, 138])
    assert int(idx[np.flatnonzero(steps == 138)[0] + 1]) == gap.sample
    assert (4, "device buffer overflow") in amp.read_errors()
    assert amp.status()["overflows"] == 1


def test_commands_while_streaming_are_refused_and_stream_goes_on(amp, device):
    tap = Tap(amp)
    amp.start()
    with pytest.raises(DeviceError, match="stop streaming first"):
        amp.configure(1000)
    tap.wait_samples(RATE // 10)
    amp.stop()
    _assert_contiguous(tap.blocks)
    assert device.rate_hz == RATE and amp.read_errors() == []


def test_port_left_streaming_by_a_raw_client_is_recovered(device):
    with serial.serial_for_url(device.port, timeout=0.5) as raw:
        raw.write(b"START\n")
        assert raw.readline() == b"OK\n"
        time.sleep(0.05)
    amp = SerialForceAmplifier.open(device.port, timeout_s=0.5)
    try:
        assert not device.streaming
        assert amp.status()["state"] == "idle"
    finally:
        amp.close()
