"""Every CLI command against a careless or unlucky user: bad, missing, damaged and
foreign files, wrong option values, outputs that cannot or must not be written.

The rule under test (README, app/cli/main.py): a user mistake ends with a non-zero exit
code and exactly one line on stderr that names the file, field or value at fault; never
a traceback, never a hang, never an input overwritten by an output. Nothing here
connects to a device: every case is refused before one would be touched.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
from pathlib import Path

import h5py
import pytest

from app.cli.main import main
from tests.helpers_recording import write_synthetic_session

LIBRARY_DEMO = Path(__file__).resolve().parents[1] / "protocols" / "library" / "protocol1-demo.yaml"

FIX = Path(__file__).resolve().parent / "fixtures"
DEMO = Path(__file__).resolve().parents[1] / "protocols" / "library" / "protocol1-demo.yaml"
SIM_RIG = 'name = "bench"\n[sim]\nmuscle = "rat-edl"\n'


# ----------------------------------------------------------------------------- helpers
class Hung(BaseException):
    """Raised by :func:`deadline`; a BaseException so no error handler takes it for a
    user mistake (TimeoutError is an OSError, which the CLI reports as one line)."""


@contextlib.contextmanager
def deadline(seconds: float):
    """Fail (instead of hanging the suite) if the block takes longer than ``seconds``
    (as long as the hang returns to Python now and then)."""
    def expired(signum, frame):
        raise Hung(f"still running after {seconds} s (hung?)")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def fails(capsys, *argv, code: int | None = None, seconds: float = 20.0) -> str:
    """Run ``myoforce ARGV``; check it failed with one clean stderr line; return it."""
    with deadline(seconds):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as exc:          # argparse refusals
            rc = exc.code
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    # one line per problem (a refused run lists every problem), each a whole message
    assert lines and all(line.startswith(("myoforce", "usage")) for line in lines), \
        f"expected one line per problem on stderr, got:\n{err}"
    assert rc not in (0, None), f"exit code {rc} for: {lines[0]}"
    if code is not None:
        assert rc == code, lines[0]
    return "\n".join(lines)


def assert_names(line: str, *words: str) -> None:
    for w in words:
        assert w in line, f"{w!r} not in: {line}"


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("session") / "rat07.h5"
    write_synthetic_session(path)
    return path


@pytest.fixture
def work(tmp_path, monkeypatch, session) -> Path:
    """tmp_path as the working directory, with a copy of the session, the demo
    protocol and a simulated rig file in it."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(session, tmp_path / "rat07.h5")
    shutil.copy(DEMO, tmp_path / "demo.yaml")
    (tmp_path / "rig.toml").write_text(SIM_RIG)
    return tmp_path


def damaged_copies(session: Path, where: Path) -> dict[str, Path]:
    data = session.read_bytes()
    out = {}
    out["truncated.h5"] = data[:600]                  # root object header cut off
    flipped = bytearray(data)
    last_header = data.rfind(b"OHDR")                 # a dataset's header: checksum fails
    flipped[last_header + 16] ^= 0x40
    out["flipped.h5"] = bytes(flipped)
    paths = {}
    for name, content in out.items():
        paths[name] = where / name
        paths[name].write_bytes(content)
    return paths


# ----------------------------------------------------------------------------- HDF5 in
@pytest.mark.parametrize("command", ["info", "verify", "analyze", "recover"])
@pytest.mark.parametrize("name", ["truncated.h5", "flipped.h5"])
def test_damaged_session_is_one_line_and_never_hangs(work, session, capsys, command, name):
    """A SWMR reader retried a bad metadata checksum with an exponential back-off
    (hours); a damaged dataset header also escaped verify/recover as a KeyError."""
    path = damaged_copies(session, work)[name]
    argv = [command, path] + (["out.h5"] if command == "recover" else [])
    line = fails(capsys, *argv, seconds=10)
    assert_names(line, name, "damaged")
    assert not (work / "out.h5").exists() and not list(work.glob(".out.h5.*"))


