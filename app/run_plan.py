"""The run plan: everything checked before a device is touched, for the CLI and the GUI alike.

``myoforce run`` and the GUI's Run button both call :func:`make_plan` with a
:class:`RunRequest` (protocol, rig settings, metadata as ONE object, output) and get
either a :class:`RunPlan` ready for :class:`app.session.ExperimentSession`, or a
:class:`PlanRefused` listing EVERY problem found, one line each, naming the file and
the field. Nothing is connected and nothing is stimulated before a plan exists, so the
rules for starting a run live here and nowhere else:

* the protocol against the rig's limits (``protocols.validation``, which asks
  ``drivers.limits`` about every stimulus the driver will program, after rounding, and
  about the protocol's timeline), including the output voltage through the isolator;
* the metadata (``SessionMetadata``; non-finite numbers refused);
* the muscle: the study's, the operator's or the rig's, by one rule
  (:func:`app.session_muscle.choose_muscle`; on a simulated rig it picks the muscle model);
* the output file (writable, never one of the input files, not overwritten unasked);
* the tare length from the rig file.

:func:`protocol_problems` is the protocol part alone: the GUI's protocol editor checks
every edit with it, so Run is enabled only for a protocol the plan will accept.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from app.errors import UserError
from drivers.limits import StimulusLimits

#: tare lengths a rig may ask for (samples; the rig file's amplifier.tare_samples)
TARE_SAMPLES_RANGE = (1, 100_000)


class PlanRefused(UserError):
    """The run may not start. ``problems`` lists every reason, one line each; the message
    is those lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class RigSettings:
    """What the plan needs to know about a rig (from its rig file or the connected rig)."""

    limits: StimulusLimits = field(default_factory=StimulusLimits)
    isolator_gain_mA_per_V: float | None = None
    max_output_V: float | None = None
    tare_samples: int = 1000
    simulated: bool = False
    sim_muscle: str | None = None
    """The rig's own simulated muscle (a rig file's ``[sim]``, the GUI's rig panel), used
    when neither the study nor the metadata names one."""
    files: tuple[Path, ...] = ()
    """Input files of the rig (its rig file): never overwritten by the recording."""
    stimulus_sample_rate_hz: float | None = None
    """A DAQ board generating the pulses on its sample clock (docs/daq-rig.md): every
    pulse width must be a whole number of samples at this rate."""

    @classmethod
    def from_config(cls, config: Any, path: str | Path | None = None) -> "RigSettings":
        """From a :class:`app.rig.config.RigConfig` (and the rig file's path)."""
        return cls(limits=config.limits.to_limits(),
                   isolator_gain_mA_per_V=config.stimulator.isolator_gain_mA_per_V,
                   max_output_V=config.stimulator.max_output_V,
                   tare_samples=config.amplifier.tare_samples, simulated=config.simulated,
                   sim_muscle=config.sim.muscle if config.sim is not None else None,
                   files=(Path(path),) if path is not None else (),
                   stimulus_sample_rate_hz=config.daq.sample_rate_hz
                   if config.daq is not None and config.daq.ao is not None else None)

    @classmethod
    def from_rig(cls, rig: Any, *, tare_samples: int | None = None) -> "RigSettings":
        """From a connected :class:`drivers.capabilities.Rig`: the limits its stimulator
        driver enforces (or those its description records), its isolator and output."""
        stim = rig.stimulator
        description = getattr(rig, "description", None) or {}
        limits = getattr(stim, "limits", None)
        if not isinstance(limits, StimulusLimits):
            recorded = description.get("limits") or {}
            known = {k: v for k, v in recorded.items() if k in StimulusLimits.names()}
            limits = StimulusLimits(**known)
        gain = getattr(stim, "isolator_gain_mA_per_V", None) or description.get("isolator_gain_mA_per_V")
        tare = tare_samples or description.get("tare_samples") or 1000
        return cls(limits=limits, isolator_gain_mA_per_V=gain,
                   max_output_V=getattr(stim, "max_output_V", None), tare_samples=int(tare),
                   simulated=description.get("kind") == "sim",
                   sim_muscle=(description.get("sim") or {}).get("muscle"),
                   stimulus_sample_rate_hz=getattr(stim, "sample_grid_hz", None))


@dataclass
class RunRequest:
    """Everything a run is asked to be. Exactly one of ``protocol_path`` (a file: the CLI)
    and ``protocol`` (already parsed, e.g. edited in the GUI, with ``protocol_text``)."""

    rig: RigSettings
    out: str | Path
    metadata: Mapping[str, Any] | Any = field(default_factory=dict)
    """Raw field values (or a ``SessionMetadata``): options such as ``--study`` fill it."""
    protocol_path: str | Path | None = None
    protocol: Any = None
    protocol_text: str | None = None
    protocol_source: str = "protocol"
    overwrite: bool = False
    metadata_field_name: Callable[[str], str] = lambda name: f"metadata {name}"
    """How a metadata field is named in messages (the CLI names its option)."""
    study_muscle: str | None = None
    """A study session's muscle (``study.toml``): the session's; a metadata muscle that
    is another one is refused."""


@dataclass(frozen=True)
class RunPlan:
    """A run that may start: hand it to :class:`app.session.ExperimentSession`."""

    protocol: Any
    protocol_text: str
    protocol_source: str
    metadata: Any
    out: Path
    overwrite: bool
    tare_samples: int
    preset: str | None
    """The simulated muscle model (a simulated rig), else None."""
    rig: RigSettings
    muscle_note: str | None = None
    """One line when the session's muscle replaces the rig's simulated one."""


