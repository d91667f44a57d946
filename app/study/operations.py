"""What the ``myoforce study`` commands do, Qt-free and printing nothing: create a study,
add and import animals, record body masses, exclude, randomise, unblind, compute doses
and the status table. Each change is written to its file and to the study log."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from app.errors import UserError
from app.study.allocation import allocate, draw_key, group_codes
from app.study.animals import Animal, BodyMass, Exclusion, read_animals_csv
from app.study.design import TEMPLATE
from app.study.dose import DailyDose, daily_dose
from app.study.folder import (
    ANIMALS_FILE, SESSIONS_DIR, STUDY_FILE, Study, load_study, new_seed, now,
)


def init_study(root: Path, title: str, timepoints: list[str] | None = None) -> Study:
    """A new study folder with a template study file (refuses an existing study)."""
    if (root / STUDY_FILE).exists():
        raise UserError(f"{root / STUDY_FILE}: a study exists here; refusing to overwrite it")
    if root.exists() and not root.is_dir():
        raise UserError(f"{root}: exists and is not a folder")
    root.mkdir(parents=True, exist_ok=True)
    (root / SESSIONS_DIR).mkdir(exist_ok=True)
    tps = timepoints or ["terminal"]
    text = TEMPLATE.format(title=title.replace('"', "'"),
                           timepoints="[" + ", ".join(f'"{t}"' for t in tps) + "]")
    with open(root / STUDY_FILE, "x", encoding="utf-8") as fh:
        fh.write(text)
    study = load_study(root)                   # the template must validate
    study.save_animals()
    study.record("created", title=title)
    return study


def add_animals(study: Study, animals: list[Animal], source: str = "command line") -> None:
    clash = [a.id for a in animals if a.id in study.animals]
    if clash:
        raise UserError(f"animal(s) {', '.join(clash)} are already in the study")
    for a in animals:
        study.animals[a.id] = a
    study.save_animals()
    study.record("animals-added", animals=[a.id for a in animals], source=source)


def import_animals(study: Study, csv_path: Path) -> list[Animal]:
    animals = read_animals_csv(csv_path, dt.date.today())
    add_animals(study, animals, source=str(csv_path))
    return animals


def record_mass(study: Study, animal_id: str, grams: float, day: dt.date) -> None:
    a = study.animal(animal_id)
    try:
        entry = BodyMass(date=day, g=grams)
    except ValidationError as exc:                # e.g. a negative mass: one line
        from app.study.design import invalid
        raise invalid(exc, f"animal {animal_id} body mass", BodyMass) from None
    a.body_mass = [m for m in a.body_mass if m.date != day] + [entry]
    study.save_animals()
    study.record("body-mass", animal=animal_id, date=day.isoformat(), g=grams)


def exclude(study: Study, animal_id: str, reason: str) -> Exclusion:
    a = study.animal(animal_id)
    if not reason.strip():
        raise UserError("--reason: give the reason for the exclusion")
    if a.excluded is not None:
        raise UserError(f"animal {animal_id} was already excluded on "
                        f"{a.excluded.time:%Y-%m-%d %H:%M} UTC ({a.excluded.reason})")
    a.excluded = Exclusion(time=now(), reason=reason.strip())
    study.save_animals()
    study.record("excluded", animal=animal_id, reason=reason.strip())
    return a.excluded


def randomise(study: Study, animal_ids: list[str] | None = None, seed: int | None = None
              ) -> dict[str, str]:
    """Allocate the not-yet-allocated (or the named) animals; returns animal -> code.

    Refuses an animal already allocated; the seed is the study file's, the one given, or
    a fresh one, and is recorded with the method and the time."""
    design = study.design
    if animal_ids:
        for aid in animal_ids:
            study.animal(aid)
            if aid in study.codes:
                raise UserError(f"animal {aid} is already allocated (code "
                                f"{study.codes[aid]}); an animal is never re-allocated")
        ids = list(animal_ids)
    else:
        ids = [a for a in study.animals if a not in study.codes
               and study.animals[a].excluded is None]
    if not ids:
        raise UserError("no animal to allocate: every animal is allocated or excluded "
                        "(add animals with 'myoforce study add' or 'study import')")
    r = design.randomisation
    if r.stratify_by_sex:
        missing = [a for a in ids if study.animals[a].sex is None]
        if missing:
            raise UserError(f"stratified by sex, but animal(s) {', '.join(missing)} have "
                            f"no sex recorded")
    if seed is None:
        seed = r.seed if r.seed is not None and not study.runs else new_seed()
    k = len(design.groups)
    index = allocate([(a, study.animals[a].sex) for a in ids], k, r.method, seed,
                     r.block_size, r.stratify_by_sex)
    codes = group_codes(k)
    if not (study.root / "allocation-key.toml").exists():
        study.write_key(draw_key(design.groups, np.random.default_rng([seed, 1])))
    new = {a: codes[index[a]] for a in sorted(index)}
    study.codes.update(new)
    study.runs.append({"time": now().isoformat(), "method": r.method, "seed": seed,
                       "block_size": (r.block_size or 2 * k) if r.method == "block" else 0,
                       "stratify_by_sex": r.stratify_by_sex, "animals": sorted(new)})
    study.save_allocation()
    study.record("randomised", method=r.method, seed=seed, animals=sorted(new),
                 stratify_by_sex=r.stratify_by_sex)
    return new


def unblind(study: Study, reason: str) -> dict[str, Any]:
    if not study.design.blinding:
        raise UserError("the study is not blinded (blinding = false in study.toml)")
    if study.unblinding is not None:
        raise UserError(f"the study was unblinded on {study.unblinding['time']} "
                        f"({study.unblinding.get('reason')})")
    if not reason.strip():
        raise UserError("--reason: say why the study is unblinded")
    if not study.codes:
        raise UserError("nothing to unblind: no animal is allocated yet")
    return study.record("unblinded", reason=reason.strip())


@dataclass(frozen=True)
class DoseRow:
    animal: str
    label: str | None
    dose: DailyDose | None
    mass_date: dt.date | None


def dose_rows(study: Study, day: dt.date) -> list[DoseRow]:
    """Per animal of the dosed group (all allocated animals while blinded, so the table
    reveals nothing; the vehicle volume is the same), the amounts for its latest mass."""
    design = study.design
    frac, _src = design.compound.mg_fraction()
    rows = []
    for aid, a in sorted(study.animals.items()):
        if a.excluded is not None:
            continue
        m = a.mass_on(day)
        dose = None if m is None else daily_dose(design.dose.amount_mg_per_kg_per_day,
                                                 design.dose.basis, m.g, frac)
        rows.append(DoseRow(aid, study.label(aid), dose, m.date if m else None))
    return rows


def status_rows(study: Study) -> list[dict[str, Any]]:
    """One row per animal: sex, latest mass, group label, excluded, sessions per
    timepoint (count, 0 = missing)."""
    sessions = study.sessions()
    rows = []
    for aid, a in sorted(study.animals.items()):
        m = a.mass_on()
        counts = {tp: sum(1 for s in sessions if s.animal == aid and s.timepoint == tp)
                  for tp in study.design.timepoints}
        rows.append({"animal": aid, "sex": a.sex, "body_mass_g": m.g if m else None,
                     "group": study.label(aid), "excluded": a.excluded, "sessions": counts})
    return rows


def parse_day(text: str | None) -> dt.date:
    if text is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UserError(f"--date: {text!r} is not a date (YYYY-MM-DD)") from None


__all__ = ["init_study", "add_animals", "import_animals", "record_mass", "exclude",
           "randomise", "unblind", "dose_rows", "status_rows", "parse_day", "ANIMALS_FILE"]
