"""Checking a session file: structure, and the raw data against the writer's checksums.

The writer stores a zlib CRC-32 of every block of force and flags it writes
(``/integrity``), and since format 1.2 of every auxiliary channel (``crc_aux_<name>``). Recomputing them proves the raw data is bit-for-bit what the writer
wrote. Every sample must be either inside a checksummed block or inside a logged gap
(where it must be NaN); the pulse markers must be exactly the trigger-edge flags.

A file whose writer died is checked up to what was flushed: its last rows may refer to
data that never reached the disk, and its last samples may have no checksum row yet;
both are reported as notes, not problems. Any mismatch in what *is* there is a problem.
"""
from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field

import numpy as np

from app.recorder import layout as L
from app.recorder.aux_integrity import crc_of
from app.recorder.integrity import (attribute_problems, dtype_problems, pulse_order_problems,
                                    rate_problems, trial_problems, trials_past_end)
from app.recorder.h5open import H5_ERRORS, _one_line
from app.recorder.reader import SessionFile, open_session
from drivers.capabilities import trigger_edges

#: read raw data in windows of this many samples
_WINDOW = 1 << 22


@dataclass
class VerifyReport:
    """Outcome of :func:`verify_session`; ``ok`` is False if there is any problem."""

    path: str
    complete: bool = False
    samples: int = 0
    blocks_checked: int = 0
    samples_checked: int = 0
    gap_samples: int = 0
    unverified_samples: int = 0
    pulses: int = 0
    trials: int = 0
    #: auxiliary channels whose every block matches its CRC-32 (format 1.2), and those
    #: a format 1.1 file has no checksums for (unchecked: a note, not a problem)
    aux_checked: list[str] = field(default_factory=list)
    aux_unchecked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        state = "complete" if self.complete else "incomplete (writer did not close it)"
        text = (f"{self.path}: {state}, {self.samples} samples, {self.blocks_checked} blocks "
                f"({self.samples_checked} samples) match their CRC-32, {self.gap_samples} "
                f"samples in logged gaps, {self.pulses} pulses, {self.trials} trials")
        if self.aux_checked:
            text += f"; aux {', '.join(self.aux_checked)} match their CRC-32"
        if self.aux_unchecked:
            text += (f"; aux {', '.join(self.aux_unchecked)} unchecked (this format has no "
                     "checksums for them)")
        if self.unverified_samples:
            text += f", {self.unverified_samples} samples at the end without a checksum yet"
        return text


def crc_pair(force: np.ndarray, flags: np.ndarray) -> tuple[int, int]:
    """The checksums the writer stores for one block (little-endian float32, uint8)."""
    return (zlib.crc32(np.ascontiguousarray(force, dtype="<f4")),
            zlib.crc32(np.ascontiguousarray(flags, dtype="u1")))


def verify_session(path: str | os.PathLike[str]) -> VerifyReport:
    """Check ``path``; raises FileFormatError only if it cannot be opened as a session."""
    with open_session(path) as sf:
        report = VerifyReport(path=str(path), complete=sf.complete)
        try:
            _check(sf, report)
        except H5_ERRORS as exc:        # damaged metadata below the root: HDF5 refuses it
            report.problems.append(f"damaged: {_one_line(exc)}")
        return report


def _check(sf: SessionFile, rep: VerifyReport) -> None:
    """Every check, in order: extent, structure, coverage, CRCs and gaps, pulses, trials."""
    n = _check_extent(sf, rep)
    rep.samples = n
    _check_structure(sf, rep)
    spans = _check_coverage(sf, rep, n)
    _check_blocks_and_gaps(sf, rep, n, spans)
    _check_aux_blocks(sf, rep, n, spans)
    _check_pulses(sf, rep, n)
    _check_trials(sf, rep)


def _report_or_note(rep: VerifyReport, complete: bool):
    """Where a finding goes: a problem in a closed file, a note in one whose writer died."""
    return rep.problems.append if complete else rep.notes.append


def _check_extent(sf: SessionFile, rep: VerifyReport) -> int:
    """The reader's warnings, and how many samples are really on disk (checked up to)."""
    f = sf.h5
    n = min(int(f[L.FORCE].shape[0]), int(f[L.FLAGS].shape[0]))
    for w in sf.warnings:
        rep.notes.append(w)
    n_disk = min(n, sf.samples_on_disk())
    if n_disk < n:
        msg = (f"samples {n_disk}..{n} are in the file's index but their data is not on disk")
        if sf.complete:
            rep.problems.append(msg + " (truncated file?)")
        else:
            rep.notes.append(msg + " (the writer stopped during a flush); checked up to sample "
                             f"{n_disk}")
        n = n_disk
    return n


