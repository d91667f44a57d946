"""Damaged samples are never measured: the force of a loaded recording checks its blocks.

Bytes of ``/force`` or ``/flags`` that no longer match the CRC-32 the writer stored for
their block are refused, and only what touches them: :class:`CheckedForce` checks the
blocks a read touches (each block once) and raises
:class:`~app.recorder.integrity.DamagedDataError` naming the samples and the block, so
analysis records a per-trial error, never a number. Samples outside every checksummed
block and every logged gap (the unflushed end of a crashed recording) are refused the
same way. The checks of damaged metadata are :mod:`app.recorder.integrity`.
"""
from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from app.recorder import layout as L
from app.recorder.integrity import DamagedDataError, trials_past_end
from drivers.capabilities import trigger_edges

#: samples read at a time when checking a block (bounds memory whatever the block size)
CHECK_PIECE = 1 << 20

class BlockIndex:
    """Where the checksummed blocks and logged gaps lie, and which samples neither covers."""

    def __init__(self, sf: Any, n: int, rows: int | None = None) -> None:
        """``rows``: only the first ``rows`` rows of the table count (an aux channel's CRC
        column can be shorter: a crashed file's last flush); the others' samples are then
        not covered."""
        integ = sf.table(L.INTEGRITY)
        starts = np.asarray(integ["start"], dtype=np.int64)
        ends = starts + np.asarray(integ["count"], dtype=np.int64)
        keep = (ends > starts) & (starts >= 0)
        if rows is not None:
            keep &= np.arange(keep.size) < rows
        order = np.argsort(starts[keep], kind="stable")
        self.starts = starts[keep][order]
        self.ends = ends[keep][order]
        self.crc_force = np.asarray(integ["crc_force"], dtype=np.int64)[keep][order]
        self.crc_flags = np.asarray(integ["crc_flags"], dtype=np.int64)[keep][order]
        self.rows = np.flatnonzero(keep)[order]
        self.state = np.zeros(self.starts.size, np.int8)     # 0 unchecked, 1 ok, 2 damaged
        gaps = sorted((g.sample, g.end) for g in sf.gaps if g.count > 0)
        self.gap_starts = np.array([a for a, _ in gaps], dtype=np.int64)
        self.gap_ends = np.array([b for _, b in gaps], dtype=np.int64)
        self.gap_state = np.zeros(len(gaps), np.int8)        # 0 unchecked, 1 NaN, 2 numbers
        uncovered = _uncovered(n, [(int(a), int(b)) for a, b in zip(self.starts, self.ends)]
                               + gaps)
        self.uncovered_starts = np.array([a for a, _ in uncovered], dtype=np.int64)
        self.uncovered_ends = np.array([b for _, b in uncovered], dtype=np.int64)

    def touching(self, start: int, stop: int) -> np.ndarray:
        """Indices of the blocks that overlap ``[start, stop)`` (blocks may overlap in a
        damaged table: every overlapping one is found)."""
        return np.flatnonzero((self.starts < stop) & (self.ends > start))

    def gaps_touching(self, start: int, stop: int) -> np.ndarray:
        return np.flatnonzero((self.gap_starts < stop) & (self.gap_ends > start))

    def first_uncovered(self, start: int, stop: int) -> tuple[int, int] | None:
        hit = np.flatnonzero((self.uncovered_starts < stop) & (self.uncovered_ends > start))
        if not hit.size:
            return None
        k = int(hit[0])
        return max(int(self.uncovered_starts[k]), start), min(int(self.uncovered_ends[k]), stop)


