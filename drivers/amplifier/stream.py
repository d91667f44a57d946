"""The amplifier's stream: the reader thread, the state it shares with the command side
and the subscribers it feeds (docs/wire-protocols.md, section 2).

While streaming, the reader thread owns the serial input: it reads large chunks, parses
them with :class:`~drivers.amplifier.frames.FrameParser`, converts counts to mN and
hands :class:`SampleBlock` s to subscribers. Everything that goes wrong (lost samples,
CRC failures, resyncs, a subscriber raising, the device stalling or vanishing) is
counted in :attr:`AmplifierStream.stats` and announced as a :class:`StreamNotice`.

Kept apart from the driver because this is where the stream state lives (streaming,
the error that killed it, the next sample index, the counters) under its one lock:
the driver's commands ask it (:attr:`~AmplifierStream.dead`,
:attr:`~AmplifierStream.streaming`) and tell it what happened (:meth:`~AmplifierStream.begin`,
:meth:`~AmplifierStream.die`) instead of touching its fields, so the stream's rules stay
in one place. The START/STOP exchange itself stays in the driver, with the other
commands, under the transport's lock.
"""
from __future__ import annotations

import logging
import threading
import time

from drivers.amplifier.frames import FrameParser, ParseResult
from drivers.amplifier.pacing import ReadPacer, stop_wait_s
from drivers.amplifier.stream_report import result_notices, stats_after
from drivers.capabilities import Calibration, SampleBlock, StreamNotice, StreamStats
from drivers.errors import DeviceDisconnected, DeviceError, DeviceTimeout
from drivers.subscribers import Subscribers
from drivers.transports.serial_port import SerialTransport

log = logging.getLogger(__name__)

#: Bytes asked for per read while streaming (about 55 ms at 100 kHz; a read returns sooner,
#: after the transport's poll interval, with whatever has arrived).
CHUNK_BYTES = 65536
#: At most one 'sink-error' notice per this many seconds (the count says how many).
SINK_ERROR_NOTICE_INTERVAL_S = 1.0


