"""Adversarial pass over the safety paths of issue 9 (items 1, 2, 4, 6): tries, failures.

Each attack is tried several times (or on several inputs); a *failure* is the program
doing what it must not: the GUI path starting a protocol the CLI refuses, the driver
refusing mid-run what the validator accepted, a traceback or a multi-line message for
one mistake, a raw escape sequence on the terminal, a late reply taken as the answer
to a later query, the safety summary lost to a second signal. Exit times after a
device stops answering are measured and printed (no assert).

The direct-API attack (a script firing trains back to back through the driver, no
protocol, no runner) checks the stimulators' fire-time interlock the same way.

The script uses only interfaces that exist before and after the changes of issue 9,
so it can measure both (``PYTHONPATH=<tree> python bench/bench_safety_attacks.py``).

    .venv/bin/python bench/bench_safety_attacks.py [--only NAME] [--json]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(ROOT))
PY = sys.executable
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
HEAD = "name: attack\nsteps:\n"
SUPRA = "  - {kind: supramaximal, start_mA: 0.5, step_mA: 0.5, max_mA: 5, interval_s: 1}\n"


def cli(*args: str, timeout: float = 120.0, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "app.cli.main", *args], capture_output=True, text=True,
                          env=ENV, timeout=timeout, cwd=ROOT, **kw)


def one_line(stderr: str) -> bool:
    lines = [x for x in stderr.splitlines() if x.strip()]
    return len(lines) == 1 and "Traceback" not in stderr


# ----------------------------------------------------------------------- item 1

RIG_LIMITS = dict(max_current_mA=10.0, max_pulse_width_ms=1.0, max_frequency_hz=250.0,
                  max_train_duration_ms=2000.0, max_charge_per_phase_uC=5.0)
BAD_FOR_RIG = [  # each refused by the CLI on a rig with a 5 s minimum rest after a train
    SUPRA + "  - {kind: tetanus, frequency_hz: 100, duration_ms: 300, count: 3, rest_s: 0}\n",
    SUPRA + "  - {kind: tetanus, frequency_hz: 400, duration_ms: 300, rest_s: 10}\n",
    SUPRA + "  - {kind: tetanus, frequency_hz: 1000, duration_ms: 300, rest_s: 10}\n",
    SUPRA + "  - {kind: tetanus, frequency_hz: 100, duration_ms: 60000, rest_s: 10}\n",
    "  - {kind: supramaximal, start_mA: 0.5, step_mA: 0.5, max_mA: 100, interval_s: 1}\n",
    SUPRA + "  - {kind: twitch, count: 1, interval_s: 1, pulse_width_ms: 5}\n",
    SUPRA + "  - {kind: tetanus, frequency_hz: 1.75, duration_ms: 2000, rest_s: 10}\n",
    SUPRA + "  - {kind: twitch, count: 150, interval_s: 0.001}\n",
]


def _rig_file(tmp: Path) -> Path:
    rig = tmp / "rig.toml"
    rig.write_text("name = 'strict'\n[sim]\nmuscle = 'rat-edl'\n[limits]\n"
                   "min_rest_after_tetanus_s = 5\n")
    return rig


def attack_gui_runs_what_cli_refuses() -> tuple[int, int]:
    """The GUI's run path (Experiment.start) with a protocol the CLI refuses."""
    from app.live.experiment import Experiment
    from app.metadata import SessionMetadata
    from drivers.limits import StimulusLimits
    from protocols.loader import parse_protocol
    from tests.gui_fakes import fake_rig

    limits = StimulusLimits(min_rest_after_tetanus_s=5.0)
    tries = failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        rig_file = _rig_file(Path(tmp))
        for i, body in enumerate(BAD_FOR_RIG):
            text = HEAD + body
            path = Path(tmp) / f"bad{i}.yaml"
            path.write_text(text)
            r = cli("run", str(path), "--rig", str(rig_file), "--yes", "--out", f"{tmp}/c{i}.h5")
            cli_refused = r.returncode != 0 and not Path(f"{tmp}/c{i}.h5").exists()
            tries += 1
            exp = Experiment(ring_seconds=2)
            rig = fake_rig()
            rig.stimulator.limits = limits
            rig.description["limits"] = {k: getattr(limits, k) for k in limits.__dataclass_fields__}
            exp.attach(rig)
            started = []
            try:
                protocol = parse_protocol(text, source=path.name)
            except Exception:
                protocol = None     # the panel never loads it: refused
            if protocol is not None:
                try:
                    exp.start(protocol, Path(tmp) / f"g{i}.h5", SessionMetadata(),
                              session_factory=lambda **kw: started.append(kw) or _Dummy())
                except Exception:
                    pass
            exp.close()
            if started or not cli_refused:
                failures += 1
    return tries, failures


