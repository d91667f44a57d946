"""``myoforce run --sim daq``: a protocol end to end on the simulated DAQ rig, every pulse
marked at the sample the board generated it; bad DAQ rig files refused in one line."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from app.recorder.reader import open_session
from tests.test_daq_sim import MONITOR_RIG, SHORT

ROOT = Path(__file__).resolve().parents[1]


def _command() -> list[str]:
    script = Path(sys.executable).parent / "myoforce"
    return [str(script)] if script.exists() else [sys.executable, "-m", "app.cli.main"]


def test_run_sim_daq_marks_every_pulse_at_its_generated_sample(tmp_path):
    protocol = tmp_path / "short.yaml"
    protocol.write_text(SHORT)
    out = tmp_path / "s.h5"
    proc = subprocess.run(_command() + ["run", str(protocol), "--sim", "daq", "--yes", "--seed", "5",
                                        "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "simulated DAQ rig" in proc.stdout and "completed: 3 trials" in proc.stdout
    with open_session(out) as s:
        fired = [int(e.message.split()[-1]) for e in s.audit
                 if e.kind == "stimulator-command" and e.message.startswith("FIRE at sample")]
        pulses = s.pulse_samples
        trials = s.trial_records
        devices = s.devices
        aux = [c["name"] for c in s.aux_channels]
        assert all(s.aux(name).shape[0] == s.samples for name in aux)
        current = s.aux("stim_current")[:]
        length = s.aux("length")[:]
    # twitch, twitch, then a 20-pulse 100 Hz train (100 samples apart at 10 kHz)
    expected = [fired[0], fired[1]] + [fired[2] + 100 * k for k in range(20)]
    assert list(pulses) == expected
    assert [t.first_pulse_sample for t in trials] == fired
    assert [t.status for t in trials] == ["completed"] * 3
    assert "NI-DAQmx USB-6363 (simulated)" in devices["amplifier"]
    assert "isolator" in devices["stimulator"]
    # auxiliary channels recorded beside force: the isolator current reads the 4 mA asked for
    assert aux == ["emg", "length", "stim_current"]
    assert abs(float(np.nanmax(current)) - 4.0) < 0.01
    assert np.isfinite(length).all()
    info = subprocess.run(_command() + ["info", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert "aux stim_current" in info.stdout and "mA" in info.stdout


def test_bad_daq_rig_file_is_one_line_and_nothing_is_written(tmp_path):
    protocol = tmp_path / "short.yaml"
    protocol.write_text(SHORT)
    rig = tmp_path / "rig.toml"
    rig.write_text(MONITOR_RIG.replace('channel = "ai0"', 'channel = "ai77"'))
    out = tmp_path / "s.h5"
    proc = subprocess.run(_command() + ["run", str(protocol), "--rig", str(rig), "--yes",
                                        "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "daq.force.channel: SimDev1/ai77 does not exist" in lines[0]
    assert "Traceback" not in proc.stderr
    assert not out.exists()
