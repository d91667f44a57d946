"""The protocol's steps in an exported NWB file: an EventsTable ``/events/protocol_steps``,
one row per step at the sample its ``step-started`` audit entry holds
(:mod:`app.recorder.step_starts`), with the time until the next step began as its
``duration``; written by the export and read back by ``info`` and replay.

An events table, not ``/intervals/epochs``: NWB's EventsTable is for rows anchored at one
timestamp whose duration is "absent, optional, or mixed", and steps are mixed: a note
takes no stream time (it starts at the same sample as the next step), which an interval
table would hold as stop_time == start_time, a best-practice violation nwbinspector
reports.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from app.nwb import STEPS


def step_durations(samples: np.ndarray, end: int) -> np.ndarray:
    """Samples from each start to the next step's start, the last to ``end`` (the end of
    the recording); -1 where that is before the start (a step logged after the last
    recorded sample: its length is not known)."""
    stops = np.append(samples[1:], np.int64(end))
    out = stops - samples
    out[out < 0] = -1
    return out


def add_steps(nwbfile: Any, starts: Sequence[Any], fs: float, end: int) -> None:
    """One row per step start (:class:`app.recorder.step_starts.StepStart`), in stream
    order; nothing is added for a session without ``step-started`` entries (files from
    before the runner logged them)."""
    if not starts:
        return
    from hdmf.common import VectorData
    from pynwb.event import DurationVectorData, EventsTable, TimestampVectorData

    samples = np.array([s.sample for s in starts], dtype=np.int64)
    lengths = step_durations(samples, end)
    table = EventsTable(
        name=STEPS,
        description="the protocol's steps as they ran, one row per step at the sample where "
                    "it began (timestamp = sample / rate): the recorder's stream position "
                    "when the runner started the step, at most one sample block late and "
                    "never after the step's first stimulus. duration runs to the next "
                    "step's start (the last step: to the end of acquisition/force); 0 for a "
                    "step that took no stream time (a note), NaN if not known. Steps that "
                    "never started (after an abort) have no row",
        source_description="the protocol runner's 'step-started' entries of the session's "
                           "audit log",
        columns=[
            TimestampVectorData(name="timestamp", description="step start in s (sample / rate)",
                                data=samples / fs, resolution=1.0 / fs),
            DurationVectorData(name="duration", description="s until the next step began (the "
                               "last step: until the end of the recording); NaN if unknown",
                               data=np.where(lengths < 0, np.nan, lengths / fs),
                               resolution=1.0 / fs),
            VectorData(name="step", description="the step's name in the protocol",
                       data=[s.name for s in starts]),
            VectorData(name="kind", description="the step's kind (twitch, tetanus, rest, "
                       "note, prompt, ...; '' if the file did not record it)",
                       data=[s.kind for s in starts]),
            VectorData(name="index_in_protocol", description="the step's position in the "
                       "protocol (0-based; the protocol text is the file's 'protocol')",
                       data=np.array([s.index for s in starts], dtype=np.int64)),
            VectorData(name="sample", description="index of the step's start sample in "
                       "acquisition/force (exact)", data=samples),
        ])
    nwbfile.add_events_table(table)


def read_steps(nwb: Any, fs: float) -> list[dict[str, Any]] | None:
    """The step starts of an open NWBFile as ``info`` lists them (``step_starts``), or
    None if it has no steps table."""
    if not nwb.events or STEPS not in nwb.events:
        return None
    from app.recorder.step_starts import StepStart
    t = nwb.events[STEPS]
    return [StepStart(int(sample), int(index), str(name), str(kind)).to_dict(fs)
            for sample, index, name, kind in zip(t["sample"][:], t["index_in_protocol"][:],
                                                 t["step"][:], t["kind"][:])]
