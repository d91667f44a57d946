"""The operator's comments in an exported NWB file: an EventsTable ``/events/operator_comments``
with the text in the core ``annotation`` column (NWB >= 2.9; pynwb deprecates
AnnotationSeries for exactly this), written by the export and read back by ``info`` and
replay in the session reader's form (``app.recorder.comments.Comment.to_dict``).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from app.nwb import COMMENTS


def add_comments(nwbfile: Any, comments: Sequence[Any], fs: float) -> None:
    """One row per comment (:class:`app.recorder.comments.Comment`), in stream order;
    nothing is added for a session without comments."""
    if not comments:
        return
    from hdmf.common import VectorData
    from pynwb.event import EventsTable, TimestampVectorData

    samples = np.array([c.sample for c in comments], dtype=np.int64)
    table = EventsTable(
        name=COMMENTS,
        description="the operator's comments on the session (e.g. 're-tied tendon'), one "
                    "row per comment at the sample it was made at (timestamp = sample / "
                    "rate); comments added after the run ('myoforce annotate --comment') "
                    "are marked added_afterwards",
        source_description="typed by the operator during the run (myoforce acquire mode) or "
                           "added afterwards with 'myoforce annotate'",
        columns=[
            TimestampVectorData(name="timestamp", description="comment time in s (sample / rate)",
                                data=samples / fs, resolution=1.0 / fs),
            VectorData(name="annotation", description="the comment's text",
                       data=[c.text for c in comments]),
            VectorData(name="sample", description="index of the comment's sample in "
                       "acquisition/force", data=samples),
            VectorData(name="time_utc", description="ISO 8601 UTC wall time the comment was "
                       "written (for one added afterwards: when it was added)",
                       data=[c.time_utc for c in comments]),
            VectorData(name="added_afterwards", description="true if added after the run",
                       data=np.array([c.added_afterwards for c in comments], dtype=bool)),
            VectorData(name="source", description="who/what made the comment ('operator' "
                       "during the run; annotate's --source afterwards)",
                       data=[c.source for c in comments]),
        ])
    nwbfile.add_events_table(table)


def read_comments(nwb: Any, fs: float) -> list[dict[str, Any]]:
    """The comments of an open NWBFile as ``info`` lists them ([] if it has none)."""
    if not nwb.events or COMMENTS not in nwb.events:
        return []
    t = nwb.events[COMMENTS]
    out = []
    for i in range(len(t)):
        sample = int(t["sample"][i])
        out.append({"sample": sample, "time_s": round(sample / fs, 6),
                    "time_utc": str(t["time_utc"][i]), "text": str(t["annotation"][i]),
                    "added_afterwards": bool(t["added_afterwards"][i]),
                    "source": str(t["source"][i])})
    return out