def _uncovered(n: int, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Runs of ``[0, n)`` outside every span (spans may overlap: then both are checked)."""
    out, pos = [], 0
    for a, b in sorted(spans):
        if a > pos:
            out.append((pos, min(a, n)))
        pos = max(pos, b)
        if pos >= n:
            break
    if pos < n:
        out.append((pos, n))
    return [(a, b) for a, b in out if b > a]


class CheckedSamples:
    """Samples of one dataset of a session file, refusing reads of damaged ones.

    Slices like the h5py dataset or array it wraps (``shape``, ``dtype``, ``len``,
    ``[a:b]``, ``np.asarray``). Before returning samples it checks every block the read
    touches, once per block (:meth:`_block_ok`, which subclasses define), and that logged
    gaps read as NaN. :class:`CheckedForce` is the force;
    :class:`~app.recorder.aux_integrity.CheckedAux` an auxiliary channel."""

    #: what the samples are, in messages ("" for force; "aux channel 'emg': ")
    label = ""

    def __init__(self, sf: Any, dataset: Any, data: Any | None, rows: int | None = None
                 ) -> None:
        self.path = sf.path
        self.n = int(sf.samples)
        self.source = data if data is not None else dataset
        self._gap_ds = dataset          # where gaps must read NaN (None once checked)
        self.index = BlockIndex(sf, self.n, rows)
        #: windows of trials cut off by the end of a recording that stopped early
        self.cut_off: list[tuple[int, int, int]] = []
        self.shape = (self.n,)
        self.dtype = np.dtype(np.float32)
        self.ndim = 1

    @property
    def size(self) -> int:
        return self.n

    @property
    def file(self) -> Any:
        """The open ``h5py.File`` a lazy force reads from (``None`` once loaded into
        memory): closing it releases the session file, as with an h5py dataset."""
        return getattr(self.source, "file", None)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key: Any) -> Any:
        start, stop = _bounds(key, self.n)
        self.check(start, stop)
        return self.source[key]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        self.check(0, self.n)
        return np.asarray(self.source[:self.n], dtype=dtype or np.float32)

    def masked(self, start: int, stop: int) -> np.ndarray:
        """Samples ``[start, stop)`` for drawing, never for measuring: whatever a checked
        read would refuse (damaged blocks, samples without a checksum, numbers in a gap,
        trials cut off by an early stop) comes back as NaN, drawn as a gap."""
        start, stop = max(0, int(start)), min(self.n, int(stop))
        out = np.full(max(0, stop - start), np.nan, dtype=np.float32)
        if stop > start:
            got = np.asarray(self.source[start:stop], dtype=np.float32)
            out[:got.size] = got
        for a, b in self._refused_spans(start, stop):
            out[max(a, start) - start:min(b, stop) - start] = np.nan
        return out

    def _refused_spans(self, start: int, stop: int) -> list[tuple[int, int]]:
        """The spans inside ``[start, stop)`` that :meth:`check` would refuse."""
        idx = self.index
        spans = [(a, min(b, self.n)) for _, a, b in self.cut_off]
        hit = np.flatnonzero((idx.uncovered_starts < stop) & (idx.uncovered_ends > start))
        spans += [(int(idx.uncovered_starts[k]), int(idx.uncovered_ends[k])) for k in hit]
        spans += [(int(idx.starts[k]), int(idx.ends[k])) for k in idx.touching(start, stop)
                  if not _known_ok(idx.state, k, self._block_ok)]
        spans += [(int(idx.gap_starts[g]), int(idx.gap_ends[g]))
                  for g in idx.gaps_touching(start, stop)
                  if not _known_ok(idx.gap_state, g, self._gap_ok)]
        return spans

    def check_all_now(self) -> None:
        """Check every block now and drop the file's datasets (before the file closes):
        later reads of damaged or unchecked samples are refused from what was found."""
        idx = self.index
        for k in range(idx.starts.size):
            _known_ok(idx.state, k, self._block_ok)
        for g in range(idx.gap_state.size):
            _known_ok(idx.gap_state, g, self._gap_ok)
        self._release()

    def _release(self) -> None:
        self._gap_ds = None

    def check(self, start: int, stop: int) -> None:
        """Raise DamagedDataError unless samples ``[start, stop)`` are all intact."""
        if stop <= start:
            return
        for row, a, b in self.cut_off:
            if a < stop and start < min(b, self.n):
                raise DamagedDataError(
                    f"{self.path}: samples {a}..{b} are trial row {row}'s window, which runs "
                    f"past the end of the recorded data ({self.n}: the recording stopped "
                    "early): not measured")
        idx, what = self.index, f"{self.path}: {self.label}samples"
        hole = idx.first_uncovered(start, stop)
        if hole is not None:
            raise DamagedDataError(
                f"{what} {hole[0]}..{hole[1]} have no checksum (written after "
                "the last flushed checksum of an interrupted recording, or the checksum "
                "table is damaged): not measured; 'myoforce recover' makes a verified copy")
        for k in idx.touching(start, stop):
            if not _known_ok(idx.state, k, self._block_ok):
                raise DamagedDataError(
                    f"{what} {int(idx.starts[k])}..{int(idx.ends[k])} "
                    f"(block {int(idx.rows[k])}) fail their CRC-32 check: damaged data, "
                    "not measured")
        for g in idx.gaps_touching(start, stop):
            if not _known_ok(idx.gap_state, g, self._gap_ok):
                raise DamagedDataError(
                    f"{self.path}: {self.label}logged gap {int(idx.gap_starts[g])}.."
                    f"{int(idx.gap_ends[g])} holds numbers (gaps are NaN): damaged, not measured")

    def _gap_ok(self, g: int) -> bool:
        """A logged gap reads as NaN throughout (checked in windows: gaps can be long)."""
        a, b = int(self.index.gap_starts[g]), min(int(self.index.gap_ends[g]), self.n)
        step = 1 << 22
        return all(np.isnan(np.asarray(self._gap_ds[x:min(b, x + step)])).all()
                   for x in range(a, b, step))

    def _block_ok(self, k: int) -> bool:
        raise NotImplementedError


class CheckedForce(CheckedSamples):
    """The force (mN) of a session file, refusing reads of damaged samples: each block's
    CRC-32 of force and flags, and that its pulse markers are exactly its trigger-edge
    flags; trials cut off by a recording that stopped early are refused too."""

    def __init__(self, sf: Any, data: Any | None = None) -> None:
        super().__init__(sf, sf.h5[L.FORCE], data)
        self._force_ds = sf.h5[L.FORCE]
        self._flags_ds = sf.h5[L.FLAGS]
        self._pulses = np.asarray(sf.h5[L.PULSES][()], dtype=np.int64)
        self.cut_off = [(row, a, b) for row, a, b in trials_past_end(sf)]

    def _release(self) -> None:
        self._gap_ds = self._force_ds = self._flags_ds = None

    def _block_ok(self, k: int) -> bool:
        idx = self.index
        a, b = int(idx.starts[k]), int(idx.ends[k])
        if b > self.n:
            return False
        # a block is one writer batch: from a flat-out producer or a recovered copy it can
        # be the whole recording, so it is read (and its CRC-32 run on) a piece at a time
        crc_force = crc_flags = 0
        edges = []
        for lo in range(a, b, CHECK_PIECE):
            hi = min(b, lo + CHECK_PIECE)
            force = np.ascontiguousarray(self._force_ds[lo:hi], dtype="<f4")
            flags = np.ascontiguousarray(self._flags_ds[lo:hi], dtype="u1")
            crc_force, crc_flags = zlib.crc32(force, crc_force), zlib.crc32(flags, crc_flags)
            edges.append(trigger_edges(flags, lo))
        if crc_force != idx.crc_force[k] or crc_flags != idx.crc_flags[k]:
            return False
        edges = np.concatenate(edges) if edges else np.zeros(0, np.int64)
        i0, i1 = np.searchsorted(self._pulses, [a, b])
        return bool(np.array_equal(self._pulses[i0:i1], edges))


def _known_ok(state: np.ndarray, k: int, test: Any) -> bool:
    """``state[k]`` (0 unchecked, 1 intact, 2 damaged), running ``test(k)`` the first time."""
    if state[k] == 0:
        state[k] = 1 if test(k) else 2
    return bool(state[k] == 1)


def _bounds(key: Any, n: int) -> tuple[int, int]:
    """The sample range ``[start, stop)`` a numpy-style 1-D index reads."""
    if isinstance(key, tuple):
        if len(key) != 1:
            raise IndexError("force is 1-D")
        key = key[0]
    if isinstance(key, slice):
        start, stop, step = key.indices(n)
        if step < 0:
            start, stop = stop + 1, start + 1
        return start, max(start, stop)
    if isinstance(key, (int, np.integer)):
        i = int(key) + (n if key < 0 else 0)
        return i, i + 1
    if key is Ellipsis:
        return 0, n
    arr = np.asarray(key)
    if arr.dtype == bool:
        arr = np.flatnonzero(arr)
    if arr.size == 0:
        return 0, 0
    arr = np.where(arr < 0, arr + n, arr)
    return int(arr.min()), int(arr.max()) + 1


__all__ = ["CheckedSamples", "CheckedForce", "BlockIndex", "CHECK_PIECE"]
