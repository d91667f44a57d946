"""The thin nidaqmx layer, call by call, against a recording double of the nidaqmx API.

Checks the exact sequence of nidaqmx calls for configure, start, read, stimulate, abort
and close; that library errors (device missing, buffer overflow, timeout, output in
use, driver missing) become the project's typed errors; and that every fault path
leaves the analog output at 0 V.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

from drivers.capabilities import StimulusSpec
from drivers.daq.force_source import DaqForceSource
from drivers.daq.nidaqmx_backend import NidaqmxBackend, map_error
from drivers.daq.plan import AiChannel, AoChannel, DaqPlan
from drivers.daq.stimulator import DaqStimulator
from drivers.errors import (BufferOverrun, ConfigurationError, DeviceDisconnected, DeviceNotFound,
                            DeviceTimeout, InstrumentError, LimitError)
from drivers.limits import StimulusLimits
from tests.nidaqmx_double import (AcquisitionType, DaqError, NidaqmxDouble, RegenerationMode,
                                  TaskMode, TerminalConfiguration)

RATE = 10000.0


def _plan(**kw) -> DaqPlan:
    channels = (AiChannel("force", "ai0", "mN", 100.0, 0.0, 10.0, "diff", "daq.force"),
                AiChannel("emg", "ai2", "mV", 1000.0, 0.0, 1.0, "rse", "daq.aux[0]"))
    base = dict(device="Dev1", sample_rate_hz=RATE, channels=channels,
                ao=AoChannel("ao0", 10.0), block_s=0.01, ao_lead_s=0.02, buffer_s=1.0)
    base.update(kw)
    return DaqPlan(**base)


@pytest.fixture
def double() -> NidaqmxDouble:
    return NidaqmxDouble()


def _backend(double: NidaqmxDouble) -> NidaqmxBackend:
    return NidaqmxBackend(api=double.api())


def test_configure_creates_ai_and_ao_on_one_clock_in_this_order(double):
    be = _backend(double)
    be.configure(_plan())
    assert double.sequence() == [
        "nidaqmx.Task", "myoforce-ai.ai_channels.add_ai_voltage_chan",
        "myoforce-ai.ai_channels.add_ai_voltage_chan", "myoforce-ai.timing.cfg_samp_clk_timing",
        "nidaqmx.Task", "myoforce-ao.ao_channels.add_ao_voltage_chan",
        "myoforce-ao.timing.cfg_samp_clk_timing", "myoforce-ao.out_stream.regen_mode=",
        "myoforce-ao.start_trigger.cfg_dig_edge_start_trig", "writer.__init__",
        "myoforce-ao.control", "myoforce-ai.control"]
    c = double.calls
    assert c[1][2] == ("Dev1/ai0",) and c[1][3] == {
        "name_to_assign_to_channel": "force", "terminal_config": TerminalConfiguration.DIFF,
        "min_val": -10.0, "max_val": 10.0}
    assert c[2][2] == ("Dev1/ai2",) and c[2][3]["terminal_config"] is TerminalConfiguration.RSE
    assert c[2][3]["min_val"] == -1.0
    assert c[3][2] == (RATE,) and c[3][3] == {"sample_mode": AcquisitionType.CONTINUOUS,
                                              "samps_per_chan": 10000}
    # the output: the input's sample clock and start trigger, no regeneration, reserved
    assert c[6][3]["source"] == "/Dev1/ai/SampleClock"
    assert c[7][2] == (RegenerationMode.DONT_ALLOW_REGENERATION,)
    assert c[8][2] == ("/Dev1/ai/StartTrigger",)
    assert c[9][3] == {"auto_start": False}
    assert c[10][2] == (TaskMode.TASK_RESERVE,)
    assert c[11][2] == (TaskMode.TASK_COMMIT,)


def test_start_read_write_stop_close_sequence(double):
    be = _backend(double)
    be.configure(_plan())
    double.clear()
    be.start(np.zeros(200))
    assert double.sequence() == ["writer.write_many_sample", "myoforce-ao.start", "myoforce-ai.start"]
    out = np.empty((2, 100))
    be.read(out, 1.0)
    assert double.calls[-1][3] == {"number_of_samples_per_channel": 100, "timeout": 1.0}
    assert np.all(out[0] == 0.5)
    be.write_ao(np.ones(100), 0.5)
    assert double.pin_V == 1.0
    double.clear()
    be.stop()
    assert double.sequence() == [
        "myoforce-ai.stop", "myoforce-ao.stop", "myoforce-ao.control", "nidaqmx.Task",
        "myoforce-ao-zero.ao_channels.add_ao_voltage_chan", "myoforce-ao-zero.write",
        "myoforce-ao-zero.stop", "myoforce-ao-zero.close"]
    assert double.calls[2][2] == (TaskMode.TASK_UNRESERVE,)
    assert double.calls[5][2] == (0.0,) and double.calls[5][3] == {"auto_start": True}
    assert double.pin_V == 0.0
    double.clear()
    be.write_ao(np.ones(10), 0.5)          # a stopped output takes nothing more
    assert double.calls == []
    be.close()
    assert double.sequence()[-2:] == ["myoforce-ai.close", "myoforce-ao.close"]
    assert double.pin_V == 0.0


@pytest.mark.parametrize("code, kind", [
    (-200279, BufferOverrun), (-200010, BufferOverrun), (-200290, BufferOverrun),
    (-200284, DeviceTimeout), (-200045, DeviceDisconnected), (-88709, DeviceDisconnected),
    (-200220, DeviceNotFound), (-201003, DeviceNotFound), (-12345, InstrumentError)])
def test_library_errors_are_mapped_to_typed_errors(double, code, kind):
    err = map_error(DaqError("boom", code), double.api(), during="reading")
    assert isinstance(err, kind)
    assert "boom" in str(err)


def test_driver_missing_is_device_not_found_saying_so(double):
    double.driver = False
    be = _backend(double)
    with pytest.raises(DeviceNotFound, match="NI-DAQmx driver is not installed"):
        be.list_devices()


@pytest.mark.parametrize("code, field", [(-200170, "daq.aux[0].channel"),
                                         (-200077, "daq.aux[0]")])
def test_channel_errors_name_the_rig_file_field(double, code, field):
    """The board refuses the second (auxiliary) channel: the message names its field."""
    be = _backend(double)
    seen = {"n": 0}
    record = double.record

    def refuse_second_channel(who, method, args, kwargs):
        if method == "add_ai_voltage_chan":
            seen["n"] += 1
            if seen["n"] == 2:
                raise DaqError("refused", code)
        return record(who, method, args, kwargs)
    double.record = refuse_second_channel
    with pytest.raises(ConfigurationError) as info:
        be.configure(_plan())
    assert str(info.value).startswith(field)
    assert "myoforce-ai.close" in double.sequence()     # nothing left reserved


def test_ao_in_use_is_refused_before_anything_starts(double):
    double.fail("myoforce-ao.control", -50103)
    be = _backend(double)
    with pytest.raises(ConfigurationError, match=r"^daq\.ao\.channel: in use"):
        be.configure(_plan())
    seq = double.sequence()
    assert not any(s.endswith(".start") or s.endswith("write_many_sample") for s in seq)
    assert "myoforce-ai.close" in seq and "myoforce-ao.close" in seq


def test_bad_rig_input_is_refused_from_the_device_properties(double):
    with pytest.raises(ConfigurationError, match=r"^daq\.aux\[0\]\.channel: Dev1/ai9 does not exist"):
        DaqForceSource(_backend(double), _plan(channels=(
            AiChannel("force", "ai0", field="daq.force"), AiChannel("emg", "ai9", field="daq.aux[0]"))))
    with pytest.raises(ConfigurationError, match=r"^daq\.force\.range_V: \+-20 V is not an input range"):
        DaqForceSource(_backend(double), _plan(channels=(AiChannel("force", "ai0", range_V=20.0,
                                                                   field="daq.force"),)))
    with pytest.raises(ConfigurationError, match=r"^daq\.sample_rate_hz: 200000 Hz on 2 channel"):
        DaqForceSource(_backend(double), _plan(sample_rate_hz=200000.0))
    with pytest.raises(ConfigurationError, match=r"^daq\.ao\.channel: Dev1/ao5"):
        DaqForceSource(_backend(double), _plan(ao=AoChannel("ao5")))
    with pytest.raises(ConfigurationError, match=r"^daq\.device: no NI-DAQmx device 'Dev7'"):
        DaqForceSource(_backend(double), _plan(device="Dev7"))
    assert not any(s.startswith("nidaqmx.Task") for s in double.sequence())


# ----------------------------------------------------------------- source + stimulator

def _rig(double, **kw):
    double.read_delay_s = 0.01
    source = DaqForceSource(_backend(double), _plan(**kw))
    stim = DaqStimulator(source, limits=StimulusLimits(), isolator_gain_mA_per_V=2.0,
                         max_output_V=10.0)
    return source, stim


def _writes(double) -> list[np.ndarray]:
    return [a[0] for who, m, a, _ in double.calls if m == "write_many_sample"]


def test_stimulate_writes_the_train_at_mA_over_gain_and_marks_its_samples(double):
    source, stim = _rig(double)
    blocks = []
    source.subscribe(blocks.append)
    source.start()
    try:
        stim.configure(StimulusSpec(3.0, 0.2, 3, 100.0))
        stim.fire()
        at = stim.fired_at[-1]
        deadline = time.monotonic() + 5
        while (not blocks or blocks[-1].end_sample < at + 300) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        source.stop()
    out = np.concatenate(_writes(double))
    assert set(np.unique(out)) == {0.0, 1.5}            # 3 mA / 2 mA/V
    assert list(np.flatnonzero(np.diff(np.r_[0.0, out]) > 0)) == [at, at + 100, at + 200]
    assert np.count_nonzero(out) == 6                    # 0.2 ms = 2 samples per pulse
    flags = np.concatenate([b.flags for b in blocks])
    assert list(np.flatnonzero(flags & 1)) == [at, at + 100, at + 200]
    assert double.pin_V == 0.0


def test_limit_refusal_writes_nothing(double):
    source, stim = _rig(double)
    source.start()
    try:
        before = len(_writes(double))
        with pytest.raises(LimitError, match="current 50 mA exceeds"):
            stim.configure(StimulusSpec(50.0, 0.2))
        with pytest.raises(LimitError, match="exceeds the stimulator maximum of 5 V"):
            DaqStimulator(source, limits=StimulusLimits(max_current_mA=100, max_charge_per_phase_uC=100),
                          isolator_gain_mA_per_V=1.0, max_output_V=5.0).configure(StimulusSpec(8.0, 0.2))
        with pytest.raises(LimitError, match="not a whole number of samples"):
            stim.configure(StimulusSpec(1.0, 0.05))
        time.sleep(0.05)
        assert all(not w.any() for w in _writes(double)[before:])
    finally:
        source.stop()


@pytest.mark.parametrize("code, kind, notice", [(-200279, BufferOverrun, "overrun"),
                                                (-200045, DeviceDisconnected, "disconnected"),
                                                (-200284, DeviceTimeout, "timeout")])
def test_read_faults_end_the_stream_with_output_at_zero(double, code, kind, notice):
    source, stim = _rig(double)
    notices = []
    source.subscribe_notices(lambda n: n.kind != "started" and notices.append(n))
    source.start()
    stim.configure(StimulusSpec(3.0, 1.0, 40, 50.0))       # a long train, still playing
    stim.fire()
    time.sleep(0.05)
    assert double.pin_V in (0.0, 1.5)
    double.fail("read_many_sample", code)
    deadline = time.monotonic() + 5
    while not notices and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [n.kind for n in notices] == [notice]
    assert double.pin_V == 0.0
    seq = double.sequence(skip_reads=True)
    assert seq[-3:] == ["myoforce-ao-zero.write", "myoforce-ao-zero.stop", "myoforce-ao-zero.close"]
    with pytest.raises(Exception, match="not running"):
        stim.fire()
    source.close()
    assert double.pin_V == 0.0


def test_abort_mid_train_stops_the_output_at_zero(double):
    source, stim = _rig(double)
    source.start()
    try:
        stim.configure(StimulusSpec(3.0, 1.0, 40, 50.0))
        stim.fire()
        time.sleep(0.05)
        double.clear()
        stim.abort()
        seq = double.sequence(skip_reads=True)
        assert seq[:2] == ["myoforce-ao.stop", "myoforce-ao.control"]
        assert "myoforce-ao-zero.write" in seq
        assert double.pin_V == 0.0
        n = len(_writes(double))
        time.sleep(0.05)
        assert len(_writes(double)) == n           # nothing more written after the abort
    finally:
        source.close()
    assert double.pin_V == 0.0


def test_output_write_failure_fails_the_stream_and_zeroes(double):
    source, stim = _rig(double)
    notices = []
    source.subscribe_notices(lambda n: n.kind != "started" and notices.append(n))
    source.start()
    stim.configure(StimulusSpec(3.0, 1.0, 40, 50.0))
    stim.fire()
    double.fail("write_many_sample", -200290)          # the output ran dry
    deadline = time.monotonic() + 5
    while not notices and time.monotonic() < deadline:
        time.sleep(0.01)
    assert notices and notices[0].kind == "overrun"
    assert double.pin_V == 0.0
    source.close()


def test_close_zeroes_and_releases_everything(double):
    source, stim = _rig(double)
    source.start()
    stim.configure(StimulusSpec(3.0, 0.2))
    stim.fire()
    stim.close()
    source.close()
    seq = double.sequence(skip_reads=True)
    assert seq[-2:] == ["myoforce-ai.close", "myoforce-ao.close"]
    assert double.pin_V == 0.0


def test_a_driverless_nidaqmx_is_one_plain_error_before_any_task(double):
    double.driver = False
    with pytest.raises(DeviceNotFound, match="NI-DAQmx driver is not installed"):
        DaqForceSource(_backend(double), _plan())
    assert not any(s == "nidaqmx.Task" for s in double.sequence())


def test_abort_mid_train_marks_only_the_pulses_the_board_generated(double):
    """The output stopped after ``total_samp_per_chan_generated`` samples: pulses the
    host had written beyond that never happened and get no marker."""
    source, stim = _rig(double)
    blocks = []
    source.subscribe(blocks.append)
    source.start()
    try:
        stim.configure(StimulusSpec(3.0, 0.2, 10, 100.0))       # pulses every 100 samples
        stim.fire()
        at = stim.fired_at[-1]
        deadline = time.monotonic() + 5
        while source.schedule.written < at + 450 and time.monotonic() < deadline:
            time.sleep(0.005)                     # pulses +0 .. +400 written to the board
        double.generated = at + 250               # ... but only +0, +100, +200 generated
        stim.abort()
        assert "myoforce-ao.out_stream.total_samp_per_chan_generated" in double.sequence()
        deadline = time.monotonic() + 5
        while (not blocks or blocks[-1].end_sample < at + 1200) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        source.close()
    flags = np.concatenate([b.flags for b in blocks])
    assert list(np.flatnonzero(flags & 1)) == [at, at + 100, at + 200]
    assert double.pin_V == 0.0


def test_tare_runs_the_input_alone_and_averages_volts(double):
    source = DaqForceSource(_backend(double), _plan())
    double.clear()
    double.read_value = 0.25
    cal = source.tare(5000)                      # longer than the output's lead: no output runs
    seq = double.sequence()
    assert "myoforce-ai.start" in seq and "myoforce-ao.start" not in seq
    assert "writer.write_many_sample" not in seq
    assert cal.offset_counts == pytest.approx(0.25) and cal.scale_mN_per_count == 100.0
    assert double.pin_V == 0.0
    source.close()


def test_devices_lists_ni_boards_or_says_plainly_what_is_missing(double, monkeypatch):
    import drivers.daq.nidaqmx_backend as backend_module
    from drivers.discovery import list_daq_devices

    monkeypatch.setattr(backend_module, "load_api", double.api)
    boards, problem = list_daq_devices()
    assert problem is None
    assert [(b["name"], b["product"], b["ai_channels"], b["ao_channels"]) for b in boards] == [
        ("Dev1", "PCIe-6321", 8, 2)]
    assert boards[0]["ai_ranges_V"] == [0.2, 1.0, 5.0, 10.0]
    double.driver = False
    boards, problem = list_daq_devices()
    assert boards == [] and "NI-DAQmx driver is not installed" in problem

    def no_package():
        raise DeviceNotFound("the nidaqmx package is not installed: pip install 'myoforce[daq]'")
    monkeypatch.setattr(backend_module, "load_api", no_package)
    assert list_daq_devices() == ([], "the nidaqmx package is not installed: pip install 'myoforce[daq]'")
