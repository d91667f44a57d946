"""The stimulator through the real stack: SimStimulatorServer on 127.0.0.1, pyvisa-py
``TCPIP0::127.0.0.1::PORT::SOCKET``, VisaTransport, ScpiStimulator, and the SimWorld the
burst lands in. The world runs on a hand-moved clock so pulse times are exact."""
from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest
import pyvisa

from drivers.capabilities import FLAG_TRIGGER_EDGE, StimulusSpec
from drivers.errors import DeviceDisconnected, DeviceNotFound, DeviceTimeout, InstrumentError
from drivers.limits import StimulusLimits
from drivers.stimulator import ScpiStimulator
from drivers.transports.visa import VisaTransport
from sim_devices.stimulator_device import DEFAULT_IDENTITY, SimStimulatorServer
from sim_devices.world import SimWorld

pytestmark = pytest.mark.timeout(60)

GAIN = 2.0  # mA/V, both in the driver and in the simulated isolator


class ManualClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class RecordingMuscle:
    """Remembers the delivered pulses the world hands to the muscle."""

    def __init__(self) -> None:
        self.pulse_t = np.zeros(0)
        self.current = np.zeros(0)
        self.width = np.zeros(0)

    def force(self, t, pulse_t, pulse_current_mA, pulse_width_ms, length_mm):
        self.pulse_t, self.current, self.width = (np.array(pulse_t), np.array(pulse_current_mA),
                                                  np.array(pulse_width_ms))
        return np.zeros_like(t)


@pytest.fixture
def rig():
    clock, muscle = ManualClock(), RecordingMuscle()
    world = SimWorld(muscle, clock=clock)
    server = SimStimulatorServer(world, isolator_gain_mA_per_V=GAIN)
    resource = server.start()
    opened: list[ScpiStimulator] = []

    def open_stim(**options) -> ScpiStimulator:
        options.setdefault("limits", StimulusLimits())
        options.setdefault("isolator_gain_mA_per_V", GAIN)
        options.setdefault("timeout_s", 1.0)
        stim = ScpiStimulator.open(resource, **options)
        opened.append(stim)
        return stim

    yield world, server, clock, muscle, open_stim, resource
    for stim in opened:
        stim.close()
    server.close()


def wait_until(condition, limit_s: float = 10.0) -> bool:
    """Poll a condition that another thread will make true (no timing is asserted)."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def delivered_pulses(world: SimWorld, muscle: RecordingMuscle, until_s: float):
    """Render the world up to ``until_s``; returns the trigger-edge times and the muscle's view."""
    rate = 10_000.0
    n = int(until_s * rate)
    _, flags = world.render(0.0, n, rate)
    edges = np.flatnonzero(flags & FLAG_TRIGGER_EDGE) / rate
    return edges, muscle


# ---------------------------------------------------------------------------- identity

def test_identity_through_the_visa_stack(rig):
    _, server, _, _, open_stim, _ = rig
    stim = open_stim()
    assert stim.identity == DEFAULT_IDENTITY
    assert stim.identification.model == "33521A-SIM"
    assert server.commands[:4] == ["*IDN?", "OUTP OFF", "*RST", "*CLS"]
    assert server.output_on is False
    assert server.state["load_ohm"] == float("inf")


def test_a_plain_pyvisa_client_gets_sensible_answers(rig):
    _, server, _, _, _, resource = rig
    rm = pyvisa.ResourceManager("@py")
    inst = rm.open_resource(resource, read_termination="\n", write_termination="\n",
                            timeout=2000)
    try:
        assert inst.query("*IDN?") == DEFAULT_IDENTITY
        assert inst.query("*idn?") == DEFAULT_IDENTITY
        inst.write("source:frequency 123.5")
        assert float(inst.query("FREQ?")) == 123.5
        inst.write("FUNC:PULS:WIDT 200us")
        assert float(inst.query("sour1:func:puls:widt?")) == pytest.approx(2e-4)
        inst.write("BURSt:NCYCles 7")
        assert float(inst.query("BURS:NCYC?")) == 7
        inst.write("OUTP:LOAD INF")
        inst.write("VOLT:HIGH 2.5")
        assert float(inst.query("VOLTage:HIGH?")) == 2.5
        assert inst.query("OUTP?") == "0"
        assert inst.query("*IDN?;*OPC?") == DEFAULT_IDENTITY + ";1"
        inst.write("FROBnicate 1")
        assert inst.query("SYST:ERR?") == '-113,"Undefined header"'
        assert inst.query("SYST:ERR?") == '+0,"No error"'
    finally:
        inst.close()


