"""The DAQ stimulator: pulse trains on a board's analog output into a voltage-controlled
stimulus isolator (Digitimer DS5, A-M Systems 2200, ...); implements
:class:`~drivers.capabilities.Stimulator`.

The output runs on the acquisition's clock and start trigger (see
:mod:`drivers.daq.force_source`), so a train is placed at a known input sample and the
markers are exact. Safety, in order:

* ``configure`` checks the stimulus against the rig's limits with the same check as
  every other stimulator (:func:`drivers.limits.check_stimulus`) and the
  isolator's input range (volts = mA / gain <= ``max_output_V``) before anything is
  written; on refusal nothing is queued;
* ``fire`` asks the fire-time interlock (:class:`drivers.fire_ledger.FireLedger`: rest
  after a train, interval between single pulses, mean rate, duty cycle; refused with
  ``TimelineLimitError`` and nothing queued), then queues the checked train; nothing
  else ever reaches the output;
* ``set_output(False)``, ``abort`` and ``close`` drop anything queued, and if any
  non-zero sample could still be generated, stop the output and drive it to 0 V; the
  acquisition loop does the same on every error.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from drivers.capabilities import StimulusSpec
from drivers.daq.force_source import DaqForceSource, call_hook
from drivers.daq.signals import PulseTrain, pulse_train
from drivers.errors import DeviceError, StimulusAborted
from drivers.fire_ledger import FireLedger
from drivers.limits import StimulusLimits, check_stimulus

#: fire() waits at most this long for the acquisition loop to place the train
PLACE_TIMEOUT_S = 2.0


class DaqStimulator:
    """Stimulation through the DAQ board's analog output."""

    def __init__(self, source: DaqForceSource, *, limits: StimulusLimits,
                 isolator_gain_mA_per_V: float, max_output_V: float,
                 on_command: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``clock`` is the fire-time interlock's (a test's hand-moved clock)."""
        if source.plan.ao is None:
            raise DeviceError("the DAQ plan has no analog output for stimulation ([daq.ao])")
        self._source = source
        self._limits = limits
        self._ledger = FireLedger(limits, clock=clock)
        self._gain = float(isolator_gain_mA_per_V)
        # never beyond what the output range can do, whatever the rig file says
        self._max_V = min(float(max_output_V), source.plan.ao.range_V)
        self._on_command = on_command
        self._lock = threading.Lock()
        self._train: PulseTrain | None = None
        self._spec: StimulusSpec | None = None
        self._aborts = 0
        self._armed_at = 0
        self._closed = False
        #: the first sample of every train placed, for tests and the audit log
        self.fired_at: list[int] = []

    @property
    def identity(self) -> str:
        ao = self._source.plan.qualified(self._source.plan.ao.physical)
        return (f"DAQ analog output {ao} -> voltage-controlled isolator "
                f"({self._gain:g} mA/V, max {self._max_V:g} V)")

    @property
    def configured(self) -> StimulusSpec | None:
        return self._spec

    @property
    def limits(self) -> StimulusLimits:
        return self._limits

    @property
    def fire_ledger(self) -> FireLedger:
        """The fire-time interlock: recent fires against the rules over time (and how
        long until a stimulus would be admitted: ``fire_ledger.fire_delay(spec)``)."""
        return self._ledger

    @property
    def isolator_gain_mA_per_V(self) -> float:
        return self._gain

    @property
    def max_output_V(self) -> float:
        """The highest voltage ever written: the rig file's, within the output's range."""
        return self._max_V

    @property
    def sample_grid_hz(self) -> float:
        """Pulses are generated on this clock: widths must be whole samples of it."""
        return self._source.sample_rate_hz

    def check(self, spec: StimulusSpec, *, requested_duration_ms: float | None = None) -> PulseTrain:
        """The rig's rules (the same as every stimulator's and the protocol validator's,
        output voltage through the isolator included), then the board's sample grid;
        LimitError and nothing written if any fails. Returns the rendered train."""
        check_stimulus(self._limits, spec, requested_duration_ms=requested_duration_ms,
                       isolator_gain_mA_per_V=self._gain, max_output_V=self._max_V)
        return pulse_train(spec, self._source.sample_rate_hz, self._gain, self._max_V)

    def configure(self, stimulus: StimulusSpec) -> None:
        """Check, then hold the rendered train; the output stays at 0 V."""
        self._require_open()
        with self._lock:
            self._train, self._spec = None, None
        train = self.check(stimulus)
        with self._lock:
            self._train, self._spec = train, stimulus
            self._armed_at = self._aborts
        self._command(f"CONF {stimulus.pulses} x {stimulus.current_mA:g} mA "
                      f"({train.volts.max():.4g} V) {stimulus.pulse_width_ms:g} ms"
                      + (f" at {stimulus.frequency_hz:g} Hz" if stimulus.pulses > 1 else ""))

    def fire(self) -> None:
        """Queue the configured train; returns once it is placed in the output stream
        (its first sample is then in :attr:`fired_at`)."""
        self._require_open()
        with self._lock:
            train, spec, aborted = self._train, self._spec, self._aborts != self._armed_at
        if aborted:
            raise StimulusAborted("the stimulus was aborted after it was configured; nothing fired")
        if train is None:
            raise DeviceError("fire() without a configured stimulus")
        if not self._source.ao_live:
            raise DeviceError("the DAQ analog output is not running (the acquisition is stopped "
                              "or was aborted); nothing fired")
        fire = self._ledger.admit(spec)     # TimelineLimitError: nothing queued
        placed, where = self._source.schedule.submit(train)
        if not placed.wait(PLACE_TIMEOUT_S) or not where:
            self._source.schedule.cancel()
            if not where:                   # never placed: no sample of it was written
                self._ledger.withdraw(fire)
            if self._aborts != self._armed_at:
                raise StimulusAborted("aborted while firing; output off")
            raise DeviceError("the DAQ acquisition did not take the stimulus within "
                              f"{PLACE_TIMEOUT_S:g} s; nothing fired")
        self.fired_at.append(where[0])
        self._command(f"FIRE at sample {where[0]}")

    def set_output(self, on: bool) -> None:
        """On: nothing to do (the output is 0 V except while a fired train plays).
        Off: drop what is queued; stop the output if a pulse could still come out."""
        if on:
            return
        schedule = self._source.schedule
        schedule.cancel()
        if schedule.live_after(self._source.read_position):
            self._source.output_off()
            self._command("OUTP OFF (output stopped at 0 V mid-train)")

    def abort(self) -> None:
        """Disarm, and stop the output at 0 V. Safe from any thread, any time."""
        with self._lock:
            self._aborts += 1
            self._train = None
        self._source.output_off()
        self._command("ABORT (output 0 V)")

    def read_errors(self) -> list[str]:
        return []

    def close(self) -> None:
        if self._closed:
            return
        try:
            self.abort()
        finally:
            self._closed = True

    def _require_open(self) -> None:
        if self._closed:
            raise DeviceError("the DAQ stimulator is closed")

    def _command(self, text: str) -> None:
        call_hook(self._on_command, text)