def _check_structure(sf: SessionFile, rep: VerifyReport) -> None:
    """Dtypes and shapes, sample rate, attributes (app.recorder.integrity), table column
    lengths, aux channels, units, and the root counts of a closed file."""
    f, complete, problem = sf.h5, sf.complete, rep.problems.append
    n_force, n_flags = int(f[L.FORCE].shape[0]), int(f[L.FLAGS].shape[0])
    for p in dtype_problems(sf) + rate_problems(sf) + attribute_problems(sf):
        problem(p)
    for table in L.TABLES:
        cols = L.integrity_columns(f) if table == L.INTEGRITY else L.TABLES[table]
        lengths = {c.name: int(f[table][c.name].shape[0]) for c in cols}
        if len(set(lengths.values())) > 1:
            msg = f"/{table} columns differ in length: {lengths}"
            _report_or_note(rep, complete)(msg + ("" if complete else
                                                   " (rows of an interrupted flush)"))
    if n_force != n_flags:
        _report_or_note(rep, complete)(f"/force has {n_force} samples but /flags {n_flags}")
    _check_aux(sf, rep, n_force)
    datasets = [L.FORCE, L.FLAGS, L.PULSES, f"{L.PROTOCOL}/yaml", f"{L.PROTOCOL}/json"]
    datasets += [f"{t}/{c.name}" for t, cols in L.TABLES.items() for c in cols]
    datasets += [f"{L.INTEGRITY}/{c.name}" for c in L.integrity_columns(f)
                 if c not in L.TABLES[L.INTEGRITY]]
    for name in datasets:
        if "units" not in f[name].attrs:
            problem(f"/{name} has no 'units' attribute")
    if complete:
        for attr, actual in (("samples", n_force), ("pulses", int(f[L.PULSES].shape[0])),
                             ("trials", int(f[L.TRIALS]["index"].shape[0])),
                             ("gaps", int(f[L.GAPS]["sample"].shape[0]))):
            stored = int(f.attrs.get(attr, -1))
            if stored != actual:
                problem(f"root attribute {attr} = {stored} but the file holds {actual}")


def _check_aux(sf: SessionFile, rep: VerifyReport, n_force: int) -> None:
    """Format 1.1: auxiliary channels beside force are 1-D float32 of its length, with units."""
    f, problem = sf.h5, rep.problems.append
    for name in L.aux_names(f):
        ds = f[L.AUX][name]
        if ds.dtype != np.dtype("<f4") or ds.ndim != 1:
            problem(f"/{L.AUX}/{name} has dtype {ds.dtype} and {ds.ndim} dimensions; "
                    f"expected 1-D float32")
        elif int(ds.shape[0]) != n_force:
            msg = f"/{L.AUX}/{name} has {int(ds.shape[0])} samples but /force {n_force}"
            _report_or_note(rep, sf.complete)(msg)
        if "units" not in ds.attrs:
            problem(f"/{L.AUX}/{name} has no 'units' attribute")


def _check_coverage(sf: SessionFile, rep: VerifyReport, n: int
                    ) -> list[tuple[int, int, str, int]]:
    """Checksummed blocks and gaps tile [0, n) exactly; returns them as sorted
    (start, end, kind, row) spans."""
    complete, problem, note = sf.complete, rep.problems.append, rep.notes.append
    integ = sf.table(L.INTEGRITY)
    spans: list[tuple[int, int, str, int]] = []   # start, end, kind, row
    for i, (s, c) in enumerate(zip(integ["start"], integ["count"])):
        spans.append((int(s), int(s) + int(c), "block", i))
    for i, g in enumerate(sf.gaps):
        spans.append((g.sample, g.end, "gap", i))
    spans.sort()
    pos = 0
    beyond = 0
    for start, end, kind, row in spans:
        if end <= start:
            problem(f"{kind} row {row} is empty or negative ({start}..{end})")
            continue
        if start < pos:
            problem(f"{kind} row {row} (samples {start}..{end}) overlaps the previous one")
        elif start > pos:
            if start < n:
                problem(f"samples {pos}..{start} are neither checksummed nor a logged gap")
        if end > n:
            beyond += 1
            if complete:
                problem(f"{kind} row {row} (samples {start}..{end}) extends past the end of "
                        f"/force ({n})")
        pos = max(pos, end)
    if beyond and not complete:
        note(f"{beyond} checksum/gap rows refer to samples past the flushed end of /force "
             "(their data did not reach the disk before the writer stopped)")
    if pos < n:
        if complete:
            problem(f"samples {pos}..{n} at the end have no checksum")
        else:
            rep.unverified_samples = n - pos
            note(f"samples {pos}..{n} at the end have no checksum row yet (written after the "
                 "last flushed checksum)")
    return spans


