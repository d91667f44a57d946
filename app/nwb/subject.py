"""Session metadata -> the NWB Subject and the descriptive NWBFile fields (pure Python).

DANDI requires of every subject: ``subject_id``, ``species`` as a Latin binomial (or an
NCBI taxonomy link), ``sex`` (one of M, F, U, O) and ``age`` as an ISO 8601 duration
(or ``date_of_birth``); ``weight`` is expected. myoforce keeps the metadata as the
technician typed it ("rat", "male", weeks, grams), so this module converts it, and
says in one line for each required field that cannot be filled why not, instead of
inventing a value.
"""
from __future__ import annotations

import math
import re
from typing import Any, Mapping

#: common names -> Latin binomials (NCBI taxonomy names)
SPECIES = {
    "rat": "Rattus norvegicus",
    "mouse": "Mus musculus",
    "rabbit": "Oryctolagus cuniculus",
    "guinea pig": "Cavia porcellus",
    "hamster": "Mesocricetus auratus",
    "cat": "Felis catus",
    "dog": "Canis lupus familiaris",
    "human": "Homo sapiens",
    "frog": "Xenopus laevis",
    "zebrafish": "Danio rerio",
}
_BINOMIAL = re.compile(r"^[A-Z][a-z]+ [a-z]+( [a-z]+)?$")
SEX = {"male": "M", "female": "F", "unknown": "U", "m": "M", "f": "F", "u": "U", "o": "O"}


def species_binomial(species: str | None) -> tuple[str | None, str | None]:
    """``(binomial, problem)``: 'rat' -> 'Rattus norvegicus'; a binomial is kept as is."""
    if not species:
        return None, ("species unknown (DANDI requires it): add it with 'myoforce annotate "
                      "SESSION.h5 species=rat' and export again")
    text = str(species).strip()
    if _BINOMIAL.match(text) or text.startswith("http"):
        return text, None
    known = SPECIES.get(text.lower())
    if known:
        return known, None
    return text, (f"species {text!r} is not a Latin binomial (e.g. 'Rattus norvegicus'), "
                  f"as DANDI requires")


def nwb_sex(sex: str | None) -> tuple[str, str | None]:
    """NWB/DANDI sex code M, F, U or O; an unrecorded sex is 'U' (unknown), said once."""
    if sex is None:
        return "U", ("sex not recorded: stored as 'U' (unknown); 'myoforce annotate "
                     "SESSION.h5 sex=male' and export again to record it")
    return SEX.get(str(sex).strip().lower(), "O"), None


def iso_age(age_weeks: float | None) -> tuple[str | None, str | None]:
    """Age as an ISO 8601 duration: whole weeks 'P10W', otherwise days 'P73.5D'."""
    if age_weeks is None or not math.isfinite(float(age_weeks)):
        return None, ("age unknown (DANDI requires age or date of birth): add it with "
                      "'myoforce annotate SESSION.h5 age_weeks=...' and export again")
    w = float(age_weeks)
    if w == int(w):
        return f"P{int(w)}W", None
    return f"P{round(w * 7.0, 3):g}D", None


def weight_text(body_mass_g: float | None) -> str | None:
    """Body mass as NWB wants it, a number and its unit in one string: '0.3125 kg'."""
    if body_mass_g is None:
        return None
    return f"{float(body_mass_g) / 1000.0:g} kg"


