"""The simulated muscle: Ding et al. force model plus recruitment, length-tension, fatigue.

Force model: Ding, Wexler & Binder-Macleod (2000), J Biomech 33:1585-1591, eqs. 1-3::

    R_i   = 1 + (R0 - 1) * exp(-(t_i - t_{i-1}) / tau_c)                  (facilitation)
    CN(t) = sum_i R_i * ((t - t_i) / tau_c) * exp(-(t - t_i) / tau_c)      (Ca2+-troponin)
    dF/dt = A * CN / (Km + CN) - F / (tau1 + tau2 * CN / (Km + CN))

Rendering is block-wise and vectorized (the simulated amplifier asks for up to 100 kHz in
real time):

* CN is a sum of alpha functions, so the pair ``S = sum R_i e^{-x_i}``,
  ``U = sum R_i x_i e^{-x_i}`` (``x_i = (t - t_i)/tau_c``, ``CN = U``) propagates exactly
  between pulses: ``U(t+s) = (U + S s/tau_c) e^{-s/tau_c}``, ``S(t+s) = S e^{-s/tau_c}``.
  State is computed at each pulse (a loop over pulses) and CN on the sample grid from the
  last event before each sample (numpy).
* With drive and time constant held constant over each sample interval (trapezoidal
  average of the two ends), the force ODE is solved exactly per interval:
  ``F[k+1] = c[k] F[k] + d[k]``, ``c = exp(-h/tau)``, ``d = a tau (1 - c)``. That linear
  recurrence is solved in closed form with cumulative sums in log space
  (:func:`linear_recurrence`), no Python loop per sample.
* State (F, CN, facilitation, fatigue) persists between calls; a call that starts later
  than the previous one ended fast-forwards through the gap (pulses in the gap included).

Additions to the Ding model, each a multiplicative factor on A:

* recruitment of motor axons by the stimulus: a sigmoid (smoothstep) in log current
  between a threshold and a saturation current, both scaled with pulse width by the Weiss
  strength-duration law ``I(w) = I_rh (1 + chronaxie / w)``. Each pulse's recruitment is
  carried in a second CN state weighted by it, so the drive is ``A * CN_r / (Km + CN)``
  (equal to ``r * A * CN / (Km + CN)`` when every pulse has the same current);
* length-tension: Gaussian in ``L/Lo - 1``; a passive force rising exponentially above Lo
  is added to the output;
* fatigue: Ding, Wexler & Binder-Macleod (2000), J Appl Physiol 89:1322-1332, eqs. 6-8,
  in relative units: ``dA/dt = -(A - 1)/tau_fat - kA F/Po`` and likewise for Km (+) and
  tau1 (+), updated on a fixed 10 ms grid of world time (so the result does not depend on
  how the samples are split into blocks);
* a delay ``latency_s`` from each pulse to its force (nerve conduction, NMJ);
* post-tetanic potentiation (presets.py): train pulses raise A by (1 + P) and shorten
  tau1, tau2 by that factor (the fused tetanus is unchanged, the twitch grows);
* a treatment effect scaling force, time constants and fatigue rates, or a
  neuromuscular-junction block that depresses the twitch more than the tetanus.

The output also carries transducer white noise, a slow baseline drift and a brief
stimulus artefact during each pulse.

About 430 lines, one class: every addition above acts on the same integrated state (F,
CN, facilitation, fatigue), advanced together block by block. The recurrence solver
(``recurrence.py``), the treatment effect (``treatment.py``) and the presets
(``presets.py``) are their own modules.
"""
from __future__ import annotations

import bisect
import math
from typing import Any

import numpy as np

from sim_devices.muscle.presets import REFERENCE_WIDTH_MS, MusclePreset, get_preset
from sim_devices.muscle.recurrence import linear_recurrence
from sim_devices.muscle.treatment import TreatmentEffect

