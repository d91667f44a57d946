"""VISA transport: owns one pyvisa resource and turns its failures into typed device errors.

Drivers speak SCPI through this class and never touch pyvisa directly, so a driver can be
tested byte-exact against a fake transport, and pyvisa's many failure modes (VisaIOError
status codes, raw ``OSError`` from pyvisa-py sockets, closed sessions) reach the driver as
:class:`~drivers.errors.DeviceNotFound`, :class:`~drivers.errors.DeviceTimeout` or
:class:`~drivers.errors.DeviceDisconnected` only.

One lock serializes access: a query's write and read are atomic with respect to other
threads. ``write_urgent`` deliberately bypasses it; it exists so an emergency output-off
can go out while another thread is blocked waiting for a reply that may never come.
"""
from __future__ import annotations

import logging
import socket
import threading
from typing import Any

import pyvisa
from pyvisa import constants as vc
from pyvisa import errors as visa_errors

from drivers.errors import DeviceDisconnected, DeviceError, DeviceNotFound, DeviceTimeout

log = logging.getLogger(__name__)

TERMINATION = "\n"

_NOT_FOUND = {
    vc.StatusCode.error_resource_not_found,
    vc.StatusCode.error_invalid_resource_name,
    vc.StatusCode.error_resource_busy,
    vc.StatusCode.error_library_not_found,
}
_DISCONNECTED = {
    vc.StatusCode.error_connection_lost,
    vc.StatusCode.error_io,
    vc.StatusCode.error_invalid_object,
    vc.StatusCode.error_closing_failed,
    vc.StatusCode.error_system_error,
}


RESOURCE_EXAMPLE = "TCPIP0::192.168.1.20::5025::SOCKET"


def resource_name_problem(resource: str) -> str | None:
    """Why ``resource`` is not a VISA resource name that can be opened, or ``None``
    (the reason without the name: the caller says where the name came from).

    Only the syntax is checked (nothing is opened), so a typo is reported as such and
    not as whatever the VISA backend makes of it."""
    from pyvisa import rname

    try:
        parsed = rname.parse_resource_name(resource)
    except rname.InvalidResourceName:
        return f"not a VISA resource name (e.g. {RESOURCE_EXAMPLE})"
    if parsed.resource_class == "SOCKET":
        port = str(getattr(parsed, "port", ""))
        if not (port.isdigit() and 0 < int(port) < 65536):
            return f"port {port!r} is not a TCP port number (1-65535)"
    return None