def subject_fields(md: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Keyword arguments of ``pynwb.file.Subject`` and the problems DANDI would have."""
    problems: list[str] = []
    species, why = species_binomial(md.get("species"))
    problems += [why] if why else []
    sex, why = nwb_sex(md.get("sex"))
    problems += [why] if why else []
    age, why = iso_age(md.get("age_weeks"))
    birth = _date_of_birth(md.get("date_of_birth"))
    problems += [why] if why and birth is None else []
    subject_id = str(md.get("subject_id") or "")
    if subject_id in ("", "unnamed"):
        problems.append(("subject_id not set (the recording says 'unnamed'); DANDI requires "
                         "one: 'myoforce annotate SESSION.h5 subject_id=...'"))
    described = [f"{k.replace('_', ' ')}: {md[k]}" for k in
                 ("excluded", "study_title", "timepoint", "group", "blinded_code", "compound",
                  "dose", "dose_mg_per_kg", "vehicle", "dosing_period_days")
                 if md.get(k) is not None]
    if md.get("excluded"):
        described[0] = f"EXCLUDED from the study's analysis ({md['excluded']})"
    fields = {"subject_id": subject_id or "unnamed", "species": species, "sex": sex,
              "age": age, "date_of_birth": birth, "strain": md.get("strain"),
              "weight": weight_text(md.get("body_mass_g")),
              "description": "; ".join(described) or None}
    return {k: v for k, v in fields.items() if v is not None}, problems


def _date_of_birth(value: Any) -> Any:
    """An ISO date (from a study's animal file) as the timezone-aware datetime NWB wants."""
    if not value:
        return None
    import datetime as dt
    day = dt.date.fromisoformat(str(value)[:10])
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)


def pharmacology(md: Mapping[str, Any]) -> str | None:
    """Treatment and anaesthesia as one sentence, for ``NWBFile.pharmacology``."""
    parts = []
    if md.get("compound"):
        dose = (f" {md['dose']}" if md.get("dose") else f" {md['dose_mg_per_kg']:g} mg/kg"
                if md.get("dose_mg_per_kg") is not None else "")
        days = (f"{',' if md.get('dose') else ''} for {md['dosing_period_days']:g} days"
                if md.get("dosing_period_days") is not None else "")
        parts.append(f"{md['compound']}{dose}{days}")
    if md.get("vehicle"):
        parts.append(f"vehicle: {md['vehicle']}")
    if md.get("anesthesia"):
        parts.append(f"anesthesia: {md['anesthesia']}")
    return "; ".join(parts) or None


def experiment_description(md: Mapping[str, Any], protocol_name: str) -> str:
    """One sentence on what was measured, in whom, under which treatment."""
    muscle = " ".join(str(md[k]) for k in ("side", "muscle") if md.get(k)) or "muscle"
    text = (f"In-vivo isometric force of the {muscle} evoked by motor-nerve stimulation "
            f"(twitches and tetani), protocol '{protocol_name}'")
    if md.get("study_title"):
        text += f"; study '{md['study_title']}'" + (f", timepoint '{md['timepoint']}'"
                                                    if md.get("timepoint") else "")
    if md.get("group"):
        text += f"; group '{md['group']}'" + (f" (blinded code '{md['blinded_code']}')"
                                              if md.get("blinded_code") else "")
    treatment = pharmacology({k: md.get(k) for k in ("compound", "dose", "dose_mg_per_kg",
                                                      "dosing_period_days", "vehicle")})
    return text + (f" ({treatment})" if treatment else "") + "."


def experimenters(md: Mapping[str, Any]) -> list[str] | None:
    """The operator as NWB's experimenter list (as typed; NWB prefers 'Last, First')."""
    op = md.get("operator")
    return [str(op)] if op else None


def parse_idn(identity: str) -> dict[str, str]:
    """A SCPI ``*IDN?`` answer 'maker,model,serial,firmware' split into its parts; other
    identities are kept whole as the model."""
    parts = [p.strip() for p in str(identity).split(",")]
    if len(parts) >= 3 and all(parts[:2]):
        out = {"manufacturer": parts[0], "model": parts[1], "serial": parts[2]}
        if len(parts) > 3 and parts[3]:
            out["firmware"] = ",".join(parts[3:])
        return {k: v for k, v in out.items() if v and v != "0"}
    return {"manufacturer": "unknown", "model": str(identity).strip() or "unknown"}
