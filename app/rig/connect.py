"""Turning a rig file (or a simulated rig) into a connected :class:`~drivers.capabilities.Rig`.

Everything above this module (session, runner, GUI) sees only the capability
interfaces; which drivers, ports and simulated devices stand behind them is decided
here. A simulated rig is the real drivers talking to the simulated devices over a real
pseudo-terminal and a real socket; its length control is the simulated world, and
closing the rig also stops the simulated devices.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any, Callable

from app.errors import UserError
from app.rig.config import RigConfig
from drivers.capabilities import Rig
from drivers.limits import StimulusLimits

log = logging.getLogger(__name__)

CommandHook = Callable[..., None]
"""The audit hook: ``hook(command, device="stimulator")``; called with every command line
sent to a device, ``device`` naming which ("stimulator" or "amplifier")."""


@dataclass
class SimulatedRig(Rig):
    """A :class:`Rig` on the simulated devices; ``sim`` is the running
    :class:`sim_devices.rig.SimRig` (its world, devices and fault injection), for tests."""

    sim: Any = None


def connect_rig(config: RigConfig, *, on_command: CommandHook | None = None,
                muscle: str | None = None, seed: int | None = None,
                treatment_effect: Any = None) -> Rig:
    """Open the rig a rig file describes. ``muscle``/``seed`` (and ``treatment_effect``,
    unless None: a study animal's, app.study.run_link) override a ``[sim]`` table's."""
    limits = config.limits.to_limits()
    if config.sim is not None and treatment_effect is None:
        treatment_effect = config.sim.treatment_effect
    if config.daq is not None:
        from app.rig.daq_connect import connect_nidaqmx_rig, start_sim_daq_rig
        if config.sim is None:
            return connect_nidaqmx_rig(config, on_command=on_command)
        return start_sim_daq_rig(config.daq, muscle or config.sim.muscle,
                                 seed=config.sim.seed if seed is None else seed,
                                 treatment_effect=treatment_effect,
                                 isolator_gain_mA_per_V=config.stimulator.isolator_gain_mA_per_V,
                                 max_output_V=config.stimulator.max_output_V, limits=limits,
                                 length_mm=config.sim.length_mm, on_command=on_command,
                                 description=config.describe())
    if config.sim is not None:
        return start_sim_rig(muscle or config.sim.muscle,
                             seed=config.sim.seed if seed is None else seed,
                             treatment_effect=treatment_effect,
                             isolator_gain_mA_per_V=config.stimulator.isolator_gain_mA_per_V,
                             limits=limits, sample_rate_hz=config.amplifier.sample_rate_hz,
                             length_mm=config.sim.length_mm, on_command=on_command,
                             description=config.describe())
    return connect_devices(config.amplifier.port, config.stimulator.resource, limits=limits,
                           isolator_gain_mA_per_V=config.stimulator.isolator_gain_mA_per_V,
                           max_output_V=config.stimulator.max_output_V,
                           sample_rate_hz=config.amplifier.sample_rate_hz,
                           amplifier_timeout_s=config.amplifier.timeout_s,
                           stimulator_timeout_s=config.stimulator.timeout_s,
                           on_command=on_command, description=config.describe())


def connect_devices(amplifier_port: str, stimulator_resource: str, *,
                    limits: StimulusLimits | None = None, isolator_gain_mA_per_V: float = 1.0,
                    max_output_V: float = 10.0, sample_rate_hz: int = 10000,
                    amplifier_timeout_s: float = 1.0, stimulator_timeout_s: float = 2.0,
                    on_command: CommandHook | None = None,
                    description: dict | None = None) -> Rig:
    """Open the amplifier (and set its rate), then the stimulator (output off).

    If the stimulator cannot be opened the amplifier is released again."""
    from drivers.amplifier.driver import SerialForceAmplifier
    from drivers.stimulator.driver import ScpiStimulator

    limits = limits or StimulusLimits()
    amplifier_hook = functools.partial(on_command, device="amplifier") if on_command else None
    amplifier = SerialForceAmplifier.open(amplifier_port, timeout_s=amplifier_timeout_s,
                                          on_command=amplifier_hook)
    try:
        amplifier.configure(sample_rate_hz)
        stimulator = ScpiStimulator.open(stimulator_resource, limits=limits,
                                         isolator_gain_mA_per_V=isolator_gain_mA_per_V,
                                         max_output_V=max_output_V,
                                         timeout_s=stimulator_timeout_s, on_command=on_command)
    except BaseException:
        amplifier.close()
        raise
    desc = dict(description or {})
    desc.setdefault("kind", "hardware")
    desc.setdefault("amplifier_port", amplifier_port)
    desc.setdefault("stimulator_resource", stimulator_resource)
    desc.setdefault("sample_rate_hz", sample_rate_hz)
    desc.setdefault("isolator_gain_mA_per_V", isolator_gain_mA_per_V)
    desc.setdefault("limits", {k: getattr(limits, k) for k in limits.__dataclass_fields__})
    return Rig(stimulator=stimulator, amplifier=amplifier, length=None, description=desc)


def start_sim_rig(muscle: str = "rat-edl", *, seed: int | None = None,
                  treatment_effect: Any = None, isolator_gain_mA_per_V: float = 1.0,
                  limits: StimulusLimits | None = None, sample_rate_hz: int = 10000,
                  length_mm: float | None = None, on_command: CommandHook | None = None,
                  description: dict | None = None) -> SimulatedRig:
    """Start the simulated rig and connect the real drivers to it.

    The returned rig's ``length`` is the simulated world (a LengthControl) and its
    ``close()`` switches the stimulator off, closes both drivers and stops the simulated
    devices, in that order."""
    from sim_devices.muscle import UnknownMuscleError
    from sim_devices.rig import SimRig

    try:
        sim = SimRig.start(muscle, seed=seed, treatment_effect=treatment_effect,
                           isolator_gain_mA_per_V=isolator_gain_mA_per_V, length_mm=length_mm)
    except UnknownMuscleError as exc:
        raise UserError(str(exc)) from None
    try:
        rig = connect_devices(sim.amplifier_port, sim.stimulator_resource, limits=limits,
                              isolator_gain_mA_per_V=isolator_gain_mA_per_V,
                              sample_rate_hz=sample_rate_hz, on_command=on_command,
                              description=description)
    except BaseException:
        sim.close()
        raise
    desc = dict(rig.description)
    desc["kind"] = "sim"
    desc.setdefault("name", "simulated rig")
    desc["sim"] = {"muscle": sim.muscle.preset.name, **({"seed": seed} if seed is not None else {}),
                   **({"treatment_effect": treatment_effect} if treatment_effect is not None else {})}
    for key in ("amplifier_port", "stimulator_resource"):
        desc.pop(key, None)  # temporary addresses, meaningless later
    return SimulatedRig(stimulator=rig.stimulator, amplifier=rig.amplifier, length=sim.world,
                        description=desc, _closers=[sim.close], sim=sim)


#: the metadata name of the muscle each simulated preset stands for
_PRESET_MUSCLE_NAMES = {"rat-edl": "EDL", "rat-soleus": "soleus", "rat-quadriceps": "quadriceps"}


def resolve_muscle(name: str | None, *, simulated: bool) -> tuple[str | None, str | None]:
    """``--muscle`` serves two purposes: (sim preset, metadata muscle name).

    On a simulated rig the name must pick a preset: ``EDL``/``edl``/``rat-edl`` ->
    ``rat-edl``, ``soleus``/``sol`` -> ``rat-soleus``, ``quadriceps``/``quad`` ->
    ``rat-quadriceps``; the metadata gets the muscle's plain name (``EDL``). Without a
    name the sim uses ``rat-edl``. On a real rig the name is only metadata: a known
    muscle is spelled the standard way, anything else is kept as given."""
    from sim_devices.muscle import UnknownMuscleError, get_preset

    if name is None:
        return ("rat-edl", "EDL") if simulated else (None, None)
    try:
        preset = get_preset(name).name
    except UnknownMuscleError as exc:
        if simulated:
            raise UserError(f"--muscle: {exc} (or EDL, soleus, quadriceps)") from None
        return None, name.strip()
    return (preset if simulated else None), _PRESET_MUSCLE_NAMES.get(preset, name)
