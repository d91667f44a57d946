"""Nothing damaged is measured: the checks every reader of session data goes through.

Two kinds of damage, two answers (issue 9):

- **Damaged metadata** — a tampered sample rate, an impossible trial window, raw data
  stored with the wrong dtype, pulse markers out of order: every number computed from
  the file would be wrong, so :func:`structure_problems` finds it and
  :func:`~app.recorder.reader.load_recording` refuses the whole file with one line.
  ``verify`` reports the same problems (one rule, one place).
- **Damaged samples** — bytes of ``/force`` or ``/flags`` that no longer match the
  CRC-32 the writer stored for their block: only what touches them is refused.
  :class:`~app.recorder.checked_force.CheckedForce` (its own module) is the force of a loaded recording; every read checks the
  blocks it touches (each block once) and raises :class:`DamagedDataError` naming the
  samples and the block, so analysis records a per-trial error, never a number.
  Samples outside every checksummed block and every logged gap (the unflushed end of
  a crashed recording) are refused the same way; ``myoforce recover`` makes a verified
  copy.
"""
from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from app.errors import FileFormatError
from app.recorder import layout as L

#: raw data dtypes the format promises (docs/file-format.md)
RAW_DTYPES = {L.FORCE: np.dtype("<f4"), L.FLAGS: np.dtype("u1"), L.PULSES: np.dtype("<i8")}
TRIAL_KINDS = ("twitch", "tetanus")
TRIAL_STATUSES = ("completed", "aborted")


class DamagedDataError(FileFormatError):
    """A read touched samples whose checksum does not match (or that have none)."""


# ------------------------------------------------------------------ structure
def structure_problems(sf: Any) -> list[str]:
    """Every structural problem of an open :class:`~app.recorder.reader.SessionFile`
    that would make numbers from it wrong; ``[]`` for a sane file."""
    problems = dtype_problems(sf) + rate_problems(sf)
    if problems:            # the rest reads the data with these dtypes and this rate
        return problems
    return trial_problems(sf) + pulse_order_problems(sf)


def dtype_problems(sf: Any) -> list[str]:
    """Raw datasets and table columns not stored with the dtypes the format promises."""
    out = []
    for name, dtype in RAW_DTYPES.items():
        ds = sf.h5[name]
        if ds.dtype != dtype or ds.ndim != 1:
            out.append(f"/{name} is {ds.ndim}-D {ds.dtype}; the format stores 1-D {dtype}")
    for table, cols in L.TABLES.items():
        for c in cols:
            ds = sf.h5[table][c.name]
            if (ds.dtype.kind != "O" and c.is_text) or (not c.is_text and ds.dtype != c.dtype):
                out.append(f"/{table}/{c.name} has dtype {ds.dtype}; the format stores "
                           f"{'text' if c.is_text else c.dtype}")
    return out


def recorded_rates(sf: Any) -> dict[str, float]:
    """The sample rate as stored in each place the writer puts it: the root attribute,
    ``/force``'s attribute and the 'recording started' audit entry."""
    rates = {"root attribute sample_rate_hz": _float(sf.h5.attrs.get("sample_rate_hz"))}
    if "sample_rate_hz" in sf.h5[L.FORCE].attrs:
        rates["/force attribute sample_rate_hz"] = _float(sf.h5[L.FORCE].attrs["sample_rate_hz"])
    audit = sf.h5[L.AUDIT]
    n = min(int(audit["kind"].shape[0]), int(audit["fields"].shape[0]), 8)
    for kind, fields in zip(audit["kind"].asstr()[:n], audit["fields"].asstr()[:n]):
        if kind == "recorder":
            try:
                value = json.loads(fields).get("sample_rate_hz")
            except (ValueError, AttributeError):
                continue
            if value is not None:
                rates["'recording started' audit entry"] = _float(value)
                break
    return rates


def _float(value: Any) -> float:
    try:
        return float(np.asarray(value).reshape(-1)[0]) if value is not None else math.nan
    except (TypeError, ValueError, IndexError):
        return math.nan


def rate_problems(sf: Any) -> list[str]:
    """A sample rate that is not one, or that differs between the places it is stored
    (a tampered rate would stretch every time measure)."""
    rates = recorded_rates(sf)
    root = rates["root attribute sample_rate_hz"]
    if not (math.isfinite(root) and 0 < root <= 1e8):
        return [f"sample_rate_hz = {root:g} is not a sample rate"]
    for where, value in rates.items():
        if not math.isclose(value, root, rel_tol=1e-9):
            return [f"sample_rate_hz = {root:g} but the {where} says {value:g}"]
    return []


def stopped_early(sf: Any) -> bool:
    """The recording ended before its protocol: the writer died ('recording', or a copy
    made by ``recover``) or stopped on a disk-space problem ('failed'). Trials made after
    that are in the trial table (they happened) but their samples are not in the file."""
    return sf.status in (L.STATUS_RECORDING, L.STATUS_FAILED, L.STATUS_RECOVERED)


