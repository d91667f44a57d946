"""Test doubles for the GUI tests: a fake rig and a fake protocol session.

They let the GUI's wiring (events to widgets, STOP, prompts, validation) be tested fast
and deterministically; the real simulated rig and protocol runner are exercised in
``test_gui_acquire.py``. No tests here.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from drivers.capabilities import Calibration, Rig, SampleBlock

if TYPE_CHECKING:
    from protocols.events import Finished


class FakeStimulator:
    identity = "Fake,Stimulator,0,1"

    def __init__(self) -> None:
        self.output = False
        self.aborts = 0
        self.fired = 0

    def configure(self, stimulus) -> None:
        pass

    def fire(self) -> None:
        self.output = True
        self.fired += 1

    def set_output(self, on: bool) -> None:
        self.output = bool(on)

    def abort(self) -> None:
        self.aborts += 1
        self.output = False

    def read_errors(self) -> list[str]:
        return []

    def close(self) -> None:
        self.output = False


class FakeAmplifier:
    """Streams a slow sine at 1 kHz from its own thread, with trigger edges on request."""

    identity = "Fake,Amplifier,0,1"

    def __init__(self, rate: float = 1000.0) -> None:
        self.sample_rate_hz = rate
        self.calibration = Calibration(0.01, 0.0)
        self.streaming = False
        self.stats = None
        self._sinks = []
        self._thread = None
        self._stop = threading.Event()
        self.sample = 0
        self.pending_edges: list[int] = []
        self.level = 0.0

    def subscribe(self, sink):
        self._sinks.append(sink)
        return lambda: self._sinks.remove(sink)

    def subscribe_notices(self, sink):
        return lambda: None

    def configure(self, rate: int) -> None:
        self.sample_rate_hz = float(rate)

    def tare(self, samples: int = 1000) -> Calibration:
        self.calibration = Calibration(self.calibration.scale_mN_per_count, 123.0)
        return self.calibration

    def write_calibration(self, cal: Calibration) -> None:
        self.calibration = cal

    def start(self) -> None:
        self.sample = 0
        self._stop.clear()
        self.streaming = True
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        n = 20
        while not self._stop.wait(n / self.sample_rate_hz):
            first = self.sample
            t = (first + np.arange(n)) / self.sample_rate_hz
            force = (self.level + 5.0 * np.sin(2 * np.pi * t)).astype(np.float32)
            flags = np.zeros(n, np.uint8)
            for e in list(self.pending_edges):
                if first <= e < first + n:
                    flags[e - first] |= 1
                    force[e - first:] += 50.0
            block = SampleBlock(first, force, flags, self.sample_rate_hz)
            self.sample += n
            for s in list(self._sinks):
                s(block)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(2)
        self.streaming = False

    def close(self) -> None:
        self.stop()


def fake_rig() -> Rig:
    return Rig(stimulator=FakeStimulator(), amplifier=FakeAmplifier(), description={"fake": True})


class CapturingSession:
    """A session that records what it was lent (rig, file, metadata) and ends at once."""
    made: list["CapturingSession"] = []

    def __init__(self, *, rig, out_path, metadata, **kw) -> None:
        self.rig, self.out, self.metadata = rig, Path(out_path), metadata
        CapturingSession.made.append(self)

    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        return lambda: None

    def run(self) -> Any:
        from types import SimpleNamespace
        return SimpleNamespace(status="completed")

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def answer(self, prompt_id: str, value: Any = None) -> None: ...

    def abort(self, reason: str = "") -> None: ...


class FakeSession:
    """Runs a tiny protocol: twitches, a prompt, a force-frequency step; honours abort.

    Conforms to :class:`app.live.experiment.ProtocolSession`, as the real
    :class:`app.session.ExperimentSession` does (``tests/test_gui_seams.py``)."""

    instances: list["FakeSession"] = []

    def __init__(self, *, protocol, rig, out_path: Path, metadata, trials: int = 4,
                 prompt: bool = True, **kw) -> None:
        self.protocol, self.rig, self.path, self.metadata = protocol, rig, Path(out_path), metadata
        self.kwargs = kw
        self.trials = trials
        self.prompt = prompt
        self._subs = []
        self._answers: dict[str, object] = {}
        self._answered = threading.Event()
        self._abort = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self.paused_seen = False
        FakeSession.instances.append(self)

    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        self._subs.append(callback)
        return lambda: self._subs.remove(callback)

    def _emit(self, ev) -> None:
        for cb in list(self._subs):
            cb(ev)

    # runner API
    def pause(self) -> None:
        self._resume.clear()
        self.paused_seen = True

    def resume(self) -> None:
        self._resume.set()

    def abort(self, reason: str = "aborted by the operator") -> None:
        self._abort.set()
        self._answered.set()
        self._resume.set()

    def answer(self, prompt_id: str, value: Any = None) -> Any:
        self._answers[prompt_id] = value
        self._answered.set()

    def _sleep(self, s: float) -> bool:
        """False when aborted."""
        end = time.monotonic() + s
        while time.monotonic() < end:
            if self._abort.wait(0.01):
                return False
            self._resume.wait()
        return not self._abort.is_set()

    def run(self) -> "Finished":
        from protocols import events as ev
        amp, stim = self.rig.amplifier, self.rig.stimulator
        seen, position = threading.Event(), [0]

        def follow(block) -> None:      # the recorder's stream position, as the session's
            position[0] = block.first_sample + len(block.force_mN)
            seen.set()
        unfollow = amp.subscribe(follow)
        amp.start()
        seen.wait(5.0)                  # as the runner: the first step waits for the stream
        self.path.write_bytes(b"fake session")
        status = "completed"
        trial = 0
        steps = [("twitch", "twitch", self.trials, None), ("prompt", "prompt", 0, None),
                 ("force-frequency", "force_frequency", 3, [50.0, 100.0, 150.0])]
        try:
            for si, (name, kind, n, freqs) in enumerate(steps):
                if self._abort.is_set():
                    status = "aborted"
                    break
                self._emit(ev.StepStarted(index=si, count=len(steps), name=name, kind=kind,
                                          sample=position[0]))
                if kind == "prompt":
                    if not self.prompt:
                        continue
                    self._emit(ev.OperatorPrompt(id="len", text="Set the length and enter it",
                                                 requested="length_mm", default=32.0))
                    while not self._answered.wait(0.02):
                        pass
                    if "len" in self._answers:
                        self._emit(ev.PromptAnswered(id="len", value=self._answers["len"]))
                    continue
                for k in range(n):
                    if not self._sleep(0.05):
                        status = "aborted"
                        break
                    edge = amp.sample + 30
                    amp.pending_edges.append(edge)
                    stim.fire()
                    if not self._sleep(0.15):
                        status = "aborted"
                        break
                    stim.set_output(False)
                    f = freqs[k] if freqs else None
                    common = dict(trial_index=trial, step_index=si, step=name,
                                  kind="tetanus" if f else "twitch", status="completed",
                                  current_mA=1.0, frequency_hz=f, length_mm=None)
                    self._emit(ev.TrialRecorded(start_sample=edge - 20, stop_sample=edge + 100,
                                                first_pulse_sample=edge, pulses=1, requested_pulses=1,
                                                pulse_width_ms=0.2, **common))
                    res = {"index": trial, "kind": common["kind"], "peak_force_mN": 50.0 + 10 * k,
                           "baseline_mN": 0.0, "time_to_peak_ms": 1.0, "half_relaxation_ms": 20.0,
                           "frequency_hz": f, "error": None}
                    self._emit(ev.TrialAnalysed(pulses=1, result=res, **common))
                    trial += 1
                if status == "aborted":
                    break
        finally:
            stim.set_output(False)
            unfollow()
            amp.stop()
            finished = ev.Finished(status=status, trials=trial)
            self._emit(finished)
        return finished
