"""A simulated 33500-series generator driving a stimulus isolator, on a real TCP socket.

It speaks docs/wire-protocols.md section 1 the way the instrument does (short and long
keyword forms, any case, an error queue with the instrument's codes, values refused when
out of range), so the driver is exercised through the genuine VISA stack
(``TCPIP0::127.0.0.1::<port>::SOCKET``). A ``*TRG`` schedules the burst into the shared
:class:`~sim_devices.world.SimWorld`, which is what the simulated amplifier sees.

Deliberate simplifications: one client at a time (a new one may connect after the previous
left); one channel; a value out of range is refused (left unchanged) where a real 33500
would clip it — both queue the error, and the driver treats any error as fatal.
"""
from __future__ import annotations

import logging
import math
import re
import select
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from sim_devices.world import SimWorld

log = logging.getLogger(__name__)

DEFAULT_IDENTITY = "myoforce-sim,33521A-SIM,SIM0001,1.0"

QUEUE_DEPTH = 20
MAX_LINE = 65536

# (code, message) as on the 33500
NO_ERROR = (0, "No error")
SYNTAX = (-102, "Syntax error")
PARAM_NOT_ALLOWED = (-108, "Parameter not allowed")
MISSING_PARAM = (-109, "Missing parameter")
UNDEFINED_HEADER = (-113, "Undefined header")
TRIGGER_IGNORED = (-211, "Trigger ignored")
SETTINGS_CONFLICT = (-221, "Settings conflict")
OUT_OF_RANGE = (-222, "Data out of range")
ILLEGAL_VALUE = (-224, "Illegal parameter value")
QUEUE_OVERFLOW = (-350, "Queue overflow")

# instrument ranges (33521A, pulse function)
FREQ_MIN, FREQ_MAX, FREQ_DEF = 1e-6, 30e6, 1e3
WIDTH_MIN, WIDTH_MAX, WIDTH_DEF = 16e-9, 1e6, 1e-4
NCYC_MAX = 100_000_000
LOAD_MIN, LOAD_MAX, LOAD_DEF = 1.0, 10e3, 50.0
V_MAX_HIGHZ = 10.0           # |V| limit into a high-impedance (INF) load
MIN_AMPLITUDE_HIGHZ = 0.002  # 1 mVpp into 50 ohm = 2 mVpp open circuit


class ScpiFailure(Exception):
    """A command failed; ``error`` goes into the queue."""

    def __init__(self, error: tuple[int, str]) -> None:
        super().__init__(f"{error[0]},{error[1]}")
        self.error = error


@dataclass(frozen=True, eq=False)
class Burst:
    """One triggered burst as the server scheduled it into the world."""

    world_time_s: float      # world time of the *TRG
    times_s: np.ndarray      # world times of the pulses
    frequency_hz: float
    pulses: int
    current_mA: float        # isolator output: open-circuit volts x gain
    width_ms: float
    delivered: bool          # main output was on
    sync: bool               # Sync output on: the pulses are marked in the force stream
    cancelled: int = 0       # pulses removed by ABOR / OUTP OFF


def _defaults() -> dict:
    """Settings after ``*RST`` (as on the 33500: sine, 1 kHz, 100 mVpp into 50 ohm)."""
    return {
        "function": "SIN",
        "frequency_hz": FREQ_DEF,
        "pulse_width_s": WIDTH_DEF,
        "volt_high": 0.05,
        "volt_low": -0.05,
        "load_ohm": LOAD_DEF,
        "burst_state": False,
        "burst_mode": "TRIG",
        "burst_ncycles": 1,
        "trigger_source": "IMM",
        "sync": True,
        "sync_mode": "NORM",
        "output": False,
    }


# ---------------------------------------------------------------------------- parsing

def _keyword(spec: str) -> tuple[str, str]:
    """``FREQuency`` -> (``FREQ``, ``FREQUENCY``): the short form is the upper-case part."""
    return "".join(c for c in spec if not c.islower()), spec.upper()


class _Header:
    """A SCPI header pattern such as ``[SOURce]:FUNCtion:PULSe:WIDTh`` (``[...]`` optional)."""

    def __init__(self, pattern: str) -> None:
        self.nodes: list[tuple[str, str, bool]] = []
        for part in re.findall(r"\[:?([^\]]+)\]|([^:\[\]]+)", pattern):
            optional, required = part
            short, long = _keyword(optional or required)
            self.nodes.append((short, long, bool(optional)))

    def matches(self, tokens: list[str]) -> bool:
        def walk(i: int, j: int) -> bool:
            if j == len(self.nodes):
                return i == len(tokens)
            short, long, optional = self.nodes[j]
            if i < len(tokens) and tokens[i] in (short, long) and walk(i + 1, j + 1):
                return True
            return optional and walk(i, j + 1)
        return walk(0, 0)


