"""PNG figures of the analysis: each contraction with its measures marked, the
force-frequency curve with its sigmoid fit, the length–tension curve of the
optimal-length step, the fatigue series, group curves.

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot state,
no GUI backend), so this works headless and from worker threads. They are made to be
pasted into a notebook or a paper as they are: every title names the subject, the
date, the step, the current and the length (:func:`session_heading`); labels and the
legend sit outside the data area or below the baseline, never over the trace; the
force–frequency axis is labelled in Hz at the frequencies measured. The GUI's replay
exports the same figures (**Export figures…**).
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
from app.labels import peak_name
from app.recording import Recording, display_samples

if TYPE_CHECKING:
    from app.compare import Comparison

DPI = 110


def _figure(w: float = 7.5, h: float = 4.2) -> Figure:
    fig = Figure(figsize=(w, h), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def session_date(recording: Recording | None) -> str:
    """The session's date (yyyy-mm-dd) from the file, '' when it does not say."""
    if recording is None:
        return ""
    for key in ("date", "start_time_utc", "session_date"):
        v = recording.metadata.get(key)
        if v:
            return str(v)[:10]
    if str(recording.format).startswith("myoforce"):
        try:
            from app.recorder.reader import session_info
            return str(session_info(recording.source).get("start_time_utc") or "")[:10]
        except Exception:                 # a heading is not worth failing a figure for
            return ""
    return ""


def session_heading(metadata: dict, date: str = "") -> str:
    """'rat-07 · 2026-12-02 · EDL left · vehicle' from what the session says."""
    md = metadata or {}
    muscle = " ".join(str(md[k]) for k in ("muscle", "side") if md.get(k))
    bits = [str(md.get("subject_id") or "subject not given"), date, muscle, str(md.get("group") or "")]
    return " · ".join(b for b in bits if b)


def trial_heading(result: TrialResult) -> str:
    """'trial 15 · tetanus 150 Hz × 45 · step tetani · 3.25 mA · 31.99 mm'."""
    what = result.kind
    if result.kind == "tetanus" and math.isfinite(result.frequency_hz):
        what += f" {result.frequency_hz:g} Hz × {result.pulses}"
    bits = [f"trial {result.index}", what]
    if result.step:
        bits.append(f"step {result.step}")
    if math.isfinite(getattr(result, "current_mA", math.nan)):
        bits.append(f"{result.current_mA:g} mA")
    if math.isfinite(getattr(result, "length_mm", math.nan)):
        bits.append(f"{result.length_mm:g} mm")
    return " · ".join(bits)


def _outside_legend(ax, fig_note: str = "") -> None:
    """Legend (and an optional note) to the right of the axes: never over the trace."""
    leg = ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
                    frameon=False)
    if fig_note:
        ax.text(1.01, 0.0, fig_note, transform=ax.transAxes, ha="left", va="bottom", fontsize=6.5,
                color="tab:red", wrap=True)
    return leg


def plot_trial(recording: Recording, result: TrialResult, path: str | Path, *,
               heading: str | None = None) -> Path:
    """Force vs time from the stimulus, with baseline, peak (Pt/Po), TPT, ½RT marked."""
    path = Path(path)
    trial_figure(recording, result, heading=heading).savefig(path)
    return path


def trial_figure(recording: Recording, result: TrialResult, *, heading: str | None = None) -> Figure:
    """The figure of :func:`plot_trial`. TPT is drawn as a span under the trace's lowest
    point, ½RT on the relaxation level; their values and the peak are in the legend
    beside the axes, so no label covers the trace."""
    fs = recording.sample_rate_hz
    m = result.markers
    fig = _figure(8.0, 4.2)
    ax = fig.add_subplot()
    if m:
        start, stop = int(m["window_start"]), int(m["window_stop"])
        stim = m["stim"]
    else:                                  # failed trial: show the neighbourhood
        stim = result.stim_time_s * fs if math.isfinite(result.stim_time_s) else 0.0
        start = max(0, int(stim - 0.05 * fs))
        stop = min(recording.samples, int(stim + 0.5 * fs))
    y = display_samples(recording.force_mN, start, stop).astype(np.float64)  # damaged: gap
    t_ms = (np.arange(start, start + y.size) - stim) / fs * 1000.0
    ax.plot(t_ms, y, lw=0.8, color="0.2", label="force")
    lo = float(np.nanmin(y)) if y.size and np.isfinite(y).any() else 0.0
    hi = float(np.nanmax(y)) if y.size and np.isfinite(y).any() else 1.0
    span = max(hi - lo, 1e-9)
    under = lo - 0.10 * span               # a lane under the trace for spans and ticks
    if result.ok:
        _draw_measures(ax, result, stim, fs, t_ms, under)
    stim_ms = (np.asarray(recording.stim_samples) - stim) / fs * 1000.0
    stim_ms = stim_ms[(stim_ms >= t_ms[0]) & (stim_ms <= t_ms[-1])] if t_ms.size else stim_ms[:0]
    ax.plot(stim_ms, np.full(stim_ms.shape, lo - 0.18 * span), "|", color="tab:orange", ms=8,
            label="stimulus")
    ax.set_ylim(lo - 0.25 * span, hi + 0.08 * span)
    title = (heading if heading is not None else session_heading(recording.metadata,
                                                                  session_date(recording)))
    title += "\n" + trial_heading(result)
    if result.error:
        title += f"\n{result.error}"
    kept = [f for f in result.flags if f.rule.how == "kept"]
    ax.set_title(title, fontsize=9, loc="left")
    ax.set_xlabel("time from stimulus (ms)")
    ax.set_ylabel("force (mN)")
    _outside_legend(ax, "\n".join(f"⚑ {f.code}" for f in kept))
    return fig


