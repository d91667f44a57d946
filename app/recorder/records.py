"""Value types that go into and come out of a session file: trials, gaps, audit entries,
and the notices the recorder sends to its owner."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from app.recorder.layout import utc_now_iso
from drivers.capabilities import StimulusSpec

_NAN = float("nan")


@dataclass(frozen=True, kw_only=True)
class TrialRecord:
    """One row of the trial table, as the protocol runner knows it when a trial ends.

    Sample indices are stream indices (the same index as ``/force``). Unknown numbers
    are NaN (stored as NaN, read back as ``None``), never made-up defaults.
    """

    index: int
    kind: str                          # 'twitch' or 'tetanus'
    start_sample: int
    stop_sample: int
    step: str = ""
    first_pulse_sample: int = -1       # -1: no pulse seen
    pulses: int = 0
    current_mA: float = _NAN
    pulse_width_ms: float = _NAN
    frequency_hz: float = _NAN
    status: str = "completed"          # 'completed' or 'aborted'
    length_mm: float = _NAN
    wall_time_utc: str = field(default_factory=utc_now_iso)

    def __post_init__(self) -> None:
        if self.kind not in ("twitch", "tetanus"):
            raise ValueError(f"trial kind must be 'twitch' or 'tetanus', not {self.kind!r}")
        if self.status not in ("completed", "aborted"):
            raise ValueError(f"trial status must be 'completed' or 'aborted', not {self.status!r}")
        if self.stop_sample < self.start_sample:
            raise ValueError(f"trial {self.index}: stop_sample {self.stop_sample} is before "
                             f"start_sample {self.start_sample}")

    @classmethod
    def from_stimulus(cls, *, index: int, stimulus: StimulusSpec, start_sample: int,
                      stop_sample: int, first_pulse_sample: int = -1, pulses: int | None = None,
                      step: str = "", status: str = "completed",
                      length_mm: float | None = None) -> "TrialRecord":
        """A record filled from the stimulus that was delivered (``pulses`` defaults to the
        programmed count; pass the counted markers when known)."""
        freq = stimulus.frequency_hz if stimulus.pulses > 1 and stimulus.frequency_hz else _NAN
        return cls(index=index, kind=stimulus.kind, start_sample=start_sample,
                   stop_sample=stop_sample, step=step, first_pulse_sample=first_pulse_sample,
                   pulses=stimulus.pulses if pulses is None else pulses,
                   current_mA=stimulus.current_mA, pulse_width_ms=stimulus.pulse_width_ms,
                   frequency_hz=freq, status=status,
                   length_mm=_NAN if length_mm is None else float(length_mm))


@dataclass(frozen=True)
class RecorderNotice:
    """Something the recorder's owner must react to.

    ``kind``: 'write-failed' (the file can take no more data: stop the experiment),
    'data-loss' (samples were lost and logged in the gap log), 'stream-error' (a block
    was rejected: out of order or wrong rate).
    """

    kind: str
    message: str
    sample: int | None = None
    count: int = 0


@dataclass(frozen=True)
class Gap:
    """A run of missing samples: NaN in ``/force``, one row of ``/gaps``."""

    sample: int
    count: int
    cause: str

    @property
    def end(self) -> int:
        return self.sample + self.count


@dataclass(frozen=True)
class AuditEntry:
    """One audit-log row: an operator action, a stimulator command or a recorder event."""

    time_utc: str
    sample: int
    kind: str
    message: str
    fields: str = "{}"       # JSON object


def nan_to_none(value: float) -> float | None:
    """Table floats use NaN for unknown; Python callers get ``None``."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value
