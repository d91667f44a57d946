"""The simulated muscle: rendered twitches and tetani must look like the rat muscles they
stand for, and rendering must not depend on how the samples are split into blocks."""
from __future__ import annotations

import numpy as np
import pytest

from drivers.capabilities import FLAG_TRIGGER_EDGE
from sim_devices.muscle import (
    MuscleModel,
    TreatmentEffect,
    UnknownMuscleError,
    get_preset,
    linear_recurrence,
    preset_names,
)
from sim_devices.world import SimWorld

RATE = 10_000.0
SUPRA_MA = 6.0  # well above every preset's saturation at 0.2 ms
WIDTH_MS = 0.2

#: physiological ranges (rat, in situ, 37 degC) the presets must reproduce
RANGES = {
    "rat-edl": dict(tpt=(10, 20), hrt=(10, 20), ptpo=(0.2, 0.3), po=(2000, 3000),
                    fused_hz=200, f50=(35, 80), fatigue=(0.3, 0.6)),
    "rat-soleus": dict(tpt=(30, 45), hrt=(40, 70), ptpo=(0.1, 0.3), po=(1000, 1500),
                       fused_hz=80, f50=(10, 30), fatigue=(0.75, 0.98)),
    "rat-quadriceps": dict(tpt=(15, 35), hrt=(15, 40), ptpo=(0.15, 0.3), po=(10000, 20000),
                           fused_hz=150, f50=(20, 60), fatigue=(0.4, 0.75)),
}


def quiet(preset, **kw) -> MuscleModel:
    """A muscle without noise, drift and artefact: exact numbers for comparisons."""
    return MuscleModel(preset, noise=False, drift=False, artifact=False, **kw)


def render(model: MuscleModel, pulses, duration_s: float, *, t0: float = 0.0,
           current_mA: float = SUPRA_MA, width_ms: float = WIDTH_MS,
           length_mm: float | None = None, rate: float = RATE) -> np.ndarray:
    pt = np.asarray(pulses, dtype=float)
    length = model.preset.Lo_mm if length_mm is None else length_mm
    return model.force_block(t0, int(round(duration_s * rate)), rate, pt,
                       np.full(pt.shape, current_mA), np.full(pt.shape, width_ms), length)


def train(start: float, freq: float, duration_s: float) -> np.ndarray:
    return start + np.arange(max(1, int(round(freq * duration_s)))) / freq


def twitch_figures(force: np.ndarray, pulse_s: float, rate: float = RATE) -> dict:
    """Baseline, peak (above baseline), time to peak and half relaxation time, in ms."""
    k0 = int(pulse_s * rate)
    baseline = float(np.mean(force[: k0 - 1]))
    f = force - baseline
    k = int(np.argmax(f))
    peak = float(f[k])
    half = k + int(np.argmax(f[k:] < peak / 2))
    return dict(baseline=baseline, peak=peak, tpt_ms=(k - k0) * 1e3 / rate,
                hrt_ms=(half - k) * 1e3 / rate)


def tetanus_peak(preset, freq: float, duration_s: float = 0.5, **kw) -> float:
    return float(render(quiet(preset, **kw), train(0.05, freq, duration_s), 0.05 + duration_s + 0.1).max())


# --- presets --------------------------------------------------------------------------

def test_presets_and_aliases():
    assert preset_names() == ["rat-edl", "rat-quadriceps", "rat-soleus"]
    for alias, name in (("edl", "rat-edl"), ("SOLEUS", "rat-soleus"), ("quadriceps", "rat-quadriceps")):
        assert get_preset(alias).name == name
    with pytest.raises(UnknownMuscleError, match="rat-edl, rat-quadriceps, rat-soleus"):
        get_preset("gastrocnemius")


