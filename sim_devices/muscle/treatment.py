"""A treatment's effect on the simulated muscle, as factors on the untreated preset
(used by :class:`sim_devices.muscle.model.MuscleModel`, parsed from ``--treatment``)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TreatmentEffect:
    """How a treatment changes the muscle, as factors on the untreated preset.

    ``force`` scales A (all active force: a contractile effect), ``time`` scales tau1 and
    tau2 (twitch relaxation and fusion), ``fatigue`` scales the fatigue rates.
    ``nmj_block`` (0..1) is a neuromuscular-junction block, as raised extracellular Mg²⁺
    causes by reducing acetylcholine release: a pulse's recruitment is scaled by
    (1 − nmj_block / (1 + f)), f the facilitation of transmitter release left by the
    previous pulses (0 for an isolated pulse; +0.5 per pulse, decaying with 0.1 s), so the
    twitch loses ``nmj_block`` of its drive and a tetanus much less: the twitch is
    depressed more than the tetanus.
    """

    force: float = 1.0
    time: float = 1.0
    fatigue: float = 1.0
    nmj_block: float = 0.0

    def __post_init__(self) -> None:
        for name in ("force", "time", "fatigue"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"treatment {name} factor must be > 0 (got {v!r})")
        if not 0.0 <= self.nmj_block < 1.0:
            raise ValueError(f"nmj_block must be in [0, 1) (got {self.nmj_block!r})")

    @classmethod
    def coerce(cls, value: Any) -> "TreatmentEffect":
        """``None``/'none' (no effect), a number or 'contractile:F' (force factor),
        'nmj-block:B', a mapping or a TreatmentEffect."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            return cls(**{k: float(v) for k, v in value.items()})
        if isinstance(value, str):
            return cls.parse(value)
        return cls(force=float(value))

    @classmethod
    def parse(cls, text: str) -> "TreatmentEffect":
        """'none', 'contractile:0.85', 'nmj-block:0.4' or a bare force factor '0.85'."""
        kind, _, arg = text.strip().lower().partition(":")
        try:
            if kind == "none" and not arg:
                return cls()
            if kind == "contractile":
                return cls(force=float(arg))
            if kind in ("nmj-block", "nmj_block", "nmj"):
                return cls(nmj_block=float(arg))
            return cls(force=float(text))
        except ValueError as exc:
            if "must" in str(exc):
                raise
        raise ValueError(f"treatment effect {text!r}: use none, contractile:FACTOR or "
                         f"nmj-block:FRACTION")
