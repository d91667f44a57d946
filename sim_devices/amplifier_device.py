"""Simulated force amplifier on a pseudo-terminal, speaking section 2 of docs/wire-protocols.md.

The host opens the pty's slave side as an ordinary serial port, so the real driver,
transport and pyserial are exercised byte for byte. The device samples the shared
:class:`~sim_devices.world.SimWorld` on its own clock: on ``START`` it notes the world time
of sample 0 and from then on emits every sample whose time has passed, in blocks of a few
ms (rendered, converted and framed with numpy, so 100 kHz keeps up).

Faults for tests are switched at runtime through :attr:`SimAmplifierDevice.faults`
(garbage, bit flips, stall) and the methods :meth:`~SimAmplifierDevice.vanish` and
:meth:`~SimAmplifierDevice.drop_samples`.
"""
from __future__ import annotations

import errno
import math
import os
import select
import threading
import tty
from collections import deque
from dataclasses import dataclass

import numpy as np

from drivers.amplifier.commands import (ERROR_BAD_ARGUMENT, ERROR_BUFFER_OVERFLOW, ERROR_OVER_RANGE,
                                        ERROR_STREAMING, ERROR_UNKNOWN_COMMAND, RATES_HZ,
                                        TARE_MAX_SAMPLES, format_number)
from drivers.amplifier.frames import FULL_SCALE_COUNTS, encode_end_of_stream, encode_frames
from drivers.capabilities import FLAG_OVERRANGE
from sim_devices.world import SimWorld

_ERROR_TEXT = {
    ERROR_UNKNOWN_COMMAND: "unknown command",
    ERROR_BAD_ARGUMENT: "bad argument",
    ERROR_STREAMING: "not allowed while streaming",
    ERROR_BUFFER_OVERFLOW: "device buffer overflow",
    ERROR_OVER_RANGE: "input over range",
}
_ERROR_QUEUE = 16
_TICK_S = 0.004           # streaming: samples leave in blocks of about this length
_MAX_RENDER_S = 0.05      # at most this much signal is rendered per block


@dataclass
class AmplifierFaults:
    """Faults the simulated device injects into its output; change them at any time."""

    garbage_every_s: float = 0.0       # insert random bytes between frames this often (0: never)
    garbage_bytes: int = 0             # ... this many each time
    bit_flip_probability: float = 0.0  # probability that an outgoing byte gets one bit flipped
    stall: bool = False                # stop sending (and ignore STOP) but keep the port open


