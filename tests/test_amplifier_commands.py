"""Command channel of the force amplifier, byte-exact: what the driver writes for each call
and what it makes of each reply. A scripted fake transport stands in for the device; the
real SerialTransport is tested over ``loop://`` and ``socket://``."""
from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

from drivers.amplifier import commands as cmd
from drivers.amplifier.driver import SerialForceAmplifier
from drivers.amplifier.frames import encode_end_of_stream, encode_frames
from drivers.capabilities import Calibration, ForceAmplifier
from drivers.errors import (DeviceDisconnected, DeviceError, DeviceNotFound, DeviceTimeout,
                            InstrumentError, ProtocolError)
from drivers.transports.serial_port import SerialTransport

HANDSHAKE = {
    b"*IDN?\n": b"OK myoforce-sim,FA-24,SIM0001,1.0\n",
    b"RATE?\n": b"OK 10000\n",
    b"CAL?\n": b"OK 0.002 0.0\n",
}


class ScriptedTransport:
    """A device in a dict: each exact command line gets its scripted reply (a list gives
    successive replies). Records every byte written. While ``streaming``, reads return
    frames; writing ``STOP`` ends the stream with an end-of-stream frame."""

    url = "fake://amplifier"
    poll_s = 0.002

    def __init__(self, replies: dict[bytes, bytes | list[bytes]] | None = None) -> None:
        self.replies = {**HANDSHAKE, **(replies or {})}
        self.written: list[bytes] = []
        self.lock = threading.RLock()
        self.closed = False
        self.streaming = False
        self._seq = 0
        self._in = bytearray()
        self._in_lock = threading.Lock()

    def write(self, data: bytes) -> None:
        if self.closed:
            raise DeviceDisconnected("fake port closed")
        self.written.append(bytes(data))
        with self._in_lock:
            if self.streaming and data == b"STOP\n":
                self.streaming = False
                self._in += encode_end_of_stream(self._seq)
                return
            reply = self.replies.get(bytes(data))
            if isinstance(reply, list):
                reply = reply.pop(0) if reply else None
            if reply is not None:
                self._in += reply
            if data == b"START\n" and reply == b"OK\n":
                self.streaming = True
                self._seq = 0

    def read_line(self, timeout_s: float) -> str:
        with self._in_lock:
            end = self._in.find(b"\n")
            if end < 0:
                raise DeviceTimeout("fake: no reply")
            line = bytes(self._in[:end])
            del self._in[:end + 1]
        return line.rstrip(b"\r").decode("latin-1")

    def read_chunk(self, max_bytes: int, timeout_s: float) -> bytes:
        with self._in_lock:
            if self.streaming:
                self._in += encode_frames(self._seq, np.full(10, 500), np.zeros(10, np.uint8))
                self._seq += 10
            out = bytes(self._in[:max_bytes])
            del self._in[:max_bytes]
        if not out:
            time.sleep(self.poll_s)
        return out

    def unread(self, data: bytes) -> None:
        with self._in_lock:
            self._in[:0] = data

    def discard_input(self) -> int:
        with self._in_lock:
            n = len(self._in)
            self._in.clear()
            return n

    def close(self) -> None:
        self.closed = True


def _amp(replies=None, **kwargs) -> tuple[SerialForceAmplifier, ScriptedTransport]:
    transport = ScriptedTransport(replies)
    amp = SerialForceAmplifier.from_transport(transport, **kwargs)
    return amp, transport


# ------------------------------------------------------------------ pure formatting
def test_format_command_exact_bytes():
    assert cmd.format_command("*IDN?") == b"*IDN?\n"
    assert cmd.format_command("RATE", 20000) == b"RATE 20000\n"
    assert cmd.format_command("CAL", 0.002, 1234.5) == b"CAL 0.002 1234.5\n"
    assert cmd.format_command("CAL", 1e-05, -3.0) == b"CAL 1e-05 -3.0\n"
    assert cmd.format_command("TARE", 1000) == b"TARE 1000\n"
    x = 0.1 + 0.2  # floats go out with round-trip digits
    assert float(cmd.format_command("CAL", x, 0.0).split()[1]) == x
    for bad in (float("nan"), float("inf"), True):
        with pytest.raises(ValueError):
            cmd.format_command("CAL", bad, 0.0)
    with pytest.raises(ValueError):
        cmd.format_command("RATE 5\nSTART")


def test_parse_reply_ok_err_and_garbage():
    assert cmd.parse_reply("OK", "START") == ""
    assert cmd.parse_reply("OK 10000\r", "RATE?") == "10000"
    with pytest.raises(InstrumentError) as err:
        cmd.parse_reply("ERR 2 bad argument: rate must be one of 1000", "RATE 3")
    assert err.value.code == 2 and err.value.message == "bad argument: rate must be one of 1000"
    assert err.value.command == "RATE 3" and "RATE 3" in str(err.value)
    for garbage in ("", "ok", "ERR x y", "HELLO", "\xa5Z\x00\x01"):
        with pytest.raises(ProtocolError):
            cmd.parse_reply(garbage, "RATE?")
    assert cmd.parse_status("state=idle rate=5000 overflows=2") == {
        "state": "idle", "rate": 5000, "overflows": 2}
    with pytest.raises(ProtocolError):
        cmd.parse_status("state=idle")
    assert cmd.parse_error("0 no error") == (0, "no error")
    assert cmd.parse_calibration("0.002 -12.5") == Calibration(0.002, -12.5)
    for bad in ("0.002", "-1 0", "x 0", "0.002 nan"):
        with pytest.raises(ProtocolError):
            cmd.parse_calibration(bad)


