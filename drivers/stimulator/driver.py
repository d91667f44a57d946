"""ScpiStimulator: the nerve stimulator driver (a 33500-series generator into an isolator).

Safety is the point of this module: limits are checked before a byte is sent (each
stimulus at configure, the rules over time at fire: ``drivers.fire_ledger``), any failure
inside configure/fire switches the output off before the error propagates, abort works from
any thread while another call is blocked, and close always sends ``OUTP OFF`` first.

Concurrency model: ``self._lock`` serializes whole operations (a configure is ~15 commands);
the transport's lock serializes single messages. ``abort`` does not take the operation lock:
it bumps an abort counter, then sends ``ABOR``/``OUTP OFF`` between two messages of whatever
is running (or, if a query is stuck waiting, through the transport's lock-free urgent path).
Every command of a running operation is sent only after checking, under the transport lock,
that no abort happened since the operation began, so nothing can switch the output back on
after an abort.

One class, on purpose: every path that can switch the output on or off (configure, fire,
set_output, abort, close) shares the operation lock, the abort counter and the
responsiveness/off-confirmation state, and the safety ordering above is readable only
where they sit together. What needs none of that is pure and tested byte-exact on its
own: the SCPI grammar, command sequences, pulse-shape ordering, reply parsing and the
error-queue drain are ``scpi.py``; the best-effort switch-off and its ``OUTP?``
confirmation are ``switch_off.py``; the limits are ``drivers.limits``.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from typing import Callable

from drivers.capabilities import StimulusSpec
from drivers.errors import DeviceDisconnected, DeviceError, DeviceTimeout, StimulusAborted
from drivers.fire_ledger import FireLedger
from drivers.limits import StimulusLimits
from drivers.stimulator import scpi, switch_off
from drivers.transports import CommandTransport

log = logging.getLogger(__name__)


class ScpiStimulator:
    """A :class:`~drivers.capabilities.Stimulator` speaking docs/wire-protocols.md section 1.

    Use :meth:`open` for a VISA resource, or :meth:`attach` for an already open transport.
    """

    #: how long abort waits for a message in progress before using the urgent path
    ABORT_WAIT_S = 0.25
    #: how long ``OUTP?`` may take to confirm "off" once the stimulator has stopped answering:
    #: asked once, briefly, so the run ends within a second of the fault being detected
    CONFIRM_UNRESPONSIVE_S = 0.3

    def __init__(self, transport: CommandTransport, *, limits: StimulusLimits,
                 isolator_gain_mA_per_V: float = 1.0, max_output_V: float = 10.0,
                 timeout_s: float = 2.0, on_command: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Wrap ``transport`` without talking to it (see :meth:`attach`); ``clock`` is
        the fire-time interlock's (a test's hand-moved clock)."""
        for name, value in (("isolator gain", isolator_gain_mA_per_V),
                            ("maximum output voltage", max_output_V), ("timeout", timeout_s)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        self._t: CommandTransport | None = transport
        self._limits = limits
        self._ledger = FireLedger(limits, clock=clock)
        self._gain = float(isolator_gain_mA_per_V)
        self._max_V = float(max_output_V)
        self._timeout_s = float(timeout_s)
        self._on_command = on_command
        self._lock = threading.RLock()
        self._abort_lock = threading.Lock()
        self._abort_count = 0
        self._armed_at = 0              # abort count when configure() last succeeded
        self._identity = ""
        self._idn: scpi.Identity | None = None
        self._configured: StimulusSpec | None = None
        # width and period believed programmed; None = unknown, ask the instrument
        self._shape: scpi.PulseShape | None = None
        self._unresponsive = False      # a query timed out and nothing has answered since
        self._off_confirmed: bool | None = None   # last OUTP OFF confirmed by OUTP?

    # ------------------------------------------------------------------ construction
    @classmethod
    def open(cls, resource: str, *, limits: StimulusLimits,
             isolator_gain_mA_per_V: float = 1.0, max_output_V: float = 10.0,
             timeout_s: float = 2.0, on_command: Callable[[str], None] | None = None,
             clock: Callable[[], float] = time.monotonic) -> "ScpiStimulator":
        """Open a VISA resource, identify it and program the safe baseline (output off)."""
        from drivers.transports.visa import VisaTransport  # pyvisa only when really used

        transport = VisaTransport.open(resource, timeout_s)
        try:
            return cls.attach(transport, limits=limits,
                              isolator_gain_mA_per_V=isolator_gain_mA_per_V,
                              max_output_V=max_output_V, timeout_s=timeout_s,
                              on_command=on_command, clock=clock)
        except BaseException:
            transport.close()
            raise

    @classmethod
    def attach(cls, transport: CommandTransport, **options) -> "ScpiStimulator":
        """Initialize over an open transport: ``*IDN?``, ``OUTP OFF``, ``*RST``, ``*CLS``,
        the baseline configuration, then the error queue must be empty.

        ``*RST`` makes the instrument's state known, whatever was left on it; the driver
        tracks it from there. If anything fails the output is switched off and the
        transport is left to the caller to close.
        """
        stim = cls(transport, **options)
        with stim._lock:
            try:
                stim._identity, stim._idn = scpi.identify_and_reset(
                    stim._query, stim._send, stim._raise_queued_errors,
                    getattr(transport, "resource_name", "the stimulator"))
                if not stim._idn.is_33500_family:
                    log.warning("stimulator %s is not a 33500-series generator; "
                                "its SCPI may differ", stim._identity)
                stim._shape = scpi.BASELINE_SHAPE
            except BaseException:
                stim._safe_off()
                raise
        log.info("stimulator %s ready (isolator %g mA/V)", stim._identity, stim._gain)
        return stim

    # ------------------------------------------------------------------ properties
    @property
    def identity(self) -> str:
        """The instrument's ``*IDN?`` reply."""
        return self._identity

    @property
    def identification(self) -> scpi.Identity | None:
        return self._idn

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
        return self._max_V

    @property
    def configured(self) -> StimulusSpec | None:
        """The stimulus the instrument holds, or None until a configure succeeds."""
        return self._configured

    @property
    def closed(self) -> bool:
        return self._t is None

    @property
    def responsive(self) -> bool:
        """False once a query has timed out, until the stimulator answers again."""
        return not self._unresponsive

    @property
    def off_confirmed(self) -> bool | None:
        """Whether the last switch-off (abort/close) was confirmed with ``OUTP?``: True,
        False (sent but the stimulator did not confirm: report it), None (none yet)."""
        return self._off_confirmed

    # ------------------------------------------------------------------ checks
    def check(self, spec: StimulusSpec, *, requested_duration_ms: float | None = None) -> None:
        """Raise :class:`LimitError` if ``spec`` may not be sent; sends nothing.

        The rules are the rig's (:meth:`StimulusLimits.stimulus_problems`), the same ones
        the protocol validator applies, plus this generator's output voltage."""
        self._limits.check_stimulus(spec, requested_duration_ms=requested_duration_ms,
                                    isolator_gain_mA_per_V=self._gain, max_output_V=self._max_V)

    # ------------------------------------------------------------------ Stimulator
    def configure(self, stimulus: StimulusSpec) -> None:
        """Check limits (nothing sent on failure), program ``stimulus`` with the output off,
        then drain the error queue: any instrument error raises InstrumentError."""
        self.check(stimulus)
        with self._lock:
            self._require_open()
            start = self._abort_count
            try:
                self._configured = None
                # the shape programmed now: tracked, or asked after a failed configure
                shape = self._shape or scpi.read_shape(lambda command: self._query(command, start))
                self._shape = None
                for command in scpi.configure_commands(stimulus, self._gain, shape):
                    self._send(command, start)
                self._raise_queued_errors(start)
                self._shape = scpi.pulse_shape(stimulus)
                self._configured = stimulus
                self._armed_at = start
            except BaseException:
                self._safe_off()
                raise

    def fire(self) -> None:
        """``OUTP ON``, ``*TRG``, ``*OPC?``, then the error queue must be empty.

        First the fire-time interlock (:class:`~drivers.fire_ledger.FireLedger`): a fire
        that would break the rest, interval, rate or duty-cycle rule raises
        :class:`~drivers.errors.TimelineLimitError` and sends nothing. ``*OPC?`` may wait
        for the burst (:func:`scpi.opc_timeout_s`). The caller switches the output off after.
        """
        with self._lock:
            self._require_open()
            spec = self._configured
            if spec is None:
                raise DeviceError("fire() needs a successful configure() first")
            # an abort since configure() disarms: fire() refuses even if the abort came
            # between the caller's last check and this call (no race window for pulses)
            start = self._armed_at
            self._check_abort(start, scpi.FIRE[0])
            fire, triggered = self._ledger.admit(spec), False
            try:
                for command in scpi.FIRE:
                    if command == scpi.TRIGGER:
                        self._check_abort(start, command)
                        triggered = True
                    self._send(command, start)
                scpi.check_opc(self._query(scpi.OPC, start,
                                           timeout_s=scpi.opc_timeout_s(self._timeout_s, spec)))
                self._raise_queued_errors(start)
            except BaseException:
                if not triggered:               # nothing reached the muscle
                    self._ledger.withdraw(fire)
                self._safe_off()
                raise

    def set_output(self, on: bool) -> None:
        """Switch the main output on or off and confirm it with ``OUTP?``.

        ``OUTP?`` (not ``*OPC?``, which may wait for a burst in progress) makes the call
        return only once the instrument has applied the change.
        """
        with self._lock:
            self._require_open()
            start = self._abort_count if on else None
            try:
                self._send(scpi.output_command(on), start)
                state = scpi.parse_bool(self._query(scpi.OUTPUT_QUERY, start), scpi.OUTPUT_QUERY)
                if state != bool(on):
                    self._raise_queued_errors(start)
                    raise DeviceError(f"the stimulator output did not switch "
                                      f"{'on' if on else 'off'} (OUTP? says {int(state)})")
            except BaseException:
                if on:
                    self._safe_off()
                raise

    def abort(self) -> None:
        """``ABOR``, ``OUTP OFF`` now, from any thread; never raises.

        Operations in progress in other threads stop at their next command (with
        StimulusAborted). If a message is stuck for ABORT_WAIT_S (a query waiting on a
        silent device), the commands go out through the urgent path. With the lock, the
        result is confirmed with ``OUTP?``.
        """
        with self._abort_lock:
            self._abort_count += 1
        t = self._t
        if t is None:
            return
        got = t.lock.acquire(timeout=self.ABORT_WAIT_S)
        try:
            if not got:
                log.warning("abort: the stimulator is busy; sending ABOR/OUTP OFF urgently")
            write = t.write if got else t.write_urgent
            if not switch_off.send_off_commands(lambda c: self._write(write, c), scpi.ABORT,
                                                "abort"):
                self._off_confirmed = False
                return
            if got:
                self._confirm_off(t, "abort")
        except Exception as exc:  # abort must never raise
            log.error("abort: %s", exc)
        finally:
            if got:
                t.lock.release()

    def read_errors(self) -> list[str]:
        """Drain ``SYST:ERR?``; entries as the instrument wrote them (``-113,"Undefined header"``)."""
        with self._lock:
            self._require_open()
            return [str(e) for e in scpi.drain_errors(self._query)]

    def close(self) -> None:
        """``OUTP OFF`` first, always (then ``ABOR`` and an ``OUTP?`` check), then release.

        Never raises for a device that is already gone: there is nothing left to switch off.
        """
        t = self._t
        if t is None:
            return
        got = self._lock.acquire(timeout=self.ABORT_WAIT_S)
        try:
            if not got:
                # another thread is mid-operation: output off now, stop it, then wait
                log.warning("close: the stimulator is busy; switching off urgently")
                try:
                    self._write(t.write_urgent, scpi.OUTPUT_OFF)
                except Exception as exc:
                    log.error("close: OUTP OFF failed: %s", exc)
                self.abort()
                got = self._lock.acquire(timeout=self._timeout_s + 1.0)
            if got:
                if switch_off.send_off_commands(self._send, scpi.CLOSE, "close"):
                    self._confirm_off(t, "close")
                else:
                    self._off_confirmed = False
        finally:
            self._t = None
            try:
                t.close()
            except Exception as exc:
                log.error("close: releasing the transport failed: %s", exc)
            if got:
                self._lock.release()

    # ------------------------------------------------------------------ conveniences
    def single_pulse(self, current_mA: float, pulse_width_ms: float) -> StimulusSpec:
        """Configure and fire one pulse; returns the stimulus used."""
        spec = StimulusSpec(current_mA, pulse_width_ms)
        self.configure(spec)
        self.fire()
        return spec

    def train(self, current_mA: float, pulse_width_ms: float, frequency_hz: float,
              duration_ms: float) -> StimulusSpec:
        """Configure and fire a train; returns the stimulus used (pulse count rounded).

        The requested duration is checked as well as the rounded one, so a bad request
        (e.g. a zero duration) is refused rather than turned into a single pulse.
        """
        self._limits.check(current_mA, pulse_width_ms, frequency_hz, duration_ms)
        spec = StimulusSpec.train(current_mA, pulse_width_ms, frequency_hz, duration_ms)
        self.check(spec, requested_duration_ms=duration_ms)
        self.configure(spec)
        self.fire()
        return spec

    def __enter__(self) -> "ScpiStimulator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ScpiStimulator({self._identity!r}{', closed' if self.closed else ''})"

    # ------------------------------------------------------------------ internals
    def _require_open(self) -> CommandTransport:
        if self._t is None:
            raise DeviceDisconnected("the stimulator is closed")
        return self._t

    def _notify(self, command: str) -> None:
        if self._on_command is not None:
            try:
                self._on_command(command)
            except Exception as exc:  # an audit hook must not break the safety path
                log.error("on_command hook failed for %r: %s", command, exc)

    def _check_abort(self, start: int | None, command: str) -> None:
        if start is not None and start != self._abort_count:
            raise StimulusAborted(f"aborted before {command!r}")

    def _write(self, write: Callable[[str], None], command: str) -> None:
        """One command through ``write`` (the transport's, or its urgent path), audited."""
        self._notify(command)
        write(command)

    def _send(self, command: str, start: int | None = None) -> None:
        """Send one command; with ``start``, refuse if an abort happened since then."""
        t = self._require_open()
        with t.lock:
            self._check_abort(start, command)
            self._write(t.write, command)

    def _query(self, command: str, start: int | None = None,
               timeout_s: float | None = None) -> str:
        t = self._require_open()
        with t.lock:
            self._check_abort(start, command)
            if self._unresponsive:
                # it has just failed to answer: ask briefly (a live device answers at once)
                timeout_s = min(timeout_s or self._timeout_s, self.CONFIRM_UNRESPONSIVE_S)
            try:
                return self._ask(t, command, timeout_s)
            except DeviceTimeout:
                self._mark_unresponsive(command)
                raise

    def _ask(self, t: CommandTransport, command: str, timeout_s: float | None) -> str:
        """One query, audited; a reply means the stimulator answers again."""
        self._notify(command)
        reply = t.query(command, timeout_s) if timeout_s is not None else t.query(command)
        self._unresponsive = False
        return reply

    def _mark_unresponsive(self, command: str) -> None:
        if not self._unresponsive:
            log.warning("stimulator: no reply to %r: it does not answer", command)
        self._unresponsive = True

    def _raise_queued_errors(self, start: int | None = None) -> None:
        errors = scpi.drain_errors(lambda command: self._query(command, start))
        for extra in errors[1:]:
            log.error("stimulator also reported %s", extra)
        exc = scpi.instrument_error(errors)
        if exc is not None:
            raise exc

    def _safe_off(self) -> None:
        """Best effort ``OUTP OFF`` on the way out of a failure; never raises."""
        t = self._t
        if t is None:
            return
        try:
            self._send(scpi.OUTPUT_OFF)
        except Exception as exc:
            log.error("could not switch the stimulator output off: %s", exc)

    def _confirm_off(self, t: CommandTransport, during: str) -> None:
        """Ask ``OUTP?`` (briefly; not at all once a silent stimulator has left a
        switch-off unconfirmed: :mod:`switch_off`) and set ``off_confirmed``."""
        self._off_confirmed = switch_off.confirm_off(
            lambda command, timeout_s: self._ask(t, command, timeout_s),
            lambda command: self._write(t.write, command),
            during=during, on_timeout=lambda: self._mark_unresponsive(scpi.OUTPUT_QUERY),
            timeout_s=switch_off.confirm_timeout(
                self._timeout_s, unresponsive=self._unresponsive,
                last_confirmed=self._off_confirmed,
                unresponsive_timeout_s=self.CONFIRM_UNRESPONSIVE_S))