# --- twitch and tetanus ---------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(RANGES))
def test_twitch_and_tetanus_in_physiological_range(name):
    r = RANGES[name]
    model = MuscleModel(name, seed=3)  # with noise, drift and artefact, as on the rig
    fig = twitch_figures(render(model, [0.1], 0.6), 0.1)
    po = tetanus_peak(name, r["fused_hz"])
    assert abs(fig["baseline"]) < 0.005 * po
    assert r["tpt"][0] <= fig["tpt_ms"] <= r["tpt"][1]
    assert r["hrt"][0] <= fig["hrt_ms"] <= r["hrt"][1]
    assert r["po"][0] <= po <= r["po"][1]
    assert r["ptpo"][0] <= fig["peak"] / po <= r["ptpo"][1]


@pytest.mark.parametrize("name", sorted(RANGES))
def test_force_frequency_is_a_sigmoid(name):
    r = RANGES[name]
    freqs = np.array([1, 5, 10, 15, 20, 30, 40, 50, 60, 80, 100, 120, 150, 200, 250])
    forces = np.array([tetanus_peak(name, f) for f in freqs])
    po = forces.max()
    assert np.all(np.diff(forces) >= -1e-6 * po), "force-frequency must not decrease"
    rel = forces / po
    assert rel[1] < 1.15 * rel[0]                           # 1 and 5 Hz: (nearly) separate twitches
    assert rel[0] < 0.3                                     # twitch well below tetanus
    f50 = float(np.interp(0.5, rel, freqs))
    assert r["f50"][0] <= f50 <= r["f50"][1]
    # steep in the middle, flat at the ends
    slope = np.diff(rel) / np.diff(freqs)
    mid = int(np.searchsorted(freqs, f50))
    assert slope[mid - 1] > 3 * slope[0] and slope[mid - 1] > 3 * slope[-1]
    fused = freqs == r["fused_hz"]
    assert rel[fused][0] > 0.95


@pytest.mark.parametrize("name", sorted(RANGES))
def test_tetanus_fused_at_fusion_frequency(name):
    f_hz = RANGES[name]["fused_hz"]
    force = render(quiet(name), train(0.05, f_hz, 0.5), 0.7)
    end = int(0.55 * RATE)
    last = force[end - int(3 * RATE / f_hz): end]
    assert (last.max() - last.min()) / last.max() < 0.02
    low = render(quiet(name), train(0.05, 10, 0.5), 0.7)[int(0.3 * RATE): end]
    assert (low.max() - low.min()) / low.max() > 0.3  # 10 Hz is an unfused train


@pytest.mark.parametrize("name", sorted(RANGES))
def test_doublet_is_facilitated(name):
    """Two pulses 5 ms apart: more than a twitch, and more with Ding's facilitation R0 than
    without it (same muscle with R0 = 1)."""
    p = get_preset(name)
    single = render(quiet(p), [0.05], 0.5).max()
    doublet = render(quiet(p), [0.05, 0.055], 0.5).max()
    plain = render(quiet(p.with_(R0=1.0)), [0.05, 0.055], 0.5).max()
    assert 1.2 * single < doublet < 2.5 * single
    assert doublet > 1.01 * plain
    assert render(quiet(p.with_(R0=1.0)), [0.05], 0.5).max() == pytest.approx(single, rel=1e-12)


# --- recruitment ----------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(RANGES))
def test_recruitment_plateaus_above_saturation(name):
    p = get_preset(name)
    peak = lambda mA, w=WIDTH_MS: float(render(quiet(name), [0.02], 0.2, current_mA=mA, width_ms=w).max())  # noqa: E731
    plateau = peak(p.saturation_mA)
    assert peak(0.9 * p.threshold_mA) == 0.0
    mids = [peak(i) for i in np.geomspace(p.threshold_mA * 1.05, p.saturation_mA * 0.95, 6)]
    assert all(0 < m < plateau for m in mids)
    assert np.all(np.diff(mids) > 0)
    for factor in (1.2, 2.0, 3.0):
        assert peak(factor * p.saturation_mA) == pytest.approx(plateau, rel=1e-9)
    # strength-duration: a narrower pulse needs more current for the same force
    assert peak(p.saturation_mA, w=0.1) < 0.99 * plateau
    assert peak(3 * p.saturation_mA, w=0.1) == pytest.approx(plateau, rel=1e-9)


