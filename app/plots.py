"""PNG figures of the analysis: each contraction with its measures marked, the
force-frequency curve with its sigmoid fit, the fatigue series, group curves.

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot state,
no GUI backend), so this works headless and from worker threads.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from app.analysis.force_frequency import sigmoid
from app.analysis.results import SessionResult, TrialResult
from app.recording import Recording

if TYPE_CHECKING:
    from app.compare import Comparison

DPI = 110


def _figure(w: float = 7.5, h: float = 4.2) -> Figure:
    fig = Figure(figsize=(w, h), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def plot_trial(recording: Recording, result: TrialResult, path: str | Path) -> Path:
    """Force vs time from the stimulus, with baseline, peak (Pt/Po), TPT, ½RT marked."""
    fs = recording.sample_rate_hz
    m = result.markers
    fig = _figure()
    ax = fig.add_subplot()
    if m:
        start, stop = int(m["window_start"]), int(m["window_stop"])
        stim = m["stim"]
    else:                                  # failed trial: show the neighbourhood
        stim = result.stim_time_s * fs if math.isfinite(result.stim_time_s) else 0.0
        start = max(0, int(stim - 0.05 * fs))
        stop = min(recording.samples, int(stim + 0.5 * fs))
    y = np.asarray(recording.force_mN[start:stop], dtype=np.float64)
    t_ms = (np.arange(start, stop) - stim) / fs * 1000.0
    ax.plot(t_ms, y, lw=0.8, color="0.2", label="force")
    label = "Pt" if result.kind == "twitch" else "Po"
    if result.ok:
        b, peak = result.baseline_mN, result.baseline_mN + result.peak_force_mN
        tp = (m["peak"] - stim) / fs * 1000.0
        ax.axhline(b, color="tab:blue", lw=0.8, ls="--", label=f"baseline {b:.1f} mN")
        ax.plot([tp], [peak], "o", color="tab:red",
                label=f"{label} {result.peak_force_mN:.1f} mN")
        ax.annotate("", xy=(tp, b), xytext=(tp, peak),
                    arrowprops=dict(arrowstyle="<->", color="tab:red", lw=0.8))
        ax.annotate("", xy=(0, peak), xytext=(tp, peak),
                    arrowprops=dict(arrowstyle="<->", color="tab:green", lw=0.8))
        ax.text(tp / 2, peak, f"TPT {result.time_to_peak_ms:.2f} ms", color="tab:green",
                ha="center", va="bottom", fontsize=8)
        if math.isfinite(m.get("relax", math.nan)):
            tr = (m["relax"] - stim) / fs * 1000.0
            t0 = (m["relax_ref"] - stim) / fs * 1000.0
            lvl = m["relax_level_mN"]
            ax.plot([tr], [lvl], "s", color="tab:purple",
                    label=f"½RT {result.half_relaxation_ms:.2f} ms")
            ax.annotate("", xy=(t0, lvl), xytext=(tr, lvl),
                        arrowprops=dict(arrowstyle="<->", color="tab:purple", lw=0.8))
        end = m.get("fti_end", math.nan)
        if math.isfinite(end):
            ax.set_xlim(t_ms[0], min(t_ms[-1], (end - stim) / fs * 1000.0 * 1.3 + 10))
    stim_ms = (np.asarray(recording.stim_samples) - stim) / fs * 1000.0
    stim_ms = stim_ms[(stim_ms >= t_ms[0]) & (stim_ms <= t_ms[-1])] if t_ms.size else stim_ms[:0]
    ax.plot(stim_ms, np.full(stim_ms.shape, np.nanmin(y) if y.size else 0.0), "|",
            color="tab:orange", ms=10, label="stimulus")
    title = f"trial {result.index} · {result.kind}"
    if result.kind == "tetanus" and math.isfinite(result.frequency_hz):
        title += f" {result.frequency_hz:g} Hz × {result.pulses}"
    if result.step:
        title += f" · {result.step}"
    if result.error:
        title += f"\n{result.error}"
    kept = [f for f in result.flags if f.rule.how == "kept"]
    if kept:
        ax.text(0.01, 0.99, "\n".join(f"⚑ {f.code}: {f.text}" for f in kept),
                transform=ax.transAxes, ha="left", va="top", fontsize=6.5, color="tab:red",
                wrap=True)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("time from stimulus (ms)")
    ax.set_ylabel("force (mN)")
    ax.legend(fontsize=7, loc="upper right")
    path = Path(path)
    fig.savefig(path)
    return path


def plot_force_frequency(result: SessionResult, path: str | Path) -> Path | None:
    """Force vs frequency with the fitted sigmoid; None if fewer than 2 frequencies."""
    ff = result.summary.get("force_frequency") or {}
    freq = np.asarray(ff.get("frequency_hz") or [], dtype=np.float64)
    if freq.size < 2:
        return None
    force = np.asarray(ff["force_mN"], dtype=np.float64)
    fig = _figure(6.0, 4.2)
    ax = fig.add_subplot()
    ax.plot(freq, force, "o", color="tab:blue", label="measured")
    fit = ff.get("fit")
    if fit:
        f = np.geomspace(max(0.5, freq.min() * 0.8), freq.max() * 1.2, 300)
        ax.plot(f, sigmoid(f, fit["fmin_mN"], fit["fmax_mN"], fit["midpoint_hz"],
                           fit["hill_slope"]),
                color="tab:red", lw=1,
                label=f"fit: f50 {fit['f50_hz'] or math.nan:.1f} Hz (50 % of Fmax), "
                      f"h {fit['hill_slope']:.2f}, R² {fit['r_squared']:.3f}")
        if fit.get("f50_hz") and math.isfinite(fit["f50_hz"]):
            ax.axvline(fit["f50_hz"], color="tab:red", lw=0.6, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("stimulation frequency (Hz)")
    ax.set_ylabel("peak force above baseline (mN)")
    ax.set_title(f"force-frequency · {Path(result.file).name}", fontsize=9)
    ax.legend(fontsize=8)
    path = Path(path)
    fig.savefig(path)
    return path


def plot_fatigue(result: SessionResult, path: str | Path) -> Path | None:
    """Force of each train of the fatigue series; None when there is none."""
    fat = result.summary.get("fatigue")
    if not fat:
        return None
    fig = _figure(6.0, 4.0)
    ax = fig.add_subplot()
    ax.plot(fat["time_s"], fat["force_mN"], "o-", ms=3, lw=0.8)
    ax.axhline(0.5 * fat["first_mN"], color="0.5", lw=0.6, ls=":", label="50 % of first")
    ax.set_xlabel("time from first train (s)")
    ax.set_ylabel("peak force (mN)")
    ax.set_title(f"fatigue · index {fat['index']:.2f} (last/first)", fontsize=9)
    ax.legend(fontsize=8)
    path = Path(path)
    fig.savefig(path)
    return path


def plot_session(recording: Recording, result: SessionResult, out_dir: str | Path) -> list[Path]:
    """All figures of a session into ``out_dir``; returns the written paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = _safe(Path(result.file).stem)
    written = [plot_trial(recording, t, out / f"{stem}_trial{t.index:03d}_{t.kind}.png")
               for t in result.trials]
    for fn, name in ((plot_force_frequency, "force_frequency"), (plot_fatigue, "fatigue")):
        p = fn(result, out / f"{stem}_{name}.png")
        if p:
            written.append(p)
    return written


def plot_group_force_frequency(comp: "Comparison", path: str | Path) -> Path | None:
    """Mean ± SEM normalised force-frequency curve of each group."""
    if not comp.force_frequency:
        return None
    fig = _figure(6.0, 4.2)
    ax = fig.add_subplot()
    for g in comp.groups:
        pts = [p for p in comp.force_frequency if p.group == g]
        if not pts:
            continue
        f = np.array([p.frequency_hz for p in pts])
        mean = np.array([p.mean for p in pts])
        sem = np.nan_to_num(np.array([p.sem for p in pts]))
        ax.errorbar(f, mean, yerr=sem, marker="o", ms=4, capsize=3, lw=1,
                    label=f"{g} (n={len(comp.members[g])})")
    ax.set_xscale("log")
    ax.set_xlabel("stimulation frequency (Hz)")
    ax.set_ylabel("force / session maximum")
    ax.set_title("force-frequency by group (mean ± SEM)", fontsize=9)
    ax.legend(fontsize=8)
    path = Path(path)
    fig.savefig(path)
    return path
