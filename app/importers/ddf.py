"""Aurora Scientific DMC ``.ddf`` files (Dynamic Muscle Control, tab-separated text).

Layout, as written by DMC v5.x (latin-1 text, LF or CRLF line ends)::

    DMCv5.3 Data File
    Sample Frequency (Hz): 10000
    Reference Area: NaN sq. mm          (also Reference Force / Reference Length)
    Calibration Data:
    Channel  AI0  AI1  ...  AO1        (tab-separated; rows below per channel)
    Units    mm   mN   ...
    Scale (units/V)   1.0   500.0 ...
    Offset (volts)    0.0   0.0   ...
    TADs              0.0   0.0   ...
    Test Comments:
    <free text lines>
    Protocol Array:
    <blank>
    <wait s> TAB <action> TAB <port> TAB <comma-separated parameters> TAB
    ...
    <blank>
    Test Data in Volts:
    <blank>
    Sample  AI0 ... AI7  AO0  AO1  Stim
    0       0.59 ...                0

Physical value = (volts + offset) × scale, per channel (the convention of workloopR's
reader; every offset in the example files is 0). AI1 is force; its unit is converted
to mN. The Stim column (0/1) gives one pulse marker per rising edge. The last data
row written by DMC is an artifact of zeros and is dropped.

Protocol actions used (parameters as DMC writes them):
``Stimulus-Twitch``  delay s, pulse width ms;
``Stimulus-Tetanus`` delay s, frequency Hz, pulse width ms, train duration s;
``Stimulus-Train``   delay s, frequency Hz, pulse width ms, pulses, train rate Hz.
Wait times are sequential (each action starts its wait after the previous one).
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from app.errors import FileFormatError
from app.recording import Recording, Trial, rising_edges, trials_from_pulses

FORCE_CHANNEL = "AI1"
_TO_MN = {"mn": 1.0, "n": 1000.0, "g": 9.80665, "gf": 9.80665, "kg": 9806.65}
_STIM_PARAMS = {
    "Stimulus-Twitch": ("delay_s", "pulse_width_ms"),
    "Stimulus-Tetanus": ("delay_s", "frequency_hz", "pulse_width_ms", "duration_s"),
    "Stimulus-Train": ("delay_s", "frequency_hz", "pulse_width_ms", "pulses", "train_rate_hz"),
}


def is_ddf(head: bytes) -> bool:
    """True when the first line looks like a DMC data file header."""
    first = head.split(b"\n", 1)[0]
    return bool(re.search(rb"DMC.*Data File", first))


def _number(text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        return math.nan


def _find(lines: list[str], prefix: str, start: int, path: Path) -> int:
    for i in range(start, len(lines)):
        if lines[i].strip().startswith(prefix):
            return i
    raise FileFormatError(f"{path}: not a complete DMC .ddf file (no '{prefix}' section)")


def parse_protocol(rows: list[str], *, path: Path | str = "protocol",
                   first_line: int = 1) -> list[dict[str, Any]]:
    """Protocol Array rows -> [{'time_s', 'wait_s', 'action', 'port', 'params', ...}].

    ``rows[0]`` is line ``first_line`` of ``path`` (for messages). A parameter of a
    stimulus action, or a wait time at or before one, that is not a number is a
    FileFormatError: the trials' timing, frequency and pulse width come from them."""
    out: list[dict[str, Any]] = []
    t = 0.0
    bad_wait: str | None = None
    for k, row in enumerate(rows):
        cells = row.split("\t")
        if not cells or not cells[0].strip():
            continue
        wait = _number(cells[0])
        action = cells[1].strip() if len(cells) > 1 else ""
        port = cells[2].strip() if len(cells) > 2 else ""
        raw = cells[3].strip() if len(cells) > 3 else ""
        params = [_number(p) for p in raw.split(",")] if raw else []
        where = f"{path}: Protocol Array line {first_line + k} ({action or 'no action'})"
        if math.isnan(wait) and bad_wait is None:
            bad_wait = f"{where}: wait time {cells[0].strip()!r} is not a number"
        if action in _STIM_PARAMS:
            if bad_wait:        # this stimulus' start time depends on it
                raise FileFormatError(bad_wait)
            if any(math.isnan(v) for v in params):
                bad = next(c.strip() for c, v in zip(raw.split(","), params) if math.isnan(v))
                raise FileFormatError(f"{where}: parameter {bad!r} is not a number")
        t += 0.0 if math.isnan(wait) else wait
        item: dict[str, Any] = {"time_s": t, "wait_s": wait, "action": action, "port": port,
                                "params": params}
        names = _STIM_PARAMS.get(action)
        if names:
            item.update({n: v for n, v in zip(names, params)})
        out.append(item)
    return out


