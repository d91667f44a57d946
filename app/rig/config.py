"""The rig file: where a rig's devices are, its isolator, its safety limits (TOML).

One file per physical rig, written once by whoever sets the rig up and checked into the
lab's records; see ``docs/rig-file.md``. The limits in it are the hard limits every
protocol is checked against before anything is connected, and that the stimulator
driver checks again before every stimulus. A ``[sim]`` table makes it a simulated rig
(for training and tests) with the same limits.

A mistake in the file is a :class:`RigFileError`: one line naming the file, the field and
the value, e.g. ``rig.toml: limits.max_current_mA: must be > 0, got -1``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.errors import UserError
from app.rig.daq_config import DaqSection
from drivers.limits import StimulusLimits

#: sample rates the amplifier supports (docs/wire-protocols.md, RATE)
SAMPLE_RATES_HZ = (1000, 2000, 5000, 10000, 20000, 50000, 100000)


class RigFileError(UserError):
    """The rig file is missing, not TOML, or has a wrong or missing field."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class AmplifierSection(_Section):
    port: str | None = Field(None, min_length=1)
    """Serial port of the force amplifier (``/dev/ttyACM0``, ``COM3``, a pyserial URL)."""
    sample_rate_hz: int = 10000
    timeout_s: float = Field(1.0, gt=0, le=60)
    tare_samples: int = Field(1000, ge=1, le=100000)

    @field_validator("sample_rate_hz")
    @classmethod
    def _rate(cls, value: int) -> int:
        if value not in SAMPLE_RATES_HZ:
            raise ValueError(f"{value} is not a rate the amplifier supports "
                             f"({', '.join(map(str, SAMPLE_RATES_HZ))})")
        return value


class StimulatorSection(_Section):
    resource: str | None = Field(None, min_length=1)
    """VISA resource of the stimulator (``TCPIP0::192.168.1.20::5025::SOCKET``, ``USB0::...``)."""
    isolator_gain_mA_per_V: float = Field(1.0, gt=0, le=100)
    max_output_V: float = Field(10.0, gt=0, le=20)
    timeout_s: float = Field(2.0, gt=0, le=60)

    @field_validator("resource")
    @classmethod
    def _resource(cls, value: str | None) -> str | None:
        from drivers.transports.visa import resource_name_problem
        problem = None if value is None else resource_name_problem(value)
        if problem:
            raise ValueError(f"{value!r}: {problem}")
        return value


class LimitsSection(_Section):
    """The rig's hard stimulation limits (:class:`drivers.limits.StimulusLimits`)."""

    max_current_mA: float = Field(10.0, gt=0, le=100)
    max_pulse_width_ms: float = Field(1.0, gt=0, le=10)
    max_frequency_hz: float = Field(250.0, gt=0, le=1000)
    max_train_duration_ms: float = Field(2000.0, gt=0, le=60000)
    max_charge_per_phase_uC: float = Field(5.0, gt=0, le=100)
    min_rest_after_tetanus_s: float = Field(1.0, ge=0, le=3600)
    min_pulse_interval_s: float = Field(0.1, ge=0, le=3600)
    max_mean_rate_hz: float = Field(50.0, gt=0, le=1000)
    max_duty_cycle: float = Field(0.5, gt=0, le=1)
    rate_window_s: float = Field(10.0, gt=0, le=3600)

    def to_limits(self) -> StimulusLimits:
        return StimulusLimits(**self.model_dump())


class SimSection(_Section):
    """Use the simulated rig (``sim_devices``) instead of the devices named above."""

    muscle: str = "rat-edl"
    seed: int | None = Field(None, ge=0, le=2**63 - 1)
    treatment_effect: float | None = Field(None, gt=0, le=10)
    """Force factor of a simulated treatment (1 = none)."""
    length_mm: float | None = Field(None, gt=0)
    """Starting muscle length; default: the preset's optimal length."""

    @field_validator("muscle")
    @classmethod
    def _muscle(cls, value: str) -> str:
        from sim_devices.muscle import UnknownMuscleError, get_preset
        try:
            return get_preset(value).name
        except UnknownMuscleError as exc:
            raise ValueError(str(exc)) from None


