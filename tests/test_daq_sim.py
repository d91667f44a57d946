"""The DAQ rig on the simulated board: sample-exact markers both ways, auxiliary channels,
faults that fail the run with the output off and the data kept, and bad rig input."""
from __future__ import annotations

import time

import numpy as np
import pytest

from app.rig.config import parse_rig
from app.rig.daq_config import sim_daq_section
from app.rig.daq_connect import start_sim_daq_rig
from drivers.capabilities import StimulusSpec
from drivers.errors import ConfigurationError

SHORT = """\
format_version: 1
name: DAQ short
pulse_width_ms: 0.2
windows: {pre_ms: 50, twitch_post_ms: 200, tetanus_post_ms: 250}
steps:
  - {kind: twitch, name: twitches, count: 2, interval_s: 0.3, current_mA: 4.0}
  - {kind: tetanus, name: tetani, frequency_hz: 100, duration_ms: 200, count: 1, rest_s: 1.0, current_mA: 4.0}
"""


def _collect(rig, seconds_after_fire: float, specs: list[StimulusSpec]):
    blocks = []
    amp, stim = rig.amplifier, rig.stimulator
    amp.subscribe(blocks.append)
    amp.tare(200)
    amp.start()
    try:
        time.sleep(0.1)
        for spec in specs:
            stim.configure(spec)
            stim.fire()
            time.sleep(seconds_after_fire)
            stim.set_output(False)
    finally:
        amp.stop()
    return blocks


def test_ao_markers_are_exactly_the_generated_samples_and_aux_channels_come_along():
    rig = start_sim_daq_rig(sim_daq_section(10000), seed=2)
    try:
        blocks = _collect(rig, 0.35, [StimulusSpec(4.0, 0.2), StimulusSpec(4.0, 0.2, 5, 50.0)])
        fired = rig.stimulator.fired_at
    finally:
        rig.close()
    flags = np.concatenate([b.flags for b in blocks])
    force = np.concatenate([b.force_mN for b in blocks])
    aux = np.concatenate([b.aux for b in blocks], axis=1)
    assert np.all(np.diff([b.first_sample for b in blocks]) == [len(b) for b in blocks[:-1]])
    expected = [fired[0]] + [fired[1] + k * 200 for k in range(5)]
    assert list(np.flatnonzero(flags & 1)) == expected
    # the muscle answered on the board's clock: force rises within 10 ms of the twitch pulse
    base = force[fired[0] - 100:fired[0]].mean()
    assert force[fired[0]:fired[0] + 100].max() - base > 100
    assert force[fired[0] - 100:fired[0]].std() < 20
    assert aux.shape == (3, force.size)
    length = rig.length.length_mm
    assert abs(float(np.median(aux[1])) - length) < 0.1          # mm, through scale 10 mm/V
    emg = aux[0]
    assert np.abs(emg[fired[0]:fired[0] + 60]).max() > 3 * np.abs(emg[fired[0] - 200:fired[0]]).max()
    assert rig.sim.ao_volts == 0.0


MONITOR_RIG = """\
name = "daq monitor"
[sim]
seed = 4
[daq]
device = "SimDev1"
sample_rate_hz = 10000
markers = "monitor"
[daq.force]
channel = "ai0"
scale_mN_per_V = 2000.0
[daq.monitor]
channel = "ai5"
threshold_V = 2.5
hysteresis_V = 1.0
[daq.ao]
channel = "ao1"
"""


def test_monitor_markers_from_the_sync_input_match_the_generated_samples():
    from app.rig.connect import connect_rig

    rig = connect_rig(parse_rig(MONITOR_RIG))
    try:
        blocks = _collect(rig, 0.3, [StimulusSpec(3.0, 0.2), StimulusSpec(3.0, 0.2, 4, 100.0)])
        fired = rig.stimulator.fired_at
    finally:
        rig.close()
    flags = np.concatenate([b.flags for b in blocks])
    assert list(np.flatnonzero(flags & 1)) == [fired[0]] + [fired[1] + 100 * k for k in range(4)]
    assert all(b.aux is None for b in blocks)      # the monitor is not an auxiliary channel


