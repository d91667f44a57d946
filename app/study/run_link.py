"""Sessions that belong to a study: ``myoforce run ... --study DIR --animal R07
[--timepoint week-4]``.

:func:`study_session` checks the animal and the timepoint and returns the subject
metadata the study knows (never the real group while blinded: the neutral code), the
file the session is filed under (``sessions/<timepoint>/<animal>.h5``, never an existing
file) and — for the simulated rig only — the hidden treatment effect of the animal's
real group times its own between-animal factor. :func:`study_rig` connects a simulated
rig as that animal (``run --study`` and the GUI's study picker both call it);
:func:`file_session` records the session in the study log once it is written.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.errors import UserError
from app.study.folder import Study, load_study


@dataclass
class StudySession:
    study: Study
    animal: str
    timepoint: str
    out: Path
    metadata: dict[str, Any] = field(default_factory=dict)
    #: the simulated muscle's treatment effect (TreatmentEffect fields): the real
    #: group's effect with its force scaled by the animal's own factor
    sim_effect: dict[str, float] = field(default_factory=dict)

    @property
    def muscle(self) -> str | None:
        """The study's muscle: the session's, in the metadata and on a simulated rig
        (:func:`app.session_muscle.choose_muscle`)."""
        return self.study.design.muscle


def animal_factor(study: Study, animal_id: str) -> float:
    """The simulated between-animal force factor: 1 + sd·z, z ~ N(0, 1) from a generator
    seeded by the study title and the animal ID (the same animal, the same muscle)."""
    digest = hashlib.sha256(f"{study.design.title}\0{animal_id}".encode()).digest()
    z = float(np.random.default_rng(int.from_bytes(digest[:8], "little")).standard_normal())
    return max(0.5, 1.0 + study.design.simulation.animal_sd * float(np.clip(z, -3, 3)))


def sim_effect(study: Study, animal_id: str, group: str | None) -> dict[str, float]:
    """The group's ``[simulation] effects`` entry (none if absent) with its force factor
    multiplied by :func:`animal_factor`, as TreatmentEffect fields."""
    from dataclasses import asdict, replace

    from sim_devices.muscle.treatment import TreatmentEffect
    effect = TreatmentEffect.coerce(study.design.simulation.effects.get(group or ""))
    return asdict(replace(effect, force=effect.force * animal_factor(study, animal_id)))


def study_session(root: str | Path, animal_id: str, timepoint: str | None,
                  day: dt.date | None = None) -> StudySession:
    """Everything a run needs from the study, or UserError saying what is wrong."""
    study = load_study(root)
    a = study.animal(animal_id)
    tp = study.timepoint(timepoint)
    if a.excluded is not None:
        raise UserError(f"animal {animal_id} was excluded on {a.excluded.time:%Y-%m-%d} "
                        f"({a.excluded.reason}); no new sessions")
    if animal_id not in study.codes:
        raise UserError(f"animal {animal_id} is not allocated yet: run 'myoforce study "
                        f"randomise' first")
    day = day or dt.date.today()
    d = study.design
    meta: dict[str, Any] = {"subject_id": animal_id, "species": d.species, "strain": d.strain,
                            "sex": a.sex, "group": study.label(animal_id), "timepoint": tp,
                            "study_title": d.title, "vehicle": d.vehicle,
                            "dosing_period_days": d.dose.duration_days}
    if d.muscle:
        meta["muscle"] = d.muscle
    mass = a.mass_on(day)
    if mass is not None:
        meta["body_mass_g"] = mass.g
    age = a.age_weeks_on(day)
    if age is not None and age > 0:
        meta["age_weeks"] = round(age, 1)
    real = study.true_group(animal_id)
    if not study.blinded and real == d.dose.group:
        meta["compound"] = d.compound.name
        if d.dose.basis == "salt":
            meta["dose_mg_per_kg"] = d.dose.amount_mg_per_kg_per_day
    out = study.next_session_path(animal_id, tp)
    return StudySession(study, animal_id, tp, out, {k: v for k, v in meta.items()
                                                    if v is not None},
                        sim_effect(study, animal_id, real))


HIDDEN_EFFECT = "set by the study's allocation (hidden while blinded)"


def conceal_effect(link: StudySession, factory):
    """Wrap a simulated rig's factory so that, while the study is blinded, the session's
    rig description does not carry the treatment factor (it would tell the group). The
    factor is reproducible from the study: [simulation] effects, the allocation key and
    :func:`animal_factor`."""
    if not link.study.blinded:
        return factory

    def make(hook):
        rig = factory(hook)
        sim = getattr(rig, "description", {}).get("sim")
        if isinstance(sim, dict) and "treatment_effect" in sim:
            sim["treatment_effect"] = HIDDEN_EFFECT
        return rig
    return make


def study_rig(link: StudySession, recipe: Any):
    """How a study session's simulated rig is connected, from ``myoforce run --study`` and
    the GUI's study picker alike: the rig's recipe (:class:`app.rig.simulated.SimRigSpec`
    or ``SimRigFile``) with the animal's hidden treatment effect, its description
    concealing the effect while the study is blinded. Returns ``factory(on_command)``."""
    return conceal_effect(link, recipe.with_effect(link.sim_effect).connect)


def animal_key(link: StudySession | None) -> tuple[str, str] | None:
    """Which study animal a simulated rig was started as (None: no study's)."""
    if link is None:
        return None
    return str(Path(link.study.root).resolve()), link.animal


def file_session(link: StudySession, status: str | None) -> None:
    """Record the written session in the study log."""
    if status is None or not link.out.exists():
        return
    link.study.record("session-filed", animal=link.animal, timepoint=link.timepoint,
                      file=str(link.out.relative_to(link.study.root)), status=status)
