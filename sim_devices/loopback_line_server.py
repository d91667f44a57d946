"""Transport of a simulated SCPI instrument: newline-terminated messages on a loopback TCP socket.

One client at a time (a new one may connect after the previous left), as a LAN instrument
serving a single SOCKET session does. The server knows nothing of what the lines mean: it
hands each one to ``handle_line`` and writes back the reply, if any. Fault hooks let the
instrument delay or withhold replies without the transport knowing why.
"""
from __future__ import annotations

import logging
import select
import socket
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)

MAX_LINE = 65536
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class LoopbackLineServer:
    """Serve ``handle_line`` on ``host:port`` (loopback only) in a background thread.

    ``reply_delay()`` is asked before each reply (seconds to wait; the instrument busy),
    ``replies_muted()`` whether to withhold it (a stalled instrument), and
    ``on_overflow()`` is called when a client sends more than ``MAX_LINE`` bytes without a
    newline (the partial line is dropped).
    """

    def __init__(self, handle_line: Callable[[str], str | None], *, what: str,
                 host: str = "127.0.0.1", port: int = 0,
                 reply_delay: Callable[[], float] = lambda: 0.0,
                 replies_muted: Callable[[], bool] = lambda: False,
                 on_overflow: Callable[[], None] = lambda: None) -> None:
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"the {what} listens on loopback only, not {host!r}")
        self._handle_line = handle_line
        self._what = what
        self._reply_delay = reply_delay
        self._replies_muted = replies_muted
        self._on_overflow = on_overflow
        self._host = "127.0.0.1" if host == "localhost" else host
        self._port = int(port)
        self._conn_lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._conn: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._address: tuple[str, int] | None = None

    @property
    def started(self) -> bool:
        return self._thread is not None

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) actually bound."""
        if self._address is None:
            raise RuntimeError("not started")
        return self._address

    def start(self, thread_name: str) -> tuple[str, int]:
        """Bind, listen and serve in a background thread; returns (host, port)."""
        if self._thread is not None:
            raise RuntimeError(f"the {self._what} is already started")
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self._host, self._port))
        listener.listen(1)
        self._listener = listener
        self._address = listener.getsockname()[:2]
        self._thread = threading.Thread(target=self._serve, name=thread_name, daemon=True)
        self._thread.start()
        return self._address

    def close(self) -> None:
        """Stop serving and release the sockets. Idempotent."""
        self._stop.set()
        self._shutdown_client()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        if self._listener is not None:
            self._listener.close()

    def _serve(self) -> None:
        listener = self._listener
        assert listener is not None
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([listener], [], [], 0.1)
                if not ready:
                    continue
                try:
                    conn, peer = listener.accept()
                except OSError:
                    continue
                self._serve_client(conn, peer)
        except (OSError, ValueError) as exc:  # listener closed under us
            log.debug("server loop ended: %s", exc)
        finally:
            listener.close()

    def _serve_client(self, conn: socket.socket, peer: object) -> None:
        log.debug("client %s connected", peer)
        with self._conn_lock:
            self._conn = conn
        try:
            self._handle(conn)
        finally:
            with self._conn_lock:
                self._conn = None
            conn.close()
        log.debug("client %s left", peer)

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(0.1)
        buffer = b""
        while not self._stop.is_set():
            try:
                data = conn.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            buffer += data
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if not self._answer(conn, line):
                    return
            if len(buffer) > MAX_LINE:
                buffer = b""
                self._on_overflow()

    def _answer(self, conn: socket.socket, line: bytes) -> bool:
        """Execute one line and send its reply; False when the client is gone."""
        reply = self._handle_line(line.decode("ascii", "replace"))
        if reply is None:
            return True
        if delay := self._reply_delay():
            time.sleep(delay)
        if self._replies_muted():
            return True
        try:
            conn.sendall(reply.encode("ascii") + b"\n")
        except OSError:
            return False
        return True

    def _shutdown_client(self) -> None:
        with self._conn_lock:
            conn = self._conn
        if conn is not None:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
