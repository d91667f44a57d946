"""Driver of the serial force amplifier (docs/wire-protocols.md, section 2).

Commands are a write and one reply line under the transport's lock; while streaming, a
reader thread owns the input: it reads large chunks, parses them with
:class:`~drivers.amplifier.frames.FrameParser`, converts counts to mN and hands
:class:`SampleBlock` s to subscribers. Everything that goes wrong in a stream (lost
samples, CRC failures, resyncs, a subscriber raising, the device stalling or vanishing)
is counted in :attr:`stats` and announced as a :class:`StreamNotice`; nothing is dropped
silently and no call hangs: a dead stream makes every later call raise the error that
killed it, promptly.

About 500 lines, one class, on purpose: the command side and the reader thread share
one stream state (streaming, the error that killed it, the next sample index, stats)
under one lock, and every command checks it; split across modules that state would be
reached into from both. What has a seam of its own already has a module: the wire
format (``frames.py``), the command grammar (``commands.py``), the read pacing and the
STOP allowance (``pacing.py``), what a parsed chunk means for the counters and
notices (``stream_report.py``), the transport
(``drivers.transports.serial_port``) and the subscriber list (``drivers.subscribers``).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from drivers.amplifier import commands as cmd
from drivers.amplifier.frames import FrameParser, ParseResult
from drivers.amplifier.pacing import READ_PERIOD_S, ReadPacer, stop_wait_s
from drivers.amplifier.stream_report import result_notices, stats_after
from drivers.capabilities import (BlockSink, Calibration, NoticeSink, SampleBlock, StreamNotice,
                                  StreamStats)
from drivers.errors import DeviceDisconnected, DeviceError, DeviceTimeout, InstrumentError, ProtocolError
from drivers.subscribers import Subscribers
from drivers.transports.serial_port import SerialTransport

log = logging.getLogger(__name__)

#: Bytes asked for per read while streaming (about 55 ms at 100 kHz; a read returns sooner,
#: after the transport's poll interval, with whatever has arrived).
CHUNK_BYTES = 65536
#: Silence that proves a device is in command mode when the port is opened.
QUIET_S = 0.03
#: At most one 'sink-error' notice per this many seconds (the count says how many).
SINK_ERROR_NOTICE_INTERVAL_S = 1.0


class SerialForceAmplifier:
    """The force amplifier on a serial port; implements :class:`drivers.capabilities.ForceAmplifier`.

    Build it with :meth:`open` (a port name or pyserial URL) or :meth:`from_transport`
    (any object with the transport's methods, e.g. a scripted fake in tests).
    """

    def __init__(self, transport: SerialTransport, *, timeout_s: float = 1.0,
                 on_command: Callable[[str], None] | None = None,
                 read_period_s: float = READ_PERIOD_S) -> None:
        self._t = transport
        self._timeout_s = float(timeout_s)
        self._read_period_s = max(0.0, float(read_period_s))
        self._on_command = on_command
        self._identity = ""
        self._rate = 0
        self._cal = Calibration(1.0, 0.0)
        self._sinks = Subscribers(  # a failure becomes a rate-limited stream notice
            "amplifier block", on_error=lambda exc, block: self._sink_failed(exc, block.first_sample))
        self._notice_sinks = Subscribers("amplifier notice")
        self._state_lock = threading.Lock()
        self._streaming = False
        self._dead: DeviceError | None = None
        self._closed = False
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

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, port: str, *, timeout_s: float = 1.0,
             on_command: Callable[[str], None] | None = None,
             read_period_s: float = READ_PERIOD_S) -> "SerialForceAmplifier":
        """Open ``port`` and check that a myoforce force amplifier answers.

        DeviceNotFound if the port cannot be opened, ProtocolError if whatever answers is not
        this kind of device, DeviceTimeout if nothing answers. A device left streaming by an
        earlier session is stopped first."""
        transport = SerialTransport.open(port, timeout_s=timeout_s)
        try:
            return cls.from_transport(transport, timeout_s=timeout_s, on_command=on_command,
                                      read_period_s=read_period_s)
        except BaseException:
            transport.close()
            raise

    @classmethod
    def from_transport(cls, transport: SerialTransport, *, timeout_s: float = 1.0,
                       on_command: Callable[[str], None] | None = None,
                       read_period_s: float = READ_PERIOD_S) -> "SerialForceAmplifier":
        """Handshake over an already open transport: ``*IDN?``, ``RATE?``, ``CAL?``."""
        amp = cls(transport, timeout_s=timeout_s, on_command=on_command,
                  read_period_s=read_period_s)
        amp._ensure_command_mode()
        try:
            amp._identity = cmd.parse_identity(amp._query("*IDN?"))
        except InstrumentError as exc:
            raise ProtocolError(f"{amp.port} answered *IDN? with an error ({exc}): "
                                "not a myoforce force amplifier?") from exc
        except DeviceTimeout as exc:
            raise DeviceTimeout(f"nothing answered *IDN? on {amp.port} within {timeout_s:g} s: "
                                "is the amplifier switched on and connected?") from exc
        try:
            amp._rate = cmd.parse_rate(amp._query("RATE?"))
            amp._cal = cmd.parse_calibration(amp._query("CAL?"))
        except InstrumentError as exc:
            raise ProtocolError(f"{amp.port} ({amp._identity}) rejected a basic query ({exc}): "
                                "not a myoforce force amplifier?") from exc
        return amp

    def _ensure_command_mode(self) -> None:
        """A device in command mode never speaks unprompted; if this one does, it was left
        streaming: send STOP and wait for silence."""
        self._t.discard_input()
        if not self._t.read_chunk(CHUNK_BYTES, QUIET_S):
            return
        log.info("%s is sending data unprompted; sending STOP", self.port)
        self._send(cmd.format_command("STOP"))
        deadline = time.monotonic() + self._timeout_s
        while self._t.read_chunk(CHUNK_BYTES, QUIET_S):
            if time.monotonic() > deadline:
                raise ProtocolError(f"{self.port} keeps sending data after STOP: "
                                    "not a myoforce force amplifier?")

    # --------------------------------------------------------------- properties
    @property
    def port(self) -> str:
        return getattr(self._t, "url", "amplifier")

    @property
    def identity(self) -> str:
        return self._identity

    @property
    def sample_rate_hz(self) -> float:
        return float(self._rate)

    @property
    def calibration(self) -> Calibration:
        return self._cal

    @property
    def stats(self) -> StreamStats:
        """Counters of the present (or last) stream."""
        with self._state_lock:
            return self._stats

    @property
    def streaming(self) -> bool:
        return self._streaming

    # ----------------------------------------------------------------- commands
    def _send(self, line: bytes) -> None:
        if self._on_command is not None:
            self._on_command(line.decode("ascii").rstrip("\n"))
        self._t.write(line)

    def _dead_error(self) -> DeviceError:
        """A fresh copy of the error that killed the stream (re-raising one instance would
        pile up tracebacks)."""
        err = self._dead
        assert err is not None
        try:
            return type(err)(str(err))
        except TypeError:
            return DeviceError(str(err))

    def _check_idle(self) -> None:
        if self._closed:
            raise DeviceDisconnected(f"force amplifier on {self.port} is closed")
        if self._dead is not None:
            raise self._dead_error()
        if self._streaming:
            raise DeviceError(f"force amplifier on {self.port} is streaming: stop streaming first")

    def _query(self, keyword: str, *args: int | float, timeout_s: float | None = None) -> str:
        """Send one command and return the payload of its ``OK`` reply."""
        line = cmd.format_command(keyword, *args)
        text = line.decode("ascii").rstrip("\n")
        timeout = self._timeout_s if timeout_s is None else timeout_s
        with self._t.lock:
            self._check_idle()
            self._t.discard_input()  # a late reply to an earlier, timed-out command
            self._send(line)
            try:
                reply = self._t.read_line(timeout)
            except DeviceTimeout as exc:
                raise DeviceTimeout(f"no reply to {text!r} from {self.port} "
                                    f"within {timeout:g} s") from exc
        return cmd.parse_reply(reply, text)

    def configure(self, sample_rate_hz: int) -> None:
        """Set the sample rate (one of :data:`commands.RATES_HZ`); only while not streaming."""
        if isinstance(sample_rate_hz, bool) or int(sample_rate_hz) != sample_rate_hz:
            raise ValueError(f"sample rate must be an integer number of Hz, got {sample_rate_hz!r}")
        rate = int(sample_rate_hz)
        self._query("RATE", rate)
        self._rate = rate

    def tare(self, samples: int = 1000) -> Calibration:
        """Zero the force at the present load: the device averages ``samples`` samples (this
        takes samples / rate seconds) and stores the mean as the offset."""
        if isinstance(samples, bool) or int(samples) != samples:
            raise ValueError(f"tare needs an integer number of samples, got {samples!r}")
        samples = int(samples)
        payload = self._query("TARE", samples,
                              timeout_s=samples / max(self._rate, 1) + self._timeout_s)
        offset = cmd.parse_float(payload, "TARE")
        self._cal = Calibration(self._cal.scale_mN_per_count, offset)
        return self._cal

    def read_calibration(self) -> Calibration:
        """The calibration stored in the device (also becomes :attr:`calibration`)."""
        self._cal = cmd.parse_calibration(self._query("CAL?"))
        return self._cal

    def write_calibration(self, calibration: Calibration) -> None:
        """Store a calibration in the device (non-volatile) and use it from now on."""
        cmd.check_calibration(calibration)
        self._query("CAL", float(calibration.scale_mN_per_count), float(calibration.offset_counts))
        self._cal = calibration

    def full_scale_counts(self) -> int:
        return cmd.parse_int(self._query("FS?"), "FS?")

    def status(self) -> dict:
        """``{'state': 'idle', 'rate': 10000, 'overflows': 0}`` from ``STAT?``."""
        return cmd.parse_status(self._query("STAT?"))

    def read_errors(self, limit: int = 32) -> list[tuple[int, str]]:
        """Drain the device's asynchronous error queue (``ERR?`` until code 0)."""
        errors = []
        for _ in range(limit):
            code, message = cmd.parse_error(self._query("ERR?"))
            if code == 0:
                break
            errors.append((code, message))
        return errors

    # ------------------------------------------------------------ subscriptions
    def subscribe(self, sink: BlockSink) -> Callable[[], None]:
        return self._sinks.add(sink)

    def subscribe_notices(self, sink: NoticeSink) -> Callable[[], None]:
        return self._notice_sinks.add(sink)

    @property
    def notice_sink_errors(self) -> int:
        """Notice subscribers that raised, over the driver's life."""
        return self._notice_sinks.errors

    def _notify(self, kind: str, message: str, sample: int | None = None, count: int = 0) -> None:
        self._emit(StreamNotice(kind, message, sample, count))

    def _emit(self, notice: StreamNotice) -> None:
        log.debug("amplifier notice %s: %s", notice.kind, notice.message)
        self._notice_sinks.emit(notice)

    # ---------------------------------------------------------------- streaming
    def start(self) -> None:
        """Start streaming; sample indices restart at 0. Blocks go to subscribers."""
        with self._t.lock:
            self._check_idle()
            if self._reader is not None:
                self._reader.join(timeout=1.0)
            parser = FrameParser()
            cal, rate = self._cal, float(self._rate)
            self._t.discard_input()
            self._send(cmd.format_command("START"))
            try:
                reply = self._t.read_line(self._timeout_s)
            except DeviceTimeout as exc:
                raise DeviceTimeout(f"no reply to 'START' from {self.port} "
                                    f"within {self._timeout_s:g} s") from exc
            cmd.parse_reply(reply, "START")
            with self._state_lock:
                self._stats = StreamStats()
                self._next_index = 0
                self._started_at = time.monotonic()
                self._streaming = True
            # before the reader starts: subscribers (the recorder) learn that the stream
            # begins at sample 0 here, so samples lost right after START are a stream gap
            self._notify("started", f"stream started at {self._rate} Hz", sample=0)
            self._halt.clear()
            self._reader_done.clear()
            self._reader = threading.Thread(target=self._read_loop, args=(parser, cal, rate),
                                            name=f"amplifier-reader {self.port}", daemon=True)
            self._reader.start()

    def stop(self) -> None:
        """Stop streaming; returns once the end-of-stream frame has arrived (all samples
        before it delivered). Raises the stream's error if it died, DeviceTimeout if the end
        does not come within the timeout. A no-op when not streaming."""
        if self._reader is threading.current_thread():
            raise DeviceError("stop() called from a stream subscriber: subscribers must not "
                              "block; stop the stream from another thread")
        with self._t.lock:
            if self._closed:
                raise DeviceDisconnected(f"force amplifier on {self.port} is closed")
            if self._dead is not None:
                self._join_reader()
                raise self._dead_error()
            if not self._streaming:
                return
            try:
                self._send(cmd.format_command("STOP"))
            except DeviceError as exc:
                self._die(exc, "disconnected" if isinstance(exc, DeviceDisconnected) else "timeout")
                self._join_reader()
                raise
            finished, waited = self._wait_for_end()
            if self._dead is None and not finished:
                self._die(DeviceTimeout(f"no end-of-stream frame from {self.port} within "
                                        f"{waited:.3g} s of STOP"), "timeout")
            self._join_reader()
            if self._dead is not None:
                raise self._dead_error()

    def _wait_for_end(self) -> tuple[bool, float]:
        """Wait for the end-of-stream frame after STOP; (arrived, seconds waited): as long
        as :func:`~drivers.amplifier.pacing.stop_wait_s` allows for the device's backlog,
        ending early (as a timeout) only if no sample arrives for a whole timeout."""
        t0 = time.monotonic()
        with self._state_lock:
            received, started = self._next_index, self._started_at
        deadline = t0 + stop_wait_s(self._timeout_s, self._rate, t0 - started, received)
        last, last_progress = received, t0
        while not self._reader_done.wait(min(0.05, self._timeout_s)):
            now = time.monotonic()
            index = self._next_index
            if index != last:
                last, last_progress = index, now
            if now >= deadline or now - last_progress >= self._timeout_s:
                return self._reader_done.is_set(), now - t0
        return True, time.monotonic() - t0

    def collect(self, seconds: float) -> list[SampleBlock]:
        """Blocking helper (tests, CLI): the blocks of the next ``seconds`` of stream.

        Starts and stops the stream if it was not running (then the result is the whole
        stream, from sample 0 to the end-of-stream frame)."""
        blocks: list[SampleBlock] = []
        target = max(1, int(round(seconds * self._rate)))
        got = [0]
        enough = threading.Event()

        def sink(block: SampleBlock) -> None:
            blocks.append(block)
            got[0] += len(block)
            if got[0] >= target:
                enough.set()

        started_here = not self._streaming
        unsubscribe = self.subscribe(sink)
        try:
            if started_here:
                self.start()
            deadline = time.monotonic() + seconds + 2 * self._timeout_s + 1.0
            while not enough.wait(0.02):
                if self._dead is not None:
                    raise self._dead_error()
                if not self._streaming:
                    raise DeviceError(f"the stream on {self.port} ended before {seconds:g} s "
                                      "were collected")
                if time.monotonic() > deadline:
                    raise DeviceTimeout(f"{seconds:g} s of samples did not arrive from {self.port} "
                                        "in time")
            if started_here:
                self.stop()
        finally:
            unsubscribe()
        return blocks

    def _join_reader(self) -> None:
        reader = self._reader
        if reader is not None and reader is not threading.current_thread():
            self._halt.set()
            reader.join(timeout=2.0)

    def _die(self, error: DeviceError, kind: str) -> None:
        """The stream is dead: remember why, wake whoever waits, tell the subscribers once."""
        with self._state_lock:
            first = self._dead is None
            if first:
                self._dead = error
            self._streaming = False
        self._reader_done.set()
        if first:
            log.info("amplifier stream on %s died: %s", self.port, error)
            self._notify(kind, str(error), sample=self._next_index)

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
                        self._die(exc if isinstance(exc, (DeviceTimeout, DeviceDisconnected))
                                  else DeviceDisconnected(str(exc)), kind)
                    return
                now = time.monotonic()
                if not data:
                    if now - last_rx > self._timeout_s:
                        self._die(DeviceTimeout(
                            f"no data from {self.port} for {self._timeout_s:g} s while streaming: "
                            "the amplifier stalled"), "timeout")
                        return
                    continue
                last_rx = now
                result = parser.feed(data)
                self._deliver(result, cal, rate, parser.next_index)
                if result.end_of_stream:
                    self._t.unread(result.trailing)
                    end = result.end_index if result.end_index is not None else parser.next_index
                    self._notify("stopped", f"stream stopped after {end} samples",
                                 sample=end, count=end)
                    with self._state_lock:
                        self._streaming = False
                    self._reader_done.set()
                    return
        except Exception as exc:  # a bug here must still end the stream loudly
            log.exception("amplifier reader failed")
            self._die(DeviceError(f"amplifier reader failed: {exc!r}"), "disconnected")

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
            self._sinks.emit(block)

    def _sink_failed(self, exc: Exception, sample: int) -> None:
        self.sink_errors += 1
        self._sink_errors_unreported += 1
        now = time.monotonic()
        if now - self._last_sink_notice >= SINK_ERROR_NOTICE_INTERVAL_S:
            n, self._sink_errors_unreported = self._sink_errors_unreported, 0
            self._last_sink_notice = now
            self._notify("sink-error", f"a block subscriber raised {exc!r} "
                         f"({n} failure(s) since the last report); the stream goes on",
                         sample=sample, count=n)

    # ------------------------------------------------------------------ closing
    def close(self) -> None:
        """Stop a live stream, then release the port, whatever fails on the way."""
        if self._closed:
            return
        try:
            if self._streaming and self._dead is None:
                self.stop()
        finally:
            self._halt.set()
            self._join_reader()
            self._closed = True
            self._t.close()

    def __enter__(self) -> "SerialForceAmplifier":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SerialForceAmplifier({self.port!r}, {self._identity!r})"
