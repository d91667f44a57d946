"""The session recorder: sample blocks, trials and audit entries in, a crash-safe HDF5 file out.

Threading model (after QCoDeS' ``_BackgroundWriter``): one writer thread owns the
``h5py.File``; producers hand it work without ever blocking. Sample blocks go through
a bounded queue (``put_nowait``: the amplifier's reader thread must never wait on the
disk); trials, audit entries and analysis results, which are few and must never be
lost, go through an unbounded deque. If the queue is full the block is dropped, but
never silently: it is counted, the owner is told at once (``data-loss`` notice) and
the missing samples become a NaN run with a row in the gap log.

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
import os
import queue
import re
import shutil
import threading
import time
import zlib
from pathlib import Path
from typing import Any, Callable, Mapping

import h5py
import numpy as np

from app.errors import UserError
from app.metadata import SessionMetadata
from app.recorder import layout as L
from app.recorder.records import AuditEntry, RecorderNotice, TrialRecord
from drivers.capabilities import FLAG_TRIGGER_EDGE, Calibration, SampleBlock

try:
    import resource
except ImportError:  # pragma: no cover - not on Windows
    resource = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

NoticeCallback = Callable[[RecorderNotice], None]

#: write force/flags to the file once this many samples are pending, even between flushes
BATCH_SAMPLES = 1 << 18
_STOP = object()
#: room kept free under a file-size limit (RLIMIT_FSIZE) to close the file cleanly
_FSIZE_RESERVE = 4 << 20
#: bytes a write may need beyond its samples: new chunks, metadata, table rows
_WRITE_MARGIN = 2 * L.FORCE_CHUNK * 5 + (1 << 20)


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
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
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
        # --- written by the writer thread only (ints/str: atomic to read) ---------------
        self._samples_written = 0
        self._samples_flushed = 0
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
             protocol: Mapping[str, Any] | None = None, software_version: str) -> None:
        """Create the file with its complete layout, switch to SWMR, start the writer."""
        if self._opened:
            raise RuntimeError("recorder already opened")
        if not sample_rate_hz > 0:
            raise ValueError(f"sample_rate_hz must be > 0, not {sample_rate_hz!r}")
        self._check_target()
        meta = metadata.as_attrs() if isinstance(metadata, SessionMetadata) else dict(metadata)
        try:
            f = h5py.File(self._path, "w" if self._overwrite else "x", libver=L.LIBVER)
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
                            flush_interval_s=self._flush_interval_s)
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
        on_writer = threading.current_thread() is thread
        if first:
            atexit.unregister(self._close_at_exit)
            if on_writer:      # it cannot wait for itself; it sees _closing and finishes
                try:
                    self._queue.put_nowait(_STOP)
                except queue.Full:
                    pass
            else:
                self._put_stop(thread)
        if not on_writer:
            thread.join()

    def _put_stop(self, thread: threading.Thread) -> None:
        # blocking is fine here (not the reader thread); give up only if the writer is gone
        while True:
            try:
                self._queue.put(_STOP, timeout=0.2)
                return
            except queue.Full:
                if not thread.is_alive():
                    return

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
        """Queue a sample block (a ``BlockSink``). Never blocks, never raises for a full
        queue: a dropped block is counted, reported and logged as a gap."""
        notice: RecorderNotice | None = None
        with self._lock:
            if not self._opened:
                return      # not part of the recording: shows up as the 'before-recording' gap
            if block.end_sample > self._stream_end:
                self._stream_end = block.end_sample
            if self._closing or self._failed is not None:
                self._lost += len(block)
                if not self._late_blocks_reported:
                    self._late_blocks_reported = True
                    why = (f"write failed ({self._failed})" if self._failed is not None
                           else "recorder closed")
                    notice = RecorderNotice("data-loss", f"samples from {block.first_sample} not "
                                            f"recorded: {why}", block.first_sample, len(block))
            else:
                try:
                    self._queue.put_nowait(block)
                    self._in_loss_episode = False
                    return
                except queue.Full:
                    n = len(block)
                    self._lost += n
                    if self._losses and self._losses[-1][1] == block.first_sample:
                        self._losses[-1][1] = block.end_sample
                    else:
                        self._losses.append([block.first_sample, block.end_sample])
                    if not self._in_loss_episode:
                        self._in_loss_episode = True
                        notice = RecorderNotice(
                            "data-loss", f"recorder queue full: dropping samples from "
                            f"{block.first_sample} (disk too slow?); logged as a gap",
                            block.first_sample, n)
        if notice is not None:
            self._notify(notice)

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
        q = self.rec._queue
        interval = self.rec._flush_interval_s
        deadline = time.monotonic() + interval
        while True:
            stop = False
            timeout = deadline - time.monotonic()
            try:
                item = q.get(timeout=timeout) if timeout > 0 else q.get_nowait()
            except queue.Empty:
                item = None
            taken = 0
            while item is not None:         # drain what is there, bounded
                if item is _STOP:
                    stop = True
                    break
                self.accept(item)
                taken += 1
                if taken >= 4096:
                    break
                try:
                    item = q.get_nowait()
                except queue.Empty:
                    item = None
            if stop or (self.rec._closing and q.empty()):
                self.finish()
                return
            if time.monotonic() >= deadline:
                self.flush()
                deadline = time.monotonic() + interval

    # ---------------------------------------------------------------- samples
    def accept(self, block: SampleBlock) -> None:
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
        if n == 0:
            return
        expected = 0 if self.next is None else self.next
        if block.first_sample > expected:
            self.write_pending()
            cause = L.CAUSE_BEFORE_RECORDING if self.next is None else L.CAUSE_STREAM_GAP
            self.log_gap(expected, block.first_sample, cause)
        self.pending.append(block)
        self.pending_n += n
        self.next = block.end_sample
        if self.pending_n >= BATCH_SAMPLES:
            self.write_pending()

    def write_pending(self) -> None:
        """One resize and one write per dataset for all pending (contiguous) blocks."""
        if not self.pending:
            return
        start = self.pending[0].first_sample
        if len(self.pending) == 1:
            force = np.asarray(self.pending[0].force_mN, dtype="<f4")
            flags = np.asarray(self.pending[0].flags, dtype="u1")
        else:
            force = np.concatenate([np.asarray(b.force_mN, dtype="<f4") for b in self.pending])
            flags = np.concatenate([np.asarray(b.flags, dtype="u1") for b in self.pending])
        force = np.ascontiguousarray(force)
        flags = np.ascontiguousarray(flags)
        n = force.shape[0]
        end = start + n
        self.check_space(n)
        if end > self.extent:
            self.force.resize((end,))
            self.flags.resize((end,))
            self.extent = end
        self.force[start:end] = force
        self.flags[start:end] = flags
        self.pending.clear()
        self.pending_n = 0
        self.rows[L.INTEGRITY].append((start, n, zlib.crc32(force), zlib.crc32(flags)))
        edges = np.flatnonzero(flags & FLAG_TRIGGER_EDGE)
        if edges.size:
            self.new_pulses.append(edges.astype(np.int64) + start)
        self.rec._samples_written += n

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
        if self.new_pulses:
            new = np.concatenate(self.new_pulses)
            self.pulses_ds.resize((self.n_pulses + new.size,))
            self.pulses_ds[self.n_pulses:] = new
            self.n_pulses += new.size
            self.new_pulses.clear()
        for table, rows in self.rows.items():
            if not rows:
                continue
            group = self.f[table]
            n0 = self.counts[table]
            for col, values in zip(L.TABLES[table], zip(*rows)):
                ds = group[col.name]
                ds.resize((n0 + len(rows),))
                ds[n0:] = np.array(values, dtype=object if col.is_text else col.dtype)
            self.counts[table] = n0 + len(rows)
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
        self.f.flush()
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
        q = self.rec._queue
        while drain:
            try:
                item = q.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                self.accept(item)
        self.write_pending()
        with self.rec._lock:     # blocks dropped after the last one that was written
            end = max((b for _, b in self.rec._losses), default=0)
        start = 0 if self.next is None else self.next
        if end > start:
            self.log_gap(start, end, L.CAUSE_STREAM_GAP if self.next is not None
                         else L.CAUSE_BEFORE_RECORDING)
            self.force.resize((end,))
            self.flags.resize((end,))
            self.extent = end
        self.rec._take_losses(None)
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
        for obj in (self.force, self.flags, self.pulses_ds):
            try:
                obj.id.close()
            except Exception:
                pass
        try:
            self.f.close()
        except Exception:
            log.exception("closing %s after a write failure", self.rec._path)

    def drain_after_failure(self) -> None:
        """Keep taking blocks so producers see no full queue; count them as lost."""
        q = self.rec._queue
        while True:
            try:
                item = q.get(timeout=0.1)
            except queue.Empty:
                if self.rec._closing:
                    return
                continue
            if item is _STOP:
                return
            with self.rec._lock:
                self.rec._lost += len(item)


__all__ = ["SessionRecorder", "RecordingExistsError", "DiskSpaceLow", "BATCH_SAMPLES"]
