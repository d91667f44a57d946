"""The protocol file format as validated models.

A protocol file is YAML (see docs/protocols.md). Every value carries its unit in its
field name (``current_mA``, ``pulse_width_ms``, ``frequency_hz``, ``duration_ms``,
``rest_s``, ``interval_s``), so a file reads unambiguously and a wrong unit is a wrong
field name, which is rejected. Steps are a union discriminated on ``kind``.

Models are strict (a quoted ``"500"`` or a ``yes`` is not a number), frozen, reject
unknown fields and infinities: a protocol drives a stimulator connected to an animal,
so nothing is guessed. Checks against a particular rig's limits live in
:mod:`protocols.validation`, because the same file runs on rigs with different limits.
"""
from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from drivers.capabilities import StimulusSpec

FORMAT_VERSION = 1

PositiveFloat = Annotated[float, Field(gt=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class StepBase(_Model):
    """Fields every step has."""

    name: str | None = Field(None, min_length=1, max_length=80)
    """Shown in progress and stored with every trial; defaults to ``<kind>-<index>``."""

    note: str | None = Field(None, max_length=2000)
    """Free text shown to the technician and logged when the step starts."""


class StimulusStep(StepBase):
    """A step that stimulates. Its current is the working current found by the
    supramaximal step unless it gives ``current_mA`` explicitly."""

    current_mA: float | None = Field(None, gt=0)
    current: Literal["supramaximal"] | None = None
    pulse_width_ms: float | None = Field(None, gt=0)
    """Defaults to the protocol's ``pulse_width_ms``."""

    @model_validator(mode="after")
    def _one_current(self):
        if self.current_mA is not None and self.current is not None:
            raise ValueError("give either current_mA or current: supramaximal, not both")
        return self

    @property
    def uses_working_current(self) -> bool:
        return self.current_mA is None


class SupramaximalStep(StepBase):
    """Single pulses at rising current until the twitch force plateaus.

    The search stops when ``plateau_steps`` consecutive current steps each change the
    twitch force by less than ``plateau_tolerance`` (relative). The plateau force is the
    largest twitch of that run; the plateau current is the lowest current whose twitch
    reached ``plateau_fraction`` of it. The working current is ``factor`` x plateau
    current, capped by the rig limits.
    """

    kind: Literal["supramaximal"]
    start_mA: PositiveFloat
    step_mA: PositiveFloat
    max_mA: PositiveFloat
    interval_s: float = Field(gt=0)
    pulse_width_ms: float | None = Field(None, gt=0)
    plateau_tolerance: float = Field(0.05, gt=0, lt=1)
    plateau_steps: int = Field(2, ge=1, le=10)
    plateau_fraction: float = Field(0.995, ge=0.9, lt=1)
    factor: float = Field(1.3, ge=1.2, le=1.5)
    min_force_mN: float = Field(5.0, ge=0)
    """A twitch weaker than this is no response (below threshold): it never counts as a plateau."""

    @model_validator(mode="after")
    def _range(self):
        if self.start_mA > self.max_mA:
            raise ValueError(f"start_mA {self.start_mA:g} is above max_mA {self.max_mA:g}")
        if self.step_count() > 200:
            raise ValueError(f"step_mA {self.step_mA:g} gives {self.step_count()} steps "
                             f"from {self.start_mA:g} to {self.max_mA:g} mA (at most 200)")
        return self

    def step_count(self) -> int:
        return int((self.max_mA - self.start_mA) / self.step_mA + 1e-9) + 1

    def currents_mA(self) -> list[float]:
        """The currents tried, in order (rounded to 1 nA to avoid float drift)."""
        return [round(self.start_mA + i * self.step_mA, 6) for i in range(self.step_count())]


class OptimalLengthStep(StimulusStep):
    """Twitches at different muscle lengths; Lo is where the twitch force is largest.

    Operator-guided: twitches every ``interval_s`` while the technician adjusts the
    length and enters it; the configured lengths are the suggestions. With auto-continue
    the runner sets each configured length itself through the rig's length control.
    """

    kind: Literal["optimal_length"]
    interval_s: float = Field(gt=0)
    lengths_mm: list[PositiveFloat] | None = Field(None, min_length=2, max_length=50)
    start_mm: float | None = Field(None, gt=0)
    stop_mm: float | None = Field(None, gt=0)
    step_mm: float | None = Field(None, gt=0)
    twitches_per_length: int = Field(1, ge=1, le=10)
    fit: Literal["max", "parabola"] = "parabola"

    @model_validator(mode="after")
    def _lengths(self):
        ranged = (self.start_mm, self.stop_mm, self.step_mm)
        if self.lengths_mm is not None:
            if any(v is not None for v in ranged):
                raise ValueError("give either lengths_mm or start_mm/stop_mm/step_mm, not both")
        elif any(v is None for v in ranged):
            raise ValueError("give lengths_mm, or all of start_mm, stop_mm and step_mm")
        elif self.stop_mm <= self.start_mm:
            raise ValueError(f"stop_mm {self.stop_mm:g} must be above start_mm {self.start_mm:g}")
        elif (self.stop_mm - self.start_mm) / self.step_mm > 49 + 1e-9:
            raise ValueError("start_mm/stop_mm/step_mm give more than 50 lengths")
        return self

    def planned_lengths_mm(self) -> list[float]:
        if self.lengths_mm is not None:
            return list(self.lengths_mm)
        n = int((self.stop_mm - self.start_mm) / self.step_mm + 1e-9) + 1
        return [round(self.start_mm + i * self.step_mm, 6) for i in range(n)]


class TwitchStep(StimulusStep):
    """``count`` single pulses, one every ``interval_s`` (start to start)."""

    kind: Literal["twitch"]
    count: int = Field(1, ge=1, le=1000)
    interval_s: float = Field(gt=0)


class TetanusStep(StimulusStep):
    """``count`` trains at ``frequency_hz`` lasting ``duration_ms``, each followed by ``rest_s``."""

    kind: Literal["tetanus"]
    frequency_hz: PositiveFloat
    duration_ms: PositiveFloat
    count: int = Field(1, ge=1, le=100)
    rest_s: float = Field(ge=0)

    def stimulus(self, current_mA: float, pulse_width_ms: float) -> StimulusSpec:
        return StimulusSpec.train(current_mA, pulse_width_ms, self.frequency_hz, self.duration_ms)


class ForceFrequencyStep(StimulusStep):
    """One train per frequency (in the order given), each followed by ``rest_s``."""

    kind: Literal["force_frequency"]
    frequencies_hz: list[PositiveFloat] = Field(min_length=1, max_length=50)
    duration_ms: PositiveFloat
    rest_s: float = Field(ge=0)


class FatigueStep(StimulusStep):
    """Repeated trains with a duty cycle: one train every ``interval_s`` (start to start;
    or give ``duty_cycle`` = train duration / interval), for ``trains`` trains or for
    ``total_s`` seconds."""

    kind: Literal["fatigue"]
    frequency_hz: PositiveFloat
    duration_ms: PositiveFloat
    interval_s: float | None = Field(None, gt=0)
    duty_cycle: float | None = Field(None, gt=0, lt=1)
    trains: int | None = Field(None, ge=1, le=10000)
    total_s: float | None = Field(None, gt=0, le=3600)

    @model_validator(mode="after")
    def _exactly_one(self):
        if (self.interval_s is None) == (self.duty_cycle is None):
            raise ValueError("give exactly one of interval_s and duty_cycle")
        if (self.trains is None) == (self.total_s is None):
            raise ValueError("give exactly one of trains and total_s")
        if self.train_interval_s * 1000.0 <= self.duration_ms:
            raise ValueError(f"interval_s {self.train_interval_s:g} is not longer than the "
                             f"{self.duration_ms:g} ms train")
        return self

    @property
    def train_interval_s(self) -> float:
        """Start-to-start interval of the trains."""
        if self.interval_s is not None:
            return self.interval_s
        return self.duration_ms / 1000.0 / self.duty_cycle

    @property
    def rest_between_s(self) -> float:
        """Rest from the end of one train to the start of the next."""
        return self.train_interval_s - self.duration_ms / 1000.0

    @property
    def train_count(self) -> int:
        if self.trains is not None:
            return self.trains
        return max(1, int(self.total_s / self.train_interval_s + 1e-9))


class RestStep(StepBase):
    """Wait; abort and pause still respond at once."""

    kind: Literal["rest"]
    duration_s: float = Field(gt=0, le=86400)


class PromptStep(StepBase):
    """Ask the technician something and wait for the answer.

    With ``request: length_mm`` the answer is the muscle length, which is set through the
    rig's length control if it has one and stored with the following trials."""

    kind: Literal["prompt"]
    text: str = Field(min_length=1, max_length=2000)
    id: str | None = Field(None, min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")
    request: Literal["length_mm", "text"] | None = None
    default: float | str | None = None

    @model_validator(mode="after")
    def _default_fits(self):
        if self.request == "length_mm" and self.default is not None:
            if isinstance(self.default, str) or not self.default > 0:
                raise ValueError(f"default {self.default!r} must be a positive length in mm")
        return self


class NoteStep(StepBase):
    """A note for the log and the technician; does not wait."""

    kind: Literal["note"]
    text: str = Field(min_length=1, max_length=2000)


Step = Annotated[
    Union[SupramaximalStep, OptimalLengthStep, TwitchStep, TetanusStep, ForceFrequencyStep,
          FatigueStep, RestStep, PromptStep, NoteStep],
    Field(discriminator="kind"),
]

STEP_MODELS: dict[str, type[StepBase]] = {
    "supramaximal": SupramaximalStep,
    "optimal_length": OptimalLengthStep,
    "twitch": TwitchStep,
    "tetanus": TetanusStep,
    "force_frequency": ForceFrequencyStep,
    "fatigue": FatigueStep,
    "rest": RestStep,
    "prompt": PromptStep,
    "note": NoteStep,
}


class Windows(_Model):
    """How much of the stream around each stimulus belongs to its trial."""

    pre_ms: float = Field(50.0, gt=0, le=1000)
    """Baseline before the first pulse."""
    twitch_post_ms: float = Field(300.0, gt=0, le=5000)
    """Recorded after a single pulse (a twitch relaxes within ~100-200 ms)."""
    tetanus_post_ms: float = Field(500.0, gt=0, le=5000)
    """Recorded after the end of a train."""


class ProtocolSpec(_Model):
    """A whole protocol: defaults and the ordered steps."""

    format_version: Literal[1] = FORMAT_VERSION
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    pulse_width_ms: float = Field(0.2, gt=0)
    """Default pulse width of every step."""
    current_mA: float | None = Field(None, gt=0)
    """Working current when there is no supramaximal step before a step that needs one."""
    windows: Windows = Windows()
    steps: list[Step] = Field(min_length=1, max_length=500)

    def step_name(self, index: int) -> str:
        step = self.steps[index]
        return step.name or f"{step.kind}-{index + 1}"