def _check_blocks_and_gaps(sf: SessionFile, rep: VerifyReport, n: int,
                           spans: list[tuple[int, int, str, int]]) -> None:
    """CRCs of every block within the data match; gaps are all NaN."""
    f, problem = sf.h5, rep.problems.append
    integ = sf.table(L.INTEGRITY)
    force_ds, flags_ds = f[L.FORCE], f[L.FLAGS]
    last_block_end = max((e for s_, e, k, _ in spans if k == "block" and e <= n), default=0)
    mismatches = 0
    for start, end, kind, row in spans:
        if end > n or end <= start:
            continue
        if kind == "block":
            cf, cg = crc_pair(force_ds[start:end], flags_ds[start:end])
            if cf != int(integ["crc_force"][row]) or cg != int(integ["crc_flags"][row]):
                mismatches += 1
                which = " and ".join(w for w, bad in (
                    ("force", cf != int(integ["crc_force"][row])),
                    ("flags", cg != int(integ["crc_flags"][row]))) if bad)
                if mismatches <= 20:
                    hint = ""
                    if not sf.complete and end >= last_block_end:
                        hint = (" (last block of a file whose writer stopped: it was being "
                                "flushed; `myoforce recover` leaves it out)")
                    problem(f"CRC mismatch in {which} of block {row}, samples {start}..{end}: "
                            "raw data differs from what was written" + hint)
            else:
                rep.blocks_checked += 1
                rep.samples_checked += end - start
        else:
            rep.gap_samples += end - start
            if not all(np.isnan(force_ds[a:min(end, a + _WINDOW)]).all()
                       for a in range(start, end, _WINDOW)):
                problem(f"gap row {row} (samples {start}..{end}) holds numbers; gaps must be NaN")
    if mismatches > 20:
        problem(f"... and {mismatches - 20} more CRC mismatches")


def _check_aux_blocks(sf: SessionFile, rep: VerifyReport, n: int,
                      spans: list[tuple[int, int, str, int]]) -> None:
    """Format 1.2: every block of every auxiliary channel matches its ``crc_aux_<name>``
    and every gap is NaN there too. A 1.1 file has no such columns: its channels are
    listed as unchecked (the reader's note says so), never a problem."""
    f, complete, problem = sf.h5, sf.complete, rep.problems.append
    mismatches = 0
    last_block_end = max((e for _, e, k, _ in spans if k == "block" and e <= n), default=0)
    for name in L.aux_names(f):
        ds, crc = f[L.AUX][name], sf.aux_crc(name)
        if crc is None:
            if sf.aux_checksummed_format:
                problem(f"/{L.INTEGRITY}/{L.aux_crc_column(name).name} is missing: aux channel "
                        f"'{name}' has no checksums in a format {sf.format_version} file")
            else:
                rep.aux_unchecked.append(name)
            continue
        m = min(n, int(ds.shape[0]))       # a short channel is reported by _check_aux
        bad = 0
        for start, end, kind, row in spans:
            if end > m or end <= start:
                continue
            if kind == "gap":
                if not all(np.isnan(ds[a:min(end, a + _WINDOW)]).all()
                           for a in range(start, end, _WINDOW)):
                    bad += 1
                    problem(f"gap row {row} (samples {start}..{end}) holds numbers in aux "
                            f"channel '{name}'; gaps must be NaN")
            elif row >= crc.size:
                bad += 1
                _report_or_note(rep, complete)(
                    f"block {row} (samples {start}..{end}) has no CRC-32 for aux channel "
                    f"'{name}'" + ("" if complete else " (its row of an interrupted flush)"))
            elif crc_of(ds, start, end) != int(crc[row]):
                bad += 1
                mismatches += 1
                if mismatches <= 20:
                    hint = ""
                    if not complete and end >= last_block_end:
                        hint = (" (last block of a file whose writer stopped: it was being "
                                "flushed; `myoforce recover` leaves it out)")
                    problem(f"CRC mismatch in aux channel '{name}' of block {row}, samples "
                            f"{start}..{end}: raw data differs from what was written" + hint)
        if not bad:
            rep.aux_checked.append(name)
    if mismatches > 20:
        problem(f"... and {mismatches - 20} more CRC mismatches in auxiliary channels")


def _check_pulses(sf: SessionFile, rep: VerifyReport, n: int) -> None:
    """Pulse markers are exactly the trigger-edge flags (a dead writer's may lag a flush)."""
    f, problem = sf.h5, rep.problems.append
    flags_ds = f[L.FLAGS]
    stored = np.asarray(f[L.PULSES][()], dtype=np.int64)
    edges = []
    for a in range(0, n, _WINDOW):
        fl = flags_ds[a:min(n, a + _WINDOW)]
        edges.append(trigger_edges(fl, a))
    expected = np.concatenate(edges) if edges else np.zeros(0, np.int64)
    rep.pulses = int(expected.size)
    if sf.complete:
        if not np.array_equal(stored, expected):
            problem(f"/pulses ({stored.size} markers) differs from the trigger-edge flags "
                    f"({expected.size})")
    else:   # may lag the flags by one flush; what is there must match
        inside = stored[stored < n]
        if not np.array_equal(inside, expected[:inside.size]):
            problem("/pulses does not match the trigger-edge flags")
        elif inside.size < expected.size:
            rep.notes.append(f"{expected.size - inside.size} trigger edges in the last flushed "
                             "samples are not yet in /pulses")


def _check_trials(sf: SessionFile, rep: VerifyReport) -> None:
    """Trials are sane: windows within the data, first pulse within the window."""
    rep.trials = len(sf.table(L.TRIALS)["index"])
    for p in trial_problems(sf) + pulse_order_problems(sf):
        rep.problems.append(p)
    for row, start, stop in trials_past_end(sf):
        rep.notes.append(f"trial row {row} (samples {start}..{stop}) runs past the recorded "
                         "data: the recording stopped early; analysis refuses it")
