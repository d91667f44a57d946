"""Where the protocol is on the trace: step and trial marks at the samples the recording names.

One rule for the live trace and replay, so both show the same marks:

* every trial is marked (kind ``trial``) at its first stimulus pulse, or at the start of
  its window when no pulse was found, labelled ``twitch 3`` / ``tetanus 7 50 Hz``;
* a step is marked (kind ``step``, labelled with the step's name) at the mark of its
  first trial: where a trial's step differs from the previous trial's.

Live, the samples come from the runner's :class:`~protocols.events.TrialRecorded`
(stream indices, the recorder's and the ring's); in replay from the recording's trial
table. Never from the host's clock: a mark placed when an event reaches the GUI would
sit wherever the newest sample happened to be. So a step that records no trial (a rest,
a note, a prompt) has no mark, and a step's mark appears once its first trial is
recorded; the Run box names the running step at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Iterator

if TYPE_CHECKING:
    from app.recording import Trial
    from protocols.events import TrialRecorded

STEP = "step"
TRIAL = "trial"


@dataclass(frozen=True)
class TrialMark:
    """One trial as the marks need it."""

    sample: int          # first pulse, else the window's first sample
    step: str            # its step's name ('' when the file names none)
    label: str


def trial_label(kind: str, index: int, frequency_hz: float | None = None) -> str:
    """``twitch 3``, ``tetanus 7 50 Hz``."""
    return f"{kind} {index}" + (f" {frequency_hz:g} Hz" if frequency_hz else "")


def mark_sample(first_pulse_sample: int | None, start_sample: int) -> int:
    """Where a trial is marked: its first pulse, else (no pulse found, or -1 as the
    file stores None) its window's first sample."""
    if first_pulse_sample is None or first_pulse_sample < 0:
        return int(start_sample)
    return int(first_pulse_sample)


def from_event(ev: "TrialRecorded") -> TrialMark:
    """The mark of a :class:`~protocols.events.TrialRecorded`."""
    return TrialMark(mark_sample(ev.first_pulse_sample, ev.start_sample), ev.step or "",
                     trial_label(ev.kind, ev.trial_index, ev.frequency_hz))


def from_trials(trials: Iterable["Trial"]) -> list[TrialMark]:
    """The marks of a recording's trials (:class:`app.recording.Trial`), in trial order."""
    return [TrialMark(int(t.first_stim_sample), t.step or "",
                      trial_label(t.kind, t.index, t.frequency_hz))
            for t in sorted(trials, key=lambda t: t.index)]


class ProtocolMarks:
    """Turns trials, in the order they are recorded, into ``(sample, label, kind)`` marks,
    remembering the last trial's step (a new session: a new instance)."""

    def __init__(self) -> None:
        self._step: str | None = None

    def marks(self, trial: TrialMark) -> Iterator[tuple[int, str, str]]:
        """The step mark if ``trial`` starts a step, then the trial's mark."""
        if trial.step and trial.step != self._step:
            yield trial.sample, trial.step, STEP
        self._step = trial.step
        yield trial.sample, trial.label, TRIAL


def all_marks(trials: Iterable[TrialMark]) -> list[tuple[int, str, str]]:
    """Every mark of ``trials`` (in trial order), sorted by sample."""
    marks = ProtocolMarks()
    out = [m for t in trials for m in marks.marks(t)]
    return sorted(out, key=lambda m: m[0])
