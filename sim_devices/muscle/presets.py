"""Parameter sets of the simulated muscle, one per muscle the study records from.

Kinetics are those of the Ding, Wexler & Binder-Macleod (2000) force model
(J Biomech 33:1585-1591, "Development of a mathematical model that predicts optimal
muscle activation patterns by using brief trains"): ``tau_c`` (Ca2+-troponin complex
time constant), ``R0`` (facilitation), ``Km`` (sensitivity of force to CN), ``tau1`` and
``tau2`` (force decay without and with strongly bound cross-bridges). Fatigue follows the
same group's fatigue model (Ding, Wexler & Binder-Macleod 2000, J Appl Physiol
89:1322-1332, eqs. 6-8: force-driven drift of A, Km and tau1 with recovery time constant
``tau_fat``), written here in units relative to the rested values and to ``Po``.

Force starts ``latency_s`` after each pulse (nerve conduction and neuromuscular delay:
2.5 ms EDL, 3.5 ms soleus, 3 ms quadriceps, within the 2-5 ms of nerve-evoked rodent
twitches). Post-tetanic potentiation (phosphorylation of the myosin regulatory light
chain, strong in fast-twitch muscle, small or absent in soleus; Moore & Stull 1984, Am
J Physiol 247:C462; Vandenboom et al. 2013, J Muscle Res Cell Motil 34:317) builds up
with the pulses of a train (``ptp_per_pulse`` of the way to ``ptp_max`` per pulse
following another within 50 ms) and decays with ``tau_ptp_s``: it raises the drive A by
(1 + P) and shortens tau1, tau2 by the same factor, so the fused tetanus A·(tau1 + tau2)
is unchanged and the twitch grows (EDL: up to +50 %, soleus: none).

The published parameters are for human quadriceps. The values here were tuned so that
the rendered twitches and tetani fall in the ranges reported for rat muscles in situ at
37 degC (EDL: TPT 10-20 ms, 1/2RT 10-20 ms, Pt/Po 0.2-0.3, Po 2-3 N, fused by 150-200 Hz;
soleus: TPT 30-45 ms, 1/2RT 40-70 ms, Po 1-1.5 N, fused by 50-80 Hz; quadriceps: large
Po, intermediate kinetics). ``tests/test_muscle_model.py`` measures them; at Lo,
supramaximal 0.2-ms pulses, 10 kHz (TPT from the pulse, before the onset delay
``latency_s`` was added: add 2.5 / 3.5 / 3 ms; f50 = the frequency giving 50 % of the
maximal force, the definition ``myoforce analyze`` reports as ``f50_hz`` — the demo run
of Protocol 1 on rat-edl gives f50 49.9 Hz):

=============== ====== ======= ======= ============= ====== ====== ==================
preset          Pt mN  TPT ms  1/2RT   Po mN (Hz)    Pt/Po  f50 Hz 2 min 40-Hz trains
=============== ====== ======= ======= ============= ====== ====== ==================
rat-edl           600    14.0    14.0   2452 (200)   0.245    49    0.53
rat-soleus        248    37.4    55.3   1195 (80)    0.208    18    0.85
rat-quadriceps   2848    20.8    24.2  13209 (150)   0.216    34    0.58
=============== ====== ======= ======= ============= ====== ====== ==================
"""
from __future__ import annotations

from dataclasses import dataclass, replace

#: pulse width at which the recruitment currents of a preset are given
REFERENCE_WIDTH_MS = 0.2


