"""Serial transport: owns one pyserial port and turns its failures into typed device errors.

Opened with ``serial.serial_for_url`` so a device path (``/dev/ttyACM0``, a pty such as
``/dev/pts/5``), ``socket://127.0.0.1:port`` and ``loop://`` all work. The port's own
read timeout is fixed and short (``poll_s``): changing a pyserial timeout reconfigures the
port, so the longer timeouts of :meth:`read_line` and :meth:`read_chunk` are deadlines
made of short reads. Streams are read in large requests and never trust ``in_waiting``
for sizing (``socket://`` reports at most one byte there).

Locks: ``lock`` is for the caller's transactions (a command and its reply, atomic against
other threads); reads and writes each have an internal lock of their own, so a ``STOP``
can be written while a reader thread is waiting in :meth:`read_chunk`.
"""
from __future__ import annotations

import threading
import time

import serial

from drivers.errors import DeviceDisconnected, DeviceError, DeviceNotFound, DeviceTimeout, ProtocolError

#: Baud rate of the real UART; ignored by USB-CDC and by pseudo-terminals.
DEFAULT_BAUDRATE = 921600


class SerialTransport:
    """Bytes in and out of one serial port, with deadlines, a read-back buffer and a lock."""

    def __init__(self, port: serial.SerialBase, url: str, *, poll_s: float = 0.01) -> None:
        self._port = port
        self.url = url
        self.poll_s = poll_s
        self.lock = threading.RLock()
        self._rlock = threading.Lock()
        self._wlock = threading.Lock()
        self._buf = bytearray()
        self._closed = False

    @classmethod
    def open(cls, url: str, *, baudrate: int = DEFAULT_BAUDRATE, timeout_s: float = 1.0,
             poll_s: float = 0.01) -> "SerialTransport":
        """Open ``url``; DeviceNotFound (one line, naming the port) if that is impossible.

        ``timeout_s`` bounds every write; ``poll_s`` is the granularity of reads."""
        try:
            port = serial.serial_for_url(url, baudrate=baudrate, timeout=poll_s,
                                         write_timeout=timeout_s)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceNotFound(f"cannot open serial port {url!r}: {_reason(exc)}") from exc
        return cls(port, url, poll_s=poll_s)

    @property
    def is_open(self) -> bool:
        return not self._closed

    def _fail(self, exc: BaseException, action: str) -> DeviceError:
        """The typed error for a failure of ``action`` on this port."""
        if self._closed:
            return DeviceDisconnected(f"serial port {self.url} is closed")
        if isinstance(exc, serial.SerialTimeoutException):
            return DeviceTimeout(f"{action} on {self.url} timed out")
        return DeviceDisconnected(f"lost serial port {self.url} ({action} failed: {_reason(exc)})")

    def _check_open(self) -> None:
        if self._closed:
            raise DeviceDisconnected(f"serial port {self.url} is closed")

    def write(self, data: bytes) -> None:
        """Write all of ``data``; DeviceTimeout if the port does not take it in time."""
        self._check_open()
        with self._wlock:
            try:
                # no flush(): on POSIX it is tcdrain(), which has no timeout and can hang on
                # a device that stopped reading; write() itself honours write_timeout
                self._port.write(data)
            except Exception as exc:
                if self._closed or isinstance(exc, (serial.SerialException, OSError)):
                    raise self._fail(exc, "write") from exc
                raise

    def _read(self, size: int) -> bytes:
        """One port read of up to ``size`` bytes, waiting at most ``poll_s``."""
        try:
            return self._port.read(size)
        except Exception as exc:
            if self._closed or isinstance(exc, (serial.SerialException, OSError)):
                raise self._fail(exc, "read") from exc
            raise

    def _available(self) -> int:
        try:
            return self._port.in_waiting
        except Exception as exc:
            if self._closed or isinstance(exc, (serial.SerialException, OSError)):
                raise self._fail(exc, "read") from exc
            raise

    def read_line(self, timeout_s: float, *, max_length: int = 4096) -> str:
        """One LF-terminated line without its terminator (a trailing CR is removed too).

        Raises DeviceTimeout if no complete line arrives within ``timeout_s`` (the partial
        line stays buffered) and ProtocolError if ``max_length`` bytes pass without LF."""
        self._check_open()
        deadline = time.monotonic() + timeout_s
        with self._rlock:
            while True:
                self._check_open()
                end = self._buf.find(b"\n")
                if end >= 0:
                    line = bytes(self._buf[:end])
                    del self._buf[:end + 1]
                    return line.rstrip(b"\r").decode("latin-1")
                if len(self._buf) > max_length:
                    junk = len(self._buf)
                    self._buf.clear()
                    raise ProtocolError(f"{self.url}: {junk} bytes without a line end "
                                        "where a reply line was expected")
                if time.monotonic() >= deadline:
                    raise DeviceTimeout(f"no reply from {self.url} within {timeout_s:g} s")
                # in_waiting sizes the read when it can (ptys, real ports); otherwise one
                # byte, which returns as soon as it arrives (lines are short)
                self._buf += self._read(max(1, min(self._available(), max_length)))

    def read_chunk(self, max_bytes: int, timeout_s: float) -> bytes:
        """Up to ``max_bytes``: whatever arrives within about ``poll_s`` once data flows.

        Waits at most ``timeout_s`` (rounded up to ``poll_s``) for the first data and
        returns ``b""`` if none came: silence is the caller's to judge, not an error."""
        self._check_open()
        deadline = time.monotonic() + timeout_s
        with self._rlock:
            if self._buf:
                out = bytes(self._buf[:max_bytes])
                del self._buf[:max_bytes]
                return out
            while True:
                self._check_open()
                data = self._read(max_bytes)
                if data or time.monotonic() >= deadline:
                    return data

    @property
    def sizes_reads_exactly(self) -> bool:
        """True if ``in_waiting`` counts every byte waiting (real ports, ptys), so
        :meth:`read_ready` can take a backlog without waiting; pyserial's ``socket://``
        reports at most one byte there."""
        return not self.url.startswith(("socket://", "rfc2217://", "loop://"))

    def read_ready(self, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` of what has already arrived, without waiting: one port read
        per buffer's worth instead of a wait for each piece as it comes in. ``b""`` if
        nothing is waiting (then use :meth:`read_chunk` to wait)."""
        self._check_open()
        with self._rlock:
            out = bytearray(self._buf[:max_bytes])
            del self._buf[:max_bytes]
            while len(out) < max_bytes:
                waiting = self._available()
                if waiting <= 0:
                    break
                data = self._read(min(waiting, max_bytes - len(out)))
                if not data:
                    break
                out += data
            return bytes(out)

    def unread(self, data: bytes) -> None:
        """Put bytes back in front of the input, e.g. what followed the end of a stream."""
        if data:
            with self._rlock:
                self._buf[:0] = data

    def discard_input(self) -> int:
        """Drop everything received and not yet read; returns the number of buffered bytes
        dropped (the port's own buffer is flushed too, its size unknown)."""
        self._check_open()
        with self._rlock:
            dropped = len(self._buf)
            self._buf.clear()
            try:
                self._port.reset_input_buffer()
            except Exception as exc:
                if self._closed or isinstance(exc, (serial.SerialException, OSError)):
                    raise self._fail(exc, "flush") from exc
                raise
            return dropped

    def close(self) -> None:
        """Release the port. Idempotent; a reader waiting in the port is woken first."""
        if self._closed:
            return
        self._closed = True
        cancel = getattr(self._port, "cancel_read", None)
        if cancel is not None:
            try:
                cancel()
            except Exception:
                pass  # not supported by this port type; the read ends at its poll timeout
        with self._rlock, self._wlock:
            try:
                self._port.close()
            except Exception:
                pass  # the device may already be gone; the port is released either way


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
