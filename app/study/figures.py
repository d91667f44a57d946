"""Figures of the study report, as PNG bytes (embedded base64 in the HTML).

Every animal is a point; bars are the group mean and SD. Curves are group means ± SEM
over animals. matplotlib's object API on the Agg canvas (no pyplot state), like
app/plots.py.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import math
import pickle
from pathlib import Path
from typing import Any, Callable

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from app.analysis.force_frequency import fit_force_frequency, sigmoid
from app.compare import PARAMETERS, Comparison
from app.statistics import describe

DPI = 100
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _source_digest() -> str:
    import matplotlib
    text = Path(__file__).read_bytes() + matplotlib.__version__.encode()
    return hashlib.sha256(text).hexdigest()


_CACHING = [True]


@contextlib.contextmanager
def caching(on: bool):
    """Within the block, figures are (not) taken from the cache."""
    _CACHING.append(on)
    try:
        yield
    finally:
        _CACHING.pop()


def cached(fn: Callable[..., bytes | None]) -> Callable[..., bytes | None]:
    """Reuse a figure drawn before from the same data: PNGs in the user's myoforce cache
    folder (beside the analysis cache; ``MYOFORCE_CACHE=off`` turns it off), keyed by
    the function, its arguments (pickled) and this module's source and matplotlib's
    version. Drawing is most of a report's time when the analyses are reused."""
    @functools.wraps(fn)
    def wrapper(*args: Any) -> bytes | None:
        from app.result_cache import ResultCache, cache_dir, cache_enabled
        if not (_CACHING[-1] and cache_enabled()):
            return fn(*args)
        try:
            blob = pickle.dumps((fn.__name__, args), protocol=4)
        except Exception:                           # noqa: BLE001 - just draw it
            return fn(*args)
        key = hashlib.sha256(_source_digest().encode() + blob).hexdigest()
        path = cache_dir().parent / "figures" / key[:2] / f"{key}.png"
        try:
            data = path.read_bytes()
            return data or None
        except OSError:
            pass
        png = fn(*args)
        ResultCache._write(path, png or b"")
        return png
    return wrapper


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _figure(w: float, h: float, grid: bool = False) -> Figure:
    """Fixed margins instead of constrained layout: the layout engine measured every
    tick label again and took half the report's time."""
    fig = Figure(figsize=(w, h), dpi=DPI)
    FigureCanvasAgg(fig)
    if grid:
        fig.subplots_adjust(left=0.08, right=0.99, bottom=0.1, top=0.88, wspace=0.62,
                            hspace=0.5)
    else:
        fig.subplots_adjust(left=0.12, right=0.97, bottom=0.16, top=0.91)
    return fig


def _compact_ticks(ax) -> None:
    """At most five plain tick labels (no offset notation such as '+1.65e1', which
    readers misread), so the values stay readable next to the axis label."""
    from matplotlib.ticker import MaxNLocator, ScalarFormatter
    fmt = ScalarFormatter(useOffset=False)
    fmt.set_powerlimits((-6, 6))
    ax.yaxis.set_major_formatter(fmt)
    ax.yaxis.set_major_locator(MaxNLocator(5))


def _label(p) -> str:
    return f"{p.label} ({p.unit})" if p.unit else p.label


@cached
def dot_over_mean(comp: Comparison, title: str) -> bytes:
    """One panel per outcome: each animal a point, the group mean (bar) ± SD."""
    fig = _figure(11, 5.6, grid=True)
    axes = fig.subplots(2, 4).ravel()
    rng = np.random.default_rng(0)                         # fixed jitter: same figure twice
    for ax, p in zip(axes, PARAMETERS):
        for i, g in enumerate(comp.groups):
            vals = comp.stat(p.key, g).values
            c = COLOURS[i % len(COLOURS)]
            if vals:
                x = i + rng.uniform(-0.12, 0.12, len(vals))
                ax.plot(x, vals, "o", ms=5, mfc="none", mec=c, mew=1.2)
                d = describe(vals)
                ax.hlines(d.mean, i - 0.28, i + 0.28, color=c, lw=2)
                if math.isfinite(d.sd):
                    ax.errorbar(i, d.mean, yerr=d.sd, color=c, capsize=5, lw=1)
        ax.set_xticks(range(len(comp.groups)),
                      [f"{g}\nn={comp.stat(p.key, g).n}" for g in comp.groups], fontsize=8)
        ax.set_xlim(-0.6, len(comp.groups) - 0.4)
        ax.set_ylabel(_label(p), fontsize=9)
        ax.set_title(p.label, fontsize=10)
        ax.tick_params(labelsize=8)
        _compact_ticks(ax)
        if not any(comp.stat(p.key, g).values for g in comp.groups):
            ax.text(0.5, 0.5, "no values", transform=ax.transAxes, ha="center", color="0.5")
    fig.suptitle(f"{title}: each animal (○), group mean (bar) ± SD", fontsize=11)
    return _png(fig)


