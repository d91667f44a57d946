"""Reading session files: complete ones, ones still being written, and ones whose writer died.

Every file is opened as an HDF5 SWMR reader (``h5py.File(path, "r", swmr=True)``):
that is the only mode that opens a file a writer still has open, and the only mode
that opens a crashed SWMR file without clearing its consistency flags (``h5clear``
must never be used on a recording: it can truncate it). Anything that is not a
readable myoforce session becomes a :class:`~app.errors.FileFormatError` with one line
naming the file and the problem.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from app.errors import FileFormatError
from app.recorder import layout as L
from app.recorder.h5open import H5_ERRORS, _one_line, _open_h5, _superblock_eof
from app.recorder.records import AuditEntry, Gap, TrialRecord, nan_to_none
from app.recording import Recording, Trial, trials_from_pulses
from drivers.capabilities import Calibration


def _text(value: Any) -> str:
    """Attribute/dataset value as ``str`` (h5py gives bytes for fixed-length strings)."""
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _text(value[()])
    return str(value)


def _py(value: Any) -> Any:
    """numpy scalars/arrays/bytes from h5py attributes -> plain Python values."""
    if isinstance(value, (bytes, np.bytes_)):
        return _text(value)
    if isinstance(value, np.ndarray):
        return [_py(v) for v in value.tolist()] if value.ndim else _py(value[()])
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass
class SessionFile:
    """An open session file. Use as a context manager; datasets slice lazily.

    ``live=True`` is for a file still being written: call :meth:`refresh` to see what
    the writer has flushed since. Root attributes (``complete``, ``status``, counts)
    are as of opening: HDF5 caches them, and within one process every open handle of a
    file shares one cache, so to see them change close every handle (including lazy
    :class:`~app.recording.Recording` objects) and open again.
    """

    path: Path
    h5: h5py.File
    live: bool = False

    def __post_init__(self) -> None:
        self.warnings: list[str] = []

    # ---------------------------------------------------------------- lifecycle
    def close(self) -> None:
        self.h5.close()

    def __enter__(self) -> "SessionFile":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def refresh(self) -> None:
        """See data flushed by a live writer since opening (no-op for a closed file)."""
        def visit(_name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset) and obj.maxshape != obj.shape:
                try:
                    obj.refresh()
                except Exception:   # same-process writer shares the file: always current
                    pass
        self.h5.visititems(visit)

    # ---------------------------------------------------------------- root attributes
    def _attr(self, name: str, default: Any = None) -> Any:
        return self.h5.attrs.get(name, default)

    @property
    def format_version(self) -> str:
        return _text(self._attr("format_version", ""))

    @property
    def software_version(self) -> str:
        return _text(self._attr("software_version", ""))

    @property
    def sample_rate_hz(self) -> float:
        return float(self._attr("sample_rate_hz"))

    @property
    def start_time_utc(self) -> str:
        return _text(self._attr("start_time_utc", ""))

    @property
    def end_time_utc(self) -> str | None:
        return _text(self._attr("end_time_utc", b"")) or None

    @property
    def complete(self) -> bool:
        """True once the writer closed the file properly (or after ``recover``)."""
        return bool(self._attr("complete", 0))

    @property
    def status(self) -> str:
        """'recording' (being written, or the writer died), 'complete', 'aborted', 'failed'
        or 'recovered'."""
        return _text(self._attr("status", b""))

    @property
    def recovered_from(self) -> str | None:
        return _text(self._attr("recovered_from", "")) or None

    @property
    def flush_interval_s(self) -> float:
        return float(self._attr("flush_interval_s", float("nan")))

    # ---------------------------------------------------------------- raw data
    @property
    def force(self) -> h5py.Dataset:
        """Force in mN (float32), one value per stream sample; NaN where no sample exists."""
        return self.h5[L.FORCE]

    @property
    def flags(self) -> h5py.Dataset:
        return self.h5[L.FLAGS]

    @property
    def samples(self) -> int:
        """Length of the recording in samples (gaps included, as NaN)."""
        return int(self.h5[L.FORCE].shape[0])

    @property
    def duration_s(self) -> float:
        return self.samples / self.sample_rate_hz

    def samples_on_disk(self) -> int:
        """Samples whose storage lies inside the file as it is on disk.

        Equal to :attr:`samples` except in a file whose writer died during a flush, or
        whose write failed: there HDF5 may have recorded the new length (and the chunk's
        place) before the chunk itself reached the disk. Data past this point is not
        there (it reads as zeros) and must not be trusted.
        """
        size = self.path.stat().st_size
        limit = self.samples
        for name in (L.FORCE, L.FLAGS):
            ds = self.h5[name]
            limit = min(limit, int(ds.shape[0]))
            for i in range(ds.id.get_num_chunks()):
                info = ds.id.get_chunk_info(i)
                if info.byte_offset is not None and info.byte_offset + info.size > size:
                    limit = min(limit, int(info.chunk_offset[0]))
        return limit

    @property
    def calibration(self) -> Calibration:
        a = self.h5[L.FORCE].attrs
        return Calibration(float(a["calibration_scale_mN_per_count"]),
                           float(a["calibration_offset_counts"]))

    @property
    def aux_channels(self) -> list[dict[str, Any]]:
        """The auxiliary analog channels (format 1.1, DAQ rigs), in acquisition order:
        name, unit, scale, offset_V, channel, range_V; [] for files without them."""
        out = []
        for name in L.aux_names(self.h5):
            attrs = self.h5[L.AUX][name].attrs
            c = {"name": name, "unit": _text(attrs.get("units", "V"))}
            for key in L.AUX_ATTRS[1:]:
                if key in attrs:
                    value = attrs[key]
                    c[key] = _text(value) if isinstance(value, (str, bytes)) else float(value)
            out.append(c)
        return out

    def aux(self, name: str) -> h5py.Dataset:
        """The samples of auxiliary channel ``name`` (same index and length as /force)."""
        if L.AUX not in self.h5 or name not in self.h5[L.AUX]:
            raise KeyError(f"no auxiliary channel {name!r} in {self.path}")
        return self.h5[L.AUX][name]

    @property
    def pulse_samples(self) -> np.ndarray:
        """Stream indices (int64) of stimulus pulses within the recorded samples."""
        p = np.asarray(self.h5[L.PULSES][()], dtype=np.int64)
        return p[p < self.samples]

    # ---------------------------------------------------------------- tables
    def table(self, name: str) -> dict[str, np.ndarray]:
        """Columns of a table, cut to the shortest column (columns of a crashed file can
        differ by the rows of one interrupted flush). Text columns come back as ``str``."""
        group = self.h5[name]
        cols = L.TABLES[name]
        n = min(int(group[c.name].shape[0]) for c in cols)
        out: dict[str, np.ndarray] = {}
        for c in cols:
            ds = group[c.name]
            out[c.name] = (np.array(ds.asstr()[:n], dtype=object) if c.is_text
                           else np.asarray(ds[:n]))
        return out

    @property
    def gaps(self) -> list[Gap]:
        t = self.table(L.GAPS)
        return [Gap(int(s), int(c), str(k)) for s, c, k in zip(t["sample"], t["count"], t["cause"])]

    @property
    def audit(self) -> list[AuditEntry]:
        t = self.table(L.AUDIT)
        return [AuditEntry(str(a), int(b), str(c), str(d), str(e))
                for a, b, c, d, e in zip(t["time_utc"], t["sample"], t["kind"], t["message"],
                                         t["fields"])]

    @property
    def trial_records(self) -> list[TrialRecord]:
        t = self.table(L.TRIALS)
        out = []
        for i in range(len(t["index"])):
            out.append(TrialRecord(
                index=int(t["index"][i]), step=str(t["step"][i]), kind=str(t["kind"][i]),
                start_sample=int(t["start_sample"][i]), stop_sample=int(t["stop_sample"][i]),
                first_pulse_sample=int(t["first_pulse_sample"][i]), pulses=int(t["pulses"][i]),
                current_mA=float(t["current_mA"][i]), pulse_width_ms=float(t["pulse_width_ms"][i]),
                frequency_hz=float(t["frequency_hz"][i]), status=str(t["status"][i]),
                length_mm=float(t["length_mm"][i]), wall_time_utc=str(t["wall_time_utc"][i])))
        return out

    @property
    def trials(self) -> list[Trial]:
        """The trial table as :class:`app.recording.Trial`, each with the pulse markers
        inside its window (an empty list if the table has no rows)."""
        pulses = self.pulse_samples
        out = []
        for r in self.trial_records:
            stim = pulses[(pulses >= r.start_sample) & (pulses < r.stop_sample)]
            out.append(Trial(index=r.index, kind=r.kind,  # type: ignore[arg-type]
                             start_sample=r.start_sample, stop_sample=r.stop_sample,
                             stim_samples=stim, frequency_hz=nan_to_none(r.frequency_hz),
                             current_mA=nan_to_none(r.current_mA),
                             pulse_width_ms=nan_to_none(r.pulse_width_ms), status=r.status,
                             step=r.step, length_mm=nan_to_none(r.length_mm)))
        return out

    @property
    def analysis(self) -> list[dict[str, Any]]:
        t = self.table(L.ANALYSIS)
        return [{"time_utc": a, "name": b, "result": json.loads(c)}
                for a, b, c in zip(t["time_utc"], t["name"], t["json"])]

    # ---------------------------------------------------------------- descriptive groups
    @property
    def metadata(self) -> dict[str, Any]:
        """Session metadata (the known fields of :class:`app.metadata.SessionMetadata`):
        the recorded attributes with the metadata revisions applied
        (``app.recorder.revisions``)."""
        return self._metadata_and_history()[0]

    @property
    def recorded_metadata(self) -> dict[str, Any]:
        """The metadata as recorded at the start of the session (never rewritten)."""
        return {k: _py(v) for k, v in self.h5[L.SESSION].attrs.items()}

    @property
    def metadata_revisions(self) -> list[dict[str, Any]]:
        """Revisions in order: time_utc, source, changes and the previous values."""
        return self._metadata_and_history()[1]

    def _metadata_and_history(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        from app.recorder.revisions import apply_revisions, revisions_from_audit
        try:
            audit = self.table(L.AUDIT)
        except KeyError:
            audit = {}
        return apply_revisions(self.recorded_metadata, revisions_from_audit(audit))

    @property
    def rig(self) -> dict[str, Any]:
        return json.loads(_text(self.h5[L.RIG].attrs.get("json", "{}")))

    @property
    def devices(self) -> dict[str, str]:
        return {k: _text(v) for k, v in self.h5[L.DEVICES].attrs.items()}

    @property
    def protocol_text(self) -> str | None:
        return _text(self.h5[L.PROTOCOL]["yaml"][()]) or None

    @property
    def protocol(self) -> dict[str, Any] | None:
        text = _text(self.h5[L.PROTOCOL]["json"][()])
        return json.loads(text) if text else None


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
    one line; the force is a :class:`~app.recorder.integrity.CheckedForce`, which checks
    the CRC-32 of every block a read touches and refuses damaged samples, so a trial on
    a damaged block fails with the reason while the others are measured.

    With ``lazy`` the force is read from the file on demand (it keeps the file open
    until the Recording is dropped); otherwise it is loaded into memory (the checks
    still apply per read) and the file closed. Trials come from the trial table, or, if
    it has no rows, are grouped from the pulse markers
    (:func:`app.recording.trials_from_pulses`).
    """
    from app.recorder.integrity import CheckedForce, check_structure
    sf = open_session(path)
    try:
        check_structure(sf)
        n = sf.samples
        stim = sf.pulse_samples
        # the trial table decides; a file without one (crashed before the first trial
        # row) falls back to pulses closer than 0.1 s forming a train
        trials = sf.trials or trials_from_pulses(stim, sf.sample_rate_hz, n,
                                                 max_train_gap_s=0.1)
        data = None if lazy else np.asarray(sf.force[:n], dtype=np.float32)
        force = CheckedForce(sf, data)
        if not lazy:
            force.check_all_now()       # the file closes below: check every block now
        aux = {c["name"]: (sf.aux(c["name"]) if lazy else
                           np.asarray(sf.aux(c["name"])[:n], dtype=np.float32))
               for c in sf.aux_channels}
        return Recording(source=str(path), format="myoforce-h5",
                         sample_rate_hz=sf.sample_rate_hz, force_mN=force, stim_samples=stim,
                         trials=trials, metadata=sf.metadata, complete=sf.complete,
                         force_limits_mN=_full_scale_mN(sf.calibration, sf.rig), aux=aux,
                         aux_units={c["name"]: c["unit"] for c in sf.aux_channels})
    except FileFormatError:
        sf.close()
        raise
    except H5_ERRORS as exc:
        sf.close()
        raise FileFormatError(f"{path}: damaged: {_one_line(exc)}") from None
    finally:
        if not lazy and sf.h5.id.valid:
            sf.close()


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
    """A JSON-able summary of a session file (what ``myoforce info --json`` prints)."""
    with open_session(path) as sf:
        try:
            return _info(sf)
        except H5_ERRORS as exc:
            raise FileFormatError(f"{path}: damaged: {_one_line(exc)}") from None


def _info(sf: SessionFile) -> dict[str, Any]:
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
        "devices": sf.devices,
        "rig": sf.rig,
        "calibration": {"scale_mN_per_count": sf.calibration.scale_mN_per_count,
                        "offset_counts": sf.calibration.offset_counts},
        "protocol": bool(sf.protocol_text or sf.protocol),
        "aux_channels": sf.aux_channels,
        "recovered_from": sf.recovered_from,
        "warnings": list(sf.warnings),
    }
