"""Notebook-ready figures: headings with subject, date, step, current and length; no
label over the trace; Hz ticks on force–frequency; a length–tension figure."""
from __future__ import annotations

import math

import numpy as np
import pytest

from app.analysis import AnalysisConfig, analyze_recording
from app.plots import (length_tension, plot_force_frequency, plot_length_tension, plot_session,
                       session_heading, trial_figure, trial_heading)
from tests.synthetic import SessionSpec, session_recording


@pytest.fixture(scope="module")
def analysed():
    rec, truth = session_recording(SessionSpec(fs=5000.0, twitches=2, ff_freqs=(1, 10, 30, 50, 100, 150),
                                               with_trials=True), group="vehicle")
    rec.metadata.update(subject_id="rat-42", muscle="EDL", side="left", date="2026-11-30")
    res = analyze_recording(rec, AnalysisConfig())
    return rec, res


def test_headings_name_subject_date_step_current_length(analysed):
    rec, res = analysed
    head = session_heading(rec.metadata, "2026-11-30")
    assert head.startswith("rat-42 · 2026-11-30 · EDL left · vehicle")
    t = res.trials[0]
    t.current_mA, t.length_mm, t.step = 3.25, 31.5, "twitches"
    text = trial_heading(t)
    assert "trial 0" in text and "step twitches" in text and "3.25 mA" in text and "31.5 mm" in text
    fig = trial_figure(rec, t)
    title = fig.axes[0].get_title(loc="left")
    assert "rat-42" in title and "2026-11-30" in title and "3.25 mA" in title and "31.5 mm" in title


@pytest.mark.parametrize("which", [0, -1])       # a twitch and the last tetanus
def test_no_label_covers_the_trace(analysed, which):
    rec, res = analysed
    fig = trial_figure(rec, res.trials[which])
    fig.canvas.draw()
    ax = fig.axes[0]
    trace = ax.lines[0]
    pts = ax.transData.transform(np.column_stack(trace.get_data()))
    inside = ax.get_window_extent()
    pts = pts[(pts[:, 0] >= inside.x0) & (pts[:, 0] <= inside.x1)]
    renderer = fig.canvas.get_renderer()
    texts = list(ax.texts) + (list(ax.get_legend().get_texts()) if ax.get_legend() else [])
    assert texts
    for text in texts:
        if not text.get_text():
            continue
        box = text.get_window_extent(renderer)
        hit = ((pts[:, 0] >= box.x0) & (pts[:, 0] <= box.x1) & (pts[:, 1] >= box.y0) & (pts[:, 1] <= box.y1))
        assert not hit.any(), f"label {text.get_text()!r} covers the trace"


def test_force_frequency_ticks_read_in_hz(analysed, tmp_path):
    _rec, res = analysed
    from matplotlib.figure import Figure
    seen = {}
    orig = Figure.savefig

    def grab(self, *a, **k):
        seen["fig"] = self
        return orig(self, *a, **k)
    Figure.savefig = grab
    try:
        assert plot_force_frequency(res, tmp_path / "ff.png").exists()
    finally:
        Figure.savefig = orig
    fig = seen["fig"]
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert "1" in labels and "10" in labels and "150" in labels
    assert not any("^" in l or "10^" in l or "$" in l for l in labels)


def test_length_tension_figure_from_the_optimal_length_step(analysed, tmp_path):
    rec, res = analysed
    import copy
    res2 = copy.deepcopy(res)
    twitches = [t for t in res2.trials if t.kind == "twitch"]
    assert len(twitches) >= 2
    for t, (length, force) in zip(twitches, [(28.0, 300.0), (32.0, 400.0)]):
        t.step, t.length_mm, t.peak_force_mN = "optimal-length", length, force
    lengths, means, lo = length_tension(res2)
    assert lengths == [28.0, 32.0] and means == [300.0, 400.0] and lo == 32.0
    assert plot_length_tension(res2, tmp_path / "lt.png").exists()
    assert plot_length_tension(res, tmp_path / "none.png") is None or len(length_tension(res)[0]) >= 2
    written = plot_session(rec, res2, tmp_path / "all")
    assert any(p.name.endswith("length_tension.png") for p in written)
