"""The rig the GUI keeps connected: its devices, the ring buffers their stream fills,
idle monitoring, tare and calibration, and the listeners told about it.

:class:`RigConnection` is the half of :class:`~app.live.experiment.Experiment` that
does not run protocols. The rig stays connected (and live) across sessions; while one
runs (``session`` set) the devices are lent to it, and nothing here starts the stream,
tares or calibrates.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from app.live.aux_ring import AuxRing
from app.live.experiment_events import MonitorChanged, RigConnected, RigDisconnected
from app.live.ring_buffer import RingBuffer
from app.live.session_seam import ProtocolSession
from drivers.capabilities import Calibration, Rig
from drivers.subscribers import Subscribers

STANDARD_GRAVITY = 9.80665  # mN per gram


Listener = Callable[[Any], None]


class RigConnection:
    """One connected rig (or none), its live stream and its listeners."""

    def __init__(self, ring_seconds: float = 120.0, sample_rate_hz: float = 10_000.0) -> None:
        self.ring_seconds = float(ring_seconds)
        self.ring = RingBuffer.for_duration(self.ring_seconds, sample_rate_hz)
        self.aux_ring = AuxRing(self.ring_seconds)   # a DAQ rig's auxiliary channels
        self.rig: Rig | None = None
        self.session: ProtocolSession | None = None   # the session the rig is lent to
        self._listeners = Subscribers("experiment")   # a listener that raises is logged, never stops acquisition
        self._lock = threading.RLock()
        self._device_lock = threading.RLock()   # monitor start/stop vs a session taking over
        self._unsub: list[Callable[[], None]] = []
        self._monitoring = False
        self.rig_settings: Any = None   # app.run_plan.RigSettings of the connected rig
        self.sim_recipe: Any = None     # how the connected simulated rig was started (app.rig.simulated)
        self._sim_settings: Any = None
        self.sim_animal: tuple[str, str] | None = None   # the study animal it was started as

    def command_hook(self, command: str, device: str = "stimulator") -> None:
        """The devices' ``on_command`` hook: commands sent during a session go to that
        session's audit log."""
        session = self.session
        hook = getattr(session, "command_hook", None)
        if hook is not None:
            hook(command, device=device)

    # --- listeners ---
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Get every event (runner's and :class:`Status`) on the thread it happens;
        returns the function that unsubscribes."""
        return self._listeners.add(listener)

    def _emit(self, ev: Any) -> None:
        self._listeners.emit(ev)

    # --- rig ---
    @property
    def connected(self) -> bool:
        return self.rig is not None

    def connect_sim(self, spec: Any = None, *, study: Any = None) -> Rig:
        """Start a simulated rig (:class:`app.rig.simulated.SimRigSpec`, serial or DAQ: the
        recipe ``myoforce run --sim`` starts; blocking, call from a worker thread) and
        attach it. With ``study`` (:class:`app.study.run_link.StudySession`) the rig is
        that study animal's (its hidden treatment effect), as with ``run --study``."""
        from app.rig.simulated import SimRigSpec
        return self._start_simulated(spec or SimRigSpec(), study)

    def connect_rig_file(self, path: str | Path, *, study: Any = None) -> Rig:
        """Connect the devices a rig file describes (blocking); a simulated one (``[sim]``)
        as for :meth:`connect_sim`."""
        from app.rig import connect_rig, load_rig_file
        from app.rig.simulated import SimRigFile
        from app.run_plan import RigSettings
        config = load_rig_file(path)
        settings = RigSettings.from_config(config, path)
        if config.simulated:
            return self._start_simulated(SimRigFile(config), study, settings)
        return self.attach(connect_rig(config, on_command=self.command_hook), settings)

    def _start_simulated(self, recipe: Any, study: Any, settings: Any = None,
                         muscle: str | None = None) -> Rig:
        """Start ``recipe`` (with the study animal's effect, by the same core function as
        the CLI: :func:`app.study.run_link.study_rig`; with ``muscle``, a session's
        muscle, in place of its own) and attach it, remembering how, so that
        :meth:`restart_simulated` can make it another animal's. Run plans keep seeing
        the recipe's own muscle as the rig's (``RigSettings.sim_muscle``)."""
        from dataclasses import replace

        from app.run_plan import RigSettings
        from app.study.run_link import animal_key, study_rig
        started = recipe.with_muscle(muscle) if muscle else recipe
        factory = started.connect if study is None else study_rig(study, started)
        rig = factory(self.command_hook)
        own = replace(settings or RigSettings.from_rig(rig), sim_muscle=recipe.sim_muscle)
        return self.attach(rig, own, sim=(recipe, settings, animal_key(study)))

    def restart_simulated(self, study: Any = None, muscle: str | None = None) -> Rig:
        """Start the connected simulated rig again as ``study``'s animal (None: no study's
        effect) simulating ``muscle`` (a preset; None: the rig's own; blocking). Not
        while a protocol runs."""
        if self.sim_recipe is None:
            from app.errors import UserError
            raise UserError("the connected rig is not a simulated one")
        self._refuse_while_running("restart the simulated rig")
        return self._start_simulated(self.sim_recipe, study, self._sim_settings, muscle)

    @property
    def simulated_muscle(self) -> str | None:
        """The muscle preset the connected simulated rig runs (None: no simulated rig)."""
        rig = self.rig
        sim = (getattr(rig, "description", None) or {}).get("sim") if rig is not None else None
        return sim.get("muscle") if isinstance(sim, dict) else None

    def simulated_as(self, study: Any, muscle: str | None = None) -> bool:
        """Whether a session for ``study`` (a StudySession, or None for none) whose muscle
        preset is ``muscle`` (None: any) may run on the connected rig: a rig that is not
        simulated, or a simulated one started as that study animal (a study session gets
        its effect; any other, none), simulating that muscle."""
        from app.study.run_link import animal_key
        running = self.simulated_muscle
        if muscle is not None and running is not None and running != muscle:
            return False
        if self.sim_recipe is None:
            return study is None or not getattr(self.rig_settings, "simulated", False)
        return self.sim_animal == animal_key(study)

    def connect_ports(self, amplifier_port: str, stimulator_resource: str, **kwargs: Any) -> Rig:
        """Connect devices picked by port and VISA resource (default limits, 10 kHz)."""
        from app.rig import connect_devices
        if not amplifier_port or not stimulator_resource:
            from app.errors import UserError
            raise UserError("choose the amplifier port and the stimulator resource")
        kwargs.setdefault("on_command", self.command_hook)
        return self.attach(connect_devices(amplifier_port, stimulator_resource, **kwargs))

    def attach(self, rig: Rig, settings: Any = None, *, sim: tuple | None = None) -> Rig:
        """Use an already connected rig: its amplifier streams into the ring buffer.

        ``settings`` (:class:`app.run_plan.RigSettings`, e.g. from its rig file) are what
        every run plan is checked against; by default they are read from the rig itself
        (the limits its stimulator driver enforces). ``sim`` is (recipe, settings, study
        animal) of a simulated rig started here."""
        from app.run_plan import RigSettings
        with self._lock:
            if self.rig is not None:
                self.disconnect()
            self.rig = rig
            self.sim_recipe, self._sim_settings, self.sim_animal = sim or (None, None, None)
            self.rig_settings = settings or RigSettings.from_rig(rig)
            amp = rig.amplifier
            self.ring.reset(float(amp.sample_rate_hz))
            self._unsub.append(amp.subscribe(self.ring.write_block))
            aux = getattr(amp, "aux_channels", None)
            self.aux_ring.configure(aux() if callable(aux) else [], float(amp.sample_rate_hz))
            if self.aux_ring.channels:
                self._unsub.append(amp.subscribe(self.aux_ring.write_block))
        self._emit(RigConnected(self.describe_rig(), rig))
        return rig

    def describe_rig(self) -> str:
        rig = self.rig
        if rig is None:
            return "not connected"
        parts = [f"simulated {self.simulated_muscle}"] if self.simulated_muscle else []
        for label, dev in (("stimulator", rig.stimulator), ("amplifier", rig.amplifier)):
            try:
                parts.append(f"{label}: {dev.identity}")
            except Exception as exc:  # identity is informative only
                parts.append(f"{label}: ? ({exc})")
        try:
            parts.append(f"{rig.amplifier.sample_rate_hz:g} Hz")
        except Exception:
            pass
        return "; ".join(parts)

    def disconnect(self) -> None:
        """Stop everything and release the rig (output off first: any session using it
        is ended before the stream and the devices)."""
        with self._lock:
            rig, self.rig = self.rig, None
            self.sim_recipe = self._sim_settings = self.sim_animal = None
        if rig is None:
            return
        self._release_session()
        for unsub in self._unsub:
            try:
                unsub()
            except Exception:
                pass
        self._unsub.clear()
        self._monitoring = False
        try:
            if rig.amplifier.streaming:
                rig.amplifier.stop()
        except Exception:
            pass
        try:
            rig.close()
        finally:
            self._emit(RigDisconnected("rig released"))

    # --- monitoring (live trace while no protocol runs) ---
    @property
    def monitoring(self) -> bool:
        return self._monitoring

    def start_monitor(self) -> None:
        """Stream the amplifier into the live view while idle (blocking device I/O)."""
        rig = self._require_rig()
        with self._device_lock:
            if self.session is not None:
                return
            if not rig.amplifier.streaming:
                rig.amplifier.start()
            self._monitoring = True
        self._emit(MonitorChanged("live"))

    def stop_monitor(self) -> None:
        rig = self.rig
        with self._device_lock:
            self._monitoring = False
            if rig is not None and rig.amplifier.streaming and self.session is None:
                rig.amplifier.stop()
        self._emit(MonitorChanged("stopped"))

    def _require_rig(self) -> Rig:
        if self.rig is None:
            from app.errors import UserError
            raise UserError("no rig connected")
        return self.rig

    def tare(self, samples: int | None = None) -> Calibration:
        """Zero the force at the present load (blocking; not while a protocol runs), over
        the rig file's ``tare_samples`` unless told otherwise (as every session does)."""
        rig = self._require_rig()
        if samples is None:
            samples = getattr(self.rig_settings, "tare_samples", None) or 1000
        with self._device_lock:
            self._refuse_while_running("tare")
            with _stream_paused(rig.amplifier):
                cal = rig.amplifier.tare(samples)
        return cal

    def calibrate_with_mass(self, mass_g: float, seconds: float = 1.0,
                            wait: Callable[[float], None] = time.sleep) -> Calibration:
        """Scale the calibration so the present (tared) load reads ``mass_g`` grams-force.

        Needs the live stream (monitoring); averages the last ``seconds``. Blocking.
        """
        rig = self._require_rig()
        self._refuse_while_running("calibrate")
        if not mass_g > 0:
            from app.errors import UserError
            raise UserError("the calibration mass must be positive")
        if not rig.amplifier.streaming:
            self.start_monitor()
        wait(seconds)
        measured = float(np.nanmean(self.ring.read_last(seconds).force_mN))
        expected = mass_g * STANDARD_GRAVITY
        if not np.isfinite(measured) or abs(measured) < 1e-6:
            from app.errors import UserError
            raise UserError("no force measured: hang the mass and check the transducer")
        cal = rig.amplifier.calibration
        new = Calibration(cal.scale_mN_per_count * expected / measured, cal.offset_counts)
        with self._device_lock:
            self._refuse_while_running("calibrate")
            with _stream_paused(rig.amplifier):
                rig.amplifier.write_calibration(new)
        return new

    def _release_session(self) -> None:
        """Before the rig is released: end the session it is lent to (here none;
        :class:`~app.live.experiment.Experiment` aborts and waits for its own)."""

    def _refuse_while_running(self, what: str) -> None:
        if self.session is not None:
            from app.errors import UserError
            raise UserError(f"cannot {what} while a protocol runs")


@contextmanager
def _stream_paused(amplifier: Any) -> Iterator[None]:
    """The amplifier's stream stopped around a device call (tare, a calibration write)
    and restarted after it, even if the call fails, when it was running before."""
    was = amplifier.streaming
    if was:
        amplifier.stop()
    try:
        yield
    finally:
        if was:
            amplifier.start()
