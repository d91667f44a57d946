"""The study file (``study.toml``): the design of a study, validated by pydantic.

It is written once by ``myoforce study init`` (a commented template) and then edited by
hand; commands read it but never rewrite it. Everything that changes during the study
(animals, body masses, allocation, exclusions, unblinding) lives in its own file beside
it (see :mod:`app.study.folder`). Field reference: docs/study.md.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from app.errors import UserError
from app.study.dose import mass_fraction, molar_mass

_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)
OUTCOME_KEYS = ("pt_mN", "tpt_ms", "half_relaxation_ms", "po_mN", "pt_po_ratio", "f50_hz",
                "fatigue_index", "specific_force_N_per_cm2")


class Compound(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1)
    formula: str | None = None
    #: g/mol; from the certificate of analysis, else computed from the formula
    molar_mass_g_per_mol: float | None = Field(None, gt=0)
    #: elemental Mg content from the certificate of analysis, % w/w (replaces the formula)
    mg_percent: float | None = Field(None, gt=0, le=100)
    lot: str | None = None

    @model_validator(mode="after")
    def _formula_readable(self) -> "Compound":
        if self.formula is not None:
            try:
                molar_mass(self.formula)
            except UserError as exc:
                raise ValueError(str(exc)) from None
        elif self.mg_percent is None:
            raise ValueError("give the formula or the certificate's mg_percent")
        return self

    def molar_mass(self) -> float | None:
        if self.molar_mass_g_per_mol is not None:
            return self.molar_mass_g_per_mol
        return molar_mass(self.formula) if self.formula else None

    def mg_fraction(self) -> tuple[float, str]:
        """(fraction 0–1, where it comes from)."""
        if self.mg_percent is not None:
            return self.mg_percent / 100.0, "certificate of analysis"
        return mass_fraction(self.formula, "Mg"), f"formula {self.formula}"


class Dose(BaseModel):
    model_config = _STRICT
    amount_mg_per_kg_per_day: float = Field(gt=0)
    basis: Literal["elemental_mg", "salt"] = "elemental_mg"
    route: str = "oral gavage"
    duration_days: float | None = Field(None, gt=0)
    #: the group that receives the compound (the others receive vehicle)
    group: str = "treatment"


class Randomisation(BaseModel):
    model_config = _STRICT
    method: Literal["simple", "block"] = "block"
    block_size: int | None = Field(None, ge=2)
    stratify_by_sex: bool = False
    seed: int | None = Field(None, ge=0)


class Outcomes(BaseModel):
    model_config = _STRICT
    primary: list[Literal[OUTCOME_KEYS]] = ["po_mN"]            # type: ignore[valid-type]
    secondary: list[Literal[OUTCOME_KEYS]] = [                  # type: ignore[valid-type]
        k for k in OUTCOME_KEYS if k != "po_mN"]


class Simulation(BaseModel):
    """For the simulated rig only: the effect each group's muscles get."""

    model_config = _STRICT
    #: the simulated muscle's treatment effect per group name (missing groups: none):
    #: a force factor (1.15), "contractile:1.15", "nmj-block:0.3", "none", or a table
    #: of TreatmentEffect fields ({ force = 1.1, nmj_block = 0.2 })
    effects: dict[str, float | str | dict[str, float]] = {}

    @model_validator(mode="after")
    def _effects_valid(self) -> "Simulation":
        from sim_devices.muscle.treatment import TreatmentEffect
        for group, spec in self.effects.items():
            try:
                TreatmentEffect.coerce(spec)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"effects.{group}: {exc}") from None
        return self
    #: SD of the per-animal force factor (between-animal variation)
    animal_sd: float = Field(0.06, ge=0, lt=0.5)


class Arrive(BaseModel):
    """Narrative ARRIVE items the software cannot know; empty ones are marked missing."""

    model_config = _STRICT
    objective: str | None = None
    design: str | None = None
    sample_size: str | None = None
    statistical_methods: str | None = None
    housing: str | None = None
    procedures: str | None = None
    ethics: str | None = None