class SimAmplifierDevice:
    """A force amplifier with transducer, ADC, trigger input and a serial port (a pty).

    Its "true" transducer has ``true_scale_mN_per_count`` and a zero offset of some
    thousands of counts (so an untared baseline is visibly non-zero); the calibration it
    stores (``CAL``) starts as the true scale with offset 0, as if factory-calibrated
    without a transducer attached.
    """

    def __init__(self, world: SimWorld, *, seed: int | None = None,
                 identity: str = "myoforce-sim,FA-24,SIM0001,1.0",
                 true_scale_mN_per_count: float = 0.002,
                 zero_offset_counts: float | None = None,
                 noise_counts: float = 4.0, buffer_s: float = 1.0) -> None:
        self.world = world
        self.identity = identity
        self._rng = np.random.default_rng(seed)
        self.true_scale_mN_per_count = float(true_scale_mN_per_count)
        self.zero_offset_counts = (float(self._rng.uniform(3000.0, 8000.0))
                                   if zero_offset_counts is None else float(zero_offset_counts))
        self.noise_counts = float(noise_counts)
        self.buffer_s = float(buffer_s)
        self.faults = AmplifierFaults()
        # device state (touched by the device thread; read freely by tests)
        self.rate_hz = 10000
        self.calibration = (self.true_scale_mN_per_count, 0.0)
        self.streaming = False
        self.overflows = 0
        self.samples_sent = 0
        self.commands: list[str] = []
        self._errors: deque[int] = deque()
        self._drop_request = 0
        self._master: int | None = None
        self._slave: int | None = None
        self._wake_r, self._wake_w = -1, -1
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._vanish_request = threading.Event()
        self._gone = threading.Event()
        self.port: str | None = None

    # ------------------------------------------------------------------ control
    def start(self) -> str:
        """Create the pty, start the device thread and return the port path to open."""
        if self._thread is not None:
            raise RuntimeError("device already started")
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self.port = os.ttyname(slave)
        self._thread = threading.Thread(target=self._run, name=f"sim-amplifier {self.port}",
                                        daemon=True)
        self._thread.start()
        return self.port

    @property
    def stream_start_time(self) -> float | None:
        """World time of sample 0 of the present (or last) stream; None before the first."""
        return getattr(self, "_t_start", None)

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def vanish(self) -> None:
        """The device disappears (USB unplugged): the pty is closed under the host's feet."""
        self._vanish_request.set()
        self._wake()
        self._gone.wait(2.0)

    def drop_samples(self, n: int) -> None:
        """Once: skip ``n`` sequence numbers, as a device buffer overflow would (error 4)."""
        self._drop_request += int(n)

    def close(self) -> None:
        """Stop the device thread and release the pty."""
        self._closing.set()
        if self._thread is not None:
            self._wake()
            self._thread.join(timeout=5.0)
        self._release()
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._wake_r = self._wake_w = -1

    def __enter__(self) -> "SimAmplifierDevice":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _release(self) -> None:
        for name in ("_master", "_slave"):
            fd = getattr(self, name)
            if fd is not None:
                setattr(self, name, None)
                try:
                    os.close(fd)
                except OSError:
                    pass

    # ------------------------------------------------------------ device thread
    def _run(self) -> None:
        inbuf = bytearray()
        self._out = bytearray()
        try:
            while not self._closing.is_set():
                if self._vanish_request.is_set():
                    self._release()
                    return
                fd = self._master
                wait = _TICK_S if self.streaming else 0.1
                wlist = [fd] if self._out and not self.faults.stall else []
                try:
                    readable, _, _ = select.select([fd, self._wake_r], wlist, [], wait)
                except (OSError, ValueError):
                    return
                if self._wake_r in readable:
                    try:
                        os.read(self._wake_r, 4096)
                    except OSError:
                        pass
                if fd in readable:
                    try:
                        inbuf += os.read(fd, 65536)
                    except BlockingIOError:
                        pass
                    except OSError as exc:
                        if exc.errno != errno.EIO:  # EIO: no host has the port open
                            raise
                    self._handle_input(inbuf)
                if self.streaming:
                    self._produce()
                if self._out and not self.faults.stall:
                    self._flush()
        finally:
            self._gone.set()

    def _flush(self) -> None:
        try:
            with memoryview(self._out) as view:
                written = os.write(self._master, view)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if exc.errno == errno.EIO:
                return
            raise
        del self._out[:written]

    def _reply(self, text: str) -> None:
        self._out += text.encode("ascii") + b"\n"

    def _queue_error(self, code: int) -> None:
        if len(self._errors) < _ERROR_QUEUE:
            self._errors.append(code)

    def _handle_input(self, inbuf: bytearray) -> None:
        while True:
            end = inbuf.find(b"\n")
            if end < 0:
                if len(inbuf) > 4096:  # no line end in sight: noise on the line
                    inbuf.clear()
                return
            raw = bytes(inbuf[:end]).rstrip(b"\r")
            del inbuf[:end + 1]
            line = raw.decode("ascii", errors="replace").strip()
            if not line:
                continue
            self.commands.append(line)
            if self.streaming:
                if line.upper() == "STOP":
                    if not self.faults.stall:  # a stalled device hears nothing
                        self._stop_stream()
                else:
                    self._queue_error(ERROR_STREAMING)
                continue
            self._command(line)

    def _command(self, line: str) -> None:
        keyword, _, arg = line.partition(" ")
        keyword, arg = keyword.upper(), arg.strip()
        if keyword == "*IDN?" and not arg:
            self._reply(f"OK {self.identity}")
        elif keyword == "RATE?" and not arg:
            self._reply(f"OK {self.rate_hz}")
        elif keyword == "RATE":
            rate = _parse_int(arg)
            if rate not in RATES_HZ:
                self._reply(f"ERR {ERROR_BAD_ARGUMENT} bad argument: rate must be one of "
                            + ", ".join(str(r) for r in RATES_HZ))
            else:
                self.rate_hz = rate
                self._reply("OK")
        elif keyword == "CAL?" and not arg:
            scale, offset = self.calibration
            self._reply(f"OK {format_number(scale)} {format_number(offset)}")
        elif keyword == "CAL":
            values = [_parse_float(v) for v in arg.split()]
            if len(values) != 2 or None in values or not values[0] > 0:
                self._reply(f"ERR {ERROR_BAD_ARGUMENT} bad argument: CAL <scale> <offset>, scale > 0")
            else:
                self.calibration = (float(values[0]), float(values[1]))
                self._reply("OK")
        elif keyword == "TARE":
            n = _parse_int(arg)
            if n is None or not 1 <= n <= TARE_MAX_SAMPLES:
                self._reply(f"ERR {ERROR_BAD_ARGUMENT} bad argument: TARE <n>, "
                            f"1 <= n <= {TARE_MAX_SAMPLES}")
            else:
                self._tare(n)
        elif keyword == "FS?" and not arg:
            self._reply(f"OK {FULL_SCALE_COUNTS}")
        elif keyword == "STAT?" and not arg:
            self._reply(f"OK state=idle rate={self.rate_hz} overflows={self.overflows}")
        elif keyword == "ERR?" and not arg:
            if self._errors:
                code = self._errors.popleft()
                self._reply(f"OK {code} {_ERROR_TEXT[code]}")
            else:
                self._reply("OK 0 no error")
        elif keyword == "START" and not arg:
            self._reply("OK")
            self._start_stream()
        elif keyword == "STOP" and not arg:
            self._reply("OK")  # nothing to stop
        else:
            self._reply(f"ERR {ERROR_UNKNOWN_COMMAND} unknown command: {line[:40]}")

    # ------------------------------------------------------------------ signal
    def _counts(self, force_mN: np.ndarray, trigger: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The ADC: force to clipped counts with noise, and the over-range flag."""
        raw = force_mN / self.true_scale_mN_per_count + self.zero_offset_counts
        if self.noise_counts:
            raw = raw + self._rng.normal(0.0, self.noise_counts, raw.shape[0])
        counts = np.rint(raw)
        over = np.abs(counts) >= FULL_SCALE_COUNTS
        counts = np.clip(counts, -FULL_SCALE_COUNTS, FULL_SCALE_COUNTS).astype(np.int32)
        flags = trigger.astype(np.uint8)
        if over.any():
            flags[over] |= FLAG_OVERRANGE
        return counts, flags

    def _tare(self, n: int) -> None:
        """Average the next ``n`` samples: wait until they have happened, then measure."""
        t0 = self.world.now()
        rate = float(self.rate_hz)
        if self._closing.wait((n - 1) / rate):
            return
        force, trigger = self.world.render(t0, n, rate)
        counts, _ = self._counts(force, trigger)
        offset = float(np.mean(counts))
        self.calibration = (self.calibration[0], offset)
        self._reply(f"OK {format_number(offset)}")

    def _start_stream(self) -> None:
        self._t_start = self.world.now()
        self._sent = 0
        self._next_garbage = self._t_start + self.faults.garbage_every_s
        self._overrange_reported = False
        self._overflowing = False
        self.samples_sent = 0
        self.streaming = True

    def _stop_stream(self) -> None:
        self._produce()  # everything due up to now, then the end
        self._out += encode_end_of_stream(self._sent)
        self.streaming = False

    def _produce(self) -> None:
        """Frame every sample whose time has come, apply faults, queue the bytes."""
        if self.faults.stall:
            return
        rate = float(self.rate_hz)
        now = self.world.now()
        due = int(math.floor((now - self._t_start) * rate)) + 1
        if self._drop_request:
            self._overflow(self._drop_request)
            self._drop_request = 0
        capacity = max(1, int(self.buffer_s * rate))
        backlog = due - self._sent
        if len(self._out) > capacity * 12:       # the host is not reading: no room at all
            excess = backlog
        else:                                    # e.g. after a stall: more than the buffer holds
            excess = backlog - capacity
        if excess > 0:
            if not self._overflowing:            # one overflow per episode, however long
                self._overflow(excess)
            else:
                self._sent += excess
            self._overflowing = True
        else:
            self._overflowing = False
        max_block = max(1, int(_MAX_RENDER_S * rate))
        while due > self._sent:
            n = min(due - self._sent, max_block)
            force, trigger = self.world.render(self._t_start + self._sent / rate, n, rate)
            counts, flags = self._counts(force, trigger)
            if not self._overrange_reported and (flags & FLAG_OVERRANGE).any():
                self._overrange_reported = True
                self._queue_error(ERROR_OVER_RANGE)
            data = encode_frames(self._sent, counts, flags)
            self._sent += n
            self.samples_sent += n
            self._out += self._apply_faults(data, now)

    def _overflow(self, n: int) -> None:
        """``n`` samples never leave the device: their sequence numbers are skipped."""
        self._sent += n
        self.overflows += 1
        self._queue_error(ERROR_BUFFER_OVERFLOW)

    def _apply_faults(self, data: bytes, now: float) -> bytes:
        f = self.faults
        if f.garbage_every_s > 0 and f.garbage_bytes > 0 and now >= self._next_garbage:
            self._next_garbage = now + f.garbage_every_s
            at = 12 * int(self._rng.integers(0, len(data) // 12 + 1))
            junk = self._rng.integers(0, 256, int(f.garbage_bytes), dtype=np.uint8).tobytes()
            data = data[:at] + junk + data[at:]
        if f.bit_flip_probability > 0:
            buf = np.frombuffer(data, dtype=np.uint8).copy()
            hit = np.flatnonzero(self._rng.random(buf.shape[0]) < f.bit_flip_probability)
            if hit.size:
                buf[hit] ^= (1 << self._rng.integers(0, 8, hit.size)).astype(np.uint8)
                data = buf.tobytes()
        return data


def _parse_int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _parse_float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
