"""SCPI grammar of the simulated instruments: headers, arguments, replies and the error queue.

What any SCPI instrument does with a program message, independent of what it controls:
keywords matched in short or long form and any case (``[...]`` nodes optional, a channel
suffix ``1`` accepted), numbers with unit suffixes and ``MIN``/``MAX``/``DEF`` words,
enumerations and booleans, numeric replies in the 33500's format, and an error queue of
(code, message) pairs with the standard codes. :class:`ScpiInterpreter` executes message
units against a table of (header pattern, setter, getter) rows that an instrument supplies.
"""
from __future__ import annotations

import math
import re
import threading
from collections import deque
from typing import Callable

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

QUEUE_DEPTH = 20

Setter = Callable[[str], None]
Getter = Callable[[], str]
CommandRow = tuple[str, "Setter | None", "Getter | None"]


class ScpiFailure(Exception):
    """A command failed; ``error`` goes into the queue."""

    def __init__(self, error: tuple[int, str]) -> None:
        super().__init__(f"{error[0]},{error[1]}")
        self.error = error


# ---------------------------------------------------------------------------- headers

def keyword(spec: str) -> tuple[str, str]:
    """``FREQuency`` -> (``FREQ``, ``FREQUENCY``): the short form is the upper-case part."""
    return "".join(c for c in spec if not c.islower()), spec.upper()


class Header:
    """A SCPI header pattern such as ``[SOURce]:FUNCtion:PULSe:WIDTh`` (``[...]`` optional)."""

    def __init__(self, pattern: str) -> None:
        self.nodes: list[tuple[str, str, bool]] = []
        for part in re.findall(r"\[:?([^\]]+)\]|([^:\[\]]+)", pattern):
            optional, required = part
            short, long = keyword(optional or required)
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


def header_tokens(header: str) -> list[str] | None:
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


# ---------------------------------------------------------------------------- arguments

_NUMBER = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:E[+-]?\d+)?)\s*([A-Z]*)$")
_SUFFIX = {
    "s": {"": 1.0, "S": 1.0, "MS": 1e-3, "US": 1e-6, "NS": 1e-9},
    "Hz": {"": 1.0, "HZ": 1.0, "KHZ": 1e3, "MHZ": 1e6},  # SCPI: MHZ is megahertz
    "V": {"": 1.0, "V": 1.0, "MV": 1e-3},
    "ohm": {"": 1.0, "OHM": 1.0},
    "": {"": 1.0},
}


def number(arg: str, unit: str, special: dict[str, float]) -> float:
    """A numeric argument in ``unit`` (suffixes scale it), or one of the ``special`` words."""
    text = arg.strip().upper()
    for word, value in special.items():
        if text in keyword(word):
            return value
    m = _NUMBER.match(text)
    if not m or m.group(2) not in _SUFFIX[unit]:
        raise ScpiFailure(SYNTAX)
    return float(m.group(1)) * _SUFFIX[unit][m.group(2)]


def choice(arg: str, choices: tuple[str, ...]) -> str:
    """Match an enumerated argument in short or long form; returns the short form."""
    text = arg.strip().upper()
    for option in choices:
        short, long = keyword(option)
        if text in (short, long):
            return short
    raise ScpiFailure(ILLEGAL_VALUE)


def boolean(arg: str) -> bool:
    text = arg.strip().upper()
    if text in ("ON", "1"):
        return True
    if text in ("OFF", "0"):
        return False
    raise ScpiFailure(ILLEGAL_VALUE)


def single_arg(args: str) -> str:
    """The one argument of a setting command (missing or several: the standard errors)."""
    if not args:
        raise ScpiFailure(MISSING_PARAM)
    if "," in args:
        raise ScpiFailure(PARAM_NOT_ALLOWED)
    return args


def no_args(action: Callable[[], object]) -> Setter:
    """A setter for a command that takes no argument (``*RST``, ``ABORt``)."""
    def run(args: str) -> None:
        if args:
            raise ScpiFailure(PARAM_NOT_ALLOWED)
        action()
    return run


def fmt(value: float) -> str:
    """Numeric reply in the 33500's format: ``+1.500000000000000E+02``."""
    if math.isinf(value):
        return "+9.9E+37"
    return f"{value:+.15E}"


# ---------------------------------------------------------------------------- interpreter

class ScpiInterpreter:
    """Executes program messages against ``rows`` plus the common commands and error queue.

    Every message unit is recorded in ``commands``. ``injected_error()`` is asked before
    each setting command runs: an error it returns is queued instead (fault injection).
    All state is guarded by ``lock``, which the instrument's handlers run under.
    """

    def __init__(self, rows: list[CommandRow], *, lock: threading.RLock,
                 injected_error: Callable[[], tuple[int, str] | None] = lambda: None) -> None:
        self.lock = lock
        self.errors: deque[tuple[int, str]] = deque()
        self.commands: list[str] = []
        self._injected_error = injected_error
        common: list[CommandRow] = [
            ("*CLS", no_args(self.errors.clear), None),
            ("*OPC", no_args(lambda: None), lambda: "1"),
            ("*WAI", no_args(lambda: None), None),
            ("SYSTem:ERRor[:NEXT]", None, self._next_error),
        ]
        self._table = [(Header(pattern), (setter, getter))
                       for pattern, setter, getter in common + rows]

    def execute_line(self, line: str) -> str | None:
        """Execute one program message (units separated by ``;``); the reply line or None."""
        replies = []
        for unit in line.strip().split(";"):
            unit = unit.strip()
            if unit:
                reply = self.execute_unit(unit)
                if reply is not None:
                    replies.append(reply)
        return ";".join(replies) if replies else None

    def execute_unit(self, unit: str) -> str | None:
        with self.lock:
            self.commands.append(unit)
            header, is_query, args = _split_unit(unit)
            handler = self._handler(header, is_query)
            if handler is None:
                self.push_error(UNDEFINED_HEADER)
                return None
            if not is_query:
                injected = self._injected_error()
                if injected is not None:
                    self.push_error(injected)
                    return None
            if is_query and args:
                self.push_error(PARAM_NOT_ALLOWED)
                return None
            try:
                return handler() if is_query else handler(args)
            except ScpiFailure as failure:
                self.push_error(failure.error)
                return None

    def _handler(self, header: str, is_query: bool) -> Callable | None:
        tokens = header_tokens(header)
        if tokens is None:
            return None
        entry = next((e for h, e in self._table if h.matches(tokens)), None)
        if entry is None:
            return None
        setter, getter = entry
        return getter if is_query else setter

    def push_error(self, error: tuple[int, str]) -> None:
        with self.lock:
            if len(self.errors) < QUEUE_DEPTH:
                self.errors.append(error)
            else:
                self.errors[-1] = QUEUE_OVERFLOW

    def _next_error(self) -> str:
        code, message = self.errors.popleft() if self.errors else NO_ERROR
        return f'{code:+d},"{message}"'


def _split_unit(unit: str) -> tuple[str, bool, str]:
    """(header without ``?``, is it a query, argument text) of one message unit."""
    header, _, args = unit.partition(" ")
    if "\t" in header:
        header, _, rest = header.partition("\t")
        args = rest + " " + args
    args = args.strip()
    is_query = header.endswith("?")
    if is_query:
        header = header[:-1]
    return header, is_query, args
