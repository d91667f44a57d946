"""The session recorder: sample blocks, trials and audit entries in, a crash-safe HDF5 file out.

Threading model (after QCoDeS' ``_BackgroundWriter``): one writer thread owns the
``h5py.File``; producers hand it work without ever blocking. Sample blocks go into a
bounded inbox (a list under a lock: the amplifier's reader thread must never wait on
the disk) that the writer takes whole, as one batch, a few times a second; the checks
(rate, shape, order) are made once per batch. Trials, audit entries and analysis
results, which are few and must never be lost, go through an unbounded deque. If the
inbox is full the block is dropped, but never silently: it is counted, the owner is
told at once (``data-loss`` notice) and the missing samples become a NaN run with a row
in the gap log. Every h5py call of the writer is kept short (writes of at most one
chunk, table rows in slices), because each one holds the interpreter lock.

Crash safety comes from HDF5's SWMR mode: every object exists before SWMR starts,
the writer only appends, and it flushes at least every ``flush_interval_s``. A file
whose writer died (SIGKILL, power cut after ``fsync``) opens with
``h5py.File(path, "r", swmr=True)`` and holds everything up to the last flush.
"""
from __future__ import annotations

import atexit
import collections
import errno
import logging
import operator
import os
import re
import shutil
import threading
import time
import zlib
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import h5py
import numpy as np

from app.errors import UserError
from app.metadata import SessionMetadata
from app.recorder import layout as L
from app.recorder.records import AuditEntry, RecorderNotice, TrialRecord
from drivers.capabilities import Calibration, SampleBlock, StreamNotice, samples_missing, trigger_edges

try:
    import resource
except ImportError:  # pragma: no cover - not on Windows
    resource = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

NoticeCallback = Callable[[RecorderNotice], None]

#: write force/flags to the file once this many samples are pending, even between flushes
BATCH_SAMPLES = 1 << 18
#: samples per h5py write call (a quarter chunk, 64 KiB): each call holds the interpreter lock, so
#: a big batch is written in pieces that each take well under a millisecond
WRITE_SLICE = L.FORCE_CHUNK // 4
#: chunk cache per dataset (two /force chunks): full chunks leave the cache while later
#: samples are written, in short calls, instead of all at the next flush
WRITE_CACHE_BYTES = 2 * 4 * L.FORCE_CHUNK
#: rows per h5py table-column write, for the same reason
TABLE_ROWS_PER_CALL = 512
#: the writer takes the inbox at least this often (sooner when it fills or on close):
#: the handoff is one list swap per batch, not one queue operation per block
WRITER_POLL_S = 0.05
#: room kept free under a file-size limit (RLIMIT_FSIZE) to close the file cleanly
_FSIZE_RESERVE = 4 << 20
#: bytes a write may need beyond its samples: new chunks, metadata, table rows
_WRITE_MARGIN = 2 * L.FORCE_CHUNK * 5 + (1 << 20)


_RATE = operator.attrgetter("sample_rate_hz")
_FORCE = operator.attrgetter("force_mN")
_FLAGS = operator.attrgetter("flags")
_NDIM = operator.attrgetter("ndim")
_FIRST = operator.attrgetter("first_sample")


class DiskSpaceLow(OSError):
    """Raised by the writer *before* a write that could run the disk (or the file-size
    limit) out of space, so the file can still be closed cleanly from the reserve."""


def _describe(exc: BaseException) -> str:
    """One line for an exception; HDF5's multi-line messages are reduced to their cause."""
    text = str(exc)
    m = re.search(r"error message = '([^']*)'", text)
    first = text.splitlines()[0] if text else ""
    if m and m.group(1) not in first:
        first = f"{first.split(' (')[0]} ({m.group(1)})"
    return f"{type(exc).__name__}: {first}"


class RecordingExistsError(UserError, FileExistsError):
    """The target file exists and overwriting was not asked for: recordings are never
    truncated by accident."""


