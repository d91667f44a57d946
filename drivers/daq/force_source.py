"""The DAQ force source: a :class:`~drivers.capabilities.ForceAmplifier` on an analog input.

One acquisition thread owns the board while streaming. Each turn of its loop reads the
next block of every channel into one preallocated array (the backend's stream reader),
tops the analog output up to ``lead`` samples ahead (:class:`AoSchedule`), converts
volts to mN and to the auxiliary channels' units with numpy, marks the stimulus
samples and hands one :class:`~drivers.capabilities.SampleBlock` to the subscribers:
the same blocks the recorder, runner and display take from the serial amplifier.

Stimulus markers are sample-exact either way the rig file chooses: ``ao`` marks the
samples where the board itself started each pulse (known before they were generated),
``monitor`` thresholds the stimulator's sync/monitor input with hysteresis.

Anything that ends the acquisition (buffer overrun, a board that vanished, a timeout)
drives the output to 0 V first, then is announced as a notice ('overrun',
'disconnected', 'timeout') that fails the run; blocks already delivered stay delivered.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import numpy as np

from drivers.capabilities import (FLAG_OVERRANGE, FLAG_TRIGGER_EDGE, FLAG_TRIGGER_LEVEL,
                                  BlockSink, Calibration, NoticeSink, SampleBlock, StreamNotice,
                                  StreamStats)
from drivers.daq.ao_schedule import AoSchedule
from drivers.daq.backend import DaqBackend
from drivers.daq.plan import DaqPlan, DeviceInfo, check_plan
from drivers.daq.signals import hysteresis_edges
from drivers.errors import BufferOverrun, DeviceError, DeviceTimeout
from drivers.subscribers import Subscribers

log = logging.getLogger(__name__)

#: a read waits this long beyond the block's own duration before it is a timeout
READ_SLACK_S = 2.0


class DaqForceSource:
    """Force (and auxiliary channels, and stimulus markers) from a DAQ board."""

    def __init__(self, backend: DaqBackend, plan: DaqPlan, *,
                 on_command: Callable[[str], None] | None = None) -> None:
        """Check ``plan`` against the board and configure it (ConfigurationError naming
        the rig-file field, before anything starts)."""
        self.backend = backend
        self.info: DeviceInfo = backend.device_info(plan.device)
        check_plan(plan, self.info)
        self.plan = plan
        self.schedule = AoSchedule()
        self._on_command = on_command
        force = plan.force
        self._cal = Calibration(force.scale, force.offset_V)
        self._sinks = Subscribers("DAQ block")
        self._notice_sinks = Subscribers("DAQ notice")
        self._stats = StreamStats()
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()
        self._streaming = False
        self._dead: DeviceError | None = None
        self._read_pos = 0
        self._ao_live = False
        self._closed = False
        backend.configure(plan)

    # ------------------------------------------------------------------ facts
    @property
    def identity(self) -> str:
        sim = ", simulated" if self.info.simulated else ""
        return f"NI-DAQmx {self.info.product} {self.info.name} (serial {self.info.serial_number}{sim})"

    @property
    def sample_rate_hz(self) -> float:
        return float(self.plan.sample_rate_hz)

    @property
    def calibration(self) -> Calibration:
        return self._cal

    @property
    def stats(self) -> StreamStats:
        return self._stats

    @property
    def streaming(self) -> bool:
        return self._streaming

    @property
    def read_position(self) -> int:
        """Input samples read so far in this acquisition."""
        return self._read_pos

    @property
    def ao_live(self) -> bool:
        """The analog output is running (armed on this acquisition's clock)."""
        return self._ao_live

    def aux_channels(self) -> list[dict]:
        """Name, unit and conversion of each auxiliary channel, in block ``aux`` row order."""
        return [{"name": c.name, "unit": c.unit, "scale": c.scale, "offset_V": c.offset_V,
                 "channel": self.plan.qualified(c.physical), "range_V": c.range_V,
                 "terminal": c.terminal} for c in self.plan.aux]

    # ------------------------------------------------------------------ configuration
    def configure(self, sample_rate_hz: int) -> None:
        """The rate is the rig file's ([daq] sample_rate_hz); another one is refused."""
        if float(sample_rate_hz) != self.sample_rate_hz:
            raise DeviceError(f"the DAQ rate is set in the rig file ([daq] sample_rate_hz = "
                              f"{self.sample_rate_hz:g}); {sample_rate_hz} Hz was asked for")

    def write_calibration(self, calibration: Calibration) -> None:
        self._cal = calibration

    def tare(self, samples: int = 1000) -> Calibration:
        """Zero the force at the present load: a short acquisition, mean volts as the offset."""
        if self._streaming:
            raise DeviceError("cannot tare while streaming")
        n = max(1, int(samples))
        buf = np.empty((len(self.plan.channels), n))
        self.backend.start(None)          # the input alone: no output to keep fed
        try:
            self.backend.read(buf, n / self.sample_rate_hz + READ_SLACK_S)
        finally:
            self.backend.stop()
        self._cal = Calibration(self._cal.scale_mN_per_count, float(buf[0].mean()))
        self._command(f"TARE offset {self._cal.offset_counts:.6g} V over {n} samples")
        return self._cal

    def _prefill(self) -> np.ndarray | None:
        self.schedule.reset()
        if self.plan.ao is None:
            return None
        return self.schedule.chunk(self.plan.lead_samples)

    def _command(self, text: str) -> None:
        call_hook(self._on_command, text)

    # ------------------------------------------------------------------ subscribers
    def subscribe(self, sink: BlockSink) -> Callable[[], None]:
        return self._sinks.add(sink)

    def subscribe_notices(self, sink: NoticeSink) -> Callable[[], None]:
        return self._notice_sinks.add(sink)

    def _notify(self, kind: str, message: str, sample: int | None = None, count: int = 0) -> None:
        self._notice_sinks.emit(StreamNotice(kind, message, sample, count))

    # ------------------------------------------------------------------ streaming
    def start(self) -> None:
        """Start input and output together at sample 0 of one clock."""
        if self._closed:
            raise DeviceError("the DAQ force source is closed")
        if self._streaming:
            return
        self._dead = None
        self._read_pos = 0
        self._stats = StreamStats()
        self.backend.start(self._prefill())
        self._ao_live = self.plan.ao is not None
        self._command(f"START {len(self.plan.channels)} channels at {self.sample_rate_hz:g} Hz")
        # before the loop starts: subscribers (the recorder) learn the stream begins at 0
        self._notify("started", f"acquisition started at {self.sample_rate_hz:g} Hz", sample=0)
        self._halt.clear()
        self._streaming = True
        self._thread = threading.Thread(target=self._loop, name="daq-acquisition", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the acquisition; the output ends at 0 V."""
        if not self._streaming and self._thread is None:
            return
        self._halt.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.plan.block_s + READ_SLACK_S + 1.0)
        self._streaming = False
        self._ao_live = False
        self.schedule.cancel()
        self.backend.stop()
        self._command(f"STOP after {self._read_pos} samples")
        if self._dead is None:
            self._notify("stopped", f"acquisition stopped after {self._read_pos} samples",
                         self._read_pos)

    def output_off(self) -> None:
        """Output to 0 V now (any thread): no more pulses in this acquisition. Pulses
        after the last generated output sample never happened and get no marker (if the
        board cannot say how far it got: none after the samples read so far)."""
        self.schedule.cancel()
        self._ao_live = False
        generated = self.backend.ao_zero()
        self.schedule.truncate(self._read_pos if generated is None else generated)

    def close(self) -> None:
        if self._closed:
            return
        try:
            self.stop()
        finally:
            self._closed = True
            self.backend.close()

    def _loop(self) -> None:
        plan = self.plan
        nch, n = len(plan.channels), plan.block_samples
        buf = np.empty((nch, n))                          # the stream reader fills this in place
        ranges = np.array([c.range_V for c in plan.channels])[:, None] * 0.999
        aux_idx = list(plan.aux_indices)
        aux_scale = np.array([c.scale for c in plan.aux], dtype=np.float64)[:, None]
        aux_off = np.array([c.offset_V for c in plan.aux], dtype=np.float64)[:, None]
        level = False
        high = plan.monitor_threshold_V + plan.monitor_hysteresis_V / 2
        low = plan.monitor_threshold_V - plan.monitor_hysteresis_V / 2
        timeout = plan.block_s + READ_SLACK_S
        try:
            while not self._halt.is_set():
                self.backend.read(buf, timeout)
                k0 = self._read_pos
                if self._ao_live:
                    self.backend.write_ao(self.schedule.chunk(k0 + n + plan.lead_samples), timeout)
                flags = np.zeros(n, dtype=np.uint8)
                if plan.markers == "ao":
                    self._mark_ao(flags, k0, n)
                else:
                    edges, lev, level = hysteresis_edges(buf[plan.monitor], high, low, level)
                    flags[lev] |= FLAG_TRIGGER_LEVEL
                    flags[edges] |= FLAG_TRIGGER_EDGE
                flags[(np.abs(buf[0]) >= ranges[0])] |= FLAG_OVERRANGE
                cal = self._cal
                force = ((buf[0] - cal.offset_counts) * cal.scale_mN_per_count).astype(np.float32)
                aux = ((buf[aux_idx] - aux_off) * aux_scale).astype(np.float32) if aux_idx else None
                self._read_pos = k0 + n
                self._deliver(SampleBlock(k0, force, flags, plan.sample_rate_hz, time.time(), aux))
        except DeviceError as exc:
            self._die(exc)
        except Exception as exc:   # never leave the output on because of a bug
            log.exception("DAQ acquisition loop failed")
            self._die(DeviceError(f"DAQ acquisition failed: {exc}"))

    def _mark_ao(self, flags: np.ndarray, k0: int, n: int) -> None:
        starts, ends = self.schedule.pulses_in(k0, k0 + n)
        for s, e in zip(starts - k0, ends - k0):
            flags[max(0, s):max(0, min(n, e))] |= FLAG_TRIGGER_LEVEL
        inside = starts[(starts >= k0) & (starts < k0 + n)] - k0
        flags[inside] |= FLAG_TRIGGER_EDGE

    def _deliver(self, block: SampleBlock) -> None:
        s = self._stats
        self._stats = StreamStats(s.samples + len(block), s.blocks + 1, s.gaps, s.lost_samples,
                                  s.checksum_errors, s.bytes_discarded, s.sink_overflows)
        self._sinks.emit(block)

    def _die(self, error: DeviceError) -> None:
        """Output off first, then tell everyone why the stream ended."""
        self._dead = error
        try:
            self.output_off()
        except Exception:
            log.exception("could not drive the DAQ output to 0 V")
        self._streaming = False
        kind = ("overrun" if isinstance(error, BufferOverrun) else
                "timeout" if isinstance(error, DeviceTimeout) else "disconnected")
        log.error("DAQ acquisition ended: %s", error)
        self._notify(kind, str(error), self._read_pos)


def call_hook(hook: Callable[[str], None] | None, text: str) -> None:
    """Tell the audit hook about a command; a failing hook never stops the board."""
    if hook is not None:
        try:
            hook(text)
        except Exception:
            log.exception("command hook failed")
