"""Recovering a crashed session: its flushed content copied into a clean, closed file.

A file whose writer died still opens as an HDF5 SWMR reader, but most tools (h5dump,
HDFView, MATLAB) refuse it because its superblock still says "open for SWMR writing".
``h5clear`` would clear that flag in place, and has been seen to truncate a crashed
recording; so this module never modifies the input: it reads it as a SWMR reader and
writes a new file, through a temporary name so a half-written output never appears.

What is copied: the samples present in both ``/force`` and ``/flags``; every table
row present in all of its columns; checksum rows whose data is present. Samples
written after the last flushed checksum get a fresh checksum (noted in the audit
log); trailing samples that are NaN with no gap row are space the writer had
reserved but not yet filled, and are dropped. Pulse markers are recomputed from the
flags. The output is ``complete=1``, ``status='recovered'``, with ``recovered_from``.

Auxiliary channels (``/aux``) are copied with their checksums (format 1.2): each
block's ``crc_aux_<name>`` as stored, fresh ones (noted) where the crash left none. A
1.1 source has no checksums for them: the copy stays a 1.1 file whose auxiliary
channels are unchecked, rather than certifying samples nobody checked.
"""
from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from app.errors import FileFormatError, UserError
from app.paths import check_output_file, same_file
from app.recorder import layout as L
from app.recorder.aux_integrity import crc_of, unchecked_aux_note, unchecked_channels
from app.recorder.h5open import H5_ERRORS, _one_line
from app.recorder.reader import open_session
from app.recorder.verify import crc_pair
from app.recorder.writer import RecordingExistsError
from drivers.capabilities import trigger_edges

_WINDOW = 1 << 22
CAUSE_UNKNOWN = "unknown-recovered"
#: a checksummed block: start, end, crc_force, crc_flags, one CRC per aux channel
Block = tuple[int, int, int, int, tuple[int, ...]]


@dataclass
class RecoveryReport:
    """What :func:`recover_session` did."""

    source: str
    output: str
    source_complete: bool
    samples: int = 0
    dropped_tail_samples: int = 0
    blocks: int = 0
    rechecksummed_samples: int = 0
    crc_mismatches: int = 0
    aux_crc_mismatches: int = 0
    pulses: int = 0
    trials: int = 0
    gaps: int = 0
    audit_entries: int = 0
    notes: list[str] = field(default_factory=list)


def _runs(mask: np.ndarray) -> list[tuple[int, int, bool]]:
    """Runs of equal values in a boolean array: (start, end, value)."""
    if mask.size == 0:
        return []
    edges = np.flatnonzero(np.diff(mask.astype(np.int8))) + 1
    bounds = np.concatenate(([0], edges, [mask.size]))
    return [(int(a), int(b), bool(mask[a])) for a, b in zip(bounds[:-1], bounds[1:])]


def recover_session(source: str | os.PathLike[str], output: str | os.PathLike[str], *,
                    overwrite: bool = False) -> RecoveryReport:
    """Copy the readable content of ``source`` into a new, closed, complete ``output``."""
    src, dst = Path(source), Path(output)
    if same_file(src, dst):
        raise UserError(f"{dst}: the output must be a new file, not the input")
    check_output_file(output, what="recovered file")
    if dst.exists() and not overwrite:
        raise RecordingExistsError(f"{dst}: file exists; refusing to overwrite it "
                                   "(pass --overwrite)")
    tmp = dst.with_name(f".{dst.name}.recovering-{os.getpid()}")
    with open_session(src) as sf:
        rep = RecoveryReport(str(src), str(dst), sf.complete)
        try:
            try:
                out = h5py.File(tmp, "w", libver=L.LIBVER)
            except OSError as exc:
                raise UserError(f"{dst}: cannot write "
                                f"({os.strerror(exc.errno) if exc.errno else _one_line(exc)})"
                                ) from None
            with out:
                _copy(sf, out, rep)
            os.replace(tmp, dst)
        except H5_ERRORS as exc:      # damaged metadata below the root, or the output failed
            tmp.unlink(missing_ok=True)
            raise FileFormatError(f"{src}: cannot recover into {dst}: "
                                  f"{_one_line(exc)}") from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return rep


def _copy_aux(f: h5py.File, out: h5py.File, n: int) -> None:
    """Auxiliary channels (format 1.1) to the same length as /force; samples a channel
    did not reach before the crash stay NaN (the fill value)."""
    for name in L.aux_names(f):
        src, dst = f[L.AUX][name], out[L.AUX][name]
        dst.resize((n,))
        have = min(n, int(src.shape[0]))
        for a in range(0, have, _WINDOW):
            b = min(have, a + _WINDOW)
            dst[a:b] = src[a:b]