class _Dummy:
    def subscribe(self, cb):
        return lambda: None

    def run(self):
        return None


#: edits (applied in order to a runnable protocol) each leaving it beyond the rig's limits
EDITS = [[(("steps", 1, "rest_s"), "0")], [(("steps", 1, "frequency_hz"), "1000")],
         [(("steps", 1, "duration_ms"), "60000")], [(("steps", 0, "max_mA"), "100")],
         [(("pulse_width_ms",), "5")],
         [(("steps", 1, "duration_ms"), "2000"), (("steps", 1, "frequency_hz"), "1.75")],
         [(("steps", 1, "count"), "3"), (("steps", 1, "rest_s"), "1")]]


def attack_editor_accepts_what_rig_refuses() -> tuple[int, int]:
    from PySide6.QtWidgets import QApplication

    from app.gui.protocol_panel import ProtocolPanel
    from drivers.limits import StimulusLimits

    app = QApplication.instance() or QApplication([])
    limits = StimulusLimits(min_rest_after_tetanus_s=5.0)
    tries = failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.yaml"
        path.write_text(HEAD + SUPRA + "  - {kind: tetanus, frequency_hz: 100, duration_ms: 300, "
                                       "rest_s: 10}\n")
        for edits in EDITS:
            panel = ProtocolPanel()
            if hasattr(panel, "set_limits"):
                panel.set_limits(limits)
            panel.load(path)
            tries += 1
            accepted = all([panel.set_value(where, value) for where, value in edits])
            runnable = getattr(panel, "runnable", accepted)
            if accepted and runnable:
                failures += 1
            panel.deleteLater()
    app.processEvents()
    return tries, failures


# ----------------------------------------------------------------------- item 2

def attack_validator_driver_disagree(n: int = 2000) -> tuple[int, int]:
    """Random tetanus steps the validator accepts, programmed by the driver."""
    from drivers.capabilities import StimulusSpec
    from drivers.limits import StimulusLimits
    from drivers.stimulator.driver import ScpiStimulator
    from protocols.loader import parse_protocol

    limits = StimulusLimits()
    stim = ScpiStimulator(object(), limits=limits)
    rnd = random.Random(9)
    tries = failures = 0
    for _ in range(n):
        f = round(rnd.uniform(0.5, 250), rnd.choice([0, 1, 2]))
        d = round(rnd.uniform(50, 2000), rnd.choice([0, 1]))
        if f <= 0 or d <= 0:
            continue
        text = HEAD + SUPRA + f"  - {{kind: tetanus, frequency_hz: {f}, duration_ms: {d}, rest_s: 5}}\n"
        try:
            parse_protocol(text, source="p.yaml", limits=limits)
        except Exception:
            continue
        tries += 1
        try:
            limits.check(2.0, 0.2, f, d)
            stim.check(StimulusSpec.train(2.0, 0.2, f, d))
        except Exception:
            failures += 1
    return tries, failures


def attack_twitch_barrage() -> tuple[int, int]:
    from drivers.limits import StimulusLimits
    from protocols.loader import parse_protocol

    tries = failures = 0
    for interval in (0.001, 0.005, 0.01):
        tries += 1
        text = HEAD + SUPRA + f"  - {{kind: twitch, count: 150, interval_s: {interval}}}\n"
        try:
            parse_protocol(text, source="p.yaml", limits=StimulusLimits())
            failures += 1
        except Exception:
            pass
    return tries, failures