def protocol_problems(protocol: Any, rig: RigSettings, *, source: str = "protocol") -> list[str]:
    """Every reason ``protocol`` may not run on ``rig``, one line each naming the file."""
    from protocols.validation import RigOutput, check_limits, check_structure

    output = RigOutput(rig.isolator_gain_mA_per_V, rig.max_output_V)
    found = check_structure(protocol) + check_limits(protocol, rig.limits, output)
    lines = [f"{source}: {p}" for p in found]
    if rig.stimulus_sample_rate_hz:
        lines += [f"{source}: {p}" for p in _sample_grid_problems(protocol, rig.stimulus_sample_rate_hz)]
    return lines


def _sample_grid_problems(protocol: Any, rate_hz: float) -> list[str]:
    """A DAQ board generates pulses on its sample clock: widths must be whole samples."""
    from drivers.daq.signals import width_problem
    from protocols.validation import step_location

    out = []
    problem = width_problem(protocol.pulse_width_ms, rate_hz)
    if problem:
        out.append(f"pulse_width_ms: {problem}")
    for i, step in enumerate(protocol.steps):
        width = getattr(step, "pulse_width_ms", None)
        problem = width_problem(width, rate_hz) if width else None
        if problem:
            out.append(f"{step_location(protocol, i)} pulse_width_ms: {problem}")
    return out


def make_plan(request: RunRequest) -> RunPlan:
    """Check everything; the plan, or :class:`PlanRefused` with every problem found."""
    problems: list[str] = []
    protocol, text, source = _protocol(request, problems)
    if protocol is not None:
        problems += protocol_problems(protocol, request.rig, source=source)
    metadata, muscle = _metadata(request, problems)
    out = _output(request, problems)
    tare = request.rig.tare_samples
    low, high = TARE_SAMPLES_RANGE
    if not (isinstance(tare, int) and low <= tare <= high):
        problems.append(f"amplifier.tare_samples: must be a whole number from {low} to {high}, "
                        f"got {tare!r}")
    if problems:
        raise PlanRefused(problems)
    return RunPlan(protocol=protocol, protocol_text=text, protocol_source=source,
                   metadata=metadata, out=out, overwrite=request.overwrite, tare_samples=tare,
                   preset=muscle.preset, rig=request.rig, muscle_note=muscle.note)


def _protocol(request: RunRequest, problems: list[str]) -> tuple[Any, str, str]:
    from protocols.loader import ProtocolFileError, parse_protocol, read_protocol_text

    if request.protocol is not None:
        text = request.protocol_text
        if text is None:
            import yaml
            text = yaml.safe_dump(request.protocol.model_dump(mode="json", exclude_none=True),
                                  sort_keys=False, allow_unicode=True)
        return request.protocol, text, request.protocol_source
    if request.protocol_path is None:
        problems.append("no protocol was given")
        return None, "", request.protocol_source
    path = Path(request.protocol_path)
    try:
        text = read_protocol_text(path)
        return parse_protocol(text, source=path.name), text, path.name
    except ProtocolFileError as exc:
        problems += exc.problems
        return None, "", path.name


def _metadata(request: RunRequest, problems: list[str]) -> tuple[Any, Any]:
    """The validated metadata, its muscle the session's (named the standard way), and
    the :class:`~app.session_muscle.MuscleChoice` (the sim preset, a note)."""
    from app.metadata import SessionMetadata, metadata_problems
    from app.session_muscle import MuscleChoice

    values = _metadata_values(request)
    muscle = MuscleChoice(None, None)
    try:
        muscle = muscle_choice(request)
        if muscle.name is not None:
            values["muscle"] = muscle.name
    except UserError as exc:
        problems.append(str(exc))
    found = metadata_problems(values, request.metadata_field_name)
    if found:
        problems += found
        return None, muscle
    return SessionMetadata(**values), muscle


def muscle_choice(request: RunRequest) -> Any:
    """The session's muscle for ``request`` (:class:`app.session_muscle.MuscleChoice`:
    the sim preset, the metadata name, a note), or UserError: the part of the plan the
    GUI asks before it restarts a simulated rig."""
    from app.session_muscle import choose_muscle
    return choose_muscle(_metadata_values(request).get("muscle"),
                         simulated=request.rig.simulated, study=request.study_muscle,
                         rig=request.rig.sim_muscle,
                         field=request.metadata_field_name("muscle"))


def _metadata_values(request: RunRequest) -> dict[str, Any]:
    from app.metadata import SessionMetadata
    raw = request.metadata
    values = dict(raw.model_dump(exclude_none=True) if isinstance(raw, SessionMetadata) else raw or {})
    return {k: v for k, v in values.items() if v is not None}


def _output(request: RunRequest, problems: list[str]) -> Path | None:
    from app.paths import check_output_file

    inputs = list(request.rig.files)
    if request.protocol_path is not None:
        inputs.append(Path(request.protocol_path))
    try:
        out = check_output_file(request.out, what="recording", inputs=inputs)
    except UserError as exc:
        problems.append(str(exc))
        return None
    if out.exists() and not request.overwrite:
        problems.append(f"{out}: file exists; refusing to overwrite a recording "
                        f"(choose another name, or pass --overwrite)")
    return out