class SessionRecorder:
    """Records one session into one HDF5 file. See ``docs/file-format.md`` for the layout.

    Typical use::

        rec = SessionRecorder(path, on_notice=runner.on_recorder_notice)
        rec.open(sample_rate_hz=amp.sample_rate_hz, calibration=amp.calibration,
                 metadata=meta, rig=rig_dict, devices={"stimulator": stim.identity},
                 software_version=app.__version__)
        amp.subscribe(rec.put_block)
        stim.on_command = lambda cmd: rec.log("stimulator-command", cmd)
        ...
        rec.close()            # or use the recorder as a context manager

    ``put_block``, ``add_trial``, ``log`` and ``add_analysis`` are thread-safe and never
    block. ``on_notice`` is called on the writer thread ('write-failed', 'stream-error',
    loss summaries) or on the producer's thread (the first dropped block of a loss): it
    must be quick and must not block.

    Disk full: before each write the writer checks that ``min_free_bytes`` would remain
    free (and that a file-size limit is not near). If not, it stops *before* HDF5 sees
    an error, writes what it holds from the reserve and closes the file cleanly
    (``status='failed'``, ``complete=1``). Any other write error leaves the file as it
    was at the last flush (``complete=0``) and the writer touches it no more.
    ``min_free_bytes=0`` disables the check.
    """

    def __init__(self, path: str | os.PathLike[str], *, overwrite: bool = False,
                 flush_interval_s: float = 0.5, queue_size: int = 4096,
                 on_notice: NoticeCallback | None = None, fsync: bool = True,
                 min_free_bytes: int = 64 << 20) -> None:
        self._path = Path(path)
        if flush_interval_s <= 0:
            raise ValueError("flush_interval_s must be > 0")
        if queue_size < 1:
            raise ValueError("queue_size must be >= 1")
        self._overwrite = overwrite
        self._check_target()
        self._flush_interval_s = float(flush_interval_s)
        self._fsync = fsync
        self._min_free_bytes = int(min_free_bytes)
        self._on_notice = on_notice
        # blocks waiting for the writer: a plain list under _lock, swapped out whole by the
        # writer (one handoff per batch, not per block); bounded by queue_size blocks
        self._inbox: list[SampleBlock] = []
        self._queue_size = int(queue_size)
        self._wake_at = max(1, self._queue_size // 4)   # wake the writer early when this full
        self._wake = threading.Event()
        self._control: collections.deque[tuple[str, Any]] = collections.deque()
        self._lock = threading.Lock()
        # --- shared state; producer side under _lock -----------------------------------
        self._opened = False
        self._closing = False
        self._stream_end = 0                 # end index of the newest block offered
        self._losses: list[list[int]] = []   # dropped [start, end) runs not yet in the gap log
        self._lost = 0                       # samples the recorder failed to store
        self._in_loss_episode = False
        self._late_blocks_reported = False
        self._stream_started = False         # the stream began while recording ('started')
        self._device_end = 0                 # the device's sequence count at STOP ('stopped')
        # --- written by the writer thread only (ints/str: atomic to read) ---------------
        self._samples_written = 0
        self._samples_flushed = 0
        self._longest_call_s = 0.0
        self._longest_call_cpu_s = 0.0
        self._rejected = 0
        self._failed: str | None = None
        self._final_status = L.STATUS_COMPLETE
        self._thread: threading.Thread | None = None
        self._writer: _Writer | None = None

    # ------------------------------------------------------------------ properties
    @property
    def path(self) -> Path:
        return self._path

    @property
    def samples_written(self) -> int:
        """Samples stored in the file so far (not counting NaN gaps)."""
        return self._samples_written

    @property
    def samples_flushed(self) -> int:
        """Length of ``/force`` at the last flush: everything below is safe from a crash."""
        return self._samples_flushed

    @property
    def lost_samples(self) -> int:
        """Samples the recorder failed to store: queue full, or offered after a write
        failure or after close. (Samples the amplifier lost are in the gap log only.)"""
        return self._lost

    @property
    def rejected_samples(self) -> int:
        """Samples of blocks rejected as out of order or at the wrong rate."""
        return self._rejected

    @property
    def longest_write_call_s(self) -> float:
        """The longest single h5py call the writer thread made so far (seconds): each
        holds the interpreter lock, so this bounds the stall it can cause elsewhere."""
        return self._longest_call_s

    @property
    def longest_write_call_cpu_s(self) -> float:
        """CPU time of the writer thread in its longest h5py call (seconds)."""
        return self._longest_call_cpu_s

    @property
    def failed(self) -> str | None:
        """The write error that stopped the recorder, or ``None``."""
        return self._failed

    @property
    def is_open(self) -> bool:
        return self._opened and not self._closing

    # ------------------------------------------------------------------ lifecycle
    def _check_target(self) -> None:
        if self._path.exists() and not self._overwrite:
            raise RecordingExistsError(
                f"{self._path}: file exists; refusing to overwrite a recording "
                "(choose another name, or pass overwrite=True / --overwrite)")

    def open(self, *, sample_rate_hz: float, calibration: Calibration,
             metadata: SessionMetadata | Mapping[str, Any], rig: Mapping[str, Any],
             devices: Mapping[str, str], protocol_text: str | None = None,
             protocol: Mapping[str, Any] | None = None, software_version: str,
             aux_channels: Sequence[Mapping[str, Any]] = ()) -> None:
        """Create the file with its complete layout, switch to SWMR, start the writer.

        ``aux_channels`` (name, unit, scale, ...) describe the rows of the blocks' ``aux``
        arrays: each becomes ``/aux/<name>`` beside ``/force``."""
        if self._opened:
            raise RuntimeError("recorder already opened")
        if not sample_rate_hz > 0:
            raise ValueError(f"sample_rate_hz must be > 0, not {sample_rate_hz!r}")
        self._check_target()
        meta = metadata.as_attrs() if isinstance(metadata, SessionMetadata) else dict(metadata)
        try:
            f = h5py.File(self._path, "w" if self._overwrite else "x", libver=L.LIBVER,
                          rdcc_nbytes=WRITE_CACHE_BYTES)
        except FileExistsError as exc:       # created by someone else since the check
            raise RecordingExistsError(f"{self._path}: file exists; refusing to overwrite "
                                       "a recording") from exc
        except OSError as exc:               # no such directory, permission, read-only disk
            why = os.strerror(exc.errno) if exc.errno else str(exc).splitlines()[0]
            raise UserError(f"{self._path}: cannot create the recording ({why})") from exc
        try:
            L.create_layout(f, sample_rate_hz=sample_rate_hz, calibration=calibration,
                            metadata=meta, rig=rig, devices=devices,
                            protocol_text=protocol_text, protocol=protocol,
                            software_version=software_version,
                            start_time_utc=L.utc_now_iso(),
                            flush_interval_s=self._flush_interval_s, aux=aux_channels)
            f.flush()
            f.swmr_mode = True
        except BaseException:
            f.close()
            self._path.unlink(missing_ok=True)
            raise
        self._writer = _Writer(self, f, float(sample_rate_hz))
        self._writer.audit("recorder", "recording started",
                           sample_rate_hz=float(sample_rate_hz), path=str(self._path),
                           software_version=software_version)
        self._thread = threading.Thread(target=self._writer.run, daemon=True,
                                        name="myoforce-recorder-writer")
        with self._lock:
            self._opened = True
        self._thread.start()
        atexit.register(self._close_at_exit)

    def close(self, status: str = "complete") -> None:
        """Drain everything queued, write the final attributes, close the file.

        ``status`` is 'complete' or 'aborted'; both leave ``complete=1`` (the file was
        finalised). After a write failure the file was already dealt with when the
        failure happened (see the class docstring) and ``status`` is ignored. Safe to
        call twice and from any thread; when called on the writer thread (from
        ``on_notice``) it returns without waiting for the writer to finish.
        """
        if status not in (L.STATUS_COMPLETE, L.STATUS_ABORTED):
            raise ValueError(f"status must be 'complete' or 'aborted', not {status!r}")
        with self._lock:
            first = not self._closing
            self._closing = True
            if first:
                self._final_status = status
        thread = self._thread
        if thread is None:
            return
        self._wake.set()
        if first:
            atexit.unregister(self._close_at_exit)
        if threading.current_thread() is not thread:   # the writer cannot wait for itself
            thread.join()

    def _close_at_exit(self) -> None:
        try:
            self.close(L.STATUS_ABORTED)
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __enter__(self) -> "SessionRecorder":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(L.STATUS_ABORTED if exc_type is not None else L.STATUS_COMPLETE)

    # ------------------------------------------------------------------ producers
    def put_block(self, block: SampleBlock) -> None:
        """Hand a sample block to the writer (a ``BlockSink``). Never blocks, never raises
        for a full inbox: a dropped block is counted, reported and logged as a gap.

        This is the amplifier reader thread's only cost per block: one lock, a few
        comparisons and a list append. Every check of the block is made by the writer,
        once per batch (see ``_Writer.accept_batch``)."""
        notice: RecorderNotice | None = None
        end = block.first_sample + len(block.force_mN)
        with self._lock:
            if not self._opened:
                return      # not part of the recording: shows up as the 'before-recording' gap
            if end > self._stream_end:
                self._stream_end = end
            if self._closing or self._failed is not None:
                notice = self._late_block(block)
            elif len(self._inbox) < self._queue_size:
                self._inbox.append(block)
                self._in_loss_episode = False
                if len(self._inbox) == self._wake_at:
                    self._wake.set()
                return
            else:
                notice = self._dropped_block(block)
        if notice is not None:
            self._notify(notice)

    def _late_block(self, block: SampleBlock) -> RecorderNotice | None:
        """A block offered after close or after a write failure (caller holds the lock)."""
        self._lost += len(block)
        if self._late_blocks_reported:
            return None
        self._late_blocks_reported = True
        why = (f"write failed ({self._failed})" if self._failed is not None
               else "recorder closed")
        return RecorderNotice("data-loss", f"samples from {block.first_sample} not "
                              f"recorded: {why}", block.first_sample, len(block))

    def _dropped_block(self, block: SampleBlock) -> RecorderNotice | None:
        """A block that found the inbox full (caller holds the lock): counted, its run
        kept for the gap log, the owner told at the first block of an episode."""
        n = len(block)
        self._lost += n
        if self._losses and self._losses[-1][1] == block.first_sample:
            self._losses[-1][1] = block.end_sample
        else:
            self._losses.append([block.first_sample, block.end_sample])
        if self._in_loss_episode:
            return None
        self._in_loss_episode = True
        return RecorderNotice("data-loss", f"recorder queue full: dropping samples from "
                              f"{block.first_sample} (disk too slow?); logged as a gap",
                              block.first_sample, n)

    def put_notice(self, notice: StreamNotice) -> None:
        """Take the amplifier's stream notices (a ``NoticeSink``): they mark the stream's
        edges, so loss at START and STOP is accounted for.

        'started' (sample 0) says the stream began while recording: samples missing
        before the first block were lost by the device, not sent before the recording
        opened. 'stopped' carries the device's sequence count at STOP: the file is made
        exactly that long, samples the device dropped just before STOP becoming a logged
        NaN gap. Other kinds are ignored (they are the stream owner's to report)."""
        if notice.kind not in ("started", "stopped") or notice.sample is None:
            return
        with self._lock:
            if not self._opened or self._closing:
                return
            if notice.kind == "started":
                self._stream_started = True
            else:
                self._device_end = max(self._device_end, int(notice.sample))
                self._stream_end = max(self._stream_end, int(notice.sample))

    def add_trial(self, record: TrialRecord) -> None:
        """Queue a row of the trial table."""
        if not isinstance(record, TrialRecord):
            raise TypeError("add_trial takes a TrialRecord")
        self._put_control("trial", record)

    def log(self, kind: str, message: str, **fields: Any) -> None:
        """Add an audit-log entry (operator action, stimulator command, ...). ``fields``
        are stored as a JSON object."""
        self._put_control("audit", AuditEntry(L.utc_now_iso(), self._stream_end, str(kind),
                                              str(message), L.to_json(fields)))

    def add_analysis(self, name: str, result: Mapping[str, Any]) -> None:
        """Store an analysis result (a JSON-able mapping) as a row of ``/analysis``."""
        self._put_control("analysis", (L.utc_now_iso(), str(name), L.to_json(dict(result))))

    def _put_control(self, kind: str, item: Any) -> None:
        self._control.append((kind, item))
        thread = self._thread
        if self._closing and (thread is None or not thread.is_alive()):
            log.warning("recorder %s: %s after close, not recorded: %r", self._path, kind, item)

    # ------------------------------------------------------------------ internals
    def _notify(self, notice: RecorderNotice) -> None:
        level = logging.ERROR if notice.kind in ("write-failed", "data-loss") else logging.WARNING
        log.log(level, "recorder %s: %s", notice.kind, notice.message)
        if self._on_notice is not None:
            try:
                self._on_notice(notice)
            except Exception:
                log.exception("recorder on_notice callback raised")

    def _take_inbox(self) -> list[SampleBlock]:
        """The blocks handed over since the last call, in arrival order (writer thread)."""
        with self._lock:
            batch, self._inbox = self._inbox, []
        return batch

    def _take_losses(self, end: int | None) -> list[tuple[int, int]]:
        """Dropped runs that start before ``end`` (all if ``None``), removed from the list."""
        with self._lock:
            taken = [(a, b) for a, b in self._losses if end is None or a < end]
            self._losses = [x for x in self._losses if not (end is None or x[0] < end)]
            return taken


class _Writer:
    """Runs on the writer thread; the only code that touches the ``h5py.File``."""

    def __init__(self, rec: SessionRecorder, f: h5py.File, rate: float) -> None:
        self.rec = rec
        self.f = f
        self.rate = rate
        self.force = f[L.FORCE]
        self.flags = f[L.FLAGS]
        self.pulses_ds = f[L.PULSES]
        self.aux = [f[L.AUX][name] for name in L.aux_names(f)]   # beside /force, same index
        self.next: int | None = None        # stream index after the last accepted block
        self.extent = 0                     # length of /force and /flags
        self.pending: list[SampleBlock] = []
        self.pending_n = 0
        self.rows: dict[str, list[tuple]] = {t: [] for t in L.TABLES}
        self.new_pulses: list[np.ndarray] = []
        self.counts: dict[str, int] = {t: 0 for t in L.TABLES}
        self.n_pulses = 0
        self.open = True
        self.space_guard = rec._min_free_bytes > 0
        self.directory = str(rec._path.resolve().parent)

    # ---------------------------------------------------------------- main loop
    def run(self) -> None:
        try:
            self.loop()
            return
        except DiskSpaceLow as exc:   # nothing failed yet: close cleanly from the reserve
            self.report_failure(exc)
            try:
                self.space_guard = False
                self.finish(L.STATUS_FAILED, drain=False)
            except BaseException as exc2:
                self.abandon(exc2)
        except BaseException as exc:  # a write failed: keep what was flushed, touch no more
            self.report_failure(exc)
            self.abandon(exc)
        self.drain_after_failure()

    def loop(self) -> None:
        """Wake every WRITER_POLL_S (sooner when the inbox fills or on close), take the
        whole inbox as one batch, flush every ``flush_interval_s``."""
        rec = self.rec
        interval = rec._flush_interval_s
        deadline = time.monotonic() + interval
        while True:
            rec._wake.wait(max(0.0, min(WRITER_POLL_S, deadline - time.monotonic())))
            rec._wake.clear()
            closing = rec._closing          # read before taking: nothing is left behind
            batch = rec._take_inbox()
            if batch:
                self.accept_batch(batch)
            if closing:
                self.finish()
                return
            if time.monotonic() >= deadline:
                self.flush()
                deadline = time.monotonic() + interval

    # ---------------------------------------------------------------- samples
    def accept_batch(self, blocks: list[SampleBlock]) -> None:
        """Accept a batch of blocks with one set of checks for the whole batch.

        The common case (every block at the recording's rate, force and flags 1-D and
        equally long, each block starting at or after the end of the one before) costs a
        few C-level passes over the batch (``map``/``attrgetter``, set and list
        comparisons, numpy on the indices); anything else goes block by block through
        :meth:`accept`, which rejects and reports the offending blocks."""
        first, n = self.batch_layout(blocks)
        if first is None:
            for block in blocks:
                self.accept(block)
            return
        ends = first + n
        breaks = np.flatnonzero(first[1:] != ends[:-1]) + 1   # gaps between blocks
        i = 0
        for j in (*breaks.tolist(), len(blocks)):
            self.take_run(blocks[i:j], int(first[i]), int(ends[j - 1]), n[i:j])
            i = j

    def batch_layout(self, blocks: list[SampleBlock]
                     ) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
        """``(first_sample, length)`` of every block of a sane batch, or ``(None, None)``."""
        tol = 1e-9 * self.rate
        try:
            if any(abs(r - self.rate) > tol for r in set(map(_RATE, blocks))):
                return None, None
            forces, flags = list(map(_FORCE, blocks)), list(map(_FLAGS, blocks))
            if set(map(_NDIM, forces)) != {1} or set(map(_NDIM, flags)) != {1}:
                return None, None
            lengths = list(map(len, forces))
            if lengths != list(map(len, flags)):
                return None, None
            first = np.fromiter(map(_FIRST, blocks), np.int64, len(blocks))
        except (AttributeError, TypeError, ValueError):  # not numpy arrays: one by one
            return None, None
        n = np.array(lengths, dtype=np.int64)
        if (n.min() <= 0 or (self.next is not None and first[0] < self.next)
                or (first[1:] < first[:-1] + n[:-1]).any()):
            return None, None
        return first, n

    def accept(self, block: SampleBlock) -> None:
        """Accept one block, or reject it (counted, audited, reported) with the reason."""
        n = len(block)
        problem = None
        if abs(block.sample_rate_hz - self.rate) > 1e-9 * self.rate:
            problem = f"block at {block.sample_rate_hz:g} Hz in a {self.rate:g} Hz recording"
        elif np.shape(block.flags) != np.shape(block.force_mN) or np.ndim(block.force_mN) != 1:
            problem = "block force and flags differ in shape"
        elif self.next is not None and block.first_sample < self.next:
            problem = (f"block starts at sample {block.first_sample}, before the end of the "
                       f"data already recorded ({self.next}): out of order or stream restarted")
        if problem is not None:
            self.rec._rejected += n
            self.audit("stream-error", f"block rejected: {problem}",
                       first_sample=block.first_sample, count=n)
            self.rec._notify(RecorderNotice("stream-error", f"block rejected: {problem}",
                                            block.first_sample, n))
            return
        if n:
            self.take_run([block], block.first_sample, block.end_sample)

    def take_run(self, blocks: list[SampleBlock], start: int, end: int,
                 lengths: np.ndarray | None = None) -> None:
        """Queue checked, contiguous blocks covering ``[start, end)`` for writing; a jump
        from the previous end is logged as a gap first. A long run (a backlog taken at
        once) is written BATCH_SAMPLES at a time, so no write, and no array it
        concatenates, grows with the backlog."""
        expected = 0 if self.next is None else self.next
        if samples_missing(expected, start):
            self.write_pending()
            self.log_gap(expected, start, self.leading_cause())
        self.next = end
        if self.pending_n + (end - start) < BATCH_SAMPLES:
            self.pending.extend(blocks)
            self.pending_n += end - start
            return
        cum = np.cumsum(lengths if lengths is not None else [len(b) for b in blocks])
        pos, base = 0, 0
        while pos < len(blocks):
            room = BATCH_SAMPLES - self.pending_n
            j = min(len(blocks), int(np.searchsorted(cum, base + room, side="left")) + 1)
            self.pending.extend(blocks[pos:j])
            self.pending_n += int(cum[j - 1]) - base
            pos, base = j, int(cum[j - 1])
            if self.pending_n >= BATCH_SAMPLES:
                self.write_pending()

    def leading_cause(self) -> str:
        """Why samples before the next block are missing: lost in the stream, unless no
        block came yet and the stream was already running when the recording opened."""
        if self.next is None and not self.rec._stream_started:
            return L.CAUSE_BEFORE_RECORDING
        return L.CAUSE_STREAM_GAP

    def timed(self, call: Callable[..., Any], *args: Any) -> Any:
        """Run one h5py call, keeping the longest duration (it holds the interpreter lock):
        wall time, and the writer thread's CPU time (the wall time also counts waits for
        the disk and for a CPU on a busy machine)."""
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return call(*args)
        finally:
            rec = self.rec
            rec._longest_call_s = max(rec._longest_call_s, time.perf_counter() - t0)
            rec._longest_call_cpu_s = max(rec._longest_call_cpu_s, time.thread_time() - c0)

    def write_pending(self) -> None:
        """All pending (contiguous) blocks to the file: one resize per dataset, writes of at
        most WRITE_SLICE samples each (short h5py calls), one checksum row."""
        if not self.pending:
            return
        start = self.pending[0].first_sample
        if len(self.pending) == 1:
            force = np.asarray(self.pending[0].force_mN, dtype="<f4")
            flags = np.asarray(self.pending[0].flags, dtype="u1")
        else:
            force = np.concatenate([b.force_mN for b in self.pending]).astype("<f4", copy=False)
            flags = np.concatenate([b.flags for b in self.pending]).astype("u1", copy=False)
        force = np.ascontiguousarray(force)
        flags = np.ascontiguousarray(flags)
        n = force.shape[0]
        end = start + n
        self.check_space(n)
        aux = self.pending_aux(n) if self.aux else None
        if end > self.extent:
            self.resize(end)
        for a in range(0, n, WRITE_SLICE):
            b = min(n, a + WRITE_SLICE)
            self.timed(self.force.__setitem__, slice(start + a, start + b), force[a:b])
            self.timed(self.flags.__setitem__, slice(start + a, start + b), flags[a:b])
            for ds, row in zip(self.aux, aux if aux is not None else ()):
                self.timed(ds.__setitem__, slice(start + a, start + b), row[a:b])
        self.pending.clear()
        self.pending_n = 0
        self.rows[L.INTEGRITY].append((start, n, zlib.crc32(force), zlib.crc32(flags)))
        edges = trigger_edges(flags, start)
        if edges.size:
            self.new_pulses.append(edges)
        self.rec._samples_written += n

    def resize(self, end: int) -> None:
        """Grow /force, /flags and every /aux dataset together (new samples are NaN / 0)."""
        for ds in (self.force, self.flags, *self.aux):
            self.timed(ds.resize, (end,))
        self.extent = end

    def pending_aux(self, n: int) -> np.ndarray:
        """The pending blocks' auxiliary rows (float32, (channels, n)); a block without
        them (or with another channel count) contributes NaN, never shifted data."""
        k = len(self.aux)
        parts = []
        for b in self.pending:
            a = b.aux
            if a is None or np.shape(a) != (k, len(b)):
                a = np.full((k, len(b)), np.nan, dtype="<f4")
            parts.append(a)
        out = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
        return np.ascontiguousarray(out, dtype="<f4")

    def log_gap(self, start: int, end: int, cause: str) -> None:
        """Gap-log rows for the missing run ``[start, end)``: the parts the recorder dropped
        (queue full) are told apart from the parts that never reached it."""
        pos = start
        for a, b in sorted(self.rec._take_losses(end)):
            a, b = max(a, start), min(b, end)
            if b <= a:
                continue
            if a > pos:
                self.add_gap(pos, a - pos, cause)
            self.add_gap(a, b - a, L.CAUSE_QUEUE_FULL)
            pos = b
        if end > pos:
            self.add_gap(pos, end - pos, cause)

    def add_gap(self, sample: int, count: int, cause: str) -> None:
        self.rows[L.GAPS].append((sample, count, cause))
        if cause == L.CAUSE_QUEUE_FULL:
            msg = f"{count} samples lost from sample {sample}: recorder queue full (NaN in /force)"
            self.audit("data-loss", msg, sample=sample, count=count, cause=cause)
            self.rec._notify(RecorderNotice("data-loss", msg, sample, count))

    # ---------------------------------------------------------------- tables
    def audit(self, kind: str, message: str, **fields: Any) -> None:
        """An audit entry made by the recorder itself (on the writer thread)."""
        self.rows[L.AUDIT].append((L.utc_now_iso(), self.next or 0, kind, message,
                                   L.to_json(fields)))

    def take_control(self) -> None:
        control = self.rec._control
        while control:
            kind, item = control.popleft()
            if kind == "trial":
                r: TrialRecord = item
                self.rows[L.TRIALS].append((
                    r.index, r.step, r.kind, r.start_sample, r.stop_sample, r.first_pulse_sample,
                    r.pulses, r.current_mA, r.pulse_width_ms, r.frequency_hz, r.status,
                    r.length_mm, r.wall_time_utc))
            elif kind == "audit":
                e: AuditEntry = item
                self.rows[L.AUDIT].append((e.time_utc, e.sample, e.kind, e.message, e.fields))
            elif kind == "analysis":
                self.rows[L.ANALYSIS].append(item)

    def append_tables(self) -> None:
        """Append the rows gathered since the last flush: one resize per column, writes of
        at most TABLE_ROWS_PER_CALL rows (text columns are slow to convert and write)."""
        if self.new_pulses:
            new = np.concatenate(self.new_pulses)
            self.timed(self.pulses_ds.resize, (self.n_pulses + new.size,))
            self.timed(self.pulses_ds.__setitem__, slice(self.n_pulses, None), new)
            self.n_pulses += new.size
            self.new_pulses.clear()
        for table, rows in self.rows.items():
            if not rows:
                continue
            group = self.f[table]
            n0, total = self.counts[table], len(rows)
            for col, values in zip(L.TABLES[table], zip(*rows)):
                ds = group[col.name]
                self.timed(ds.resize, (n0 + total,))
                for a in range(0, total, TABLE_ROWS_PER_CALL):
                    part = values[a:a + TABLE_ROWS_PER_CALL]
                    data = np.array(part, dtype=object if col.is_text else col.dtype)
                    self.timed(ds.__setitem__, slice(n0 + a, n0 + a + len(part)), data)
            self.counts[table] = n0 + total
            rows.clear()

    def check_space(self, samples: int) -> None:
        """Raise DiskSpaceLow if writing ``samples`` could leave less than the reserve."""
        if not self.space_guard:
            return
        need = samples * 5 + _WRITE_MARGIN
        free = shutil.disk_usage(self.directory).free
        if free - need < self.rec._min_free_bytes:
            raise DiskSpaceLow(errno.ENOSPC, f"disk almost full: {free / 1e6:.0f} MB free, "
                               f"{self.rec._min_free_bytes / 1e6:.0f} MB kept in reserve to "
                               "close the file")
        if resource is not None:
            soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
            if soft != resource.RLIM_INFINITY:
                size = os.path.getsize(self.rec._path)
                if size + need + _FSIZE_RESERVE > soft:
                    raise DiskSpaceLow(errno.EFBIG, f"file size limit reached: {size} of "
                                       f"{soft} bytes used")

    # ---------------------------------------------------------------- flush/finish
    def flush(self) -> None:
        self.write_pending()
        self.take_control()
        self.append_tables()
        self.timed(self.f.flush)
        if self.rec._fsync:      # survive an OS crash or power cut too, not just our own
            try:
                fd = self.f.id.get_vfd_handle()
            except Exception:    # a driver without a file descriptor: nothing to sync
                fd = None
            if isinstance(fd, int):
                os.fsync(fd)
        self.rec._samples_flushed = self.extent

    def finish(self, status: str | None = None, drain: bool = True) -> None:
        """Drain what is queued, log trailing losses, write final attributes, close."""
        if drain:
            batch = self.rec._take_inbox()
            if batch:
                self.accept_batch(batch)
        self.write_pending()
        self.log_trailing_loss()
        status = status or self.rec._final_status
        self.take_control()
        self.audit("recorder", f"recording closed ({status})", samples=self.extent,
                   samples_written=self.rec._samples_written, lost_samples=self.rec._lost,
                   rejected_samples=self.rec._rejected)
        self.append_tables()
        a = self.f.attrs
        a.modify("end_time_utc", np.asarray(L.utc_now_iso().encode(), dtype=L.TIME_DTYPE))
        a.modify("status", np.asarray(status.encode(), dtype=L.STATUS_DTYPE))
        for name, value in (("samples", self.extent), ("lost_samples", self.rec._lost),
                            ("pulses", self.n_pulses), ("trials", self.counts[L.TRIALS]),
                            ("gaps", self.counts[L.GAPS]),
                            ("audit_entries", self.counts[L.AUDIT])):
            a.modify(name, np.int64(value))
        self.flush()
        # 'complete' last: a file that says complete=1 has every other final value written
        a.modify("complete", np.uint8(1))
        self.flush()
        self.f.close()
        self.open = False

    def log_trailing_loss(self) -> None:
        """Extend the file with a logged NaN gap to the end of the stream: blocks the
        recorder dropped after the last one written, and samples the device dropped just
        before STOP (its sequence count from the 'stopped' notice)."""
        with self.rec._lock:
            end = max(max((b for _, b in self.rec._losses), default=0), self.rec._device_end)
        start = 0 if self.next is None else self.next
        if end > start:
            self.log_gap(start, end, self.leading_cause())
            self.resize(end)
            self.next = end
        self.rec._take_losses(None)

    # ---------------------------------------------------------------- failure
    def report_failure(self, exc: BaseException) -> None:
        """Tell the owner at once: stimulation must stop, the recording is not growing."""
        clean = isinstance(exc, DiskSpaceLow)
        msg = f"writing {self.rec._path} failed: {_describe(exc)}"
        self.rec._failed = msg
        if clean:
            self.audit("write-failed", msg + "; file closed cleanly, later samples not recorded")
            detail = " — the file was closed cleanly; nothing after this point is recorded"
        else:
            log.debug("%s", msg, exc_info=exc)
            detail = (f" — data after the last flush (sample {self.rec._samples_flushed}) is "
                      "lost; the file keeps what was flushed")
        self.rec._notify(RecorderNotice("write-failed", msg + detail + "; stop the experiment",
                                        self.rec._samples_flushed))

    def abandon(self, exc: BaseException) -> None:
        """Stop using a file whose write failed, without ever writing to it again.

        Closing an HDF5 file after a failed write makes HDF5 retry the write, fail, and
        later crash the process (seen with HDF5 2.0: segfault when the ids are freed).
        So the file's descriptor is first pointed at the null device: HDF5's remaining
        writes go nowhere, the close succeeds, and the file on disk stays exactly as the
        last successful flush left it.
        """
        with self.rec._lock:
            self.rec._lost += self.pending_n
        self.pending.clear()
        self.pending_n = 0
        self.open = False
        try:
            fd = self.f.id.get_vfd_handle()
            if isinstance(fd, int):
                null = os.open(os.devnull, os.O_RDWR)
                os.dup2(null, fd)
                os.close(null)
        except Exception:
            log.exception("could not detach %s after a write failure", self.rec._path)
        for obj in (self.force, self.flags, self.pulses_ds, *self.aux):
            try:
                obj.id.close()
            except Exception:
                pass
        try:
            self.f.close()
        except Exception:
            log.exception("closing %s after a write failure", self.rec._path)

    def drain_after_failure(self) -> None:
        """Keep taking blocks so producers see no full inbox; count them as lost."""
        rec = self.rec
        while True:
            rec._wake.wait(WRITER_POLL_S)
            rec._wake.clear()
            closing = rec._closing
            batch = rec._take_inbox()
            if batch:
                with rec._lock:
                    rec._lost += sum(len(b) for b in batch)
            if closing:
                return


__all__ = ["SessionRecorder", "RecordingExistsError", "DiskSpaceLow", "BATCH_SAMPLES"]
