"""A simulated NI board: the simulated world rendered on the board's sample clock.

:class:`SimDaqBackend` implements :class:`drivers.daq.backend.DaqBackend` for the DAQ
force source and stimulator, so everything above the thin nidaqmx layer runs without a
board. It behaves like one where it matters:

* samples become available in real time at the sample rate (``clock``), and a reader
  that falls more than the buffer behind gets :class:`~drivers.errors.BufferOverrun`,
  as NI-DAQmx raises -200279; an output the host stops feeding runs dry the same way;
* analog output samples written ahead are turned into pulses in the world at the exact
  instant of their sample (volts x isolator gain = mA), so the muscle twitches on the
  board's clock;
* the force channel is the muscle's force in volts through the rig file's scale and
  offset; a monitor channel carries the stimulator's sync (5 V while a pulse is on);
  auxiliary channels render something plausible by name (``emg``: an M-wave after each
  pulse; ``length``: the muscle length; ``temp``: 37 degC; otherwise noise);
* faults can be injected (:meth:`inject`: 'overrun', 'vanish', 'timeout') and an
  analog output can be in use by another backend on the same simulated device.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

import numpy as np

from drivers.capabilities import FLAG_TRIGGER_LEVEL
from drivers.daq.plan import DaqPlan, DeviceInfo
from drivers.errors import (BufferOverrun, ConfigurationError, DeviceDisconnected, DeviceError,
                            DeviceTimeout)

#: analog outputs reserved by live simulated backends: (device, channel)
_RESERVED: set[tuple[str, str]] = set()
_RESERVED_LOCK = threading.Lock()

SYNC_V = 5.0


def sim_device(name: str = "SimDev1") -> DeviceInfo:
    """The simulated board's datasheet (modelled on an NI USB-6363: 32 AI, 4 AO,
    2 MS/s single channel, 1 MS/s aggregate, +-0.1 to +-10 V)."""
    return DeviceInfo(
        name=name, product="USB-6363 (simulated)",
        ai_channels=tuple(f"{name}/ai{i}" for i in range(32)),
        ao_channels=tuple(f"{name}/ao{i}" for i in range(4)),
        ai_ranges_V=(0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0), ao_ranges_V=(5.0, 10.0),
        ai_max_single_rate_hz=2e6, ai_max_multi_rate_hz=1e6, ao_max_rate_hz=2.86e6,
        serial_number="5111111", simulated=True)


class SimDaqBackend:
    """One simulated board observing and driving a :class:`~sim_devices.world.SimWorld`."""

    def __init__(self, world, *, gain_mA_per_V: float = 1.0, device: str = "SimDev1",
                 seed: int | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.world = world
        self.gain = float(gain_mA_per_V)
        self.info = sim_device(device)
        self._rng = np.random.default_rng(seed)
        self._clock = clock
        self._plan: DaqPlan | None = None
        self._reserved: tuple[str, str] | None = None
        self._fault: str | None = None
        self._lock = threading.Lock()
        self._running = False
        self._ao_running = False
        self._t_start = 0.0
        self._world_t0 = 0.0
        self._read = 0           # next input sample
        self._ao_written = 0     # next output sample
        self._ao_carry: tuple[int, float] | None = None   # a pulse still on at the chunk end
        self._ao_last = 0.0      # the last output value written (what the pin holds when stopped)
        self.ao_volts = 0.0      # the output pin now (tests check it is 0 after every stop)
        self._pulse_samples = np.zeros(0, dtype=np.int64)
        self.reads = 0
        #: CPU seconds spent rendering the simulated world (not the host's DAQ path)
        self.render_cpu_s = 0.0

    # ------------------------------------------------------------------ discovery
    def list_devices(self) -> list[DeviceInfo]:
        return [self.info]

    def device_info(self, device: str) -> DeviceInfo:
        if device != self.info.name:
            raise ConfigurationError("daq.device", f"no device {device!r} (the simulated board "
                                                   f"is {self.info.name})")
        return self.info

    def inject(self, fault: str) -> None:
        """Make the next read fail: 'overrun', 'vanish' (device removed) or 'timeout'."""
        self._fault = fault

    # ------------------------------------------------------------------ lifecycle
    def configure(self, plan: DaqPlan) -> None:
        self.close()
        self._plan = plan
        if plan.ao is not None:
            key = (plan.device, plan.qualified(plan.ao.physical))
            with _RESERVED_LOCK:
                if key in _RESERVED:
                    raise ConfigurationError(f"{plan.ao.field}.channel",
                                             f"{key[1]} is in use by another task or program")
                _RESERVED.add(key)
            self._reserved = key

    def start(self, ao_prefill: np.ndarray | None) -> None:
        if self._plan is None:
            raise DeviceError("the simulated board is not configured")
        self._read = 0
        self._ao_written = 0
        self._ao_carry = None
        self._pulse_samples = self._pulse_samples[:0]
        self._t_start = self._clock()
        self._world_t0 = self.world.now()
        self._running = True
        self._ao_running = self._plan.ao is not None and ao_prefill is not None
        if self._ao_running:
            self.write_ao(ao_prefill, 1.0)

    def _available(self) -> int:
        return int((self._clock() - self._t_start) * self._plan.sample_rate_hz)

    def read(self, out: np.ndarray, timeout_s: float) -> None:
        plan = self._plan
        n = out.shape[1]
        self._raise_fault()
        if not self._running:
            raise DeviceError("the simulated acquisition is not running")
        need = self._read + n
        deadline = time.monotonic() + timeout_s
        while (have := self._available()) < need:
            if time.monotonic() >= deadline:
                raise DeviceTimeout(f"DAQ timeout: {n} samples not available within {timeout_s:g} s")
            time.sleep(min(0.05, (need - have) / plan.sample_rate_hz + 0.0005))
            self._raise_fault()
        if have - self._read > plan.buffer_samples:
            raise BufferOverrun(f"DAQ buffer overrun: the reader fell {have - self._read} samples "
                                f"behind (buffer {plan.buffer_samples}); samples were lost")
        if self._ao_running and self._ao_written < need:
            raise BufferOverrun("DAQ buffer overrun: the analog output ran dry (the host did not "
                                "write ahead in time)")
        t0 = time.thread_time()
        self._render(out, self._read, n)
        self.render_cpu_s += time.thread_time() - t0     # the simulated board's own cost
        self._read = need
        self.reads += 1

    def _raise_fault(self) -> None:
        fault, self._fault = self._fault, None
        if fault == "overrun":
            raise BufferOverrun("DAQ buffer overrun: samples were overwritten before they were read")
        if fault == "vanish":
            self._running = False
            self.ao_volts = 0.0       # a removed board drives nothing
            raise DeviceDisconnected("the DAQ board is gone (device removed)")
        if fault == "timeout":
            raise DeviceTimeout("DAQ timeout: no samples")

    # ------------------------------------------------------------------ rendering
    def _render(self, out: np.ndarray, k0: int, n: int) -> None:
        plan = self._plan
        rate = plan.sample_rate_hz
        force_mN, flags = self.world.render(self._world_t0 + k0 / rate, n, rate)
        f = plan.force
        np.divide(force_mN, f.scale, out=out[0])
        out[0] += f.offset_V
        for i, ch in enumerate(plan.channels[1:], start=1):
            if i == plan.monitor:
                np.multiply((flags & FLAG_TRIGGER_LEVEL) != 0, SYNC_V, out=out[i])
            else:
                self._render_aux(out[i], ch, k0, n, flags)
        for i, ch in enumerate(plan.channels):
            np.clip(out[i], -ch.range_V, ch.range_V, out=out[i])   # the ADC saturates

    def _render_aux(self, row: np.ndarray, ch, k0: int, n: int, flags: np.ndarray) -> None:
        name = ch.name.lower()
        rate = self._plan.sample_rate_hz
        if "emg" in name:
            value = self._m_waves(k0, n, rate) * 5.0          # mV at the electrode
        elif "length" in name:
            value = np.full(n, self.world.length_mm)
        elif "temp" in name:
            value = np.full(n, 37.0)
        elif "current" in name or "stim" in name:
            value = ((flags & FLAG_TRIGGER_LEVEL) != 0) * (self._ao_last_current())
        else:
            value = np.zeros(n)
        row[:] = value / ch.scale + ch.offset_V
        row += self._rng.standard_normal(n) * 2e-5     # 20 uV of input noise

    def _m_waves(self, k0: int, n: int, rate: float) -> np.ndarray:
        """A biphasic compound action potential 2 ms after each pulse (unit amplitude)."""
        length = max(2, int(0.01 * rate))
        t = (np.arange(length) / rate - 0.002) / 0.0005
        wavelet = -t * np.exp(0.5 - 0.5 * t * t)      # peak 1 at t = +-1
        p = self._pulse_samples
        p = p[(p >= k0 - length) & (p < k0 + n)] - (k0 - length)
        impulses = np.zeros(n + length)
        impulses[p] = 1.0
        return np.convolve(impulses, wavelet)[length:length + n]

    def _ao_last_current(self) -> float:
        return abs(self._ao_last) * self.gain if self._ao_last else self._last_pulse_mA

    _last_pulse_mA = 0.0

    # ------------------------------------------------------------------ output
    def write_ao(self, volts: np.ndarray, timeout_s: float) -> None:
        with self._lock:
            if not self._ao_running:
                return
            v = np.asarray(volts, dtype=np.float64)
            w0 = self._ao_written
            self._ao_written += v.shape[0]
            if v.shape[0]:
                self._ao_last = float(v[-1])
                self.ao_volts = self._ao_last
            self._pulses_from(v, w0)

    def _pulses_from(self, v: np.ndarray, w0: int) -> None:
        """Runs of non-zero output -> pulses in the world at their samples' instants. A run
        still on at the end of the chunk is carried to the next write."""
        if v.shape[0] == 0:
            return
        on = v != 0
        carry = self._ao_carry
        edges = np.diff(np.concatenate([[carry is not None], on, [False]]).astype(np.int8))
        rel_starts = np.flatnonzero(edges == 1)
        starts = rel_starts + w0
        amps = np.abs(v[rel_starts])
        if carry is not None:
            starts = np.concatenate([[carry[0]], starts])
            amps = np.concatenate([[carry[1]], amps])
        ends = np.flatnonzero(edges == -1) + w0
        self._ao_carry = None
        if on[-1]:                                   # the last run goes on
            self._ao_carry = (int(starts[-1]), float(amps[-1]))
            starts, amps, ends = starts[:-1], amps[:-1], ends[:-1]
        if starts.size == 0:
            return
        rate = self._plan.sample_rate_hz
        currents = amps * self.gain
        self._last_pulse_mA = float(currents[-1])
        self.world.add_pulses(self._world_t0 + starts / rate, currents, (ends - starts) / rate * 1e3)
        self._pulse_samples = np.concatenate([self._pulse_samples[-1000:], starts.astype(np.int64)])

    def ao_zero(self) -> int | None:
        generated = None
        with self._lock:
            if self._ao_running and self._plan is not None:
                # samples not yet generated never happen: the output stops now
                now = self._available() if self._running else self._read
                generated = min(now, self._ao_written)
                self.world.cancel_after(self._world_t0 + (generated - 0.5) / self._plan.sample_rate_hz)
            self._ao_running = False
            self._ao_carry = None
            self._ao_last = 0.0
            self.ao_volts = 0.0
        return generated

    def stop(self) -> None:
        self._running = False
        self.ao_zero()

    def close(self) -> None:
        self.stop()
        if self._reserved is not None:
            with _RESERVED_LOCK:
                _RESERVED.discard(self._reserved)
            self._reserved = None
