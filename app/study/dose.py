"""Dose arithmetic: molar mass from a chemical formula, the elemental-magnesium
fraction, and the daily salt / elemental Mg amounts for an animal's body mass.

Standard atomic weights: IUPAC 2021 abridged values (conventional values for elements
given as intervals). The fraction of magnesium is n_Mg · M(Mg) / M(compound); a
certificate-of-analysis percentage, when given, replaces it (it measures the lot that is
actually dosed). Formulas: docs/study.md "Dose".
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from app.errors import UserError

#: g/mol — IUPAC 2021 abridged standard atomic weights (conventional values)
ATOMIC_MASS = {
    "H": 1.008, "C": 12.011, "N": 14.007, "O": 15.999, "Na": 22.990, "Mg": 24.305,
    "P": 30.974, "S": 32.06, "Cl": 35.45, "K": 39.098, "Ca": 40.078, "Zn": 65.38,
}

_TOKEN = re.compile(r"([A-Z][a-z]?)(\d*)|(\()|(\))(\d*)")


def _parse_part(text: str, whole: str) -> dict[str, int]:
    """Element counts of one formula part without hydrate dots, with parentheses."""
    stack: list[dict[str, int]] = [{}]
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise UserError(f"formula {whole!r}: cannot read {text[pos:]!r}")
        pos = m.end()
        if m.group(1):
            el = m.group(1)
            if el not in ATOMIC_MASS:
                raise UserError(f"formula {whole!r}: unknown element {el!r}")
            stack[-1][el] = stack[-1].get(el, 0) + int(m.group(2) or 1)
        elif m.group(3):
            stack.append({})
        else:
            if len(stack) == 1:
                raise UserError(f"formula {whole!r}: unbalanced ')'")
            inner, k = stack.pop(), int(m.group(5) or 1)
            for el, n in inner.items():
                stack[-1][el] = stack[-1].get(el, 0) + n * k
    if len(stack) != 1:
        raise UserError(f"formula {whole!r}: unbalanced '('")
    return stack[0]


def parse_formula(formula: str) -> dict[str, int]:
    """Element counts of e.g. ``C8H12MgN2O8·2H2O`` (hydrate parts after ``·``, ``.``
    or ``*``, each with an optional leading count)."""
    counts: dict[str, int] = {}
    text = formula.replace(" ", "")
    if not text:
        raise UserError("formula is empty")
    for part in re.split(r"[·.*•]", text):
        m = re.match(r"(\d*)(.*)", part)
        k = int(m.group(1) or 1)
        if not m.group(2):
            raise UserError(f"formula {formula!r}: an empty part")
        for el, n in _parse_part(m.group(2), formula).items():
            counts[el] = counts.get(el, 0) + n * k
    return counts


def molar_mass(formula: str) -> float:
    """g/mol, the sum of the atomic weights."""
    return sum(ATOMIC_MASS[el] * n for el, n in parse_formula(formula).items())


def mass_fraction(formula: str, element: str = "Mg") -> float:
    """Mass fraction (0–1) of ``element`` in the compound."""
    counts = parse_formula(formula)
    if element not in counts:
        raise UserError(f"formula {formula!r} contains no {element}")
    return ATOMIC_MASS[element] * counts[element] / molar_mass(formula)


@dataclass(frozen=True)
class DailyDose:
    """Amounts for one animal and one day."""

    body_mass_g: float
    salt_mg: float
    mg_mg: float          # elemental magnesium, mg
    mg_mmol: float        # elemental magnesium, mmol


def daily_dose(amount_mg_per_kg: float, basis: str, body_mass_g: float,
               mg_fraction: float) -> DailyDose:
    """``basis`` ``"elemental_mg"``: amount is mg of Mg per kg per day, salt = Mg /
    fraction; ``"salt"``: amount is mg of the salt per kg per day, Mg = salt × fraction.
    mmol = mg / M(Mg)."""
    if not 0 < mg_fraction <= 1:
        raise UserError(f"the magnesium fraction must be in (0, 1], got {mg_fraction:g}")
    kg = body_mass_g / 1000.0
    if basis == "elemental_mg":
        mg = amount_mg_per_kg * kg
        salt = mg / mg_fraction
    elif basis == "salt":
        salt = amount_mg_per_kg * kg
        mg = salt * mg_fraction
    else:
        raise UserError(f"dose basis must be 'elemental_mg' or 'salt', got {basis!r}")
    return DailyDose(body_mass_g, salt, mg, mg / ATOMIC_MASS["Mg"])
