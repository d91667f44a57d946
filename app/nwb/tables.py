"""The tables of an exported NWB file: trials, stimulus pulses, lost samples, the session
summary and the session record (protocol, settings, metadata, audit log).

Analysis results go in generically: every field of :class:`app.analysis.results.
TrialResult` becomes a trials column and every key of the session summary a column of
``session_summary``, so a measure or quality flag added to the analysis is exported
without touching this module. Numbers stay numbers (NaN where unknown), text stays
text, and anything structured (lists, dicts) is stored as JSON text.
"""
from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from app.nwb import PULSES
from app.recording import Recording, Trial

#: columns of the trials table that come from the recording (exact, for the round trip)
TRIAL_RECORD_COLUMNS = (
    ("start_sample", "first sample of the trial window (index into acquisition/force)"),
    ("stop_sample", "one past the last sample of the trial window"),
    ("kind", "'twitch' (one pulse) or 'tetanus' (a train), as recorded"),
    ("step", "protocol step name"),
    ("status", "'completed' or 'aborted'"),
    ("current_mA", "stimulus current in mA (NaN if unknown)"),
    ("pulse_width_ms", "stimulus pulse width in ms (NaN if unknown)"),
    ("frequency_hz", "train frequency in Hz (NaN for a twitch or if unknown)"),
    ("pulse_count", "number of stimulus pulses marked in the trial window"),
    ("length_mm", "muscle length in mm during the trial (NaN if unknown)"),
    ("wall_time_utc", "ISO 8601 UTC wall time the trial's stimulus was fired ('' if unknown)"),
    ("excluded", "True when a researcher excluded the trial from the session's numbers after "
                 "the run (still measured; left out of the session summary)"),
    ("exclusion_reason", "why the trial was excluded ('' when it was not)"),
)
#: result fields that are the trial's identity, not a measure
_SKIP_RESULT = {"index"}

#: known measures, for column descriptions (others: see docs/analysis.md)
_MEASURES = {
    "peak_force_mN": "peak force above baseline in mN: Pt (twitch) or Po (tetanus)",
    "time_to_peak_ms": "time to peak (TPT) in ms from the first pulse",
    "half_relaxation_ms": "half-relaxation time (1/2RT) in ms from the peak",
    "baseline_mN": "pre-stimulus baseline in mN",
    "error": "why the trial could not be measured ('' if it was)",
    "markers": "fractional sample index where a measure was taken",
    "notes": "analysis notes",
    "flags": "quality flags (catalogue: myoforce docs/analysis.md)",
}


def _none_to_nan(v: Any) -> float:
    return math.nan if v is None else float(v)


def plain(v: Any) -> Any:
    """Result objects as plain data: anything with ``to_dict()`` (e.g. a quality flag) or a
    dataclass becomes a dict, recursively; numbers, text and None stay as they are."""
    if hasattr(v, "to_dict") and callable(v.to_dict):
        return plain(v.to_dict())
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return plain(dataclasses.asdict(v))
    if isinstance(v, Mapping):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


def _json_text(v: Any) -> str:
    from app.analysis.results import jsonable
    return json.dumps(jsonable(plain(v)), ensure_ascii=False)


def column_values(values: Sequence[Any]) -> tuple[Any, str]:
    """``(data, kind)`` for one column: 'bool', 'int', 'float' (None -> NaN), 'text'
    (None -> '') or 'json' (lists, dicts: JSON text)."""
    if not values:          # hdmf needs a typed array to write an empty column
        return np.array([], dtype=str), "text"
    present = [v for v in values if v is not None]
    if not present:
        return ["" for _ in values], "text"
    if all(isinstance(v, (bool, np.bool_)) for v in present) \
            and len(present) == len(values):
        return np.asarray(values, dtype=bool), "bool"
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                       for v in present) and len(present) == len(values):
        return np.asarray(values, dtype=np.int64), "int"
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
           for v in present):
        return np.asarray([_none_to_nan(v) for v in values], dtype=np.float64), "float"
    if all(isinstance(v, str) for v in present):
        return ["" if v is None else v for v in values], "text"
    return [_json_text(v) for v in values], "json"