def test_recruitment_follows_each_pulse():
    """A train at a subthreshold current produces nothing; mixing currents in a train
    gives a force between the all-low and all-high trains."""
    p = get_preset("rat-edl")
    pulses = train(0.02, 100, 0.2)
    low = render(quiet(p), pulses, 0.3, current_mA=0.5 * p.threshold_mA)
    assert np.all(low == 0)
    m = quiet(p)
    cur = np.where(np.arange(pulses.size) % 2 == 0, SUPRA_MA, 0.9)
    mixed = m.force_block(0.0, 3000, RATE, pulses, cur, np.full(pulses.size, WIDTH_MS), p.Lo_mm).max()
    high = render(quiet(p), pulses, 0.3).max()
    mid = render(quiet(p), pulses, 0.3, current_mA=0.9).max()
    assert mid < mixed < high


# --- length-tension -------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(RANGES))
def test_length_tension_peaks_at_optimal_length(name):
    p = get_preset(name)
    lengths = p.Lo_mm * np.linspace(0.8, 1.2, 17)
    active, passive = [], []
    for L in lengths:
        f = render(quiet(name), train(0.05, RANGES[name]["fused_hz"], 0.3), 0.45, length_mm=L)
        base = float(f[: int(0.04 * RATE)].mean())
        passive.append(base)
        active.append(float(f.max()) - base)
    assert lengths[int(np.argmax(active))] == pytest.approx(p.Lo_mm)
    assert active[0] < 0.9 * max(active) and active[-1] < 0.9 * max(active)
    passive = np.array(passive)
    assert np.all(passive[lengths <= p.Lo_mm] == 0)
    above = passive[lengths > p.Lo_mm]
    assert np.all(np.diff(above) > 0) and above[0] > 0
    assert passive[-1] < 0.5 * max(active)  # "small" passive force at 1.2 Lo


# --- fatigue --------------------------------------------------------------------------

def fatigue_run(name, trains: int = 120, freq: float = 40.0, rate: float = 2000.0,
                model: MuscleModel | None = None, first_train_s: float = 1.0) -> np.ndarray:
    """Peak force of each of ``trains`` 330-ms trains at 1 train/s, rendering only a window
    around each train (the model fast-forwards between them)."""
    m = model or quiet(name)
    peaks = []
    for k in range(trains):
        t = first_train_s + k
        pulses = train(t, freq, 0.33)
        peaks.append(float(render(m, pulses, 0.45, t0=t - 0.02, rate=rate).max()))
    return np.array(peaks)


@pytest.mark.parametrize("name", sorted(RANGES))
def test_fatigue_declines_over_repeated_trains(name):
    peaks = fatigue_run(name)
    rel = peaks / peaks[0]
    lo, hi = RANGES[name]["fatigue"]
    assert lo <= rel[-1] <= hi
    assert rel[29] > rel[59] > rel[-1]
    a, km, tau1 = quiet(name).fatigue_state
    assert (a, km, tau1) == (1.0, 1.0, 1.0)


def test_fatigue_recovers_with_rest():
    m = quiet("rat-edl")
    peaks = fatigue_run("rat-edl", model=m)
    fatigued = m.fatigue_state
    assert fatigued[0] < 0.8 and fatigued[2] > 1.05
    after = fatigue_run("rat-edl", trains=1, model=m, first_train_s=121.0 + 600.0)[0]
    assert peaks[-1] < after < peaks[0]
    assert after > 0.9 * peaks[0]  # ten minutes of rest: mostly recovered


def test_fatigue_is_stronger_for_the_fast_muscle():
    edl = fatigue_run("rat-edl", trains=60)
    sol = fatigue_run("rat-soleus", trains=60)
    assert edl[-1] / edl[0] < sol[-1] / sol[0]


