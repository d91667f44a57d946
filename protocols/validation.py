"""Checks of a parsed protocol that the schema alone cannot do.

Two kinds: *structural* (a step that needs a working current has one to use, names
and prompt ids are unique) and *rig limits* (every stimulus the protocol can ask for
is within the rig's :class:`~drivers.limits.StimulusLimits`, and every tetanus is
followed by at least the rig's minimum rest). Both run before anything is connected,
so a bad protocol never reaches a stimulator. The driver checks every stimulus again
before sending it; this is the early, readable check.
"""
from __future__ import annotations

from dataclasses import dataclass

from drivers.capabilities import StimulusSpec
from drivers.limits import StimulusLimits
from protocols.schema import (FatigueStep, ForceFrequencyStep, PromptStep,
                              ProtocolSpec, StimulusStep, SupramaximalStep, TetanusStep,
                              TwitchStep)


@dataclass(frozen=True)
class Problem:
    """One thing wrong: where (``steps[3] (tetanus) frequency_hz``) and what."""

    location: str
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "location", self.location.strip())

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


def step_location(protocol: ProtocolSpec, index: int) -> str:
    return f"steps[{index}] ({protocol.steps[index].kind})"


def check_structure(protocol: ProtocolSpec) -> list[Problem]:
    """Problems that do not depend on the rig."""
    problems: list[Problem] = []
    have_working_current = protocol.current_mA is not None
    names: dict[str, int] = {}
    prompt_ids: dict[str, int] = {}
    for i, step in enumerate(protocol.steps):
        where = step_location(protocol, i)
        if isinstance(step, SupramaximalStep):
            have_working_current = True
        elif isinstance(step, StimulusStep) and step.uses_working_current and not have_working_current:
            problems.append(Problem(
                f"{where} current",
                "this step uses the working current, but no supramaximal step comes before it "
                "and the protocol gives no current_mA"))
        name = protocol.step_name(i)
        if name in names:
            problems.append(Problem(f"{where} name",
                                    f"{name!r} is already used by steps[{names[name]}]"))
        names.setdefault(name, i)
        if isinstance(step, PromptStep) and step.id is not None:
            if step.id in prompt_ids:
                problems.append(Problem(f"{where} id",
                                        f"{step.id!r} is already used by steps[{prompt_ids[step.id]}]"))
            prompt_ids.setdefault(step.id, i)
    return problems


def _exceeds(value: float, limit: float, unit: str) -> str:
    return f"{value:g} exceeds the rig limit of {limit:g} {unit}"


def _check_current(problems: list[Problem], where: str, field: str, current_mA: float,
                   pulse_width_ms: float, limits: StimulusLimits) -> None:
    if current_mA > limits.max_current_mA:
        problems.append(Problem(f"{where} {field}", _exceeds(current_mA, limits.max_current_mA, "mA")))
    charge = current_mA * pulse_width_ms
    if charge > limits.max_charge_per_phase_uC + 1e-12:
        problems.append(Problem(
            f"{where} {field}",
            f"{current_mA:g} mA x {pulse_width_ms:g} ms = {charge:g} uC per phase exceeds the "
            f"rig limit of {limits.max_charge_per_phase_uC:g} uC"))


def _check_train(problems: list[Problem], where: str, freq_field: str, frequency_hz: float,
                 duration_ms: float, pulse_width_ms: float, limits: StimulusLimits) -> None:
    if frequency_hz > limits.max_frequency_hz:
        problems.append(Problem(f"{where} {freq_field}",
                                _exceeds(frequency_hz, limits.max_frequency_hz, "Hz")))
    period_ms = 1000.0 / frequency_hz
    if pulse_width_ms >= period_ms:
        problems.append(Problem(
            f"{where} pulse_width_ms",
            f"{pulse_width_ms:g} ms does not fit in the {period_ms:g} ms period of {frequency_hz:g} Hz"))
    if duration_ms > limits.max_train_duration_ms:
        problems.append(Problem(f"{where} duration_ms",
                                _exceeds(duration_ms, limits.max_train_duration_ms, "ms")))


