"""A recording double of the parts of the ``nidaqmx`` API that drivers/daq/nidaqmx_backend.py calls.

Every call is appended to ``NidaqmxDouble.calls`` as ``(task or object, method, args,
kwargs)`` so tests can check the exact sequence, as byte-exact tests do for the serial
and SCPI drivers. ``fail(method, code)`` makes the next call of that method raise a
``DaqError`` with an NI-DAQmx error code. The analog output pin is modelled
pessimistically: everything written to a running output is assumed generated, the pin
holds the last value when the task stops, and only an on-demand write changes it
otherwise, so ``pin_V`` says what the isolator would see after a fault.

Names and signatures follow nidaqmx 1.x (checked against its source); nothing here
imports nidaqmx.
"""
from __future__ import annotations

import enum
import time
from types import SimpleNamespace
from typing import Any

import numpy as np

from drivers.daq.nidaqmx_backend import NidaqmxApi


class Error(Exception):
    """nidaqmx.errors.Error"""


class DaqNotFoundError(Error):
    """nidaqmx.errors.DaqNotFoundError: the driver library is missing."""


class DaqError(Error):
    def __init__(self, message: str, error_code: int, task_name: str = "") -> None:
        super().__init__(f"{message}\n\nStatus Code: {error_code}")
        self.error_code = error_code


class TerminalConfiguration(enum.Enum):
    RSE = 10083
    NRSE = 10078
    DIFF = 10106
    PSEUDO_DIFF = 12529
    DEFAULT = -1


class AcquisitionType(enum.Enum):
    FINITE = 10178
    CONTINUOUS = 10123


class RegenerationMode(enum.Enum):
    ALLOW_REGENERATION = 10097
    DONT_ALLOW_REGENERATION = 10158


class TaskMode(enum.Enum):
    TASK_START = 0
    TASK_STOP = 1
    TASK_VERIFY = 2
    TASK_COMMIT = 3
    TASK_RESERVE = 4
    TASK_UNRESERVE = 5
    TASK_ABORT = 6


class _Recorder:
    """Attribute access yields recorded methods: ``obj.some_method(...)``."""

    def __init__(self, double: "NidaqmxDouble", who: str) -> None:
        self._double = double
        self._who = who

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)

        def method(*args, **kwargs):
            return self._double.record(self._who, name, args, kwargs)
        return method


class _OutStream:
    def __init__(self, double: "NidaqmxDouble", who: str) -> None:
        object.__setattr__(self, "_double", double)
        object.__setattr__(self, "_who", who)

    def __setattr__(self, name: str, value: Any) -> None:
        self._double.record(self._who, f"out_stream.{name}=", (value,), {})

    def __getattr__(self, name: str) -> Any:
        if name == "total_samp_per_chan_generated" and self._double.generated is not None:
            self._double.record(self._who, f"out_stream.{name}", (), {})
            return self._double.generated
        raise AttributeError(name)


class FakeTask:
    def __init__(self, double: "NidaqmxDouble", name: str) -> None:
        self.name = name
        self._double = double
        self.ai_channels = _Recorder(double, f"{name}.ai_channels")
        self.ao_channels = _Recorder(double, f"{name}.ao_channels")
        self.timing = _Recorder(double, f"{name}.timing")
        self.triggers = SimpleNamespace(start_trigger=_Recorder(double, f"{name}.start_trigger"))
        self.in_stream = SimpleNamespace(task=self)
        self.out_stream = _OutStream(double, name)
        object.__setattr__(self.out_stream, "task", self)
        self.running = False

    def control(self, mode):
        return self._double.record(self.name, "control", (mode,), {})

    def start(self):
        self._double.record(self.name, "start", (), {})
        self.running = True

    def stop(self):
        self._double.record(self.name, "stop", (), {})
        self.running = False

    def close(self):
        self._double.record(self.name, "close", (), {})
        self.running = False

    def write(self, data, auto_start=False):
        self._double.record(self.name, "write", (data,), {"auto_start": auto_start})
        self._double.pin_V = float(np.ravel(data)[-1])


