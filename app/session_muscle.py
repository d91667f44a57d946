"""Which muscle a session is: the one its metadata records and, on a simulated rig, the
one simulated. One rule, for ``myoforce run`` and the GUI alike (both reach it through
:func:`app.run_plan.make_plan`; the GUI also asks it before restarting a simulated rig).

Three places may name a muscle:

* the study, for a study session (``study.toml`` ``muscle``, docs/study.md);
* the operator, for this session (``--muscle``; the GUI's Subject tab);
* the rig, for a simulated one (a rig file's ``[sim] muscle``; the GUI's Rig tab).

The study's muscle is the session's. An operator's muscle that is another one is refused
(it would record, or simulate, a muscle the study does not measure): the same refusal as
``--group`` or ``--subject`` with ``--study``. Without a study the operator's muscle is
the session's. The rig's simulated muscle is only what is used when neither names one;
when the session's muscle replaces it, :attr:`MuscleChoice.note` says so in one line,
and the simulated rig runs the session's muscle. So the recorded muscle is always the
simulated one.
"""
from __future__ import annotations

from dataclasses import dataclass

from app.errors import UserError


@dataclass(frozen=True)
class MuscleChoice:
    preset: str | None
    """The simulated muscle model (a simulated rig), else None."""
    name: str | None
    """The muscle the metadata records (``EDL``, ``soleus``...), or None if nobody named one."""
    note: str | None = None
    """One line when the rig's simulated muscle is replaced by the session's."""


def same_muscle(a: str, b: str) -> bool:
    """Whether two names are one muscle: the same simulated preset (``EDL``, ``edl``,
    ``rat-edl``), else the same text ignoring case and surrounding blanks."""
    from sim_devices.muscle import UnknownMuscleError, get_preset
    try:
        return get_preset(a).name == get_preset(b).name
    except UnknownMuscleError:
        return a.strip().lower() == b.strip().lower()


def choose_muscle(asked: str | None, *, simulated: bool, study: str | None = None,
                  rig: str | None = None, field: str = "--muscle") -> MuscleChoice:
    """The session's muscle (see the module docstring), or UserError in one line.

    ``asked``: the operator's muscle; ``study``: the study's (a study session);
    ``rig``: the simulated rig's own muscle preset; ``field`` names where ``asked`` was
    given (for the messages)."""
    from app.rig import resolve_muscle

    asked = (asked or "").strip() or None
    study = (study or "").strip() or None
    if study is not None and asked is not None and not same_muscle(asked, study):
        raise UserError(f"{field} {asked}: the study's muscle is {study}; leave it out "
                        f"(with a study the muscle comes from the study)")
    wanted = study or asked
    where = field if study is None else "study.toml muscle"
    try:
        preset, name = resolve_muscle(wanted or rig, simulated=simulated)
    except UserError as exc:
        raise UserError(f"{where}: {str(exc).removeprefix('--muscle: ')}") from None
    note = None
    if simulated and wanted is not None and rig is not None and not same_muscle(rig, preset):
        source = f"the study's muscle {name}" if study is not None else f"{field} {asked}"
        note = f"simulating {preset} ({source}), not the rig's {_preset(rig)}"
    return MuscleChoice(preset, name, note)


def _preset(name: str) -> str:
    from sim_devices.muscle import UnknownMuscleError, get_preset
    try:
        return get_preset(name).name
    except UnknownMuscleError:
        return name
