"""One source of safety truth: whatever the protocol validator accepts, the stimulator
driver never refuses mid-run (property tests, hypothesis).

Protocols are drawn at random around the rig's limits; for every one the validator
accepts, each stimulus the engine will build (``StimulusSpec.train`` for trains, as
``StepContext.train_spec`` does; the working current at its cap) is put through the
driver's own checks: ``ScpiStimulator.check`` and the request check of
``ScpiStimulator.train``."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.capabilities import StimulusSpec
from drivers.limits import Scheduled, StimulusLimits
from drivers.stimulator.driver import ScpiStimulator
from protocols.loader import ProtocolFileError, parse_protocol
from protocols.validation import RigOutput, check_limits

LIMITS = StimulusLimits()
SUPRA = "  - {kind: supramaximal, start_mA: 0.5, step_mA: 0.5, max_mA: 5, interval_s: 1}\n"

frequency = st.one_of(st.floats(0.1, 300, allow_nan=False).map(lambda f: round(f, 2)),
                      st.sampled_from([1.75, 2.5, 3.3, 7.5, 150, 249.9, 250, 250.1]))
duration = st.one_of(st.floats(1, 2500, allow_nan=False).map(lambda d: round(d, 1)),
                     st.sampled_from([2000, 1999, 1999.9, 300, 571.4]))
width = st.sampled_from([None, 0.05, 0.2, 0.5, 1.0, 2.0, 3.9])
current = st.one_of(st.none(), st.floats(0.1, 12, allow_nan=False).map(lambda c: round(c, 2)))


def _step(kind: str, f: float, d: float, pw, mA) -> str:
    extra = (f", pulse_width_ms: {pw}" if pw else "") + (f", current_mA: {mA}" if mA else "")
    if kind == "tetanus":
        return f"  - {{kind: tetanus, frequency_hz: {f}, duration_ms: {d}, rest_s: 3{extra}}}\n"
    if kind == "force_frequency":
        return (f"  - {{kind: force_frequency, frequencies_hz: [{f}, {round(f / 2, 2) or 1}], "
                f"duration_ms: {d}, rest_s: 3{extra}}}\n")
    return (f"  - {{kind: fatigue, frequency_hz: {f}, duration_ms: {d}, "
            f"interval_s: {round(d / 1000 + 3, 3)}, trains: 3{extra}}}\n")


def _driver_accepts(stim: ScpiStimulator, spec: StimulusSpec, f: float | None, d: float | None) -> None:
    """What the driver does before sending a stimulus (raises LimitError on refusal)."""
    if f is not None:
        stim.limits.check(spec.current_mA, spec.pulse_width_ms, f, d)   # ScpiStimulator.train
    stim.check(spec, requested_duration_ms=d)
    stim.check(spec)                                                     # ScpiStimulator.configure


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["tetanus", "force_frequency", "fatigue"]), f=frequency, d=duration,
       pw=width, mA=current)
def test_a_protocol_the_validator_accepts_is_never_refused_by_the_driver(kind, f, d, pw, mA):
    text = "name: p\nsteps:\n" + SUPRA + _step(kind, f, d, pw, mA)
    try:
        protocol = parse_protocol(text, source="p.yaml", limits=LIMITS)
    except ProtocolFileError:
        return
    stim = ScpiStimulator(object(), limits=LIMITS)      # checks only; never talks
    step = protocol.steps[1]
    width_ms = step.pulse_width_ms or protocol.pulse_width_ms
    amps = step.current_mA or LIMITS.max_safe_current_mA(width_ms)   # the capped working current
    frequencies = step.frequencies_hz if kind == "force_frequency" else [step.frequency_hz]
    for fr in frequencies:
        spec = StimulusSpec.train(amps, width_ms, fr, step.duration_ms)
        _driver_accepts(stim, spec, fr, step.duration_ms)
    for c in protocol.steps[0].currents_mA():
        _driver_accepts(stim, StimulusSpec(c, protocol.pulse_width_ms), None, None)


def test_the_case_of_the_issue_is_refused_before_the_run():
    """duration_ms 2000 at 1.75 Hz: 4 pulses lasting 2286 ms, refused by the driver, so by
    the validator too (before: validated, then refused mid-run after two stimuli)."""
    text = "name: p\nsteps:\n" + SUPRA + _step("tetanus", 1.75, 2000, None, None)
    try:
        parse_protocol(text, source="p.yaml", limits=LIMITS)
        raise AssertionError("accepted")
    except ProtocolFileError as exc:
        assert "4 pulses at 1.75 Hz last 2286 ms" in str(exc)


@settings(max_examples=200, deadline=None)
@given(gaps=st.lists(st.floats(0.0, 3.0, allow_nan=False), min_size=1, max_size=30),
       trains=st.lists(st.booleans(), min_size=31, max_size=31))
def test_a_schedule_that_passes_still_passes_when_the_run_takes_longer(gaps, trains):
    """The timeline rules are monotonic: stretching any wait never creates a problem, so
    checking the earliest-possible timeline is enough for the real, slower run."""
    t, planned, slower = 0.0, [], []
    for k, gap in enumerate(gaps):
        spec = StimulusSpec.train(2.0, 0.2, 100, 300) if trains[k] else StimulusSpec(2.0, 0.2)
        planned.append(Scheduled(t, spec))
        slower.append(Scheduled(t * 1.3 + 0.05 * k, spec))
        t += gap + spec.duration_ms / 1000.0
    if not LIMITS.schedule_problems(planned):
        assert LIMITS.schedule_problems(slower) == []


def test_the_output_voltage_is_checked_with_the_rig_isolator():
    protocol = parse_protocol("name: p\nsteps:\n  - {kind: twitch, count: 1, interval_s: 1, "
                              "current_mA: 4}\n", source="p.yaml")
    assert check_limits(protocol, LIMITS, RigOutput(isolator_gain_mA_per_V=1.0, max_output_V=10)) == []
    problems = check_limits(protocol, LIMITS, RigOutput(isolator_gain_mA_per_V=0.25, max_output_V=10))
    assert [str(p) for p in problems] == [
        "[1/1] twitch-1 (twitch) current_mA: output voltage 16 V (4 mA at 0.25 mA/V) exceeds the "
        "stimulator maximum of 10 V"]