_NUMBER = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:E[+-]?\d+)?)\s*([A-Z]*)$")
_SUFFIX = {
    "s": {"": 1.0, "S": 1.0, "MS": 1e-3, "US": 1e-6, "NS": 1e-9},
    "Hz": {"": 1.0, "HZ": 1.0, "KHZ": 1e3, "MHZ": 1e6},  # SCPI: MHZ is megahertz
    "V": {"": 1.0, "V": 1.0, "MV": 1e-3},
    "ohm": {"": 1.0, "OHM": 1.0},
    "": {"": 1.0},
}


def _number(arg: str, unit: str, special: dict[str, float]) -> float:
    text = arg.strip().upper()
    for word, value in special.items():
        if text in _keyword(word):
            return value
    m = _NUMBER.match(text)
    if not m or m.group(2) not in _SUFFIX[unit]:
        raise ScpiFailure(SYNTAX)
    return float(m.group(1)) * _SUFFIX[unit][m.group(2)]


def _choice(arg: str, choices: tuple[str, ...]) -> str:
    """Match an enumerated argument in short or long form; returns the short form."""
    text = arg.strip().upper()
    for choice in choices:
        short, long = _keyword(choice)
        if text in (short, long):
            return short
    raise ScpiFailure(ILLEGAL_VALUE)


def _boolean(arg: str) -> bool:
    text = arg.strip().upper()
    if text in ("ON", "1"):
        return True
    if text in ("OFF", "0"):
        return False
    raise ScpiFailure(ILLEGAL_VALUE)


def _fmt(value: float) -> str:
    """Numeric reply in the 33500's format: ``+1.500000000000000E+02``."""
    if math.isinf(value):
        return "+9.9E+37"
    return f"{value:+.15E}"


# ---------------------------------------------------------------------------- faults

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


# ---------------------------------------------------------------------------- server