def _foreign(p: Path) -> None:
    with h5py.File(p, "w") as f:
        f["x"] = [1, 2, 3]


def _force_group(p: Path) -> None:
    with h5py.File(p, "a") as f:
        del f["force"]
        f.create_group("force")


@pytest.mark.parametrize("command", ["info", "verify", "analyze"])
@pytest.mark.parametrize("make,name,words", [
    (lambda p: p.write_bytes(b""), "empty.h5", ["empty file"]),
    (lambda p: p.write_bytes(os.urandom(2000)), "junk.h5", ["not an HDF5 file"]),
    (_foreign, "other.h5", ["not a myoforce session file"]),
    (lambda p: p.mkdir(), "folder.h5", ["is a directory"]),
    (lambda p: os.mkfifo(p), "pipe.h5", ["not a regular file"]),
    (lambda p: None, "missing.h5", ["no such file"]),
    (_force_group, "rat07.h5", ["/force is not a 1-D dataset"]),
])
def test_bad_session_files(work, capsys, command, make, name, words):
    make(work / name)
    assert_names(fails(capsys, command, name), name, *words)


def test_recover_with_raw_data_damage_says_so_on_stderr(work, capsys):
    with h5py.File(work / "rat07.h5", "r") as f:
        offset = f["force"].id.get_chunk_info(0).byte_offset
    data = bytearray((work / "rat07.h5").read_bytes())
    data[offset + 1000] ^= 0x01
    (work / "bad.h5").write_bytes(bytes(data))
    line = fails(capsys, "recover", "bad.h5", "clean.h5")
    assert_names(line, "bad.h5", "CRC-32", "clean.h5")
    assert main(["info", "clean.h5"]) == 0           # the copy is there and readable


@pytest.mark.parametrize("out,words", [
    ("nodir/x.h5", ["nodir", "no such directory"]),
    ("sub", ["sub", "is a directory"]),
    ("rat07.h5/x.h5", ["rat07.h5", "not a directory"]),
    ("null.h5", ["null.h5", "not a regular file"]),     # as root it replaced /dev/null
    ("./rat07.h5", ["rat07.h5", "not the input"]),
    ("", ["name is empty"]),
])
def test_recover_output_mistakes(work, capsys, out, words):
    (work / "sub").mkdir()
    (work / "null.h5").symlink_to(os.devnull)      # a device, without risking the real one
    before = (work / "rat07.h5").read_bytes()
    assert_names(fails(capsys, "recover", "rat07.h5", out, "--overwrite"), *words)
    assert (work / "rat07.h5").read_bytes() == before
    assert (work / "null.h5").is_symlink()


# ----------------------------------------------------------------------------- CSV, DDF in
CSV_HEAD = "time_s,force_mN,stim\n"


@pytest.mark.parametrize("text,words", [
    ("time_s,force_mN\n0,1\n0.001,2\n0.002,3\n", ["missing column(s) stim"]),
    (CSV_HEAD + "0,1,0\n", ["fewer than 2 data rows"]),
    (CSV_HEAD + "0,1,0\n0.002,1,1\n0.001,1,0\n0.003,1,0\n", ["does not increase at line 4"]),
    (CSV_HEAD + "0,1,0\n0.001,abc,1\n0.002,1,0\n", ["line 3", "force_mN", "'abc'"]),
    (CSV_HEAD + "0,1,0\n0.001,1\n0.002,1,0\n", ["line 3", "2 columns", "header has 3"]),
    (CSV_HEAD + "0,nan,0\n0.001,nan,1\n", ["all nan"]),
    ("time_s;force_mN;stim\n0;1;0\n0.001;1;1\n", ["missing column(s)"]),
    ("", ["empty CSV file"]),
    ("# muscle_mass_mg: inf\n" + CSV_HEAD + "0,1,0\n0.001,1,1\n", ["muscle_mass_mg: inf",
                                                                  "finite"]),
])
def test_bad_csv(work, capsys, text, words):
    (work / "trace.csv").write_text(text)
    assert_names(fails(capsys, "analyze", "trace.csv"), "trace.csv", *words)


