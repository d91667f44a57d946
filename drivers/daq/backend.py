"""The board, as the DAQ force source and stimulator see it: a small interface with two
implementations.

* :class:`drivers.daq.nidaqmx_backend.NidaqmxBackend` calls NI's ``nidaqmx`` package; it
  is kept thin (one nidaqmx call per step, errors mapped to typed errors) and is tested
  call by call against a recording double of the nidaqmx API.
* :class:`drivers.daq.sim_backend.SimDaqBackend` renders the simulated world on the
  board's sample clock; everything above the backend runs on it in tests and demos.

Lifecycle (ACQ4's DeviceTask): ``configure`` -> ``start`` -> ``read``/``write_ao`` ... ->
``stop`` (always) -> ``close``. Every method raises only :mod:`drivers.errors` types.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from drivers.daq.plan import DaqPlan, DeviceInfo


class DaqBackend(Protocol):
    """One board: an analog input task (all channels, one sample clock) and optionally an
    analog output task on the same clock and start trigger."""

    def list_devices(self) -> list[DeviceInfo]:
        """The boards present (DeviceNotFound when the driver itself is missing)."""

    def device_info(self, device: str) -> DeviceInfo:
        """What ``device`` can do; DeviceNotFound if there is no such board."""

    def configure(self, plan: DaqPlan) -> None:
        """Create the tasks and reserve the hardware; ConfigurationError (naming the rig-file
        field) if the board refuses. Nothing is generated."""

    def start(self, ao_prefill: np.ndarray | None) -> None:
        """Write ``ao_prefill`` (volts) to the output, arm it on the input's start trigger,
        start the input: both begin at sample 0 of one clock. ``None``: the input alone
        (a tare, with nothing to keep the output fed)."""

    def read(self, out: np.ndarray, timeout_s: float) -> None:
        """Fill ``out`` (float64, shape (channels, n)) with the next n samples of every channel, in volts."""

    def write_ao(self, volts: np.ndarray, timeout_s: float) -> None:
        """Append output samples (float64 volts) to the running output."""

    def ao_zero(self) -> int | None:
        """Stop the output now and drive it to 0 V. Safe from any thread; never raises for
        an output that is already off. Returns how many output samples were generated
        before it stopped (so pulses after that get no marker), or None if unknown."""

    def stop(self) -> None:
        """Stop input and output; the output ends at 0 V."""

    def close(self) -> None:
        """Output to 0 V, tasks released. Idempotent."""
