"""Capability interfaces: one small ``typing.Protocol`` per thing a device can do.

Application code (recorder, protocol engine, GUI) depends on these, never on a
concrete driver, so the simulated rig, a real rig and test doubles are
interchangeable. The value types that cross the interfaces live here too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from drivers.fire_ledger import FireLedger

# --- per-sample flag bits of the force amplifier stream (docs/wire-protocols.md) ---
FLAG_TRIGGER_EDGE = 0x01   # a rising edge on the trigger input was latched since the previous sample
FLAG_TRIGGER_LEVEL = 0x02  # trigger input level at the sampling instant
FLAG_OVERRANGE = 0x04      # the ADC was at or beyond full scale
FLAG_END_OF_STREAM = 0x80  # last frame after STOP; carries no sample


# --- the two stream rules every consumer shares (runner, GUI ring, recorder, verify) ---
def trigger_edges(flags: np.ndarray, first_sample: int = 0) -> np.ndarray:
    """Stream indices (int64) of the samples in ``flags`` that carry a trigger edge.

    ``flags[i]`` is stream sample ``first_sample + i``. The one place the stimulus-marker
    rule is written: a pulse is marked at the sample whose ``FLAG_TRIGGER_EDGE`` bit is
    set (docs/wire-protocols.md); the runner, the GUI, the recorder, verify and recover
    all find pulses through this function (or :meth:`SampleBlock.trigger_samples`).

    Long uint8 runs (the recorder's batches, a whole recording in verify) are scanned
    eight flags at a time: edges are sparse, so only the few 8-byte words holding one
    are looked at byte by byte (about 3x faster on 10 M samples; same result)."""
    f = np.asarray(flags)
    if f.dtype != np.uint8 or f.ndim != 1 or f.size < _WORD_SCAN_MIN:
        return np.flatnonzero(f & FLAG_TRIGGER_EDGE).astype(np.int64) + int(first_sample)
    f = np.ascontiguousarray(f)
    whole = f.size - f.size % 8
    words = np.flatnonzero(f[:whole].view(np.uint64) & _EDGE_IN_EVERY_BYTE)
    rows, cols = np.nonzero(f[:whole].reshape(-1, 8)[words] & FLAG_TRIGGER_EDGE)
    tail = np.flatnonzero(f[whole:] & FLAG_TRIGGER_EDGE) + whole
    found = np.concatenate([words[rows] * 8 + cols, tail]).astype(np.int64)
    return found + int(first_sample)


#: below this many flags the plain scan is as fast as the word scan
_WORD_SCAN_MIN = 4096
#: FLAG_TRIGGER_EDGE in each byte of a 64-bit word (byte order does not matter: all eight)
_EDGE_IN_EVERY_BYTE = np.uint64(int.from_bytes(bytes([FLAG_TRIGGER_EDGE]) * 8, "little"))


def samples_missing(expected: int | None, first_sample: int) -> int:
    """Samples lost between the stream index a consumer expected next and the first
    sample of the block that came: ``first_sample - expected`` when the block starts
    later, else 0. ``expected`` None means no block has come yet (nothing to compare).

    The one gap-counting rule: a block that starts *earlier* than expected is not a gap
    but a restart or a reordering, which each consumer handles in its own way (the GUI
    ring starts a new generation, the recorder rejects the block)."""
    if expected is None:
        return 0
    return max(0, int(first_sample) - int(expected))


@dataclass(frozen=True)
class Calibration:
    """Counts-to-force conversion: ``force_mN = (counts - offset_counts) * scale_mN_per_count``."""

    scale_mN_per_count: float
    offset_counts: float = 0.0

    def to_mN(self, counts: np.ndarray) -> np.ndarray:
        """Convert raw ADC counts to force in mN (float32), vectorized."""
        return ((np.asarray(counts, dtype=np.float64) - self.offset_counts)
                * self.scale_mN_per_count).astype(np.float32)


@dataclass(frozen=True, eq=False)
class SampleBlock:
    """A run of consecutive samples from the amplifier.

    ``first_sample`` is the stream index (the device's sequence counter, unwrapped,
    0 at START) of ``force_mN[0]``. A block never spans a gap: if samples were lost,
    the next block's ``first_sample`` is larger than this block's end.
    """

    first_sample: int
    force_mN: np.ndarray      # float32, shape (n,)
    flags: np.ndarray         # uint8, shape (n,), FLAG_* bits
    sample_rate_hz: float
    host_time_s: float = 0.0  # wall clock when parsed; informative only, never used for timing
    aux: np.ndarray | None = None  # float32, shape (k, n): auxiliary channels (DAQ rigs), in their units

    def __len__(self) -> int:
        return int(self.force_mN.shape[0])

    @property
    def end_sample(self) -> int:
        """Stream index one past the last sample of this block."""
        return self.first_sample + len(self)

    def trigger_samples(self) -> np.ndarray:
        """Stream indices (int64) of the samples that carry a trigger edge: the stimulus markers."""
        return trigger_edges(self.flags, self.first_sample)


@dataclass(frozen=True)
class StreamStats:
    """Counters of everything that went wrong in a stream; nothing is ever dropped silently."""

    samples: int = 0
    blocks: int = 0
    gaps: int = 0
    lost_samples: int = 0
    checksum_errors: int = 0
    bytes_discarded: int = 0
    sink_overflows: int = 0


@dataclass(frozen=True)
class StreamNotice:
    """A stream event for status subscribers: ``kind`` is 'started' (sample 0: the stream
    began), 'gap', 'checksum', 'resync', 'sink-overflow', 'sink-error', 'disconnected',
    'timeout', 'overrun' (a DAQ buffer overflowed or ran dry) or 'stopped' (``sample`` =
    the device's sequence count at STOP)."""

    kind: str
    message: str
    sample: int | None = None
    count: int = 0


BlockSink = Callable[[SampleBlock], None]
"""A subscriber to sample blocks. Called on the reader thread: must be quick and never block."""

NoticeSink = Callable[[StreamNotice], None]


@dataclass(frozen=True)
class StimulusSpec:
    """One stimulus: a single pulse (``pulses == 1``) or a train of ``pulses`` at ``frequency_hz``.

    Pulses are monophasic, ``current_mA`` through the isolator, ``pulse_width_ms`` long.
    """

    current_mA: float
    pulse_width_ms: float
    pulses: int = 1
    frequency_hz: float | None = None

    @property
    def kind(self) -> str:
        return "twitch" if self.pulses == 1 else "tetanus"

    @property
    def duration_ms(self) -> float:
        """Train duration: from the first pulse's start to one period after the last pulse."""
        if self.pulses == 1 or not self.frequency_hz:
            return self.pulse_width_ms
        return 1000.0 * self.pulses / self.frequency_hz

    @property
    def charge_per_phase_uC(self) -> float:
        from drivers.limits import charge_per_phase_uC
        return charge_per_phase_uC(self.current_mA, self.pulse_width_ms)

    @classmethod
    def train(cls, current_mA: float, pulse_width_ms: float, frequency_hz: float,
              duration_ms: float) -> "StimulusSpec":
        """A train lasting ``duration_ms`` at ``frequency_hz`` (pulse count rounded to nearest)."""
        pulses = max(1, int(round(duration_ms * frequency_hz / 1000.0)))
        return cls(current_mA, pulse_width_ms, pulses, frequency_hz)


@runtime_checkable
class Identified(Protocol):
    @property
    def identity(self) -> str:
        """The device's own identification string (``*IDN?``)."""


@runtime_checkable
class Closable(Protocol):
    def close(self) -> None:
        """Release the port. For a stimulator, output is turned off first."""


@runtime_checkable
class Stimulator(Identified, Closable, Protocol):
    """A nerve stimulator whose pulse timing is done by the device itself."""

    def configure(self, stimulus: StimulusSpec) -> None:
        """Check against the rig limits (raise LimitError, nothing sent), then program the device.
        Output stays off."""

    def fire(self) -> None:
        """Turn the output on and trigger the configured stimulus; returns once the device
        has accepted the trigger. The caller turns the output off when the stimulus is over."""

    def set_output(self, on: bool) -> None:
        """Switch the output on or off."""

    def abort(self) -> None:
        """Stop any stimulus in progress and turn the output off. Safe from any thread, any time."""

    def read_errors(self) -> list[str]:
        """Drain the instrument's error queue; an empty list when there is no error."""


@runtime_checkable
class PacedStimulator(Protocol):
    """A stimulator with a fire-time interlock (``drivers.fire_ledger``) that can say how
    long until it would let a stimulus go (``fire_ledger.fire_delay(spec)``): the runner
    waits out a short hold instead of being refused. Both real drivers have it; a
    stimulator without it is simply fired."""

    @property
    def fire_ledger(self) -> "FireLedger": ...


@runtime_checkable
class ForceAmplifier(Identified, Closable, Protocol):
    """A force transducer amplifier streaming framed samples with a trigger input."""

    @property
    def sample_rate_hz(self) -> float: ...

    @property
    def calibration(self) -> Calibration: ...

    @property
    def stats(self) -> StreamStats: ...

    @property
    def streaming(self) -> bool: ...

    def configure(self, sample_rate_hz: int) -> None:
        """Set the sample rate (only while not streaming)."""

    def tare(self, samples: int = 1000) -> Calibration:
        """Zero the force at the present load; returns the new calibration."""

    def write_calibration(self, calibration: Calibration) -> None:
        """Store a calibration in the device."""

    def subscribe(self, sink: BlockSink) -> Callable[[], None]:
        """Receive every sample block; returns a function that unsubscribes."""

    def subscribe_notices(self, sink: NoticeSink) -> Callable[[], None]:
        """Receive gap, checksum, disconnect and stop notices."""

    def start(self) -> None:
        """Start streaming; sample indices restart at 0."""

    def stop(self) -> None:
        """Stop streaming; returns once the device has sent its end-of-stream frame."""


@runtime_checkable
class LengthControl(Protocol):
    """Setting the muscle length: a motor on some rigs, the simulated world in the sim rig.
    On a manual rig the technician turns the micrometer and there is no LengthControl."""

    def set_length_mm(self, length_mm: float) -> None: ...


@dataclass
class Rig:
    """The devices one experiment uses, and how to release them."""

    stimulator: Stimulator
    amplifier: ForceAmplifier
    length: LengthControl | None = None
    description: dict = field(default_factory=dict)
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def close(self) -> None:
        """Output off and ports released, in that order, whatever fails on the way."""
        errors: list[BaseException] = []
        for step in (self.stimulator.abort, self.stimulator.close, self.amplifier.close, *self._closers):
            try:
                step()
            except Exception as exc:  # keep going: the stimulator must still be released
                errors.append(exc)
        if errors:
            raise errors[0]
