"""The thin layer that calls NI's ``nidaqmx`` package: one board, AI + AO on one clock.

This is the only module that imports ``nidaqmx`` (an optional extra: ``pip install
'myoforce[daq]'``), and only when a backend is created, so the other rigs never need it.
It does nothing clever: each method is the short sequence of nidaqmx calls the
lifecycle step needs, and every library error is mapped to a typed error of
:mod:`drivers.errors` by :func:`map_error`. Tests drive it against a recording double
of the nidaqmx API (tests/nidaqmx_double.py) and check the exact call sequence.

Clocking: the analog output uses the input's sample clock (``/Dev1/ai/SampleClock``)
and start trigger (``/Dev1/ai/StartTrigger``), so output sample k is generated when
input sample k is taken; it runs continuously without regeneration, fed ahead by the
acquisition loop. Stopping it leaves the last value on the pin, so :meth:`ao_zero`
stops it, releases the channel and writes 0 V with a one-sample on-demand task.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from drivers.daq.plan import DaqPlan, DeviceInfo, symmetric_ranges
from drivers.errors import (BufferOverrun, ConfigurationError, DeviceDisconnected, DeviceError,
                            DeviceNotFound, DeviceTimeout, InstrumentError)

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'myoforce[daq]'"
DRIVER_HINT = ("the NI-DAQmx driver is not installed (the nidaqmx Python package is, but it "
               "finds no driver library): install NI-DAQmx from ni.com, or run "
               "'python -m nidaqmx installdriver'")

# NI-DAQmx error codes (nidaqmx.error_codes.DAQmxErrors), grouped by what they mean here
NO_DEVICE = {-200220, -200207, -88705, -201003, -200204}
REMOVED = {-200045, -50405, -88709}
OVERRUN = {-200279, -200010, -200290, -200018, -200016, -200621}
TIMEOUT = {-200284, -200560}
NO_CHANNEL = {-200170}
IN_USE = {-50103, -201105, -200022}
BAD_VALUE = {-200077, -200082, -200083, -200431}


@dataclass
class NidaqmxApi:
    """The parts of the nidaqmx package this module calls (a double replaces them in tests)."""

    Task: Any
    constants: Any
    AnalogMultiChannelReader: Any
    AnalogSingleChannelWriter: Any
    Error: Any            # nidaqmx.errors.Error: base of every nidaqmx exception
    DaqError: Any
    DaqNotFoundError: Any
    System: Any
    Device: Any


def load_api() -> NidaqmxApi:
    """Import nidaqmx; DeviceNotFound with the install hint when it is not installed."""
    try:
        import nidaqmx
        from nidaqmx import constants, errors
        from nidaqmx.stream_readers import AnalogMultiChannelReader
        from nidaqmx.stream_writers import AnalogSingleChannelWriter
        from nidaqmx.system import Device, System
    except ImportError:
        raise DeviceNotFound(f"the nidaqmx package is not installed: {INSTALL_HINT}") from None
    return NidaqmxApi(nidaqmx.Task, constants, AnalogMultiChannelReader, AnalogSingleChannelWriter,
                      errors.Error, errors.DaqError, errors.DaqNotFoundError, System, Device)


def map_error(exc: BaseException, api: NidaqmxApi, *, field: str = "daq",
              during: str = "") -> DeviceError:
    """The typed error an nidaqmx exception means. ``field`` names the rig-file field a
    configuration error is about; ``during`` says what was being done."""
    where = f" ({during})" if during else ""
    if isinstance(exc, api.DaqNotFoundError):
        return DeviceNotFound(DRIVER_HINT)
    code = getattr(exc, "error_code", None)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if code in NO_DEVICE:
        return DeviceNotFound(f"NI-DAQmx: {text}{where}")
    if code in REMOVED:
        return DeviceDisconnected(f"the DAQ board is gone: {text}{where}")
    if code in OVERRUN:
        return BufferOverrun(f"DAQ buffer overrun: {text}{where}")
    if code in TIMEOUT:
        return DeviceTimeout(f"DAQ timeout: {text}{where}")
    if code in NO_CHANNEL:
        return ConfigurationError(f"{field}.channel", f"no such channel on the board: {text}")
    if code in IN_USE:
        return ConfigurationError(f"{field}.channel", f"in use by another task or program: {text}")
    if code in BAD_VALUE:
        return ConfigurationError(field, f"the board refuses this value: {text}")
    return InstrumentError(int(code) if code is not None else 0, text, during or None)


class NidaqmxBackend:
    """:class:`drivers.daq.backend.DaqBackend` on a real (or NI-simulated) board."""

    def __init__(self, api: NidaqmxApi | None = None) -> None:
        self.api = api or load_api()
        self._plan: DaqPlan | None = None
        self._ai: Any = None
        self._ao: Any = None
        self._reader: Any = None
        self._writer: Any = None
        self._ao_lock = threading.Lock()
        self._ao_running = False

    def _call(self, fn, *args, field: str = "daq", during: str = "", **kwargs):
        try:
            return fn(*args, **kwargs)
        except self.api.Error as exc:
            raise map_error(exc, self.api, field=field, during=during) from exc

    # ------------------------------------------------------------------ discovery
    def list_devices(self) -> list[DeviceInfo]:
        system = self._call(self.api.System.local, during="listing devices")
        names = self._call(lambda: list(system.devices.device_names), during="listing devices")
        return [self.device_info(name) for name in names]

    def device_info(self, device: str) -> DeviceInfo:
        d = self.api.Device(device)

        def get():
            return DeviceInfo(
                name=device, product=str(d.product_type),
                ai_channels=tuple(d.ai_physical_chans.channel_names),
                ao_channels=tuple(d.ao_physical_chans.channel_names),
                ai_ranges_V=symmetric_ranges(d.ai_voltage_rngs),
                ao_ranges_V=symmetric_ranges(d.ao_voltage_rngs),
                ai_max_single_rate_hz=float(d.ai_max_single_chan_rate),
                ai_max_multi_rate_hz=float(d.ai_max_multi_chan_rate),
                ao_max_rate_hz=float(d.ao_max_rate) if d.ao_physical_chans.channel_names else 0.0,
                simultaneous=bool(d.ai_simultaneous_sampling_supported),
                serial_number=f"{int(d.serial_num):X}", simulated=bool(d.is_simulated))
        try:
            return get()
        except self.api.Error as exc:
            err = map_error(exc, self.api, field="daq.device", during=f"reading {device}")
            if isinstance(err, (DeviceNotFound, ConfigurationError)) \
                    and not isinstance(exc, self.api.DaqNotFoundError):
                raise ConfigurationError("daq.device", f"no NI-DAQmx device {device!r}") from exc
            raise err from exc

    # ------------------------------------------------------------------ lifecycle
    def configure(self, plan: DaqPlan) -> None:
        c = self.api.constants
        self.close()
        self._plan = plan
        try:
            self._ai = self._call(self.api.Task, "myoforce-ai", during="creating the input task")
            for ch in plan.channels:
                self._call(self._ai.ai_channels.add_ai_voltage_chan, plan.qualified(ch.physical),
                           name_to_assign_to_channel=ch.name,
                           terminal_config=getattr(c.TerminalConfiguration, ch.terminal.upper()),
                           min_val=-ch.range_V, max_val=ch.range_V, field=ch.field)
            self._call(self._ai.timing.cfg_samp_clk_timing, plan.sample_rate_hz,
                       sample_mode=c.AcquisitionType.CONTINUOUS,
                       samps_per_chan=plan.buffer_samples, field="daq.sample_rate_hz")
            self._reader = self.api.AnalogMultiChannelReader(self._ai.in_stream)
            if plan.ao is not None:
                self._configure_ao(plan)
            self._call(self._ai.control, c.TaskMode.TASK_COMMIT, field="daq.sample_rate_hz",
                       during="committing the input task")
        except BaseException:
            self.close()
            raise

    def _configure_ao(self, plan: DaqPlan) -> None:
        c = self.api.constants
        ao, dev = plan.ao, plan.device
        self._ao = self._call(self.api.Task, "myoforce-ao", during="creating the output task")
        self._call(self._ao.ao_channels.add_ao_voltage_chan, plan.qualified(ao.physical),
                   min_val=-ao.range_V, max_val=ao.range_V, field=ao.field)
        self._call(self._ao.timing.cfg_samp_clk_timing, plan.sample_rate_hz,
                   source=f"/{dev}/ai/SampleClock", sample_mode=c.AcquisitionType.CONTINUOUS,
                   samps_per_chan=plan.buffer_samples, field="daq.sample_rate_hz")
        self._ao.out_stream.regen_mode = c.RegenerationMode.DONT_ALLOW_REGENERATION
        self._call(self._ao.triggers.start_trigger.cfg_dig_edge_start_trig,
                   f"/{dev}/ai/StartTrigger", field=ao.field)
        self._writer = self.api.AnalogSingleChannelWriter(self._ao.out_stream, auto_start=False)
        # reserving now is what finds an output in use, before anything starts
        self._call(self._ao.control, c.TaskMode.TASK_RESERVE, field=ao.field,
                   during="reserving the analog output")

    def start(self, ao_prefill: np.ndarray | None) -> None:
        """With ``ao_prefill`` None only the input runs (a tare): nothing to feed."""
        if self._ao is not None and ao_prefill is not None:
            with self._ao_lock:
                prefill = ao_prefill
                self._call(self._writer.write_many_sample, np.ascontiguousarray(prefill, "f8"),
                           timeout=2.0, during="writing the analog output")
                self._call(self._ao.start, during="arming the analog output")
                self._ao_running = True
        try:
            self._call(self._ai.start, during="starting the acquisition")
        except BaseException:
            self.ao_zero()
            raise

    def read(self, out: np.ndarray, timeout_s: float) -> None:
        self._call(self._reader.read_many_sample, out,
                   number_of_samples_per_channel=out.shape[1], timeout=timeout_s,
                   during="reading samples")

    def write_ao(self, volts: np.ndarray, timeout_s: float) -> None:
        with self._ao_lock:
            if not self._ao_running:
                return          # the output was stopped (abort): nothing more goes out
            self._call(self._writer.write_many_sample, volts, timeout=timeout_s,
                       during="writing the analog output")

    def ao_zero(self) -> int | None:
        """Stop the output task, release its channel, write 0 V on demand. Returns the
        samples the output generated before it stopped (None if the board cannot say)."""
        if self._ao is None or self._plan is None or self._plan.ao is None:
            return None
        c, ao = self.api.constants, self._plan.ao
        generated = None
        with self._ao_lock:
            if self._ao_running:
                try:   # read before stopping: the stop freezes it, a restart resets it
                    generated = int(self._ao.out_stream.total_samp_per_chan_generated)
                except (self.api.Error, AttributeError, TypeError, ValueError):
                    generated = None
            self._ao_running = False
            for step in (self._ao.stop, lambda: self._ao.control(c.TaskMode.TASK_UNRESERVE)):
                try:
                    step()
                except self.api.Error as exc:
                    log.warning("stopping the analog output: %s", exc)
            zero = self._call(self.api.Task, "myoforce-ao-zero", during="setting the output to 0 V")
            try:
                self._call(zero.ao_channels.add_ao_voltage_chan, self._plan.qualified(ao.physical),
                           min_val=-ao.range_V, max_val=ao.range_V, field=ao.field)
                self._call(zero.write, 0.0, auto_start=True, during="setting the output to 0 V")
                self._call(zero.stop)
            finally:
                zero.close()
        return generated

    def stop(self) -> None:
        try:
            if self._ai is not None:
                self._call(self._ai.stop, during="stopping the acquisition")
        finally:
            self.ao_zero()

    def close(self) -> None:
        try:
            if self._ao is not None:
                self.ao_zero()
        finally:
            for task in (self._ai, self._ao):
                if task is not None:
                    try:
                        task.close()
                    except self.api.Error as exc:
                        log.warning("closing a DAQ task: %s", exc)
            self._ai = self._ao = self._reader = self._writer = None