def attack_direct_api_back_to_back(n: int = 20) -> tuple[int, int]:
    """A script on the driver API (no protocol, no run plan, no runner): one legitimate
    300 ms train, then ``n`` more as fast as the API allows, on the simulated SCPI
    stimulator over its real socket and on the simulated DAQ board. A failure is a train
    that reached the output, or the output left on after a refused fire."""
    from app.rig.daq_config import sim_daq_section
    from app.rig.daq_connect import start_sim_daq_rig
    from drivers.errors import LimitError
    from drivers.limits import StimulusLimits
    from drivers.stimulator.driver import ScpiStimulator
    from sim_devices.stimulator_device import SimStimulatorServer

    tries = failures = 0
    server = SimStimulatorServer(_world())
    stim = ScpiStimulator.open(server.start(), limits=StimulusLimits(), timeout_s=1.0)
    try:
        stim.train(3.0, 0.2, 100, 300)
        for _ in range(n):
            tries += 1
            try:
                stim.train(3.0, 0.2, 100, 300)
            except LimitError:
                failures += int(bool(server.output_on))
        failures += sum(1 for c in server.commands if c == "*TRG") - 1
    finally:
        stim.close()
        server.close()
    rig = start_sim_daq_rig(sim_daq_section(10000), seed=1)
    try:
        rig.amplifier.start()
        rig.stimulator.configure(_train_spec())
        rig.stimulator.fire()
        for _ in range(n):
            tries += 1
            try:
                rig.stimulator.fire()
            except LimitError:
                pass
        time.sleep(0.5)
        rig.stimulator.set_output(False)
        failures += len(rig.stimulator.fired_at) - 1
        failures += int(rig.sim.ao_volts != 0.0)
    finally:
        rig.close()
    return tries, failures


def _train_spec():
    from drivers.capabilities import StimulusSpec
    return StimulusSpec.train(3.0, 0.2, 100, 300)


# ----------------------------------------------------------------------- item 6

def _nested_yaml(n: int) -> str:
    return "name: x\nsteps:\n  - {kind: note, text: a}\ndescription: " + "[" * n + "]" * n + "\n"