def _draw_measures(ax, result: TrialResult, stim: float, fs: float, t_ms: np.ndarray,
                   under: float) -> None:
    """Baseline (or its extrapolated trend), the peak, TPT as a span in the lane ``under``
    the trace, ½RT on the relaxation level; x limits to the end of the contraction."""
    m = result.markers
    label = peak_name(result.kind)
    # a removed baseline trend (flag baseline-drift): levels follow it on the trace
    shift_peak, shift_relax = m.get("trend_peak_mN", 0.0), m.get("trend_relax_mN", 0.0)
    b = result.baseline_mN + shift_peak
    peak = b + result.peak_force_mN
    tp = (m["peak"] - stim) / fs * 1000.0
    # where Po was read: on an unfused tetanus a ripple crest, not the TPT point (§4)
    tpo = (m.get("po", m["peak"]) - stim) / fs * 1000.0
    if "trend_stim_mN" in m:
        xs = [(m["window_start"] - stim) / fs * 1000.0, 0.0, tp,
              (m["window_stop"] - 1 - stim) / fs * 1000.0]
        ys = [result.baseline_mN + m[k] for k in ("trend_start_mN", "trend_stim_mN",
                                                  "trend_peak_mN", "trend_stop_mN")]
        ax.plot(xs, ys, color="tab:blue", lw=0.8, ls="--", label="baseline (extrapolated)")
    else:
        ax.axhline(b, color="tab:blue", lw=0.8, ls="--", label=f"baseline {b:.1f} mN")
    ax.plot([tpo], [peak], "o", color="tab:red", label=f"{label} {result.peak_force_mN:.1f} mN")
    ax.annotate("", xy=(tpo, b), xytext=(tpo, peak),
                arrowprops=dict(arrowstyle="<->", color="tab:red", lw=0.8))
    ax.annotate("", xy=(0, under), xytext=(tp, under),
                arrowprops=dict(arrowstyle="<->", color="tab:green", lw=0.8))
    ax.plot([], [], color="tab:green", lw=0.8, label=f"TPT {result.time_to_peak_ms:.2f} ms")
    if math.isfinite(m.get("relax", math.nan)):
        tr = (m["relax"] - stim) / fs * 1000.0
        t0 = (m["relax_ref"] - stim) / fs * 1000.0
        lvl = m["relax_level_mN"] + (shift_relax if math.isfinite(shift_relax) else 0.0)
        ax.plot([tr], [lvl], "s", color="tab:purple", label=f"½RT {result.half_relaxation_ms:.2f} ms")
        ax.annotate("", xy=(t0, lvl), xytext=(tr, lvl),
                    arrowprops=dict(arrowstyle="<->", color="tab:purple", lw=0.8))
    end = m.get("fti_end", math.nan)
    if math.isfinite(end):
        ax.set_xlim(t_ms[0], min(t_ms[-1], (end - stim) / fs * 1000.0 * 1.3 + 10))


def _hz_axis(ax, freqs) -> None:
    """Log frequency axis labelled in Hz at the frequencies given (not 10⁰ 10¹ 10²)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
    ax.set_xscale("log")
    ticks: list[float] = []
    for f in sorted({float(f) for f in freqs if f > 0}):
        if not ticks or math.log10(f / ticks[-1]) >= 0.11:    # labels that do not collide
            ticks.append(f)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())


def _heading(result: SessionResult, heading: str | None) -> str:
    return heading if heading is not None else session_heading(result.metadata)


def _finish(ax, xlabel: str, ylabel: str, title: str, path: str | Path) -> Path:
    """Axis labels, the two-line title (session heading, then what the figure shows),
    the legend beside the axes; saved to ``path``."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9, loc="left")
    _outside_legend(ax)
    path = Path(path)
    ax.figure.savefig(path)
    return path


