"""The session file layout: every group, dataset, attribute, dtype and unit, in one place.

The writer, the reader, ``verify`` and ``recover`` all take names and types from here,
so the layout described in ``docs/file-format.md`` exists exactly once in code.

Why the layout is created up front: in HDF5's SWMR mode (single writer, multiple
readers) the writer may only append to existing datasets and rewrite existing values;
it may not create objects or attributes. So :func:`create_layout` makes every object
the session will ever need before SWMR starts, and the values that are only known at
the end (``complete``, ``end_time_utc``, the counts) are fixed-size attributes created
with placeholders and rewritten in place with ``attrs.modify``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

import h5py
import numpy as np

from drivers.capabilities import (FLAG_END_OF_STREAM, FLAG_OVERRANGE, FLAG_TRIGGER_EDGE,
                                  FLAG_TRIGGER_LEVEL, Calibration)

FORMAT_NAME = "myoforce-session"
FORMAT_VERSION = "1.2"   # 1.1 added /aux (DAQ rigs' auxiliary channels); 1.2 their CRC-32s
#: the first version whose /integrity has a CRC-32 column per auxiliary channel; an older
#: file's /aux is unchecked (readers say so, never refuse it)
AUX_CRC_VERSION = (1, 2)
#: readers accept any 1.x file; a minor version only ever adds objects
SUPPORTED_MAJOR = 1

#: h5py library-version bounds. SWMR needs the v110 (superblock 3) formats; files made
#: this way are readable by HDF5 >= 1.10 (MATLAB, HDFView, h5dump 1.10 were checked).
LIBVER = "latest"

# --- object names -------------------------------------------------------------------
FORCE = "force"
FLAGS = "flags"
PULSES = "pulses"
GAPS = "gaps"
TRIALS = "trials"
AUDIT = "audit"
INTEGRITY = "integrity"
ANALYSIS = "analysis"
PROTOCOL = "protocol"
SESSION = "session"
RIG = "rig"
DEVICES = "devices"
AUX = "aux"

# --- chunking: big enough that one flush is one write, small enough for the chunk cache
FORCE_CHUNK = 65536        # samples: 256 KiB of float32, 6.5 s at 10 kHz
PULSE_CHUNK = 4096
TABLE_CHUNK = 1024
TEXT_CHUNK = 256

STR = h5py.string_dtype("utf-8")
#: fixed-length types of the attributes rewritten at close (SWMR-safe in-place rewrite)
STATUS_DTYPE = np.dtype("S16")
TIME_DTYPE = np.dtype("S40")

# values of the root attribute ``status``
STATUS_RECORDING = "recording"
STATUS_COMPLETE = "complete"
STATUS_ABORTED = "aborted"
STATUS_FAILED = "failed"
STATUS_RECOVERED = "recovered"

# causes in the gap log
CAUSE_STREAM_GAP = "stream-gap"
CAUSE_QUEUE_FULL = "recorder-queue-full"
CAUSE_BEFORE_RECORDING = "before-recording"


@dataclass(frozen=True)
class Column:
    """One column dataset of a table group: a 1-D resizable dataset."""

    name: str
    dtype: Any          # numpy dtype, or STR for variable-length UTF-8 text
    units: str
    description: str

    @property
    def is_text(self) -> bool:
        return self.dtype is STR


I8, U4, F8 = np.dtype("<i8"), np.dtype("<u4"), np.dtype("<f8")

#: Tables are groups of equally long column datasets (one row = same index in each),
#: because MATLAB's h5read and HDFView read plain columns more easily than compounds.
TABLES: dict[str, tuple[Column, ...]] = {
    GAPS: (
        Column("sample", I8, "sample", "stream index of the first missing sample"),
        Column("count", I8, "samples", "number of missing samples (stored as NaN in /force)"),
        Column("cause", STR, "none", "why: stream-gap, recorder-queue-full or before-recording"),
    ),
    TRIALS: (
        Column("index", I8, "none", "trial number in the session, from 0"),
        Column("step", STR, "none", "protocol step name"),
        Column("kind", STR, "none", "'twitch' (one pulse) or 'tetanus' (a train)"),
        Column("start_sample", I8, "sample", "first sample of the trial window"),
        Column("stop_sample", I8, "sample", "one past the last sample of the trial window"),
        Column("first_pulse_sample", I8, "sample",
               "stream index of the first stimulus pulse; -1 if none was seen"),
        Column("pulses", I8, "pulses", "number of pulses delivered"),
        Column("current_mA", F8, "mA", "stimulus current; NaN if unknown"),
        Column("pulse_width_ms", F8, "ms", "pulse width; NaN if unknown"),
        Column("frequency_hz", F8, "Hz", "train frequency; NaN for a twitch or if unknown"),
        Column("status", STR, "none", "'completed' or 'aborted'"),
        Column("length_mm", F8, "mm", "muscle length during the trial; NaN if unknown"),
        Column("wall_time_utc", STR, "none", "ISO 8601 UTC wall time when the trial's stimulus was fired"),
    ),
    AUDIT: (
        Column("time_utc", STR, "none", "ISO 8601 UTC wall time of the entry"),
        Column("sample", I8, "sample",
               "stream index reached by the recorder when the entry was made (approximate)"),
        Column("kind", STR, "none", "entry kind, e.g. operator, stimulator-command, amplifier-command, recorder"),
        Column("message", STR, "none", "human-readable message"),
        Column("fields", STR, "none", "JSON object of extra fields ('{}' if none)"),
    ),
    INTEGRITY: (
        Column("start", I8, "sample", "stream index of the first sample of a written block"),
        Column("count", I8, "samples", "samples in the written block"),
        Column("crc_force", U4, "none",
               "zlib CRC-32 of the block's /force values as little-endian float32 bytes"),
        Column("crc_flags", U4, "none", "zlib CRC-32 of the block's /flags bytes"),
    ),
    ANALYSIS: (
        Column("time_utc", STR, "none", "ISO 8601 UTC wall time the result was stored"),
        Column("name", STR, "none", "name of the analysis result"),
        Column("json", STR, "none", "the result as a JSON object"),
    ),
}

#: root attributes rewritten when the recording ends; fixed-size so the SWMR writer can
#: rewrite them in place. Counts are -1 while recording (and in a crashed file).
FINAL_ATTRS: dict[str, tuple[np.dtype, Any]] = {
    "complete": (np.dtype("u1"), 0),
    "status": (STATUS_DTYPE, STATUS_RECORDING.encode()),
    "end_time_utc": (TIME_DTYPE, b""),
    "samples": (I8, -1),
    "lost_samples": (I8, -1),
    "pulses": (I8, -1),
    "trials": (I8, -1),
    "gaps": (I8, -1),
    "audit_entries": (I8, -1),
}

FLAG_BITS = {
    "trigger_edge": FLAG_TRIGGER_EDGE,
    "trigger_level": FLAG_TRIGGER_LEVEL,
    "overrange": FLAG_OVERRANGE,
    "end_of_stream": FLAG_END_OF_STREAM,
}


def utc_now_iso() -> str:
    """Now as ISO 8601 UTC with microseconds, e.g. ``2024-05-01T10:00:00.123456+00:00``."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def utc_iso(epoch_s: float) -> str:
    """``time.time()``-style seconds as ISO 8601 UTC with microseconds (as utc_now_iso)."""
    return datetime.fromtimestamp(epoch_s, timezone.utc).isoformat(timespec="microseconds")