def attack_input_files() -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)

        def refused_one_line(args, must=()) -> bool:
            r = cli(*args)
            return r.returncode != 0 and one_line(r.stderr) and all(m in r.stderr for m in must)

        # deep nesting
        cases = []
        for n in (100, 900, 5000):
            p = t / f"deep{n}.yaml"
            p.write_text(_nested_yaml(n))
            cases.append((["run", str(p), "--sim", "--yes", "--out", f"{tmp}/o.h5"], [p.name]))
            r = t / f"deep{n}.toml"
            r.write_text("name = 'x'\n[sim]\n[limits]\nx = " + "[" * n + "]" * n + "\n")
            cases.append((["run", str(ROOT / "protocols/library/protocol1-demo.yaml"), "--rig",
                           str(r), "--yes", "--out", f"{tmp}/o.h5"], [r.name]))
            m = t / f"map{n}.yaml"
            m.write_text("name: x\nsteps:\n  - {kind: note, text: a}\ndescription:\n"
                         + "".join("  " * i + f"k{i}:\n" for i in range(min(n, 900))) + "  " * 900 + "v: 1\n")
            cases.append((["run", str(m), "--sim", "--yes", "--out", f"{tmp}/o.h5"], [m.name]))
        out["deep nesting (YAML/TOML)"] = (len(cases), sum(not refused_one_line(a, m) for a, m in cases))

        broken = ["name: x\x07\nsteps: []\n", "name: \x1b[2Jx\n", "name: x\x00\n",
                  "name: x\nsteps: [\n", "name: 'x\n", "name: x\n  bad: indent\n:\n",
                  "name: x\nsteps:\n- a\n b: c\n", "\tname: x\n", "name: *nope\n",
                  "name: !!python/object:os.system x\n", "%YAML 9.9\n---\nname: x\n"]
        cases = []
        for i, text in enumerate(broken):
            p = t / f"broken{i}.yaml"
            p.write_text(text)
            cases.append((["run", str(p), "--sim", "--yes", "--out", f"{tmp}/o.h5"], [p.name]))
        bad_toml = ["name = \n", "[limits\n", "name = 'x'\nname = 'y'\n", "x = [1,\n", "a.b = 1\na = 2\n"]
        for i, text in enumerate(bad_toml):
            r = t / f"broken{i}.toml"
            r.write_text(text)
            cases.append((["run", str(ROOT / "protocols/library/protocol1-demo.yaml"), "--rig",
                           str(r), "--yes", "--out", f"{tmp}/o.h5"], [r.name]))
        out["YAML/TOML reader errors"] = (len(cases), sum(not refused_one_line(a, m) for a, m in cases))

        big = "9" * 5000
        p = t / "bigint.yaml"
        p.write_text(HEAD + SUPRA + f"  - {{kind: twitch, count: {big}, interval_s: 1}}\n")
        r = t / "bigint.toml"
        r.write_text(f"name = 'x'\n[sim]\n[limits]\nmax_current_mA = {big}\n")
        cases = [(["run", str(p), "--sim", "--yes", "--out", f"{tmp}/o.h5"], [p.name]),
                 (["run", str(ROOT / "protocols/library/protocol1-demo.yaml"), "--rig", str(r),
                   "--yes", "--out", f"{tmp}/o.h5"], [r.name])]
        out["5000-digit integer"] = (len(cases), sum(not refused_one_line(a, m) for a, m in cases))

        # escape sequences printed raw
        esc = t / "esc.yaml"
        esc.write_text('name: "evil\\e]0;pwned\\a\\e[2J"\nsteps:\n  - {kind: note, text: "hi\\e[31m"}\n')
        tries = failures = 0
        for args in (["run", str(esc), "--sim", "--yes", "--out", f"{tmp}/e1.h5"],
                     ["run", str(ROOT / "protocols/library/protocol1-demo.yaml"), "--sim", "--yes",
                      "--out", f"{tmp}/e2.h5", "--subject", "rat\x1b[2J\x1b]0;x\x07"],
                     ["run", str(esc), "--sim", "--yes", "--out", f"{tmp}/e3.h5", "--muscle-length-mm", "x"]):
            tries += 1
            try:
                r = cli(*args, timeout=25)
                text = r.stdout + r.stderr
            except subprocess.TimeoutExpired as exc:
                text = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            if "\x1b" in text or "\x07" in text:
                failures += 1
        out["escape sequences printed"] = (tries, failures)

        cases = [(["run", str(esc), "--sim", "--yes", "--out", f"{tmp}/i.h5", "--muscle-length-mm", v], [])
                 for v in ("inf", "nan", "-inf", "1e999")]
        out["non-finite metadata entered"] = (len(cases), sum(not refused_one_line(a, m) for a, m in cases))

        multi = t / "multi.yaml"
        multi.write_text(HEAD + SUPRA + "  - {kind: tetanus, frequency_hz: 500, duration_ms: 3000, "
                                        "rest_s: 0}\n  - {kind: twitch, count: 0, interval_s: 1}\n")
        r = cli("run", str(multi), "--sim", "--yes", "--out", f"{tmp}/m.h5")
        bad = "steps[" in r.stderr or "more problem" in r.stderr
        out["messages: step numbers, every problem"] = (1, int(bad))
    return out


# ----------------------------------------------------------------------- item 4