def test_binary_csv(work, capsys):
    (work / "trace.csv").write_bytes(b"\xff\xfe\x00\x81" * 100)
    assert_names(fails(capsys, "analyze", "trace.csv"), "trace.csv", "not a UTF-8 text file")


def _ddf_lines() -> list[str]:
    return (FIX / "dmc_twitch.ddf").read_text(encoding="latin-1").split("\n")


def _ddf_edit(k: int, old: str, new: str):
    def edit(lines):
        assert old in lines[k]
        lines[k] = lines[k].replace(old, new, 1)
        return lines
    return edit


@pytest.mark.parametrize("mutate,words", [
    (lambda ls: [l for l in ls if not l.startswith("Calibration Data")],
     ["no 'Calibration Data' section"]),
    (lambda ls: [l for l in ls if not l.startswith("Protocol Array")],
     ["no 'Protocol Array' section"]),
    (_ddf_edit(29, "0.350000", "abc"), ["line 30", "AI1", "'abc'"]),
    (lambda ls: ls[:30] + ["30\t0.5"] + ls[30:], ["line 31 has 2 columns"]),
    (_ddf_edit(16, ".1,.2", "abc,.2"), ["Protocol Array line 17", "Stimulus-Twitch", "'abc'"]),
    (_ddf_edit(16, "0.000000", "soon"), ["Protocol Array line 17", "wait time 'soon'"]),
    (_ddf_edit(22, "Sample\t", "Sample\t\t"), ["line 23", "empty column name"]),
    (_ddf_edit(8, "200.000000", "abc"), ["invalid scale for AI1"]),
])
def test_bad_ddf(work, capsys, mutate, words):
    (work / "twitch.ddf").write_text("\n".join(mutate(_ddf_lines())), encoding="latin-1")
    assert_names(fails(capsys, "analyze", "twitch.ddf"), "twitch.ddf", *words)


# ----------------------------------------------------------------------------- analyze, compare, plot
def test_analyze_never_overwrites_an_input(work, capsys):
    shutil.copy(FIX / "twitch.csv", work / "trace.csv")
    before = {p: (work / p).read_bytes() for p in ("trace.csv", "rat07.h5")}
    assert_names(fails(capsys, "analyze", "rat07.h5", "trace.csv", "--csv", "trace.csv"),
                 "trace.csv", "one of the input files")
    assert_names(fails(capsys, "analyze", "rat07.h5", "--summary-csv", "./rat07.h5"),
                 "rat07.h5", "one of the input files")
    assert {p: (work / p).read_bytes() for p in before} == before


@pytest.mark.parametrize("argv,words,code", [
    (["--csv", "nodir/t.csv"], ["nodir", "no such directory"], 1),
    (["--csv", "."], ["is a directory"], 1),
    (["--csv", "a.csv", "--summary-csv", "a.csv"], ["--csv and --summary-csv", "a.csv"], 1),
    (["--baseline-ms", "abc"], ["--baseline-ms", "'abc'"], 2),
    (["--baseline-ms", "-5"], ["baseline_ms", "-5"], 1),
])
def test_analyze_option_mistakes(work, capsys, argv, words, code):
    assert_names(fails(capsys, "analyze", "rat07.h5", *argv, code=code), *words)
    assert not (work / "a.csv").exists()


def test_usage_mistakes_are_one_line(capsys):
    assert_names(fails(capsys, "analyze", code=2), "FILE", "--help")
    assert_names(fails(capsys, "plot", "x.h5", code=2), "--out")
    assert_names(fails(capsys, "frobnicate", code=2), "frobnicate")