def _check_rest(problems: list[Problem], where: str, field: str, rest_s: float,
                limits: StimulusLimits, what: str = "") -> None:
    if rest_s + 1e-9 < limits.min_rest_after_tetanus_s:
        minimum = limits.min_rest_after_tetanus_s
        text = (f"{what}{rest_s:g} s of rest after each train, below the rig minimum rest "
                f"after a tetanus of {minimum:g} s" if what else
                f"{rest_s:g} s rest after a tetanus is below the rig minimum of {minimum:g} s")
        problems.append(Problem(f"{where} {field}", text))


def check_limits(protocol: ProtocolSpec, limits: StimulusLimits) -> list[Problem]:
    """Every stimulus the protocol can ask for, against the rig's limits."""
    problems: list[Problem] = []
    if protocol.pulse_width_ms > limits.max_pulse_width_ms:
        problems.append(Problem("pulse_width_ms",
                                _exceeds(protocol.pulse_width_ms, limits.max_pulse_width_ms, "ms")))
    for i, step in enumerate(protocol.steps):
        where = step_location(protocol, i)
        if not isinstance(step, (StimulusStep, SupramaximalStep)):
            continue
        pw = step.pulse_width_ms or protocol.pulse_width_ms
        if step.pulse_width_ms is not None and step.pulse_width_ms > limits.max_pulse_width_ms:
            problems.append(Problem(f"{where} pulse_width_ms",
                                    _exceeds(step.pulse_width_ms, limits.max_pulse_width_ms, "ms")))
        if isinstance(step, SupramaximalStep):
            _check_current(problems, where, "max_mA", step.max_mA, pw, limits)
            continue
        if step.current_mA is not None:
            _check_current(problems, where, "current_mA", step.current_mA, pw, limits)
        elif protocol.current_mA is not None:
            # used until a supramaximal step has run (and always when there is none)
            _check_current(problems, "", "current_mA", protocol.current_mA, pw, limits)
        if isinstance(step, TetanusStep):
            _check_train(problems, where, "frequency_hz", step.frequency_hz, step.duration_ms, pw, limits)
            _check_rest(problems, where, "rest_s", step.rest_s, limits)
        elif isinstance(step, ForceFrequencyStep):
            for k, f in enumerate(step.frequencies_hz):
                _check_train(problems, where, f"frequencies_hz[{k}]", f, step.duration_ms, pw, limits)
            _check_rest(problems, where, "rest_s", step.rest_s, limits)
        elif isinstance(step, FatigueStep):
            _check_train(problems, where, "frequency_hz", step.frequency_hz, step.duration_ms, pw, limits)
            field = "interval_s" if step.interval_s is not None else "duty_cycle"
            _check_rest(problems, where, field, step.rest_between_s, limits,
                        what=f"{step.train_interval_s:g} s between {step.duration_ms:g} ms trains leaves ")
    # de-duplicate (a protocol-level current is reported once)
    seen: set[str] = set()
    unique = []
    for p in problems:
        if str(p) not in seen:
            seen.add(str(p))
            unique.append(p)
    return unique


def stimuli_of(protocol: ProtocolSpec, step_index: int, current_mA: float) -> list[StimulusSpec]:
    """The stimuli a (non-adaptive) stimulus step delivers at ``current_mA``, in order.

    Used for progress estimates and by tests; the engine builds the same specs."""
    step = protocol.steps[step_index]
    pw = getattr(step, "pulse_width_ms", None) or protocol.pulse_width_ms
    if isinstance(step, TwitchStep):
        return [StimulusSpec(current_mA, pw)] * step.count
    if isinstance(step, TetanusStep):
        return [StimulusSpec.train(current_mA, pw, step.frequency_hz, step.duration_ms)] * step.count
    if isinstance(step, ForceFrequencyStep):
        return [StimulusSpec.train(current_mA, pw, f, step.duration_ms) for f in step.frequencies_hz]
    if isinstance(step, FatigueStep):
        return [StimulusSpec.train(current_mA, pw, step.frequency_hz, step.duration_ms)] * step.train_count
    return []
