"""Fewer, larger reads on the serial path, and a STOP that waits for the device's backlog
(issue 14, item 5). Behaviour, not speed: what is read and whether STOP succeeds."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from drivers.amplifier import driver as D
from drivers.amplifier.driver import SerialForceAmplifier
from drivers.amplifier.frames import encode_end_of_stream, encode_frames
from drivers.errors import DeviceTimeout
from drivers.transports.serial_port import SerialTransport
from tests.test_amplifier_commands import ScriptedTransport

RATE = 10_000


class SlowLink(ScriptedTransport):
    """A device whose link carries only ``link_hz`` samples/s while it samples at 10 kHz:
    a backlog builds up; after STOP it sends the backlog, then the end-of-stream frame
    (``stall_after_stop``: it never does)."""

    def __init__(self, link_hz: float, stall_after_stop: bool = False) -> None:
        super().__init__({b"START\n": b"OK\n"})
        self.link_hz = link_hz
        self.stall_after_stop = stall_after_stop
        self.t0 = 0.0
        self.stop_due: int | None = None

    def write(self, data: bytes) -> None:
        if data == b"STOP\n" and self.streaming:
            self.written.append(bytes(data))
            with self._in_lock:
                self.streaming = False
                self.stop_due = int((time.monotonic() - self.t0) * RATE)
            return
        super().write(data)
        if data == b"START\n":
            self.t0 = time.monotonic()

    def read_chunk(self, max_bytes: int, timeout_s: float) -> bytes:
        time.sleep(0.005)
        with self._in_lock:
            if self.streaming or (self.stop_due is not None and not self.stall_after_stop):
                due = self.stop_due if self.stop_due is not None else \
                    int((time.monotonic() - self.t0) * RATE)
                n = min(int(self.link_hz * 0.005), due - self._seq)
                if n > 0:
                    self._in += encode_frames(self._seq, np.full(n, 500), np.zeros(n, np.uint8))
                    self._seq += n
                elif self.stop_due is not None:
                    self._in += encode_end_of_stream(self._seq)
                    self.stop_due = None
            out = bytes(self._in[:max_bytes])
            del self._in[:max_bytes]
        return out


def test_stop_waits_while_the_device_drains_its_backlog():
    """The link carries 4 kHz of a 10 kHz stream: after 0.6 s about 3600 samples are
    waiting in the device; sending them takes about 0.9 s, longer than the 0.3 s
    timeout. STOP must wait for them (samples keep arriving) and return every sample."""
    link = SlowLink(link_hz=4000)
    amp = SerialForceAmplifier.from_transport(link, timeout_s=0.3)
    got = []
    amp.subscribe(lambda b: got.append(len(b)))
    amp.start()
    time.sleep(0.6)
    amp.stop()
    assert not amp.streaming
    assert sum(got) == link._seq == amp.stats.samples and amp.stats.lost_samples == 0
    amp.close()


def test_stop_still_times_out_when_nothing_arrives():
    link = SlowLink(link_hz=4000, stall_after_stop=True)
    amp = SerialForceAmplifier.from_transport(link, timeout_s=0.3)
    amp.start()
    time.sleep(0.3)
    done = threading.Event()
    errors = []

    def stop():
        try:
            amp.stop()
        except DeviceTimeout as exc:
            errors.append(exc)
        done.set()
    threading.Thread(target=stop, daemon=True).start()
    assert done.wait(30), "STOP hung on a silent device"
    assert errors and ("end-of-stream" in str(errors[0]) or "stalled" in str(errors[0]))
    amp.close()


# ------------------------------------------------------------------ paced reads
class CountingTransport(ScriptedTransport):
    """Counts the driver's reads; ``read_ready`` gives what a 10 kHz device has sent."""

    sizes_reads_exactly = True

    def __init__(self) -> None:
        super().__init__({b"START\n": b"OK\n"})
        self.reads = {"ready": 0, "chunk": 0}
        self.t0 = 0.0

    def write(self, data: bytes) -> None:
        super().write(data)
        if data == b"START\n":
            self.t0 = time.monotonic()

    def _due(self) -> None:
        if self.streaming:
            n = int((time.monotonic() - self.t0) * RATE) - self._seq
            if n > 0:
                self._in += encode_frames(self._seq, np.full(n, 500), np.zeros(n, np.uint8))
                self._seq += n

    def _take(self, kind: str, max_bytes: int) -> bytes:
        with self._in_lock:
            self.reads[kind] += 1
            self._due()
            out = bytes(self._in[:max_bytes])
            del self._in[:max_bytes]
        return out

    def read_ready(self, max_bytes: int) -> bytes:
        return self._take("ready", max_bytes)

    def read_chunk(self, max_bytes: int, timeout_s: float) -> bytes:
        time.sleep(self.poll_s)
        return self._take("chunk", max_bytes)


@pytest.mark.parametrize("period", [D.READ_PERIOD_S, 0.0])
def test_paced_reads_take_the_stream_in_few_large_reads(period):
    """Paced, a light stream is read about once per period (never more often than the
    wake-ups it would otherwise cost); unpaced, read as it comes. Same samples either way."""
    link = CountingTransport()
    amp = SerialForceAmplifier.from_transport(link, read_period_s=period)
    got = []
    amp.subscribe(lambda b: got.append(len(b)))
    amp.start()
    time.sleep(0.5)
    amp.stop()
    reads = link.reads["ready"] + link.reads["chunk"]
    assert sum(got) == link._seq and amp.stats.lost_samples == 0
    if period:
        assert link.reads["ready"] > 0
        assert reads <= 0.5 / period + 3          # one per period (+ start and stop)
    else:
        assert link.reads["ready"] == 0 and reads > 0.5 / D.READ_PERIOD_S + 3


def test_socket_ports_are_not_paced():
    """pyserial's socket:// cannot say how much is waiting: such a port is read waiting."""
    server = __import__("socket").socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    t = SerialTransport.open(f"socket://127.0.0.1:{server.getsockname()[1]}", timeout_s=0.5)
    try:
        assert not t.sizes_reads_exactly
    finally:
        t.close()
        server.close()
    loop = SerialTransport.open("loop://", timeout_s=0.5)
    try:
        assert not loop.sizes_reads_exactly
        loop.write(b"abc")
        assert loop.read_chunk(10, 0.2) == b"abc"
    finally:
        loop.close()
