"""Sample-level signal work for the DAQ path, in numpy on whole blocks.

* :func:`hysteresis_edges` turns a stimulator's sync/monitor voltage into sample-exact
  stimulus markers (a Schmitt trigger: rising through ``high`` sets, falling through
  ``low`` resets, noise between the two changes nothing), carrying its state across
  blocks so a pulse split between two reads is one marker.
* :func:`pulse_train` renders a :class:`~drivers.capabilities.StimulusSpec` as analog
  output volts for a voltage-controlled isolator (volts = mA / gain) on the board's
  sample clock, with the sample offset of every pulse, so the pulses' samples are known
  exactly before they are generated.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drivers.capabilities import StimulusSpec
from drivers.errors import LimitError

#: a pulse's width or a train's period must be this close (relative) to whole samples
WHOLE_SAMPLE_TOLERANCE = 0.01


def hysteresis_edges(x: np.ndarray, high: float, low: float,
                     state: bool = False) -> tuple[np.ndarray, np.ndarray, bool]:
    """Rising-edge sample offsets (int64), the level (bool per sample) and the final state.

    A sample at or above ``high`` is high, at or below ``low`` is low, anything between
    keeps the previous level (``state`` before the first sample)."""
    x = np.asarray(x)
    n = x.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool), state
    is_high = x >= high
    defined = is_high | (x <= low)
    last = np.where(defined, np.arange(n), -1)
    np.maximum.accumulate(last, out=last)
    level = np.where(last >= 0, is_high[np.maximum(last, 0)], state)
    before = np.empty(n, dtype=bool)
    before[0] = state
    before[1:] = level[:-1]
    edges = np.flatnonzero(level & ~before).astype(np.int64)
    return edges, level, bool(level[-1])


@dataclass(frozen=True)
class PulseTrain:
    """Analog output samples of one stimulus and the offsets of its pulses' first samples."""

    volts: np.ndarray          # float64
    pulse_offsets: np.ndarray  # int64, into ``volts``
    width_samples: int


def pulse_train(spec: StimulusSpec, rate_hz: float, gain_mA_per_V: float,
                max_output_V: float) -> PulseTrain:
    """Monophasic pulses of ``spec.current_mA / gain`` volts on a ``rate_hz`` clock.

    Raises :class:`LimitError` when the output would exceed ``max_output_V`` or the pulse
    width or train period is not a whole number of samples at this rate (the delivered
    stimulus would differ from the one asked for)."""
    volts = spec.current_mA / gain_mA_per_V
    if volts > max_output_V + 1e-12:
        raise LimitError(f"current {spec.current_mA:g} mA needs {volts:g} V at the isolator gain "
                         f"of {gain_mA_per_V:g} mA/V, above the analog output limit of "
                         f"{max_output_V:g} V")
    width = _whole(spec.pulse_width_ms * rate_hz / 1000.0, rate_hz)
    if spec.pulses == 1 or not spec.frequency_hz:
        offsets = np.zeros(1, dtype=np.int64)
    else:
        period = rate_hz / spec.frequency_hz
        if period < width + 1:
            raise LimitError(f"{spec.frequency_hz:g} Hz leaves no gap between "
                             f"{spec.pulse_width_ms:g} ms pulses at {rate_hz:g} Hz sampling")
        # a period that is not whole samples is spread evenly (rounded per pulse):
        # each pulse's sample is still known exactly
        offsets = np.round(np.arange(spec.pulses) * period).astype(np.int64)
    out = np.zeros(int(offsets[-1]) + width + 1, dtype=np.float64)   # ends at 0 V
    idx = (offsets[:, None] + np.arange(width)[None, :]).ravel()
    out[idx] = volts
    return PulseTrain(out, offsets, width)


def width_problem(width_ms: float, rate_hz: float) -> str | None:
    """Why a pulse of ``width_ms`` cannot be generated exactly on a ``rate_hz`` clock
    (not a whole number of samples, or shorter than one), or None. The run plan asks this
    before a DAQ run starts; :func:`pulse_train` refuses the same widths."""
    samples = width_ms * rate_hz / 1000.0
    n = int(round(samples))
    if n < 1 or abs(samples - n) > WHOLE_SAMPLE_TOLERANCE * max(samples, 1.0):
        step = 1000.0 / rate_hz
        return (f"pulse width {width_ms:g} ms is {samples:.3g} samples at {rate_hz:g} Hz: not a "
                f"whole number of samples (the board generates widths in {step:g} ms steps)")
    return None


def _whole(samples: float, rate_hz: float) -> int:
    problem = width_problem(samples * 1000.0 / rate_hz, rate_hz)
    if problem:
        raise LimitError(problem)
    return int(round(samples))
