"""Checks of a parsed protocol that the schema alone cannot do.

Two kinds: *structural* (a step that needs a working current has one to use, names
and prompt ids are unique) and *rig limits*. The rig-limit rules are not written here:
every stimulus the protocol will make the driver program (built by the same
:meth:`StimulusSpec.train` the engine uses, so after the rounding of a train to whole
pulses) goes through :meth:`StimulusLimits.stimulus_problems`, the check the driver makes
before sending anything, and the protocol's earliest-possible timeline goes through
:meth:`StimulusLimits.schedule_problems` (interval between single pulses, rest after
every train, mean rate and duty cycle over any window). This module only says which
field of which step each problem belongs to.

Steps are numbered from 1, as the run shows them: ``[4/9] tetanus-4 (tetanus) rest_s``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from drivers.capabilities import StimulusSpec
from drivers.limits import LimitProblem, Scheduled, StimulusLimits
from protocols.schema import (FatigueStep, ForceFrequencyStep, OptimalLengthStep, PromptStep,
                              ProtocolSpec, RestStep, StimulusStep, SupramaximalStep,
                              TetanusStep, TwitchStep)


@dataclass(frozen=True)
class Problem:
    """One thing wrong: where (``[4/9] tetanus-4 (tetanus) frequency_hz``) and what."""

    location: str
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "location", self.location.strip())

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


def step_label(index: int, count: int, kind: str | None, name: str | None = None) -> str:
    """``[4/9] tetanus-4 (tetanus)``: a step as the run numbers and names it."""
    shown = name or (f"{kind}-{index + 1}" if kind else "")
    tail = f" ({kind})" if kind else ""
    return f"[{index + 1}/{count}] {shown}{tail}".rstrip()


def step_location(protocol: ProtocolSpec, index: int) -> str:
    step = protocol.steps[index]
    return step_label(index, len(protocol.steps), step.kind, protocol.step_name(index))


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
            problems.append(Problem(f"{where} name", f"{name!r} is already used by step {names[name] + 1}"))
        names.setdefault(name, i)
        if isinstance(step, PromptStep) and step.id is not None:
            if step.id in prompt_ids:
                problems.append(Problem(f"{where} id",
                                        f"{step.id!r} is already used by step {prompt_ids[step.id] + 1}"))
            prompt_ids.setdefault(step.id, i)
    return problems


@dataclass(frozen=True)
class RigOutput:
    """What the rig's stimulator can put out: the isolator gain and the generator's
    maximum voltage (None: not known, the voltage is not checked)."""

    isolator_gain_mA_per_V: float | None = None
    max_output_V: float | None = None


# ------------------------------------------------------------------ per stimulus

def _pulse_width(protocol: ProtocolSpec, step) -> float:
    return getattr(step, "pulse_width_ms", None) or protocol.pulse_width_ms


def _currents(protocol: ProtocolSpec, step, limits: StimulusLimits) -> list[tuple[str, str, float]]:
    """(location prefix, field, current) of every current the step may use."""
    pw = _pulse_width(protocol, step)
    if isinstance(step, SupramaximalStep):
        return [("", "max_mA", c) for c in step.currents_mA()[-1:]]
    if step.current_mA is not None:
        return [("", "current_mA", step.current_mA)]
    out = [("", "current", limits.max_safe_current_mA(pw))]   # the working current, capped
    if protocol.current_mA is not None:
        out.append(("protocol", "current_mA", protocol.current_mA))
    return out


def _trains(step) -> list[tuple[str, float, float]]:
    """(frequency field, frequency, requested duration) of every train of a step."""
    if isinstance(step, (TetanusStep, FatigueStep)):
        return [("frequency_hz", step.frequency_hz, step.duration_ms)]
    if isinstance(step, ForceFrequencyStep):
        return [(f"frequencies_hz[{k}]", f, step.duration_ms)
                for k, f in enumerate(step.frequencies_hz)]
    return []


_FIELDS = {"pulse_width_ms": "pulse_width_ms", "duration_ms": "duration_ms", "pulses": "duration_ms"}


def _stimulus_problems(protocol: ProtocolSpec, i: int, limits: StimulusLimits,
                       output: RigOutput) -> list[Problem]:
    step = protocol.steps[i]
    where = step_location(protocol, i)
    pw = _pulse_width(protocol, step)
    pw_field = "pulse_width_ms" if getattr(step, "pulse_width_ms", None) else None
    options = dict(isolator_gain_mA_per_V=output.isolator_gain_mA_per_V,
                   max_output_V=output.max_output_V)
    out: list[Problem] = []
    for prefix, current_field, current in _currents(protocol, step, limits):
        trains = _trains(step) or [(None, None, None)]
        for freq_field, frequency, duration in trains:
            spec = (StimulusSpec(current, pw) if frequency is None
                    else StimulusSpec.train(current, pw, frequency, duration))
            for p in limits.stimulus_problems(spec, requested_duration_ms=duration, **options):
                current_problem = p.quantity in ("current_mA", "charge", "voltage")
                if prefix == "protocol":
                    if current_problem:          # the protocol-level current_mA itself
                        out.append(Problem("current_mA", p.detail))
                    continue
                if p.quantity == "pulse_width_ms" and pw_field is None and "period" not in p.message:
                    continue                     # the protocol's pulse width: reported once
                field = _field_of(p, current_field, freq_field, pw_field)
                out.append(Problem(f"{where} {field}", p.detail))
    return out


def _field_of(p: LimitProblem, current_field: str, freq_field: str | None,
              pw_field: str | None) -> str:
    if p.quantity in ("current_mA", "charge", "voltage"):
        return current_field
    if p.quantity == "frequency_hz":
        return freq_field or "frequency_hz"
    if p.quantity == "pulse_width_ms":
        return pw_field or "pulse_width_ms"
    return _FIELDS.get(p.quantity, p.quantity)


# ------------------------------------------------------------------ over time

def planned_schedule(protocol: ProtocolSpec, limits: StimulusLimits) -> list[tuple[int, Scheduled]]:
    """(step index, stimulus at its earliest start) for the whole protocol.

    The times are lower bounds: the engine waits at least ``interval_s`` between single
    pulses (start to start), at least ``rest_s`` after a train ends, ``interval_s``
    between fatigue trains, ``duration_s`` in a rest step; trial windows and the
    technician only add time. Adaptive steps are taken at their longest: every current
    of a supramaximal search, and an operator-guided optimal-length step twitching for
    at least a whole rate window."""
    out: list[tuple[int, Scheduled]] = []
    t = 0.0
    for i, step in enumerate(protocol.steps):
        pw = _pulse_width(protocol, step)
        current = limits.max_safe_current_mA(pw)
        if isinstance(step, (SupramaximalStep, OptimalLengthStep, TwitchStep)):
            if isinstance(step, SupramaximalStep):
                count = step.step_count()
            elif isinstance(step, OptimalLengthStep):
                planned = len(step.planned_lengths_mm()) * step.twitches_per_length
                count = max(planned, math.ceil(limits.rate_window_s / step.interval_s) + 1)
                count = min(count, 100_000)
            else:
                count = step.count
            for _ in range(count):
                out.append((i, Scheduled(t, StimulusSpec(current, pw))))
                t += step.interval_s
        elif isinstance(step, (TetanusStep, ForceFrequencyStep)):
            repeats = step.count if isinstance(step, TetanusStep) else 1
            for _ in range(repeats):
                for _, frequency, duration in _trains(step):
                    s = Scheduled(t, StimulusSpec.train(current, pw, frequency, duration))
                    out.append((i, s))
                    t = s.end_s + step.rest_s
        elif isinstance(step, FatigueStep):
            spec = StimulusSpec.train(current, pw, step.frequency_hz, step.duration_ms)
            for _ in range(step.train_count):
                out.append((i, Scheduled(t, spec)))
                t = max(t + step.train_interval_s, t + spec.duration_ms / 1000.0)
        elif isinstance(step, RestStep):
            t += step.duration_s
    return out


def _schedule_field(step, quantity: str) -> str:
    if quantity == "rest_s":
        if isinstance(step, FatigueStep):
            return "interval_s" if step.interval_s is not None else "duty_cycle"
        return "rest_s" if hasattr(step, "rest_s") else "interval_s"
    if quantity == "interval_s":
        return "interval_s"
    return ""


def _declared_rest_problems(protocol: ProtocolSpec, limits: StimulusLimits) -> list[Problem]:
    """The rest a train step declares after each of its trains, also after its last one."""
    out: list[Problem] = []
    for i, step in enumerate(protocol.steps):
        if isinstance(step, (TetanusStep, ForceFrequencyStep)):
            rest = step.rest_s
        elif isinstance(step, FatigueStep):
            rest = step.rest_between_s
        else:
            continue
        p = limits.rest_problem(rest, step.duration_ms)
        if p is not None:
            out.append(Problem(f"{step_location(protocol, i)} {_schedule_field(step, 'rest_s')}",
                               p.message))
    return out


def _schedule_problems(protocol: ProtocolSpec, limits: StimulusLimits) -> list[Problem]:
    schedule = planned_schedule(protocol, limits)
    found = limits.schedule_problems([s for _, s in schedule])
    out: list[Problem] = _declared_rest_problems(protocol, limits)
    flagged = {p.location for p in out}
    for index, p in found:
        # a short gap is the fault of the step that should have waited: the earlier one
        owner = schedule[index - 1][0] if p.quantity in ("rest_s", "interval_s") else schedule[index][0]
        step = protocol.steps[owner]
        location = f"{step_location(protocol, owner)} {_schedule_field(step, p.quantity)}"
        if p.quantity == "rest_s" and location.strip() in flagged:
            continue
        out.append(Problem(f"{step_location(protocol, owner)} {_schedule_field(step, p.quantity)}",
                           p.message))
    return out


def check_limits(protocol: ProtocolSpec, limits: StimulusLimits,
                 output: RigOutput | None = None) -> list[Problem]:
    """Every stimulus the protocol can ask for, and its timeline, against the rig's limits."""
    output = output or RigOutput()
    problems: list[Problem] = []
    if protocol.pulse_width_ms > limits.max_pulse_width_ms:
        problems.append(Problem("pulse_width_ms", f"{protocol.pulse_width_ms:g} ms exceeds the "
                                                  f"rig limit of {limits.max_pulse_width_ms:g} ms"))
    for i, step in enumerate(protocol.steps):
        if isinstance(step, (StimulusStep, SupramaximalStep)):
            problems += _stimulus_problems(protocol, i, limits, output)
    problems += _schedule_problems(protocol, limits)
    seen: set[str] = set()
    unique = []
    for p in problems:            # a protocol-level value is reported once
        if str(p) not in seen:
            seen.add(str(p))
            unique.append(p)
    return unique


def stimuli_of(protocol: ProtocolSpec, step_index: int, current_mA: float) -> list[StimulusSpec]:
    """The stimuli a (non-adaptive) stimulus step delivers at ``current_mA``, in order.

    Used for progress estimates and by tests; the engine builds the same specs."""
    step = protocol.steps[step_index]
    pw = _pulse_width(protocol, step)
    if isinstance(step, TwitchStep):
        return [StimulusSpec(current_mA, pw)] * step.count
    if isinstance(step, TetanusStep):
        return [StimulusSpec.train(current_mA, pw, step.frequency_hz, step.duration_ms)] * step.count
    if isinstance(step, ForceFrequencyStep):
        return [StimulusSpec.train(current_mA, pw, f, step.duration_ms) for f in step.frequencies_hz]
    if isinstance(step, FatigueStep):
        return [StimulusSpec.train(current_mA, pw, step.frequency_hz, step.duration_ms)] * step.train_count
    return []