@pytest.mark.parametrize("edit, field", [
    (("ai5", "ai40"), "daq.monitor.channel: SimDev1/ai40 does not exist"),
    (('channel = "ai0"', 'channel = "ai0"\nrange_V = 50.0'), "daq.force.range_V: +-50 V is not"),
    (("sample_rate_hz = 10000", "sample_rate_hz = 900000"), "daq.sample_rate_hz: 900000 Hz on 2"),
    (('channel = "ao1"', 'channel = "ao7"'), "daq.ao.channel: SimDev1/ao7 does not exist"),
    (('channel = "ao1"\n', 'channel = "ao1"\n[[daq.aux]]\nname = "emg"\nchannel = "ai5"\n'),
     "daq.aux[0].channel: SimDev1/ai5 is already used by daq.monitor"),
])
def test_bad_rig_input_names_the_field_before_anything_starts(edit, field):
    from app.rig.connect import connect_rig

    text = MONITOR_RIG.replace(*edit)
    assert text != MONITOR_RIG
    with pytest.raises(ConfigurationError) as info:
        connect_rig(parse_rig(text))
    assert str(info.value).startswith(field)
    assert "\n" not in str(info.value)


def test_an_output_in_use_is_refused():
    first = start_sim_daq_rig(sim_daq_section(10000), seed=1)
    try:
        with pytest.raises(ConfigurationError, match=r"^daq\.ao\.channel: SimDev1/ao0 is in use"):
            start_sim_daq_rig(sim_daq_section(10000), seed=1)
    finally:
        first.close()
    start_sim_daq_rig(sim_daq_section(10000), seed=1).close()   # released on close


@pytest.mark.parametrize("fault, words", [("overrun", "overrun"), ("vanish", "gone")])
def test_a_fault_fails_the_run_with_output_off_and_data_kept(tmp_path, fault, words):
    from app.recorder.reader import open_session
    from app.session import ExperimentSession
    from protocols.loader import parse_protocol

    protocol = parse_protocol(SHORT, source="short.yaml")
    holder = {}

    def factory(hook):
        holder["rig"] = start_sim_daq_rig(sim_daq_section(10000), seed=3, on_command=hook)
        return holder["rig"]

    out = tmp_path / "s.h5"
    session = ExperimentSession(protocol, factory, out, auto_continue=True, protocol_text=SHORT)
    session.start()
    try:
        rig = holder["rig"]
        deadline = time.monotonic() + 10
        while (not rig.stimulator.fired_at or rig.amplifier.read_position
               < rig.stimulator.fired_at[0] + 500) and time.monotonic() < deadline:
            time.sleep(0.01)
        rig.sim.inject(fault)
        finished = session.wait(15)
    finally:
        status = session.close()
    assert finished is not None and finished.status == "failed"
    assert words in finished.message
    assert rig.sim.ao_volts == 0.0
    assert status == "aborted"
    with open_session(out) as s:
        assert s.samples >= rig.stimulator.fired_at[0] + 500 and s.status == "aborted"
        assert rig.stimulator.fired_at[0] in s.pulse_samples


def test_daq_rig_file_shapes_are_checked():
    from app.rig.config import RigFileError
    with pytest.raises(RigFileError, match=r"daq: .*markers = 'ao' needs"):
        parse_rig('[sim]\n[daq]\ndevice = "SimDev1"\n')
    with pytest.raises(RigFileError, match=r"daq\.aux\[0\]\.name: .*reserved"):
        parse_rig('[sim]\n[daq]\n[daq.ao]\n[[daq.aux]]\nname = "force"\nchannel = "ai1"\n')
    with pytest.raises(RigFileError, match=r"stimulator\.resource: is required when \[daq\] has no"):
        parse_rig('[daq]\nmarkers = "monitor"\n[daq.monitor]\n')
    config = parse_rig('[daq]\ndevice = "Dev3"\n[daq.ao]\n')
    assert config.daq.to_plan().ao.physical == "ao0"        # hardware rig: no serial ports needed


