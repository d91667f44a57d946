"""Session metadata: who and what was recorded. Validated, with units in the field names."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.file_metadata import readable_metadata  # noqa: F401  (pydantic-free; was here)


class SessionMetadata(BaseModel):
    """Everything a study needs to know about one experiment session.

    Only ``subject_id`` is required by the recorder; unknown values stay ``None``
    and are stored as absent, never as made-up defaults.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    subject_id: str = Field("unnamed", min_length=1)
    species: str | None = "rat"
    strain: str | None = None
    sex: Literal["male", "female", "unknown"] | None = None
    body_mass_g: float | None = Field(None, gt=0)
    age_weeks: float | None = Field(None, gt=0)
    muscle: str | None = None
    side: Literal["left", "right"] | None = None
    muscle_length_mm: float | None = Field(None, gt=0)
    muscle_mass_mg: float | None = Field(None, gt=0)
    group: str | None = None
    compound: str | None = None
    dose_mg_per_kg: float | None = Field(None, ge=0)
    vehicle: str | None = None
    dosing_period_days: float | None = Field(None, ge=0)
    anesthesia: str | None = None
    temperature_C: float | None = Field(None, gt=0, lt=50)
    operator: str | None = None
    study_title: str | None = None
    timepoint: str | None = None
    notes: str | None = None

    def as_attrs(self) -> dict[str, str | float]:
        """The fields that are known, for storing as HDF5 attributes."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


def metadata_problems(values: dict, field_name=lambda name: f"metadata {name}") -> list[str]:
    """Every problem of metadata ``values`` (raw field values), one sentence each, with
    the field named by ``field_name`` (the CLI names its option, the GUI its label)."""
    from pydantic import ValidationError

    from app.validation_messages import sentence

    try:
        SessionMetadata(**values)
    except ValidationError as exc:
        out = []
        for err in exc.errors():
            loc = err.get("loc") or ()
            name = str(loc[0]) if loc else "metadata"
            out.append(sentence(err, field_name(name), allowed=SessionMetadata.model_fields,
                                owner="the session metadata"))
        return out
    return []
