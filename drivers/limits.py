"""Rig safety limits for stimulation: the one place where what a rig may do is decided.

The stimulator driver checks every stimulus here before a byte is sent, and the protocol
validator (``protocols.validation``) asks the same functions about every stimulus a
protocol will make the driver program (after the driver's own rounding of a train to a
whole number of pulses) and about the protocol's schedule, so a protocol the validator
accepts is never refused by the driver mid-run. Every rule, with its rig-file setting,
is in docs/rig-file.md.

Two kinds of rule:

* per stimulus (:meth:`StimulusLimits.stimulus_problems`): current, pulse width, charge
  per phase (amplitude x width: what damages nerve and electrode), frequency, the pulse
  fitting in its period, train duration, the output voltage through the isolator;
* over time (:meth:`StimulusLimits.schedule_problems`): the interval between single
  pulses, the rest after every train, and the mean pulse rate and duty cycle over any
  window of ``rate_window_s`` (so a barrage of twitches is limited like a train). The
  stimulator drivers ask the same rules at every fire about their recent fires
  (:meth:`StimulusLimits.fire_problems`, through ``drivers.fire_ledger``), so a script
  calling a driver directly is held to them too.
"""
from __future__ import annotations

import bisect
import math
import numbers
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Sequence

from drivers.errors import LimitError

if TYPE_CHECKING:  # pragma: no cover
    from drivers.capabilities import StimulusSpec

_EPS = 1e-9


def charge_per_phase_uC(current_mA: float, pulse_width_ms: float) -> float:
    """Charge per phase of a monophasic pulse: current x width (mA x ms = uC). The one
    place it is computed: it is what damages nerve and electrode, so it has its own limit."""
    return current_mA * pulse_width_ms


@dataclass(frozen=True)
class LimitProblem:
    """One rule broken: ``quantity`` names what is wrong (``current_mA``, ``pulse_width_ms``,
    ``charge``, ``frequency_hz``, ``duration_ms``, ``pulses``, ``voltage``, ``interval_s``,
    ``rest_s``, ``rate``, ``duty_cycle``) so a caller can point at its own field."""

    quantity: str
    message: str
    detail: str = ""
    """The message without its subject (``500 Hz exceeds ...``), for a caller that names
    the field itself."""
    value: float | None = None
    """The offending value, in the unit of ``limit`` (set by the rules over time)."""
    limit: float | None = None
    """The rig limit it breaks."""

    def __post_init__(self) -> None:
        if not self.detail:
            object.__setattr__(self, "detail", self.message)

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Scheduled:
    """A stimulus at its earliest possible start (s from the start of the run)."""

    start_s: float
    spec: "StimulusSpec"

    @property
    def end_s(self) -> float:
        return self.start_s + self.spec.duration_ms / 1000.0


