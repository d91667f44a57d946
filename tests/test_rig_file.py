"""Rig files: the example parses; every mistake is one line naming the field; a [sim]
rig file connects the real drivers to the simulated devices, with the world as length
control, and closing the rig stops the simulated devices too."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import UserError
from app.rig import RigFileError, connect_rig, load_rig_file, parse_rig, resolve_muscle
from drivers.capabilities import LengthControl
from drivers.limits import StimulusLimits

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = """
[amplifier]
port = "/dev/ttyACM0"
[stimulator]
resource = "TCPIP0::10.0.0.2::5025::SOCKET"
"""


def test_example_rig_file_parses():
    config = load_rig_file(ROOT / "rigs" / "example-rig.toml")
    assert not config.simulated
    assert config.amplifier.port == "/dev/ttyACM0"
    assert config.amplifier.sample_rate_hz == 10000
    assert config.limits.to_limits() == StimulusLimits()
    described = config.describe()
    assert described["kind"] == "hardware" and described["limits"]["max_current_mA"] == 10.0


def test_defaults_and_limits():
    config = parse_rig(MINIMAL + "[limits]\nmax_frequency_hz = 150\nmin_rest_after_tetanus_s = 30\n")
    limits = config.limits.to_limits()
    assert limits.max_frequency_hz == 150 and limits.min_rest_after_tetanus_s == 30
    assert limits.max_current_mA == StimulusLimits().max_current_mA
    assert config.stimulator.isolator_gain_mA_per_V == 1.0


def test_sim_table_makes_a_simulated_rig():
    config = parse_rig('[sim]\nmuscle = "soleus"\nseed = 3\n')
    assert config.simulated and config.sim.muscle == "rat-soleus" and config.sim.seed == 3
    assert parse_rig('kind = "sim"').simulated


INVALID = [
    ("", ["amplifier.port", "is required", "[sim]"]),
    ('[amplifier]\nport = "/dev/ttyACM0"\n', ["stimulator.resource", "is required"]),
    (MINIMAL + "[limits]\nmax_current_mA = -1\n", ["limits.max_current_mA", "> 0", "-1"]),
    (MINIMAL + "[limits]\nmax_current_mA = \"ten\"\n", ["limits.max_current_mA", "number", "'ten'"]),
    (MINIMAL + "[limits]\nmax_curent_mA = 5\n", ["limits.max_curent_mA", "is not a field of",
                                                  "did you mean 'max_current_mA'"]),
    (MINIMAL.replace("[amplifier]", "[amplifier]\nsample_rate_hz = 12345"),
     ["amplifier.sample_rate_hz", "12345", "10000"]),
    (MINIMAL.replace("[stimulator]", "[stimulator]\nisolator_gain_mA_per_V = 0"),
     ["stimulator.isolator_gain_mA_per_V", "> 0"]),
    (MINIMAL + "[limits]\nmax_frequency_hz = nan\n", ["limits.max_frequency_hz", "finite"]),
    (MINIMAL + "[limitz]\n", ["limitz", "is not a field of", "did you mean 'limits'"]),
    ("[sim]\nmuscle = \"rat-biceps\"\n", ["sim.muscle", "unknown muscle", "rat-edl"]),
    ('kind = "hardware"\n[sim]\n', ["kind is 'hardware'", "[sim]"]),
    ("[amplifier\nport = 1", ["not valid TOML"]),
    ("amplifier = 3\n", ["amplifier", "[table]"]),
]


@pytest.mark.parametrize("text,words", INVALID, ids=[f"invalid-{i}" for i in range(len(INVALID))])
def test_invalid_rig_file_is_one_line_naming_the_field(text, words):
    with pytest.raises(RigFileError) as info:
        parse_rig(text, source="rig.toml")
    message = str(info.value)
    assert isinstance(info.value, UserError)
    assert message.startswith("rig.toml: ") and "\n" not in message
    for word in words:
        assert word in message, message


def test_missing_rig_file(tmp_path):
    with pytest.raises(RigFileError, match="no such rig file"):
        load_rig_file(tmp_path / "nope.toml")


@pytest.mark.parametrize("given,sim,expected", [
    ("EDL", True, ("rat-edl", "EDL")),
    ("edl", True, ("rat-edl", "EDL")),
    ("rat-soleus", True, ("rat-soleus", "soleus")),
    ("quad", True, ("rat-quadriceps", "quadriceps")),
    (None, True, ("rat-edl", "EDL")),
    ("EDL", False, (None, "EDL")),
    ("gastrocnemius", False, (None, "gastrocnemius")),
    (None, False, (None, None)),
])
def test_muscle_serves_preset_and_metadata(given, sim, expected):
    assert resolve_muscle(given, simulated=sim) == expected


def test_unknown_muscle_on_a_sim_rig_is_a_user_error():
    with pytest.raises(UserError, match="--muscle.*rat-edl"):
        resolve_muscle("biceps", simulated=True)


def test_sim_rig_file_connects_and_closes_everything(tmp_path):
    path = tmp_path / "sim.toml"
    path.write_text('name = "training rig"\n[amplifier]\nsample_rate_hz = 2000\n'
                    '[limits]\nmax_current_mA = 4\n[sim]\nmuscle = "EDL"\nseed = 2\n')
    rig = connect_rig(load_rig_file(path), muscle="soleus")
    try:
        assert isinstance(rig.length, LengthControl)
        assert rig.amplifier.sample_rate_hz == 2000
        assert rig.stimulator.limits.max_current_mA == 4
        assert rig.description["sim"]["muscle"] == "rat-soleus"      # --muscle wins
        assert rig.description["name"] == "training rig"
        rig.length.set_length_mm(25.0)
        assert rig.sim.world.length_mm == 25.0
        sim = rig.sim
    finally:
        rig.close()
    assert sim.closed and rig.stimulator.closed
