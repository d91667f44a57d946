"""Metadata known only later (muscle mass after excision, Lo found during the run), as
appended revisions: the recorded ``/session`` attributes are never rewritten.

A revision is an audit-log row of kind ``metadata-revision`` whose ``fields`` hold
``{"changes": {key: value}, "source": "..."}``. The effective metadata is the
recorded attributes with every revision applied in order; the earlier values stay in
the file (the attributes and the earlier rows), and ``myoforce info`` lists them.

Written two ways: during a run through the recorder's audit log (the optimal-length
step records Lo as ``muscle_length_mm``), and afterwards by :func:`annotate`
(``myoforce annotate FILE key=value ...``), which validates everything first, writes
nothing on error, refuses a file still being recorded and never touches raw data.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from app.errors import UserError

REVISION_KIND = "metadata-revision"


def validate_changes(pairs: Mapping[str, Any]) -> dict[str, Any]:
    """Typed values of ``pairs`` checked against :class:`app.metadata.SessionMetadata`;
    UserError naming the field for an unknown key or an invalid value."""
    from pydantic import ValidationError

    from app.metadata import SessionMetadata
    known = SessionMetadata.model_fields
    out: dict[str, Any] = {}
    for key, value in pairs.items():
        if key not in known:
            raise UserError(f"unknown metadata field '{key}' (known: {', '.join(known)})")
        try:
            typed = SessionMetadata(**{key: value})
        except ValidationError as exc:
            msg = exc.errors()[0]["msg"]
            raise UserError(f"metadata field '{key}': invalid value {value!r} ({msg})") from None
        out[key] = getattr(typed, key)
    return out


def parse_pairs(items: list[str]) -> dict[str, str]:
    """``["muscle_mass_mg=160", ...]`` -> dict; UserError naming a malformed item, or a
    key given twice with different values (which one was meant is not ours to guess)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise UserError(f"'{item}' is not key=value (e.g. muscle_mass_mg=160)")
        if out.get(key, value) != value:
            raise UserError(f"{key} given twice ({out[key]!r} and {value!r}): give it once")
        out[key] = value
    return out


def rows_of_kind(audit: Mapping[str, np.ndarray], kind: str
                 ) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """``(row index, fields)`` of each audit row of ``kind``, in order; fields None where
    the row's JSON is damaged or not an object (the caller decides what that means)."""
    for i, k in enumerate(audit.get("kind", [])):
        if k != kind:
            continue
        try:
            fields = json.loads(audit["fields"][i] or "{}")
        except ValueError:
            fields = None
        yield i, fields if isinstance(fields, dict) else None


def revisions_from_audit(audit: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    """The metadata revisions of an audit table, in order: time, source, changes."""
    out = []
    for i, fields in rows_of_kind(audit, REVISION_KIND):
        if fields is None:
            continue
        changes = fields.get("changes")
        if isinstance(changes, dict):
            out.append({"time_utc": str(audit["time_utc"][i]), "source": fields.get("source", ""),
                        "changes": changes})
    return out


def apply_revisions(recorded: Mapping[str, Any], revisions: list[dict[str, Any]]
                    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(effective metadata, history): each history entry adds the ``previous`` values."""
    meta = dict(recorded)
    history = []
    for rev in revisions:
        previous = {k: meta.get(k) for k in rev["changes"]}
        meta.update(rev["changes"])
        history.append({**rev, "previous": previous})
    return meta, history


def annotate(path: str | os.PathLike[str], pairs: Mapping[str, Any],
             source: str = "annotate") -> dict[str, Any]:
    """Append a metadata revision to a finished session file; returns the changes.

    Everything is checked before the file is opened for writing: the values, the file
    (a myoforce session not still being recorded). The raw data and the recorded
    attributes are not touched; one audit row is appended.
    """
    changes = validate_changes(pairs)
    if not changes:
        raise UserError("nothing to annotate: give key=value pairs (e.g. muscle_mass_mg=160)")
    path = Path(path)
    from app.importers import detect_format
    if detect_format(path) != "myoforce-h5":
        raise UserError(f"{path}: annotate writes myoforce .h5 sessions only (for DDF/CSV "
                        f"pass 'analyze --meta key=value')")
    check_finished(path)
    text = ", ".join(f"{k} = {v}" for k, v in changes.items())
    from app.recorder import layout as L
    append_audit_row(path, {"time_utc": L.utc_now_iso(), "sample": -1, "kind": REVISION_KIND,
                            "message": f"metadata revised ({source}): {text}",
                            "fields": L.to_json({"changes": changes, "source": source})})
    return changes


def check_finished(path: Path) -> None:
    """UserError unless ``path`` is a session no longer being recorded (complete,
    aborted, failed or recovered): only those are appended to afterwards."""
    from app.recorder import layout as L
    from app.recorder.reader import open_session
    with open_session(path) as sf:
        status, complete = sf.status, sf.complete
    if status == L.STATUS_RECORDING or (not complete and status != L.STATUS_RECOVERED):
        raise UserError(f"{path}: still being recorded (or crashed: run 'myoforce recover' "
                        f"first); not annotated")


def append_audit_row(path: Path, row: Mapping[str, Any]) -> None:
    """Append one audit row (every column of ``/audit``) to a finished session file, for
    what is known only after the run (metadata revisions, comments added afterwards).
    The caller checks values and file first (:func:`check_finished`)."""
    import h5py

    from app.recorder import layout as L
    try:
        f = h5py.File(path, "r+")
    except OSError as exc:
        raise UserError(f"{path}: cannot open for writing ({exc}); is it still open in "
                        f"another program, or replayed in this one?") from None
    with f:
        group = f[L.AUDIT]
        cols = L.TABLES[L.AUDIT]
        n = min(int(group[c.name].shape[0]) for c in cols)
        for c in cols:
            ds = group[c.name]
            ds.resize((n + 1,))
            value = row[c.name]
            ds[n] = value if c.is_text else np.asarray(value, dtype=c.dtype)
        if "audit_entries" in f.attrs and int(f.attrs["audit_entries"]) >= 0:
            f.attrs["audit_entries"] = np.int64(n + 1)
