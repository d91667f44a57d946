"""Rig safety limits for stimulation, checked before anything is sent to a device."""
from __future__ import annotations

import numbers
from dataclasses import dataclass

from drivers.errors import LimitError


@dataclass(frozen=True)
class StimulusLimits:
    """Hard limits of one rig. Values come from the rig file (see docs/rig-file.md).

    Charge per phase is amplitude x pulse width: it is what damages nerve and
    electrode, so it is limited on its own, not only through its factors.
    """

    max_current_mA: float = 10.0
    max_pulse_width_ms: float = 1.0
    max_frequency_hz: float = 250.0
    max_train_duration_ms: float = 2000.0
    max_charge_per_phase_uC: float = 5.0
    min_rest_after_tetanus_s: float = 1.0

    def check(self, current_mA: float, pulse_width_ms: float,
              frequency_hz: float | None = None, train_duration_ms: float | None = None) -> None:
        """Raise :class:`LimitError` naming the first parameter out of range."""
        def bad(what: str, value: float, limit: float, unit: str) -> LimitError:
            return LimitError(f"{what} {value:g} {unit} exceeds the rig limit of {limit:g} {unit}")

        for name, value in (("current", current_mA), ("pulse width", pulse_width_ms)):
            if not value > 0:
                raise LimitError(f"{name} must be positive, got {value:g}")
        if current_mA > self.max_current_mA:
            raise bad("current", current_mA, self.max_current_mA, "mA")
        if pulse_width_ms > self.max_pulse_width_ms:
            raise bad("pulse width", pulse_width_ms, self.max_pulse_width_ms, "ms")
        charge_uC = current_mA * pulse_width_ms  # mA * ms = uC
        if charge_uC > self.max_charge_per_phase_uC + 1e-12:
            raise bad("charge per phase", charge_uC, self.max_charge_per_phase_uC, "uC")
        if frequency_hz is not None:
            if not frequency_hz > 0:
                raise LimitError(f"frequency must be positive, got {frequency_hz:g}")
            if frequency_hz > self.max_frequency_hz:
                raise bad("frequency", frequency_hz, self.max_frequency_hz, "Hz")
            if pulse_width_ms >= 1000.0 / frequency_hz:
                raise LimitError(
                    f"pulse width {pulse_width_ms:g} ms does not fit in the period of {frequency_hz:g} Hz")
        if train_duration_ms is not None:
            if not train_duration_ms > 0:
                raise LimitError(f"train duration must be positive, got {train_duration_ms:g}")
            if train_duration_ms > self.max_train_duration_ms:
                raise bad("train duration", train_duration_ms, self.max_train_duration_ms, "ms")


def check_stimulus(limits: StimulusLimits, spec) -> None:
    """The check every stimulator makes before anything is sent or written: the pulse
    count is a whole number >= 1, a train has a frequency, and current, pulse width,
    frequency and train duration are within ``limits`` (:meth:`StimulusLimits.check`).
    ``spec`` is a :class:`drivers.capabilities.StimulusSpec`."""
    pulses = spec.pulses
    if isinstance(pulses, bool) or not isinstance(pulses, numbers.Integral) or pulses < 1:
        raise LimitError(f"pulse count must be a whole number of at least 1, got {pulses!r}")
    train = pulses > 1
    if train and spec.frequency_hz is None:
        raise LimitError(f"a train of {pulses} pulses needs a frequency")
    limits.check(spec.current_mA, spec.pulse_width_ms, spec.frequency_hz if train else None,
                 spec.duration_ms if train else None)