def attack_late_reply(n: int = 10) -> tuple[int, int]:
    """A reply delayed past the timeout must never answer a later query."""
    from drivers.stimulator.driver import ScpiStimulator
    from sim_devices.stimulator_device import SimStimulatorServer
    from sim_devices.world import SimWorld
    from sim_devices.muscle import get_preset
    from drivers.limits import StimulusLimits

    tries = failures = 0
    for k in range(n):
        world = _world()
        server = SimStimulatorServer(world)
        delay = {"left": 0}
        original = server.execute_line

        def slow(line, original=original):
            if delay["left"] and line.strip().upper().startswith("OUTP?"):
                delay["left"] -= 1
                time.sleep(0.45)
            return original(line)

        server.execute_line = slow
        resource = server.start()
        stim = ScpiStimulator.open(resource, limits=StimulusLimits(), timeout_s=0.3)
        seen = _Captured()
        logging.getLogger("drivers").addHandler(seen)
        try:
            delay["left"] = 1
            try:
                stim.set_output(False)
            except Exception:
                pass
            time.sleep(0.05 * (k % 4))
            tries += 1
            try:
                errors = stim.read_errors()       # SYST:ERR? must get its own answer
                stim.set_output(False)            # OUTP? must get its own answer
                if errors:
                    failures += 1
            except Exception as exc:
                seen.messages.append(str(exc))
            stim.close()
            if any("expected" in m or "answered" in m for m in seen.messages):
                failures += 1          # a reply was taken as the answer to another query
        finally:
            logging.getLogger("drivers").removeHandler(seen)
            stim.close()
            server.close()
    return tries, failures


class _Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _world():
    from sim_devices.world import SimWorld
    return SimWorld()


STALL_SCRIPT = r"""
import logging, sys, threading, time
import drivers.transports.visa as visa
from drivers.errors import DeviceTimeout
detected = []
_read = visa.VisaTransport._read
def timed_read(self, command, timeout_s):
    try:
        return _read(self, command, timeout_s)
    except DeviceTimeout:
        detected.append(time.monotonic())     # the fault is detected here
        raise
visa.VisaTransport._read = timed_read
import drivers.amplifier.stream as amp
_die = amp.AmplifierStream.die
def timed_die(self, *args, **kwargs):
    detected.append(time.monotonic())         # the amplifier's fault is detected here
    return _die(self, *args, **kwargs)
amp.AmplifierStream.die = timed_die
from app.rig import start_sim_rig
from app.session import ExperimentSession
from app.metadata import SessionMetadata
from protocols.loader import load_protocol
logging.basicConfig(filename=sys.argv[2], level=logging.INFO)
rig = start_sim_rig("rat-edl", seed=1)
sim = rig.sim
protocol = load_protocol("protocols/library/protocol1-demo.yaml")
s = ExperimentSession(protocol, rig, sys.argv[1], SessionMetadata(subject_id="x"), auto_continue=True, overwrite=True)
s.start()
time.sleep(float(sys.argv[4]))               # the stall hits a different moment each try
t0 = time.monotonic()
device = sim.stimulator_device if sys.argv[3] == "stimulator" else sim.amplifier_device
device.faults.stall = True
f = s.wait(30)
t1 = time.monotonic()
s.close()
t2 = time.monotonic()
print(f"{t1 - t0:.3f} {t2 - t0:.3f} {t2 - detected[0] if detected else float('nan'):.3f}")
"""


def attack_stall_exit(n: int = 5, device: str = "stimulator") -> tuple[int, int, list[float]]:
    """Stimulator stops answering mid-run: time from the fault's detection (the first
    query timing out) to the session closed (output off confirmed or reported
    unconfirmable, recording closed, devices released)."""
    times: list[float] = []
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "stall.py"
        script.write_text(STALL_SCRIPT)
        for i in range(n):
            r = subprocess.run([PY, str(script), f"{tmp}/s{i}.h5", f"{tmp}/log{i}.txt", device,
                                str(1.5 + 0.8 * i)],
                               capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=120)
            try:
                times.append(float(r.stdout.split()[-1]))   # from detection to the run closed
            except (IndexError, ValueError):
                failures += 1
                continue
    return n, failures, times


