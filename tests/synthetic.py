"""Synthetic twitch and tetanus traces whose exact Pt, TPT, ½RT ... are known.

Each twitch shape is an analytic function f(τ) of the time τ since force onset, scaled
so its peak is exactly 1: the peak time has a closed form, and every level crossing
(10/90 % rise, 50 % relaxation, onset thresholds) is found by root finding on the
function itself (``scipy.optimize.brentq``, to 1e-12 s), never from samples. The true
values therefore do not depend on the sample rate that a trace is rendered at.

Usable by any test (``from tests.synthetic import ...``) and by ``bench/``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq

from app.recording import Recording, Trial


# --------------------------------------------------------------------------- shapes
@dataclass(frozen=True)
class GammaTwitch:
    """f(τ) = (τ/T)^n · exp(n(1 − τ/T)): peak 1 at τ = T exactly."""

    t_peak_s: float = 0.015
    n: float = 3.0

    def __call__(self, tau: np.ndarray) -> np.ndarray:
        x = np.clip(np.asarray(tau, dtype=np.float64), 0.0, None) / self.t_peak_s
        with np.errstate(divide="ignore", invalid="ignore", under="ignore"):
            out = np.exp(self.n * (np.log(np.where(x > 0, x, 1.0)) + 1.0 - x))
        return np.where(x > 0, out, 0.0)

    @property
    def peak_time(self) -> float:
        return self.t_peak_s


@dataclass(frozen=True)
class BiExpTwitch:
    """f(τ) = A(e^(−τ/τd) − e^(−τ/τr)), τ ≥ 0; peak at τp = τrτd ln(τd/τr)/(τd − τr)."""

    tau_rise_s: float = 0.006
    tau_decay_s: float = 0.025

    @property
    def peak_time(self) -> float:
        r, d = self.tau_rise_s, self.tau_decay_s
        return r * d * math.log(d / r) / (d - r)

    def __call__(self, tau: np.ndarray) -> np.ndarray:
        t = np.clip(np.asarray(tau, dtype=np.float64), 0.0, None)
        tp = self.peak_time
        a = 1.0 / (math.exp(-tp / self.tau_decay_s) - math.exp(-tp / self.tau_rise_s))
        return a * (np.exp(-t / self.tau_decay_s) - np.exp(-t / self.tau_rise_s))


@dataclass(frozen=True)
class CosGaussTwitch:
    """Half-cosine rise to 1 at τ = T, then a Gaussian fall with ½RT = σ exactly.

    The curvature at the peak is −π²/(2T²) before and −2 ln2/σ² after it; unless
    σ ≈ 0.53·T the curvature jumps there, a kink no smooth muscle twitch has, which
    shifts any noise-averaging peak estimate (by ~0.1-0.25 ms for T = 12, σ = 10 ms).
    """

    t_peak_s: float = 0.012
    half_relax_s: float = 0.010

    @property
    def peak_time(self) -> float:
        return self.t_peak_s

    def __call__(self, tau: np.ndarray) -> np.ndarray:
        t = np.asarray(tau, dtype=np.float64)
        rise = 0.5 * (1.0 - np.cos(np.pi * np.clip(t, 0.0, self.t_peak_s) / self.t_peak_s))
        fall = np.exp(-math.log(2.0) * ((t - self.t_peak_s) / self.half_relax_s) ** 2)
        return np.where(t <= 0, 0.0, np.where(t < self.t_peak_s, rise, fall))


Shape = GammaTwitch | BiExpTwitch | CosGaussTwitch


def rising_time(shape: Shape, level: float) -> float:
    """τ at which the shape first rises through ``level`` (0 < level < 1)."""
    return brentq(lambda t: float(shape(np.array([t]))[0]) - level, 0.0, shape.peak_time,
                  xtol=1e-12)


def falling_time(shape: Shape, level: float) -> float:
    """τ at which the shape falls through ``level`` after its peak."""
    hi = shape.peak_time
    while float(shape(np.array([hi]))[0]) > level:
        hi = hi * 2 + 1e-3
    return brentq(lambda t: float(shape(np.array([t]))[0]) - level, shape.peak_time, hi,
                  xtol=1e-12)


def shape_integral(shape: Shape, level: float) -> float:
    """∫ f(τ) dτ from onset to the fall through ``level`` (fine trapezoid, 1 µs)."""
    end = falling_time(shape, level)
    t = np.linspace(0.0, end, int(end / 1e-6) + 2)
    return float(np.trapezoid(shape(t), t))


# --------------------------------------------------------------------------- traces
@dataclass
class Trace:
    """A rendered signal, its pulse samples and the exact values to expect."""

    force: np.ndarray
    fs: float
    stim: np.ndarray
    truth: dict[str, float] = field(default_factory=dict)

    def recording(self, **metadata) -> Recording:
        return Recording(source="synthetic", format="synthetic", sample_rate_hz=self.fs,
                         force_mN=self.force, stim_samples=self.stim,
                         metadata=dict(metadata))


def add_artifact(force: np.ndarray, stim: np.ndarray, fs: float, amplitude: float,
                 width_ms: float = 0.2) -> None:
    """Biphasic stimulus artifact of ``amplitude`` mN starting at each pulse sample."""
    if amplitude == 0:
        return
    n = max(1, int(math.ceil(width_ms * fs / 1000.0)))
    for k in range(n):                  # per artifact sample (a handful), not per signal sample
        idx = stim + k
        idx = idx[idx < force.size]
        force[idx] += amplitude if k % 2 == 0 else -0.6 * amplitude


def twitch_trace(shape: Shape, *, fs: float = 10_000.0, pt: float = 200.0,
                 baseline: float = 0.0, latency_ms: float = 2.5, stim_s: float = 0.1,
                 duration_s: float = 0.5, noise_sd: float = 0.0, artifact_mN: float = 0.0,
                 onset_percent: float = 2.0, seed: int = 0) -> Trace:
    """One twitch. ``truth``: pt, tpt_ms, half_relaxation_ms, rise_10_90_ms, latency_ms
    (to ``onset_percent`` of Pt), fti_mN_s (to 5 % relaxation)."""
    n = int(round(duration_s * fs))
    s = int(round(stim_s * fs))
    t = np.arange(n) / fs
    t_on = s / fs + latency_ms / 1000.0
    force = baseline + pt * shape(t - t_on)
    rng = np.random.default_rng(seed)
    if noise_sd:
        force = force + rng.normal(0.0, noise_sd, n)
    stim = np.array([s], dtype=np.int64)
    add_artifact(force, stim, fs, artifact_mN)
    tp = shape.peak_time
    truth = {
        "pt": pt, "baseline": baseline,
        "tpt_ms": (latency_ms / 1000.0 + tp) * 1000.0,
        "half_relaxation_ms": (falling_time(shape, 0.5) - tp) * 1000.0,
        "rise_10_90_ms": (rising_time(shape, 0.9) - rising_time(shape, 0.1)) * 1000.0,
        "latency_ms": latency_ms + rising_time(shape, onset_percent / 100.0) * 1000.0,
        "fti_mN_s": pt * shape_integral(shape, 0.05),
    }
    return Trace(force=force, fs=fs, stim=stim, truth=truth)


def tetanus_force(t_since_onset: np.ndarray, *, plateau: float, ripple: float, freq: float,
                  train_s: float, tau_rise_s: float = 0.015,
                  tau_relax_s: float = 0.02) -> np.ndarray:
    """Tetanus: exponential rise to ``plateau`` with a sinusoidal ripple of ``ripple``
    (amplitude) at the pulse frequency; after the train, relaxation 1/cosh(u/τ) — a
    shoulder with zero initial slope (as in muscle) turning into an exponential."""
    tau = np.asarray(t_since_onset, dtype=np.float64)
    tc = np.clip(tau, 0.0, train_s)
    env = 1.0 - np.exp(-tc / tau_rise_s)
    during = env * (plateau + ripple * np.sin(2 * np.pi * freq * tc))
    after = 1.0 / np.cosh(np.clip(tau - train_s, 0.0, 50 * tau_relax_s) / tau_relax_s)
    return np.where(tau <= 0, 0.0, during * after)


def tetanus_trace(*, fs: float = 10_000.0, freq: float = 100.0, pulses: int = 50,
                  plateau: float = 1000.0, ripple: float = 0.0, baseline: float = 0.0,
                  latency_ms: float = 2.5, stim_s: float = 0.1, post_s: float = 0.4,
                  noise_sd: float = 0.0, artifact_mN: float = 0.0, tau_rise_s: float = 0.015,
                  tau_relax_s: float = 0.02, seed: int = 0) -> Trace:
    """One tetanus; ``truth``: po (exact maximum above baseline, from a 1 µs grid),
    fusion_index (1 − 2·ripple/po), half_relaxation_ms (from the last pulse)."""
    s = int(round(stim_s * fs))
    stim = s + np.round(np.arange(pulses) * fs / freq).astype(np.int64)
    train_s = pulses / freq             # force keeps the train's drive for one period
    n = int(round((stim_s + train_s + post_s) * fs))
    t = np.arange(n) / fs
    t_on = s / fs + latency_ms / 1000.0
    kw = dict(plateau=plateau, ripple=ripple, freq=freq, train_s=train_s,
              tau_rise_s=tau_rise_s, tau_relax_s=tau_relax_s)
    force = baseline + tetanus_force(t - t_on, **kw)
    if noise_sd:
        force = force + np.random.default_rng(seed).normal(0.0, noise_sd, n)
    add_artifact(force, stim, fs, artifact_mN)
    fine = np.arange(0.0, train_s + 0.05, 1e-6)
    f_fine = tetanus_force(fine, **kw)
    po = float(f_fine.max())
    end = train_s
    level = 0.5 * po
    f_end = float(tetanus_force(np.array([end]), **kw)[0])
    t_half = end + tau_relax_s * math.acosh(f_end / level) if f_end > level else math.nan
    t_last = stim[-1] / fs
    truth = {"po": po, "baseline": baseline,
             "fusion_index": 1.0 - 2.0 * ripple / po if ripple else 1.0,
             "half_relaxation_ms": (t_on + t_half - t_last) * 1000.0,
             "tpt_ms": (t_on + float(fine[np.argmax(f_fine)]) - s / fs) * 1000.0}
    return Trace(force=force, fs=fs, stim=stim, truth=truth)


# --------------------------------------------------------------------------- sessions
def ff_sigmoid(f, fmin, fmax, f50, h):
    f = np.asarray(f, dtype=np.float64)
    return fmin + (fmax - fmin) / (1.0 + (f50 / f) ** h)


@dataclass
class SessionSpec:
    """A Protocol-1-like session: twitches, force-frequency tetani, a fatigue series."""

    fs: float = 10_000.0
    twitches: int = 5
    ff_freqs: tuple[float, ...] = (10, 20, 30, 50, 80, 100, 150, 200)
    ff_pulses_s: float = 0.3           # train duration of force-frequency tetani
    fmin: float = 100.0
    fmax: float = 1000.0
    f50: float = 45.0
    hill: float = 3.5
    fatigue_trains: int = 0
    fatigue_freq: float = 40.0
    fatigue_pulses: int = 12
    fatigue_decay_trains: float = 10.0  # force ~ a + (1-a)·exp(-k/decay)
    fatigue_floor: float = 0.3
    gap_s: float = 2.0                 # between contractions
    fatigue_gap_s: float = 1.0
    total_s: float | None = None       # pad the recording to this length
    noise_sd: float = 0.3
    baseline: float = 50.0
    shape: Shape = GammaTwitch(0.014, 3.0)
    with_trials: bool = False          # give the Recording a trial table with step names
    seed: int = 1


def session_recording(spec: SessionSpec, **metadata) -> tuple[Recording, dict]:
    """Render a session; returns (Recording, truth). Twitch Pt = sigmoid(1 Hz), each
    force-frequency tetanus peaks at sigmoid(f) (no ripple), fatigue trains decay."""
    fs = spec.fs
    pt = float(ff_sigmoid(1.0, spec.fmin, spec.fmax, spec.f50, spec.hill))
    events: list[tuple[str, float, int, float, str]] = []   # kind, freq, pulses, force, step
    events += [("twitch", math.nan, 1, pt, "twitch")] * spec.twitches
    for f in spec.ff_freqs:
        events.append(("tetanus", float(f), max(2, int(round(spec.ff_pulses_s * f))),
                       float(ff_sigmoid(f, spec.fmin, spec.fmax, spec.f50, spec.hill)),
                       "force-frequency"))
    f0 = float(ff_sigmoid(spec.fatigue_freq, spec.fmin, spec.fmax, spec.f50, spec.hill))
    fat = [f0 * (spec.fatigue_floor + (1 - spec.fatigue_floor) *
                 math.exp(-k / spec.fatigue_decay_trains)) for k in range(spec.fatigue_trains)]
    events += [("tetanus", spec.fatigue_freq, spec.fatigue_pulses, F, "fatigue") for F in fat]

    starts: list[float] = []
    t = 1.0
    for kind, f, p, F, step in events:
        starts.append(t)
        dur = 0 if kind == "twitch" else p / f
        t += dur + (spec.fatigue_gap_s if step == "fatigue" else spec.gap_s)
    total = max(t, spec.total_s or 0.0)
    n = int(round(total * fs))
    rng = np.random.default_rng(spec.seed)
    force = spec.baseline + (rng.normal(0.0, spec.noise_sd, n) if spec.noise_sd else np.zeros(n))
    all_stim: list[np.ndarray] = []
    trials: list[Trial] = []
    lat = 0.0025
    for i, ((kind, f, p, F, step), t0) in enumerate(zip(events, starts)):
        s = int(round(t0 * fs))
        if kind == "twitch":
            stim = np.array([s], dtype=np.int64)
            w0, w1 = s, min(n, s + int(0.5 * fs))
            tt = np.arange(w0, w1) / fs - (s / fs + lat)
            force[w0:w1] += F * spec.shape(tt)
        else:
            stim = s + np.round(np.arange(p) * fs / f).astype(np.int64)
            train = p / f
            w0, w1 = s, min(n, s + int((train + 0.4) * fs))
            tt = np.arange(w0, w1) / fs - (s / fs + lat)
            # plateau reached: with tau_rise 10 ms and trains >= 0.1 s, 1 - e^-10 ≈ 1
            force[w0:w1] += tetanus_force(tt, plateau=F, ripple=0.0, freq=f, train_s=train,
                                          tau_rise_s=0.010, tau_relax_s=0.02)
        all_stim.append(stim)
        trials.append(Trial(index=i, kind=kind, start_sample=max(0, s - int(0.05 * fs)),
                            stop_sample=min(n, int(stim[-1]) + int(0.5 * fs)),
                            stim_samples=stim, frequency_hz=None if kind == "twitch" else f,
                            step=step))
    stim_all = np.concatenate(all_stim)
    rec = Recording(source="synthetic-session", format="synthetic", sample_rate_hz=fs,
                    force_mN=force, stim_samples=stim_all,
                    trials=trials if spec.with_trials else [], metadata=dict(metadata))
    fat_t = np.array(starts[len(events) - spec.fatigue_trains:]) if spec.fatigue_trains else None
    truth = {"pt": pt, "po": max(e[3] for e in events if e[0] == "tetanus"),
             "f50": spec.f50, "hill": spec.hill, "fmin": spec.fmin, "fmax": spec.fmax,
             "fatigue_index": fat[-1] / fat[0] if fat else math.nan,
             "fatigue_forces": fat, "fatigue_times": None if fat_t is None else fat_t - fat_t[0],
             "n_events": len(events)}
    return rec, truth


def write_h5(recording: Recording, path, block: int = 100_000, **metadata) -> None:
    """Write a Recording as a myoforce session file with ``app.recorder`` (pulse markers
    as trigger-edge flags, its trials as the trial table). Needs ``app.recorder``."""
    from app import __version__
    from app.recorder.records import TrialRecord
    from app.recorder.writer import SessionRecorder
    from drivers.capabilities import FLAG_TRIGGER_EDGE, Calibration, SampleBlock

    force = np.asarray(recording.force_mN, dtype=np.float32)
    flags = np.zeros(force.size, dtype=np.uint8)
    flags[np.asarray(recording.stim_samples, dtype=np.int64)] |= FLAG_TRIGGER_EDGE
    rec = SessionRecorder(path, overwrite=True, fsync=False, min_free_bytes=0)
    meta = {**recording.metadata, **metadata}
    rec.open(sample_rate_hz=recording.sample_rate_hz, calibration=Calibration(1.0),
             metadata=meta, rig={}, devices={}, software_version=__version__)
    try:
        for i in range(0, force.size, block):
            rec.put_block(SampleBlock(first_sample=i, force_mN=force[i:i + block],
                                      flags=flags[i:i + block],
                                      sample_rate_hz=recording.sample_rate_hz))
        for t in recording.trials:
            rec.add_trial(TrialRecord(
                index=t.index, kind=t.kind, start_sample=t.start_sample,
                stop_sample=t.stop_sample, step=t.step, first_pulse_sample=t.first_stim_sample,
                pulses=t.pulses, frequency_hz=t.frequency_hz or math.nan,
                length_mm=t.length_mm if t.length_mm is not None else math.nan,
                current_mA=t.current_mA if t.current_mA is not None else math.nan))
    finally:
        rec.close()
    if rec.failed:
        raise RuntimeError(f"writing {path} failed: {rec.failed}")


def write_csv(recording: Recording, path, **metadata) -> None:
    """Write a Recording in the documented CSV form (time_s,force_mN,stim) with
    '# key: value' metadata lines."""
    n = recording.samples
    t = np.arange(n) / recording.sample_rate_hz
    stim = np.zeros(n, dtype=np.int64)
    stim[np.asarray(recording.stim_samples, dtype=np.int64)] = 1
    head = "".join(f"# {k}: {v}\n" for k, v in {**recording.metadata, **metadata}.items())
    table = np.column_stack([t, np.asarray(recording.force_mN, dtype=np.float64), stim])
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(head + "time_s,force_mN,stim\n")
        np.savetxt(fh, table, fmt=["%.6f", "%.5f", "%d"], delimiter=",")