def test_nidaqmx_absence_is_one_plain_line(tmp_path, monkeypatch):
    """Without the nidaqmx package a hardware DAQ rig says how to get it."""
    import builtins

    from app.rig.connect import connect_rig
    from drivers.errors import DeviceNotFound

    real_import = builtins.__import__

    def no_nidaqmx(name, *args, **kwargs):
        if name == "nidaqmx" or name.startswith("nidaqmx."):
            raise ImportError("No module named 'nidaqmx'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_nidaqmx)
    with pytest.raises(DeviceNotFound, match=r"pip install 'myoforce\[daq\]'"):
        connect_rig(parse_rig('[daq]\n[daq.ao]\n'))


def test_option_b_a_separate_stimulator_marked_through_the_monitor_input():
    """No [daq.ao]: the SCPI stimulator times the pulses, its sync reaches [daq.monitor]."""
    from app.rig.connect import connect_rig
    from drivers.stimulator.driver import ScpiStimulator

    text = MONITOR_RIG.replace('[daq.ao]\nchannel = "ao1"\n', "")
    rig = connect_rig(parse_rig(text))
    try:
        assert isinstance(rig.stimulator, ScpiStimulator)
        blocks = _collect(rig, 0.3, [StimulusSpec(3.0, 0.2), StimulusSpec(3.0, 0.2, 4, 100.0)])
    finally:
        rig.close()
    flags = np.concatenate([b.flags for b in blocks])
    edges = np.flatnonzero(flags & 1)
    assert edges.size == 5
    assert list(np.diff(edges[1:])) == [100, 100, 100]       # 100 Hz at 10 kHz, on the sample grid


def test_max_output_beyond_the_ao_range_is_refused_in_the_rig_file():
    from app.rig.config import RigFileError
    with pytest.raises(RigFileError, match=r"stimulator\.max_output_V: 10 V is beyond the DAQ "
                                           r"output range of \+-5 V"):
        parse_rig('[daq]\n[daq.ao]\nrange_V = 5.0\n')
    parse_rig('[stimulator]\nmax_output_V = 5.0\n[daq]\n[daq.ao]\nrange_V = 5.0\n')


def test_abort_mid_train_marks_exactly_the_pulses_the_muscle_got():
    rig = start_sim_daq_rig(sim_daq_section(10000), seed=6)
    amp, stim, board = rig.amplifier, rig.stimulator, rig.sim
    blocks = []
    amp.subscribe(blocks.append)
    try:
        amp.start()
        time.sleep(0.1)
        stim.configure(StimulusSpec(3.0, 0.2, 20, 20.0))        # 1 s train
        stim.fire()
        time.sleep(0.45)
        stim.abort()
        time.sleep(0.6)
        delivered = board.world._pulses[:, 0].copy()
        t0 = board._world_t0
        amp.stop()
    finally:
        rig.close()
    flags = np.concatenate([b.flags for b in blocks])
    edges = np.flatnonzero(flags & 1)
    got = np.round((delivered - t0) * 10000).astype(np.int64)
    assert 0 < edges.size < 20
    assert list(edges) == sorted(got.tolist())
    assert board.ao_volts == 0.0


def test_tare_longer_than_the_output_lead_zeroes_the_force():
    rig = start_sim_daq_rig(sim_daq_section(10000), seed=8)
    try:
        cal = rig.amplifier.tare(3000)            # 0.3 s: three times the output's lead
        blocks = []
        rig.amplifier.subscribe(blocks.append)
        rig.amplifier.start()
        time.sleep(0.2)
        rig.amplifier.stop()
    finally:
        rig.close()
    force = np.concatenate([b.force_mN for b in blocks])
    assert abs(float(np.mean(force))) < 5.0       # mN, at rest after the tare
    assert cal.scale_mN_per_count == 2000.0


def test_the_example_daq_rig_file_fits_a_6343_class_board():
    from pathlib import Path

    from app.rig import load_rig_file
    from drivers.daq.plan import check_plan
    from drivers.daq.sim_backend import sim_device

    config = load_rig_file(Path(__file__).resolve().parents[1] / "rigs" / "example-daq-rig.toml")
    plan = config.daq.to_plan()
    assert [c.name for c in plan.channels] == ["force", "length", "stim_current", "emg"]
    check_plan(plan, sim_device("Dev1"))
