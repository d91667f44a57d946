"""The force amplifier's binary sample frames: encoder and stream parser (pure, no I/O).

Frame layout and receiver rules are section 2.2 of docs/wire-protocols.md. At 100 kHz the
stream is 1.2 MB/s, so everything here works on whole buffers with numpy: sync candidates
are found with one vectorized comparison, CRCs are checked for all candidates at once, and
accepted frames are read through a structured dtype. Python only loops over *runs* of
good frames (one run per chunk on a clean stream, a few more per resync), never per frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from drivers.capabilities import FLAG_END_OF_STREAM

FRAME_SIZE = 12
SYNC = b"\xa5\x5a"
FULL_SCALE_COUNTS = 8388607

#: A CRC-valid frame is believed only if its seq is 1 .. this many ahead of the last one
#: (about 10 s at 100 kHz); anything else is bytes inside real frames that happen to look
#: like a frame (a false sync). See docs/wire-protocols.md, receiver rule 2.
MAX_PLAUSIBLE_GAP = 1 << 20
#: ... unless it starts this many CRC-valid frames with consecutive seq: then the device's
#: numbering really jumped and the receiver re-locks onto it.
RELOCK_FRAMES = 3

#: One frame as numpy sees it (packed, little-endian, 12 bytes).
FRAME_DTYPE = np.dtype([("sync", "<u2"), ("seq", "<u4"), ("counts", "<i4"),
                        ("flags", "u1"), ("crc", "u1")])
assert FRAME_DTYPE.itemsize == FRAME_SIZE
_SYNC_WORD = 0x5AA5  # b"\xa5\x5a" read as little-endian uint16
_U32 = 0xFFFFFFFF


def _crc8_table() -> np.ndarray:
    table = []
    for byte in range(256):
        c = byte
        for _ in range(8):
            c = ((c << 1) ^ 0x07) & 0xFF if c & 0x80 else (c << 1) & 0xFF
        table.append(c)
    return np.array(table, dtype=np.uint8)


#: CRC-8/SMBUS (poly 0x07, init 0, no reflection, no final XOR) lookup table.
CRC8_TABLE = _crc8_table()
_CRC8_LIST = CRC8_TABLE.tolist()


def crc8(data: bytes) -> int:
    """CRC-8/SMBUS of ``data`` (scalar reference implementation; check value 0xF4)."""
    crc = 0
    for byte in bytes(data):
        crc = _CRC8_LIST[crc ^ byte]
    return crc


def crc8_rows(rows: np.ndarray) -> np.ndarray:
    """CRC-8/SMBUS of every row of a 2-D uint8 array, vectorized over rows.

    Loops over the (few) columns, never over rows: one table lookup per byte position."""
    rows = np.asarray(rows, dtype=np.uint8)
    crc = np.zeros(rows.shape[0], dtype=np.uint8)
    for j in range(rows.shape[1]):
        crc = CRC8_TABLE[crc ^ rows[:, j]]
    return crc


def _pair_tables() -> tuple[list[np.ndarray], np.ndarray]:
    """Tables for :func:`crc8_frames`. CRC-8/SMBUS is linear (init 0, no final XOR), so the
    CRC of bytes 2-10 is the XOR of the CRCs of each byte pair alone at its position."""
    values = np.arange(65536)
    pairs = []
    for k in range(4):  # frame bytes (2,3), (4,5), (6,7), (8,9)
        msg = np.zeros((65536, 9), dtype=np.uint8)
        msg[:, 2 * k] = values & 0xFF
        msg[:, 2 * k + 1] = values >> 8
        pairs.append(crc8_rows(msg))
    last = np.zeros((256, 9), dtype=np.uint8)
    last[:, 8] = np.arange(256)  # frame byte 10 (flags)
    return pairs, crc8_rows(last)


_PAIR_TABLES, _LAST_TABLE = _pair_tables()


def crc8_frames(frames: np.ndarray) -> np.ndarray:
    """The CRC each frame should carry: CRC-8 over bytes 2-10 of every row of a contiguous
    ``(m, 12)`` uint8 array. Same result as ``crc8_rows(frames[:, 2:11])``, about twice as
    fast: 5 lookups per frame (16-bit byte pairs) instead of 9."""
    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    words = frames.view("<u2")
    t = _PAIR_TABLES
    return (t[0][words[:, 1]] ^ t[1][words[:, 2]] ^ t[2][words[:, 3]] ^ t[3][words[:, 4]]
            ^ _LAST_TABLE[frames[:, 10]])


def encode_frames(seq0: int, counts: np.ndarray, flags: np.ndarray) -> bytes:
    """Frames for consecutive samples whose first has sequence number ``seq0`` (wraps at 2^32).

    ``counts`` must fit int32 and ``flags`` uint8; a ``ValueError`` says which does not."""
    counts = np.asarray(counts)
    flags = np.asarray(flags)
    if counts.ndim != 1 or flags.shape != counts.shape:
        raise ValueError(f"counts and flags must be 1-D of equal length, got shapes "
                         f"{counts.shape} and {flags.shape}")
    n = counts.shape[0]
    if n and (counts.min() < -2**31 or counts.max() > 2**31 - 1):
        raise ValueError("counts must fit in int32")
    if n and (flags.min() < 0 or flags.max() > 255):
        raise ValueError("flags must fit in uint8")
    frames = np.empty(n, dtype=FRAME_DTYPE)
    frames["sync"] = _SYNC_WORD
    frames["seq"] = ((np.arange(n, dtype=np.uint64) + np.uint64(int(seq0) & _U32))
                     & np.uint64(_U32)).astype(np.uint32)
    frames["counts"] = counts.astype(np.int32)
    frames["flags"] = flags.astype(np.uint8)
    raw = frames.view(np.uint8).reshape(n, FRAME_SIZE)
    frames["crc"] = crc8_frames(raw)
    return frames.tobytes()


def encode_end_of_stream(seq: int) -> bytes:
    """The end-of-stream frame: ``seq`` is the index the next sample would have had."""
    return encode_frames(seq, np.zeros(1, np.int32), np.array([FLAG_END_OF_STREAM], np.uint8))


@dataclass(frozen=True, eq=False)
class Run:
    """Consecutive samples: ``counts[k]`` has stream index ``first + k``; never spans a gap."""

    first: int
    counts: np.ndarray  # int32
    flags: np.ndarray   # uint8

    def __len__(self) -> int:
        return int(self.counts.shape[0])

    @property
    def end(self) -> int:
        """Stream index one past the last sample."""
        return self.first + len(self)


@dataclass(frozen=True)
class Gap:
    """``lost`` samples are missing just before stream index ``at``."""

    at: int
    lost: int


@dataclass(frozen=True, eq=False)
class ParseResult:
    """What one :meth:`FrameParser.feed` found. Counters are for this call only."""

    runs: list[Run] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    checksum_errors: int = 0   # sync found but CRC wrong
    bytes_discarded: int = 0   # bytes skipped while searching for a frame
    resyncs: int = 0           # times frame sync was lost (each followed by a search)
    false_syncs: int = 0       # CRC-valid frames rejected for an implausible seq
    end_of_stream: bool = False
    end_index: int | None = None  # index carried by the end-of-stream frame = samples sent
    trailing: bytes = b""      # bytes after the end-of-stream frame (command-mode replies)

    @property
    def samples(self) -> int:
        return sum(len(r) for r in self.runs)


def _valid_frames(buf: bytes, st: "_FeedState") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every sync in ``buf`` whose frame passes its CRC, all at once: (their byte
    positions, the frames, the rows where a run breaks). A "run" is physically adjacent
    valid frames with consecutive seq and no end-of-stream; failed CRCs go to ``st``."""
    arr = np.frombuffer(buf, dtype=np.uint8)
    last_start = len(buf) - FRAME_SIZE
    cand = np.flatnonzero((arr[:last_start + 1] == 0xA5) & (arr[1:last_start + 2] == 0x5A))
    rows = sliding_window_view(arr, FRAME_SIZE)[cand]
    ok = crc8_frames(rows) == rows[:, 11]
    valid_pos = cand[ok]
    st.bad_pos = cand[~ok]
    frames = np.ascontiguousarray(rows[ok]).view(FRAME_DTYPE).reshape(-1)
    seq = frames["seq"]
    eos = (frames["flags"] & FLAG_END_OF_STREAM) != 0
    cont = ((np.diff(valid_pos) == FRAME_SIZE) & ((seq[1:] - seq[:-1]) == 1)
            & ~eos[1:] & ~eos[:-1])
    return valid_pos, frames, np.flatnonzero(~cont)