def dynamic_table(name: str, description: str,
                  columns: Iterable[tuple[str, str, Sequence[Any]]]) -> Any:
    """An hdmf DynamicTable from ``(name, description, values)`` columns."""
    from hdmf.common import DynamicTable, VectorData
    cols = []
    for col, text, values in columns:
        data, kind = column_values(list(values))
        cols.append(VectorData(name=col, description=text + (" (JSON text)" if kind == "json"
                                                             else ""), data=data))
    return DynamicTable(name=name, description=description, columns=cols)


def flat_items(value: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested mapping -> ``[("a.b", leaf)]`` (list items of records as ``a.0.b``): NWB's
    inspector wants no dictionaries inside table strings, so structure becomes keys."""
    out: list[tuple[str, Any]] = []
    for k, v in plain(value).items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.extend(flat_items(v, key + ".") if v else [(key, None)])
        elif isinstance(v, list) and any(isinstance(x, Mapping) for x in v):
            out.extend(flat_items({str(i): x for i, x in enumerate(v)}, key + "."))
        else:
            out.append((key, v))
    return out


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`flat_items`: dotted keys back into dicts, and dicts keyed
    0, 1, 2... back into lists (an empty dict was stored as None and stays None)."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        *path, last = str(key).split(".")
        node = out
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value

    def lists(v: Any) -> Any:
        if not isinstance(v, dict):
            return v
        v = {k: lists(x) for k, x in v.items()}
        if v and sorted(v) == sorted(str(i) for i in range(len(v))):
            return [v[str(i)] for i in range(len(v))]
        return v
    return lists(out)


def encode_value(v: Any) -> tuple[float, str, str]:
    """One value as ``(number, text, type)``; :func:`decode_value` gives it back exactly."""
    if v is None:
        return math.nan, "", "null"
    if isinstance(v, (bool, np.bool_)):
        return float(bool(v)), "", "bool"
    if isinstance(v, (int, np.integer)):
        return float(v), str(int(v)), "int"
    if isinstance(v, (float, np.floating)):
        return float(v), "", "float"
    if isinstance(v, str):
        return math.nan, v, "str"
    return math.nan, _json_text(v), "json"


def decode_value(number: float, text: str, kind: str) -> Any:
    """The value :func:`encode_value` encoded."""
    return {"null": lambda: None, "bool": lambda: bool(number), "int": lambda: int(text),
            "float": lambda: float(number), "str": lambda: text,
            "json": lambda: json.loads(text)}.get(kind, lambda: text)()


def value_table(name: str, description: str, items: Sequence[tuple[str, Any]],
                extra: Sequence[tuple[str, str, Sequence[Any]]] = ()) -> Any:
    """A long key/value table: one row per ``(key, value)``, numbers in ``value``, text
    in ``text``, the Python type in ``type`` (so the mapping reads back exactly)."""
    enc = [encode_value(v) for _, v in items]
    return dynamic_table(name, description, [
        ("key", "name (dotted for nested values)", [k for k, _ in items]),
        ("value", "numeric value (NaN if not a number)", [e[0] for e in enc]),
        ("text", "text value; lists as JSON", [e[1] for e in enc]),
        ("type", "value type: null, bool, int, float, str or json", [e[2] for e in enc]),
        *extra])


def read_value_table(table: Any) -> dict[str, Any]:
    """``{key: value}`` of a :func:`value_table` as read back by pynwb (flat keys)."""
    df = table.to_dataframe()
    return {str(k): decode_value(float(n), str(t), str(y))
            for k, n, t, y in zip(df["key"], df["value"], df["text"], df["type"])}


# ------------------------------------------------------------------ trials
def _trial_record_values(t: Trial, wall_time: str, exclusion: Any = None) -> dict[str, Any]:
    """One trial's recording columns; ``exclusion``: the researcher's exclusion of it
    (``Recording.exclusions``), or None."""
    return {"start_sample": int(t.start_sample), "stop_sample": int(t.stop_sample),
            "kind": t.kind, "step": t.step or "", "status": t.status,
            "current_mA": _none_to_nan(t.current_mA),
            "pulse_width_ms": _none_to_nan(t.pulse_width_ms),
            "frequency_hz": _none_to_nan(t.frequency_hz), "pulse_count": t.pulses,
            "length_mm": _none_to_nan(t.length_mm), "wall_time_utc": wall_time,
            "excluded": exclusion is not None,
            "exclusion_reason": "" if exclusion is None else str(exclusion.reason)}


def _ragged(name: str, text: str, values: list[Any]) -> list[tuple[str, str, list[Any]]]:
    """A list-valued field as ragged columns (a list per row, NWB's VectorIndex): a list
    of records (quality flags: code and text) gives one ragged column per record field."""
    rows = [plain(list(v or [])) for v in values]
    keys = sorted({k for r in rows for item in r if isinstance(item, Mapping) for k in item})
    if not keys:
        return [(name, f"{text} (a list per trial)", [[str(x) for x in r] for r in rows])]
    return [(f"{name}_{k}", f"{text}: {k} of each (a list per trial)",
             [[str(item.get(k, "")) if isinstance(item, Mapping) else str(item) for item in r]
              for r in rows]) for k in keys]


def result_columns(results: Sequence[Any]) -> list[tuple[str, str, list[Any]]]:
    """One column per TrialResult field; names that clash with a recording column get
    the prefix ``analysed_`` (e.g. the pulse count the analysis saw). Dict fields give
    a column per key, list fields ragged columns (:func:`_ragged`)."""
    if not results:
        return []
    record = {name for name, _ in TRIAL_RECORD_COLUMNS} | {"pulses"}
    out = []
    for f in dataclasses.fields(results[0]):
        if f.name in _SKIP_RESULT:
            continue
        name = f"analysed_{f.name}" if f.name in record else f.name
        text = _MEASURES.get(f.name, f"analysis result '{f.name}' (docs/analysis.md)")
        values = [getattr(r, f.name) for r in results]
        if any(isinstance(v, Mapping) for v in values):     # e.g. markers: one column each
            flat = [dict(flat_items(v)) if isinstance(v, Mapping) else {} for v in values]
            for key in sorted({k for d in flat for k in d}):
                out.append((f"{name}_{key}", f"{text}: {key}", [d.get(key) for d in flat]))
            continue
        if any(isinstance(v, (list, tuple)) for v in values):
            out.extend(_ragged(name, text, values))
            continue
        out.append((name, text, values))
    return out


def add_trials(nwbfile: Any, recording: Recording, results: Sequence[Any],
               wall_times: Mapping[int, str]) -> None:
    """One trials row per contraction: its window, stimulus and analysis results."""
    trials = recording.trials
    if not trials:
        return
    fs = recording.sample_rate_hz
    by_index = {r.index: r for r in results}
    rows = [_trial_record_values(t, wall_times.get(t.index, ""),
                                 recording.exclusions.get(t.index)) for t in trials]
    columns = [(name, text, [r[name] for r in rows]) for name, text in TRIAL_RECORD_COLUMNS]
    matched = [by_index.get(t.index) for t in trials]
    if all(m is not None for m in matched):
        columns += result_columns(matched)
    nwbfile.trials = time_intervals(
        "trials", "one row per contraction: trial window, stimulus, analysis results",
        [t.start_sample / fs for t in trials], [t.stop_sample / fs for t in trials],
        [int(t.index) for t in trials], columns)


def time_intervals(name: str, description: str, start: Sequence[float],
                   stop: Sequence[float], ids: Sequence[int],
                   columns: Sequence[tuple[str, str, Sequence[Any]]]) -> Any:
    """A TimeIntervals table built column by column (hdmf's add_row costs milliseconds a
    row: seconds for a long session). Columns of lists become ragged (VectorIndex)."""
    from hdmf.common import VectorData, VectorIndex
    from pynwb.epoch import TimeIntervals

    cols = [VectorData(name="start_time", description="start of the interval, s",
                       data=np.asarray(start, dtype=np.float64)),
            VectorData(name="stop_time", description="end of the interval, s",
                       data=np.asarray(stop, dtype=np.float64))]
    for col, text, values in columns:
        values = list(values)
        if any(isinstance(v, list) for v in values):        # ragged: lists of text
            if not any(values):   # hdmf cannot type a column of only empty lists: left out
                continue
            target = VectorData(name=col, description=text,
                                data=[x for v in values for x in (v or [])])
            ends = np.cumsum([len(v or []) for v in values]).astype(np.int64)
            cols += [target, VectorIndex(name=f"{col}_index", data=ends, target=target)]
            continue
        data, kind = column_values(values)
        cols.append(VectorData(name=col, description=text + (" (JSON text)" if kind == "json"
                                                             else ""), data=data))
    return TimeIntervals(name=name, description=description, columns=cols, id=list(ids))


# ------------------------------------------------------------------ pulses
def pulse_columns(recording: Recording) -> dict[str, np.ndarray]:
    """Per pulse: its sample, the trial it belongs to (-1: none) and that trial's stimulus."""
    stim = np.asarray(recording.stim_samples, dtype=np.int64)
    n = stim.size
    cols = {"sample": stim, "trial": np.full(n, -1, np.int64),
            "current_mA": np.full(n, np.nan), "pulse_width_ms": np.full(n, np.nan),
            "frequency_hz": np.full(n, np.nan)}
    for t in recording.trials:
        m = (stim >= t.start_sample) & (stim < t.stop_sample) & (cols["trial"] < 0)
        cols["trial"][m] = t.index
        cols["current_mA"][m] = _none_to_nan(t.current_mA)
        cols["pulse_width_ms"][m] = _none_to_nan(t.pulse_width_ms)
        cols["frequency_hz"][m] = _none_to_nan(t.frequency_hz)
    return cols


def add_pulses(nwbfile: Any, recording: Recording) -> None:
    """Every stimulus pulse as a row of an EventsTable (NWB >= 2.9's core events)."""
    from hdmf.common import VectorData
    from pynwb.event import DurationVectorData, EventsTable, TimestampVectorData

    fs = recording.sample_rate_hz
    c = pulse_columns(recording)
    table = EventsTable(
        name=PULSES,
        description="stimulus pulses delivered to the motor nerve, one row per pulse, at the "
                    "sample where the amplifier's trigger input saw the pulse's edge "
                    "(timestamp = sample / rate; hardware-timed, never host-timed)",
        source_description="trigger-edge flag (bit 0) of the force amplifier's sample stream",
        columns=[
            TimestampVectorData(name="timestamp", description="pulse time in s (sample / rate)",
                                data=c["sample"] / fs, resolution=1.0 / fs),
            DurationVectorData(name="duration", description="pulse width in s (NaN if unknown)",
                               data=c["pulse_width_ms"] / 1000.0, resolution=1.0 / fs),
            VectorData(name="sample", description="index of the pulse's sample in "
                       "acquisition/force (exact)", data=c["sample"]),
            VectorData(name="trial", description="id of the trial (trials table) whose window "
                       "holds the pulse; -1 if none", data=c["trial"]),
            VectorData(name="current_mA", description="stimulus current in mA of the pulse's "
                       "trial (NaN if unknown)", data=c["current_mA"]),
            VectorData(name="pulse_width_ms", description="pulse width in ms of the pulse's "
                       "trial (NaN if unknown)", data=c["pulse_width_ms"]),
            VectorData(name="frequency_hz", description="frequency in Hz of the train the pulse "
                       "belongs to (NaN for a twitch or if unknown)", data=c["frequency_hz"]),
        ])
    nwbfile.add_events_table(table)


# ------------------------------------------------------------------ lost samples
def add_invalid_times(nwbfile: Any, gaps: Sequence[Any], fs: float) -> None:
    """Each run of missing samples (NaN in the force) as an invalid-times interval."""
    if not gaps:
        return
    nwbfile.invalid_times = time_intervals(
        "invalid_times", "samples that are missing from acquisition/force (NaN there)",
        [g.sample / fs for g in gaps], [(g.sample + g.count) / fs for g in gaps],
        range(len(gaps)),
        [("start_sample", "first missing sample", [int(g.sample) for g in gaps]),
         ("sample_count", "missing samples", [int(g.count) for g in gaps]),
         ("cause", "why: stream-gap (the amplifier stream skipped samples), "
                   "recorder-queue-full, before-recording", [str(g.cause) for g in gaps])])