KILL_SCRIPT = r"""
import sys, threading, time
import app.rig.connect as connect
orig = connect.start_sim_rig
def wrapped(*a, **kw):
    rig = orig(*a, **kw)
    def kill():
        time.sleep(float(sys.argv[1]))
        rig.sim.close()
    threading.Thread(target=kill, daemon=True).start()
    return rig
connect.start_sim_rig = wrapped
import app.rig
app.rig.start_sim_rig = wrapped
from app.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


def attack_killed_devices(n: int = 3) -> tuple[int, int]:
    """Simulated devices killed mid-run: stderr must be one line about the fault (plus
    the run's own one-line summary), never a traceback."""
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "kill.py"
        script.write_text(KILL_SCRIPT)
        for i in range(n):
            r = subprocess.run([PY, str(script), str(2.0 + 0.5 * i), "run",
                                "protocols/library/protocol1-demo.yaml", "--sim", "--yes",
                                "--out", f"{tmp}/k{i}.h5"],
                               capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=120)
            lines = [x for x in r.stderr.splitlines() if x.strip()]
            if "Traceback" in r.stderr or len(lines) > 2 or r.returncode == 0:
                failures += 1
                print(f"  kill failure (rc {r.returncode}): {r.stderr.strip()[:600]}", file=sys.stderr)
    return n, failures


def attack_double_sigint(n: int = 6) -> tuple[int, int]:
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            p = subprocess.Popen([PY, "-m", "app.cli.main", "run",
                                  "protocols/library/protocol1-demo.yaml", "--sim", "--yes",
                                  "--out", f"{tmp}/i{i}.h5"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)
            if i % 2:                            # while starting (connecting, taring)
                time.sleep(1.0 + 0.5 * i)
            else:                                # once the run is stimulating
                line, deadline = "", time.monotonic() + 60
                while "(supramaximal)" not in line and time.monotonic() < deadline:
                    line = p.stdout.readline()
                time.sleep(0.3)
            p.send_signal(signal.SIGINT)
            time.sleep(0.02 + 0.04 * i)
            p.send_signal(signal.SIGINT)
            try:
                _, err = p.communicate(timeout=30)
            except subprocess.TimeoutExpired:      # still running after two signals: a hang
                p.kill()
                p.communicate()
                failures += 1
                continue
            if ("output off" not in err and "nothing was stimulated" not in err) \
                    or "Traceback" in err or p.returncode != 130:
                failures += 1
                print(f"  SIGINT x2 failure (rc {p.returncode}): {err.strip()[:400]}", file=sys.stderr)
    return n, failures


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows: dict[str, object] = {}

    def run(name, fn):
        if args.only and args.only not in name:
            return
        t0 = time.monotonic()
        try:
            result = fn()
        except Exception as exc:  # an attack that crashes the harness is a finding too
            result = f"harness error: {type(exc).__name__}: {exc}"
        if isinstance(result, dict):
            rows.update(result)
        else:
            rows[name] = result
        print(f"# {name}: {result} ({time.monotonic() - t0:.1f} s)", file=sys.stderr)

    run("GUI path starts what the CLI refuses", attack_gui_runs_what_cli_refuses)
    run("protocol editor accepts what the rig refuses", attack_editor_accepts_what_rig_refuses)
    run("validator accepts, driver refuses (rounding)", attack_validator_driver_disagree)
    run("twitch barrage accepted", attack_twitch_barrage)
    run("direct API: trains back to back", attack_direct_api_back_to_back)
    run("input files", attack_input_files)
    run("late SCPI reply paired with a later query", attack_late_reply)
    run("stimulator stall: exit time", attack_stall_exit)
    run("amplifier stall: exit time", lambda: attack_stall_exit(device="amplifier"))
    run("devices killed: stderr lines", attack_killed_devices)
    run("SIGINT twice within 150 ms", attack_double_sigint)
    if args.json:
        print(json.dumps(rows, default=str))
    else:
        for k, v in rows.items():
            print(f"{k:50s} {v}")


if __name__ == "__main__":
    main()