class FrameParser:
    """Stateful receiver for the frame stream: feed it chunks as they arrive, in any split.

    Keeps partial frames between calls, unwraps the 32-bit seq to stream indices
    (int), splits output at gaps and stops at the end-of-stream frame. ``first_seq`` is
    the seq the stream starts with (0 after START); it becomes stream index ``first_seq``.
    """

    def __init__(self, first_seq: int = 0) -> None:
        self._pending = b""
        self._last_index = int(first_seq) - 1
        self._last_seq = (int(first_seq) - 1) & _U32
        self._in_sync = True
        self.ended = False
        # running totals over the parser's life
        self.samples = 0
        self.gaps = 0
        self.lost_samples = 0
        self.checksum_errors = 0
        self.bytes_discarded = 0
        self.resyncs = 0
        self.false_syncs = 0

    @property
    def next_index(self) -> int:
        """Stream index the next sample is expected to have."""
        return self._last_index + 1

    @property
    def pending_bytes(self) -> int:
        """Bytes held back because they may be the start of a frame."""
        return len(self._pending)

    def feed(self, data: bytes) -> ParseResult:
        """Parse ``data`` appended to whatever was left over from the previous call."""
        if self.ended:
            return ParseResult(trailing=bytes(data))
        buf = self._pending + bytes(data) if self._pending else bytes(data)
        st = _FeedState()
        runs: list[Run] = []
        done = self._aligned_prefix(buf, st, runs)
        self._search(buf[done:] if done else buf, st, runs)
        runs = _merge(runs)
        result = ParseResult(runs=runs, gaps=st.gaps, checksum_errors=st.checksum_errors,
                             bytes_discarded=st.discarded, resyncs=st.resyncs,
                             false_syncs=st.false_syncs, end_of_stream=self.ended,
                             end_index=st.end_index, trailing=st.trailing)
        self.samples += result.samples
        self.gaps += len(st.gaps)
        self.lost_samples += sum(g.lost for g in st.gaps)
        self.checksum_errors += st.checksum_errors
        self.bytes_discarded += st.discarded
        self.resyncs += st.resyncs
        self.false_syncs += st.false_syncs
        return result

    def _accept(self, st: "_FeedState", d: int, nframes: int, last_seq: int) -> int:
        """Accept ``nframes`` consecutive frames whose first is ``d`` ahead of the last one;
        returns the stream index of the first."""
        first = self._last_index + d
        if d > 1:
            st.gaps.append(Gap(first, d - 1))
        self._last_index = first + nframes - 1
        self._last_seq = last_seq
        self._in_sync = True
        return first

    def _aligned_prefix(self, buf: bytes, st: "_FeedState", runs: list[Run]) -> int:
        """Fast path for a clean stream: the frames at offsets 0, 12, 24 ... read in place.

        Accepts the longest prefix of good, consecutive frames (no copy, no search) and
        returns its length in bytes; the general search takes over from there."""
        k = len(buf) // FRAME_SIZE
        if k == 0:
            return 0
        frames = np.frombuffer(buf, dtype=FRAME_DTYPE, count=k)
        seq = frames["seq"]
        d = (int(seq[0]) - self._last_seq) & _U32
        if not 1 <= d <= MAX_PLAUSIBLE_GAP:
            return 0
        raw = np.frombuffer(buf, dtype=np.uint8, count=k * FRAME_SIZE).reshape(k, FRAME_SIZE)
        good = ((frames["sync"] == _SYNC_WORD) & (crc8_frames(raw) == frames["crc"])
                & ((frames["flags"] & FLAG_END_OF_STREAM) == 0))
        good[1:] &= (seq[1:] - seq[:-1]) == 1
        j = k if good.all() else int(np.argmin(good))
        if j == 0:
            return 0
        first = self._accept(st, d, j, int(seq[j - 1]))
        runs.append(Run(first, frames["counts"][:j].astype(np.int32),
                        frames["flags"][:j].astype(np.uint8)))
        return j * FRAME_SIZE

    def _search(self, buf: bytes, st: "_FeedState", runs: list[Run]) -> None:
        """General path: find every sync, check all CRCs at once, then walk the buffer
        run by run following the receiver rules; keeps the undecided tail as pending."""
        n = len(buf)
        if n < FRAME_SIZE:
            self._pending = buf
            return
        valid_pos, frames, breaks = _valid_frames(buf, st)
        seq = frames["seq"]
        eos = (frames["flags"] & FLAG_END_OF_STREAM) != 0
        nv = valid_pos.shape[0]

        accepted: list[tuple[int, int, int]] = []  # (first row, end row exclusive, first index)
        pos = 0
        while True:
            i = int(np.searchsorted(valid_pos, pos))
            if i >= nv:
                keep = max(pos, n - (FRAME_SIZE - 1))
                self._discard(st, pos, keep)
                self._pending = buf[keep:]
                break
            q = int(valid_pos[i])
            if q > pos:
                self._discard(st, pos, q)
            b = int(np.searchsorted(breaks, i))
            e = int(breaks[b]) if b < breaks.shape[0] else nv - 1  # last row of the run
            d = (int(seq[i]) - self._last_seq) & _U32
            plausible = 1 <= d <= MAX_PLAUSIBLE_GAP
            if eos[i]:
                if not plausible:
                    self._false_sync(st, q)
                    pos = q + 1
                    continue
                end_index = self._last_index + d
                if d > 1:
                    st.gaps.append(Gap(end_index, d - 1))
                self.ended = True
                self._in_sync = True
                st.end_index = end_index
                st.trailing = buf[q + FRAME_SIZE:]
                self._pending = b""
                break
            if not plausible:
                if e - i + 1 >= RELOCK_FRAMES:
                    d = d or (1 << 32)  # numbering jumped: re-lock, always moving forward
                elif int(valid_pos[e]) + 2 * FRAME_SIZE > n:
                    self._pending = buf[q:]  # may become a re-lock when more bytes arrive
                    break
                else:
                    self._false_sync(st, q)
                    pos = q + 1
                    continue
            first = self._accept(st, d, e - i + 1, int(seq[e]))
            accepted.append((i, e + 1, first))
            pos = int(valid_pos[e]) + FRAME_SIZE

        if accepted:
            counts = frames["counts"].astype(np.int32)  # contiguous copies, sliced below
            flags = frames["flags"].astype(np.uint8)
            runs.extend(Run(first, counts[a:b], flags[a:b]) for a, b, first in accepted)

    def _discard(self, st: "_FeedState", start: int, stop: int) -> None:
        """Bytes ``[start, stop)`` were searched through without finding a frame."""
        if stop <= start:
            return
        st.discarded += stop - start
        st.checksum_errors += int(np.searchsorted(st.bad_pos, stop)
                                  - np.searchsorted(st.bad_pos, start))
        if self._in_sync:
            st.resyncs += 1
            self._in_sync = False

    def _false_sync(self, st: "_FeedState", q: int) -> None:
        st.false_syncs += 1
        self._discard(st, q, q + 1)


def _merge(runs: list[Run]) -> list[Run]:
    """Join runs whose indices follow on without a gap, so output splits only at gaps."""
    if len(runs) < 2:
        return runs
    groups: list[list[Run]] = [[runs[0]]]
    for run in runs[1:]:
        if run.first == groups[-1][-1].end:
            groups[-1].append(run)
        else:
            groups.append([run])
    return [g[0] if len(g) == 1 else
            Run(g[0].first, np.concatenate([r.counts for r in g]),
                np.concatenate([r.flags for r in g])) for g in groups]


class _FeedState:
    """Per-call counters of :meth:`FrameParser.feed`."""

    def __init__(self) -> None:
        self.bad_pos = np.zeros(0, dtype=np.int64)  # sync found, CRC wrong (search path)
        self.gaps: list[Gap] = []
        self.checksum_errors = 0
        self.discarded = 0
        self.resyncs = 0
        self.false_syncs = 0
        self.end_index: int | None = None
        self.trailing = b""