def test_a_new_client_can_connect_after_a_disconnect(rig):
    _, server, _, _, open_stim, _ = rig
    first = open_stim()
    first.close()
    second = open_stim()
    assert second.identity == DEFAULT_IDENTITY
    assert server.commands.count("*IDN?") == 2


def test_server_binds_loopback_only(rig):
    world, server, *_ = rig
    host, port = server.address
    assert host == "127.0.0.1" and port > 0
    assert server.resource == f"TCPIP0::127.0.0.1::{port}::SOCKET"
    with pytest.raises(ValueError, match="loopback"):
        SimStimulatorServer(world, host="0.0.0.0")


def test_opening_a_port_nobody_listens_on_is_device_not_found():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DeviceNotFound):
        VisaTransport.open(f"TCPIP0::127.0.0.1::{port}::SOCKET", 0.5)


# ---------------------------------------------------------------------------- transport

def test_unopenable_resources_are_device_not_found():
    for resource in ("nonsense", "ASRL/dev/myoforce-no-such-port::INSTR"):
        with pytest.raises(DeviceNotFound):
            VisaTransport.open(resource, 0.5)


class _FailingResource:
    """A pyvisa resource stand-in whose reads and writes raise what it is given."""

    def __init__(self, on_write=None, on_read=None) -> None:
        self.on_write, self.on_read, self.timeout, self.closed = on_write, on_read, 1000, False

    def write(self, command):
        if self.on_write:
            raise self.on_write

    def read(self):
        if self.on_read:
            raise self.on_read
        return "ok\n"

    def close(self):
        self.closed = True


@pytest.mark.parametrize("on_write, on_read, expected", [
    (None, pyvisa.errors.VisaIOError(pyvisa.constants.StatusCode.error_timeout), DeviceTimeout),
    (None, pyvisa.errors.VisaIOError(pyvisa.constants.StatusCode.error_connection_lost),
     DeviceDisconnected),
    (ConnectionResetError(104, "reset"), None, DeviceDisconnected),
    (BrokenPipeError(32, "pipe"), None, DeviceDisconnected),
    (pyvisa.errors.VisaIOError(pyvisa.constants.StatusCode.error_resource_not_found), None,
     DeviceNotFound),
])
def test_transport_maps_visa_failures_to_typed_errors(on_write, on_read, expected):
    transport = VisaTransport(_FailingResource(on_write, on_read), "FAKE::INSTR", 1.0)
    with pytest.raises(expected):
        transport.query("*IDN?", timeout_s=0.2)


def test_transport_query_restores_the_timeout_and_strips_the_terminator():
    resource = _FailingResource()
    transport = VisaTransport(resource, "FAKE::INSTR", 1.0)
    assert transport.query("*IDN?", timeout_s=5.0) == "ok"
    assert resource.timeout == 1000
    transport.close()
    assert resource.closed and not transport.is_open
    with pytest.raises(DeviceDisconnected):
        transport.write("OUTP OFF")


# ---------------------------------------------------------------------------- stimuli

def test_a_train_schedules_exactly_the_right_pulses(rig):
    world, server, clock, muscle, open_stim, _ = rig
    stim = open_stim()
    spec = stim.train(3.6, 0.2, 150, 300)
    assert spec.pulses == 45
    assert server.state["volt_high"] == pytest.approx(1.8)   # 3.6 mA / 2 mA/V
    assert server.output_on
    assert world.pending_pulses() == 45
    clock.t += 1.0
    edges, seen = delivered_pulses(world, muscle, 0.5)
    assert len(seen.pulse_t) == 45
    assert np.allclose(np.diff(seen.pulse_t), 1 / 150)
    assert 0 <= seen.pulse_t[0] < 0.01                       # right after *TRG (world t=0)
    assert np.allclose(seen.current, 3.6) and np.allclose(seen.width, 0.2)
    assert len(edges) == 45                                  # Sync marks every pulse
    assert np.allclose(edges, np.ceil(seen.pulse_t * 10_000 - 1e-9) / 10_000)
    burst = server.bursts[-1]
    assert (burst.pulses, burst.delivered, burst.sync) == (45, True, True)