def trials_past_end(sf: Any) -> list[tuple[int, int, int]]:
    """``(row, start, stop)`` of trials whose window runs past the recorded data of a
    recording that stopped early (:func:`stopped_early`); ``[]`` for any other file."""
    if not stopped_early(sf):
        return []
    t = sf.table(L.TRIALS)
    n = sf.samples
    return [(i, int(a), int(b)) for i, (a, b) in enumerate(zip(t["start_sample"],
                                                                t["stop_sample"]))
            if 0 <= a <= b and b > n]


def trial_problems(sf: Any) -> list[str]:
    """Trial rows whose window lies outside the data (except, in a recording that
    stopped early, past its end: :func:`trials_past_end`), whose first pulse lies outside
    the window, or whose kind/status is unknown (at most three reported)."""
    t = sf.table(L.TRIALS)
    n = sf.samples
    late = {row for row, _, _ in trials_past_end(sf)}
    out = []
    for i in range(len(t["index"])):
        start, stop = int(t["start_sample"][i]), int(t["stop_sample"][i])
        first = int(t["first_pulse_sample"][i])
        if i in late:
            continue
        if not 0 <= start <= stop <= n:
            out.append(f"trial row {i} has the window {start}..{stop}, outside the recorded "
                       f"samples 0..{n}")
        elif first != -1 and not start <= first < stop:
            out.append(f"trial row {i} has its first pulse at sample {first}, outside its "
                       f"window {start}..{stop}")
        elif t["kind"][i] not in TRIAL_KINDS or t["status"][i] not in TRIAL_STATUSES:
            out.append(f"trial row {i} has kind {t['kind'][i]!r} / status {t['status'][i]!r}")
        if len(out) >= 3:
            break
    return out


def pulse_order_problems(sf: Any) -> list[str]:
    """Pulse markers out of order or past the end of the data."""
    p = np.asarray(sf.h5[L.PULSES][()], dtype=np.int64)
    if p.size and (p[0] < 0 or (np.diff(p) <= 0).any()):
        return ["/pulses is not strictly ascending from sample 0"]
    if sf.complete and p.size and p[-1] >= sf.samples:
        return [f"/pulses has a marker at sample {int(p[-1])}, past the end ({sf.samples})"]
    return []


def attribute_problems(sf: Any) -> list[str]:
    """Root and ``/force`` attributes against what docs/file-format.md promises (for
    ``verify``; the ones that change numbers are in :func:`structure_problems`)."""
    from datetime import datetime
    out = []
    a = sf.h5.attrs
    status, complete = sf.status, sf.complete
    if status not in (L.STATUS_RECORDING, L.STATUS_COMPLETE, L.STATUS_ABORTED,
                      L.STATUS_FAILED, L.STATUS_RECOVERED):
        out.append(f"root attribute status = {status!r} is not a known status")
    elif complete != (status != L.STATUS_RECORDING):
        out.append(f"root attributes complete = {int(complete)} and status = {status!r} "
                   "contradict each other")
    times = [("start_time_utc", sf.start_time_utc)]
    if complete and status != L.STATUS_RECOVERED:     # recover leaves it empty
        times.append(("end_time_utc", sf.end_time_utc or ""))
    for name, text in times:
        try:
            datetime.fromisoformat(text)
        except ValueError:
            out.append(f"root attribute {name} = {text!r} is not an ISO 8601 time")
    flush = _float(a.get("flush_interval_s"))
    if not (math.isfinite(flush) and flush > 0):
        out.append(f"root attribute flush_interval_s = {flush:g} is not a positive time")
    if complete and int(a.get("lost_samples", -1)) < 0:
        out.append(f"root attribute lost_samples = {int(a.get('lost_samples', -1))} in a "
                   "closed file")
    fa = sf.h5[L.FORCE].attrs
    scale = _float(fa.get("calibration_scale_mN_per_count"))
    offset = _float(fa.get("calibration_offset_counts"))
    if not (math.isfinite(scale) and scale != 0 and math.isfinite(offset)):
        out.append(f"/force calibration (scale {scale:g} mN/count, offset {offset:g} counts) "
                   "is not a calibration")
    return out


def check_structure(sf: Any) -> None:
    """Raise FileFormatError (one line, naming the file) for a structurally damaged file."""
    problems = structure_problems(sf)
    if problems:
        more = f" (and {len(problems) - 1} more problem(s); see 'myoforce verify')" \
            if len(problems) > 1 else ""
        raise FileFormatError(f"{sf.path}: damaged: {problems[0]}{more}: not measured")


__all__ = ["DamagedDataError", "structure_problems",
           "check_structure", "recorded_rates", "dtype_problems", "rate_problems",
           "trial_problems", "pulse_order_problems", "attribute_problems"]
