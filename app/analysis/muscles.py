"""Muscle architecture constants for specific force, with their sources.

Specific force divides Po by the physiological cross-sectional area, estimated from
the muscle's wet mass and *fibre* length (Mendez & Keys 1960 density):

    CSA [cm²] = mass [g] / (Lf [cm] × 1.06 g/cm³),    Lf = Lo × (Lf/Lo)

Lf/Lo is a property of each muscle's architecture *in one species*, so the table is
keyed by species and muscle. Only ratios with a published, commonly used value are
listed; for any other muscle (e.g. quadriceps, whose heads differ in architecture, or
gastrocnemius) or species, or a session whose species is not recorded, specific force
is not computed unless the user supplies the ratio (``fibre_length_ratio`` /
``--fibre-length-ratio``). The rat rows carry the mouse values, labelled as such: no
rat Lf/Lo could be read from a primary source (docs/analysis.md §5 says what was
searched).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MUSCLE_DENSITY_G_CM3 = 1.06
DENSITY_SOURCE = ("Mendez J, Keys A (1960) Density and composition of mammalian muscle. "
                  "Metabolism 9:184-188")


@dataclass(frozen=True)
class FibreRatio:
    ratio: float
    source: str


_BROOKS = ("Brooks SV, Faulkner JA (1988) Contractile properties of skeletal muscles from "
           "young, adult and aged mice. J Physiol 404:71-82")
_BURKHOLDER = ("Burkholder TJ, Fingado B, Baron S, Lieber RL (1994) Relationship between "
               "muscle fiber types and sizes and muscle architectural properties in the "
               "mouse hindlimb. J Morphol 221:177-190")

_MOUSE_RATIOS: dict[str, FibreRatio] = {
    "edl": FibreRatio(0.44, _BROOKS),
    "soleus": FibreRatio(0.71, _BROOKS),
    "tibialis anterior": FibreRatio(0.60, _BURKHOLDER),
}
_MOUSE_VALUE_FOR_RAT = ("; measured in mouse, applied to rat (no rat Lf/Lo read from a "
                        "primary source; docs/analysis.md §5)")

#: fibre-to-muscle length ratio (Lf/Lo) by species, then canonical muscle name. The rat
#: rows are the mouse values with a source that says so; a study with its own
#: architecture data should pass ``fibre_length_ratio`` instead.
FIBRE_LENGTH_RATIOS: dict[str, dict[str, FibreRatio]] = {
    "mouse": _MOUSE_RATIOS,
    "rat": {m: FibreRatio(r.ratio, r.source + _MOUSE_VALUE_FOR_RAT)
            for m, r in _MOUSE_RATIOS.items()},
}

_SPECIES = {"rat": "rat", "rats": "rat", "rattus norvegicus": "rat",
            "mouse": "mouse", "mice": "mouse", "mus musculus": "mouse"}

_ALIASES = {
    "edl": "edl", "extensor digitorum longus": "edl", "ext dig longus": "edl",
    "soleus": "soleus", "sol": "soleus",
    "ta": "tibialis anterior", "tibialis anterior": "tibialis anterior",
    "tibialis": "tibialis anterior",
}


def canonical_muscle(name: str | None) -> str | None:
    """'Extensor Digitorum Longus (left)' -> 'edl'; None when not recognised."""
    if not name:
        return None
    key = re.sub(r"\(.*?\)", " ", name.lower())
    key = re.sub(r"\b(left|right|l|r|m\.?|muscle)\b", " ", key)
    key = re.sub(r"[^a-z ]+", " ", key)
    key = " ".join(key.split())
    return _ALIASES.get(key)


def canonical_species(name: str | None) -> str | None:
    """'Rat', 'Rattus norvegicus' -> 'rat'; 'mice' -> 'mouse'; None when not recognised."""
    if not name:
        return None
    return _SPECIES.get(" ".join(str(name).lower().split()))


def fibre_length_ratio(muscle: str | None, species: str | None) -> FibreRatio | None:
    """The tabulated Lf/Lo ratio of a muscle in a species, or None when there is no
    default (muscle or species not tabulated, or species unknown: never a guess)."""
    canon, table = canonical_muscle(muscle), FIBRE_LENGTH_RATIOS.get(
        canonical_species(species) or "")
    return table.get(canon) if canon and table else None


def missing_ratio_reason(muscle: str | None, species: str | None) -> tuple[str, str | None]:
    """Why :func:`fibre_length_ratio` has no default: ``(reason, field)``, ``field`` the
    metadata field that, once recorded, would give one ('species'), else None."""
    if not muscle:
        return "muscle", "muscle"
    canon = canonical_muscle(muscle)
    if not any(canon in table for table in FIBRE_LENGTH_RATIOS.values()):
        return f"a fibre-length ratio for muscle {muscle!r} (pass fibre_length_ratio)", None
    tabulated = ", ".join(sorted(FIBRE_LENGTH_RATIOS))
    if not species:
        return (f"species (Lf/Lo ratios are tabulated per species: {tabulated}; or pass "
                f"fibre_length_ratio)", "species")
    return (f"a fibre-length ratio for species {species!r} (tabulated: {tabulated}; "
            f"pass fibre_length_ratio)", None)


def specific_force_n_per_cm2(po_mN: float, mass_mg: float, lo_mm: float, ratio: float,
                             density_g_cm3: float = MUSCLE_DENSITY_G_CM3) -> tuple[float, float]:
    """(specific force in N/cm², CSA in mm²) from Po, wet mass, optimal length and Lf/Lo."""
    fibre_cm = lo_mm / 10.0 * ratio
    csa_cm2 = (mass_mg / 1000.0) / (fibre_cm * density_g_cm3)
    return (po_mN / 1000.0) / csa_cm2, csa_cm2 * 100.0