def _aux_sources(sf) -> list[tuple[str, h5py.Dataset, np.ndarray]]:
    """``(name, dataset, stored CRCs)`` of the auxiliary channels whose checksums are
    carried over; [] for a 1.1 source (its channels are copied unchecked). A 1.2 source
    missing a column gets one computed at recovery (an empty stored column)."""
    if unchecked_channels(sf):
        return []
    out = []
    for name in L.aux_names(sf.h5):
        crc = sf.aux_crc(name)
        out.append((name, sf.h5[L.AUX][name], crc if crc is not None else np.zeros(0, np.int64)))
    return out


def _aux_crc(ds: h5py.Dataset, a: int, b: int) -> int:
    """CRC-32 of what the copy holds at ``[a, b)`` of an aux channel: its samples, NaN
    past the end of a channel the crash left short (the fill value)."""
    have = min(b, int(ds.shape[0]))
    if have >= b:
        return crc_of(ds, a, b)
    data = np.full(b - a, np.nan, dtype="<f4")
    if have > a:
        data[:have - a] = ds[a:have]
    return zlib.crc32(data)


def _copy(sf, out: h5py.File, rep: RecoveryReport) -> None:
    """Copy what was recorded into ``out``: checked blocks, gaps, raw data, tables, a
    recovery audit entry and the root attributes of a finished file."""
    aux = _aux_sources(sf)
    L.create_layout(out, sample_rate_hz=sf.sample_rate_hz, calibration=sf.calibration,
                    metadata=sf.metadata, rig=sf.rig, devices=sf.devices,
                    protocol_text=sf.protocol_text, protocol=sf.protocol,
                    software_version=sf.software_version, start_time_utc=sf.start_time_utc,
                    flush_interval_s=sf.flush_interval_s, aux=sf.aux_channels,
                    aux_checksums=bool(aux) or not sf.aux_channels)
    if sf.aux_channels and not aux:
        rep.notes.append(unchecked_aux_note(sf) + "; copied as they are (the copy stays "
                         f"format {out.attrs['format_version']})")
    n = _samples_on_disk(sf, rep)
    blocks, n = _checked_blocks(sf, rep, n, aux)
    gaps = [(g.sample, min(g.end, n), g.cause) for g in sf.gaps if g.sample < n]
    new_blocks, n = _checksum_holes(sf, rep, blocks, gaps, n, aux)
    blocks = [b for b in blocks if b[1] <= n]
    gaps = sorted((a, min(b, n), c) for a, b, c in gaps if a < n)
    pulse_arr = _copy_raw(sf.h5, out, n)
    all_blocks = sorted(blocks + new_blocks)
    tables = _tables(sf, rep, gaps, all_blocks, n, [name for name, _, _ in aux])
    _write_tables(out, tables)
    _finish_attributes(sf, out, rep, n, gaps, pulse_arr.size, tables)
    rep.samples = n
    rep.blocks = len(all_blocks)
    rep.pulses = int(pulse_arr.size)
    rep.trials = len(tables[L.TRIALS]["index"])
    rep.gaps = len(gaps)
    rep.audit_entries = len(tables[L.AUDIT]["kind"])


def _samples_on_disk(sf, rep: RecoveryReport) -> int:
    """Samples of /force and /flags whose data reached the disk."""
    f = sf.h5
    n = min(int(f[L.FORCE].shape[0]), int(f[L.FLAGS].shape[0]))
    on_disk = sf.samples_on_disk()
    if on_disk < n:
        rep.notes.append(f"samples {on_disk}..{n} were indexed but never reached the disk "
                         "(writer stopped during a flush): not copied")
        rep.dropped_tail_samples += n - on_disk
        n = on_disk
    return n