@dataclass(frozen=True)
class MusclePreset:
    """Everything that makes one simulated muscle different from another.

    Forces are in mN, times in seconds, lengths in mm, currents in mA.
    """

    name: str
    description: str
    # --- Ding 2000 force model ---------------------------------------------------------
    Po_mN: float          # maximal tetanic force (fresh, at Lo, all axons recruited, fused)
    tau_c_s: float        # CN time constant
    R0: float             # facilitation of the CN response to a closely following pulse
    Km: float             # CN at which the drive is half-maximal
    tau1_s: float         # force decay time constant without bound cross-bridges
    tau2_s: float         # extra force decay time constant when CN saturates
    # --- recruitment vs stimulus (motor axons of the nerve) --------------------------
    threshold_mA: float   # first motor units at REFERENCE_WIDTH_MS
    saturation_mA: float  # every motor unit recruited at REFERENCE_WIDTH_MS
    chronaxie_ms: float   # Weiss strength-duration law: I(w) = I_rheobase * (1 + chronaxie / w)
    # --- length-tension ------------------------------------------------------------
    Lo_mm: float          # optimal length
    lt_width: float       # Gaussian width of active force vs (L/Lo - 1)
    passive_at_110: float  # passive force at 1.1 Lo, fraction of Po
    passive_k: float      # exponential stiffness of passive force vs (L/Lo - 1)
    # --- fatigue (Ding 2000b, relative units) ----------------------------------------
    fatigue_A: float      # loss of A per (Po * s) of force-time integral
    fatigue_Km: float     # rise of Km per (Po * s)
    fatigue_tau1: float   # rise of tau1 per (Po * s)
    tau_fat_s: float      # recovery time constant
    # --- delays and potentiation -------------------------------------------------------
    latency_s: float = 0.0025      # stimulus -> force onset: nerve conduction + NMJ delay
    ptp_max: float = 0.0           # post-tetanic potentiation at saturation (twitch +x)
    ptp_per_pulse: float = 0.03    # build-up per train pulse (fraction of the way to max)
    tau_ptp_s: float = 60.0        # decay of potentiation
    # --- transducer and stimulus artefacts --------------------------------------------
    noise_frac: float = 0.001      # white noise RMS, fraction of Po
    drift_frac: float = 0.002      # slow baseline drift amplitude, fraction of Po
    artifact_mN_per_mA: float = 3.0  # stimulus artefact on the samples during a pulse

    @property
    def A_per_s(self) -> float:
        """Ding's A (force rise rate, mN/s) such that a fully fused tetanus reaches Po:
        at saturating CN, dF/dt = A - F/(tau1 + tau2) settles at A * (tau1 + tau2)."""
        return self.Po_mN / (self.tau1_s + self.tau2_s)

    def with_(self, **changes) -> "MusclePreset":
        """A copy with some parameters changed (e.g. a noise-free muscle for a test)."""
        return replace(self, **changes)


PRESETS: dict[str, MusclePreset] = {
    p.name: p for p in (
        MusclePreset(
            name="rat-edl",
            description="rat extensor digitorum longus: fast, fatigable",
            Po_mN=2600.0, tau_c_s=0.0021, R0=2.5, Km=0.013, tau1_s=0.0151, tau2_s=0.0245,
            threshold_mA=0.30, saturation_mA=2.5, chronaxie_ms=0.10,
            Lo_mm=32.0, lt_width=0.28, passive_at_110=0.04, passive_k=20.0,
            fatigue_A=0.080, fatigue_Km=0.30, fatigue_tau1=0.040, tau_fat_s=120.0,
            latency_s=0.0025, ptp_max=0.5,
            artifact_mN_per_mA=3.0,
        ),
        MusclePreset(
            name="rat-soleus",
            description="rat soleus: slow, fatigue resistant",
            Po_mN=1250.0, tau_c_s=0.0047, R0=2.5, Km=0.0056, tau1_s=0.0706, tau2_s=0.0621,
            threshold_mA=0.40, saturation_mA=3.0, chronaxie_ms=0.10,
            Lo_mm=28.0, lt_width=0.30, passive_at_110=0.05, passive_k=18.0,
            fatigue_A=0.008, fatigue_Km=0.03, fatigue_tau1=0.004, tau_fat_s=120.0,
            latency_s=0.0035, ptp_max=0.0,
            artifact_mN_per_mA=1.2,
        ),
        MusclePreset(
            name="rat-quadriceps",
            description="rat quadriceps (femoral nerve): large, mixed fibre types",
            Po_mN=14000.0, tau_c_s=0.0032, R0=2.5, Km=0.017, tau1_s=0.0277, tau2_s=0.0389,
            threshold_mA=0.50, saturation_mA=4.0, chronaxie_ms=0.12,
            Lo_mm=38.0, lt_width=0.30, passive_at_110=0.04, passive_k=20.0,
            fatigue_A=0.035, fatigue_Km=0.15, fatigue_tau1=0.020, tau_fat_s=120.0,
            latency_s=0.003, ptp_max=0.3,
            artifact_mN_per_mA=12.0,
        ),
    )
}

ALIASES = {"edl": "rat-edl", "soleus": "rat-soleus", "sol": "rat-soleus",
           "quadriceps": "rat-quadriceps", "quad": "rat-quadriceps"}


class UnknownMuscleError(ValueError):
    """No preset of that name; the message lists the presets."""


def preset_names() -> list[str]:
    """The canonical preset names, for help texts and error messages."""
    return sorted(PRESETS)


def get_preset(name: str | MusclePreset) -> MusclePreset:
    """The preset called ``name`` (canonical or alias, case-insensitive).

    Raises :class:`UnknownMuscleError` whose message lists the presets."""
    if isinstance(name, MusclePreset):
        return name
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    try:
        return PRESETS[key]
    except KeyError:
        raise UnknownMuscleError(f"unknown muscle {name!r}; choose one of: {', '.join(preset_names())}") from None
