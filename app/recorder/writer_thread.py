"""The writer thread: the one thread that owns a recording's ``h5py.File``.

It takes the recorder's inbox of sample blocks whole, a few times a second, checks
each batch once (rate, shape, order), writes force/flags/aux in short h5py calls,
appends trials, audit entries, gaps and analysis in slices, flushes for SWMR readers
at least every ``flush_interval_s``, stops *before* the disk or a file-size limit runs
out, and on any failure leaves the file readable as of its last flush. The producer
side (queues, notices, lifecycle) is :class:`app.recorder.writer.SessionRecorder`.

The batch checks and the cutting of writes into chunk-sized pieces are pure functions
in :mod:`app.recorder.block_checks`; what is here acts on the open file and its counters.
"""
from __future__ import annotations

import logging
import os
import re
import time
import zlib
from typing import TYPE_CHECKING, Any, Callable

import h5py
import numpy as np

from app.recorder import layout as L
from app.recorder.block_checks import (batch_layout, block_problem, chunk_aligned,
                                       contiguous_runs)
from app.recorder.disk_space import DiskSpaceLow, check_space
from app.recorder.records import AuditEntry, RecorderNotice, TrialRecord
from drivers.capabilities import SampleBlock, samples_missing, trigger_edges

if TYPE_CHECKING:
    from app.recorder.writer import SessionRecorder

log = logging.getLogger(__name__)

#: write force/flags to the file once this many samples are pending, even between flushes
BATCH_SAMPLES = 1 << 18
#: samples per h5py write call at most: one chunk (256 KiB of force), each call ending on a chunk
#: boundary so that it fills or extends one chunk only. Each call holds the interpreter lock, so a
#: big batch is written in pieces of about a millisecond (bench_recorder prints the longest);
#: smaller pieces cost throughput (h5py's fixed cost per call: a quarter chunk gave 0.35-0.43 of
#: batched h5py against 0.56-0.60 for a whole chunk, bench/bench_recorder.py)
WRITE_SLICE = L.FORCE_CHUNK
#: rows per h5py table-column write, for the same reason
TABLE_ROWS_PER_CALL = 512
#: the writer takes the inbox at least this often (sooner when it fills or on close):
#: the handoff is one list swap per batch, not one queue operation per block
WRITER_POLL_S = 0.05


def _describe(exc: BaseException) -> str:
    """One line for an exception; HDF5's multi-line messages are reduced to their cause."""
    text = str(exc)
    m = re.search(r"error message = '([^']*)'", text)
    first = text.splitlines()[0] if text else ""
    if m and m.group(1) not in first:
        first = f"{first.split(' (')[0]} ({m.group(1)})"
    return f"{type(exc).__name__}: {first}"


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
        #: each table's columns; /integrity has one more per aux channel (format 1.2)
        self.columns = {**L.TABLES, L.INTEGRITY: L.integrity_columns(f)}
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
        """Accept a batch of blocks with one set of checks for the whole batch
        (:mod:`app.recorder.block_checks`); a batch that needs a closer look goes block
        by block through :meth:`accept`, which rejects and reports the offending ones."""
        layout = batch_layout(blocks, self.rate, self.next)
        if layout is None:
            for block in blocks:
                self.accept(block)
            return
        first, n = layout
        for i, j in contiguous_runs(first, n):
            self.take_run(blocks[i:j], int(first[i]), int(first[j - 1] + n[j - 1]), n[i:j])

    def accept(self, block: SampleBlock) -> None:
        """Accept one block, or reject it (counted, audited, reported) with the reason."""
        n = len(block)
        problem = block_problem(block, self.rate, self.next)
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
        most WRITE_SLICE samples each (short h5py calls), one checksum row (force, flags,
        then each aux channel)."""
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
        for a, b in chunk_aligned(start, n, WRITE_SLICE):
            self.timed(self.force.__setitem__, slice(start + a, start + b), force[a:b])
            self.timed(self.flags.__setitem__, slice(start + a, start + b), flags[a:b])
            for ds, row in zip(self.aux, aux if aux is not None else ()):
                self.timed(ds.__setitem__, slice(start + a, start + b), row[a:b])
        self.pending.clear()
        self.pending_n = 0
        self.rows[L.INTEGRITY].append((start, n, zlib.crc32(force), zlib.crc32(flags),
                                       *map(zlib.crc32, aux if aux is not None else ())))
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
            for col, values in zip(self.columns[table], zip(*rows)):
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
        if self.space_guard:
            check_space(self.directory, self.rec._path, self.rec._min_free_bytes, samples)

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