# --- blocks, gaps ---------------------------------------------------------------------

def _pulse_args(pulses):
    pt = np.asarray(pulses, dtype=float)
    return pt, np.full(pt.shape, SUPRA_MA), np.full(pt.shape, WIDTH_MS)


@pytest.mark.parametrize("rate", [1000.0, 20_000.0])
def test_one_block_equals_many_blocks(rate):
    pulses = np.concatenate([[0.0123], train(0.1, 150, 0.2), train(0.5, 40, 0.3), [0.95]])
    n = int(1.2 * rate)
    kw = dict(noise=False, drift=True, artifact=True, seed=5)  # deterministic parts stay on
    whole = MuscleModel("rat-edl", **kw).force_block(0.0, n, rate, *_pulse_args(pulses), 31.0)
    m = MuscleModel("rat-edl", **kw)
    rng = np.random.default_rng(0)
    parts, k = [], 0
    while k < n:
        size = min(n - k, int(rng.integers(1, int(rate * 0.03))))
        t0 = k / rate
        visible = pulses[pulses <= t0 + (size - 1) / rate]  # what the world would pass
        parts.append(m.force_block(t0, size, rate, *_pulse_args(visible), 31.0))
        k += size
    np.testing.assert_allclose(np.concatenate(parts), whole, rtol=1e-9, atol=1e-6)
    assert whole.max() > 1000


def test_noise_is_seeded_and_small():
    p = get_preset("rat-edl")
    a = MuscleModel(p, seed=7, drift=False).force_block(0.0, 20000, RATE, *_pulse_args([]), p.Lo_mm)
    b = MuscleModel(p, seed=7, drift=False).force_block(0.0, 20000, RATE, *_pulse_args([]), p.Lo_mm)
    c = MuscleModel(p, seed=8, drift=False).force_block(0.0, 20000, RATE, *_pulse_args([]), p.Lo_mm)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert 0.0005 * p.Po_mN <= a.std() <= 0.003 * p.Po_mN
    drift = MuscleModel(p, seed=7, noise=False).force_block(0.0, 300, 1.0, *_pulse_args([]), p.Lo_mm)
    assert 0 < np.abs(drift).max() < 0.01 * p.Po_mN and drift.std() > 0


def test_stimulus_artifact_is_brief_and_small():
    p = get_preset("rat-edl")
    rate = 1000.0
    with_art = MuscleModel(p, noise=False, drift=False).force_block(0.0, 200, rate, *_pulse_args([0.0502]), p.Lo_mm)
    without = quiet(p).force_block(0.0, 200, rate, *_pulse_args([0.0502]), p.Lo_mm)
    diff = with_art - without
    hit = np.flatnonzero(diff)
    assert 1 <= hit.size <= 2 and hit[0] == 51
    assert diff.max() < 0.05 * without.max()


def _continuous_vs_gap(pulses, until_s, resume_s, length_s=0.3, rate=RATE):
    n_before = int(round(until_s * rate))
    full = quiet("rat-edl").force_block(0.0, int(round((resume_s + length_s) * rate)), rate,
                                  *_pulse_args(pulses), 32.0)
    m = quiet("rat-edl")
    m.force_block(0.0, n_before, rate, *_pulse_args(pulses[pulses < until_s]), 32.0)
    k = int(round(resume_s * rate))
    after = m.force_block(k / rate, int(round(length_s * rate)), rate, *_pulse_args(pulses), 32.0)
    return full[k:], after


def test_forward_jump_mid_relaxation_decays_correctly():
    pulses = train(0.05, 100, 0.3)
    # stop rendering 5 ms after the train, resume 20 ms later (force still relaxing)
    ref, after = _continuous_vs_gap(pulses, until_s=0.355, resume_s=0.375)
    assert ref[0] > 100  # still relaxing at the resume point
    np.testing.assert_allclose(after, ref, rtol=0, atol=2e-3 * pulses.size)
    np.testing.assert_allclose(after, ref, atol=1e-3 * ref.max() + 1e-9)


