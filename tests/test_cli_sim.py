"""``myoforce sim`` as its own process, and ``myoforce devices``."""
from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys

import pytest
import pyvisa
import serial

CLI = [sys.executable, "-m", "app.cli.main"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _start(*args: str) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("MYOFORCE_DEBUG", None)
    return subprocess.Popen([*CLI, "sim", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=ROOT, env=env)


def _read_line(proc: subprocess.Popen, timeout_s: float = 20.0) -> bytes:
    """One line from the child's stdout, without hanging if it never comes."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buf = b""
    try:
        while not buf.endswith(b"\n"):
            if not sel.select(timeout_s):
                proc.kill()
                pytest.fail(f"no line from myoforce sim within {timeout_s} s; got {buf!r}")
            chunk = os.read(proc.stdout.fileno(), 1)
            if not chunk:
                pytest.fail(f"myoforce sim ended before printing a line: {proc.stderr.read()!r}")
            buf += chunk
    finally:
        sel.close()
    return buf


@pytest.fixture
def sim():
    proc = _start("--json", "--seed", "4")
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait(5)
    proc.stdout.close()
    proc.stderr.close()


def _check_devices(addresses: dict) -> None:
    rm = pyvisa.ResourceManager("@py")
    inst = rm.open_resource(addresses["stimulator"], read_termination="\n",
                            write_termination="\n", timeout=3000)
    try:
        assert len(inst.query("*IDN?").split(",")) == 4
    finally:
        inst.close()
    with serial.Serial(addresses["amplifier"], timeout=3) as s:
        s.write(b"*IDN?\n")
        assert s.readline().startswith(b"OK ")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sim_prints_addresses_serves_and_stops_on_signal(sim, sig):
    line = _read_line(sim)
    addresses = json.loads(line)
    assert set(addresses) == {"amplifier", "stimulator"}
    assert addresses["stimulator"].startswith("TCPIP0::127.0.0.1::")
    assert addresses["amplifier"].startswith("/dev/")
    _check_devices(addresses)
    sim.send_signal(sig)
    assert sim.wait(timeout=10) == 0
    assert sim.stdout.read() == b""                 # exactly one line on stdout
    assert b"Traceback" not in sim.stderr.read()


def test_sim_unknown_muscle_is_one_line_error():
    proc = subprocess.run([*CLI, "sim", "--muscle", "frog", "--json"], capture_output=True,
                          cwd=ROOT, timeout=30)
    assert proc.returncode != 0
    assert proc.stdout == b""
    err = proc.stderr.decode().strip()
    assert "\n" not in err and "Traceback" not in err
    assert "frog" in err and "rat-edl" in err and "rat-soleus" in err


def test_sim_human_readable_output():
    proc = _start("--muscle", "soleus")
    try:
        text = b"".join(_read_line(proc) for _ in range(7)).decode()
        assert "rat-soleus" in text and "TCPIP0::127.0.0.1::" in text
        assert all(len(line) <= 80 for line in text.splitlines()), text
        assert "myoforce run PROTOCOL.yaml --amplifier /dev/" in text     # how to use it
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        proc.stdout.close()
        proc.stderr.close()


def test_devices_lists_and_exits_zero():
    proc = subprocess.run([*CLI, "devices", "--timeout", "3"], capture_output=True, cwd=ROOT, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert b"serial ports:" in proc.stdout and b"VISA resources:" in proc.stdout
    proc = subprocess.run([*CLI, "devices", "--json", "--timeout", "3"], capture_output=True,
                          cwd=ROOT, timeout=30)
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    assert isinstance(listing["serial"], list) and isinstance(listing["visa"], list)