#: a pulse this soon after the previous one is a train pulse (builds potentiation)
PTP_TRAIN_GAP_S = 0.05
#: neuromuscular facilitation of transmitter release: added per pulse, decay time
#: (Magleby 1987 reviews facilitation/augmentation of 10-500 ms at the NMJ)
NMJ_FACILITATION_STEP = 0.5
NMJ_FACILITATION_TAU_S = 0.1
class MuscleModel:
    """One simulated muscle with state; see the module docstring for the model.

    ``force_block()`` is called by :class:`sim_devices.world.SimWorld` for successive blocks of
    samples. World time starts at ``start_time_s``; the model may be asked for any later
    time and fast-forwards through pulses it was not asked to render.
    """

    #: fatigue state is updated at multiples of this much world time
    FATIGUE_STEP_S = 0.01
    #: sample rate at which a gap with activity is integrated when fast-forwarding
    FAST_FORWARD_RATE_HZ = 10_000.0
    #: the force ODE is integrated at least this fast (output rates below it are
    #: oversampled), so a twitch does not depend on where its pulse falls between samples
    MIN_INTERNAL_RATE_HZ = 10_000.0
    #: CN below this is treated as zero when fast-forwarding (analytic decay)
    QUIET_CN = 1e-12
    #: active force below this (mN) with CN quiet counts as rest (rendered without integrating)
    RESTING_FORCE_MN = 1e-9
    #: drift: two slow sinusoids (periods s, relative amplitudes)
    DRIFT_COMPONENTS = ((97.0, 0.6), (41.0, 0.4))

    def __init__(self, preset: str | MusclePreset = "rat-edl", *, seed: int | None = None,
                 treatment_effect: Any = None, noise: bool = True, drift: bool = True,
                 artifact: bool = True, start_time_s: float = 0.0) -> None:
        self.preset = get_preset(preset)
        self.treatment = TreatmentEffect.coerce(treatment_effect)
        self.noise = bool(noise)
        self.drift = bool(drift)
        self.artifact = bool(artifact)
        noise_seq, drift_seq = np.random.SeedSequence(seed).spawn(2)
        self._noise_seq = noise_seq
        self._drift_phase = np.random.default_rng(drift_seq).uniform(0.0, 2 * math.pi, 2)
        self._start_time = float(start_time_s)
        self.reset()

    # --- state ------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to a rested muscle at world time ``start_time_s``."""
        self._rng = np.random.default_rng(self._noise_seq)
        self._t = self._start_time          # time of the state: the last integrated sample
        self._F = 0.0                        # active force, mN
        self._S = self._U = 0.0              # CN state (U is CN)
        self._Sr = self._Ur = 0.0            # recruitment-weighted CN state
        self._last_pulse = -math.inf         # for facilitation
        self._seen_until = -math.inf         # newest pulse time taken into the queue
        self._queue_t = np.zeros(0)          # pulses received, not yet integrated
        self._queue_r = np.zeros(0)          # their recruitment
        self._fatigue = np.ones(3)           # multipliers of A, Km, tau1
        self._fat_t = self._start_time       # time of the last fatigue update
        self._fat_bin: int | None = None     # fatigue step being accumulated
        self._fat_acc = 0.0                  # force-time integral in that step, mN s
        # post-tetanic potentiation (0..1 of ptp_max): (time, value) at each update, so
        # it can be read at any time of a block whatever the block boundaries
        self._nmj_fac = 0.0                  # NMJ release facilitation (treatment block)
        self._ptp_times: list[float] = [self._start_time]
        self._ptp_values: list[float] = [0.0]

    @property
    def fatigue_state(self) -> tuple[float, float, float]:
        """Present multipliers of (A, Km, tau1): (1, 1, 1) when rested."""
        return tuple(float(v) for v in self._fatigue)  # type: ignore[return-value]

    @property
    def active_force_mN(self) -> float:
        """Active force at the state time (no noise, drift or passive force)."""
        return self._F

    # --- static relations -------------------------------------------------------------

    def recruitment(self, current_mA: Any, width_ms: Any) -> np.ndarray | float:
        """Fraction of motor axons excited by a pulse (0..1).

        Smoothstep in log current from the threshold to the saturation current; both
        scale with pulse width by Weiss's strength-duration law, relative to their values
        at the reference width (0.2 ms)."""
        p = self.preset
        i = np.asarray(current_mA, dtype=np.float64)
        w = np.maximum(np.asarray(width_ms, dtype=np.float64), 1e-6)
        scale = (1.0 + p.chronaxie_ms / w) / (1.0 + p.chronaxie_ms / REFERENCE_WIDTH_MS)
        lo, hi = p.threshold_mA * scale, p.saturation_mA * scale
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.log(np.maximum(i, 1e-12) / lo) / np.log(hi / lo)
        x = np.clip(np.nan_to_num(x, nan=0.0), 0.0, 1.0)
        r = x * x * (3.0 - 2.0 * x)
        return float(r) if r.ndim == 0 else r

    def length_factor(self, length_mm: float) -> float:
        """Active force at this length relative to Lo (Gaussian length-tension)."""
        p = self.preset
        return math.exp(-((length_mm / p.Lo_mm - 1.0) / p.lt_width) ** 2)

    def passive_force_mN(self, length_mm: float) -> float:
        """Passive (parallel elastic) force: zero up to Lo, exponential above."""
        p = self.preset
        x = max(0.0, length_mm / p.Lo_mm - 1.0)
        return p.Po_mN * p.passive_at_110 * math.expm1(p.passive_k * x) / math.expm1(p.passive_k * 0.1)

    # --- rendering --------------------------------------------------------------------

    def force_block(self, t0: float, n: int, rate_hz: float, pulse_t: np.ndarray,
                    pulse_current_mA: np.ndarray, pulse_width_ms: np.ndarray,
                    length_mm: float) -> np.ndarray:
        """Force in mN at ``t0 + k / rate_hz`` (k = 0..n-1).

        ``pulse_*`` list delivered pulses up to the last sample time (older ones already
        seen are ignored, so the caller may pass a sliding window). Calls are expected for
        increasing times: a block that continues the previous one goes on from its state; a
        later block fast-forwards; an earlier one (not supported physically) restarts the
        clock at ``t0`` keeping the state."""
        n = int(n)
        h = 1.0 / float(rate_hz)
        self._enqueue(np.asarray(pulse_t, dtype=np.float64),
                      np.asarray(pulse_current_mA, dtype=np.float64),
                      np.asarray(pulse_width_ms, dtype=np.float64))
        if n <= 0:
            return np.zeros(0)
        before = t0 - h  # the state's time when this block continues the previous one
        if before > self._t + 0.5 * h:
            self._advance(before, length_mm)
        self._t = before
        t_last = before + n * h
        if self._resting() and not (self._queue_t.size and self._queue_t[0] <= t_last):
            # nothing happens in this block: skip the integration (most of a session)
            _, _, tau1, _ = self._params(length_mm)
            active = self._F * np.exp(-h * np.arange(1, n + 1) / tau1)
            self._decay_quietly(t_last, length_mm)
        else:
            over = max(1, int(math.ceil(self.MIN_INTERNAL_RATE_HZ * h - 1e-9)))
            active = self._integrate(n * over, h / over, length_mm)[over - 1::over]
        out = active + self.passive_force_mN(length_mm)
        t = t0 + np.arange(n) * h
        p = self.preset
        if self.drift:
            drift = np.zeros(n)
            for (period, weight), phase in zip(self.DRIFT_COMPONENTS, self._drift_phase):
                drift += weight * np.sin(2 * math.pi * t / period + phase)
            out += p.drift_frac * p.Po_mN * drift
        if self.noise:
            out += self._rng.standard_normal(n) * (p.noise_frac * p.Po_mN)
        if self.artifact and len(pulse_t):
            self._add_artifact(out, t0, h, np.asarray(pulse_t, dtype=np.float64),
                               np.asarray(pulse_current_mA, dtype=np.float64),
                               np.asarray(pulse_width_ms, dtype=np.float64))
        return out

    def _add_artifact(self, out: np.ndarray, t0: float, h: float, pt: np.ndarray,
                      pi: np.ndarray, pw: np.ndarray) -> None:
        """Stimulus artefact: the samples taken during a pulse, plus one decaying sample
        after it, pick up ``artifact_mN_per_mA * current`` (a sample or two at 1 kHz)."""
        n = out.shape[0]
        k = self.preset.artifact_mN_per_mA
        first = np.ceil((pt - t0) / h - 1e-9).astype(np.int64)
        during = np.maximum(1, np.ceil(pw * 1e-3 / h - 1e-9).astype(np.int64))
        hit = (first + during >= 0) & (first < n)
        for f, m, amp in zip(first[hit], during[hit], pi[hit] * k):
            a, b = max(f, 0), min(f + m, n)
            if a < b:
                out[a:b] += amp
            if 0 <= f + m < n:
                out[f + m] += 0.4 * amp

    # --- internals --------------------------------------------------------------------

    def _enqueue(self, pt: np.ndarray, pi: np.ndarray, pw: np.ndarray) -> None:
        new = pt > self._seen_until
        if not new.any():
            return
        order = np.argsort(pt[new], kind="stable")
        t_new = pt[new][order] + self.preset.latency_s   # force follows after the delay
        r_new = np.asarray(self.recruitment(pi[new][order], pw[new][order]), dtype=np.float64).reshape(-1)
        self._queue_t = np.concatenate([self._queue_t, t_new])
        self._queue_r = np.concatenate([self._queue_r, r_new])
        self._seen_until = float(pt[new].max())

    def _params(self, length_mm: float, t: float | None = None
                ) -> tuple[float, float, float, float]:
        """(A, Km, tau1, tau2) at time ``t`` (default: the state time): preset x fatigue x
        length x treatment x potentiation."""
        p, tr, fat = self.preset, self.treatment, self._fatigue
        pot = 1.0 + p.ptp_max * self._potentiation(self._t if t is None else t)
        A = p.A_per_s * fat[0] * self.length_factor(length_mm) * tr.force * pot
        return A, p.Km * fat[1], p.tau1_s * fat[2] * tr.time / pot, p.tau2_s * tr.time / pot

    def _potentiation(self, t: float) -> float:
        """Potentiation (0..1 of ``ptp_max``) at time ``t``, decayed since its update."""
        i = bisect.bisect_right(self._ptp_times, t) - 1
        if i < 0 or self._ptp_values[i] <= 0.0:
            return 0.0
        return self._ptp_values[i] * math.exp(-(t - self._ptp_times[i]) / self.preset.tau_ptp_s)

    def _pulse_weights(self, t: float, r: float) -> tuple[float, float]:
        """(facilitation R, recruitment-weighted R) of a pulse at ``t``, with the
        neuromuscular block of the treatment; updates the potentiation (a pulse within
        50 ms of the previous one is a train pulse)."""
        p = self.preset
        gap = t - self._last_pulse
        R = 1.0 + (p.R0 - 1.0) * math.exp(-gap / p.tau_c_s)
        if p.ptp_max > 0 and gap < PTP_TRAIN_GAP_S:
            now = self._potentiation(t)
            if len(self._ptp_times) > 256:       # older updates are never read again
                del self._ptp_times[:128], self._ptp_values[:128]
            self._ptp_times.append(t)
            self._ptp_values.append(now + p.ptp_per_pulse * (1.0 - now))
        # transmitter release facilitates within a train (tau ~0.1 s): the block costs an
        # isolated pulse its full fraction, a train pulse a fraction of it
        self._nmj_fac *= math.exp(-gap / NMJ_FACILITATION_TAU_S) if math.isfinite(gap) else 0.0
        weighted = R * r * (1.0 - self.treatment.nmj_block / (1.0 + self._nmj_fac))
        self._nmj_fac += NMJ_FACILITATION_STEP
        return R, weighted

    def _cn_state_step(self, dt: float) -> None:
        e = math.exp(-dt / self.preset.tau_c_s)
        x = dt / self.preset.tau_c_s
        self._U = (self._U + self._S * x) * e
        self._S *= e
        self._Ur = (self._Ur + self._Sr * x) * e
        self._Sr *= e

    def _add_pulse(self, t: float, r: float) -> None:
        """A pulse at the state time: facilitation from the previous pulse (Ding eq. 1)."""
        R, Rr = self._pulse_weights(t, r)
        self._S += R
        self._Sr += Rr
        self._last_pulse = t

    def _integrate(self, n: int, h: float, length_mm: float) -> np.ndarray:
        """Integrate ``n`` steps of ``h`` from the state time; return active force at the
        ``n`` new sample times and leave the state at the last one."""
        T = self._t
        tg = T + h * np.arange(n + 1)
        t_end = float(tg[-1])
        k_end = int(np.searchsorted(self._queue_t, t_end, side="right"))
        qt, qr = self._queue_t[:k_end], self._queue_r[:k_end]
        self._queue_t, self._queue_r = self._queue_t[k_end:], self._queue_r[k_end:]
        # pulses that arrived too late for their own time enter CN exactly at T
        late = int(np.searchsorted(qt, T, side="right"))
        self._enter_late_pulses(qt[:late], qr[:late], T)
        cn, cn_r = self._cn_on_grid(qt[late:], qr[late:], tg)
        out = self._force_by_fatigue_step(tg, cn, cn_r, h, length_mm)
        self._t = t_end
        return out

    def _enter_late_pulses(self, qt: np.ndarray, qr: np.ndarray, T: float) -> None:
        """Add pulses whose time is already past to the CN state, as if fired at ``T``."""
        tc = self.preset.tau_c_s
        for t_p, r in zip(qt, qr):
            dt = T - t_p
            R, Rr = self._pulse_weights(float(t_p), float(r))
            e = math.exp(-dt / tc)
            self._S += R * e
            self._U += R * (dt / tc) * e
            self._Sr += Rr * e
            self._Ur += Rr * (dt / tc) * e
            self._last_pulse = t_p

    def _cn_on_grid(self, qt: np.ndarray, qr: np.ndarray, tg: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
        """CN and recruitment-weighted CN at the sample times ``tg``: the state at each
        event (block start, then every pulse, a loop over pulses), then on the grid from
        the last event at or before each sample (numpy). Leaves the state at ``tg[-1]``."""
        tc = self.preset.tau_c_s
        T, t_end = float(tg[0]), float(tg[-1])
        m = len(qt)
        ev_t = np.empty(m + 1)
        ev = np.empty((4, m + 1))
        ev_t[0] = T
        ev[:, 0] = (self._S, self._U, self._Sr, self._Ur)
        prev = T
        for j, (t_p, r) in enumerate(zip(qt, qr), start=1):
            self._cn_state_step(t_p - prev)
            self._add_pulse(float(t_p), float(r))
            ev_t[j] = t_p
            ev[:, j] = (self._S, self._U, self._Sr, self._Ur)
            prev = t_p
        self._cn_state_step(t_end - prev)
        idx = np.searchsorted(ev_t, tg, side="right") - 1
        x = (tg - ev_t[idx]) / tc
        e = np.exp(-x)
        return (ev[1, idx] + ev[0, idx] * x) * e, (ev[3, idx] + ev[2, idx] * x) * e

    def _force_by_fatigue_step(self, tg: np.ndarray, cn: np.ndarray, cn_r: np.ndarray,
                               h: float, length_mm: float) -> np.ndarray:
        """Force at ``tg[1:]``, fatigue step by fatigue step (steps fixed in world time)."""
        n = len(tg) - 1
        out = np.empty(n)
        bins = np.floor(tg[1:] / self.FATIGUE_STEP_S - 1e-9).astype(np.int64)
        cuts = np.concatenate([[0], np.flatnonzero(np.diff(bins)) + 1, [n]])
        F = self._F
        for a, b in zip(cuts[:-1], cuts[1:]):
            b_idx = int(bins[a])
            if self._fat_bin is None:
                self._fat_bin = b_idx
            elif b_idx != self._fat_bin:
                self._close_fatigue_step((self._fat_bin + 1) * self.FATIGUE_STEP_S)
                self._fat_bin = b_idx
            A, Km, tau1, tau2 = self._params(length_mm, b_idx * self.FATIGUE_STEP_S)
            c = cn[a:b + 1]
            g = c / (Km + c)
            q = cn_r[a:b + 1] / (Km + c)
            drive = A * 0.5 * (q[:-1] + q[1:])
            tau = tau1 + tau2 * 0.5 * (g[:-1] + g[1:])
            log_c = -h / tau
            out[a:b] = linear_recurrence(log_c, drive * tau * -np.expm1(log_c), F)
            F = float(out[b - 1])
            self._fat_acc += float(out[a:b].sum()) * h
        self._F = F
        return out

    def _close_fatigue_step(self, t_boundary: float) -> None:
        """Ding 2000b eqs. 6-8 (relative units), one explicit step: recovery towards rest
        over the time since the last update, drive by the force-time integral."""
        p, tr = self.preset, self.treatment
        decay = math.exp(-max(0.0, t_boundary - self._fat_t) / p.tau_fat_s)
        drive = self._fat_acc / (p.Po_mN * tr.force) * tr.fatigue
        f = 1.0 + (self._fatigue - 1.0) * decay
        f += drive * np.array([-p.fatigue_A, p.fatigue_Km, p.fatigue_tau1])
        f[0] = max(f[0], 0.05)
        self._fatigue = f
        self._fat_t = t_boundary
        self._fat_acc = 0.0

    def _quiet(self) -> bool:
        """No calcium-troponin activity left (CN is zero to double precision)."""
        return max(self._S, self._U, self._Sr, self._Ur) < self.QUIET_CN

    def _resting(self) -> bool:
        """Quiet and no active force left: rendering needs no integration."""
        return self._quiet() and abs(self._F) < self.RESTING_FORCE_MN

    def _decay_quietly(self, t_new: float, length_mm: float) -> None:
        """Jump to ``t_new`` with no CN: force decays with tau1, fatigue recovers."""
        dt = t_new - self._t
        if dt <= 0:
            return
        _, _, tau1, _ = self._params(length_mm)
        self._fat_acc += self._F * tau1 * -math.expm1(-dt / tau1)
        self._close_fatigue_step(t_new)
        self._fat_bin = int(math.floor(t_new / self.FATIGUE_STEP_S - 1e-9))
        self._F *= math.exp(-dt / tau1)
        self._cn_state_step(dt)
        self._t = t_new

    def _advance(self, target: float, length_mm: float) -> None:
        """Fast-forward the state to ``target``: analytic decay while nothing happens,
        integration at FAST_FORWARD_RATE_HZ through pulses and until CN has died away."""
        settle = 40.0 * self.preset.tau_c_s  # CN < 1e-15 of a pulse's peak after this
        while self._t < target:
            pending = self._queue_t[self._queue_t <= target]
            if self._quiet():
                if not pending.size:
                    self._decay_quietly(target, length_mm)
                    return
                if pending[0] > self._t:
                    self._decay_quietly(float(pending[0]), length_mm)
            # a cluster of pulses: until a gap longer than `settle`, then `settle` more
            last = max(self._last_pulse, float(pending[0]) if pending.size else -math.inf)
            for t_p in pending:
                if t_p - last > settle:
                    break
                last = float(t_p)
            end = min(target, max(last + settle, self._t + 1e-6))
            steps = max(1, int(math.ceil((end - self._t) * self.FAST_FORWARD_RATE_HZ)))
            self._integrate(steps, (end - self._t) / steps, length_mm)
            self._t = end  # exact, whatever the rounding of the grid