class NidaqmxDouble:
    """The fake nidaqmx: build an :class:`NidaqmxApi` with :meth:`api`."""

    def __init__(self, device: str = "Dev1", *, ai: int = 8, ao: int = 2,
                 product: str = "PCIe-6321", driver: bool = True) -> None:
        self.calls: list[tuple[str, str, tuple, dict]] = []
        self.failures: dict[str, list[int]] = {}
        self.device = device
        self.ai = ai
        self.ao = ao
        self.product = product
        self.driver = driver
        self.pin_V = 0.0
        self.tasks: dict[str, FakeTask] = {}
        self.read_value = 0.5      # volts every read returns (force channel)
        self.read_delay_s = 0.0    # a read takes this long (a board delivering in real time)
        self.generated: int | None = None   # what out_stream.total_samp_per_chan_generated says

    # -------------------------------------------------------------- recording
    def fail(self, method: str, code: int) -> None:
        """The next call of ``method`` (e.g. 'read_many_sample', 'myoforce-ao.start') raises."""
        self.failures.setdefault(method, []).append(code)

    def record(self, who: str, method: str, args: tuple, kwargs: dict):
        self.calls.append((who, method, args, kwargs))
        for key in (f"{who}.{method}", method):
            if self.failures.get(key):
                code = self.failures[key].pop(0)
                raise DaqError(f"simulated NI-DAQmx error in {method}", code)
        return None

    def sequence(self, *, skip_reads: bool = False) -> list[str]:
        """The calls as 'who.method' strings."""
        return [f"{who}.{m}" for who, m, _, _ in self.calls
                if not (skip_reads and m in ("read_many_sample", "write_many_sample"))]

    def clear(self) -> None:
        self.calls.clear()

    # -------------------------------------------------------------- the API
    def api(self) -> NidaqmxApi:
        double = self

        def task(name: str = ""):
            if not double.driver:
                raise DaqNotFoundError("Could not find an installation of NI-DAQmx.")
            double.record("nidaqmx", "Task", (name,), {})
            t = FakeTask(double, name)
            double.tasks[name] = t
            return t

        class Reader:
            def __init__(self, in_stream):
                self.task = in_stream.task

            def read_many_sample(self, data, number_of_samples_per_channel=-1, timeout=10.0):
                double.record("reader", "read_many_sample", (data.shape,),
                              {"number_of_samples_per_channel": number_of_samples_per_channel,
                               "timeout": timeout})
                if double.read_delay_s:
                    time.sleep(double.read_delay_s)
                data[:] = 0.0
                data[0] = double.read_value
                return number_of_samples_per_channel

        class Writer:
            def __init__(self, out_stream, auto_start=False):
                self.task = out_stream.task
                double.record("writer", "__init__", (), {"auto_start": auto_start})

            def write_many_sample(self, data, timeout=10.0):
                double.record("writer", "write_many_sample", (np.array(data),), {"timeout": timeout})
                if len(data):
                    double.pin_V = float(data[-1])
                return len(data)

        class Device:
            def __init__(self, name):
                double.record("Device", "__init__", (name,), {})
                self._name = name

            def __getattr__(self, attr):
                if not double.driver:
                    raise DaqNotFoundError("Could not find an installation of NI-DAQmx.")
                if self._name != double.device:
                    raise DaqError("Device identifier is invalid.", -200220)
                d = double.device
                values = {
                    "product_type": double.product,
                    "ai_physical_chans": SimpleNamespace(
                        channel_names=[f"{d}/ai{i}" for i in range(double.ai)]),
                    "ao_physical_chans": SimpleNamespace(
                        channel_names=[f"{d}/ao{i}" for i in range(double.ao)]),
                    "ai_voltage_rngs": [-0.2, 0.2, -1.0, 1.0, -5.0, 5.0, -10.0, 10.0],
                    "ao_voltage_rngs": [-10.0, 10.0],
                    "ai_max_single_chan_rate": 250000.0, "ai_max_multi_chan_rate": 250000.0,
                    "ao_max_rate": 900000.0, "ai_simultaneous_sampling_supported": False,
                    "serial_num": 0x1A2B3C, "is_simulated": False,
                }
                if attr not in values:
                    raise AttributeError(attr)
                return values[attr]

        class System:
            @staticmethod
            def local():
                if not double.driver:
                    raise DaqNotFoundError("Could not find an installation of NI-DAQmx.")
                return SimpleNamespace(devices=SimpleNamespace(device_names=[double.device]))

        constants = SimpleNamespace(TerminalConfiguration=TerminalConfiguration,
                                    AcquisitionType=AcquisitionType,
                                    RegenerationMode=RegenerationMode, TaskMode=TaskMode)
        return NidaqmxApi(Task=task, constants=constants, AnalogMultiChannelReader=Reader,
                          AnalogSingleChannelWriter=Writer, Error=Error, DaqError=DaqError,
                          DaqNotFoundError=DaqNotFoundError, System=System, Device=Device)