def plot_force_frequency(result: SessionResult, path: str | Path, *,
                         heading: str | None = None) -> Path | None:
    """Force vs frequency with the fitted sigmoid; None if fewer than 2 frequencies."""
    ff = result.summary.get("force_frequency") or {}
    freq = np.asarray(ff.get("frequency_hz") or [], dtype=np.float64)
    if freq.size < 2:
        return None
    force = np.asarray(ff["force_mN"], dtype=np.float64)
    fig = _figure(7.5, 4.2)
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
    _hz_axis(ax, freq)
    return _finish(ax, "stimulation frequency (Hz)", "peak force above baseline (mN)",
                   f"{_heading(result, heading)}\nforce–frequency · {Path(result.file).name}", path)


def plot_fatigue(result: SessionResult, path: str | Path, *, heading: str | None = None) -> Path | None:
    """Force of each train of the fatigue series; None when there is none."""
    fat = result.summary.get("fatigue")
    if not fat:
        return None
    fig = _figure(7.5, 4.0)
    ax = fig.add_subplot()
    ax.plot(fat["time_s"], fat["force_mN"], "o-", ms=3, lw=0.8, label="train peak")
    ax.axhline(0.5 * fat["first_mN"], color="0.5", lw=0.6, ls=":", label="50 % of first")
    return _finish(ax, "time from first train (s)", "peak force (mN)",
                   f"{_heading(result, heading)}\nfatigue · index {fat['index']:.2f} (last/first)", path)


def length_tension(result: SessionResult) -> tuple[list[float], list[float], float | None]:
    """Mean twitch peak per muscle length over the optimal-length step's twitches (the
    trials whose step name says 'optimal'; else all twitches when their lengths differ),
    and Lo (the file's, else the protocol's rule ``suggest_lo``); ([], [], None) if
    fewer than two lengths were tried."""
    twitches = [t for t in result.trials if t.kind == "twitch" and t.ok and math.isfinite(t.length_mm)]
    chosen = [t for t in twitches if "optimal" in (t.step or "").replace("_", "-")] or twitches
    by_length: dict[float, list[float]] = {}
    for t in chosen:
        by_length.setdefault(round(t.length_mm, 3), []).append(t.peak_force_mN)
    if len(by_length) < 2:
        return [], [], None
    lengths = sorted(by_length)
    means = [float(np.mean(by_length[L])) for L in lengths]
    lo = result.summary.get("lo_mm")
    if not (isinstance(lo, (int, float)) and math.isfinite(lo)):
        from protocols.engine.steps.optimal_length import suggest_lo
        lo = suggest_lo(lengths, means)
    return lengths, means, float(lo)


def plot_length_tension(result: SessionResult, path: str | Path, *,
                        heading: str | None = None) -> Path | None:
    """Twitch force vs muscle length from the optimal-length step, Lo marked; None
    when fewer than two lengths were tried."""
    lengths, means, lo = length_tension(result)
    if not lengths:
        return None
    fig = _figure(7.5, 4.2)
    ax = fig.add_subplot()
    ax.plot(lengths, means, "o-", color="tab:blue", ms=5, lw=1, label="twitch peak (mean)")
    ax.axvline(lo, color="tab:red", lw=0.8, ls="--", label=f"Lo {lo:.2f} mm")
    return _finish(ax, "muscle length (mm)", "twitch force above baseline (mN)",
                   f"{_heading(result, heading)}\nlength–tension (optimal-length step)", path)


def plot_session(recording: Recording, result: SessionResult, out_dir: str | Path) -> list[Path]:
    """All figures of a session into ``out_dir``; returns the written paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = _safe(Path(result.file).stem)
    heading = session_heading(result.metadata or recording.metadata, session_date(recording))
    written = [plot_trial(recording, t, out / f"{stem}_trial{t.index:03d}_{t.kind}.png", heading=heading)
               for t in result.trials]
    for fn, name in ((plot_force_frequency, "force_frequency"), (plot_length_tension, "length_tension"),
                     (plot_fatigue, "fatigue")):
        p = fn(result, out / f"{stem}_{name}.png", heading=heading)
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
    _hz_axis(ax, [p.frequency_hz for p in comp.force_frequency])
    ax.set_xlabel("stimulation frequency (Hz)")
    ax.set_ylabel("force / session maximum")
    ax.set_title("force-frequency by group (mean ± SEM)", fontsize=9)
    ax.legend(fontsize=8)
    path = Path(path)
    fig.savefig(path)
    return path
