"""Driver of the serial force amplifier (docs/wire-protocols.md, section 2).

Commands are a write and one reply line under the transport's lock; while streaming, a
reader thread owns the input and hands :class:`SampleBlock` s and :class:`StreamNotice` s
to subscribers. Nothing is dropped silently and no call hangs: a dead stream makes every
later call raise the error that killed it, promptly.

This module holds the device side: opening and the handshake, the command/query
exchange, START and STOP, closing. The stream side (the reader thread, the state it
shares with the commands under one lock, the subscribers) is
:class:`~drivers.amplifier.stream.AmplifierStream`; every command asks it whether the
stream is live or dead rather than keeping a second copy of that state. Other seams
have their own modules: the wire format (``frames.py``), the command grammar
(``commands.py``), the read pacing and the STOP allowance (``pacing.py``), what a
parsed chunk means for the counters and notices (``stream_report.py``), the transport
(``drivers.transports.serial_port``) and the subscriber list (``drivers.subscribers``).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from drivers.amplifier import commands as cmd
from drivers.amplifier.frames import FrameParser
from drivers.amplifier.pacing import READ_PERIOD_S
from drivers.amplifier.stream import CHUNK_BYTES, AmplifierStream
from drivers.capabilities import BlockSink, Calibration, NoticeSink, SampleBlock, StreamStats
from drivers.errors import DeviceDisconnected, DeviceError, DeviceTimeout, InstrumentError, ProtocolError
from drivers.transports.serial_port import SerialTransport

log = logging.getLogger(__name__)

#: Silence that proves a device is in command mode when the port is opened.
QUIET_S = 0.03


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
        self._on_command = on_command
        self._identity = ""
        self._rate = 0
        self._cal = Calibration(1.0, 0.0)
        self._closed = False
        self._stream = AmplifierStream(transport, self.port, timeout_s=self._timeout_s,
                                       read_period_s=max(0.0, float(read_period_s)))

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
        return self._stream.stats

    @property
    def streaming(self) -> bool:
        return self._stream.streaming

    @property
    def sink_errors(self) -> int:
        """Block subscribers that raised, over the driver's life."""
        return self._stream.sink_errors

    # ----------------------------------------------------------------- commands
    def _send(self, line: bytes) -> None:
        if self._on_command is not None:
            self._on_command(line.decode("ascii").rstrip("\n"))
        self._t.write(line)

    def _check_idle(self) -> None:
        if self._closed:
            raise DeviceDisconnected(f"force amplifier on {self.port} is closed")
        if self._stream.dead is not None:
            raise self._stream.dead_error()
        if self._stream.streaming:
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
        return self._stream.sinks.add(sink)

    def subscribe_notices(self, sink: NoticeSink) -> Callable[[], None]:
        return self._stream.notice_sinks.add(sink)

    @property
    def notice_sink_errors(self) -> int:
        """Notice subscribers that raised, over the driver's life."""
        return self._stream.notice_sinks.errors

    # ---------------------------------------------------------------- streaming
    def start(self) -> None:
        """Start streaming; sample indices restart at 0. Blocks go to subscribers."""
        with self._t.lock:
            self._check_idle()
            self._stream.join_previous()
            parser = FrameParser()
            cal, rate = self._cal, self._rate
            self._t.discard_input()
            self._send(cmd.format_command("START"))
            try:
                reply = self._t.read_line(self._timeout_s)
            except DeviceTimeout as exc:
                raise DeviceTimeout(f"no reply to 'START' from {self.port} "
                                    f"within {self._timeout_s:g} s") from exc
            cmd.parse_reply(reply, "START")
            self._stream.begin(parser, cal, rate)

    def stop(self) -> None:
        """Stop streaming; returns once the end-of-stream frame has arrived (all samples
        before it delivered). Raises the stream's error if it died, DeviceTimeout if the end
        does not come within the timeout. A no-op when not streaming."""
        stream = self._stream
        if stream.on_reader_thread():
            raise DeviceError("stop() called from a stream subscriber: subscribers must not "
                              "block; stop the stream from another thread")
        with self._t.lock:
            if self._closed:
                raise DeviceDisconnected(f"force amplifier on {self.port} is closed")
            if stream.dead is not None:
                stream.join()
                raise stream.dead_error()
            if not stream.streaming:
                return
            try:
                self._send(cmd.format_command("STOP"))
            except DeviceError as exc:
                stream.die(exc, "disconnected" if isinstance(exc, DeviceDisconnected) else "timeout")
                stream.join()
                raise
            finished, waited = stream.wait_for_end(self._rate)
            if stream.dead is None and not finished:
                stream.die(DeviceTimeout(f"no end-of-stream frame from {self.port} within "
                                         f"{waited:.3g} s of STOP"), "timeout")
            stream.join()
            if stream.dead is not None:
                raise stream.dead_error()

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

        started_here = not self._stream.streaming
        unsubscribe = self.subscribe(sink)
        try:
            if started_here:
                self.start()
            deadline = time.monotonic() + seconds + 2 * self._timeout_s + 1.0
            while not enough.wait(0.02):
                if self._stream.dead is not None:
                    raise self._stream.dead_error()
                if not self._stream.streaming:
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

    # ------------------------------------------------------------------ closing
    def close(self) -> None:
        """Stop a live stream, then release the port, whatever fails on the way."""
        if self._closed:
            return
        try:
            if self._stream.streaming and self._stream.dead is None:
                self.stop()
        finally:
            self._stream.halt()
            self._closed = True
            self._t.close()

    def __enter__(self) -> "SerialForceAmplifier":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SerialForceAmplifier({self.port!r}, {self._identity!r})"