@pytest.mark.parametrize("argv,words", [
    (["rat07.h5"], ["only one group (vehicle", "nothing to compare"]),
    (["rat07.h5", "copy.h5", "--csv", "c.csv"], ["only one group", "c.csv not written"]),
    (["rat07.h5", "copy.h5", "--group", "other.h5=A"], ["--group other.h5=A",
                                                       "not one of the files"]),
    (["rat07.h5", "copy.h5", "--group", "copy.h5=A", "--plot", "."], ["is a directory"]),
    (["rat07.h5", "copy.h5", "--group", "copy.h5=A", "--plot", "ff"], ["no extension"]),
    (["rat07.h5", "copy.h5", "--group", "copy.h5=A", "--csv", "copy.h5"],
     ["copy.h5", "one of the input files"]),
    (["rat07.h5", "--group", "novalue"], ["FILE=NAME", "'novalue'"]),
])
def test_compare_mistakes(work, capsys, argv, words):
    shutil.copy(work / "rat07.h5", work / "copy.h5")
    before = (work / "copy.h5").read_bytes()
    assert_names(fails(capsys, "compare", *argv), *words)
    assert not (work / "c.csv").exists() and not (work / "ff.png").exists()
    assert (work / "copy.h5").read_bytes() == before


def test_plot_out_onto_a_file(work, capsys):
    (work / "figure.png").write_bytes(b"png")
    assert_names(fails(capsys, "plot", "rat07.h5", "--out", "figure.png"),
                 "figure.png", "is a file", "directory")
    assert (work / "figure.png").read_bytes() == b"png"
    assert_names(fails(capsys, "plot", "rat07.h5", "--out", ""), "--out", "empty")


# ----------------------------------------------------------------------------- run: protocol
@pytest.mark.parametrize("text,words", [
    ("- twitch\n- tetanus\n", ["expected a mapping", "got a list"]),
    ("name: x\nsteps:\n\t- kind: twitch\n", ["line 3", "'\\t'"]),
    ("name: x\nsteps:\n  - kind: twitch\n    current_mA: lots\n",
     ["[1/1] twitch-1 (twitch) current_mA", "must be a number", "'lots'"]),
    ("name: x\nsteps:\n  - kind: zap\n", ["[1/1] kind", "'zap' is not a step kind"]),
    ("name: x\nsteps:\n  - kind: nöte\n", ["'nöte' is not a step kind", "'note'"]),
    ("name: x\ncurrent_mA: 1e308\nsteps:\n  - {kind: twitch, interval_s: 1}\n",
     ["current_mA", "exceeds the rig limit"]),                  # exponent: a number, not text
    ("name: x\ncurrent_mA: 1\nsteps:\n  - {kind: rest, duration_s: 1e12}\n",
     ["duration_s: must be <= 86400"]),
    ("name: x\ncurrent_mA: 1\nsteps:\n  - {kind: tetanus, frequency_hz: 100, duration_ms: 300, "
     "rest_s: -1}\n", ["[1/1] tetanus-1 (tetanus) rest_s: must be >= 0, got -1"]),
    ("? [a, b]\n: 1\n", ["line 1", "a key must be a name, not a list"]),
    ("name: x\nname: y\nsteps: []\n", ["key 'name' appears twice"]),
    ("", ["the file is empty"]),
])
def test_bad_protocol(work, capsys, text, words):
    (work / "p.yaml").write_text(text, encoding="utf-8")
    line = fails(capsys, "run", "p.yaml", "--sim", "--yes", "--out", "x.h5")
    assert_names(line, "p.yaml", *words)
    assert not (work / "x.h5").exists()