def load_ddf(path: str | Path) -> Recording:
    """Read a DMC ``.ddf`` file into a :class:`Recording` (force in mN)."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("latin-1")
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    lines = text.splitlines()
    if not lines or not re.search(r"DMC.*Data File", lines[0]):
        raise FileFormatError(f"{path}: not an Aurora DMC .ddf file (first line is not "
                              f"'DMC... Data File')")
    i_cal = _find(lines, "Calibration Data", 1, path)
    header, fs = _header(lines[1:i_cal], path)
    i_com = _find(lines, "Test Comments", i_cal + 1, path)
    units, scale, offset = _calibration(lines[i_cal + 1:i_com], path)
    i_prot = _find(lines, "Protocol Array", i_com + 1, path)
    comments = "\n".join(l for l in lines[i_com + 1:i_prot] if l.strip()).strip()
    i_data = _find(lines, "Test Data", i_prot + 1, path)
    protocol = parse_protocol(lines[i_prot + 1:i_data], path=path, first_line=i_prot + 2)
    data, col = _data_table(lines, i_data, path)
    force, sc, off, to_mn = _force_mN(data, col, units, scale, offset, path)
    edges = rising_edges(data[:, col["Stim"]] > 0.5)
    metadata = _metadata(lines[0], header, comments, protocol, sc * to_mn, off)
    trials = _trials(edges, fs, force.size, protocol, metadata.get("reference_length_mm"))
    if any(p["action"] == "Stimulus-Train" for p in protocol) and any(
            p["action"] == "Sine Wave" for p in protocol):
        metadata["experiment"] = "workloop"
    return Recording(source=str(path), format="aurora-ddf", sample_rate_hz=fs,
                     force_mN=force, stim_samples=edges, trials=trials, metadata=metadata)


def _header(lines: list[str], path: Path) -> tuple[dict[str, str], float]:
    """The ``key: value`` header and its sample rate (refused unless positive)."""
    header: dict[str, str] = {}
    for line in lines:
        if ":" in line:
            k, v = line.split(":", 1)
            header[k.strip()] = v.strip()
    fs = _number(header.get("Sample Frequency (Hz)", "nan"))
    if not (math.isfinite(fs) and fs > 0):
        raise FileFormatError(f"{path}: missing or invalid 'Sample Frequency (Hz)'")
    return header, fs


def _calibration(lines: list[str], path: Path
                 ) -> tuple[dict[str, str], dict[str, float], dict[str, float]]:
    """Units, scale and offset per channel from the calibration table."""
    cal: dict[str, list[str]] = {}
    for line in lines:
        cells = line.split("\t")
        if len(cells) > 1:
            cal[cells[0].strip()] = [c.strip() for c in cells[1:]]
    channels = cal.get("Channel")
    scale_row = next((v for k, v in cal.items() if k.startswith("Scale")), None)
    offset_row = next((v for k, v in cal.items() if k.startswith("Offset")), None)
    if not channels or scale_row is None:
        raise FileFormatError(f"{path}: calibration table lacks 'Channel' or 'Scale' rows")
    units = dict(zip(channels, cal.get("Units", [""] * len(channels))))
    scale = {c: _number(v) for c, v in zip(channels, scale_row)}
    offset = {c: _number(v) for c, v in zip(channels, offset_row or [])}
    return units, scale, offset


def _data_table(lines: list[str], i_data: int, path: Path) -> tuple[np.ndarray, dict[str, int]]:
    """The data table after 'Test Data' (volts) and its column index by name."""
    i_head = next((k for k in range(i_data + 1, len(lines)) if lines[k].strip()), None)
    if i_head is None:
        raise FileFormatError(f"{path}: no data table after 'Test Data in Volts'")
    columns = [c.strip() for c in lines[i_head].split("\t")]
    if FORCE_CHANNEL not in columns or "Stim" not in columns:
        raise FileFormatError(f"{path}: data table lacks the {FORCE_CHANNEL} (force) or Stim "
                              f"column (has: {', '.join(c for c in columns if c)})")
    named = len([c for c in columns if c])
    if any(not c for c in columns[:named]):    # only trailing tabs may leave a name empty
        raise FileFormatError(f"{path}: line {i_head + 1}: the data table header has an empty "
                              f"column name (column {columns.index('') + 1})")
    numbers = [k + 1 for k in range(i_head + 1, len(lines)) if lines[k].strip()]
    body = [lines[k - 1] for k in numbers]
    if not body:
        raise FileFormatError(f"{path}: the data table is empty")
    try:
        data = np.loadtxt(body, delimiter="\t", ndmin=2, usecols=range(named))
    except ValueError as exc:
        raise FileFormatError(f"{path}: non-numeric or missing data in the data table "
                              f"({_first_bad_row(body, numbers, columns[:named]) or exc})"
                              ) from exc
    col = {c: k for k, c in enumerate(columns) if c}
    if data.shape[0] > 1 and not np.any(data[-1, 1:]):
        data = data[:-1]                # DMC's trailing all-zero row
    if "Sample" in col:
        sample = data[:, col["Sample"]]
        if not np.array_equal(sample, np.arange(sample.size) + sample[0]):
            raise FileFormatError(f"{path}: sample numbers are not consecutive (rows missing?)")
    return data, col


def _force_mN(data: np.ndarray, col: dict[str, int], units: dict[str, str],
              scale: dict[str, float], offset: dict[str, float], path: Path
              ) -> tuple[np.ndarray, float, float, float]:
    """Force in mN through the file's calibration: (force, scale, offset, unit factor)."""
    unit = units.get(FORCE_CHANNEL, "mN").strip()
    to_mn = _TO_MN.get(unit.lower())
    if to_mn is None:
        raise FileFormatError(f"{path}: force channel {FORCE_CHANNEL} is in '{unit}', not a "
                              f"force unit (mN, N, g)")
    sc = scale.get(FORCE_CHANNEL, math.nan)
    off = offset.get(FORCE_CHANNEL, 0.0)
    if not math.isfinite(sc) or sc == 0:
        raise FileFormatError(f"{path}: invalid scale for {FORCE_CHANNEL}")
    force = (data[:, col[FORCE_CHANNEL]] + (0.0 if math.isnan(off) else off)) * sc * to_mn
    return force, sc, off, to_mn