class RigConfig(_Section):
    """A whole rig file."""

    name: str = Field("rig", min_length=1, max_length=200)
    description: str | None = None
    kind: Literal["hardware", "sim"] | None = None
    """Optional: 'sim' is implied by a [sim] table, 'hardware' by its absence."""
    amplifier: AmplifierSection = AmplifierSection()
    stimulator: StimulatorSection = StimulatorSection()
    limits: LimitsSection = LimitsSection()
    sim: SimSection | None = None
    daq: DaqSection | None = None
    """A DAQ board for force (and stimulus, and auxiliary channels): docs/daq-rig.md."""

    @model_validator(mode="after")
    def _complete(self):
        if self.kind == "sim" and self.sim is None:
            object.__setattr__(self, "sim", SimSection())
        if self.kind == "hardware" and self.sim is not None:
            raise ValueError("kind is 'hardware' but there is a [sim] table")
        ao = self.daq.ao if self.daq is not None else None
        if ao is not None and self.stimulator.max_output_V > ao.range_V:
            # the protocol is checked against max_output_V: it must be what the board can write
            raise _FieldProblem("stimulator.max_output_V",
                                f"{self.stimulator.max_output_V:g} V is beyond the DAQ output "
                                f"range of +-{ao.range_V:g} V (daq.ao.range_V)")
        if self.sim is None:
            if self.daq is not None:
                if self.daq.ao is None and self.stimulator.resource is None:
                    raise _FieldProblem("stimulator.resource", "is required when [daq] has no "
                                                                "[daq.ao] to stimulate with")
                return self
            if self.amplifier.port is None:
                raise _FieldProblem("amplifier.port", "is required (or add a [sim] table for the "
                                                      "simulated rig)")
            if self.stimulator.resource is None:
                raise _FieldProblem("stimulator.resource", "is required (or add a [sim] table for "
                                                            "the simulated rig)")
        return self

    @property
    def simulated(self) -> bool:
        return self.sim is not None

    def describe(self) -> dict[str, Any]:
        """What the recording stores about the rig (no secrets in a rig file)."""
        rate = self.daq.sample_rate_hz if self.daq is not None else self.amplifier.sample_rate_hz
        d: dict[str, Any] = {"name": self.name, "kind": "sim" if self.simulated else "hardware",
                             "sample_rate_hz": rate,
                             "isolator_gain_mA_per_V": self.stimulator.isolator_gain_mA_per_V,
                             "limits": self.limits.model_dump()}
        if self.description:
            d["description"] = self.description
        if self.simulated:
            d["sim"] = {k: v for k, v in self.sim.model_dump().items() if v is not None}
        elif self.daq is None:
            d["amplifier_port"] = self.amplifier.port
            d["stimulator_resource"] = self.stimulator.resource
        elif self.daq.ao is None:
            d["stimulator_resource"] = self.stimulator.resource
        if self.daq is not None:
            d["daq"] = self.daq.describe()
        return d


class _FieldProblem(ValueError):
    """A cross-field problem that still names one field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def load_rig_file(path: str | Path) -> RigConfig:
    """Read and validate a rig file; RigFileError (one line) on any problem."""
    path = Path(path)
    if path.exists() and not path.is_dir() and not path.is_file():
        # a serial port (--rig /dev/ttyACM0) or a pipe: reading it would never end
        raise RigFileError(f"{path}: not a regular file (a device or a pipe?), not a rig file")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RigFileError(f"{path}: no such rig file") from None
    except IsADirectoryError:
        raise RigFileError(f"{path}: is a directory, not a rig file") from None
    except PermissionError:
        raise RigFileError(f"{path}: permission denied") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RigFileError(f"{path.name}: not UTF-8 text (byte {exc.start})") from None
    return parse_rig(text, source=path.name)


def parse_rig(text: str, *, source: str = "rig file") -> RigConfig:
    from app.input_limits import load_toml
    data = load_toml(text, source, RigFileError)
    try:
        return RigConfig.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source}: {_format(err)}" for err in exc.errors()]
        raise RigFileError("\n".join(lines)) from None


_SECTIONS = {"amplifier": AmplifierSection, "stimulator": StimulatorSection,
             "limits": LimitsSection, "sim": SimSection}


def _format(err: dict) -> str:
    """One pydantic error of a rig file, through the one formatter (app.validation_messages)."""
    from app.validation_messages import sentence

    loc = [str(p) for p in err.get("loc", ())]
    exc = (err.get("ctx") or {}).get("error")
    if isinstance(exc, _FieldProblem):
        return f"{exc.field}: {exc.message}"
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}"
                    for p in err.get("loc", ())).lstrip(".") or "rig file"
    model = _SECTIONS.get(loc[0]) if len(loc) == 2 else (RigConfig if len(loc) == 1 else None)
    owner = f"the [{loc[0]}] table" if len(loc) == 2 else "a rig file"
    etype = err.get("type", "")
    if etype in ("model_type", "dict_type"):
        return f"{field}: must be a [table], got {err.get('input')!r}"
    if etype == "string_type":
        return f"{field}: must be text in quotes, got {err.get('input')!r}"
    return sentence(err, field, allowed=sorted(model.model_fields) if model else (), owner=owner)
