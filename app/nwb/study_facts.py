"""What a study folder says about one of its sessions, for the session's NWB export
(docs/nwb.md, "Sessions of a study"), and how that meets the session's own metadata.

* Subject facts (study title, timepoint, species, strain, sex, date of birth) fill what
  the session's metadata lacks; the session's own values win.
* The group comes from the study's allocation, as the study's state allows, and wins
  over what the session recorded (a session recorded while blinded holds the code):

  - blinded: the neutral code only (``group A``); neither the compound nor the dose is
    named (naming them for one group would tell which one is dosed). A session whose own
    metadata names more (another group, a compound, a dose) is refused: exporting it
    would unblind the study.
  - unblinded: the real group, the code the operators saw beside it (``blinded_code``),
    and for the dosed group the compound and the dose as the study file gives them
    (amount, basis, route; ``dose_mg_per_kg`` only for a salt-basis dose).
  - the carrier (``vehicle``) and the dosing period are the same for every group and
    are given in both states.
* An excluded animal's exclusion (when and why) travels as ``excluded``.

Pure Python (no pynwb): the export and the batch planner call it.
"""
from __future__ import annotations

from typing import Any, Mapping

from app.errors import UserError

#: the facts the study's allocation decides (they replace the session's own values)
GROUP_KEYS = ("group", "blinded_code", "compound", "dose", "dose_mg_per_kg", "vehicle",
              "dosing_period_days")
#: group facts that must not appear while the study is blinded
_REVEALING = ("compound", "dose", "dose_mg_per_kg")


def session_facts(study: Any, ref: Any) -> dict[str, Any]:
    """The study's facts about the session ``ref`` (a :class:`app.study.SessionRef`)."""
    from app.study.membership import exclusion_text

    d = study.design
    animal = study.animals.get(ref.animal)
    facts: dict[str, Any] = {
        "study_title": d.title, "timepoint": ref.timepoint, "species": d.species,
        "strain": d.strain, "sex": animal.sex if animal else None,
        "date_of_birth": (animal.date_of_birth.isoformat()
                          if animal and animal.date_of_birth else None)}
    code = study.codes.get(ref.animal)
    if code is not None:
        facts.update({"group": study.label(ref.animal), "blinded": study.blinded,
                      "vehicle": d.vehicle, "dosing_period_days": d.dose.duration_days})
        if not study.blinded:
            facts.update(treatment_facts(study, ref.animal))
            if d.blinding:
                facts["blinded_code"] = f"group {code}"
    if animal is not None and animal.excluded is not None:
        facts["excluded"] = exclusion_text(animal.excluded)
    return {k: v for k, v in facts.items() if v is not None}


def treatment_facts(study: Any, animal_id: str) -> dict[str, Any]:
    """The compound and the dose, for an animal of the dosed group (never call this
    while the study is blinded); nothing for the other groups (they get the carrier)."""
    d = study.design
    if study.true_group(animal_id) != d.dose.group:
        return {}
    dose = d.dose
    basis = "elemental Mg" if dose.basis == "elemental_mg" else "salt"
    out: dict[str, Any] = {
        "compound": d.compound.name,
        "dose": f"{dose.amount_mg_per_kg_per_day:g} mg/kg/day as {basis}, {dose.route}"}
    if dose.basis == "salt":
        out["dose_mg_per_kg"] = dose.amount_mg_per_kg_per_day
    return out


def merged_metadata(facts: Mapping[str, Any], recorded: Mapping[str, Any],
                    source: str = "the session") -> dict[str, Any]:
    """The metadata the NWB file is made from: the session's own, filled and corrected
    by the study's ``facts`` (see the module docstring). UserError when the study is
    blinded and the session's metadata names more than the group's code."""
    rec = {k: v for k, v in recorded.items() if v is not None}
    if not facts:
        return rec
    if facts.get("blinded"):
        said = [k for k in _REVEALING if rec.get(k) not in (None, "")]
        if rec.get("group") not in (None, "", facts.get("group")):
            said.insert(0, "its own group")
        if said:
            raise UserError(f"{source}: its metadata names {' and '.join(said)} while the "
                            f"study is blinded (the animal shows as {facts['group']}); "
                            f"exporting it would unblind the study: export it after "
                            f"'myoforce study unblind'")
    md = {**{k: v for k, v in facts.items() if k not in GROUP_KEYS and k != "blinded"},
          **rec}
    if "group" in facts:                          # allocated: the study decides the group
        for k in GROUP_KEYS:
            md.pop(k, None)
        md.update({k: facts[k] for k in GROUP_KEYS if k in facts})
    if facts.get("excluded"):
        md["excluded"] = facts["excluded"]
    return md
