"""Plain CSV recordings: ``time_s,force_mN,stim`` (documented in docs/analysis.md).

Format::

    # group: vehicle                  optional metadata lines, '# key: value'
    # muscle: EDL                     (SessionMetadata fields are validated)
    # muscle_mass_mg: 11.2
    time_s,force_mN,stim              header row, any column order, extra columns ignored
    0.0000,12.31,0
    0.0001,12.29,1                    stim: 1 while the stimulus pulse is high, else 0
    0.0002,12.35,0

Rules: comma-separated, '.' decimal point; ``time_s`` strictly increasing with a
constant step (within 1 % of the step); ``stim`` only 0 or 1, never empty; ``force_mN``
may be ``nan`` for a lost sample (the trial containing it is then reported as failed,
unless ``fill_gaps_ms`` allows interpolating it). Pulse markers are the rising edges of
``stim``; trials are formed from them as for any file without a trial table.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np
from pydantic import ValidationError

from app.errors import FileFormatError
from app.metadata import SessionMetadata
from app.recording import Recording, rising_edges, trials_from_pulses

REQUIRED = ("time_s", "force_mN", "stim")
#: allowed deviation of a time step from the mean step, as a fraction of the step
STEP_TOLERANCE = 0.01


def _metadata(lines: list[str], path: Path) -> dict[str, Any]:
    """'# key: value' lines -> dict; SessionMetadata fields validated and typed."""
    raw: dict[str, str] = {}
    for line in lines:
        body = line.lstrip("#").strip()
        if ":" in body:
            k, v = body.split(":", 1)
            if k.strip() and v.strip():
                raw[k.strip()] = v.strip()
    known = {k: v for k, v in raw.items() if k in SessionMetadata.model_fields}
    try:
        meta = SessionMetadata(**known).as_attrs() if known else {}
    except ValidationError as exc:
        from app.terminal import printable
        from app.validation_messages import sentence
        lines = [sentence(err, f"{path}: metadata line '# {err['loc'][0]}: "
                               f"{printable(str(known.get(str(err['loc'][0]), '')))[:40]}'")
                 for err in exc.errors()]
        raise FileFormatError("\n".join(lines)) from None
    meta = {k: v for k, v in meta.items() if k in known}   # only what the file states
    meta.update({k: v for k, v in raw.items() if k not in known})
    return meta


def load_csv(path: str | Path) -> Recording:
    """Read a ``time_s,force_mN,stim`` CSV file into a :class:`Recording`."""
    path = Path(path)
    lines = _read_lines(path)
    comments = [l for l in lines if l.lstrip().startswith("#")]
    numbers = [i + 1 for i, l in enumerate(lines) if l.strip() and not l.lstrip().startswith("#")]
    rows = [lines[i - 1] for i in numbers]          # numbers: 1-based file line numbers

    def line(k: int) -> int:
        """File line number of data row k (0-based)."""
        return numbers[k + 1]
    if not rows:
        raise FileFormatError(f"{path}: empty CSV file (expected a header "
                              f"'{','.join(REQUIRED)}')")
    header = [c.strip() for c in rows[0].split(",")]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise FileFormatError(f"{path}: missing column(s) {', '.join(missing)} in the header "
                              f"(found: {', '.join(header)}; expected {', '.join(REQUIRED)})")
    meta = _metadata(comments, path)
    if len(rows) < 3:
        raise FileFormatError(f"{path}: fewer than 2 data rows")
    data = _columns(rows, header, line, path)
    t, force, stim = data[:, 0], data[:, 1], data[:, 2]
    _check_values(t, force, stim, line, path)
    fs = _sample_rate(t, line, path)
    edges = rising_edges(stim > 0.5)
    if t[0] != 0:                       # stim_time_s etc. count from the first row
        meta.setdefault("time_offset_s", float(t[0]))
    return Recording(source=str(path), format="csv", sample_rate_hz=float(fs),
                     force_mN=force, stim_samples=edges,
                     trials=trials_from_pulses(edges, fs, force.size), metadata=meta,
                     trials_from_markers=True)


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"{path}: not a UTF-8 text file") from exc
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    return text.splitlines()


def _columns(rows: list[str], header: list[str], line: Callable[[int], int],
             path: Path) -> np.ndarray:
    """The REQUIRED columns as numbers; the first bad cell named by line and column."""
    idx = [header.index(c) for c in REQUIRED]
    try:
        return np.loadtxt(rows[1:], delimiter=",", usecols=idx, ndmin=2, dtype=np.float64)
    except ValueError as exc:
        m = re.search(r"string '(.*)' to float64 at row (\d+), column (\d+)", str(exc))
        if m:
            col = int(m.group(3)) - 1          # numpy reports the file column, 1-based
            where = (f"line {line(int(m.group(2)))}, column "
                     f"{header[col] if col < len(header) else col + 1}: "
                     f"{m.group(1)!r}")
        else:       # a row with too few cells: numpy names neither the line nor the column
            short = next((k for k, r in enumerate(rows[1:]) if len(r.split(",")) <= max(idx)),
                         None)
            where = (f"line {line(short)} ({len(rows[short + 1].split(','))} columns, the "
                     f"header has {len(header)})") if short is not None else str(exc)
        raise FileFormatError(f"{path}: non-numeric or missing value at {where}; every row "
                              f"needs numbers in {', '.join(REQUIRED)} (write nan for a lost "
                              f"force sample)") from exc


def _check_values(t: np.ndarray, force: np.ndarray, stim: np.ndarray,
                  line: Callable[[int], int], path: Path) -> None:
    """Finite times and stim, stim 0 or 1, force finite or nan (not all nan)."""
    for name, col in (("time_s", t), ("stim", stim)):
        bad = ~np.isfinite(col)
        if bad.any():
            raise FileFormatError(f"{path}: {name} is not a finite number at line "
                                  f"{line(int(np.argmax(bad)))}")
    if np.isinf(force).any():
        raise FileFormatError(f"{path}: force_mN is infinite at line "
                              f"{line(int(np.argmax(np.isinf(force))))}")
    if np.isnan(force).all():
        raise FileFormatError(f"{path}: force_mN has no values (all nan)")
    if not np.isin(stim, (0.0, 1.0)).all():
        k = int(np.argmax(~np.isin(stim, (0.0, 1.0))))
        raise FileFormatError(f"{path}: stim must be 0 or 1 (line {line(k)} has {stim[k]:g})")


def _sample_rate(t: np.ndarray, line: Callable[[int], int], path: Path) -> float:
    """The constant sample rate of ``time_s`` (increasing, steps within STEP_TOLERANCE)."""
    dt = np.diff(t)
    if (dt <= 0).any():
        k = int(np.argmax(dt <= 0)) + 1
        raise FileFormatError(f"{path}: time_s does not increase at line {line(k)}")
    step = (t[-1] - t[0]) / (t.size - 1)
    dev = np.abs(dt - step)
    if (dev > STEP_TOLERANCE * step).any():
        k = int(np.argmax(dev > STEP_TOLERANCE * step)) + 1
        raise FileFormatError(
            f"{path}: uneven time steps (line {line(k)}: step {dt[k - 1] * 1e3:.4g} ms, "
            f"mean {step * 1e3:.4g} ms); resample to a constant rate first")
    fs = 1.0 / step
    if not math.isfinite(fs) or fs <= 0:
        raise FileFormatError(f"{path}: cannot determine the sample rate from time_s")
    return fs