def to_json(value: Any) -> str:
    """JSON text of ``value``; numpy scalars/arrays become numbers/lists, others ``str``."""
    def default(o: Any) -> Any:
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, np.generic):
            return o.item()
        return str(o)
    return json.dumps(value, default=default, ensure_ascii=False, allow_nan=True)


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dict -> ``{"a.b": leaf}`` with HDF5-storable leaves (others as JSON text)."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        elif isinstance(value, (bool, np.bool_)):
            out[name] = np.uint8(bool(value))
        elif isinstance(value, (int, float, str, np.integer, np.floating)):
            out[name] = value
        elif value is None:
            continue
        else:
            out[name] = to_json(value)
    return out


def _h5_type(dtype: np.dtype) -> np.dtype | h5py.Datatype:
    """Fixed-length strings as NUL-terminated ASCII (MATLAB and h5dump then show no
    padding); other types unchanged."""
    if dtype.kind != "S":
        return dtype
    tid = h5py.h5t.C_S1.copy()
    tid.set_size(dtype.itemsize)
    tid.set_strpad(h5py.h5t.STR_NULLTERM)
    return h5py.Datatype(tid)


def _create_table(parent: h5py.Group, name: str) -> h5py.Group:
    group = parent.create_group(name)
    group.attrs["description"] = f"table '{name}': equally long column datasets, one row per index"
    for col in TABLES[name]:
        chunk = TEXT_CHUNK if col.is_text else TABLE_CHUNK
        ds = group.create_dataset(col.name, shape=(0,), maxshape=(None,), dtype=col.dtype,
                                  chunks=(chunk,))
        ds.attrs["units"] = col.units
        ds.attrs["description"] = col.description
    return group


