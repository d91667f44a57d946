"""Steps and the trial helper reach the runner only through a named surface.

``protocols.engine.context`` lists what a step may do to the runner (``StepHost``) and what
delivering a trial needs (``TrialHost``). These tests fail when the runner stops
satisfying them, or when a step, the step context or ``deliver`` uses anything not
listed there (read from their source: a new reach into the runner shows up here)."""
from __future__ import annotations

import ast
import inspect
import math
from datetime import datetime
from pathlib import Path

import numpy as np

from app.session import file_row
from drivers.capabilities import Rig
from protocols.engine import ProtocolRunner, RecordedTrial, StepHost, TrialHost
from protocols.engine import context as context_module

from protocols.engine import trial as trial_module
from protocols.engine.context import StepContext
from protocols.engine.stream import StreamBuffer, StreamView
from protocols.loader import parse_protocol

ENGINE = Path(trial_module.__file__).parent


def _members(proto: type) -> set[str]:
    names: set[str] = set()
    for klass in proto.__mro__:
        if klass.__module__ == context_module.__name__:
            names |= {n for n in vars(klass) if not n.startswith("_")}
    return names


def _attributes_of(source: str, owner: str) -> set[str]:
    """Every ``<owner>.name`` in ``source`` (``owner`` may be dotted, e.g. self._host)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and ast.unparse(node.value) == owner:
            found.add(node.attr)
    return found


def test_the_runner_satisfies_both_surfaces():
    spec = parse_protocol("name: t\nsteps:\n  - kind: rest\n    duration_s: 0.1\n", source="t.yaml")
    amplifier = type("Amp", (), {"sample_rate_hz": 1000.0})()
    runner = ProtocolRunner(spec, Rig(amplifier=amplifier, stimulator=object()), analyzer=None)
    for name in _members(StepHost):
        assert hasattr(runner, name), name
    assert isinstance(runner, StepHost) and isinstance(runner, TrialHost)


def test_deliver_uses_only_the_trial_surface():
    used = _attributes_of(inspect.getsource(trial_module), "host")
    assert used and used <= _members(TrialHost), used - _members(TrialHost)


def test_deliver_only_reads_the_stream():
    source = inspect.getsource(trial_module)
    used = _attributes_of(source, "host.stream") | _attributes_of(source, "buf")
    allowed = {n for n in vars(StreamView) if not n.startswith("_")}
    assert used and used <= allowed, used - allowed
    assert isinstance(StreamBuffer(), StreamView)


def test_the_step_context_uses_only_the_step_surface():
    used = _attributes_of(inspect.getsource(context_module), "self._host")
    assert used and used <= _members(StepHost), used - _members(StepHost)


def test_steps_use_only_the_step_context():
    public = {n for n in dir(StepContext) if not n.startswith("_")} | {
        "index", "protocol", "step", "name", "kind", "result"}   # set in __init__
    for path in sorted((ENGINE / "steps").glob("*.py")):
        used = _attributes_of(path.read_text(), "ctx")
        assert used <= public, f"{path.name} uses {sorted(used - public)}"
        assert "runner" not in used and "_host" not in used


def test_the_file_row_keeps_the_firing_time():
    fired = 1_700_000_000.25
    trial = RecordedTrial(index=3, step="twitch", step_index=1, kind="twitch", start_sample=10,
                          stop_sample=90, first_pulse_sample=None,
                          pulse_samples=np.zeros(0, np.int64), requested_pulses=1,
                          current_mA=1.0, pulse_width_ms=0.2, frequency_hz=None,
                          status="completed", length_mm=None, wall_time_s=fired)
    row = file_row(trial)
    assert datetime.fromisoformat(row.wall_time_utc).timestamp() == fired
    assert row.first_pulse_sample == -1 and math.isnan(row.length_mm)