def _checked_blocks(sf, rep: RecoveryReport, n: int,
                    aux: list[tuple[str, h5py.Dataset, np.ndarray]]) -> tuple[list[Block], int]:
    """Checksummed blocks within the data, each checked (force, flags and every aux
    channel); a dead writer's trailing blocks that do not match are left out (and ``n``
    with them). A block whose aux CRC row the crash cut off gets a fresh one (noted)."""
    force_in, flags_in = sf.h5[L.FORCE], sf.h5[L.FLAGS]
    integ = sf.table(L.INTEGRITY)
    blocks, fresh, aux_bad = [], 0, set()
    for row, (s, c, cf, cg) in enumerate(zip(integ["start"], integ["count"],
                                             integ["crc_force"], integ["crc_flags"])):
        a, b = int(s), int(s) + int(c)
        if b > n:
            continue
        crcs = []
        for _, ds, stored in aux:
            crc = _aux_crc(ds, a, b)
            if row >= stored.size:
                fresh += 1
            elif crc != int(stored[row]):
                aux_bad.add((a, b))
                crc = int(stored[row])          # kept as stored: verify lists the mismatch
            crcs.append(crc)
        blocks.append((a, b, int(cf), int(cg), tuple(crcs)))
    blocks.sort()
    bad = {i for i, (a, b, cf, cg, _) in enumerate(blocks)
           if crc_pair(force_in[a:b], flags_in[a:b]) != (cf, cg) or (a, b) in aux_bad}
    if fresh:
        rep.notes.append(f"{fresh} aux checksums of blocks whose row the crash cut off were "
                         "computed at recovery")
    if not sf.complete:
        # the last blocks of a file whose writes failed can be indexed without their data
        # having reached the disk: they are not what was recorded, so they are left out
        while blocks and len(blocks) - 1 in bad:
            a, b, *_ = blocks.pop()
            bad.discard(len(blocks))
            rep.notes.append(f"samples {a}..{n} left out: their block does not match its "
                             "checksum (the writer stopped while flushing it)")
            rep.dropped_tail_samples += n - a
            n = a
    rep.crc_mismatches = len(bad)
    rep.aux_crc_mismatches = sum((a, b) in aux_bad for a, b, *_ in blocks)
    if bad:
        rep.notes.append(f"{len(bad)} blocks do not match their checksum; copied as they are "
                         "(verify will list them)")
    return blocks, n


def _holes(blocks: list[Block], gaps: list[tuple[int, int, str]],
           n: int) -> list[tuple[int, int]]:
    """Regions of [0, n) with neither a checksum nor a gap row."""
    covered = sorted([(a, b) for a, b, *_ in blocks] + [(a, b) for a, b, _ in gaps])
    holes, pos = [], 0
    for a, b in covered:
        if a > pos:
            holes.append((pos, a))
        pos = max(pos, b)
    if pos < n:
        holes.append((pos, n))
    return holes


def _checksum_holes(sf, rep: RecoveryReport, blocks: list[Block],
                    gaps: list[tuple[int, int, str]], n: int,
                    aux: list[tuple[str, h5py.Dataset, np.ndarray]]
                    ) -> tuple[list[Block], int]:
    """New checksum rows for data written without one, NaN runs there logged as gaps
    (appended to ``gaps``), trailing reserved NaN dropped; returns (new blocks, n)."""
    force_in, flags_in = sf.h5[L.FORCE], sf.h5[L.FLAGS]
    new_blocks: list[Block] = []
    for a, b in _holes(blocks, gaps, n):
        fo = np.asarray(force_in[a:b], dtype="<f4")
        if b == n:          # trailing: NaN here is reserved space, not a logged gap
            real = np.flatnonzero(~np.isnan(fo))
            keep = int(real[-1]) + 1 if real.size else 0
            if keep < fo.size:
                rep.dropped_tail_samples += fo.size - keep
                rep.notes.append(f"dropped {fo.size - keep} trailing samples {a + keep}..{b}: "
                                 "NaN with no gap row (space reserved, never written)")
            n = a + keep
            b = n
            fo = fo[:keep]
        fl = np.asarray(flags_in[a:b], dtype="u1")
        for ra, rb, is_nan in _runs(np.isnan(fo)):
            if is_nan:
                gaps.append((a + ra, a + rb, CAUSE_UNKNOWN))
                rep.notes.append(f"samples {a + ra}..{a + rb} are NaN without a gap row: "
                                 f"logged as gap '{CAUSE_UNKNOWN}'")
            else:
                cf, cg = crc_pair(fo[ra:rb], fl[ra:rb])
                crcs = tuple(_aux_crc(ds, a + ra, a + rb) for _, ds, _ in aux)
                new_blocks.append((a + ra, a + rb, cf, cg, crcs))
                rep.rechecksummed_samples += rb - ra
    if rep.rechecksummed_samples:
        rep.notes.append(f"{rep.rechecksummed_samples} samples written before the crash had no "
                         "checksum row; checksums were computed at recovery")
    return new_blocks, n


