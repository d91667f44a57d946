"""Acquire mode's restarts of a connected simulated rig: as a study's animal, and with the
session's muscle.

A study run on the simulated rig must run on the animal the study hides its effect in,
and every run must simulate the muscle its metadata records (the run plan's rule,
:mod:`app.session_muscle`). :class:`SimulatedRigRestart` asks the model which muscle a
session is, says in one line when that replaces the rig's, and starts the simulated rig
again (on a worker thread) when it is not already what the run needs. Real rigs are
never restarted. :class:`~app.gui.acquire_page.AcquirePage` calls it when an animal is
picked and on Run.
"""
from __future__ import annotations

from typing import Any, Callable

from PySide6.QtWidgets import QLabel

from app.gui.bridge import run_in_thread
from app.gui.event_log import EventLog
from app.live.experiment import Experiment


class SimulatedRigRestart:
    """Restarts ``experiment``'s simulated rig for a run, reporting to the page's widgets.

    ``status`` is the rig panel's status line, ``say`` the status bar, ``connected``
    and ``failed`` the page's after-connect and connection-failed handlers.
    """

    def __init__(self, experiment: Experiment, log: EventLog, status: QLabel,
                 say: Callable[[str], None], connected: Callable[[], None],
                 failed: Callable[[BaseException], None]) -> None:
        self.experiment = experiment
        self.log = log
        self.status = status
        self.say = say
        self.connected = connected
        self.failed = failed
        self.muscle_note: str | None = None    # the session's muscle replaced the rig's

    def session_muscle(self, metadata: Any, study: Any) -> Any:
        """The session's muscle by the run plan's rule (app.session_muscle): the study's,
        else the Subject tab's, else the rig's. When it replaces the rig's simulated
        muscle, that is said in one line (log, status bar, under the rig's status).
        UserError (one line) when the Subject tab's muscle is not the study's."""
        choice = self.experiment.muscle_for(metadata, study)
        if choice.note and choice.note != self.muscle_note:
            self.log.log(choice.note, "warning")
            self.say(choice.note[:1].upper() + choice.note[1:])
        self.muscle_note = choice.note
        return choice

    def restart_for(self, study: Any, muscle: Any = None, then: Callable[[], Any] | None = None) -> bool:
        """A connected simulated rig not started as ``study``'s animal (or, for None, as
        no study's) simulating the session's muscle (``muscle``, a MuscleChoice from
        :meth:`Experiment.muscle_for`; None: any) is started again as it, on a worker
        thread (the study's hidden effect comes with it, never shown); ``then`` runs
        once it is. True if it restarts."""
        exp = self.experiment
        preset = getattr(muscle, "preset", None)
        if exp.sim_recipe is None or exp.running or exp.simulated_as(study, preset):
            return False
        who = f" as study animal {study.animal}" if study is not None else ""
        self.log.log(f"restarting the simulated rig{who}")
        self.status.setText(f"Restarting the simulated rig{who}…")

        def done(_rig: Any) -> None:
            self.connected()
            if then is not None:
                then()
        run_in_thread(lambda: exp.restart_simulated(study, preset), done, self.failed,
                      name="myoforce-connect")
        return True
