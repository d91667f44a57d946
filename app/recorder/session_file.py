"""An open session file: lazy access to its datasets, tables and attributes.

:class:`SessionFile` is what :func:`app.recorder.reader.open_session` returns; it turns
h5py's values (bytes, numpy scalars, fixed-length strings) into plain Python and the
tables into records, and refreshes a file still being written. Opening, validating and
loading a :class:`~app.recording.Recording` stay in :mod:`app.recorder.reader`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from app.recorder import layout as L
from app.recorder.records import AuditEntry, Gap, TrialRecord, nan_to_none
from app.recording import Trial
from drivers.capabilities import Calibration

if TYPE_CHECKING:
    from app.recorder.comments import Comment
    from app.recorder.exclusions import TrialExclusion
    from app.recorder.step_starts import StepStart


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

    def aux_crc(self, name: str) -> np.ndarray | None:
        """Channel ``name``'s stored CRC-32 per ``/integrity`` row (int64; format 1.2), or
        None if the file has no such column (a 1.1 file: its aux is unchecked). In a
        crashed file it can be shorter than the table by the rows of one flush."""
        col = L.aux_crc_column(name).name
        group = self.h5[L.INTEGRITY]
        return np.asarray(group[col][()], dtype=np.int64) if col in group else None

    @property
    def aux_checksummed_format(self) -> bool:
        """The format promises a CRC-32 column per auxiliary channel (1.2 and later)."""
        return L.version_tuple(self.format_version) >= L.AUX_CRC_VERSION

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
    def comments(self) -> list["Comment"]:
        """The operator comments (``app.recorder.comments``), in stream order."""
        from app.recorder.comments import comments_from_audit
        return comments_from_audit(self.table(L.AUDIT))

    @property
    def step_starts(self) -> list["StepStart"]:
        """Where each protocol step began (``app.recorder.step_starts``), in stream order."""
        from app.recorder.step_starts import step_starts_from_audit
        return step_starts_from_audit(self.table(L.AUDIT))

    @property
    def trial_exclusions(self) -> dict[int, "TrialExclusion"]:
        """Trials excluded from the session's numbers (``app.recorder.exclusions``), by
        trial index in trial order: the latest audit row per trial decides."""
        from app.recorder.exclusions import exclusions_from_audit
        return exclusions_from_audit(self.table(L.AUDIT))

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