@dataclass(frozen=True)
class StimulusLimits:
    """Hard limits of one rig. Values come from the rig file (see docs/rig-file.md)."""

    max_current_mA: float = 10.0
    max_pulse_width_ms: float = 1.0
    max_frequency_hz: float = 250.0
    max_train_duration_ms: float = 2000.0
    max_charge_per_phase_uC: float = 5.0
    min_rest_after_tetanus_s: float = 1.0
    """Rest after EVERY train (tetanus, force-frequency, fatigue), end to next stimulus."""
    min_pulse_interval_s: float = 0.1
    """Start-to-start interval between two single pulses."""
    max_mean_rate_hz: float = 50.0
    """Pulses per second averaged over any window of ``rate_window_s``."""
    max_duty_cycle: float = 0.5
    """Fraction of any window of ``rate_window_s`` spent inside trains."""
    rate_window_s: float = 10.0

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def as_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in self.names()}

    def max_safe_current_mA(self, pulse_width_ms: float) -> float:
        """The largest current allowed at ``pulse_width_ms`` (current and charge limits)."""
        return min(self.max_current_mA,
                   self.max_charge_per_phase_uC / charge_per_phase_uC(1.0, pulse_width_ms))

    # ------------------------------------------------------------------ per stimulus
    def stimulus_problems(self, spec: "StimulusSpec", *, requested_duration_ms: float | None = None,
                          isolator_gain_mA_per_V: float | None = None,
                          max_output_V: float | None = None) -> list[LimitProblem]:
        """Every rule ``spec`` breaks, as the driver would program it.

        ``requested_duration_ms`` is the train duration asked for before rounding to whole
        pulses: it must be within the limit too. With the isolator gain and the
        generator's maximum output, the output voltage is checked as well."""
        out: list[LimitProblem] = []
        pulses = spec.pulses
        if isinstance(pulses, bool) or not isinstance(pulses, numbers.Integral) or pulses < 1:
            return [LimitProblem("pulses", f"pulse count must be a whole number of at least 1, "
                                           f"got {pulses!r}")]
        train = pulses > 1
        if train and spec.frequency_hz is None:
            return [LimitProblem("frequency_hz", f"a train of {pulses} pulses needs a frequency")]
        # a requested train is checked as asked even when it rounds to a single pulse
        asked = requested_duration_ms is not None and spec.frequency_hz is not None
        frequency = spec.frequency_hz if train or asked else None
        duration = spec.duration_ms if train else None
        out += self._amplitude_problems(spec.current_mA, spec.pulse_width_ms)
        if frequency is not None:
            out += self._frequency_problems(frequency, spec.pulse_width_ms)
        if requested_duration_ms is not None:
            out += self._duration_problems(requested_duration_ms, rounded=False, spec=spec)
        if duration is not None and not any(p.quantity == "duration_ms" for p in out):
            # the programmed train: rounding to whole pulses may make it longer than asked
            out += self._duration_problems(duration, rounded=requested_duration_ms is not None,
                                           spec=spec)
        if isolator_gain_mA_per_V and max_output_V and math.isfinite(spec.current_mA) \
                and not any(p.quantity == "current_mA" for p in out):
            volts = spec.current_mA / isolator_gain_mA_per_V
            if volts > max_output_V + 1e-12:
                out.append(LimitProblem(
                    "voltage", f"output voltage {volts:g} V ({spec.current_mA:g} mA at "
                               f"{isolator_gain_mA_per_V:g} mA/V) exceeds the stimulator "
                               f"maximum of {max_output_V:g} V"))
        return _unique(out)

    def _amplitude_problems(self, current_mA: float, pulse_width_ms: float) -> list[LimitProblem]:
        out = []
        for quantity, name, value in (("current_mA", "current", current_mA),
                                      ("pulse_width_ms", "pulse width", pulse_width_ms)):
            if not value > 0 or not math.isfinite(value):
                out.append(LimitProblem(quantity, f"{name} must be a positive number, got {value:g}"))
        if out:
            return out
        if current_mA > self.max_current_mA:
            out.append(_exceeds("current_mA", "current", current_mA, self.max_current_mA, "mA"))
        if pulse_width_ms > self.max_pulse_width_ms:
            out.append(_exceeds("pulse_width_ms", "pulse width", pulse_width_ms,
                                self.max_pulse_width_ms, "ms"))
        if out:
            return out                        # the charge of a current already refused: no news
        charge = charge_per_phase_uC(current_mA, pulse_width_ms)
        if charge > self.max_charge_per_phase_uC + 1e-12:
            out.append(LimitProblem(
                "charge", f"charge per phase {current_mA:g} mA x {pulse_width_ms:g} ms = "
                          f"{charge:g} uC exceeds the rig limit of {self.max_charge_per_phase_uC:g} uC"))
        return out

    def _frequency_problems(self, frequency_hz: float, pulse_width_ms: float) -> list[LimitProblem]:
        if not frequency_hz > 0 or not math.isfinite(frequency_hz):
            return [LimitProblem("frequency_hz", f"frequency must be a positive number, "
                                                 f"got {frequency_hz:g}")]
        out = []
        if frequency_hz > self.max_frequency_hz:
            out.append(_exceeds("frequency_hz", "frequency", frequency_hz, self.max_frequency_hz, "Hz"))
        period_ms = 1000.0 / frequency_hz
        if pulse_width_ms >= period_ms:
            out.append(LimitProblem("pulse_width_ms", f"pulse width {pulse_width_ms:g} ms does not "
                                                      f"fit in the {period_ms:g} ms period of "
                                                      f"{frequency_hz:g} Hz"))
        return out

    def _duration_problems(self, duration_ms: float, *, rounded: bool,
                           spec: "StimulusSpec") -> list[LimitProblem]:
        if not duration_ms > 0 or not math.isfinite(duration_ms):
            return [LimitProblem("duration_ms", f"train duration must be a positive number, "
                                                f"got {duration_ms:g}")]
        if duration_ms <= self.max_train_duration_ms + _EPS:
            return []
        if rounded:
            return [LimitProblem("duration_ms", f"{spec.pulses} pulses at {spec.frequency_hz:g} Hz "
                                                f"last {duration_ms:.4g} ms, beyond the rig limit "
                                                f"of {self.max_train_duration_ms:g} ms")]
        return [_exceeds("duration_ms", "train duration", duration_ms, self.max_train_duration_ms, "ms")]

    def check_stimulus(self, spec: "StimulusSpec", **options) -> None:
        """Raise :class:`LimitError` with the first rule ``spec`` breaks."""
        problems = self.stimulus_problems(spec, **options)
        if problems:
            raise LimitError(problems[0].message)

    def check(self, current_mA: float, pulse_width_ms: float,
              frequency_hz: float | None = None, train_duration_ms: float | None = None) -> None:
        """Raise :class:`LimitError` naming the first parameter out of range (a request
        given by its parts; see :meth:`stimulus_problems` for a programmed stimulus)."""
        out = self._amplitude_problems(current_mA, pulse_width_ms)
        if frequency_hz is not None:
            out += self._frequency_problems(frequency_hz, pulse_width_ms)
        if train_duration_ms is not None:
            from drivers.capabilities import StimulusSpec
            out += self._duration_problems(train_duration_ms, rounded=False,
                                           spec=StimulusSpec(current_mA, pulse_width_ms))
        if out:
            raise LimitError(out[0].message)

    # ------------------------------------------------------------------ over time
    # One method per rule; the protocol validator (a whole planned schedule,
    # :meth:`schedule_problems`) and the stimulator drivers at fire time
    # (:meth:`fire_problems`, through :class:`drivers.fire_ledger.FireLedger`) both ask them.
    def schedule_problems(self, schedule: Sequence[Scheduled]) -> list[tuple[int, LimitProblem]]:
        """Every time rule a schedule breaks, as ``(index of the offending stimulus, problem)``.

        The start times are the earliest the stimuli can come (a run only ever takes
        longer than planned), so a schedule that passes holds for the run."""
        out: list[tuple[int, LimitProblem]] = []
        for i in range(1, len(schedule)):
            problem = self.pair_problem(schedule[i - 1], schedule[i])
            if problem is not None:
                out.append((i, problem))
        return out + self._window_problems(schedule)

    def pair_problem(self, prev: Scheduled, cur: Scheduled, *,
                     tolerance_s: float = 0.0) -> LimitProblem | None:
        """The rule between two consecutive stimuli: the rest after a train, or the
        start-to-start interval between two single pulses (``tolerance_s``: how much
        shorter than the limit a gap may look; see :meth:`fire_problems`)."""
        if prev.spec.pulses > 1:
            return self.rest_problem(cur.start_s - prev.end_s, prev.spec.duration_ms,
                                     tolerance_s=tolerance_s)
        if cur.spec.pulses == 1:
            return self.interval_problem(cur.start_s - prev.start_s, tolerance_s=tolerance_s)
        return None

    def rest_problem(self, rest_s: float, train_ms: float, *,
                     tolerance_s: float = 0.0) -> LimitProblem | None:
        """The rest after a ``train_ms`` train, if shorter than the rig's minimum."""
        limit = self.min_rest_after_tetanus_s
        if rest_s + tolerance_s + _EPS >= limit:
            return None
        return LimitProblem("rest_s", f"{max(rest_s, 0):.3g} s of rest after a {train_ms:.4g} ms "
                                      f"train, below the rig minimum of {limit:g} s",
                            value=max(rest_s, 0.0), limit=limit)

    def interval_problem(self, gap_s: float, *, tolerance_s: float = 0.0) -> LimitProblem | None:
        """Two single pulses ``gap_s`` apart (start to start), if closer than the minimum."""
        limit = self.min_pulse_interval_s
        if gap_s + tolerance_s + _EPS >= limit:
            return None
        return LimitProblem("interval_s", f"single pulses {max(gap_s, 0):.3g} s apart, below the "
                                          f"rig minimum interval of {limit:g} s",
                            value=max(gap_s, 0.0), limit=limit)

    def window_problems(self, pulses: int, on_s: float) -> list[LimitProblem]:
        """The mean-rate and duty-cycle rules for one window of ``rate_window_s`` holding
        ``pulses`` pulses and ``on_s`` seconds inside trains."""
        window = self.rate_window_s
        out = []
        if pulses > self.max_mean_rate_hz * window + _EPS:
            out.append(LimitProblem(
                "rate", f"{pulses} pulses within {window:g} s (a mean of {pulses / window:.3g} Hz) "
                        f"exceed the rig limit of {self.max_mean_rate_hz:g} Hz over any "
                        f"{window:g} s", value=pulses / window, limit=self.max_mean_rate_hz))
        duty = min(on_s, window) / window
        if duty > self.max_duty_cycle + _EPS:
            out.append(LimitProblem(
                "duty_cycle", f"trains fill {duty:.0%} of {window:g} s, beyond the rig's "
                              f"maximum duty cycle of {self.max_duty_cycle:g} over any "
                              f"{window:g} s", value=duty, limit=self.max_duty_cycle))
        return out

    def _window_problems(self, schedule: Sequence[Scheduled]) -> list[tuple[int, LimitProblem]]:
        """Mean pulse rate and duty cycle over any window starting at a stimulus; a
        problem is reported at the last stimulus of the first window over the limit.

        Every stimulus starting in the window counts whole (a train reaching past the
        window's end counts fully: the estimate errs on the safe side)."""
        if not schedule:
            return []
        window = self.rate_window_s
        starts = [s.start_s for s in schedule]
        pulses = [0]
        on_s = [0.0]
        for s in schedule:
            pulses.append(pulses[-1] + s.spec.pulses)
            on_s.append(on_s[-1] + _on_s(s))
        out: list[tuple[int, LimitProblem]] = []
        reported: set[str] = set()
        for i, t in enumerate(starts):
            j = bisect.bisect_left(starts, t + window - _EPS)
            for p in self.window_problems(pulses[j] - pulses[i], on_s[j] - on_s[i]):
                if p.quantity not in reported:
                    reported.add(p.quantity)
                    out.append((j - 1, p))
        return out

    def fire_problems(self, history: Sequence[Scheduled], candidate: Scheduled, *,
                      tolerance_s: float = 0.0) -> list[LimitProblem]:
        """Every time rule ``candidate`` would break after the stimuli of ``history``
        (ascending start times, all earlier): the same rules as :meth:`schedule_problems`,
        for the one new stimulus, as a stimulator asks them at fire time.

        ``tolerance_s`` absorbs the host clock's view of hardware-timed stimuli: a gap may
        look up to that much shorter than the limit, and a stimulus that started up to
        that much less than ``rate_window_s`` before the candidate is left out of its
        window (docs/rig-file.md, "Fire-time interlock")."""
        out: list[LimitProblem] = []
        if history:
            problem = self.pair_problem(history[-1], candidate, tolerance_s=tolerance_s)
            if problem is not None:
                out.append(problem)
        # every window starting at a stimulus and reaching the candidate: the earliest
        # such start holds them all (the candidate is the latest stimulus)
        since = candidate.start_s - self.rate_window_s + tolerance_s + _EPS
        inside = [s for s in history if s.start_s > since] + [candidate]
        out += self.window_problems(sum(s.spec.pulses for s in inside),
                                    sum(_on_s(s) for s in inside))
        return out


def _on_s(s: Scheduled) -> float:
    """Time inside trains a stimulus adds to the duty cycle (a single pulse: none)."""
    return s.spec.duration_ms / 1000.0 if s.spec.pulses > 1 else 0.0


def _exceeds(quantity: str, what: str, value: float, limit: float, unit: str) -> LimitProblem:
    detail = f"{value:g} {unit} exceeds the rig limit of {limit:g} {unit}"
    return LimitProblem(quantity, f"{what} {detail}", detail)


def _unique(problems: list[LimitProblem]) -> list[LimitProblem]:
    seen: set[str] = set()
    out = []
    for p in problems:
        if p.message not in seen:
            seen.add(p.message)
            out.append(p)
    return out


def check_stimulus(limits: StimulusLimits, spec: "StimulusSpec", **options) -> None:
    """The check every stimulator makes before anything is sent or written (the SCPI
    generator, the DAQ board): :meth:`StimulusLimits.check_stimulus`, the same rules the
    protocol validator applies."""
    limits.check_stimulus(spec, **options)