# ------------------------------------------------------------------- driver calls
def test_open_handshake_bytes_and_parsed_values():
    sent = []
    amp, t = _amp(on_command=sent.append)
    assert t.written == [b"*IDN?\n", b"RATE?\n", b"CAL?\n"]
    assert sent == ["*IDN?", "RATE?", "CAL?"]
    assert amp.identity == "myoforce-sim,FA-24,SIM0001,1.0"
    assert amp.sample_rate_hz == 10000.0
    assert amp.calibration == Calibration(0.002, 0.0)
    assert isinstance(amp, ForceAmplifier)


def test_open_stops_a_device_left_streaming():
    t = ScriptedTransport()
    t.streaming = True  # an earlier session never sent STOP
    amp = SerialForceAmplifier.from_transport(t)
    assert t.written == [b"STOP\n", b"*IDN?\n", b"RATE?\n", b"CAL?\n"]
    assert amp.identity.startswith("myoforce-sim")


@pytest.mark.parametrize("idn_reply, error", [
    (b"OK hello\n", ProtocolError),                        # not a 4-field identity
    (b"ERR 1 unknown command: *IDN?\n", ProtocolError),     # something else with ERR lines
    (b"\xa5\x5a\x00\x01garbage\n", ProtocolError),          # binary
    (None, DeviceTimeout),                                  # silence
])
def test_open_refuses_what_is_not_an_amplifier(idn_reply, error):
    t = ScriptedTransport({b"*IDN?\n": idn_reply})
    with pytest.raises(error):
        SerialForceAmplifier.from_transport(t)


def test_configure_tare_and_calibration_bytes():
    amp, t = _amp({
        b"RATE 20000\n": b"OK\n",
        b"RATE 3000\n": b"ERR 2 bad argument: rate must be one of 1000, 2000\n",
        b"TARE 500\n": b"OK 4321.25\n",
        b"CAL 0.00125 -17.5\n": b"OK\n",
        b"CAL?\n": [b"OK 0.002 0.0\n", b"OK 0.00125 -17.5\n"],  # handshake, then read back
    })
    t.written.clear()
    amp.configure(20000)
    assert t.written[-1] == b"RATE 20000\n" and amp.sample_rate_hz == 20000.0
    with pytest.raises(InstrumentError) as err:
        amp.configure(3000)
    assert err.value.code == 2 and amp.sample_rate_hz == 20000.0
    cal = amp.tare(500)
    assert t.written[-1] == b"TARE 500\n"
    assert cal == Calibration(0.002, 4321.25) == amp.calibration
    amp.write_calibration(Calibration(0.00125, -17.5))
    assert t.written[-1] == b"CAL 0.00125 -17.5\n"
    assert amp.read_calibration() == Calibration(0.00125, -17.5)
    assert t.written[-1] == b"CAL?\n"
    n = len(t.written)
    with pytest.raises(ValueError):
        amp.write_calibration(Calibration(0.0, 1.0))
    with pytest.raises(ValueError):
        amp.configure(1000.5)
    assert len(t.written) == n  # refused before anything was sent


def test_status_errors_and_full_scale():
    amp, t = _amp({
        b"STAT?\n": b"OK state=idle rate=10000 overflows=3\n",
        b"ERR?\n": [b"OK 4 device buffer overflow\n", b"OK 5 input over range\n",
                    b"OK 0 no error\n"],
        b"FS?\n": b"OK 8388607\n",
        b"BOGUS?\n": b"OK\n",
    })
    assert amp.status() == {"state": "idle", "rate": 10000, "overflows": 3}
    assert amp.read_errors() == [(4, "device buffer overflow"), (5, "input over range")]
    assert t.written[-3:] == [b"ERR?\n"] * 3
    assert amp.full_scale_counts() == 8388607


def test_garbled_reply_is_a_protocol_error():
    amp, _ = _amp({b"STAT?\n": b"OK all fine\n", b"FS?\n": b"OK lots\n"})
    with pytest.raises(ProtocolError, match="STAT"):
        amp.status()
    with pytest.raises(ProtocolError, match="FS"):
        amp.full_scale_counts()