def test_a_twitch_is_one_pulse_at_the_programmed_current(rig):
    world, server, clock, muscle, open_stim, _ = rig
    stim = open_stim()
    stim.single_pulse(1.5, 0.1)
    clock.t += 1.0
    delivered_pulses(world, muscle, 0.5)
    assert len(muscle.pulse_t) == 1
    assert muscle.current[0] == pytest.approx(1.5) and muscle.width[0] == pytest.approx(0.1)


def test_trigger_with_output_off_marks_but_does_not_deliver(rig):
    world, server, clock, muscle, open_stim, _ = rig
    stim = open_stim()
    stim.configure(StimulusSpec(2.0, 0.2, 5, 100.0))
    assert server.output_on is False
    server.execute_line("*TRG")     # the Sync still fires with the main output off
    clock.t += 1.0
    edges, _ = delivered_pulses(world, muscle, 0.5)
    assert len(edges) == 5 and len(muscle.pulse_t) == 0
    assert server.bursts[-1].delivered is False


def test_width_and_frequency_orders_avoid_settings_conflicts(rig):
    _, server, _, _, open_stim, _ = rig
    stim = open_stim(limits=StimulusLimits(max_frequency_hz=1500.0))
    stim.configure(StimulusSpec(1.0, 0.1, 10, 1000.0))   # period 1 ms
    stim.configure(StimulusSpec(1.0, 1.0))               # width 1 ms: FREQ must go first
    stim.configure(StimulusSpec(1.0, 0.1, 10, 1000.0))   # and back: width first
    assert stim.read_errors() == []
    assert server.state["pulse_width_s"] == pytest.approx(1e-4)
    # the naive order on the same instrument state is refused, as on a 33500
    server.execute_line("FUNC:PULS:WIDT 0.001")
    assert server.error_queue == [(-221, "Settings conflict")]


def test_abort_mid_train_cancels_pending_pulses_and_leaves_output_off(rig):
    world, server, clock, muscle, open_stim, _ = rig
    stim = open_stim()
    stim.train(2.0, 0.2, 50, 1000)                       # 50 pulses, 20 ms apart
    first = server.bursts[-1].times_s[0]
    clock.t += first + 9.5 / 50                          # 10 pulses have happened
    stim.abort()
    assert server.output_on is False
    assert world.pending_pulses() == 0
    assert server.bursts[-1].cancelled == 40
    assert server.commands[-3:] == ["ABOR", "OUTP OFF", "OUTP?"]
    clock.t += 2.0
    delivered_pulses(world, muscle, 1.5)
    assert len(muscle.pulse_t) == 10


def test_abort_from_another_thread_while_a_query_is_stuck(rig):
    world, server, clock, muscle, open_stim, _ = rig
    stim = open_stim(timeout_s=1.0)
    stim.set_output(True)
    server.faults.stall = True
    stuck_at = len(server.commands)
    outcome: list[BaseException] = []

    def stuck():
        try:
            stim.read_errors()
        except BaseException as exc:  # noqa: BLE001
            outcome.append(exc)

    worker = threading.Thread(target=stuck)
    worker.start()
    assert wait_until(lambda: server.commands[stuck_at:] == ["SYST:ERR?"])
    stim.abort()                                          # must not wait for the stuck reply
    assert wait_until(lambda: not server.output_on)
    assert server.commands[stuck_at:stuck_at + 3] == ["SYST:ERR?", "ABOR", "OUTP OFF"]
    worker.join(10)
    assert isinstance(outcome[0], DeviceTimeout)
    server.faults.stall = False
    assert stim.read_errors() == []                       # replies are paired again


# ---------------------------------------------------------------------------- failures

def test_injected_instrument_error_surfaces_with_its_code_and_message(rig):
    _, server, _, _, open_stim, _ = rig
    stim = open_stim()
    stim.set_output(True)
    assert server.output_on
    server.faults.queue_error(-313, "Calibration memory lost")   # refuses the next command
    with pytest.raises(InstrumentError) as info:
        stim.configure(StimulusSpec(2.0, 0.2))
    assert (info.value.code, info.value.message) == (-313, "Calibration memory lost")
    assert wait_until(lambda: not server.output_on)
    assert stim.read_errors() == []


