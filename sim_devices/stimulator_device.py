"""A simulated 33500-series generator driving a stimulus isolator, on a real TCP socket.

It speaks docs/wire-protocols.md section 1 the way the instrument does (short and long
keyword forms, any case, an error queue with the instrument's codes, values refused when
out of range), so the driver is exercised through the genuine VISA stack
(``TCPIP0::127.0.0.1::<port>::SOCKET``). A ``*TRG`` schedules the burst into the shared
:class:`~sim_devices.world.SimWorld`, which is what the simulated amplifier sees.

This module assembles three rooms and adds fault injection:
:mod:`sim_devices.loopback_line_server` (the socket), :mod:`sim_devices.scpi_grammar`
(parsing, replies, error queue) and :mod:`sim_devices.stimulator_instrument` (settings,
ranges, bursts). Deliberate simplifications: one client at a time; one channel.
"""
from __future__ import annotations

import logging
import threading
from collections import deque

from sim_devices.loopback_line_server import MAX_LINE, LoopbackLineServer
from sim_devices.scpi_grammar import QUEUE_DEPTH, SYNTAX, ScpiFailure, ScpiInterpreter
from sim_devices.stimulator_instrument import DEFAULT_IDENTITY, Burst, StimulatorInstrument
from sim_devices.world import SimWorld

__all__ = ["DEFAULT_IDENTITY", "MAX_LINE", "QUEUE_DEPTH", "Burst", "ScpiFailure",
           "SimStimulatorServer", "StimulatorFaults"]

log = logging.getLogger(__name__)


class StimulatorFaults:
    """Fault injection for tests.

    ``queue_error(code, message)``: the next setting command is refused with that error.
    ``stall = True``: commands are still executed but queries get no reply.
    ``vanish()``: drop the connection and stop listening, like a device switched off.
    ``delay_replies(seconds, count)``: the next ``count`` replies come ``seconds`` late
    (the instrument busy: later commands wait too), so a driver's query can time out
    and the reply arrive while it asks something else.
    """

    def __init__(self, server: "SimStimulatorServer") -> None:
        self._server = server
        self._lock = threading.Lock()
        self._errors: deque[tuple[int, str]] = deque()
        self.stall = False
        self._delays: deque[float] = deque()

    def delay_replies(self, seconds: float, count: int = 1) -> None:
        with self._lock:
            self._delays.extend([float(seconds)] * int(count))

    def _take_delay(self) -> float:
        with self._lock:
            return self._delays.popleft() if self._delays else 0.0

    def queue_error(self, code: int, message: str) -> None:
        with self._lock:
            self._errors.append((int(code), str(message)))

    def _take_error(self) -> tuple[int, str] | None:
        with self._lock:
            return self._errors.popleft() if self._errors else None

    def vanish(self) -> None:
        self._server._vanish()


class SimStimulatorServer:
    """Simulated stimulator on ``host:port`` (loopback only). ``start()`` returns the
    VISA resource string; ``close()`` stops it. Inspect ``output_on``, ``state``,
    ``commands`` and ``bursts`` from tests."""

    def __init__(self, world: SimWorld, *, host: str = "127.0.0.1", port: int = 0,
                 identity: str = DEFAULT_IDENTITY,
                 isolator_gain_mA_per_V: float = 1.0) -> None:
        self.faults = StimulatorFaults(self)
        self._lock = threading.RLock()
        self._transport = LoopbackLineServer(
            self.execute_line, what="simulated stimulator", host=host, port=port,
            reply_delay=self.faults._take_delay, replies_muted=lambda: self.faults.stall,
            on_overflow=lambda: self._scpi.push_error(SYNTAX))
        self._instrument = StimulatorInstrument(world, identity=identity,
                                                isolator_gain_mA_per_V=isolator_gain_mA_per_V)
        self._scpi = ScpiInterpreter(self._instrument.command_rows(), lock=self._lock,
                                     injected_error=self.faults._take_error)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> str:
        """Listen and serve in a background thread; returns the VISA resource string."""
        self._transport.start("sim-stimulator")
        log.info("simulated stimulator on %s", self.resource)
        return self.resource

    def close(self) -> None:
        """Stop serving and release the sockets. Idempotent."""
        self._transport.close()

    def __enter__(self) -> "SimStimulatorServer":
        if not self._transport.started:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _vanish(self) -> None:
        log.info("simulated stimulator vanishes")
        self.close()

    def execute_line(self, line: str) -> str | None:
        """Execute one program message (units separated by ``;``); the reply line or None."""
        return self._scpi.execute_line(line)

    # ------------------------------------------------------------------ inspection
    @property
    def world(self) -> SimWorld:
        return self._instrument.world

    @property
    def identity(self) -> str:
        return self._instrument.identity

    @property
    def isolator_gain_mA_per_V(self) -> float:
        return self._instrument.isolator_gain_mA_per_V

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) actually bound."""
        return self._transport.address

    @property
    def resource(self) -> str:
        host, port = self.address
        return f"TCPIP0::{host}::{port}::SOCKET"

    @property
    def output_on(self) -> bool:
        with self._lock:
            return bool(self._instrument.state["output"])

    @property
    def state(self) -> dict:
        """A copy of the instrument settings (see ``default_settings`` for the keys)."""
        with self._lock:
            return dict(self._instrument.state)

    @property
    def commands(self) -> list[str]:
        """Every message unit received, in order, as text."""
        with self._lock:
            return list(self._scpi.commands)

    @property
    def bursts(self) -> list[Burst]:
        with self._lock:
            return list(self._instrument.bursts)

    @property
    def error_queue(self) -> list[tuple[int, str]]:
        with self._lock:
            return list(self._scpi.errors)
