"""A simulated rig as a recipe: what to start (which kind, muscle, seed, treatment effect,
isolator, rate, limits), kept apart from starting it.

``myoforce run --sim [serial|daq]``, ``myoforce gui --sim [serial|daq]`` and the GUI's
rig panel all build a :class:`SimRigSpec` and connect through :meth:`SimRigSpec.connect`,
so the two shells cannot start different rigs for the same choice. A recipe can be
started again with another treatment effect (:meth:`with_effect`): a study session on
the simulated rig is the study animal's muscle (:func:`app.study.run_link.study_rig`),
whichever shell runs it; and with another muscle (:meth:`with_muscle`): the session's,
when the study or the metadata names another (:func:`app.session_muscle.choose_muscle`).
:class:`SimRigFile` is the same for a rig file with a ``[sim]`` table.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

from app.errors import UserError
from drivers.capabilities import Rig
from drivers.limits import StimulusLimits
from sim_devices import SIM_KINDS

_NAMES = {"serial": "simulated rig", "daq": "simulated DAQ rig"}

CommandHook = Callable[..., None]


@dataclass(frozen=True)
class SimRigSpec:
    """A simulated rig to start: ``kind`` "serial" (serial amplifier + SCPI stimulator) or
    "daq" (a simulated NI-DAQ board: force, stimulus and auxiliary channels on one clock,
    docs/daq-rig.md); ``muscle`` a preset name; ``treatment_effect`` as
    :meth:`sim_devices.muscle.treatment.TreatmentEffect.coerce` takes it."""

    kind: str = SIM_KINDS[0]
    muscle: str = "rat-edl"
    seed: int | None = None
    treatment_effect: Any = None
    isolator_gain_mA_per_V: float = 1.0
    sample_rate_hz: int = 10000
    limits: StimulusLimits = field(default_factory=StimulusLimits)

    def __post_init__(self) -> None:
        if self.kind not in SIM_KINDS:
            raise UserError(f"simulated rig {self.kind!r}: choose one of {', '.join(SIM_KINDS)}")

    def describe(self) -> str:
        """What it is, for a first line: ``simulated DAQ rig (rat-edl)``."""
        return f"{_NAMES[self.kind]} ({self.muscle})"

    @property
    def stimulus_sample_rate_hz(self) -> float | None:
        """The DAQ board generates the pulses on its sample clock; the serial rig does not."""
        return float(self.sample_rate_hz) if self.kind == "daq" else None

    def with_effect(self, treatment_effect: Any) -> "SimRigSpec":
        return replace(self, treatment_effect=treatment_effect)

    @property
    def sim_muscle(self) -> str:
        """The muscle preset it simulates."""
        return self.muscle

    def with_muscle(self, muscle: str) -> "SimRigSpec":
        return replace(self, muscle=muscle)

    def connect(self, on_command: CommandHook | None = None) -> Rig:
        """Start the simulated devices and connect the real drivers to them (blocking)."""
        if self.kind == "daq":
            from app.rig.daq_config import sim_daq_section
            from app.rig.daq_connect import start_sim_daq_rig
            return start_sim_daq_rig(
                sim_daq_section(self.sample_rate_hz), self.muscle, seed=self.seed,
                treatment_effect=self.treatment_effect,
                isolator_gain_mA_per_V=self.isolator_gain_mA_per_V, limits=self.limits,
                on_command=on_command)
        import app.rig   # looked up when called (tests replace app.rig.start_sim_rig)
        return app.rig.start_sim_rig(
            self.muscle, seed=self.seed, treatment_effect=self.treatment_effect,
            isolator_gain_mA_per_V=self.isolator_gain_mA_per_V, limits=self.limits,
            sample_rate_hz=self.sample_rate_hz, on_command=on_command)


@dataclass(frozen=True)
class SimRigFile:
    """A rig file's simulated rig (its ``[sim]`` table): ``muscle``/``seed`` override the
    table's, and so does ``treatment_effect`` unless it is None."""

    config: Any                       # app.rig.config.RigConfig with a [sim] table
    muscle: str | None = None
    seed: int | None = None
    treatment_effect: Any = None

    def with_effect(self, treatment_effect: Any) -> "SimRigFile":
        return replace(self, treatment_effect=treatment_effect)

    @property
    def sim_muscle(self) -> str:
        """The muscle preset it simulates (given, else the ``[sim]`` table's)."""
        return self.muscle or self.config.sim.muscle

    def with_muscle(self, muscle: str) -> "SimRigFile":
        return replace(self, muscle=muscle)

    def connect(self, on_command: CommandHook | None = None) -> Rig:
        from app.rig.connect import connect_rig
        return connect_rig(self.config, on_command=on_command, muscle=self.muscle,
                           seed=self.seed, treatment_effect=self.treatment_effect)