class AmplifierStream:
    """One amplifier's stream over ``transport``: reader thread, state, subscribers.

    ``port`` names the device in messages; ``timeout_s`` is how long the device may stay
    silent while streaming (and after STOP) before the stream is declared dead;
    ``read_period_s`` paces the reads (:class:`~drivers.amplifier.pacing.ReadPacer`).
    """

    def __init__(self, transport: SerialTransport, port: str, *, timeout_s: float,
                 read_period_s: float) -> None:
        self._t = transport
        self._port = port
        self._timeout_s = timeout_s
        self._read_period_s = read_period_s
        self.sinks = Subscribers(  # a failure becomes a rate-limited stream notice
            "amplifier block", on_error=lambda exc, block: self._sink_failed(exc, block.first_sample))
        self.notice_sinks = Subscribers("amplifier notice")
        self._state_lock = threading.Lock()
        self._streaming = False
        self._dead: DeviceError | None = None
        self._reader: threading.Thread | None = None
        self._halt = threading.Event()
        self._reader_done = threading.Event()
        self._stats = StreamStats()
        self._next_index = 0
        self._started_at = 0.0
        #: subscribers that raised (block sinks / notice sinks), over the driver's life
        self.sink_errors = 0
        self._sink_errors_unreported = 0
        self._last_sink_notice = 0.0

    # -------------------------------------------------------------------- state
    @property
    def stats(self) -> StreamStats:
        """Counters of the present (or last) stream."""
        with self._state_lock:
            return self._stats

    @property
    def streaming(self) -> bool:
        return self._streaming

    @property
    def dead(self) -> DeviceError | None:
        """The error that killed the stream, or None; once set, it stays for the driver's life."""
        return self._dead

    def dead_error(self) -> DeviceError:
        """A fresh copy of the error that killed the stream (re-raising one instance would
        pile up tracebacks)."""
        err = self._dead
        assert err is not None
        try:
            return type(err)(str(err))
        except TypeError:
            return DeviceError(str(err))

    def on_reader_thread(self) -> bool:
        """True when called by a subscriber, i.e. on the reader thread itself."""
        return self._reader is threading.current_thread()

    # ---------------------------------------------------------------- notices
    def notify(self, kind: str, message: str, sample: int | None = None, count: int = 0) -> None:
        self._emit(StreamNotice(kind, message, sample, count))

    def _emit(self, notice: StreamNotice) -> None:
        log.debug("amplifier notice %s: %s", notice.kind, notice.message)
        self.notice_sinks.emit(notice)

    # -------------------------------------------------------------- lifecycle
    def join_previous(self) -> None:
        """Let the reader of an earlier stream finish before a new START."""
        if self._reader is not None:
            self._reader.join(timeout=1.0)

    def begin(self, parser: FrameParser, cal: Calibration, rate_hz: int) -> None:
        """The device acknowledged START: reset the counters and start the reader."""
        with self._state_lock:
            self._stats = StreamStats()
            self._next_index = 0
            self._started_at = time.monotonic()
            self._streaming = True
        # before the reader starts: subscribers (the recorder) learn that the stream
        # begins at sample 0 here, so samples lost right after START are a stream gap
        self.notify("started", f"stream started at {rate_hz} Hz", sample=0)
        self._halt.clear()
        self._reader_done.clear()
        self._reader = threading.Thread(target=self._read_loop, args=(parser, cal, float(rate_hz)),
                                        name=f"amplifier-reader {self._port}", daemon=True)
        self._reader.start()

    def wait_for_end(self, rate_hz: float) -> tuple[bool, float]:
        """Wait for the end-of-stream frame after STOP; (arrived, seconds waited): as long
        as :func:`~drivers.amplifier.pacing.stop_wait_s` allows for the device's backlog,
        ending early (as a timeout) only if no sample arrives for a whole timeout."""
        t0 = time.monotonic()
        with self._state_lock:
            received, started = self._next_index, self._started_at
        deadline = t0 + stop_wait_s(self._timeout_s, rate_hz, t0 - started, received)
        last, last_progress = received, t0
        while not self._reader_done.wait(min(0.05, self._timeout_s)):
            now = time.monotonic()
            index = self._next_index
            if index != last:
                last, last_progress = index, now
            if now >= deadline or now - last_progress >= self._timeout_s:
                return self._reader_done.is_set(), now - t0
        return True, time.monotonic() - t0

    def join(self) -> None:
        """Halt the reader and wait for it (not when called from the reader itself)."""
        reader = self._reader
        if reader is not None and reader is not threading.current_thread():
            self._halt.set()
            reader.join(timeout=2.0)

    def halt(self) -> None:
        """Closing: the reader must stop whatever the stream's state."""
        self._halt.set()
        self.join()

    def die(self, error: DeviceError, kind: str) -> None:
        """The stream is dead: remember why, wake whoever waits, tell the subscribers once."""
        with self._state_lock:
            first = self._dead is None
            if first:
                self._dead = error
            self._streaming = False
        self._reader_done.set()
        if first:
            log.info("amplifier stream on %s died: %s", self._port, error)
            self.notify(kind, str(error), sample=self._next_index)

    # ----------------------------------------------------------- reader thread
    def _read_loop(self, parser: FrameParser, cal: Calibration, rate: float) -> None:
        """Reader thread: chunks in, blocks and notices out, until end of stream or failure."""
        poll_s = getattr(self._t, "poll_s", 0.01)
        can_pace = (callable(getattr(self._t, "read_ready", None))
                    and bool(getattr(self._t, "sizes_reads_exactly", False)))
        last_rx = time.monotonic()
        pacer = ReadPacer(rate, self._read_period_s, can_pace, last_rx)
        try:
            while not self._halt.is_set():
                try:
                    data = b""
                    wait = pacer.wait_s(time.monotonic())
                    if wait is not None:
                        if wait > 0 and self._halt.wait(wait):
                            return
                        data = self._t.read_ready(CHUNK_BYTES)
                    read_at = time.monotonic()
                    if not data:
                        data = self._t.read_chunk(CHUNK_BYTES, poll_s)
                    pacer.read_done(len(data), read_at)
                except DeviceError as exc:
                    if not self._halt.is_set():
                        kind = "timeout" if isinstance(exc, DeviceTimeout) else "disconnected"
                        self.die(exc if isinstance(exc, (DeviceTimeout, DeviceDisconnected))
                                 else DeviceDisconnected(str(exc)), kind)
                    return
                now = time.monotonic()
                if not data:
                    if now - last_rx > self._timeout_s:
                        self.die(DeviceTimeout(
                            f"no data from {self._port} for {self._timeout_s:g} s while streaming: "
                            "the amplifier stalled"), "timeout")
                        return
                    continue
                last_rx = now
                result = parser.feed(data)
                self._deliver(result, cal, rate, parser.next_index)
                if result.end_of_stream:
                    self._t.unread(result.trailing)
                    end = result.end_index if result.end_index is not None else parser.next_index
                    self.notify("stopped", f"stream stopped after {end} samples",
                                sample=end, count=end)
                    with self._state_lock:
                        self._streaming = False
                    self._reader_done.set()
                    return
        except Exception as exc:  # a bug here must still end the stream loudly
            log.exception("amplifier reader failed")
            self.die(DeviceError(f"amplifier reader failed: {exc!r}"), "disconnected")

    def _deliver(self, result: ParseResult, cal: Calibration, rate: float, next_index: int) -> None:
        with self._state_lock:
            self._stats = stats_after(self._stats, result)
            self._next_index = next_index
        for notice in result_notices(result, next_index):
            self._emit(notice)
        host_time = time.time()
        for run in result.runs:
            block = SampleBlock(first_sample=run.first, force_mN=cal.to_mN(run.counts),
                                flags=run.flags, sample_rate_hz=rate, host_time_s=host_time)
            self.sinks.emit(block)

    def _sink_failed(self, exc: Exception, sample: int) -> None:
        self.sink_errors += 1
        self._sink_errors_unreported += 1
        now = time.monotonic()
        if now - self._last_sink_notice >= SINK_ERROR_NOTICE_INTERVAL_S:
            n, self._sink_errors_unreported = self._sink_errors_unreported, 0
            self._last_sink_notice = now
            self.notify("sink-error", f"a block subscriber raised {exc!r} "
                        f"({n} failure(s) since the last report); the stream goes on",
                        sample=sample, count=n)