def _metadata(first_line: str, header: dict[str, str], comments: str,
              protocol: list[dict[str, Any]], scale_mN_per_V: float, offset_V: float
              ) -> dict[str, Any]:
    """What the file says about the session: version, calibration, notes, references."""
    metadata: dict[str, Any] = {
        "dmc_version": first_line.split()[0],
        "force_channel": FORCE_CHANNEL, "force_scale_mN_per_V": scale_mN_per_V,
        "force_offset_V": offset_V, "protocol": protocol,
    }
    if comments:
        metadata["notes"] = comments
    for key, name, factor in (("Reference Area", "reference_area_mm2", 1.0),
                              ("Reference Force", "reference_force_mN", 1.0),
                              ("Reference Length", "reference_length_mm", 1.0)):
        v = _number(header.get(key, "nan").split()[0]) if header.get(key) else math.nan
        if math.isfinite(v):
            metadata[name] = v * factor
    if "reference_length_mm" in metadata:
        metadata.setdefault("muscle_length_mm", metadata["reference_length_mm"])
    return metadata


def _first_bad_row(body: list[str], numbers: list[int], names: list[str]) -> str | None:
    """Where the data table first stops being numbers: 'line L, column NAME: 'x''."""
    for line_no, row in zip(numbers, body):
        cells = row.split("\t")
        if len(cells) < len(names):
            return f"line {line_no} has {len(cells)} columns, the header {len(names)}"
        for name, cell in zip(names, cells):
            try:
                float(cell)
            except ValueError:
                return f"line {line_no}, column {name}: {cell.strip()!r}"
    return None


def _trials(edges: np.ndarray, fs: float, n: int, protocol: list[dict[str, Any]],
            length_mm: float | None) -> list[Trial]:
    """Group pulse edges into trials; take frequency, width and kind from the protocol."""
    stims = [p for p in protocol if p["action"] in _STIM_PARAMS and
             any(v for v in p["params"] if math.isfinite(v))]
    # the protocol array decides: pulses closer than 1.5 periods of its slowest tetanus
    # are one train; work-loop trains repeat every cycle (tens of ms), so they split at
    # 1.5 periods of the train rate; without a train in the protocol, regular spacing
    gap: float | None = None
    tet_f = [p["frequency_hz"] for p in stims
             if p["action"] == "Stimulus-Tetanus" and p.get("frequency_hz")]
    train_f = [p["frequency_hz"] for p in stims
               if p["action"] == "Stimulus-Train" and p.get("frequency_hz")]
    if train_f:
        gap = 1.5 / max(train_f)
    elif tet_f:
        gap = 1.5 / min(tet_f)
    trials = trials_from_pulses(edges, fs, n, max_train_gap_s=gap)
    for t in trials:
        t.length_mm = length_mm
        p = _matching_action(t, fs, stims)
        if p is None:
            continue
        t.step = p["action"]
        t.pulse_width_ms = p.get("pulse_width_ms")
        if p["action"] == "Stimulus-Twitch":
            t.kind = "twitch" if t.pulses == 1 else t.kind
        elif p.get("frequency_hz") and t.pulses > 1:
            t.frequency_hz = float(p["frequency_hz"])
    return trials


def _matching_action(trial: Trial, fs: float,
                     stims: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The protocol stimulus whose nominal start is nearest the trial's first pulse
    (within 10 ms, to allow for the one-sample marker delay and clock rounding)."""
    t0 = trial.first_stim_sample / fs
    best, best_dt = None, 0.010
    for p in stims:
        start = p["time_s"] + (p.get("delay_s") or 0.0)
        if p["action"] == "Stimulus-Train" and p.get("train_rate_hz"):
            period = 1.0 / p["train_rate_hz"]
            k = max(0, round((t0 - start) / period))
            start += k * period
        dt = abs(t0 - start)
        if dt <= best_dt:
            best, best_dt = p, dt
    return best
