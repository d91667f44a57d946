"""Instrument state of the simulated 33500-series generator and stimulus isolator.

The settings (function, frequency, pulse width, levels, load, burst, trigger, sync,
output) with the 33521A's ranges and interlocks, and what a ``*TRG`` does: schedule the
burst into the shared :class:`~sim_devices.world.SimWorld`, which the simulated amplifier
sees. :meth:`StimulatorInstrument.command_rows` maps SCPI headers to these settings; the
grammar that parses them is :mod:`sim_devices.scpi_grammar`, the socket
:mod:`sim_devices.loopback_line_server`.

A value out of range is refused (left unchanged) where a real 33500 would clip it: both
queue the error, and the driver treats any error as fatal.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from sim_devices.scpi_grammar import (OUT_OF_RANGE, SETTINGS_CONFLICT, TRIGGER_IGNORED,
                                      CommandRow, ScpiFailure, boolean, choice, fmt, no_args,
                                      number, single_arg)
from sim_devices.world import SimWorld

log = logging.getLogger(__name__)

DEFAULT_IDENTITY = "myoforce-sim,33521A-SIM,SIM0001,1.0"

# instrument ranges (33521A, pulse function)
FREQ_MIN, FREQ_MAX, FREQ_DEF = 1e-6, 30e6, 1e3
WIDTH_MIN, WIDTH_MAX, WIDTH_DEF = 16e-9, 1e6, 1e-4
NCYC_MAX = 100_000_000
LOAD_MIN, LOAD_MAX, LOAD_DEF = 1.0, 10e3, 50.0
V_MAX_HIGHZ = 10.0           # |V| limit into a high-impedance (INF) load
MIN_AMPLITUDE_HIGHZ = 0.002  # 1 mVpp into 50 ohm = 2 mVpp open circuit


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


def default_settings() -> dict:
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


class StimulatorInstrument:
    """The generator's settings and bursts; its methods run under the interpreter's lock."""

    def __init__(self, world: SimWorld, *, identity: str = DEFAULT_IDENTITY,
                 isolator_gain_mA_per_V: float = 1.0) -> None:
        if not isolator_gain_mA_per_V > 0:
            raise ValueError(f"isolator gain must be positive, got {isolator_gain_mA_per_V!r}")
        self.world = world
        self.identity = identity
        self.isolator_gain_mA_per_V = float(isolator_gain_mA_per_V)
        self.state = default_settings()
        self.bursts: list[Burst] = []

    def command_rows(self) -> list[CommandRow]:
        """(header pattern, setter, getter) for every instrument-specific command."""
        s = self._state_getter
        return [
            ("*IDN", None, lambda: self.identity),
            ("*RST", no_args(self._reset), None),
            ("*TRG", no_args(self._trigger), None),
            ("ABORt", no_args(self._cancel_bursts), None),
            ("[SOURce]:FUNCtion[:SHAPe]", self._set_function, s("function", str)),
            ("[SOURce]:FUNCtion:PULSe:WIDTh", self._set_width, s("pulse_width_s")),
            ("[SOURce]:FUNCtion:PULSe:PERiod", self._set_period,
             lambda: fmt(1.0 / self.state["frequency_hz"])),
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

    def _state_getter(self, key: str, kind: type = float) -> Callable[[], str]:
        def get() -> str:
            value = self.state[key]
            if kind is bool:
                return "1" if value else "0"
            if kind is str:
                return str(value)
            return fmt(float(value))
        return get

    # ------------------------------------------------------------------ settings
    def _reset(self) -> None:
        self._cancel_bursts()
        self.state = default_settings()

    def _load_factor(self) -> float:
        """Open-circuit volts per programmed volt: the generator assumes its load setting."""
        load = self.state["load_ohm"]
        return 1.0 if math.isinf(load) else (load + 50.0) / load

    def _v_limit(self) -> float:
        """Largest |programmed V| for the present load (10 V open circuit)."""
        return V_MAX_HIGHZ / self._load_factor()

    def _set_function(self, args: str) -> None:
        self.state["function"] = choice(single_arg(args),
                                        ("SINusoid", "SQUare", "RAMP", "PULSe", "NOISe", "DC"))

    def _set_width(self, args: str) -> None:
        width = number(single_arg(args), "s", {"MINimum": WIDTH_MIN, "MAXimum": WIDTH_MAX,
                                               "DEFault": WIDTH_DEF})
        if not WIDTH_MIN <= width <= WIDTH_MAX:
            raise ScpiFailure(OUT_OF_RANGE)
        if width >= 1.0 / self.state["frequency_hz"]:
            raise ScpiFailure(SETTINGS_CONFLICT)
        self.state["pulse_width_s"] = width

    def _apply_frequency(self, freq: float) -> None:
        if not FREQ_MIN <= freq <= FREQ_MAX:
            raise ScpiFailure(OUT_OF_RANGE)
        if self.state["pulse_width_s"] >= 1.0 / freq:
            raise ScpiFailure(SETTINGS_CONFLICT)
        self.state["frequency_hz"] = freq

    def _set_frequency(self, args: str) -> None:
        self._apply_frequency(number(single_arg(args), "Hz", {
            "MINimum": FREQ_MIN, "MAXimum": FREQ_MAX, "DEFault": FREQ_DEF}))

    def _set_period(self, args: str) -> None:
        period = number(single_arg(args), "s", {"MINimum": 1 / FREQ_MAX,
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
        self.state["volt_high"], self.state["volt_low"] = high, low

    def _set_high(self, args: str) -> None:
        limit = self._v_limit()
        high = number(single_arg(args), "V", {"MAXimum": limit, "MINimum": self.state["volt_low"]
                                              + MIN_AMPLITUDE_HIGHZ / self._load_factor()})
        self._set_levels(high, self.state["volt_low"])

    def _set_low(self, args: str) -> None:
        limit = self._v_limit()
        low = number(single_arg(args), "V", {"MINimum": -limit, "MAXimum": self.state["volt_high"]
                                             - MIN_AMPLITUDE_HIGHZ / self._load_factor()})
        self._set_levels(self.state["volt_high"], low)

    def _set_load(self, args: str) -> None:
        load = number(single_arg(args), "ohm", {"INFinity": math.inf, "MINimum": LOAD_MIN,
                                                "MAXimum": LOAD_MAX, "DEFault": LOAD_DEF})
        if not (math.isinf(load) or LOAD_MIN <= load <= LOAD_MAX):
            raise ScpiFailure(OUT_OF_RANGE)
        # the 33500 keeps the real output and re-expresses the displayed levels
        old = self._load_factor()
        self.state["load_ohm"] = load
        scale = old / self._load_factor()
        self.state["volt_high"] *= scale
        self.state["volt_low"] *= scale

    def _set_burst_mode(self, args: str) -> None:
        self.state["burst_mode"] = choice(single_arg(args), ("TRIGgered", "GATed"))

    def _set_ncycles(self, args: str) -> None:
        n = number(single_arg(args), "", {"MINimum": 1, "MAXimum": NCYC_MAX,
                                          "INFinity": math.inf})
        if math.isinf(n) or n != int(n) or not 1 <= n <= NCYC_MAX:
            # infinite bursts are not simulated
            raise ScpiFailure(OUT_OF_RANGE)
        self.state["burst_ncycles"] = int(n)

    def _set_burst_state(self, args: str) -> None:
        self.state["burst_state"] = boolean(single_arg(args))

    def _set_trigger_source(self, args: str) -> None:
        self.state["trigger_source"] = choice(single_arg(args),
                                              ("IMMediate", "EXTernal", "TIMer", "BUS"))

    def _set_sync(self, args: str) -> None:
        self.state["sync"] = boolean(single_arg(args))

    def _set_sync_mode(self, args: str) -> None:
        self.state["sync_mode"] = choice(single_arg(args), ("NORMal", "CARRier", "MARKer"))

    def _set_output(self, args: str) -> None:
        on = boolean(single_arg(args))
        self.state["output"] = on
        if not on:
            self._cancel_bursts()

    # ------------------------------------------------------------------ bursts
    def _trigger(self) -> None:
        st = self.state
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
        self.bursts.append(Burst(now, np.asarray(times), st["frequency_hz"],
                                 st["burst_ncycles"], current, width_ms, delivered, sync))

    def _cancel_bursts(self) -> None:
        cancelled = self.world.cancel_after()
        if cancelled and self.bursts:
            last = self.bursts[-1]
            self.bursts[-1] = replace(last, cancelled=last.cancelled + cancelled)
