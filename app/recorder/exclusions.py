"""Trials a researcher excludes from a session's numbers, with the reason, as appended
audit rows: the raw data and the trial table are never touched.

Reviewing a session, one finds a contraction that must not count (the animal moved,
the electrode slipped, an artefact the quality flags did not catch). Excluding it is
an audit row of kind ``trial-excluded`` with ``fields`` ``{"trial": N, "reason": TEXT,
"source": ...}``; taking it back is a row of kind ``trial-included`` with the same
fields (the reason optional). The latest row per trial decides
(:func:`exclusions_from_audit`), so the history stays in the file and every reader
(analyze, compare, the study report, the NWB export, the GUI's replay) sees the same
exclusions through :attr:`app.recording.Recording.exclusions`. The analysis still
measures an excluded trial, flags it ``excluded`` and leaves it out of every
session-level number (docs/analysis.md §5, §11).

Written by :func:`set_trial_exclusion` (``myoforce annotate FILE --exclude-trial N
--reason TEXT`` / ``--include-trial N``; the GUI calls the same function), like a
metadata revision (:mod:`app.recorder.revisions`): everything is checked before the
file is opened for writing, a file still being recorded is refused.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from app.errors import UserError

EXCLUDED_KIND = "trial-excluded"
INCLUDED_KIND = "trial-included"
#: longest reason accepted (characters): the comment rule (one readable line)
MAX_REASON_CHARS = 200


@dataclass(frozen=True)
class TrialExclusion:
    """One trial left out of the session's numbers: which, why, when, by what."""

    trial: int
    reason: str
    time_utc: str = ""
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.trial, "reason": self.reason, "time_utc": self.time_utc,
                "source": self.source}


def validate_reason(text: Any, *, required: bool = True) -> str:
    """The reason as stored (the comment rule: one line, no control characters, at
    most :data:`MAX_REASON_CHARS`); UserError saying what is wrong. An empty reason is
    refused when ``required`` (excluding), allowed when taking an exclusion back."""
    from app.recorder.comments import validate_line
    if not required and (text is None or (isinstance(text, str) and not text.strip())):
        return ""
    return validate_line(text, "reason", "why the trial must not count (e.g. 'animal moved')",
                         MAX_REASON_CHARS)


def validate_trial_number(trial: Any) -> int:
    """``trial`` as an int, or UserError (text, a fraction or a bool is not a trial index)."""
    if isinstance(trial, (int, np.integer)) and not isinstance(trial, bool):
        return int(trial)
    raise UserError(f"trial {trial!r} is not a trial index (a whole number, e.g. 3)")


def exclusions_from_audit(audit: Mapping[str, np.ndarray]) -> dict[int, TrialExclusion]:
    """The current exclusions of an audit table, by trial index (ascending): rows in
    the order written, the latest per trial wins. A row whose fields are damaged or
    name no trial is skipped (it cannot say which trial it meant)."""
    import json
    current: dict[int, TrialExclusion] = {}
    kinds = audit.get("kind", [])
    for i, kind in enumerate(kinds):
        if kind not in (EXCLUDED_KIND, INCLUDED_KIND):
            continue
        try:
            fields = json.loads(audit["fields"][i] or "{}")
        except ValueError:
            continue
        trial = fields.get("trial") if isinstance(fields, dict) else None
        if isinstance(trial, bool) or not isinstance(trial, int):
            continue
        if kind == INCLUDED_KIND:
            current.pop(trial, None)
            continue
        reason = fields.get("reason")
        current[trial] = TrialExclusion(trial, str(reason) if isinstance(reason, str) else
                                        str(audit["message"][i]), str(audit["time_utc"][i]),
                                        str(fields.get("source", "")))
    return dict(sorted(current.items()))


def read_exclusions(path: str | os.PathLike[str]) -> dict[int, TrialExclusion]:
    """The current exclusions of a session file (complete, being written or crashed)."""
    from app.recorder.reader import open_session
    with open_session(path) as sf:
        return sf.trial_exclusions


def check_excludable(path: str | os.PathLike[str]) -> None:
    """UserError unless trials of ``path`` can be excluded (or included again): a
    myoforce .h5 session no longer being recorded (an import, an NWB export or a running
    recording is refused with the reason), so a program can say so before anyone asks."""
    from app.importers import detect_format
    from app.recorder.revisions import check_finished
    path = Path(path)
    if detect_format(path) != "myoforce-h5":
        raise UserError(f"{path}: trials are excluded in myoforce .h5 sessions only")
    check_finished(path)


def set_trial_exclusion(path: str | os.PathLike[str], trial: int, excluded: bool = True,
                        reason: str = "", source: str = "annotate"
                        ) -> dict[int, TrialExclusion]:
    """Exclude ``trial`` from the session's numbers with ``reason`` (``excluded``), or
    take an exclusion back (``excluded=False``; the reason is optional); returns the
    exclusions now in force, by trial index.

    One audit row is appended to a finished myoforce ``.h5`` session. UserError, and
    nothing written, for: a file that is not a myoforce session or is still being
    recorded, a trial index the session does not have, an empty/multi-line/too long
    reason, taking back a trial that is not excluded. Excluding an excluded trial again
    replaces its reason (both rows stay in the file).

    The file is opened for writing: a lazy :class:`~app.recording.Recording` of it that
    this process still holds open (a replay) must be closed first (HDF5 will not open
    for writing a file the same process has open for reading: refused in one line).
    Afterwards, set the replayed recording's ``exclusions`` to the returned dict (or
    load it again) and analyse again.
    """
    from app.recorder import layout as L
    from app.recorder.reader import open_session, session_trials
    from app.recorder.revisions import append_audit_row
    n = validate_trial_number(trial)
    reason = validate_reason(reason, required=excluded)
    path = Path(path)
    check_excludable(path)
    with open_session(path) as sf:
        indices = [t.index for t in session_trials(sf)]
        current = sf.trial_exclusions
    if n not in indices:
        have = (f"it has {len(indices)} trial(s), numbered {min(indices)} to {max(indices)}"
                if indices else "it has no trials")
        raise UserError(f"{path}: no trial {n} in this session ({have})")
    if not excluded and n not in current:
        raise UserError(f"{path}: trial {n} is not excluded: nothing to include again")
    if excluded:
        message = f"trial {n} excluded from the session's numbers ({source}): {reason}"
    else:
        message = (f"trial {n} included again ({source})" + (f": {reason}" if reason else ""))
    fields = {"trial": n, "reason": reason, "source": str(source)}
    append_audit_row(path, {"time_utc": L.utc_now_iso(), "sample": -1,
                            "kind": EXCLUDED_KIND if excluded else INCLUDED_KIND,
                            "message": message, "fields": L.to_json(fields)})
    return read_exclusions(path)