def test_forward_jump_over_pulses_and_long_gaps():
    # a tetanus entirely in the gap, resume in its relaxation
    pulses = train(1.0, 150, 0.3)
    ref, after = _continuous_vs_gap(pulses, until_s=0.5, resume_s=1.31)
    assert ref.max() > 1500
    np.testing.assert_allclose(after, ref, atol=2e-3 * ref.max())
    # a tetanus starting in the gap and still running at the resume point
    ref, after = _continuous_vs_gap(pulses, until_s=0.5, resume_s=1.1)
    np.testing.assert_allclose(after, ref, atol=2e-3 * ref.max())
    # after a long gap only the exponential tail (tau1) is left, then nothing
    # (without post-tetanic potentiation, which shortens tau1 after the train)
    m = quiet(get_preset("rat-edl").with_(ptp_max=0.0))
    m.force_block(0.0, int(0.4 * RATE), RATE, *_pulse_args(train(0.05, 150, 0.3)), 32.0)
    f_end = m.active_force_mN
    tau1 = get_preset("rat-edl").tau1_s * m.fatigue_state[2]  # the tetanus slowed relaxation a bit
    gap = 0.15
    f = m.force_block(0.4 + gap, 10, RATE, *_pulse_args(train(0.05, 150, 0.3)), 32.0)
    assert f[0] == pytest.approx(f_end * np.exp(-(gap + 1 / RATE) / tau1), rel=0.005)
    assert m.force_block(3600.0, 10, RATE, *_pulse_args([]), 32.0).max() < 1e-9


def test_treatment_effect_scales_force():
    p = get_preset("rat-edl")
    pulses = train(0.05, 100, 0.3)
    ref = render(quiet(p), pulses, 0.5)
    for effect in (1.1, TreatmentEffect(force=1.1), {"force": 1.1}):
        np.testing.assert_allclose(render(quiet(p, treatment_effect=effect), pulses, 0.5), 1.1 * ref,
                                   rtol=1e-9, atol=1e-9)
    slow = twitch_figures(render(quiet(p, treatment_effect=TreatmentEffect(time=1.3)), [0.05], 0.4), 0.05)
    base = twitch_figures(render(quiet(p), [0.05], 0.4), 0.05)
    assert slow["hrt_ms"] > 1.15 * base["hrt_ms"]
    tired = fatigue_run("rat-edl", trains=40, model=quiet(p, treatment_effect=TreatmentEffect(fatigue=0.5)))
    normal = fatigue_run("rat-edl", trains=40)
    assert tired[-1] / tired[0] > normal[-1] / normal[0]


# --- recurrence -----------------------------------------------------------------------

def test_linear_recurrence_matches_a_loop_even_over_long_decays():
    rng = np.random.default_rng(1)
    n = 5000
    log_c = -rng.uniform(0, 0.5, n)   # total decay ~ exp(-1250): needs chunking
    d = rng.uniform(0, 3, n)
    x, ref = 7.0, np.empty(n)
    for k in range(n):
        x = np.exp(log_c[k]) * x + d[k]
        ref[k] = x
    np.testing.assert_allclose(linear_recurrence(log_c, d, 7.0), ref, rtol=1e-10)
    assert linear_recurrence(np.zeros(0), np.zeros(0), 1.0).shape == (0,)


# --- the world ------------------------------------------------------------------------

def test_world_renders_the_default_muscle_with_markers():
    now = [0.0]
    world = SimWorld(clock=lambda: now[0], length_mm=32.0)
    world.schedule_burst(100.0, 10, 3.0, 0.2)
    force, flags = world.render(0.0, 2000, RATE)
    edges = np.flatnonzero(flags & FLAG_TRIGGER_EDGE)
    assert edges.tolist() == [20 + 100 * k for k in range(10)]
    assert force[:19].max() < 0.01 * force.max() and force.max() > 1000
    # pulses with the output off are marked but reach no nerve
    world2 = SimWorld(clock=lambda: now[0], length_mm=32.0)
    world2.schedule_burst(100.0, 10, 3.0, 0.2, delivered=False)
    force2, flags2 = world2.render(0.0, 2000, RATE)
    assert np.array_equal(flags2 & FLAG_TRIGGER_EDGE, flags & FLAG_TRIGGER_EDGE)
    assert force2.max() < 0.01 * force.max()