def test_streaming_start_stop_bytes_and_commands_refused_while_streaming():
    sent = []
    amp, t = _amp({b"START\n": b"OK\n"}, on_command=sent.append)
    blocks, notices = [], []
    amp.subscribe(blocks.append)
    amp.subscribe_notices(notices.append)
    amp.start()
    assert amp.streaming
    with pytest.raises(DeviceError, match="stop streaming first"):
        amp.configure(1000)
    with pytest.raises(DeviceError, match="stop streaming first"):
        amp.tare()
    deadline = time.monotonic() + 5
    while not blocks and time.monotonic() < deadline:
        time.sleep(0.005)
    amp.stop()
    assert not amp.streaming
    assert t.written[-2:] == [b"START\n", b"STOP\n"] and sent[-2:] == ["START", "STOP"]
    assert blocks and blocks[0].first_sample == 0
    assert all(b.first_sample == a.end_sample for a, b in zip(blocks, blocks[1:]))
    assert np.allclose(blocks[0].force_mN, 500 * 0.002)  # counts through the calibration
    assert [n.kind for n in notices] == ["started", "stopped"]
    assert notices[-1].sample == amp.stats.samples == sum(len(b) for b in blocks)
    amp.stop()  # no-op once stopped
    amp.close()
    assert t.closed
    with pytest.raises(DeviceDisconnected):
        amp.status()


def test_start_refused_by_device_is_an_instrument_error():
    amp, t = _amp({b"START\n": b"ERR 3 not allowed while streaming\n"})
    with pytest.raises(InstrumentError) as err:
        amp.start()
    assert err.value.code == 3 and not amp.streaming


def test_failing_sink_is_counted_and_reported_not_fatal():
    amp, _ = _amp({b"START\n": b"OK\n"})
    good, notices = [], []

    def bad_sink(block):
        raise RuntimeError("display crashed")

    amp.subscribe(bad_sink)
    amp.subscribe(good.append)
    amp.subscribe_notices(notices.append)
    amp.start()
    deadline = time.monotonic() + 5
    while len(good) < 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    amp.stop()
    assert len(good) >= 3 and amp.sink_errors >= 3
    assert notices[0].kind == "started"
    assert notices[1].kind == "sink-error" and "display crashed" in notices[1].message
    assert notices[-1].kind == "stopped"


def test_unsubscribe_stops_delivery():
    amp, _ = _amp({b"START\n": b"OK\n"})
    got = []
    unsubscribe = amp.subscribe(got.append)
    unsubscribe()
    amp.start()
    time.sleep(0.05)
    amp.stop()
    assert got == [] and amp.stats.samples > 0


# ------------------------------------------------------------- the real transport
def test_serial_transport_over_loop_url():
    t = SerialTransport.open("loop://", timeout_s=0.5)
    try:
        t.write(b"OK 1\r\nOK 2\npartial")
        assert t.read_line(0.5) == "OK 1"
        assert t.read_line(0.5) == "OK 2"
        with pytest.raises(DeviceTimeout):
            t.read_line(0.05)
        t.write(b" line\n")
        assert t.read_line(0.5) == "partial line"  # the partial line was kept
        t.write(b"abc")
        assert t.read_chunk(100, 0.5) == b"abc"
        assert t.read_chunk(100, 0.02) == b""  # silence is not an error
        t.unread(b"xy")
        assert t.read_chunk(1, 0.1) == b"x" and t.read_chunk(10, 0.1) == b"y"
        t.write(b"stale")
        time.sleep(0.02)
        t.discard_input()
        assert t.read_chunk(10, 0.02) == b""
    finally:
        t.close()
    t.close()  # idempotent
    with pytest.raises(DeviceDisconnected):
        t.write(b"x")
    with pytest.raises(DeviceDisconnected):
        t.read_line(0.1)


def test_serial_transport_open_failures_are_device_not_found():
    with pytest.raises(DeviceNotFound, match="/dev/does-not-exist"):
        SerialTransport.open("/dev/does-not-exist")
    with pytest.raises(DeviceNotFound):
        SerialTransport.open("nosuchscheme://x")
    with pytest.raises(DeviceNotFound):
        SerialForceAmplifier.open("/dev/does-not-exist")


def test_driver_over_loopback_sees_its_own_echo_as_not_an_amplifier():
    """On ``loop://`` the 'device' answers ``*IDN?`` with ``*IDN?``: a protocol error."""
    with pytest.raises(ProtocolError, match=r"\*IDN\?"):
        SerialForceAmplifier.open("loop://", timeout_s=0.3)


def test_serial_transport_over_socket_reads_large_chunks_and_sees_disconnect():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    payload = bytes(range(256)) * 400  # 102400 bytes

    def serve():
        conn, _ = server.accept()
        conn.recv(1)  # pyserial discards whatever arrives while it opens the port
        conn.sendall(payload)
        time.sleep(0.1)
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    t = SerialTransport.open(f"socket://127.0.0.1:{server.getsockname()[1]}", timeout_s=1.0)
    try:
        t.write(b"G")
        got = bytearray()
        sizes = []
        deadline = time.monotonic() + 5
        while len(got) < len(payload) and time.monotonic() < deadline:
            chunk = t.read_chunk(65536, 0.5)
            sizes.append(len(chunk))
            got += chunk
        assert bytes(got) == payload
        assert max(sizes) > 4096  # not one byte at a time despite in_waiting <= 1
        with pytest.raises(DeviceDisconnected):
            for _ in range(100):
                t.read_chunk(65536, 0.05)
    finally:
        t.close()
        server.close()
        thread.join(1)