class VisaTransport:
    """A line-oriented (LF-terminated) VISA session with typed errors and a lock.

    Create with :meth:`open`. ``timeout_s`` bounds every read; :meth:`query` can extend it
    for one reply (e.g. an ``*OPC?`` the instrument answers only when a burst is over).
    """

    def __init__(self, resource: Any, resource_name: str, timeout_s: float) -> None:
        """Wrap an already open pyvisa message-based resource (use :meth:`open`)."""
        self._res = resource
        self._name = resource_name
        self._timeout_s = float(timeout_s)
        self._lock = threading.RLock()
        self._closed = False
        self._stale = False  # a reply may still be in flight after a timeout
        self._reopen: Any = None   # () -> a fresh resource of the same instrument (sockets)
        self.resyncs = 0           # sessions resynchronised after a timeout (tests, logs)

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, resource: str, timeout_s: float = 2.0, *,
             resource_manager: pyvisa.ResourceManager | str | None = None) -> "VisaTransport":
        """Open ``resource`` (e.g. ``TCPIP0::host::5025::SOCKET``) with LF terminations.

        ``resource_manager`` is a pyvisa ResourceManager or a backend spec; the default
        is pyvisa-py (``"@py"``). The manager is shared process-wide and never closed here.
        """
        if not timeout_s > 0:
            raise ValueError(f"timeout must be positive, got {timeout_s!r}")
        problem = resource_name_problem(resource)
        if problem:
            raise DeviceNotFound(f"cannot open {resource!r}: {problem}")
        try:
            rm = (resource_manager if isinstance(resource_manager, pyvisa.ResourceManager)
                  else pyvisa.ResourceManager(resource_manager or "@py"))
        except Exception as exc:  # backend missing or broken
            raise DeviceNotFound(f"VISA library not available: {exc}") from exc
        timeout_ms = max(1, int(round(timeout_s * 1000)))
        try:
            res = rm.open_resource(resource, open_timeout=timeout_ms, timeout=timeout_ms,
                                   read_termination=TERMINATION, write_termination=TERMINATION)
        except Exception as exc:  # VisaIOError, pyvisa-py's bare "could not connect", bad names
            raise DeviceNotFound(f"cannot open {resource}: {_describe(exc)}") from exc
        transport = cls(res, resource, timeout_s)
        transport._reopen = lambda: rm.open_resource(
            resource, open_timeout=timeout_ms, timeout=timeout_ms,
            read_termination=TERMINATION, write_termination=TERMINATION)
        # pyvisa-py reports a refused TCP connect as success; the socket knows better.
        err = transport._socket_error()
        if err:
            transport._close_resource()
            raise DeviceNotFound(f"cannot open {resource}: {err}")
        log.debug("opened %s (timeout %.3g s)", resource, timeout_s)
        return transport

    # ------------------------------------------------------------------ properties
    @property
    def resource_name(self) -> str:
        return self._name

    @property
    def timeout_s(self) -> float:
        return self._timeout_s

    @property
    def lock(self) -> threading.RLock:
        """Held for every write and query; drivers hold it to make check-then-send atomic."""
        return self._lock

    @property
    def is_open(self) -> bool:
        return not self._closed

    # ------------------------------------------------------------------ I/O
    def write(self, command: str) -> None:
        """Send one command line (the LF is added here). After a timeout the session is
        resynchronised first (:meth:`_resync`), so a device clear can never discard this
        command (e.g. an ``OUTP OFF``) from the instrument's input buffer."""
        with self._lock:
            self._check_open()
            if self._stale and not self._peer_closed():
                self._resync()
            self._write(command)

    def query(self, command: str, timeout_s: float | None = None) -> str:
        """Send ``command`` and return its one-line reply without the terminator.

        ``timeout_s`` overrides the session timeout for this reply only.
        """
        with self._lock:
            self._check_open()
            if self._stale and not self._peer_closed():
                self._resync()
            self._write(command)
            return self._read(command, timeout_s)

    def _resync(self) -> None:
        """After a timeout, make sure no late reply can answer this query.

        A socket session is reopened: whatever the instrument still sends on the old
        connection is gone with it, and the instrument keeps its state (output off stays
        off). Other sessions (USB-TMC, GPIB, serial) get a device clear (``viClear``: the
        instrument empties its output queue and abandons the reply it was still
        preparing, so it cannot arrive later; IEEE 488.2 §5.8, USBTMC INITIATE_CLEAR),
        then the VISA buffer is flushed of what had already arrived. Outputs keep their
        state; a clear comes before the next command is sent, never after it."""
        self.resyncs += 1
        if self._reopen is None or self._socket() is None:
            self._device_clear()
            self._discard_input()
            return
        old = self._res
        try:
            old.close()
        except Exception as exc:  # the old session may already be broken: replace it anyway
            log.debug("%s: closing the stale session: %s", self._name, exc)
        try:
            self._res = self._reopen()
        except Exception as exc:
            self._closed = True
            raise DeviceDisconnected(f"{self._name}: could not reconnect after a timeout: "
                                     f"{_describe(exc)}") from exc
        self._stale = False
        err = self._socket_error()
        if err:
            self._closed = True
            raise DeviceDisconnected(f"{self._name}: could not reconnect after a timeout: {err}")
        log.info("%s: session reopened after a timeout (late replies dropped)", self._name)

    def write_urgent(self, command: str) -> None:
        """Send a command WITHOUT taking the lock.

        Only for an emergency stop while another thread is blocked in :meth:`query`:
        socket sends and receives may overlap safely, and a command is a single send.
        """
        self._write(command)

    def close(self) -> None:
        """Release the resource. Idempotent; never blocks for long on a busy lock."""
        if self._closed:
            return
        got = self._lock.acquire(timeout=min(self._timeout_s, 1.0))
        try:
            self._close_resource()
        finally:
            if got:
                self._lock.release()

    # ------------------------------------------------------------------ internals
    def _check_open(self) -> None:
        if self._closed:
            raise DeviceDisconnected(f"{self._name}: connection is closed")

    def _write(self, command: str) -> None:
        self._check_open()
        if self._peer_closed():
            raise DeviceDisconnected(f"{self._name}: the device closed the connection")
        try:
            self._res.write(command)
        except Exception as exc:
            raise self._map(exc, f"writing {command!r}") from exc

    def _read(self, command: str, timeout_s: float | None) -> str:
        old = None
        try:
            if timeout_s is not None:
                old = self._res.timeout
                self._res.timeout = max(1, int(round(timeout_s * 1000)))
            reply = self._res.read()
        except Exception as exc:
            mapped = self._map(exc, f"waiting for the reply to {command!r}")
            if isinstance(mapped, DeviceTimeout):
                self._stale = True
                if self._peer_closed():
                    mapped = DeviceDisconnected(
                        f"{self._name}: the device closed the connection "
                        f"(no reply to {command!r})")
            raise mapped from exc
        finally:
            if old is not None and not self._closed:
                try:
                    self._res.timeout = old
                except Exception:  # the session died; the next call reports it
                    pass
        return reply.rstrip("\r\n")

    def _device_clear(self) -> None:
        """``viClear`` on a non-socket session; a failure is logged and left to the next
        read to report (the instrument may be the reason for the timeout)."""
        try:
            self._res.clear()
        except Exception as exc:
            log.debug("%s: device clear after a timeout failed: %s", self._name, exc)

    def _discard_input(self) -> None:
        """Drop a late reply to a query that timed out, so replies stay paired with queries."""
        self._stale = False
        sock = self._socket()
        if sock is None:
            try:
                self._res.flush(vc.BufferOperation.discard_read_buffer)
            except Exception as exc:
                log.debug("%s: discarding stale input failed: %s", self._name, exc)
            return
        # pyvisa-py's own flush spins forever on a closed socket: drain it here instead
        session = self._res.visalib.sessions[self._res.session]
        pending = getattr(session, "_pending_buffer", None)
        if pending is not None:
            pending.clear()
        flags = getattr(socket, "MSG_DONTWAIT", 0)
        for _ in range(1024):
            try:
                chunk = sock.recv(4096, flags) if flags else b""
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                raise DeviceDisconnected(f"{self._name}: {_describe(exc)}") from exc
            if not chunk:
                if flags:
                    raise DeviceDisconnected(f"{self._name}: the device closed the connection")
                return

    def _map(self, exc: BaseException, doing: str) -> DeviceError:
        what = f"{self._name}: {doing}: {_describe(exc)}"
        if isinstance(exc, visa_errors.VisaIOError):
            if exc.error_code == vc.StatusCode.error_timeout:
                return DeviceTimeout(f"{self._name}: timeout {doing}")
            if exc.error_code in _NOT_FOUND:
                return DeviceNotFound(what)
            if exc.error_code in _DISCONNECTED:
                return DeviceDisconnected(what)
            return DeviceError(what)
        if isinstance(exc, visa_errors.InvalidSession):
            return DeviceDisconnected(what)
        if isinstance(exc, ConnectionRefusedError):
            return DeviceNotFound(what)
        if isinstance(exc, (ConnectionError, OSError, AttributeError, ValueError)):
            # ConnectionReset/BrokenPipe, or a session whose socket is already gone
            return DeviceDisconnected(what)
        return DeviceError(what)

    def _socket(self) -> socket.socket | None:
        """The raw socket of a pyvisa-py TCPIP SOCKET session, if that is what this is."""
        try:
            session = self._res.visalib.sessions[self._res.session]
        except Exception:
            return None
        sock = getattr(session, "interface", None)
        return sock if isinstance(sock, socket.socket) else None

    def _socket_error(self) -> str | None:
        sock = self._socket()
        if sock is None:
            return None
        try:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        except OSError as exc:
            return str(exc)
        if err:
            import os
            return os.strerror(err)
        try:
            sock.getpeername()
        except OSError as exc:
            return f"not connected ({exc})"
        return None

    def _peer_closed(self) -> bool:
        """True if the socket peer has closed or reset the connection (pyvisa-py only).

        pyvisa-py treats end-of-file as "no data yet" and spins until the timeout; this
        lets a vanished device be reported as disconnected rather than slow.
        """
        flags = getattr(socket, "MSG_DONTWAIT", None)
        sock = self._socket()
        if sock is None or flags is None:
            return False
        try:
            return sock.recv(1, socket.MSG_PEEK | flags) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def _close_resource(self) -> None:
        self._closed = True
        try:
            self._res.close()
        except Exception as exc:  # already dead: nothing left to release
            log.debug("%s: close: %s", self._name, exc)

    def __repr__(self) -> str:
        return f"VisaTransport({self._name!r}, {'closed' if self._closed else 'open'})"


def _describe(exc: BaseException) -> str:
    """One line for a log or an error message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
