"""The whole simulated rig: one physical world and the two devices that observe and drive it.

``SimRig.start()`` builds a :class:`~sim_devices.world.SimWorld` with a muscle model and
starts the simulated force amplifier (a pseudo-terminal speaking the serial protocol) and
the simulated stimulator (a SCPI server on 127.0.0.1). Clients connect to
``amplifier_port`` and ``stimulator_resource`` exactly as to a real rig, so the drivers,
the protocol engine and the GUI run unchanged against it. ``myoforce sim`` runs one as
its own process.
"""
from __future__ import annotations

import logging
from typing import Any

from sim_devices.muscle import MuscleModel
from sim_devices.world import SimWorld

log = logging.getLogger(__name__)


class SimRig:
    """A started simulated rig. Use :meth:`start`; close with :meth:`close` or ``with``."""

    def __init__(self, world: SimWorld, amplifier_device: Any, stimulator_device: Any,
                 amplifier_port: str, stimulator_resource: str) -> None:
        """Wrap already started devices (use :meth:`start`)."""
        self.world = world
        self.amplifier_device = amplifier_device
        self.stimulator_device = stimulator_device
        self.amplifier_port = amplifier_port
        self.stimulator_resource = stimulator_resource
        self._closed = False

    @classmethod
    def start(cls, muscle: str = "rat-edl", *, seed: int | None = None,
              treatment_effect: Any = None, isolator_gain_mA_per_V: float = 1.0,
              length_mm: float | None = None) -> "SimRig":
        """Build the world and start both devices.

        ``muscle`` is a preset name (see :func:`sim_devices.muscle.preset_names`; an
        unknown name raises :class:`~sim_devices.muscle.UnknownMuscleError` before anything
        starts). ``seed`` makes the force noise and the amplifier reproducible;
        ``treatment_effect`` goes to the muscle (a force factor or a
        :class:`~sim_devices.muscle.TreatmentEffect`). The muscle starts at its optimal
        length unless ``length_mm`` is given."""
        # imported here: the device modules are large and only needed once a rig starts
        from sim_devices.amplifier_device import SimAmplifierDevice
        from sim_devices.stimulator_device import SimStimulatorServer

        model = MuscleModel(muscle, seed=seed, treatment_effect=treatment_effect)
        world = SimWorld(model, length_mm=model.preset.Lo_mm if length_mm is None else length_mm)
        amplifier = SimAmplifierDevice(world, seed=seed)
        stimulator = SimStimulatorServer(world, host="127.0.0.1", port=0,
                                         isolator_gain_mA_per_V=isolator_gain_mA_per_V)
        started: list[Any] = []
        try:
            port = amplifier.start()
            started.append(amplifier)
            resource = stimulator.start()
            started.append(stimulator)
        except BaseException:
            for device in reversed(started):
                _close_quietly(device)
            raise
        log.info("simulated rig (%s): amplifier %s, stimulator %s", model.preset.name, port, resource)
        return cls(world, amplifier, stimulator, port, resource)

    @property
    def muscle(self) -> MuscleModel:
        """The muscle model inside the world."""
        return self.world.muscle  # type: ignore[return-value]

    def addresses(self) -> dict[str, str]:
        """Where clients connect: ``{"amplifier": serial port, "stimulator": VISA resource}``."""
        return {"amplifier": self.amplifier_port, "stimulator": self.stimulator_resource}

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop both devices: stimulator first (no more pulses), then the amplifier.
        Idempotent; a failure of one does not keep the other running."""
        if self._closed:
            return
        self._closed = True
        errors = [e for e in (_close_quietly(self.stimulator_device),
                              _close_quietly(self.amplifier_device)) if e is not None]
        if errors:
            raise errors[0]

    def __enter__(self) -> "SimRig":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running"
        return f"<SimRig {self.muscle.preset.name} {state} {self.addresses()}>"


def _close_quietly(device: Any) -> Exception | None:
    try:
        device.close()
    except Exception as exc:  # keep going: the other device must still be stopped
        log.warning("closing %r failed: %s", device, exc)
        return exc
    return None