def create_layout(f: h5py.File, *, sample_rate_hz: float, calibration: Calibration,
                  metadata: Mapping[str, Any], rig: Mapping[str, Any],
                  devices: Mapping[str, str], protocol_text: str | None,
                  protocol: Mapping[str, Any] | None, software_version: str,
                  start_time_utc: str, flush_interval_s: float,
                  aux: Sequence[Mapping[str, Any]] = (), aux_checksums: bool = True) -> None:
    """Create every group, dataset and attribute of a session file (all empty/placeholder).

    Nothing may be created after this once SWMR mode is on; see the module docstring.
    ``aux_checksums=False`` (``recover`` of a 1.1 file) makes a 1.1 file: ``/aux`` without
    CRC-32 columns.
    """
    _create_root_attributes(f, sample_rate_hz=sample_rate_hz, software_version=software_version,
                            start_time_utc=start_time_utc, flush_interval_s=flush_interval_s)
    _create_raw_datasets(f, sample_rate_hz, calibration)
    for table in TABLES:
        _create_table(f, table)
    f[ANALYSIS].attrs["description"] = ("analysis results; never modifies raw data. "
                                        "Rows are appended, each result one JSON object")
    _create_protocol(f, protocol_text, protocol)
    _create_context(f, metadata, rig, devices)
    if aux:
        create_aux(f, aux, sample_rate_hz, aux_checksums)
        if not aux_checksums:
            f.attrs["format_version"] = "1.1"


def _create_root_attributes(f: h5py.File, *, sample_rate_hz: float, software_version: str,
                            start_time_utc: str, flush_interval_s: float) -> None:
    """Format, version, times, rate; the attributes finalised at close as placeholders."""
    a = f.attrs
    a["format"] = FORMAT_NAME
    a["format_version"] = FORMAT_VERSION
    a["software_version"] = software_version
    a["start_time_utc"] = start_time_utc
    a["sample_rate_hz"] = np.float64(sample_rate_hz)
    a["flush_interval_s"] = np.float64(flush_interval_s)
    a["recovered_from"] = ""
    for name, (dtype, value) in FINAL_ATTRS.items():
        a.create(name, np.asarray(value, dtype=dtype), dtype=_h5_type(dtype))


def _create_raw_datasets(f: h5py.File, sample_rate_hz: float, calibration: Calibration) -> None:
    """/force, /flags and /pulses: empty, chunked, resizable, with their units."""
    force = f.create_dataset(FORCE, shape=(0,), maxshape=(None,), dtype="<f4",
                             chunks=(FORCE_CHUNK,), fillvalue=np.float32(np.nan))
    force.attrs["units"] = "mN"
    force.attrs["description"] = ("continuous force; index = stream sample index = "
                                  "time since amplifier START x sample_rate_hz; NaN = no sample "
                                  "(see /gaps)")
    force.attrs["sample_rate_hz"] = np.float64(sample_rate_hz)
    force.attrs["calibration_scale_mN_per_count"] = np.float64(calibration.scale_mN_per_count)
    force.attrs["calibration_offset_counts"] = np.float64(calibration.offset_counts)

    flags = f.create_dataset(FLAGS, shape=(0,), maxshape=(None,), dtype="u1",
                             chunks=(FORCE_CHUNK,), fillvalue=np.uint8(0))
    flags.attrs["units"] = "none"
    flags.attrs["description"] = "per-sample amplifier flag bits, same index as /force"
    for bit_name, bit in FLAG_BITS.items():
        flags.attrs[f"bit_{bit_name}"] = np.uint8(bit)

    pulses = f.create_dataset(PULSES, shape=(0,), maxshape=(None,), dtype=I8,
                              chunks=(PULSE_CHUNK,))
    pulses.attrs["units"] = "sample"
    pulses.attrs["description"] = ("stimulus pulse markers: stream indices of samples whose "
                                   "trigger-edge flag (bit 0) is set, ascending")


def _create_protocol(f: h5py.File, protocol_text: str | None,
                     protocol: Mapping[str, Any] | None) -> None:
    """/protocol: the YAML source as run and its parsed form as JSON ('' if none)."""
    proto = f.create_group(PROTOCOL)
    proto.attrs["description"] = "the protocol as run: its YAML source and its parsed form"
    for name, text, what in (("yaml", protocol_text, "protocol YAML source as run"),
                             ("json", to_json(protocol) if protocol is not None else None,
                              "the protocol as run, parsed, as JSON")):
        ds = proto.create_dataset(name, data=text if text is not None else "", dtype=STR)
        ds.attrs["units"] = "none"
        ds.attrs["description"] = what + " ('' if none)"


