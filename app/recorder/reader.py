"""Reading session files: complete ones, ones still being written, and ones whose writer died.

Every file is opened as an HDF5 SWMR reader (``h5py.File(path, "r", swmr=True)``):
that is the only mode that opens a file a writer still has open, and the only mode
that opens a crashed SWMR file without clearing its consistency flags (``h5clear``
must never be used on a recording: it can truncate it). Anything that is not a
readable myoforce session becomes a :class:`~app.errors.FileFormatError` with one line
naming the file and the problem.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from app.errors import FileFormatError
from app.recorder import layout as L
from app.recorder.h5open import (H5_ERRORS, _one_line, _open_h5, _superblock_eof,
                                  read_settled)
from app.recorder.session_file import SessionFile, _text
from app.recording import Recording, Trial, trials_from_pulses
from drivers.capabilities import Calibration


def _validate(sf: SessionFile) -> None:
    f, path = sf.h5, sf.path
    # attrs.get() would take damaged attribute storage for a missing attribute
    fmt = f.attrs["format"] if h5py.h5a.exists(f.id, b"format") else None
    if fmt is None or _text(fmt) != L.FORMAT_NAME:
        raise FileFormatError(f"{path}: not a myoforce session file (HDF5 without the "
                              f"'format = {L.FORMAT_NAME}' attribute)")
    version = sf.format_version
    try:
        major = int(version.split(".")[0])
    except ValueError:
        raise FileFormatError(f"{path}: damaged: bad format_version {version!r}") from None
    if major > L.SUPPORTED_MAJOR:
        raise FileFormatError(f"{path}: written in session format {version}, newer than this "
                              f"myoforce reads ({L.SUPPORTED_MAJOR}.x); update myoforce")
    required = [L.FORCE, L.FLAGS, L.PULSES, L.SESSION, L.RIG, L.DEVICES, L.PROTOCOL]
    required += [f"{t}/{c.name}" for t, cols in L.TABLES.items() for c in cols]
    groups = (L.SESSION, L.RIG, L.DEVICES, L.PROTOCOL)
    for name in required:
        if name not in f:
            raise FileFormatError(f"{path}: damaged: /{name} is missing")
        obj = f[name]
        if name in groups:
            if not isinstance(obj, h5py.Group):
                raise FileFormatError(f"{path}: damaged: /{name} is not a group")
        elif not isinstance(obj, h5py.Dataset) or obj.ndim != 1:
            raise FileFormatError(f"{path}: damaged: /{name} is not a 1-D dataset")
    for name in ("sample_rate_hz", "complete", "start_time_utc"):
        if name not in f.attrs:
            raise FileFormatError(f"{path}: damaged: root attribute '{name}' is missing")
    if not sf.sample_rate_hz > 0:
        raise FileFormatError(f"{path}: damaged: sample_rate_hz = {sf.sample_rate_hz}")


def open_session(path: str | os.PathLike[str], *, live: bool = False) -> SessionFile:
    """Open a session file (complete, being written, or crashed) for reading."""
    p = Path(path)
    f = _open_h5(p)
    sf = SessionFile(p, f, live)
    missing, msg = 0, ""
    try:
        eof = _superblock_eof(p)
        size = p.stat().st_size
        if eof is not None and size < eof:
            missing = eof - size
            msg = f"file is {missing} bytes shorter than its HDF5 superblock records"
        _validate(sf)
        from app.recorder.aux_integrity import unchecked_aux_note
        note = unchecked_aux_note(sf)
        if note:
            sf.warnings.append(note)
        if missing:
            # a complete file that is short was truncated after the fact. A file whose
            # writer died is short by whatever HDF5 had allocated for the write that
            # failed (a whole flush's worth after EFBIG/ENOSPC, not a fixed amount): it
            # stays readable, and verify/recover tell the intact blocks from the rest
            if sf.complete:
                raise FileFormatError(f"{p}: damaged: truncated ({msg})")
            sf.warnings.append(msg + " (the writer died during a write: samples past the "
                               "end read as 0; 'myoforce verify' shows the intact blocks)")
    except FileFormatError as exc:
        f.close()
        if missing and "truncated" not in str(exc):   # what is missing may be beyond the end
            raise FileFormatError(f"{exc}; {msg}: truncated?") from None
        raise
    except H5_ERRORS as exc:
        f.close()
        why = f"; {msg}: truncated?" if missing else ""
        raise FileFormatError(f"{p}: damaged: {_one_line(exc)}{why}") from None
    return sf


def load_recording(path: str | os.PathLike[str], *, lazy: bool = True) -> Recording:
    """The file as an :class:`app.recording.Recording` (format 'myoforce-h5'), checked.

    This is how every consumer of session data (analysis, replay, export, compare)
    reads it, so the checks of :mod:`app.recorder.integrity` live here: a file with
    damaged metadata (sample rate, dtypes, trial windows, pulse markers) is refused with
    one line; the force is a :class:`~app.recorder.checked_force.CheckedForce`, which checks
    the CRC-32 of every block a read touches and refuses damaged samples, so a trial on
    a damaged block fails with the reason while the others are measured. Auxiliary
    channels are checked the same way (:mod:`app.recorder.aux_integrity`), except in a
    format 1.1 file, which has no checksums for them (unchecked, with a note).

    With ``lazy`` the force is read from the file on demand (it keeps the file open
    until the Recording is dropped); otherwise it is loaded into memory (the checks
    still apply per read) and the file closed. Trials come from the trial table, or, if
    it has no rows, are grouped from the pulse markers
    (:func:`app.recording.trials_from_pulses`). A file that changes while it is opened
    and checked (being written) is read again (:func:`~app.recorder.h5open.read_settled`).
    """
    return read_settled(path, lambda _p: _load_recording(path, lazy))


def _load_recording(path: str | os.PathLike[str], lazy: bool) -> Recording:
    from app.recorder.aux_integrity import checked_aux
    from app.recorder.checked_force import CheckedForce
    from app.recorder.integrity import check_structure
    sf = open_session(path)
    try:
        check_structure(sf)
        n = sf.samples
        stim = sf.pulse_samples
        trials = session_trials(sf)
        data = None if lazy else np.asarray(sf.force[:n], dtype=np.float32)
        force = CheckedForce(sf, data)
        if not lazy:
            force.check_all_now()       # the file closes below: check every block now
        aux = checked_aux(sf, lazy)
        return Recording(source=str(path), format="myoforce-h5",
                         sample_rate_hz=sf.sample_rate_hz, force_mN=force, stim_samples=stim,
                         trials=trials, metadata=sf.metadata, complete=sf.complete,
                         force_limits_mN=_full_scale_mN(sf.calibration, sf.rig), aux=aux,
                         aux_units={c["name"]: c["unit"] for c in sf.aux_channels},
                         exclusions=sf.trial_exclusions)
    except FileFormatError:
        sf.close()
        raise
    except H5_ERRORS as exc:
        sf.close()
        raise FileFormatError(f"{path}: damaged: {_one_line(exc)}") from None
    finally:
        if not lazy and sf.h5.id.valid:
            sf.close()


def session_trials(sf: SessionFile) -> list[Trial]:
    """The trials of a session file: the trial table decides; a file without one
    (crashed before the first trial row) falls back to pulses closer than 0.1 s forming
    a train. What the analysis measures, and what a trial exclusion may name."""
    return sf.trials or trials_from_pulses(sf.pulse_samples, sf.sample_rate_hz, sf.samples,
                                           max_train_gap_s=0.1)


def _full_scale_mN(cal: Calibration, rig: dict | None = None) -> tuple[float, float]:
    """Force at the ADC's negative and positive full scale, through the calibration stored
    in the file (saturation, ``app.analysis.checks``): the amplifier's counts, or on a
    DAQ rig the force input's range (+-``daq.force.range_V``; the calibration is then
    mN per volt)."""
    try:
        range_V = float(((rig or {}).get("daq") or {})["force"]["range_V"])
    except (KeyError, TypeError, ValueError):
        from drivers.amplifier.frames import FULL_SCALE_COUNTS
        range_V = float(FULL_SCALE_COUNTS)
    ends = cal.to_mN(np.array([-range_V, range_V], dtype=np.float64))
    return float(ends.min()), float(ends.max())


def session_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A JSON-able summary of a session file (what ``myoforce info --json`` prints); a
    file that changes while it is read (being written) is read again (read_settled)."""
    return read_settled(path, _session_info)


