"""Qt-free control of the rig and of the protocol sessions run on it, for the GUI.

:class:`Experiment` is the model behind acquire mode (napari-style: the Qt layer only
shows it and forwards clicks). It owns the connected :class:`~drivers.capabilities.Rig`,
the :class:`~app.live.ring_buffer.RingBuffer` the amplifier streams into, and the
running :class:`app.session.ExperimentSession`. Its listeners get the protocol runner's
events plus typed events of its own (:mod:`app.live.experiment_events`, all
:class:`Status`), on whatever thread they happen: the GUI bridges them to its thread
with one queued signal per event.

:meth:`Experiment.stop` is the STOP button: callable from any thread at any time, it
aborts the runner and switches the stimulator output off at once, each on its own path
so neither can hold the other up.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from app.live.aux_ring import AuxRing
from app.live.experiment_events import (ExperimentError, MonitorChanged, RigConnected,
                                        RigDisconnected, SessionEnded, SessionStarted,
                                        Status, StopPressed)  # noqa: F401  (Status: re-exported)
from app.live.ring_buffer import RingBuffer
from app.live.session_seam import (BorrowedRig, ProtocolSession,  # noqa: F401  (re-exported)
                                   default_session_factory)
from drivers.capabilities import Calibration, Rig
from drivers.subscribers import Subscribers
from protocols.events import Finished, OperatorPrompt

STANDARD_GRAVITY = 9.80665  # mN per gram


Listener = Callable[[Any], None]


class Experiment:
    """One rig, its live stream, and at most one session at a time."""

    def __init__(self, ring_seconds: float = 120.0, sample_rate_hz: float = 10_000.0) -> None:
        self.ring_seconds = float(ring_seconds)
        self.ring = RingBuffer.for_duration(self.ring_seconds, sample_rate_hz)
        self.aux_ring = AuxRing(self.ring_seconds)   # a DAQ rig's auxiliary channels
        self.rig: Rig | None = None
        self.session: ProtocolSession | None = None
        self.session_path: Path | None = None
        self.last_status: str | None = None
        self._listeners = Subscribers("experiment")   # a listener that raises is logged, never stops acquisition
        self._lock = threading.RLock()
        self._device_lock = threading.RLock()   # monitor start/stop vs a session taking over
        self._unsub: list[Callable[[], None]] = []
        self._monitoring = False
        self._session_thread: threading.Thread | None = None
        self._auto_continue = False
        self.rig_settings: Any = None   # app.run_plan.RigSettings of the connected rig

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

    @property
    def running(self) -> bool:
        return self.session is not None

    def connect_sim(self, muscle: str = "rat-edl", **kwargs: Any) -> Rig:
        """Start the simulated rig (blocking: call from a worker thread) and attach it."""
        from app.rig import start_sim_rig
        kwargs.setdefault("on_command", self.command_hook)
        return self.attach(start_sim_rig(muscle=muscle, **kwargs))

    def connect_sim_daq(self, muscle: str = "rat-edl", **kwargs: Any) -> Rig:
        """Start the simulated DAQ rig (force, stimulus and auxiliary channels on one
        simulated board; blocking) and attach it."""
        from app.rig.daq_config import sim_daq_section
        from app.rig.daq_connect import start_sim_daq_rig
        kwargs.setdefault("on_command", self.command_hook)
        return self.attach(start_sim_daq_rig(sim_daq_section(), muscle, **kwargs))

    def connect_rig_file(self, path: str | Path) -> Rig:
        """Connect the devices a rig file describes (blocking)."""
        from app.rig import connect_rig, load_rig_file
        from app.run_plan import RigSettings
        config = load_rig_file(path)
        rig = connect_rig(config, on_command=self.command_hook)
        return self.attach(rig, RigSettings.from_config(config, path))

    def connect_ports(self, amplifier_port: str, stimulator_resource: str, **kwargs: Any) -> Rig:
        """Connect devices picked by port and VISA resource (default limits, 10 kHz)."""
        from app.rig import connect_devices
        if not amplifier_port or not stimulator_resource:
            from app.errors import UserError
            raise UserError("choose the amplifier port and the stimulator resource")
        kwargs.setdefault("on_command", self.command_hook)
        return self.attach(connect_devices(amplifier_port, stimulator_resource, **kwargs))

    def attach(self, rig: Rig, settings: Any = None) -> Rig:
        """Use an already connected rig: its amplifier streams into the ring buffer.

        ``settings`` (:class:`app.run_plan.RigSettings`, e.g. from its rig file) are what
        every run plan is checked against; by default they are read from the rig itself
        (the limits its stimulator driver enforces)."""
        from app.run_plan import RigSettings
        with self._lock:
            if self.rig is not None:
                self.disconnect()
            self.rig = rig
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
        parts = []
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
        """Stop everything and release the rig (output off first)."""
        with self._lock:
            rig, self.rig = self.rig, None
        if rig is None:
            return
        self.stop()
        self._join_session(10.0)
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
            was = rig.amplifier.streaming
            if was:
                rig.amplifier.stop()
            try:
                cal = rig.amplifier.tare(samples)
            finally:
                if was:
                    rig.amplifier.start()
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
            was = rig.amplifier.streaming
            if was:
                rig.amplifier.stop()
            try:
                rig.amplifier.write_calibration(new)
            finally:
                if was:
                    rig.amplifier.start()
        return new

    def _refuse_while_running(self, what: str) -> None:
        if self.session is not None:
            from app.errors import UserError
            raise UserError(f"cannot {what} while a protocol runs")

    # --- sessions ---
    def plan(self, protocol: Any, out_path: str | Path, metadata: Any, *,
             protocol_source: str = "protocol", protocol_text: str | None = None,
             overwrite: bool | None = None) -> Any:
        """The core's run plan for this rig (:func:`app.run_plan.make_plan`): the same
        checks, and the same messages, as ``myoforce run``. Raises PlanRefused."""
        from app.run_plan import RunRequest, make_plan
        self._require_rig()
        out = Path(out_path)
        return make_plan(RunRequest(
            rig=self.rig_settings, out=out, metadata=metadata, protocol=protocol,
            protocol_text=protocol_text, protocol_source=protocol_source,
            overwrite=out.exists() if overwrite is None else overwrite))  # the GUI asked first

    def start(self, protocol: Any, out_path: str | Path, metadata: Any, *,
              auto_continue: bool = False, session_factory: Callable[..., Any] | None = None,
              protocol_source: str = "protocol", **session_kwargs: Any) -> Any:
        """Start running ``protocol`` into ``out_path``; returns at once (no device I/O here:
        safe to call from the GUI thread). The session runs on its own thread.

        Nothing starts unless the run plan accepts protocol, metadata and output for
        this rig (PlanRefused, every problem listed, nothing stimulated). The session
        streams the amplifier itself, so monitoring stops first (on that thread) and the
        ring buffer restarts with the session's stream.
        """
        rig = self._require_rig()
        plan = self.plan(protocol, out_path, metadata, protocol_source=protocol_source,
                         protocol_text=session_kwargs.get("protocol_text"),
                         overwrite=session_kwargs.pop("overwrite", None))
        session_kwargs["protocol_text"] = plan.protocol_text
        session_kwargs.setdefault("tare_samples", plan.tare_samples)
        with self._lock:
            if self.session is not None:
                from app.errors import UserError
                raise UserError("a protocol is already running")
            factory = session_factory or default_session_factory
            session = factory(protocol=plan.protocol, rig=BorrowedRig.of(rig),
                              out_path=plan.out, metadata=plan.metadata,
                              auto_continue=auto_continue, overwrite=plan.overwrite,
                              **session_kwargs)
            self.session = session
            self.session_path = Path(out_path)
            self.last_status = None
            self._auto_continue = auto_continue
            session.subscribe(self._on_runner_event)
        self._emit(SessionStarted(str(out_path), session))
        t = threading.Thread(target=self._run_session, args=(session, rig),
                             name="myoforce-session", daemon=True)
        self._session_thread = t
        t.start()
        return session

    def _run_session(self, session: Any, rig: Rig) -> None:
        status, message = "completed", ""
        try:
            with self._device_lock:           # no monitor start can slip in: session is set
                self._monitoring = False
                if rig.amplifier.streaming:
                    rig.amplifier.stop()
            result = session.run()
            status = getattr(result, "status", None) or self.last_status or status
        except BaseException as exc:  # noqa: BLE001 - reported, never lost
            status, message = "error", f"{type(exc).__name__}: {exc}"
            self._emit(ExperimentError(message, exc))
        finally:
            with self._lock:
                if self.session is session:
                    self.session = None
            self._emit(SessionEnded(message or str(self.last_status or status),
                              self.session_path))

    def _on_runner_event(self, ev: Any) -> None:
        if isinstance(ev, Finished):
            self.last_status = ev.status
        self._emit(ev)
        if isinstance(ev, OperatorPrompt) and self._auto_continue and not ev.auto:
            # switched on mid-run (the session's own auto-continue answers the others)
            try:
                self.answer(ev.id, ev.default)
            except Exception as exc:
                self._emit(ExperimentError(f"auto-continue: {exc}", exc))

    def set_auto_continue(self, on: bool) -> None:
        self._auto_continue = bool(on)

    def pause(self) -> None:
        s = self.session
        if s is not None:
            s.pause()

    def resume(self) -> None:
        s = self.session
        if s is not None:
            s.resume()

    def answer(self, prompt_id: Any, value: Any) -> None:
        s = self.session
        if s is not None:
            s.answer(prompt_id, value)

    def stop(self) -> None:
        """STOP: abort the protocol and turn the stimulator off at once. Any thread, any time.

        The stimulator abort goes first, on its own thread, so a runner busy with a device
        call cannot delay it; then the runner is told to abort (it finishes the file)."""
        rig, session = self.rig, self.session
        if rig is not None:
            threading.Thread(target=_quiet(rig.stimulator.abort), name="myoforce-stop",
                             daemon=True).start()
        if session is not None:
            try:
                session.abort()
            except Exception as exc:
                self._emit(ExperimentError(f"abort: {exc}", exc))
        self._emit(StopPressed("STOP pressed: stimulator output off"))

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running session to end; True if none is running any more."""
        return self._join_session(timeout)

    def _join_session(self, timeout: float | None) -> bool:
        t = self._session_thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)
            return not t.is_alive()
        return True

    def close(self) -> None:
        """Abort anything running and release the rig; safe to call twice."""
        self.stop()
        self._join_session(15.0)
        self.disconnect()


def _quiet(fn: Callable[[], Any]) -> Callable[[], None]:
    def call() -> None:
        try:
            fn()
        except Exception:
            pass
    return call