def _create_context(f: h5py.File, metadata: Mapping[str, Any], rig: Mapping[str, Any],
                    devices: Mapping[str, str]) -> None:
    """/session (metadata), /rig (its JSON and flattened keys), /devices (identities)."""
    session = f.create_group(SESSION)
    session.attrs.update({k: v for k, v in metadata.items() if v is not None})

    rig_group = f.create_group(RIG)
    rig_group.attrs["json"] = to_json(dict(rig))
    for key, value in flatten(rig).items():
        if key != "json":
            rig_group.attrs[key] = value

    dev = f.create_group(DEVICES)
    for name, identity in devices.items():
        dev.attrs[str(name)] = str(identity)


#: keys of an auxiliary channel description stored as attributes of its dataset
AUX_ATTRS = ("unit", "scale", "offset_V", "channel", "range_V", "terminal")
#: ``/integrity/crc_aux_<name>``: the CRC-32 column of auxiliary channel ``name`` (1.2)
AUX_CRC_PREFIX = "crc_aux_"


def aux_crc_column(name: str) -> Column:
    """The ``/integrity`` column holding channel ``name``'s CRC-32 of every written block.
    An extra column of the table, not a new table: readers before 1.2 read the columns
    they know and never see it."""
    return Column(f"{AUX_CRC_PREFIX}{name}", U4, "none",
                  f"zlib CRC-32 of the block's /aux/{name} values as little-endian float32 bytes")


def integrity_columns(f: h5py.File) -> tuple[Column, ...]:
    """The columns of ``/integrity`` in this file: the four of every version, then one per
    auxiliary channel that has one (in acquisition order)."""
    group = f[INTEGRITY]
    extra = tuple(aux_crc_column(n) for n in aux_names(f))
    return TABLES[INTEGRITY] + tuple(c for c in extra if c.name in group)


def version_tuple(text: str) -> tuple[int, int]:
    """``"1.2"`` -> ``(1, 2)``; ``(0, 0)`` for text that is not ``MAJOR.MINOR``."""
    try:
        major, minor = str(text).split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        return 0, 0


def create_aux(f: h5py.File, channels: Sequence[Mapping[str, Any]], sample_rate_hz: float,
               checksums: bool = True) -> None:
    """``/aux/<name>``: one float32 dataset per auxiliary analog channel (format 1.1),
    sample for sample beside ``/force`` (same index, same length, NaN where force is NaN).
    ``/aux`` attribute ``channels`` lists the names in acquisition order. With
    ``checksums`` (1.2) each channel gets its CRC-32 column in ``/integrity``
    (:func:`aux_crc_column`); ``recover`` leaves them out for a 1.1 source."""
    group = f.create_group(AUX)
    group.attrs["description"] = ("auxiliary analog channels recorded beside force (DAQ "
                                  "rigs); same sample index and length as /force")
    group.attrs["channels"] = to_json([str(c["name"]) for c in channels])
    for c in channels:
        ds = group.create_dataset(str(c["name"]), shape=(0,), maxshape=(None,), dtype="<f4",
                                  chunks=(FORCE_CHUNK,), fillvalue=np.float32(np.nan))
        ds.attrs["units"] = str(c.get("unit", "V"))
        ds.attrs["description"] = ("value = (volts - offset_V) * scale, in units; index as "
                                   "/force; NaN = no sample")
        ds.attrs["sample_rate_hz"] = np.float64(sample_rate_hz)
        for key in AUX_ATTRS:
            if key in c and c[key] is not None:
                ds.attrs[key] = c[key]
        if checksums:
            col = aux_crc_column(str(c["name"]))
            crc = f[INTEGRITY].create_dataset(col.name, shape=(0,), maxshape=(None,),
                                              dtype=col.dtype, chunks=(TABLE_CHUNK,))
            crc.attrs["units"] = col.units
            crc.attrs["description"] = col.description


def aux_names(f: h5py.File) -> list[str]:
    """The auxiliary channels of a file in acquisition order ([] for a 1.0 file)."""
    if AUX not in f:
        return []
    group = f[AUX]
    try:
        names = json.loads(group.attrs.get("channels", "[]"))
    except (TypeError, ValueError):
        names = []
    return [n for n in names if n in group] or sorted(group.keys())
