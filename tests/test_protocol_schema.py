"""Protocol files: the library protocols load; every kind of mistake is one line naming
the file, the step and the field; rig limits are enforced before anything runs."""
from __future__ import annotations

import textwrap

import pytest

from drivers.capabilities import StimulusSpec
from drivers.limits import StimulusLimits
from protocols import LIBRARY
from protocols.loader import ProtocolFileError, load_protocol, parse_protocol, validate_protocol
from protocols.schema import FatigueStep, OptimalLengthStep, SupramaximalStep
from protocols.validation import stimuli_of

LIMITS = StimulusLimits()

HEAD = "name: test\nsteps:\n"
SUPRA = "  - {kind: supramaximal, start_mA: 0.5, step_mA: 0.5, max_mA: 5, interval_s: 1}\n"


def _parse(text: str, limits: StimulusLimits | None = LIMITS):
    return parse_protocol(textwrap.dedent(text), source="p.yaml", limits=limits)


def _error(text: str, limits: StimulusLimits | None = LIMITS) -> str:
    """The message of a refused protocol: one line per problem, each naming the file."""
    with pytest.raises(ProtocolFileError) as info:
        _parse(text, limits)
    message = str(info.value)
    lines = message.split("\n")
    assert lines == info.value.problems and all(line.startswith("p.yaml: ") for line in lines)
    return message


# ------------------------------------------------------------------ library

@pytest.mark.parametrize("name", ["protocol1.yaml", "protocol1-demo.yaml"])
def test_library_protocols_load_and_fit_default_limits(name):
    p = load_protocol(LIBRARY / name, limits=LIMITS)
    kinds = {s.kind for s in p.steps}
    assert {"supramaximal", "optimal_length", "twitch", "tetanus", "force_frequency",
            "fatigue", "rest", "prompt", "note"} <= kinds
    ff = next(s for s in p.steps if s.kind == "force_frequency")
    assert ff.frequencies_hz == [1, 10, 20, 40, 60, 80, 100, 150]


def test_protocol1_is_realistic():
    p = load_protocol(LIBRARY / "protocol1.yaml")
    twitch = next(s for s in p.steps if s.kind == "twitch")
    tetanus = next(s for s in p.steps if s.kind == "tetanus")
    ff = next(s for s in p.steps if s.kind == "force_frequency")
    assert twitch.interval_s == 30 and tetanus.rest_s == 120 and ff.rest_s == 120
    train_ms = ff.duration_ms          # a train length, not a timing measurement
    assert 300 <= train_ms <= 500


# ------------------------------------------------------------------ derived values

def test_supramaximal_currents_and_fatigue_derivations():
    s = SupramaximalStep(kind="supramaximal", start_mA=0.25, step_mA=0.25, max_mA=1.0, interval_s=1)
    assert s.currents_mA() == [0.25, 0.5, 0.75, 1.0]
    f = FatigueStep(kind="fatigue", frequency_hz=40, duration_ms=500, duty_cycle=0.25, total_s=60)
    assert f.train_interval_s == pytest.approx(2.0)
    assert f.rest_between_s == pytest.approx(1.5)
    assert f.train_count == 30
    o = OptimalLengthStep(kind="optimal_length", interval_s=1, start_mm=26, stop_mm=30, step_mm=2)
    assert o.planned_lengths_mm() == [26, 28, 30]


def test_stimuli_of_a_force_frequency_step():
    p = _parse(HEAD + SUPRA + "  - {kind: force_frequency, frequencies_hz: [1, 10, 150], "
                              "duration_ms: 300, rest_s: 2}\n")
    specs = stimuli_of(p, 1, current_mA=2.0)
    assert [s.pulses for s in specs] == [1, 3, 45]
    assert specs[2] == StimulusSpec.train(2.0, 0.2, 150, 300)


def test_the_example_message_of_the_issue():
    text = HEAD + SUPRA + "".join(
        "  - {kind: twitch, count: 1, interval_s: 1}\n" for _ in range(2)) + \
        "  - {kind: tetanus, frequency_hz: 500, duration_ms: 300, rest_s: 120}\n"
    with pytest.raises(ProtocolFileError) as info:
        parse_protocol(text, source="protocol1.yaml", limits=LIMITS)
    assert str(info.value) == "protocol1.yaml: [4/4] tetanus-4 (tetanus) frequency_hz: 500 Hz exceeds " \
                              "the rig limit of 250 Hz"


def test_several_problems_are_counted_and_listed():
    text = HEAD + SUPRA + "  - {kind: tetanus, frequency_hz: 500, duration_ms: 3000, rest_s: 0}\n"
    with pytest.raises(ProtocolFileError) as info:
        _parse(text)
    assert "more problem" not in str(info.value)
    assert str(info.value).split("\n") == info.value.problems
    assert len(info.value.problems) == 4            # 1500 pulses in 3 s: the mean rate too
    assert any("mean of" in p for p in info.value.problems)
    assert any("duration_ms" in p for p in info.value.problems)
    assert any("rest_s" in p for p in info.value.problems)