class StudyDesign(BaseModel):
    model_config = _STRICT
    title: str = Field(min_length=1)
    species: str = "rat"
    strain: str | None = None
    sex: Literal["male", "female", "both"] = "male"
    planned_n_per_group: int = Field(6, ge=1)
    groups: list[str] = Field(["vehicle", "treatment"], min_length=2)
    timepoints: list[str] = Field(["terminal"], min_length=1)
    muscle: str | None = "EDL"
    protocol: str | None = None
    compound: Compound
    vehicle: str = "0.9 % saline"
    dose: Dose
    outcomes: Outcomes = Outcomes()
    inclusion_criteria: str | None = None
    exclusion_criteria: str | None = None
    randomisation: Randomisation = Randomisation()
    blinding: bool = True
    arrive: Arrive = Arrive()
    simulation: Simulation = Simulation()

    @model_validator(mode="after")
    def _consistent(self) -> "StudyDesign":
        for what, items in (("groups", self.groups), ("timepoints", self.timepoints)):
            if len(set(items)) != len(items):
                raise ValueError(f"{what}: names repeat")
            if any(not i.strip() for i in items):
                raise ValueError(f"{what}: a name is empty")
        if self.dose.group not in self.groups:
            raise ValueError(f"dose.group: {self.dose.group!r} is not one of the groups")
        unknown = set(self.simulation.effects) - set(self.groups)
        if unknown:
            raise ValueError(f"simulation.effects: {sorted(unknown)} are not groups")
        return self


def invalid(exc: ValidationError, where: str, model: type[BaseModel],
            what: str = "") -> UserError:
    """The first validation error as one line naming the place and the field; ``what``
    names the model for the user ('the study file'), never its class name."""
    from app.validation_messages import sentence

    err = exc.errors()[0]
    loc = [str(x) for x in err.get("loc", ())]
    field = ".".join(loc)
    nested = len(loc) > 1                # a field of a table inside: name that table
    return UserError(sentence(err, f"{where}: {field}" if field else where,
                              allowed=() if nested else model.model_fields,
                              owner=f"[{'.'.join(loc[:-1])}]" if nested else what))


def read_design(path: Path) -> StudyDesign:
    """The validated study file; UserError naming the file and the field otherwise."""
    from app.input_limits import load_toml
    try:
        data = load_toml(path.read_text(encoding="utf-8"), str(path))   # depth-limited, one line
    except FileNotFoundError:
        raise UserError(f"{path}: no study file (create one with 'myoforce study init')") \
            from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        return StudyDesign.model_validate(data)
    except ValidationError as exc:
        raise invalid(exc, str(path), StudyDesign, "the study file") from None


TEMPLATE = '''\
# myoforce study file: the design of the study. Edit by hand; 'myoforce study ...'
# commands read it and never rewrite it. Reference: docs/study.md
title = "{title}"
species = "rat"
strain = "Wistar"
sex = "male"                      # male | female | both
planned_n_per_group = 6
groups = ["vehicle", "treatment"]
timepoints = {timepoints}          # e.g. ["baseline", "week-4", "week-8", "week-16"]
muscle = "EDL"
protocol = "protocols/library/protocol1.yaml"
vehicle = "0.9 % saline"
inclusion_criteria = "male rats, 250-350 g at arrival, healthy on arrival check"
exclusion_criteria = "failed surgery, nerve damage, no tetanic response at supramaximal current"
blinding = true

[compound]
name = "magnesium L-aspartate dihydrate"
formula = "C8H12MgN2O8·2H2O"      # molar mass and Mg fraction are computed from it
# molar_mass_g_per_mol = 324.5    # from the certificate of analysis, if given
# mg_percent = 7.45               # elemental Mg (% w/w) from the certificate of analysis
# lot = "..."

[dose]
amount_mg_per_kg_per_day = 50.0
basis = "elemental_mg"            # elemental_mg | salt
route = "oral gavage"
duration_days = 28
group = "treatment"               # the group that receives the compound

[outcomes]
primary = ["po_mN"]
secondary = ["pt_mN", "tpt_ms", "half_relaxation_ms", "pt_po_ratio", "f50_hz", "fatigue_index", "specific_force_N_per_cm2"]

[randomisation]
method = "block"                  # simple | block
block_size = 4                    # animals per block (a multiple of the number of groups)
stratify_by_sex = false
# seed = 12345                    # drawn and recorded at randomisation when absent

[arrive]
objective = ""
design = ""
sample_size = ""
statistical_methods = ""
housing = ""
procedures = ""
ethics = ""

[simulation]                      # simulated rig only: the hidden effect per group
# a force factor, "contractile:1.15", "nmj-block:0.3" (twitch depressed more than the
# tetanus, as raised extracellular Mg2+ does), "none", or {{ force = 1.1, nmj_block = 0.2 }}
effects = {{ treatment = 1.15 }}
animal_sd = 0.06
'''