class SimStimulatorServer:
    """Simulated stimulator on ``host:port`` (loopback only). ``start()`` returns the
    VISA resource string; ``close()`` stops it. Inspect ``output_on``, ``state``,
    ``commands`` and ``bursts`` from tests."""

    def __init__(self, world: SimWorld, *, host: str = "127.0.0.1", port: int = 0,
                 identity: str = DEFAULT_IDENTITY,
                 isolator_gain_mA_per_V: float = 1.0) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the simulated stimulator listens on loopback only, not {host!r}")
        if not isolator_gain_mA_per_V > 0:
            raise ValueError(f"isolator gain must be positive, got {isolator_gain_mA_per_V!r}")
        self.world = world
        self.identity = identity
        self.isolator_gain_mA_per_V = float(isolator_gain_mA_per_V)
        self.faults = StimulatorFaults(self)
        self._host = "127.0.0.1" if host == "localhost" else host
        self._port = int(port)
        self._lock = threading.RLock()
        self._state = _defaults()
        self._errors: deque[tuple[int, str]] = deque()
        self._commands: list[str] = []
        self._bursts: list[Burst] = []
        self._listener: socket.socket | None = None
        self._conn: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._address: tuple[str, int] | None = None
        self._table = self._build_table()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> str:
        """Listen and serve in a background thread; returns the VISA resource string."""
        if self._thread is not None:
            raise RuntimeError("the simulated stimulator is already started")
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self._host, self._port))
        listener.listen(1)
        self._listener = listener
        self._address = listener.getsockname()[:2]
        self._thread = threading.Thread(target=self._serve, name="sim-stimulator", daemon=True)
        self._thread.start()
        log.info("simulated stimulator on %s", self.resource)
        return self.resource

    def close(self) -> None:
        """Stop serving and release the sockets. Idempotent."""
        self._stop.set()
        self._shutdown_client()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> "SimStimulatorServer":
        if self._thread is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ inspection
    @property
    def address(self) -> tuple[str, int]:
        """(host, port) actually bound."""
        if self._address is None:
            raise RuntimeError("not started")
        return self._address

    @property
    def resource(self) -> str:
        host, port = self.address
        return f"TCPIP0::{host}::{port}::SOCKET"

    @property
    def output_on(self) -> bool:
        with self._lock:
            return bool(self._state["output"])

    @property
    def state(self) -> dict:
        """A copy of the instrument settings (see ``_defaults`` for the keys)."""
        with self._lock:
            return dict(self._state)

    @property
    def commands(self) -> list[str]:
        """Every message unit received, in order, as text."""
        with self._lock:
            return list(self._commands)

    @property
    def bursts(self) -> list[Burst]:
        with self._lock:
            return list(self._bursts)

    @property
    def error_queue(self) -> list[tuple[int, str]]:
        with self._lock:
            return list(self._errors)

    # ------------------------------------------------------------------ socket loop
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
                log.debug("client %s connected", peer)
                with self._lock:
                    self._conn = conn
                try:
                    self._handle(conn)
                finally:
                    with self._lock:
                        self._conn = None
                    conn.close()
                log.debug("client %s left", peer)
        except (OSError, ValueError) as exc:  # listener closed under us
            log.debug("server loop ended: %s", exc)
        finally:
            listener.close()

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
                reply = self.execute_line(line.decode("ascii", "replace"))
                if reply is not None and (delay := self.faults._take_delay()):
                    time.sleep(delay)
                if reply is not None and not self.faults.stall:
                    try:
                        conn.sendall(reply.encode("ascii") + b"\n")
                    except OSError:
                        return
            if len(buffer) > MAX_LINE:
                buffer = b""
                self._push_error(SYNTAX)

    def _shutdown_client(self) -> None:
        with self._lock:
            conn = self._conn
        if conn is not None:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _vanish(self) -> None:
        log.info("simulated stimulator vanishes")
        self.close()

    # ------------------------------------------------------------------ SCPI
    def execute_line(self, line: str) -> str | None:
        """Execute one program message (units separated by ``;``); the reply line or None."""
        replies = []
        for unit in line.strip().split(";"):
            unit = unit.strip()
            if unit:
                reply = self._execute(unit)
                if reply is not None:
                    replies.append(reply)
        return ";".join(replies) if replies else None

    def _execute(self, unit: str) -> str | None:
        with self._lock:
            self._commands.append(unit)
            header, _, args = unit.partition(" ")
            if "\t" in header:
                header, _, rest = header.partition("\t")
                args = rest + " " + args
            args = args.strip()
            is_query = header.endswith("?")
            if is_query:
                header = header[:-1]
            tokens = self._tokens(header)
            entry = None
            if tokens is not None:
                entry = next((e for h, e in self._table if h.matches(tokens)), None)
            if entry is None:
                self._push_error(UNDEFINED_HEADER)
                return None
            setter, getter = entry
            handler = getter if is_query else setter
            if handler is None:
                self._push_error(UNDEFINED_HEADER)
                return None
            if not is_query:
                injected = self.faults._take_error()
                if injected is not None:
                    self._push_error(injected)
                    return None
            if is_query and args:
                self._push_error(PARAM_NOT_ALLOWED)
                return None
            try:
                return handler() if is_query else handler(args)
            except ScpiFailure as failure:
                self._push_error(failure.error)
                return None

    @staticmethod
    def _tokens(header: str) -> list[str] | None:
        """Upper-case keywords with a channel suffix ``1`` removed; None if malformed."""
        header = header.strip().upper().lstrip(":")
        if not header:
            return None
        tokens = []
        for token in header.split(":"):
            m = re.fullmatch(r"(\*?[A-Z]+)(\d*)", token)
            if not m or m.group(2) not in ("", "1"):
                return None
            tokens.append(m.group(1))
        return tokens

    def _push_error(self, error: tuple[int, str]) -> None:
        with self._lock:
            if len(self._errors) < QUEUE_DEPTH:
                self._errors.append(error)
            else:
                self._errors[-1] = QUEUE_OVERFLOW

    def _build_table(self) -> list[tuple[_Header, tuple[Callable | None, Callable | None]]]:
        s = self._state_getter
        rows: list[tuple[str, Callable | None, Callable | None]] = [
            ("*IDN", None, lambda: self.identity),
            ("*RST", self._no_args(self._reset), None),
            ("*CLS", self._no_args(self._errors.clear), None),
            ("*OPC", self._no_args(lambda: None), lambda: "1"),
            ("*WAI", self._no_args(lambda: None), None),
            ("*TRG", self._no_args(self._trigger), None),
            ("ABORt", self._no_args(self._abort), None),
            ("SYSTem:ERRor[:NEXT]", None, self._next_error),
            ("[SOURce]:FUNCtion[:SHAPe]", self._set_function, s("function", str)),
            ("[SOURce]:FUNCtion:PULSe:WIDTh", self._set_width, s("pulse_width_s")),
            ("[SOURce]:FUNCtion:PULSe:PERiod", self._set_period,
             lambda: _fmt(1.0 / self._state["frequency_hz"])),
            ("[SOURce]:FREQuency[:CW]", self._set_frequency, s("frequency_hz")),
            ("[SOURce]:VOLTage:HIGH", self._set_high, s("volt_high")),
            ("[SOURce]:VOLTage:LOW", self._set_low, s("volt_low")),
            ("[SOURce]:BURSt:MODE", self._set_burst_mode, s("burst_mode", str)),
            ("[SOURce]:BURSt:NCYCles", self._set_ncycles, s("burst_ncycles")),
            ("[SOURce]:BURSt:STATe", self._set_burst_state, s("burst_state", bool)),
            ("TRIGger[:SEQuence]:SOURce", self._set_trigger_source, s("trigger_source", str)),
            ("OUTPut:LOAD", self._set_load, s("load_ohm")),
            ("OUTPut:SYNC:MODE", self._set_sync_mode, s("sync_mode", str)),
            ("OUTPut:SYNC[:STATe]", self._set_sync, s("sync", bool)),
            ("OUTPut[:STATe]", self._set_output, s("output", bool)),
        ]
        return [(_Header(pattern), (setter, getter)) for pattern, setter, getter in rows]

    def _state_getter(self, key: str, kind: type = float) -> Callable[[], str]:
        def get() -> str:
            value = self._state[key]
            if kind is bool:
                return "1" if value else "0"
            if kind is str:
                return str(value)
            return _fmt(float(value))
        return get

    @staticmethod
    def _no_args(action: Callable[[], object]) -> Callable[[str], None]:
        def run(args: str) -> None:
            if args:
                raise ScpiFailure(PARAM_NOT_ALLOWED)
            action()
        return run

    @staticmethod
    def _arg(args: str) -> str:
        if not args:
            raise ScpiFailure(MISSING_PARAM)
        if "," in args:
            raise ScpiFailure(PARAM_NOT_ALLOWED)
        return args

    # ------------------------------------------------------------------ behaviour
    def _next_error(self) -> str:
        code, message = self._errors.popleft() if self._errors else NO_ERROR
        return f'{code:+d},"{message}"'

    def _reset(self) -> None:
        self._cancel_bursts()
        self._state = _defaults()

    def _load_factor(self) -> float:
        """Open-circuit volts per programmed volt: the generator assumes its load setting."""
        load = self._state["load_ohm"]
        return 1.0 if math.isinf(load) else (load + 50.0) / load

    def _v_limit(self) -> float:
        """Largest |programmed V| for the present load (10 V open circuit)."""
        return V_MAX_HIGHZ / self._load_factor()

    def _set_function(self, args: str) -> None:
        self._state["function"] = _choice(self._arg(args),
                                          ("SINusoid", "SQUare", "RAMP", "PULSe", "NOISe", "DC"))

    def _set_width(self, args: str) -> None:
        width = _number(self._arg(args), "s", {"MINimum": WIDTH_MIN, "MAXimum": WIDTH_MAX,
                                               "DEFault": WIDTH_DEF})
        if not WIDTH_MIN <= width <= WIDTH_MAX:
            raise ScpiFailure(OUT_OF_RANGE)
        if width >= 1.0 / self._state["frequency_hz"]:
            raise ScpiFailure(SETTINGS_CONFLICT)
        self._state["pulse_width_s"] = width

    def _apply_frequency(self, freq: float) -> None:
        if not FREQ_MIN <= freq <= FREQ_MAX:
            raise ScpiFailure(OUT_OF_RANGE)
        if self._state["pulse_width_s"] >= 1.0 / freq:
            raise ScpiFailure(SETTINGS_CONFLICT)
        self._state["frequency_hz"] = freq

    def _set_frequency(self, args: str) -> None:
        self._apply_frequency(_number(self._arg(args), "Hz", {
            "MINimum": FREQ_MIN, "MAXimum": FREQ_MAX, "DEFault": FREQ_DEF}))

    def _set_period(self, args: str) -> None:
        period = _number(self._arg(args), "s", {"MINimum": 1 / FREQ_MAX,
                                                "MAXimum": 1 / FREQ_MIN, "DEFault": 1 / FREQ_DEF})
        if not period > 0:
            raise ScpiFailure(OUT_OF_RANGE)
        self._apply_frequency(1.0 / period)

    def _set_levels(self, high: float, low: float) -> None:
        limit = self._v_limit()
        if not (-limit - 1e-12 <= low and high <= limit + 1e-12):
            raise ScpiFailure(OUT_OF_RANGE)
        if high - low < MIN_AMPLITUDE_HIGHZ / self._load_factor() - 1e-12:
            raise ScpiFailure(OUT_OF_RANGE if high > low else SETTINGS_CONFLICT)
        self._state["volt_high"], self._state["volt_low"] = high, low

    def _set_high(self, args: str) -> None:
        limit = self._v_limit()
        high = _number(self._arg(args), "V", {"MAXimum": limit, "MINimum": self._state["volt_low"]
                                              + MIN_AMPLITUDE_HIGHZ / self._load_factor()})
        self._set_levels(high, self._state["volt_low"])

    def _set_low(self, args: str) -> None:
        limit = self._v_limit()
        low = _number(self._arg(args), "V", {"MINimum": -limit, "MAXimum": self._state["volt_high"]
                                             - MIN_AMPLITUDE_HIGHZ / self._load_factor()})
        self._set_levels(self._state["volt_high"], low)

    def _set_load(self, args: str) -> None:
        load = _number(self._arg(args), "ohm", {"INFinity": math.inf, "MINimum": LOAD_MIN,
                                                "MAXimum": LOAD_MAX, "DEFault": LOAD_DEF})
        if not (math.isinf(load) or LOAD_MIN <= load <= LOAD_MAX):
            raise ScpiFailure(OUT_OF_RANGE)
        # the 33500 keeps the real output and re-expresses the displayed levels
        old = self._load_factor()
        self._state["load_ohm"] = load
        scale = old / self._load_factor()
        self._state["volt_high"] *= scale
        self._state["volt_low"] *= scale

    def _set_burst_mode(self, args: str) -> None:
        self._state["burst_mode"] = _choice(self._arg(args), ("TRIGgered", "GATed"))

    def _set_ncycles(self, args: str) -> None:
        n = _number(self._arg(args), "", {"MINimum": 1, "MAXimum": NCYC_MAX,
                                          "INFinity": math.inf})
        if math.isinf(n) or n != int(n) or not 1 <= n <= NCYC_MAX:
            # infinite bursts are not simulated
            raise ScpiFailure(OUT_OF_RANGE)
        self._state["burst_ncycles"] = int(n)

    def _set_burst_state(self, args: str) -> None:
        self._state["burst_state"] = _boolean(self._arg(args))

    def _set_trigger_source(self, args: str) -> None:
        self._state["trigger_source"] = _choice(self._arg(args),
                                                ("IMMediate", "EXTernal", "TIMer", "BUS"))

    def _set_sync(self, args: str) -> None:
        self._state["sync"] = _boolean(self._arg(args))

    def _set_sync_mode(self, args: str) -> None:
        self._state["sync_mode"] = _choice(self._arg(args), ("NORMal", "CARRier", "MARKer"))

    def _set_output(self, args: str) -> None:
        on = _boolean(self._arg(args))
        self._state["output"] = on
        if not on:
            self._cancel_bursts()

    def _abort(self) -> None:
        self._cancel_bursts()

    def _trigger(self) -> None:
        st = self._state
        if not (st["burst_state"] and st["burst_mode"] == "TRIG"
                and st["trigger_source"] == "BUS"):
            raise ScpiFailure(TRIGGER_IGNORED)
        if st["function"] != "PULS":
            log.warning("*TRG with function %s: only pulse bursts are simulated", st["function"])
            return
        delivered = bool(st["output"])
        sync = bool(st["sync"])
        # the isolator converts the pulse level it sees (open-circuit volts) into current
        current = max(0.0, st["volt_high"]) * self._load_factor() * self.isolator_gain_mA_per_V
        width_ms = st["pulse_width_s"] * 1000.0
        now = self.world.now()
        if delivered or sync:
            # The world marks every pulse it holds (the Sync line); with Sync off but the
            # output on the pulses still reach the nerve, and are marked anyway.
            times = self.world.schedule_burst(st["frequency_hz"], st["burst_ncycles"], current,
                                              width_ms, delivered=delivered)
        else:
            times = np.zeros(0)
        self._bursts.append(Burst(now, np.asarray(times), st["frequency_hz"],
                                  st["burst_ncycles"], current, width_ms, delivered, sync))

    def _cancel_bursts(self) -> None:
        cancelled = self.world.cancel_after()
        if cancelled and self._bursts:
            last = self._bursts[-1]
            self._bursts[-1] = replace(last, cancelled=last.cancelled + cancelled)
