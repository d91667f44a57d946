"""Every stimulus limit is enforced by the driver before a single byte is sent."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.capabilities import StimulusSpec
from drivers.errors import LimitError
from drivers.limits import StimulusLimits
from drivers.stimulator import ScpiStimulator
from tests.test_stimulator_scpi import FakeTransport

LIMITS = StimulusLimits(max_current_mA=10.0, max_pulse_width_ms=1.0, max_frequency_hz=250.0,
                        max_train_duration_ms=2000.0, max_charge_per_phase_uC=5.0)


def opened(gain: float = 1.0, max_output_V: float = 10.0):
    fake = FakeTransport()
    stim = ScpiStimulator.attach(fake, limits=LIMITS, isolator_gain_mA_per_V=gain,
                                 max_output_V=max_output_V)
    return stim, fake


REFUSED = [
    # (spec, gain, max_output_V, words the message must contain)
    (StimulusSpec(10.5, 0.1), 1.0, 20.0, "current"),
    (StimulusSpec(2.0, 1.2), 1.0, 10.0, "pulse width"),
    (StimulusSpec(2.0, 0.2, 10, 300.0), 1.0, 10.0, "frequency"),
    (StimulusSpec(2.0, 0.2, 500, 200.0), 1.0, 10.0, "train duration"),   # 2500 ms
    (StimulusSpec(6.0, 1.0), 1.0, 10.0, "charge per phase"),             # 6 uC
    (StimulusSpec(8.0, 0.2), 0.5, 10.0, "output voltage"),               # 16 V
    (StimulusSpec(3.0, 0.2), 1.0, 2.5, "output voltage"),                # 3 V > 2.5 V
    (StimulusSpec(0.0, 0.2), 1.0, 10.0, "current"),
    (StimulusSpec(-1.0, 0.2), 1.0, 10.0, "current"),
    (StimulusSpec(math.nan, 0.2), 1.0, 10.0, "current"),
    (StimulusSpec(1.0, 0.0), 1.0, 10.0, "pulse width"),
    (StimulusSpec(1.0, math.inf), 1.0, 10.0, "pulse width"),
    (StimulusSpec(1.0, 0.2, 5, None), 1.0, 10.0, "frequency"),
    (StimulusSpec(1.0, 0.2, 5, -10.0), 1.0, 10.0, "frequency"),
    (StimulusSpec(1.0, 0.2, 0, None), 1.0, 10.0, "pulse count"),
]


@pytest.mark.parametrize("spec, gain, max_V, words", REFUSED)
def test_out_of_limit_stimulus_is_refused_and_nothing_is_sent(spec, gain, max_V, words):
    stim, fake = opened(gain, max_V)
    before = list(fake.sent)
    with pytest.raises(LimitError) as info:
        stim.configure(spec)
    assert words in str(info.value)
    assert "\n" not in str(info.value)
    assert fake.sent == before and fake.urgent == []
    assert stim.configured is None


def test_a_width_that_does_not_fit_the_period_is_refused_unsent():
    fake = FakeTransport()
    stim = ScpiStimulator.attach(fake, limits=StimulusLimits(max_frequency_hz=5000.0))
    before = list(fake.sent)
    with pytest.raises(LimitError, match="pulse width 0.6 ms does not fit"):
        stim.configure(StimulusSpec(1.0, 0.6, 5, 2000.0))
    assert fake.sent == before


@pytest.mark.parametrize("call, words", [
    (lambda s: s.single_pulse(11.0, 0.2), "current"),
    (lambda s: s.single_pulse(2.0, 3.0), "pulse width"),
    (lambda s: s.train(2.0, 0.2, 400.0, 100.0), "frequency"),
    (lambda s: s.train(2.0, 0.2, 100.0, 2100.0), "train duration"),
    (lambda s: s.train(2.0, 0.2, 100.0, 0.0), "train duration"),
    (lambda s: s.train(9.0, 0.9, 100.0, 100.0), "charge per phase"),
])
def test_conveniences_check_limits_before_sending(call, words):
    stim, fake = opened()
    before = list(fake.sent)
    with pytest.raises(LimitError, match=words):
        call(stim)
    assert fake.sent == before


def test_values_at_the_limits_are_accepted():
    stim, fake = opened(gain=1.0, max_output_V=10.0)
    stim.configure(StimulusSpec(5.0, 1.0))                     # charge exactly 5 uC
    stim.configure(StimulusSpec(10.0, 0.5))                    # current and 10 V exactly
    stim.configure(StimulusSpec(1.0, 0.2, 500, 250.0))         # 250 Hz for 2000 ms
    assert "VOLT:HIGH 10" in fake.sent and "BURS:NCYC 500" in fake.sent


def test_voltage_limit_depends_on_the_isolator_gain():
    # 8 mA needs 8 V at 1 mA/V (allowed) but 16 V at 0.5 mA/V (refused)
    stim, fake = opened(gain=1.0)
    stim.configure(StimulusSpec(8.0, 0.2))
    assert "VOLT:HIGH 8" in fake.sent
    stim, fake = opened(gain=0.5)
    with pytest.raises(LimitError, match="16 V"):
        stim.configure(StimulusSpec(8.0, 0.2))


@settings(max_examples=150, deadline=None)
@given(current=st.floats(-1, 15, allow_nan=False), width=st.floats(0.01, 2.0),
       pulses=st.integers(1, 700), freq=st.floats(1, 400), gain=st.sampled_from([0.5, 1, 2]))
def test_every_stimulus_is_either_refused_unsent_or_programmed_within_limits(
        current, width, pulses, freq, gain):
    stim, fake = opened(gain=gain)
    before = len(fake.sent)
    spec = StimulusSpec(current, width, pulses, freq if pulses > 1 else None)
    try:
        stim.configure(spec)
    except LimitError:
        assert len(fake.sent) == before
        return
    sent = fake.sent[before:]
    volts = float(next(c for c in sent if c.startswith("VOLT:HIGH ")).split()[1])
    width_s = float(next(c for c in sent if c.startswith("FUNC:PULS:WIDT ")).split()[1])
    hz = float(next(c for c in sent if c.startswith("FREQ ")).split()[1])
    ncyc = int(next(c for c in sent if c.startswith("BURS:NCYC ")).split()[1])
    delivered_mA = volts * gain
    assert 0 < delivered_mA <= LIMITS.max_current_mA * (1 + 1e-8)
    assert volts <= 10.0 * (1 + 1e-8)
    assert 0 < width_s * 1000 <= LIMITS.max_pulse_width_ms * (1 + 1e-8)
    assert delivered_mA * width_s * 1000 <= LIMITS.max_charge_per_phase_uC * (1 + 1e-6)
    assert width_s < 1.0 / hz
    assert ncyc == pulses
    if pulses > 1:
        assert hz <= LIMITS.max_frequency_hz
        assert 1000.0 * ncyc / hz <= LIMITS.max_train_duration_ms * (1 + 1e-8)