def test_a_value_the_instrument_refuses_is_an_instrument_error(rig):
    _, server, _, _, open_stim, _ = rig
    # limits that let 11 V through: the instrument itself refuses > 10 V into INF
    stim = open_stim(isolator_gain_mA_per_V=1.0, max_output_V=12.0,
                     limits=StimulusLimits(max_current_mA=20.0, max_charge_per_phase_uC=10.0))
    with pytest.raises(InstrumentError) as info:
        stim.single_pulse(11.0, 0.2)
    assert (info.value.code, info.value.message) == (-222, "Data out of range")
    assert server.output_on is False
    assert "OUTP ON" not in server.commands and server.bursts == []


def test_a_stalled_device_raises_device_timeout(rig):
    _, server, _, _, open_stim, _ = rig
    stim = open_stim(timeout_s=0.3)
    stim.set_output(True)
    server.faults.stall = True
    with pytest.raises(DeviceTimeout):
        stim.configure(StimulusSpec(2.0, 0.2))
    # the stalled device still executes commands: the driver's OUTP OFF got there
    assert wait_until(lambda: server.commands[-1] == "OUTP OFF")
    assert server.output_on is False
    stim.close()                                         # returns despite the silence
    assert wait_until(lambda: server.commands[-3:] == ["OUTP OFF", "ABOR", "OUTP?"])


def test_a_vanished_device_raises_and_abort_and_close_still_return(rig):
    _, server, _, _, open_stim, _ = rig
    stim = open_stim(timeout_s=0.5)
    server.faults.vanish()
    with pytest.raises((DeviceDisconnected, DeviceTimeout)):
        stim.read_errors()
    with pytest.raises((DeviceDisconnected, DeviceTimeout)):
        stim.configure(StimulusSpec(2.0, 0.2))
    stim.abort()
    stim.close()
    assert stim.closed
    with pytest.raises(DeviceNotFound):                  # and it is gone for new clients
        ScpiStimulator.open(server.resource, limits=StimulusLimits(), timeout_s=0.5)


def test_closing_always_switches_the_output_off(rig):
    _, server, _, _, open_stim, _ = rig
    stim = open_stim()
    stim.configure(StimulusSpec(2.0, 0.2, 20, 50.0))
    stim.fire()
    assert server.output_on
    stim.close()
    assert server.output_on is False
    last_on = max(i for i, c in enumerate(server.commands) if c == "OUTP ON")
    assert server.commands[last_on + 1:] == ["*TRG", "*OPC?", "SYST:ERR?",
                                             "OUTP OFF", "ABOR", "OUTP?"]


def test_context_manager_closes_with_output_off(rig):
    _, server, _, _, _, resource = rig
    with ScpiStimulator.open(resource, limits=StimulusLimits(), isolator_gain_mA_per_V=GAIN,
                             timeout_s=1.0) as stim:
        stim.set_output(True)
        assert server.output_on
    assert server.output_on is False and stim.closed


# ---------------------------------------------------------------------------- SCPI parser

@pytest.fixture
def sim():
    return SimStimulatorServer(SimWorld(clock=ManualClock()))   # not started: parser only


def test_parser_accepts_short_long_and_any_case(sim):
    sim.execute_line("SOURce:FUNCtion PULSe")
    sim.execute_line("func:puls:widt 0.0005")
    sim.execute_line(":FREQuency:CW 200")
    sim.execute_line("burs:ncycles 12")
    sim.execute_line("TRIGger:SEQuence:SOURce bus")
    sim.execute_line("OUTPut1:STATe ON")
    st = sim.state
    assert (st["function"], st["pulse_width_s"], st["frequency_hz"]) == ("PULS", 5e-4, 200.0)
    assert (st["burst_ncycles"], st["trigger_source"], st["output"]) == (12, "BUS", True)
    assert sim.execute_line("OUTP?") == "1"
    assert sim.execute_line("FREQ?") == "+2.000000000000000E+02"
    assert sim.error_queue == []


