"""Where each protocol step began, as the session file records it: the runner's
``step-started`` audit entries (``docs/file-format.md``).

An entry's ``sample`` is the recorder's stream position when the step began (one past
the newest sample it had been offered: at most one sample block late), the same number
the runner's :class:`~protocols.events.StepStarted` event carried live. Its ``fields``
name the step (``step``, ``step_index``, ``step_kind``); files written before those
fields were added name it only in the message, ``step [2/5] twitches (twitch)``
(:func:`protocols.validation.step_label`), which is read instead.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

STEP_STARTED_KIND = "step-started"
_LABEL = re.compile(r"^step \[(\d+)/\d+\] (.*)$")


@dataclass(frozen=True)
class StepStart:
    """One step's start: its stream sample, position in the protocol (0-based), name, kind."""

    sample: int
    index: int
    name: str
    kind: str

    def to_dict(self, sample_rate_hz: float) -> dict[str, Any]:
        return {"sample": self.sample, "time_s": round(self.sample / float(sample_rate_hz), 6),
                "index": self.index, "step": self.name, "kind": self.kind}


def step_starts_from_audit(audit: Mapping[str, np.ndarray]) -> list[StepStart]:
    """The step starts of an audit table, in stream order; an entry that names no step
    (damaged) is left out."""
    from app.recorder.revisions import rows_of_kind
    out = []
    for i, fields in rows_of_kind(audit, STEP_STARTED_KIND):
        fields = fields or {}
        kind = str(fields.get("step_kind") or "")
        name, index = fields.get("step"), fields.get("step_index")
        if not isinstance(name, str) or not isinstance(index, int):
            name, index = _from_message(str(audit["message"][i]), kind)
        if name:
            out.append(StepStart(int(audit["sample"][i]), index, name, kind))
    out.sort(key=lambda s: s.sample)
    return out


def _from_message(message: str, kind: str) -> tuple[str | None, int]:
    """``(name, index)`` from ``step [2/5] twitches (twitch)``; ``(None, -1)`` otherwise."""
    m = _LABEL.match(message)
    if m is None:
        return None, -1
    name, tail = m.group(2), f" ({kind})" if kind else ""
    if tail and name.endswith(tail):
        name = name[:-len(tail)]
    return name or None, int(m.group(1)) - 1