def test_world_keeps_pulses_for_a_muscle_not_rendered_for_a_while():
    now = [0.0]
    world = SimWorld(MuscleModel("rat-edl", noise=False, drift=False, artifact=False),
                     clock=lambda: now[0], length_mm=32.0)
    world.render(0.0, 100, 1000.0)
    for k in range(60):                     # one minute of trains, nobody streaming
        now[0] = 1.0 + k
        world.schedule_burst(100.0, 30, 3.0, 0.2)
    now[0] = 70.0
    world.render(70.0, 100, 1000.0)
    a, _, _ = world.muscle.fatigue_state
    assert a < 0.9  # the muscle felt the trains delivered while nobody was rendering


# ------------------------------------------------------------- realism (issue 10 item 5)
def _twitch(m, t, rate=RATE):
    """Force of one supramaximal twitch at ``t`` (0.2 s rendered from the pulse)."""
    return m.force_block(t, int(0.2 * rate), rate, *_pulse_args([t]), m.preset.Lo_mm)


@pytest.mark.parametrize("name", ["rat-edl", "rat-soleus", "rat-quadriceps"])
def test_force_starts_2_to_5_ms_after_the_stimulus(name):
    m = quiet(name)
    f = _twitch(m, 1.0)
    onset = int(np.argmax(f > 0.01 * f.max())) / RATE * 1000.0
    assert 2.0 <= onset <= 5.0
    assert onset == pytest.approx(get_preset(name).latency_s * 1000.0, abs=1.0)


def _ptp_ratio(name):
    m = quiet(name)
    before = _twitch(m, 1.0).max()
    Lo = m.preset.Lo_mm
    m.force_block(2.0, int(0.5 * RATE), RATE, *_pulse_args(train(2.0, 150, 0.3)), Lo)
    after = _twitch(m, 4.0).max()
    return after / before


def test_post_tetanic_potentiation_where_the_muscle_type_has_it():
    assert 1.15 < _ptp_ratio("rat-edl") < 1.6          # fast-twitch: potentiates
    assert _ptp_ratio("rat-soleus") == pytest.approx(1.0, abs=0.03)   # slow: none


def _twitch_and_tetanus(effect):
    m = quiet("rat-edl", treatment_effect=effect)
    tw = _twitch(m, 1.0).max()
    m2 = quiet("rat-edl", treatment_effect=effect)
    Lo = m2.preset.Lo_mm
    tet = m2.force_block(1.0, int(0.5 * RATE), RATE, *_pulse_args(train(1.0, 150, 0.3)), Lo).max()
    return tw, tet


def test_treatment_effects_none_contractile_and_nmj_block():
    from sim_devices.muscle.treatment import TreatmentEffect
    tw0, tet0 = _twitch_and_tetanus(None)
    assert _twitch_and_tetanus("none") == (tw0, tet0)
    tw, tet = _twitch_and_tetanus("contractile:0.8")
    assert tw / tw0 == pytest.approx(0.8, rel=0.02) and tet / tet0 == pytest.approx(0.8, rel=0.02)
    tw, tet = _twitch_and_tetanus("nmj-block:0.4")
    assert tw / tw0 < 0.75                    # the twitch loses much of its force
    assert tet / tet0 > tw / tw0 + 0.15       # the tetanus much less (facilitation)
    for bad in ("nmj-block:1.5", "contractile:-1", "strong"):
        with pytest.raises(ValueError):
            TreatmentEffect.coerce(bad)
