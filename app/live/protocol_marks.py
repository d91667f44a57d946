"""Where the protocol is on the trace: step and trial marks at the samples the recording names.

One rule for the live trace and replay, so both show the same marks:

* a step is marked (kind ``step``, labelled with the step's name) at the sample where
  it began: the stream position the recorder had reached when the runner started it
  (one past the newest sample it had been offered, so at most one read period late,
  and never after the step's first stimulus). Every step gets its mark, rests, notes
  and prompts included;
* every trial is marked (kind ``trial``) at its first stimulus pulse, or at the start of
  its window when no pulse was found, labelled ``twitch 3`` / ``tetanus 7 50 Hz``.

Live, the samples come from the runner's events (:class:`~protocols.events.StepStarted`
``.sample``, :class:`~protocols.events.TrialRecorded`; stream indices, the recorder's and
the ring's); in replay from the recording's ``step-started`` audit entries (the same
samples, :mod:`app.recorder.step_starts`) and its trial table. Never from the host's
clock: a mark placed when an event reaches the GUI would sit wherever the newest sample
happened to be.

Where the step's start sample is unknown (a run storing to no recorder; a file without
``step-started`` entries, e.g. an import or an NWB export) a step is marked at the mark
of its first trial instead, where a trial's step differs from the previous trial's: a
step that records no trial then has no mark.
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
    """Turns a run's step starts and trials, in the order they happen, into
    ``(sample, label, kind)`` marks (a new session: a new instance)."""

    def __init__(self) -> None:
        self._step: str | None = None      # the step already marked

    def step_started(self, name: str, sample: int | None) -> Iterator[tuple[int, str, str]]:
        """The step's mark at ``sample``; with no sample, none now: its first trial's."""
        if sample is not None and name:
            self._step = name
            yield int(sample), name, STEP
        else:
            self._step = None

    def marks(self, trial: TrialMark) -> Iterator[tuple[int, str, str]]:
        """The step mark if ``trial`` starts a step not marked yet, then the trial's mark."""
        if trial.step and trial.step != self._step:
            yield trial.sample, trial.step, STEP
        self._step = trial.step
        yield trial.sample, trial.label, TRIAL


def all_marks(trials: Iterable[TrialMark],
              step_starts: Iterable[tuple[int, str]] = ()) -> list[tuple[int, str, str]]:
    """Every mark of a recording, sorted by sample: ``trials`` (in trial order) and
    ``step_starts`` (``(sample, step name)``, its ``step-started`` entries). Without step
    starts, a step is marked at its first trial."""
    starts = [(int(s), str(name), STEP) for s, name in step_starts if name]
    if starts:
        out = starts + [(t.sample, t.label, TRIAL) for t in trials]
    else:
        marks = ProtocolMarks()
        out = [m for t in trials for m in marks.marks(t)]
    return sorted(out, key=lambda m: m[0])