@pytest.mark.parametrize("line, error", [
    ("FROB 1", (-113, "Undefined header")),
    ("FREQ:BOGUS 1", (-113, "Undefined header")),
    ("FREQ 40E6", (-222, "Data out of range")),
    ("FREQ abc", (-102, "Syntax error")),
    ("FREQ", (-109, "Missing parameter")),
    ("*RST 1", (-108, "Parameter not allowed")),
    ("FUNC TRIANGLE", (-224, "Illegal parameter value")),
    ("FUNC:PULS:WIDT 0.002", (-221, "Settings conflict")),     # default period is 1 ms
    ("*TRG", (-211, "Trigger ignored")),                       # burst off after *RST
    ("VOLT:HIGH 6", (-222, "Data out of range")),              # 50 ohm load: 5 V max
])
def test_parser_errors(sim, line, error):
    before = sim.state
    assert sim.execute_line(line) is None
    assert sim.error_queue == [error]
    assert sim.state == before                                 # refused, not applied
    assert sim.execute_line("SYST:ERR?") == f'{error[0]:+d},"{error[1]}"'
    assert sim.execute_line("SYST:ERR?") == '+0,"No error"'


def test_high_z_load_allows_10_volts_and_no_more(sim):
    sim.execute_line("OUTP:LOAD INF")
    sim.execute_line("VOLT:LOW 0")
    sim.execute_line("VOLT:HIGH 10")
    assert float(sim.execute_line("VOLT:HIGH?")) == 10.0
    sim.execute_line("VOLT:HIGH 10.5")
    assert sim.error_queue == [(-222, "Data out of range")]


def test_error_queue_holds_20_and_marks_overflow(sim):
    for _ in range(25):
        sim.execute_line("NOPE")
    queue = sim.error_queue
    assert len(queue) == 20
    assert queue[:19] == [(-113, "Undefined header")] * 19 and queue[-1] == (-350, "Queue overflow")
    sim.execute_line("*CLS")
    assert sim.error_queue == []


def test_reset_restores_defaults_and_turns_output_off(sim):
    sim.execute_line("OUTP ON;FUNC PULS;FREQ 50")
    assert sim.output_on
    sim.execute_line("*RST")
    assert sim.output_on is False
    assert (sim.state["function"], sim.state["frequency_hz"]) == ("SIN", 1000.0)


# ---------------------------------------------------------------------------- late replies

@pytest.mark.parametrize("late_by_s", [0.35, 0.5, 0.8])
def test_a_late_reply_is_never_the_answer_to_a_later_query(rig, late_by_s):
    """OUTP? answered after the driver gave up: the session is reopened before the next
    query, so SYST:ERR? and OUTP? get their own answers, never the late '0'."""
    world, server, clock, muscle, open_stim, _ = rig
    stim = open_stim(timeout_s=0.3)
    server.faults.delay_replies(late_by_s)
    with pytest.raises(DeviceTimeout):
        stim.set_output(False)
    assert not stim.responsive
    time.sleep(max(0.0, late_by_s - 0.3) / 2)        # the late reply is (about to be) on its way
    assert stim.read_errors() == []                   # '+0,"No error"', not the late '0'
    stim.set_output(True)                             # OUTP? -> '1', not a late '0'
    assert server.output_on and stim.responsive
    stim.set_output(False)
    assert stim._t.resyncs == 1


def test_every_query_after_repeated_timeouts_gets_its_own_answer(rig):
    world, server, clock, muscle, open_stim, _ = rig
    stim = open_stim(timeout_s=0.2)
    for _ in range(3):
        server.faults.delay_replies(0.35)
        with pytest.raises(DeviceTimeout):
            stim.read_errors()
    time.sleep(0.4)                                   # the instrument is done being busy
    assert stim.identity == stim._query("*IDN?")
    assert stim.read_errors() == []


def test_a_stimulator_that_stops_answering_is_switched_off_without_waiting(rig):
    """Abort and close after the stimulator stopped answering: OUTP OFF is sent, OUTP? is
    asked once briefly, the switch-off is reported unconfirmed, and nothing waits for
    the full timeout again (the run ends within a second of the fault)."""
    world, server, clock, muscle, open_stim, _ = rig
    stim = open_stim(timeout_s=1.0)
    stim.set_output(True)
    server.faults.stall = True
    with pytest.raises(DeviceTimeout):
        stim.read_errors()
    started = time.monotonic()
    stim.abort()
    stim.close()
    took = time.monotonic() - started
    assert not server.output_on and stim.off_confirmed is False
    assert server.commands.count("OUTP?") <= 2        # asked once after the fault (plus its resync)
    print(f"abort + close after the fault: {took:.3f} s")