def test_protocol_with_a_billion_laughs(work, capsys):
    """Aliases nest 9**9 items into a few lines; the message must not try to show them."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
    (work / "p.yaml").write_text(
        "anchors:\n" + "".join(f"  {line}\n" for line in lines)
        + "name: x\ncurrent_mA: 1\nsteps:\n  - {kind: optimal_length, interval_s: 1, "
          "lengths_mm: [1, 2, 3], fit: *l9}\n")
    line = fails(capsys, "run", "p.yaml", "--sim", "--yes", "--out", "x.h5", seconds=10)
    assert_names(line, "p.yaml", "more than 100000 values")
    assert len(line) < 300


@pytest.mark.parametrize("make,words", [
    (lambda p: p.write_bytes(b"\x89HDF\r\n\x1a\n\xff\xfe"), ["not UTF-8 text"]),
    (lambda p: p.mkdir(), ["is a directory"]),
    (lambda p: os.mkfifo(p), ["not a regular file"]),     # reading it would never end
])
def test_protocol_that_is_not_a_text_file(work, capsys, make, words):
    make(work / "p.yaml")
    assert_names(fails(capsys, "run", "p.yaml", "--sim", "--yes", "--out", "x.h5"),
                 "p.yaml", *words)


# ----------------------------------------------------------------------------- run: rig file
@pytest.mark.parametrize("text,words", [
    ('name = "x\n', ["not valid TOML"]),
    ('[limits]\nmax_current_mA = "10"\n[sim]\n', ["limits.max_current_mA", "'10'"]),
    ("[sim]\nseed = -1\n", ["sim.seed", ">= 0", "-1"]),
    ("[sim]\nseed = 99999999999999999999\n", ["sim.seed", "99999999999999999999"]),
    ('[amplifier]\nport = "/dev/ttyACM0"\n[stimulator]\nresource = "192.168.1.20:5025"\n',
     ["stimulator.resource", "'192.168.1.20:5025'", "not a VISA resource name"]),
    ("[simm]\n", ["simm: is not a field of", "'sim'"]),
])
def test_bad_rig_file(work, capsys, text, words):
    (work / "bad.toml").write_text(text)
    line = fails(capsys, "run", "demo.yaml", "--rig", "bad.toml", "--yes", "--out", "x.h5")
    assert_names(line, "bad.toml", *words)


def test_rig_file_that_is_a_device(work, capsys):
    os.mkfifo(work / "ttyACM0")                   # --rig given the amplifier's port
    assert_names(fails(capsys, "run", "demo.yaml", "--rig", "ttyACM0", "--yes", "--out", "x.h5"),
                 "ttyACM0", "not a regular file")


# ----------------------------------------------------------------------------- run: options, output
@pytest.mark.parametrize("argv,words", [
    (["--sim", "--out", "demo.yaml", "--overwrite"], ["demo.yaml", "one of the input files"]),
    (["--rig", "rig.toml", "--out", "rig.toml", "--overwrite"], ["rig.toml", "input files"]),
    (["--sim", "--out", "sub"], ["sub", "is a directory"]),
    (["--sim", "--out", "rat07.h5/x.h5"], ["rat07.h5", "not a directory"]),
    (["--sim", "--out", "null.h5", "--overwrite"], ["null.h5", "not a regular file"]),
    (["--sim", "--out", ""], ["recording name is empty"]),
    (["--sim", "--out", "rat07.h5"], ["rat07.h5", "file exists", "--overwrite"]),
    (["--sim", "--seed", "-1", "--out", "x.h5"], ["--seed", "-1"]),
    (["--sim", "--seed", str(2**64), "--out", "x.h5"], ["--seed", str(2**64)]),
    (["--sim", "--rig", "rig.toml", "--out", "x.h5"], ["--sim and --rig"]),
    (["--sim", "--body-mass-g", "inf", "--out", "x.h5"], ["--body-mass-g", "finite", "'inf'"]),
    (["--amplifier", "", "--stimulator", "TCPIP0::127.0.0.1::5025::SOCKET", "--out", "x.h5"],
     ["--amplifier", "empty"]),
    (["--amplifier", "/dev/ttyACM0", "--stimulator", "not a resource", "--out", "x.h5"],
     ["--stimulator 'not a resource'", "not a VISA resource name"]),
    (["--amplifier", "/dev/ttyACM0", "--stimulator", "TCPIP0::127.0.0.1::abc::SOCKET",
      "--out", "x.h5"], ["port 'abc'"]),
    (["--amplifier", "/dev/nonexistent", "--stimulator", "TCPIP0::127.0.0.1::1::SOCKET",
      "--out", "x.h5"], ["/dev/nonexistent"]),
])
def test_run_option_and_output_mistakes(work, capsys, argv, words):
    (work / "sub").mkdir()
    (work / "null.h5").symlink_to(os.devnull)
    before = {p: (work / p).read_bytes() for p in ("demo.yaml", "rig.toml", "rat07.h5")}
    assert_names(fails(capsys, "run", "demo.yaml", "--yes", *argv), *words)
    assert {p: (work / p).read_bytes() for p in before} == before
    assert not (work / "x.h5").exists()


# ----------------------------------------------------------------------------- sim, devices
@pytest.mark.parametrize("argv,words", [
    (["--isolator-gain", "inf"], ["--isolator-gain", "inf"]),
    (["--treatment", "inf"], ["--treatment", "inf"]),
    (["--seed", "-1"], ["--seed", "-1"]),
    (["--muscle", "frog"], ["unknown muscle 'frog'"]),
])
def test_sim_option_mistakes(capsys, argv, words):
    assert_names(fails(capsys, "sim", "--json", *argv), *words)


@pytest.mark.parametrize("value", ["-1", "nan", "1e300", "0"])
def test_devices_timeout_mistakes(capsys, value):
    assert_names(fails(capsys, "devices", "--timeout", value), "--timeout")


# ------------------------------------------------------------------ input hardening (issue 9)

def _deep_yaml(n: int) -> str:
    return "name: x\nsteps:\n  - {kind: note, text: a}\ndescription: " + "[" * n + "]" * n + "\n"


@pytest.mark.parametrize("text,words", [
    (_deep_yaml(900), ["p.yaml", "nested more than 32 levels"]),
    (_deep_yaml(5000), ["p.yaml", "nested more than 32 levels"]),
    ("name: x\nsteps:\n  - {kind: note, text: a}\ndescription:\n"
     + "".join("  " * i + f"k{i}:\n" for i in range(900)) + "  " * 900 + "v: 1\n",
     ["p.yaml", "nested more than 32 levels"]),
    ("name: x\x07\nsteps: []\n", ["p.yaml", "not valid YAML", "'\\x07'"]),
    ("name: \x1b[2Jx\n", ["p.yaml", "not valid YAML", "'\\x1b'"]),
    ("name: x\nsteps:\n  - {kind: twitch, count: " + "9" * 5000 + ", interval_s: 1, current_mA: 1}\n",
     ["p.yaml", "a number is too long (5000 digits"]),
])
def test_deep_huge_or_unreadable_yaml_is_one_line_naming_the_file(work, capsys, text, words):
    (work / "p.yaml").write_text(text)
    line = fails(capsys, "run", "p.yaml", "--sim", "--yes", "--out", "x.h5")
    assert "\n" not in line and "\x1b" not in line and "\x07" not in line
    assert_names(line, *words)


@pytest.mark.parametrize("body,words", [
    ("x = " + "[" * 900 + "]" * 900 + "\n", ["r.toml", "nested more than 32 levels"]),
    ("x = " + "{a = " * 900 + "1" + "}" * 900 + "\n", ["r.toml", "nested more than 32 levels"]),
    ("[limits]\nmax_current_mA = " + "9" * 5000 + "\n", ["r.toml", "a number is too long (5000 digits"]),
    ("name = \"a\x07\"\n", ["r.toml", "not valid TOML", "'\\x07'"]),
])
def test_deep_huge_or_unreadable_toml_is_one_line_naming_the_file(work, capsys, body, words):
    (work / "r.toml").write_text(body)
    line = fails(capsys, "run", str(LIBRARY_DEMO), "--rig", "r.toml", "--yes", "--out", "x.h5")
    assert "\n" not in line and "\x07" not in line
    assert_names(line, *words)


def test_escape_sequences_in_names_are_printed_escaped(work, capfd):
    (work / "p.yaml").write_text('name: "evil\\e]0;pwned\\a\\e[2J"\nsteps:\n'
                                 '  - {kind: note, name: "n\\e[31m", text: "hi\\e[31m"}\n')
    code = main(["run", "p.yaml", "--sim", "--yes", "--out", "x.h5",
                 "--subject", "rat\x1b[2J\x1b]0;x\x07"])
    out, err = capfd.readouterr()
    assert code == 0, err
    assert "\x1b" not in out + err and "\x07" not in out + err
    assert "evil\\x1b]0;pwned\\x07\\x1b[2J" in out


def test_non_finite_metadata_is_refused_where_entered(work, capsys):
    for value in ("inf", "nan", "-inf", "1e999"):
        line = fails(capsys, "run", str(LIBRARY_DEMO), "--sim", "--yes", "--out", "x.h5",
                     f"--muscle-length-mm={value}")
        assert_names(line, "--muscle-length-mm", "finite")


def test_non_finite_metadata_in_a_file_is_noted_not_fatal(work, capsys):
    """Read where it cannot be refused (a file written elsewhere): ignored, with a note."""
    with h5py.File(work / "rat07.h5", "a") as f:
        f["session"].attrs["muscle_length_mm"] = float("inf")
        f["session"].attrs["body_mass_g"] = float("nan")
    assert main(["analyze", "rat07.h5", "--json"]) == 0
    out = capsys.readouterr().out
    assert "muscle_length_mm = inf in the file is not a finite number: ignored" in out


def test_a_deeply_nested_study_file_is_one_line(tmp_path):
    """Every TOML reader goes through app.input_limits.load_toml: no RecursionError."""
    from app.errors import UserError
    from app.study.design import read_design

    path = tmp_path / "study.toml"
    path.write_text("x = " + "[" * 900 + "]" * 900 + "\n")
    with pytest.raises(UserError) as info:
        read_design(path)
    assert str(info.value) == f"{path}: nested more than 32 levels deep (line 1); the file needs a few"


@pytest.mark.parametrize("name", ["dmc_twitch.ddf", "twitch.csv"])
def test_info_on_a_ddf_or_csv_recording_points_to_analyze(capsys, name):
    line = fails(capsys, "info", FIX / name)
    assert_names(line, name, ".h5", ".nwb", "myoforce analyze")


@pytest.mark.parametrize("option, value", [("--muscle-density-g-cm3", "inf"),
                                           ("--smooth-ms", "nan"), ("--baseline-ms", "-1")])
def test_non_finite_or_negative_analysis_options_say_finite(capsys, session, option, value):
    line = fails(capsys, "analyze", session, option, value)
    assert_names(line, option.lstrip("-").replace("-", "_"), "finite number", repr(float(value)))


def test_unmeasured_trials_line_points_to_where_the_reasons_are(capsys, tmp_path):
    from tests.synthetic import SessionSpec, session_recording, write_csv
    rec, _ = session_recording(SessionSpec(fs=2_000.0, twitches=2, ff_freqs=(50,)))
    rec.force_mN[int(5.1 * rec.sample_rate_hz):] = float("nan")   # the tetanus at 5 s: no data
    path = tmp_path / "gappy.csv"
    write_csv(rec, path)
    for extra, where in (([], "the reasons under the table"), (["--wide"], "the error column"),
                         (["--json"], "'error' of each trial")):
        main(["analyze", str(path), "--no-cache", *extra])
        err = capsys.readouterr().err
        assert f"could not be measured (see {where})" in err, (extra, err)