def test_limits_are_those_of_the_rig():
    text = HEAD + SUPRA + "  - {kind: tetanus, frequency_hz: 200, duration_ms: 300, rest_s: 5}\n"
    _parse(text)  # fine on the default rig
    strict = StimulusLimits(max_frequency_hz=150)
    assert "[2/2] tetanus-2 (tetanus) frequency_hz: 200 Hz exceeds the rig limit of 150 Hz" in _error(text, strict)
    p = _parse(text, limits=None)  # no rig: only the file itself is checked
    with pytest.raises(ProtocolFileError, match="frequency_hz"):
        validate_protocol(p, strict, source="p.yaml")


# ------------------------------------------------------------------ mistakes, one line each

INVALID = [
    # (protocol text, words the message must contain)
    ("name: x\nsteps: [", ["not valid YAML", "line"]),
    ("", ["empty"]),
    ("- kind: twitch\n", ["mapping", "top level"]),
    ("name: x\n", ["steps", "is required"]),
    ("name: x\nsteps: []\n", ["steps", "at least 1"]),
    (HEAD + "  - {kind: tetnus, frequency_hz: 100}\n", ["[1/1]", "kind", "'tetnus'", "did you mean 'tetanus'"]),
    (HEAD + "  - {frequency_hz: 100}\n", ["[1/1]", "kind: missing"]),
    (HEAD + SUPRA + "  - {kind: twitch, count: 3}\n", ["[2/2] twitch-2 (twitch) interval_s", "required"]),
    (HEAD + SUPRA + "  - {kind: twitch, count: 0, interval_s: 1}\n", ["[2/2] twitch-2 (twitch) count", ">= 1", "got 0"]),
    (HEAD + SUPRA + "  - {kind: twitch, count: 2.5, interval_s: 1}\n", ["count", "whole number"]),
    (HEAD + SUPRA + "  - {kind: twitch, count: '3', interval_s: 1}\n", ["count", "whole number", "'3'"]),
    (HEAD + SUPRA + "  - {kind: tetanus, frequency_hz: yes, duration_ms: 300, rest_s: 5}\n",
     ["[2/2] tetanus-2 (tetanus) frequency_hz", "number", "boolean"]),
    (HEAD + SUPRA + "  - {kind: tetanus, frequency_hz: .inf, duration_ms: 300, rest_s: 5}\n",
     ["frequency_hz", "finite"]),
    (HEAD + SUPRA + "  - {kind: tetanus, frequency_hz: 100, duration_ms: 300, rest_s: 5, frequency: 3}\n",
     ["[2/2] tetanus-2 (tetanus) frequency:", "not a field of a tetanus step", "frequency_hz"]),
    (HEAD + SUPRA + "  - {kind: tetanus, frequency_hz: 100, duration_s: 0.3, rest_s: 5}\n",
     ["duration_s", "did you mean 'duration_ms'"]),
    (HEAD + SUPRA + "  - {kind: tetanus, frequency_hz: 100, duration_ms: 300, rest_s: 0.5}\n",
     ["[2/2] tetanus-2 (tetanus) rest_s", "0.5 s of rest after a 300 ms train", "minimum of 1 s"]),
    (HEAD + SUPRA + "  - {kind: tetanus, frequency_hz: 100, duration_ms: 2500, rest_s: 5}\n",
     ["duration_ms: 2500 ms exceeds the rig limit of 2000 ms"]),
    (HEAD + SUPRA + "  - {kind: tetanus, frequency_hz: -5, duration_ms: 300, rest_s: 5}\n",
     ["frequency_hz", "> 0", "-5"]),
    (HEAD + SUPRA + "  - {kind: twitch, count: 1, interval_s: 1, current_mA: 12}\n",
     ["[2/2] twitch-2 (twitch) current_mA: 12 mA exceeds the rig limit of 10 mA"]),
    (HEAD + SUPRA + "  - {kind: twitch, count: 1, interval_s: 1, current_mA: 8, pulse_width_ms: 1}\n",
     ["current_mA", "charge per phase 8 mA x 1 ms = 8 uC", "5 uC"]),
    (HEAD + SUPRA + "  - {kind: twitch, count: 1, interval_s: 1, pulse_width_ms: 2}\n",
     ["pulse_width_ms: 2 ms exceeds the rig limit of 1 ms"]),
    (HEAD + SUPRA + "  - {kind: twitch, count: 1, interval_s: 1, current_mA: 2, current: supramaximal}\n",
     ["[2/2] twitch-2 (twitch)", "either current_mA or current"]),
    (HEAD + SUPRA + "  - {kind: twitch, count: 1, interval_s: 1, current: maximal}\n",
     ["current", "'supramaximal'", "'maximal'"]),
    (HEAD + "  - {kind: twitch, count: 1, interval_s: 1}\n",
     ["[1/1] twitch-1 (twitch) current", "no supramaximal step"]),
    (HEAD + "  - {kind: supramaximal, start_mA: 3, step_mA: 0.5, max_mA: 2, interval_s: 1}\n",
     ["[1/1] supramaximal-1 (supramaximal)", "start_mA 3 is above max_mA 2"]),
    (HEAD + "  - {kind: supramaximal, start_mA: 0.5, step_mA: 0.5, max_mA: 12, interval_s: 1}\n",
     ["[1/1] supramaximal-1 (supramaximal) max_mA: 12 mA exceeds the rig limit of 10 mA"]),
    (HEAD + "  - {kind: supramaximal, start_mA: 0.5, step_mA: 0.5, max_mA: 5, interval_s: 1, factor: 2}\n",
     ["factor", "<= 1.5"]),
    (HEAD + SUPRA + "  - {kind: force_frequency, frequencies_hz: [10, 300], duration_ms: 300, rest_s: 5}\n",
     ["[2/2] force_frequency-2 (force_frequency) frequencies_hz[1]: 300 Hz exceeds the rig limit of 250 Hz"]),
    (HEAD + SUPRA + "  - {kind: force_frequency, frequencies_hz: [10, 0], duration_ms: 300, rest_s: 5}\n",
     ["frequencies_hz[1]", "> 0"]),
    (HEAD + SUPRA + "  - {kind: fatigue, frequency_hz: 40, duration_ms: 500, interval_s: 1, trains: 10}\n",
     ["[2/2] fatigue-2 (fatigue) interval_s", "0.5 s of rest after a 500 ms train", "minimum of 1 s"]),
    (HEAD + SUPRA + "  - {kind: fatigue, frequency_hz: 40, duration_ms: 500, interval_s: 2}\n",
     ["[2/2] fatigue-2 (fatigue)", "trains and total_s"]),
    (HEAD + SUPRA + "  - {kind: fatigue, frequency_hz: 40, duration_ms: 500, interval_s: 2, duty_cycle: 0.2, trains: 3}\n",
     ["interval_s and duty_cycle"]),
    (HEAD + SUPRA + "  - {kind: optimal_length, interval_s: 1}\n",
     ["[2/2] optimal_length-2 (optimal_length)", "lengths_mm"]),
    (HEAD + SUPRA + "  - {kind: optimal_length, interval_s: 1, lengths_mm: [28, -30]}\n",
     ["lengths_mm[1]", "> 0"]),
    (HEAD + "  - {kind: rest, duration_s: 0}\n", ["[1/1] rest-1 (rest) duration_s", "> 0"]),
    (HEAD + "  - {kind: prompt}\n", ["[1/1] prompt-1 (prompt) text", "required"]),
    (HEAD + "  - {kind: prompt, text: Set length, request: length_mm, default: long}\n",
     ["[1/1] prompt-1 (prompt)", "positive length"]),
    (HEAD + "  - {kind: rest, duration_s: 1, name: a}\n  - {kind: rest, duration_s: 1, name: a}\n",
     ["[2/2] a (rest) name", "already used by step 1"]),
    ("name: x\nname: y\nsteps: []\n", ["line 2", "'name' appears twice"]),
    ("name: x\nrate: 3\nsteps:\n  - {kind: rest, duration_s: 1}\n", ["rate", "not a field of the protocol"]),
    ("name: x\nwindows: {pre_ms: 0}\nsteps:\n  - {kind: rest, duration_s: 1}\n", ["windows.pre_ms", "> 0"]),
    ("name: x\npulse_width_ms: 1.5\nsteps:\n  - {kind: rest, duration_s: 1}\n",
     ["pulse_width_ms: 1.5 ms exceeds the rig limit of 1 ms"]),
    (HEAD + "  - twitch\n", ["[1/1]", "mapping"]),
]


@pytest.mark.parametrize("text,words", INVALID, ids=[f"invalid-{i}" for i in range(len(INVALID))])
def test_invalid_protocol_is_one_line_naming_the_field(text, words):
    message = _error(text)
    for word in words:
        assert word in message, message


def test_at_least_twenty_kinds_of_mistake():
    assert len(INVALID) >= 20


def test_file_errors(tmp_path):
    with pytest.raises(ProtocolFileError, match="no such protocol file"):
        load_protocol(tmp_path / "missing.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ProtocolFileError, match="not UTF-8"):
        load_protocol(bad)
    with pytest.raises(ProtocolFileError, match="directory"):
        load_protocol(tmp_path)


def test_yaml_tags_are_not_executed():
    text = "name: !!python/object/apply:os.system ['echo pwned']\nsteps: []\n"
    with pytest.raises(ProtocolFileError):
        _parse(text)
