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
import logging
import os
import threading
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import h5py

from app.errors import UserError
from app.metadata import SessionMetadata
from app.recorder import layout as L
from app.recorder.records import AuditEntry, RecorderNotice, TrialRecord
from app.recorder.disk_space import DiskSpaceLow
from app.recorder.writer_thread import BATCH_SAMPLES, _Writer
from drivers.capabilities import Calibration, SampleBlock, StreamNotice

log = logging.getLogger(__name__)

NoticeCallback = Callable[[RecorderNotice], None]

#: chunk cache per dataset (two /force chunks): full chunks leave the cache while later
#: samples are written, in short calls, instead of all at the next flush
WRITE_CACHE_BYTES = 2 * 4 * L.FORCE_CHUNK


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

    def log(self, kind: str, message: str, **fields: Any) -> AuditEntry:
        """Add an audit-log entry (operator action, stimulator command, comment, ...) at
        the newest sample offered; ``fields`` are stored as a JSON object. Returns the
        entry as queued (its sample and time)."""
        entry = AuditEntry(L.utc_now_iso(), self._stream_end, str(kind), str(message),
                           L.to_json(fields))
        self._put_control("audit", entry)
        return entry

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


__all__ = ["SessionRecorder", "RecordingExistsError", "DiskSpaceLow", "BATCH_SAMPLES"]