def _session_info(path: Path) -> dict[str, Any]:
    with open_session(path) as sf:
        try:
            return _info(sf)
        except H5_ERRORS as exc:
            raise FileFormatError(f"{path}: damaged: {_one_line(exc)}") from None


def _info(sf: SessionFile) -> dict[str, Any]:
    from app.recorder.aux_integrity import unchecked_channels
    gaps = sf.gaps
    records = sf.trial_records
    kinds: dict[str, int] = {}
    for r in records:
        kinds[r.kind] = kinds.get(r.kind, 0) + 1
    by_cause: dict[str, int] = {}
    for g in gaps:
        by_cause[g.cause] = by_cause.get(g.cause, 0) + g.count
    lost_attr = int(sf._attr("lost_samples", -1))
    return {
        "path": str(sf.path),
        "format": L.FORMAT_NAME,
        "format_version": sf.format_version,
        "software_version": sf.software_version,
        "complete": sf.complete,
        "status": sf.status,
        "start_time_utc": sf.start_time_utc,
        "end_time_utc": sf.end_time_utc,
        "sample_rate_hz": sf.sample_rate_hz,
        "samples": sf.samples,
        "duration_s": sf.duration_s,
        "pulses": int(sf.pulse_samples.size),
        "trials": len(records),
        "trial_kinds": kinds,
        "aborted_trials": sum(r.status == "aborted" for r in records),
        "gaps": [{"sample": g.sample, "count": g.count, "cause": g.cause} for g in gaps],
        "gap_samples": sum(g.count for g in gaps),
        "lost_samples": lost_attr if lost_attr >= 0 else by_cause.get(L.CAUSE_QUEUE_FULL, 0),
        "missing_samples_by_cause": by_cause,
        "audit_entries": len(sf.table(L.AUDIT)["kind"]),
        "metadata": sf.metadata,
        "metadata_revisions": sf.metadata_revisions,
        "comments": [c.to_dict(sf.sample_rate_hz) for c in sf.comments],
        "step_starts": [s.to_dict(sf.sample_rate_hz) for s in sf.step_starts],
        "excluded_trials": [e.to_dict() for e in sf.trial_exclusions.values()],
        "devices": sf.devices,
        "rig": sf.rig,
        "calibration": {"scale_mN_per_count": sf.calibration.scale_mN_per_count,
                        "offset_counts": sf.calibration.offset_counts},
        "protocol": bool(sf.protocol_text or sf.protocol),
        "aux_channels": sf.aux_channels,
        "aux_unchecked": unchecked_channels(sf),
        "recovered_from": sf.recovered_from,
        "warnings": list(sf.warnings),
    }
