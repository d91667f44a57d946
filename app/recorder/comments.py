"""Operator comments: a line of text attached to a stream sample ("re-tied tendon",
"extra anaesthetic 0.05 ml"), as LabChart's Comments and Aurora DMC's notes.

A comment is an audit-log row of kind ``comment`` (``docs/file-format.md``): the row's
``sample`` is where it belongs in the stream, its ``time_utc`` when it was written, its
``message`` the text, and its ``fields`` ``{"text": ..., "source": ...}`` plus
``"added_afterwards": true`` for one added after the run. Going through the audit log
makes a comment made during a run as crash-safe as everything else the recorder writes.

Written two ways, with one rule for the text (:func:`validate_comment`):
:func:`record_comment` during a run (the recorder's :meth:`log`, at the newest sample
it was offered), and :func:`add_comment_afterwards` (``myoforce annotate FILE --comment
TEXT --at SECONDS``) on a finished file, appended like a metadata revision
(:mod:`app.recorder.revisions`). Read back by :func:`comments_from_audit`.
"""
from __future__ import annotations

import math
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from app.errors import UserError

COMMENT_KIND = "comment"
#: longest comment accepted (characters): a note, not a report; a bound keeps the
#: trace's labels and ``info``'s lines readable
MAX_COMMENT_CHARS = 200


@dataclass(frozen=True)
class Comment:
    """One comment: where in the stream, when written, what it says.

    ``time_utc`` is when the comment was written: during a run, the moment of its
    sample (to within one sample block); for one added afterwards, the moment it was
    added (its place in the recording is ``sample``).
    """

    sample: int
    time_utc: str
    text: str
    added_afterwards: bool = False
    source: str = ""

    def time_s(self, sample_rate_hz: float) -> float:
        """Seconds from the start of the recording (stream time of ``sample``)."""
        return self.sample / float(sample_rate_hz)

    def to_dict(self, sample_rate_hz: float) -> dict[str, Any]:
        return {"sample": self.sample, "time_s": round(self.time_s(sample_rate_hz), 6),
                "time_utc": self.time_utc, "text": self.text,
                "added_afterwards": self.added_afterwards, "source": self.source}


def validate_comment(text: Any) -> str:
    """The comment as stored (surrounding blanks removed), or UserError saying what is
    wrong: not text, empty, more than one line, a control character, too long."""
    return validate_line(text, "comment", "what happened (e.g. 're-tied tendon')")


def validate_line(text: Any, what: str, hint: str, max_chars: int = MAX_COMMENT_CHARS) -> str:
    """One line of a person's text (a comment, the reason a trial was excluded), as
    stored: surrounding blanks removed; UserError naming ``what`` when it is not text,
    empty (``hint`` says what to type), more than one line, has a control character or
    is longer than ``max_chars``. One rule, so every note in a file reads alike."""
    if not isinstance(text, str):
        raise UserError(f"{what} must be text, not {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise UserError(f"{what} is empty: type {hint}")
    if any(c in stripped for c in "\r\n\u2028\u2029\x0b\x0c\x85"):
        raise UserError(f"{what} must be one line (it contains a line break)")
    bad = next((c for c in stripped if unicodedata.category(c) == "Cc"), None)
    if bad is not None:
        raise UserError(f"{what} contains a control character ({bad!r}): type plain text")
    if len(stripped) > max_chars:
        raise UserError(f"{what} is {len(stripped)} characters long; at most "
                        f"{max_chars} are kept in one {what}")
    return stripped


def record_comment(recorder: Any, text: str, source: str = "operator") -> Comment:
    """Write a comment through a running recorder's audit log, at the newest sample it
    was offered (:meth:`app.recorder.writer.SessionRecorder.log`); UserError, and
    nothing written, for bad text or a recorder that is not recording."""
    text = validate_comment(text)
    if recorder is None or not getattr(recorder, "is_open", False):
        raise UserError("no recording is running: comment not saved (comments are saved "
                        "during a run, or afterwards with 'myoforce annotate FILE --comment')")
    entry = recorder.log(COMMENT_KIND, text, text=text, source=source)
    return Comment(int(entry.sample), entry.time_utc, text, False, source)


def comments_from_audit(audit: Mapping[str, np.ndarray]) -> list[Comment]:
    """The comments of an audit table, in stream order (ties: in the order written)."""
    from app.recorder.revisions import rows_of_kind
    out = []
    for i, fields in rows_of_kind(audit, COMMENT_KIND):
        fields = fields or {}                  # damaged fields: the message is the text
        text = fields.get("text")
        out.append(Comment(int(audit["sample"][i]), str(audit["time_utc"][i]),
                           str(text if isinstance(text, str) else audit["message"][i]),
                           bool(fields.get("added_afterwards", False)),
                           str(fields.get("source", ""))))
    out.sort(key=lambda c: c.sample)
    return out


def read_comments(path: str | os.PathLike[str]) -> list[Comment]:
    """The comments of a session file (complete, being written or crashed)."""
    from app.recorder.reader import open_session
    with open_session(path) as sf:
        return sf.comments


def add_comment_afterwards(path: str | os.PathLike[str], text: str, at_s: float,
                           source: str = "annotate") -> Comment:
    """Append a comment at ``at_s`` seconds into a finished session, marked as added
    afterwards; returns it. Text, time and file are checked before anything is written
    (nothing is written on error); raw data is never touched."""
    text = validate_comment(text)
    sample = comment_sample(path, at_s)
    from app.recorder import layout as L
    from app.recorder.revisions import append_audit_row
    comment = Comment(sample, L.utc_now_iso(), text, True, str(source))
    append_audit_row(Path(path), {
        "time_utc": comment.time_utc, "sample": sample, "kind": COMMENT_KIND,
        "message": text,
        "fields": L.to_json({"text": text, "source": comment.source, "added_afterwards": True,
                             "at_s": float(at_s)})})
    return comment


def comment_sample(path: str | os.PathLike[str], at_s: float) -> int:
    """The sample ``at_s`` seconds into a finished session: UserError for a time that
    is not a number or lies outside the recording, or a file still being recorded."""
    from app.recorder.reader import open_session
    try:
        at = float(at_s)
    except (TypeError, ValueError):
        raise UserError(f"--at {at_s!r}: give the time in seconds from the start "
                        f"(e.g. --at 12.5)") from None
    if not math.isfinite(at):
        raise UserError(f"--at {at_s}: give a finite time in seconds from the start")
    path = Path(path)
    check_commentable(path)
    with open_session(path) as sf:
        rate, samples = sf.sample_rate_hz, sf.samples
    if at < 0 or at > samples / rate:
        raise UserError(f"--at {at:g} s is outside the recording (0 to {samples / rate:.3f} s)")
    return min(int(round(at * rate)), max(0, samples - 1))


def check_commentable(path: str | os.PathLike[str]) -> None:
    """UserError unless comments can be added to ``path`` afterwards: a myoforce .h5
    session no longer being recorded (an import, an NWB export or a running recording is
    refused with the reason), so a program can say so before anyone types one."""
    from app.importers import detect_format
    from app.recorder.revisions import check_finished
    path = Path(path)
    if detect_format(path) != "myoforce-h5":
        raise UserError(f"{path}: comments are added to myoforce .h5 sessions only")
    check_finished(path)
