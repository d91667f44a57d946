"""The supramaximal search leaves twitches whose peak the analysis doubts out of its
decision (flag concerning the peak force, or a refusal for signal quality), and says
so when it has to decide on them (protocols/engine/steps/supramaximal.py)."""
import math

import numpy as np
import pytest

from app.analysis import analyze_recording
from protocols.engine.steps import supramaximal
from protocols.engine.trial import Delivered, peak_doubt
from protocols.schema import SupramaximalStep
from tests.synthetic import GammaTwitch, twitch_trace


class ScriptedContext:
    """A StepContext whose twitches give force(current) and a doubt(current)."""

    def __init__(self, force, doubt):
        self.force, self.doubt = force, doubt
        self.result: dict = {}
        self.warnings: list[str] = []
        self.log_entries: list = []
        self.working = None
        self.delivered: list[float] = []
        self.last_fire_s = 0.0                      # start-to-start intervals count from here

    def pulse_width_ms(self):
        return 0.2

    def twitch_spec(self, current):
        return current

    def deliver_measured(self, current):
        self.delivered.append(current)
        return Delivered(self.force(current), self.doubt(current), len(self.delivered) - 1)

    def deliver(self, current):                     # what the search used to call
        return self.deliver_measured(current).peak_mN

    def warn(self, message):
        self.warnings.append(message)

    def progress(self, *args, **kwargs):
        pass

    def rest_until(self, deadline):
        pass

    def cap_current(self, current):
        return current

    def set_working_current(self, current):
        self.working = current

    def log(self, kind, message, **fields):
        self.log_entries.append((kind, message, fields))


STEP = SupramaximalStep(kind="supramaximal", start_mA=0.5, step_mA=0.5, max_mA=5.0,
                        interval_s=0.1, plateau_tolerance=0.02, plateau_steps=2,
                        min_force_mN=20.0)


def recruitment(current):
    """Every axon recruited from 2.5 mA on: 600 mN."""
    return 600.0 * min(1.0, current / 2.5)


def test_refused_twitches_do_not_make_an_early_plateau():
    """1.5 and 2.0 mA were refused as artefacts: their 'peaks' are the simple estimate of
    the artefact (600 mN). Counted, they made a plateau at 1.5 mA (working 1.95 mA)."""
    refused = {1.5, 2.0}
    ctx = ScriptedContext(lambda c: 600.0 if c in refused else recruitment(c),
                          lambda c: ("refused (artefact-peak): peak only 1 ms after the "
                                     "stimulus") if c in refused else None)
    supramaximal.run(ctx, STEP)
    r = ctx.result
    assert r["plateau_found"] and r["plateau_current_mA"] == pytest.approx(2.5)
    assert ctx.working == pytest.approx(1.3 * 2.5)
    assert not r["decided_on_flagged"] and r["decision_flags"] == []
    assert [bool(d) for d in r["recruitment_flags"]] == [c in refused
                                                         for c in r["recruitment_currents_mA"]]
    named = [w for w in ctx.warnings if "left out" in w]
    assert len(named) == 2 and all("artefact-peak" in w for w in named)


def test_flagged_twitches_that_decide_flag_the_result_with_the_reason():
    """1.5 and 2.0 mA sit on a drift the analysis flagged and read 600 mN: the plateau
    they make is reported as decided on flagged peaks, naming them and the flag."""
    flagged = {1.5, 2.0}
    ctx = ScriptedContext(lambda c: 600.0 if c in flagged else recruitment(c),
                          lambda c: "baseline-drift (sloping baseline)" if c in flagged else None)
    supramaximal.run(ctx, STEP)
    r = ctx.result
    assert r["decided_on_flagged"]
    assert any(f.startswith("1.5 mA: baseline-drift") for f in r["decision_flags"])
    assert any("decided on flagged" in w and "baseline-drift" in w for w in ctx.warnings)
    assert "flagged" in ctx.log_entries[-1][1]


def test_flagged_twitches_outside_the_decision_leave_it_unflagged():
    ctx = ScriptedContext(recruitment, lambda c: "gaps-filled (lost samples)" if c < 1.5
                          else None)
    supramaximal.run(ctx, STEP)
    r = ctx.result
    assert r["plateau_current_mA"] == pytest.approx(2.5) and not r["decided_on_flagged"]
    assert sum(bool(d) for d in r["recruitment_flags"]) == 2


def test_clean_search_is_unchanged():
    ctx = ScriptedContext(recruitment, lambda c: None)
    supramaximal.run(ctx, STEP)
    assert ctx.result["plateau_current_mA"] == pytest.approx(2.5)
    assert ctx.result["recruitment_flags"] == [""] * len(ctx.delivered)
    assert ctx.delivered[-1] == pytest.approx(3.5) and not ctx.warnings


def test_peak_doubt_reads_the_analysis_flags():
    """On real analysis results: a twitch on a drift is doubted (baseline-drift), a clean
    one is not, an artefact without contraction is (refused), no contraction is not."""
    clean = twitch_trace(GammaTwitch(0.015, 3.0), fs=5_000.0, pt=300.0, noise_sd=0.3)
    r = analyze_recording(clean.recording()).trials[0]
    assert peak_doubt(r.to_dict()) is None
    drift = twitch_trace(GammaTwitch(0.015, 3.0), fs=5_000.0, pt=300.0, noise_sd=0.3)
    drift.force = drift.force + 600.0 * np.arange(drift.force.size) / drift.fs
    r = analyze_recording(drift.recording()).trials[0]
    assert "baseline-drift" in peak_doubt(r.to_dict())
    refused = {"error": "peak only 1 ms after the stimulus", "peak_force_mN": None,
               "flags": [{"code": "artefact-peak", "text": "..."}]}
    assert peak_doubt(refused).startswith("refused (artefact-peak)")
    assert peak_doubt({"error": "no contraction: ...", "flags": []}) is None
    assert peak_doubt({"flags": [{"code": "multiple-contractions", "text": "x"}]}) is None
    assert not math.isnan(r.peak_force_mN)
