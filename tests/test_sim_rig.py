"""The simulated rig in-process: both devices reachable by plain clients at the addresses
the rig reports, and a stimulus sent to one shows up in the other's force stream."""
from __future__ import annotations

import os
import re
import socket
import threading
import time

import numpy as np
import pytest
import pyvisa
import serial

from drivers.capabilities import FLAG_TRIGGER_EDGE, StimulusSpec
from drivers.discovery import list_serial_ports, list_visa_resources
from drivers.limits import StimulusLimits
from sim_devices.muscle import TreatmentEffect, UnknownMuscleError
from sim_devices.rig import SimRig

RESOURCE = re.compile(r"^TCPIP0::127\.0\.0\.1::(\d+)::SOCKET$")


@pytest.fixture
def rig():
    r = SimRig.start("rat-edl", seed=1)
    yield r
    r.close()


def _visa_idn(resource: str) -> str:
    rm = pyvisa.ResourceManager("@py")
    inst = rm.open_resource(resource, read_termination="\n", write_termination="\n", timeout=3000)
    try:
        return inst.query("*IDN?").strip()
    finally:
        inst.close()


def _serial_idn(port: str) -> bytes:
    with serial.Serial(port, 921600, timeout=3) as s:
        s.reset_input_buffer()
        s.write(b"*IDN?\n")
        return s.readline()


def test_addresses_are_valid(rig):
    addresses = rig.addresses()
    assert set(addresses) == {"amplifier", "stimulator"}
    assert addresses["amplifier"] == rig.amplifier_port and os.path.exists(rig.amplifier_port)
    m = RESOURCE.match(addresses["stimulator"])
    assert m and addresses["stimulator"] == rig.stimulator_resource
    with socket.create_connection(("127.0.0.1", int(m.group(1))), timeout=2):
        pass
    assert rig.muscle.preset.name == "rat-edl"
    assert rig.world.length_mm == rig.muscle.preset.Lo_mm


def test_plain_clients_identify_both_devices(rig):
    idn = _visa_idn(rig.stimulator_resource)
    assert len(idn.split(",")) == 4, idn
    line = _serial_idn(rig.amplifier_port)
    assert line.startswith(b"OK ") and line.endswith(b"\n") and len(line.split(b",")) == 4


def test_close_is_idempotent_and_stops_both():
    r = SimRig.start("soleus", seed=2)
    port = int(RESOURCE.match(r.stimulator_resource).group(1))
    r.close()
    r.close()
    assert r.closed
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_context_manager_and_options():
    with SimRig.start("quadriceps", seed=3, treatment_effect=1.2, length_mm=35.0) as r:
        assert r.muscle.preset.name == "rat-quadriceps"
        assert r.muscle.treatment == TreatmentEffect(force=1.2)
        assert r.world.length_mm == 35.0
    assert r.closed


def test_unknown_muscle_starts_nothing():
    before = threading.active_count()
    with pytest.raises(UnknownMuscleError, match="rat-edl"):
        SimRig.start("frog-sartorius")
    assert threading.active_count() == before


def test_stimulus_through_the_drivers_appears_in_the_force_stream(rig):
    """The whole loop: ScpiStimulator -> SCPI server -> world -> amplifier -> driver."""
    from drivers.amplifier.driver import SerialForceAmplifier
    from drivers.stimulator.driver import ScpiStimulator

    amp = SerialForceAmplifier.open(rig.amplifier_port)
    stim = ScpiStimulator.open(rig.stimulator_resource, limits=StimulusLimits())
    blocks = []
    try:
        amp.configure(10_000)
        amp.subscribe(blocks.append)
        amp.start()
        stim.configure(StimulusSpec(current_mA=4.0, pulse_width_ms=0.2))
        time.sleep(0.05)
        stim.fire()
        time.sleep(0.25)
        stim.set_output(False)
        amp.stop()
    finally:
        stim.close()
        amp.close()
    force = np.concatenate([b.force_mN for b in blocks])
    edges = np.concatenate([b.trigger_samples() for b in blocks])
    flags = np.concatenate([b.flags for b in blocks])
    assert edges.size == 1 and (flags & FLAG_TRIGGER_EDGE).sum() == 1
    k = int(edges[0] - blocks[0].first_sample)
    baseline = float(np.median(force[:k]))
    twitch = force[k:] - baseline
    peak = int(np.argmax(twitch))
    assert 300 < twitch[peak] < 900            # rat EDL twitch, mN
    assert 8 <= peak / 10.0 <= 22              # time to peak, ms
    assert np.abs(force[: k - 1] - baseline).max() < 50


def test_discovery_never_hangs():
    ports = list_serial_ports()
    assert isinstance(ports, list) and all("device" in p for p in ports)
    t = time.monotonic()
    resources = list_visa_resources(timeout_s=0.01)
    assert resources == [] or all(isinstance(r, str) for r in resources)
    assert time.monotonic() - t < 1.0
    for thread in threading.enumerate():  # let the abandoned listing finish inside this test
        if thread.name == "visa-discovery":
            thread.join(10)
    assert all(isinstance(r, str) for r in list_visa_resources(timeout_s=10))
    assert list_visa_resources(backend="@no-such-backend") == []
