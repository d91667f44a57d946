"""The DAQ path against a real NI board or an NI-DAQmx simulated device (docs/daq-rig.md,
"Testing on a board").

Skipped unless the ``nidaqmx`` package, NI's driver and the device named by
``MYOFORCE_DAQ_DEVICE`` are all present. With ``MYOFORCE_DAQ_LOOPBACK=ai1`` (a real board
with AO0 wired to AI1) it also checks that the pulses arrive at the samples they were
generated at. Run::

    MYOFORCE_DAQ_DEVICE=Dev1 python -m pytest tests/test_daq_hardware.py -m daq_hardware -v
"""
from __future__ import annotations

import os
import time

import numpy as np
import pytest

from drivers.capabilities import StimulusSpec
from drivers.daq.plan import AiChannel, AoChannel, DaqPlan
from drivers.limits import StimulusLimits

pytestmark = pytest.mark.daq_hardware

DEVICE = os.environ.get("MYOFORCE_DAQ_DEVICE")
LOOPBACK = os.environ.get("MYOFORCE_DAQ_LOOPBACK")


@pytest.fixture(scope="module")
def backend():
    if not DEVICE:
        pytest.skip("MYOFORCE_DAQ_DEVICE is not set (no board to test on)")
    pytest.importorskip("nidaqmx")
    from drivers.daq.nidaqmx_backend import NidaqmxBackend
    from drivers.errors import DeviceError
    try:
        be = NidaqmxBackend()
        names = [d.name for d in be.list_devices()]
    except DeviceError as exc:
        pytest.skip(str(exc))
    if DEVICE not in names:
        pytest.skip(f"no NI-DAQmx device {DEVICE!r} (have: {', '.join(names) or 'none'})")
    return be


def _plan(monitor: str | None) -> DaqPlan:
    channels = [AiChannel("force", "ai0", "mN", 100.0, 0.0, 10.0, "default", "daq.force")]
    if monitor:
        channels.append(AiChannel("stimulus_monitor", monitor, "V", 1.0, 0.0, 10.0, "default",
                                  "daq.monitor"))
    return DaqPlan(device=DEVICE, sample_rate_hz=10000.0, channels=tuple(channels),
                   markers="monitor" if monitor else "ao", monitor=1 if monitor else None,
                   ao=AoChannel("ao0", 10.0))


def test_acquire_stimulate_and_stop_on_the_board(backend):
    from drivers.daq.force_source import DaqForceSource
    from drivers.daq.stimulator import DaqStimulator

    source = DaqForceSource(backend, _plan(LOOPBACK))
    stim = DaqStimulator(source, limits=StimulusLimits(), isolator_gain_mA_per_V=1.0,
                         max_output_V=5.0)
    blocks = []
    source.subscribe(blocks.append)
    source.tare(200)
    source.start()
    try:
        time.sleep(0.2)
        stim.configure(StimulusSpec(2.0, 0.2, 5, 100.0))
        stim.fire()
        time.sleep(0.5)
        stim.set_output(False)
    finally:
        stim.close()
        source.close()
    firsts = [b.first_sample for b in blocks]
    assert firsts == list(range(0, len(blocks) * source.plan.block_samples, source.plan.block_samples))
    flags = np.concatenate([b.flags for b in blocks])
    at = stim.fired_at[0]
    assert list(np.flatnonzero(flags & 1)) == [at + 100 * k for k in range(5)]


def test_a_missing_channel_is_refused_by_name(backend):
    from drivers.daq.force_source import DaqForceSource
    from drivers.errors import ConfigurationError

    plan = _plan(None)
    bad = DaqPlan(device=plan.device, sample_rate_hz=plan.sample_rate_hz,
                  channels=(AiChannel("force", "ai999", field="daq.force"),), ao=plan.ao)
    with pytest.raises(ConfigurationError, match=r"^daq\.force\.channel"):
        DaqForceSource(backend, bad)