@cached
def force_frequency(comp: Comparison, title: str) -> bytes | None:
    """Group mean ± SEM of each animal's normalised force per frequency, with the
    sigmoid fitted to the group means."""
    if not comp.force_frequency:
        return None
    fig = _figure(6.4, 4.4)
    ax = fig.add_subplot()
    for i, g in enumerate(comp.groups):
        pts = [p for p in comp.force_frequency if p.group == g]
        if not pts:
            continue
        c = COLOURS[i % len(COLOURS)]
        f = np.array([p.frequency_hz for p in pts])
        mean = np.array([p.mean for p in pts])
        sem = np.nan_to_num(np.array([p.sem for p in pts]))
        ax.errorbar(f, mean, yerr=sem, fmt="o", ms=4, capsize=3, color=c,
                    label=f"{g} (n={max(p.n for p in pts)})")
        fit, _note = fit_force_frequency(f, mean)
        if fit is not None:
            ff = np.geomspace(f.min(), f.max(), 200)
            ax.plot(ff, sigmoid(ff, fit.fmin_mN, fit.fmax_mN, fit.midpoint_hz, fit.hill_slope),
                    color=c, lw=1.2, label=f"{g} fit, f50 {fit.f50_hz:.0f} Hz")
    ax.set_xscale("log")
    ax.set_xlabel("stimulation frequency (Hz)")
    ax.set_ylabel("force / animal's maximum (fraction)")
    ax.set_title(f"{title}: force–frequency (mean ± SEM, sigmoid fit)", fontsize=10)
    ax.legend(fontsize=8)
    return _png(fig)


@cached
def fatigue(curves: dict[str, list[list[float]]], recovery: dict[str, list[float]],
            title: str) -> bytes | None:
    """Group mean ± SEM of force in % of the first train, per train, and the recovery
    twitch in % of the animal's pre-fatigue Pt."""
    if not any(curves.values()):
        return None
    fig = _figure(6.4, 4.4)
    ax = fig.add_subplot()
    last = 0
    for i, (g, per_animal) in enumerate(curves.items()):
        if not per_animal:
            continue
        c = COLOURS[i % len(COLOURS)]
        n = min(len(x) for x in per_animal)
        arr = np.array([x[:n] for x in per_animal])
        mean = arr.mean(axis=0)
        sem = arr.std(axis=0, ddof=1) / math.sqrt(len(arr)) if len(arr) > 1 else np.zeros(n)
        trains = np.arange(1, n + 1)
        ax.errorbar(trains, mean, yerr=sem, marker="o", ms=4, capsize=3, lw=1, color=c,
                    label=f"{g} (n={len(arr)})")
        last = max(last, n)
        rec = recovery.get(g) or []
        if rec:
            d = describe(rec)
            ax.errorbar([n + 1.5], [d.mean], yerr=[0 if math.isnan(d.sem) else d.sem],
                        marker="s", ms=6, capsize=3, color=c, mfc="white")
    ticks = list(range(1, last + 1))
    labels = [str(t) for t in ticks]
    if any(recovery.values()):
        ax.axvline(last + 0.75, color="0.7", lw=0.8, ls=":")
        ticks.append(last + 1.5)
        labels.append("recovery\ntwitch")
    step = max(1, last // 12)
    keep = [i for i in range(len(ticks)) if i % step == 0 or labels[i].startswith("rec")]
    ax.set_xticks([ticks[i] for i in keep], [labels[i] for i in keep], fontsize=8)
    ax.set_xlabel("fatigue train number")
    ax.set_ylabel("force (% of first train; recovery: % of Pt)")
    ax.set_title(f"{title}: fatigue (mean ± SEM)", fontsize=10)
    ax.legend(fontsize=8)
    return _png(fig)


@cached
def change_from_baseline(rows: list[dict[str, Any]], timepoints: list[str],
                         groups: list[str]) -> bytes | None:
    """Per outcome: the group mean ± SEM change from the first timepoint."""
    if not rows:
        return None
    fig = _figure(11, 5.6, grid=True)
    axes = fig.subplots(2, 4).ravel()
    later = timepoints[1:]
    for ax, p in zip(axes, PARAMETERS):
        for i, g in enumerate(groups):
            xs, ms, es = [], [], []
            for j, tp in enumerate(later):
                v = [r["change"] for r in rows if r["parameter"] == p.key
                     and r["group"] == g and r["timepoint"] == tp]
                if v:
                    d = describe(v)
                    xs.append(j + (i - (len(groups) - 1) / 2) * 0.15)
                    ms.append(d.mean)
                    es.append(0 if math.isnan(d.sem) else d.sem)
            if xs:
                ax.errorbar(xs, ms, yerr=es, marker="o", ms=4, capsize=3, lw=1,
                            color=COLOURS[i % len(COLOURS)], label=g)
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set_xticks(range(len(later)), later, fontsize=8)
        ax.set_xlim(-0.5, len(later) - 0.5)
        ax.set_ylabel(f"Δ {_label(p)}", fontsize=9)
        ax.set_title(p.label, fontsize=10)
        ax.tick_params(labelsize=8)
        _compact_ticks(ax)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"change from {timepoints[0]} (mean ± SEM over animals)", fontsize=11)
    return _png(fig)