def _copy_raw(f: h5py.File, out: h5py.File, n: int) -> np.ndarray:
    """Raw data, window by window, and aux; pulses recomputed from the flags (returned)."""
    force_in, flags_in = f[L.FORCE], f[L.FLAGS]
    out_force, out_flags = out[L.FORCE], out[L.FLAGS]
    out_force.resize((n,))
    out_flags.resize((n,))
    pulses = []
    for a in range(0, n, _WINDOW):
        b = min(n, a + _WINDOW)
        out_force[a:b] = force_in[a:b]
        fl = flags_in[a:b]
        out_flags[a:b] = fl
        pulses.append(trigger_edges(fl, a))
    _copy_aux(f, out, n)
    pulse_arr = np.concatenate(pulses) if pulses else np.zeros(0, np.int64)
    out[L.PULSES].resize((pulse_arr.size,))
    out[L.PULSES][:] = pulse_arr
    return pulse_arr


def _tables(sf, rep: RecoveryReport, gaps: list[tuple[int, int, str]],
            all_blocks: list[Block], n: int, aux_names: list[str]) -> dict[str, dict]:
    """The recovered file's tables: trials and analysis as they were, gaps and checksums
    as established, the audit log with one 'recovery' entry saying what was done."""
    tables = {name: sf.table(name) for name in (L.TRIALS, L.AUDIT, L.ANALYSIS)}
    tables[L.GAPS] = {"sample": np.array([g[0] for g in gaps], np.int64),
                      "count": np.array([g[1] - g[0] for g in gaps], np.int64),
                      "cause": np.array([g[2] for g in gaps], dtype=object)}
    tables[L.INTEGRITY] = {"start": np.array([x[0] for x in all_blocks], np.int64),
                           "count": np.array([x[1] - x[0] for x in all_blocks], np.int64),
                           "crc_force": np.array([x[2] for x in all_blocks], np.uint32),
                           "crc_flags": np.array([x[3] for x in all_blocks], np.uint32)}
    for i, name in enumerate(aux_names):
        tables[L.INTEGRITY][L.aux_crc_column(name).name] = np.array(
            [x[4][i] for x in all_blocks], np.uint32)
    message = (f"recovered from {Path(rep.source).resolve()} "
               f"({'complete' if sf.complete else 'writer did not close it'}, status "
               f"{sf.status!r}): {n} samples kept")
    if rep.notes:
        message += "; " + "; ".join(rep.notes)
    audit = tables[L.AUDIT]
    extra = {"time_utc": L.utc_now_iso(), "sample": n, "kind": "recovery", "message": message,
             "fields": L.to_json({"source": str(Path(rep.source).resolve()),
                                  "source_status": sf.status, "samples": n,
                                  "dropped_tail_samples": rep.dropped_tail_samples,
                                  "rechecksummed_samples": rep.rechecksummed_samples,
                                  "crc_mismatches": rep.crc_mismatches,
                                  "aux_crc_mismatches": rep.aux_crc_mismatches})}
    tables[L.AUDIT] = {k: np.append(v, np.array([extra[k]], dtype=v.dtype))
                       for k, v in audit.items()}
    return tables


def _write_tables(out: h5py.File, tables: dict[str, dict]) -> None:
    for name, cols in tables.items():
        group = out[name]
        for col in (L.integrity_columns(out) if name == L.INTEGRITY else L.TABLES[name]):
            values = cols[col.name]
            ds = group[col.name]
            ds.resize((len(values),))
            if len(values):
                ds[:] = np.asarray(values, dtype=object if col.is_text else col.dtype)


def _finish_attributes(sf, out: h5py.File, rep: RecoveryReport, n: int,
                       gaps: list[tuple[int, int, str]], pulses: int,
                       tables: dict[str, dict]) -> None:
    """Root attributes of a finished file, marked as recovered from the source."""
    a = out.attrs
    a["recovered_from"] = str(Path(rep.source).resolve())
    a.modify("status", np.asarray(L.STATUS_RECOVERED.encode(), dtype=L.STATUS_DTYPE))
    end = sf.end_time_utc or ""
    a.modify("end_time_utc", np.asarray(end.encode(), dtype=L.TIME_DTYPE))
    lost = int(sf.h5.attrs.get("lost_samples", -1))
    if lost < 0:
        lost = int(sum(g[1] - g[0] for g in gaps if g[2] == L.CAUSE_QUEUE_FULL))
    for name, value in (("samples", n), ("lost_samples", lost), ("pulses", pulses),
                        ("trials", len(tables[L.TRIALS]["index"])), ("gaps", len(gaps)),
                        ("audit_entries", len(tables[L.AUDIT]["kind"]))):
        a.modify(name, np.int64(value))
    a.modify("complete", np.uint8(1))


__all__ = ["recover_session", "RecoveryReport"]
