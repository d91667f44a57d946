"""Animals of a study (``animals.toml``): identity, sex, age, body-mass history,
exclusion. Added one by one or imported from a CSV file.

CSV import columns (header row, names case-insensitive): ``id`` (required), ``sex``
(male/female, M/F), ``date_of_birth`` (YYYY-MM-DD) or ``age_weeks``, ``body_mass_g``,
``arrival`` (YYYY-MM-DD). A bad cell is one error naming the line and the column, and
nothing is imported.
"""
from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.errors import UserError

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


class BodyMass(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    date: dt.date
    g: float = Field(gt=0, lt=5000)


class Exclusion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    time: dt.datetime
    reason: str = Field(min_length=1)


class Animal(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_assignment=True)
    id: str
    sex: Literal["male", "female"] | None = None
    date_of_birth: dt.date | None = None
    #: age in weeks on ``arrival`` (when the date of birth is not known)
    age_weeks: float | None = Field(None, gt=0)
    arrival: dt.date | None = None
    body_mass: list[BodyMass] = []
    excluded: Exclusion | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not ID_PATTERN.match(v):
            raise ValueError("an animal ID is 1-32 letters, digits, '_', '.', '-' "
                             "(starting with a letter or digit)")
        return v

    @field_validator("sex", mode="before")
    @classmethod
    def _sex(cls, v):
        if isinstance(v, str):
            v = {"m": "male", "f": "female"}.get(v.strip().lower(), v.strip().lower()) or None
        return v

    def mass_on(self, day: dt.date | None = None) -> BodyMass | None:
        """The latest body mass recorded on or before ``day`` (default: the latest)."""
        ms = [m for m in self.body_mass if day is None or m.date <= day]
        return max(ms, key=lambda m: m.date) if ms else None

    def age_weeks_on(self, day: dt.date) -> float | None:
        if self.date_of_birth is not None:
            return (day - self.date_of_birth).days / 7.0
        if self.age_weeks is not None and self.arrival is not None:
            return self.age_weeks + (day - self.arrival).days / 7.0
        return None


def validate_animal(values: dict, where: str) -> Animal:
    """An Animal, or UserError naming ``where`` and the field."""
    try:
        return Animal.model_validate(values)
    except ValidationError as exc:
        from app.study.design import invalid
        raise invalid(exc, where, Animal, "an animal") from None


_COLUMNS = {"id": "id", "animal": "id", "animal_id": "id", "sex": "sex",
            "date_of_birth": "date_of_birth", "dob": "date_of_birth", "age_weeks": "age_weeks",
            "body_mass_g": "body_mass_g", "mass_g": "body_mass_g", "arrival": "arrival",
            "arrival_date": "arrival"}


def read_animals_csv(path: Path, today: dt.date) -> list[Animal]:
    """Animals from a CSV file (see the module docstring); all or nothing."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text (UTF-8) CSV file") from None
    reader = csv.DictReader(text.splitlines())
    header = [(h or "").strip().lower().replace(" ", "_") for h in reader.fieldnames or []]
    unknown = [h for h in header if h and h not in _COLUMNS]
    if unknown:
        raise UserError(f"{path}: unknown column(s) {', '.join(unknown)} (known: id, sex, "
                        f"date_of_birth, age_weeks, body_mass_g, arrival)")
    if "id" not in {_COLUMNS.get(h) for h in header}:
        raise UserError(f"{path}: no 'id' column")
    animals: list[Animal] = []
    for line, row in enumerate(reader, start=2):
        values = {_COLUMNS[h]: (v or "").strip() for h, v in zip(header, row.values())
                  if h and (v or "").strip()}
        if not values:
            continue
        mass = values.pop("body_mass_g", None)
        arrival = values.get("arrival")
        if mass is not None:
            values["body_mass"] = [{"date": arrival or today.isoformat(), "g": mass}]
        animals.append(validate_animal(values, f"{path} line {line}"))
    ids = [a.id for a in animals]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise UserError(f"{path}: animal ID(s) {', '.join(dup)} appear more than once")
    if not animals:
        raise UserError(f"{path}: no animals in the file")
    return animals
