"""Turning a ``[daq]`` section into a connected :class:`~drivers.capabilities.Rig`.

A DAQ rig's force source is :class:`~drivers.daq.force_source.DaqForceSource`; its
stimulator is the board's own analog output (:class:`~drivers.daq.stimulator.DaqStimulator`)
when ``[daq.ao]`` is given, otherwise the SCPI stimulator of ``[stimulator]`` whose
sync output is wired to ``[daq.monitor]``. On real hardware the backend is NI-DAQmx
(imported only here, only then); on a simulated rig it is
:class:`~drivers.daq.sim_backend.SimDaqBackend` rendering the simulated muscle.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

from app.errors import UserError
from app.rig.daq_config import DaqSection
from drivers.capabilities import Rig
from drivers.limits import StimulusLimits


def connect_daq(daq: DaqSection, backend: Any, *, limits: StimulusLimits,
                isolator_gain_mA_per_V: float, max_output_V: float,
                stimulator_resource: str | None = None, stimulator_timeout_s: float = 2.0,
                on_command: Callable[..., None] | None = None, description: dict | None = None,
                length: Any = None, closers: list | None = None) -> Rig:
    """Check the plan against the board, configure it, and build the rig. On any failure
    everything opened so far is closed again (the output was never driven)."""
    from drivers.daq.force_source import DaqForceSource
    from drivers.daq.stimulator import DaqStimulator

    daq_hook = functools.partial(on_command, device="amplifier") if on_command else None
    stim_hook = functools.partial(on_command, device="stimulator") if on_command else None
    closers = list(closers or [])
    try:
        source = DaqForceSource(backend, daq.to_plan(), on_command=daq_hook)
    except BaseException:
        _close_all([backend.close, *closers])
        raise
    try:
        if daq.ao is not None:
            stimulator = DaqStimulator(source, limits=limits,
                                       isolator_gain_mA_per_V=isolator_gain_mA_per_V,
                                       max_output_V=max_output_V, on_command=stim_hook)
        else:
            from drivers.stimulator.driver import ScpiStimulator
            stimulator = ScpiStimulator.open(stimulator_resource, limits=limits,
                                             isolator_gain_mA_per_V=isolator_gain_mA_per_V,
                                             max_output_V=max_output_V,
                                             timeout_s=stimulator_timeout_s, on_command=on_command)
    except BaseException:
        _close_all([source.close, *closers])
        raise
    desc = dict(description or {})
    desc["daq"] = {**daq.describe(), "board": source.identity}
    desc["sample_rate_hz"] = source.sample_rate_hz
    return Rig(stimulator=stimulator, amplifier=source, length=length, description=desc,
               _closers=closers)


def connect_nidaqmx_rig(config: Any, *, on_command: Callable[..., None] | None = None) -> Rig:
    """A real board through NI-DAQmx (``pip install 'myoforce[daq]'``)."""
    from drivers.daq.nidaqmx_backend import NidaqmxBackend

    backend = NidaqmxBackend()
    return connect_daq(config.daq, backend, limits=config.limits.to_limits(),
                       isolator_gain_mA_per_V=config.stimulator.isolator_gain_mA_per_V,
                       max_output_V=config.stimulator.max_output_V,
                       stimulator_resource=config.stimulator.resource,
                       stimulator_timeout_s=config.stimulator.timeout_s,
                       on_command=on_command, description=config.describe())


def start_sim_daq_rig(daq: DaqSection, muscle: str = "rat-edl", *, seed: int | None = None,
                      treatment_effect: Any = None, isolator_gain_mA_per_V: float = 1.0,
                      max_output_V: float = 10.0, limits: StimulusLimits | None = None,
                      length_mm: float | None = None,
                      on_command: Callable[..., None] | None = None,
                      description: dict | None = None) -> Rig:
    """The simulated DAQ rig: the simulated muscle rendered by a simulated board on its
    own clock. Without ``[daq.ao]`` a simulated SCPI stimulator (on 127.0.0.1) drives the
    same world and its sync reaches the monitor input."""
    from app.rig.connect import SimulatedRig
    from drivers.daq.sim_backend import SimDaqBackend
    from sim_devices.muscle import MuscleModel, UnknownMuscleError
    from sim_devices.world import SimWorld

    try:
        model = MuscleModel(muscle, seed=seed, treatment_effect=treatment_effect)
    except UnknownMuscleError as exc:
        raise UserError(str(exc)) from None
    world = SimWorld(model, length_mm=model.preset.Lo_mm if length_mm is None else length_mm)
    backend = SimDaqBackend(world, gain_mA_per_V=isolator_gain_mA_per_V, device=daq.device, seed=seed)
    closers: list = []
    resource = None
    if daq.ao is None:
        from sim_devices.stimulator_device import SimStimulatorServer
        server = SimStimulatorServer(world, host="127.0.0.1", port=0,
                                     isolator_gain_mA_per_V=isolator_gain_mA_per_V)
        resource = server.start()
        closers.append(server.close)
    desc = dict(description or {})
    desc["kind"] = "sim"
    desc.setdefault("name", "simulated DAQ rig")
    desc["sim"] = {"muscle": model.preset.name, "backend": "daq",
                   **({"seed": seed} if seed is not None else {}),
                   **({"treatment_effect": treatment_effect} if treatment_effect is not None else {})}
    rig = connect_daq(daq, backend, limits=limits or StimulusLimits(),
                      isolator_gain_mA_per_V=isolator_gain_mA_per_V, max_output_V=max_output_V,
                      stimulator_resource=resource, on_command=on_command, description=desc,
                      length=world, closers=closers)
    return SimulatedRig(stimulator=rig.stimulator, amplifier=rig.amplifier, length=world,
                        description=rig.description, _closers=rig._closers, sim=backend)


def _close_all(steps: list) -> None:
    for step in steps:
        try:
            step()
        except Exception:
            pass
