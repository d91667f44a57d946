"""What ``myoforce run`` checks before a device is touched, and how it will connect the rig.

The command line's own options (which rig, addresses, gain, rate, seed, treatment,
study and animal) are checked here; the rest (protocol against the rig's limits,
metadata, muscle, output path, tare) by the core's :func:`app.run_plan.make_plan`.
The result, :class:`CliRunPlan`, says how to connect the rig once the checks have passed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.cli.sim_options import check_isolator_gain, check_seed
from app.errors import UserError
from app.terminal import printable

#: metadata fields with their own, shorter options
_META_SPECIAL = {"subject_id": "--subject", "muscle": "--muscle"}


def meta_option(name: str) -> str:
    return _META_SPECIAL.get(name) or "--" + name.replace("_", "-")


class CliRunPlan:
    """The core's :class:`~app.run_plan.RunPlan` plus how this command connects the rig."""

    def __init__(self, plan, source: str, rig_factory) -> None:
        self.plan = plan
        self.protocol = plan.protocol
        self.protocol_text = plan.protocol_text
        self.metadata = plan.metadata
        self.tare_samples = plan.tare_samples
        self.preset = plan.preset
        self.source = source
        self.rig_factory = rig_factory
        self.study = None


def _check_rig_options(args: argparse.Namespace) -> str:
    """The rig options given make sense together; returns which rig source was chosen."""
    sources = [s for s, given in (("--sim", args.sim), ("--rig", args.rig is not None),
                                  ("--amplifier/--stimulator",
                                   args.amplifier is not None or args.stimulator is not None))
               if given]
    if len(sources) != 1:
        what = "no rig was given" if not sources else f"{' and '.join(sources)} were both given"
        raise UserError(f"{what}: choose one of --sim, --rig RIG.toml, or --amplifier PORT "
                        f"with --stimulator RESOURCE")
    direct = sources[0] == "--amplifier/--stimulator"
    if direct and (args.amplifier is None or args.stimulator is None):
        missing = "--stimulator RESOURCE" if args.stimulator is None else "--amplifier PORT"
        raise UserError(f"{missing} is needed as well (devices given by address need both)")
    if args.rig is not None and (args.isolator_gain is not None or args.sample_rate is not None):
        raise UserError("--isolator-gain and --sample-rate come from the rig file with --rig")
    check_isolator_gain(args.isolator_gain)
    if args.sample_rate is not None:
        from app.rig.config import SAMPLE_RATES_HZ
        if args.sample_rate not in SAMPLE_RATES_HZ:
            raise UserError(f"--sample-rate {args.sample_rate} is not a rate the amplifier supports "
                            f"({', '.join(map(str, SAMPLE_RATES_HZ))})")
    if isinstance(args.treatment, str):
        args.treatment = _treatment(args.treatment)
    check_seed(args.seed)
    return sources[0]


def _treatment(text: str) -> Any:
    """--treatment EFFECT parsed (sim_devices.muscle.treatment.TreatmentEffect)."""
    from dataclasses import asdict

    from sim_devices.muscle.treatment import TreatmentEffect
    try:
        return asdict(TreatmentEffect.parse(text))     # a dict: stored as JSON in the file
    except ValueError as exc:
        raise UserError(f"--treatment: {exc}") from None


def _check_addresses(args: argparse.Namespace) -> None:
    from drivers.transports.visa import resource_name_problem
    if not args.amplifier.strip():
        raise UserError("--amplifier: the serial port name is empty")
    problem = resource_name_problem(args.stimulator)
    if problem:
        raise UserError(f"--stimulator {printable(repr(args.stimulator))}: {problem}")


def plan_run(args: argparse.Namespace) -> CliRunPlan:
    """Check everything before connecting: the command line's own options here, the rest
    (protocol against the rig, metadata, muscle, output, tare) in the core's run plan."""
    from app.rig import load_rig_file
    from app.run_plan import RigSettings, RunRequest, make_plan

    study = _study_session(args)
    source = _check_rig_options(args)
    config = load_rig_file(args.rig) if args.rig is not None else None
    simulated = bool(args.sim or (config is not None and config.simulated))
    if not simulated and (args.seed is not None or args.treatment is not None):
        raise UserError("--seed and --treatment apply to a simulated rig only")
    if source == "--amplifier/--stimulator":
        _check_addresses(args)
    gain = args.isolator_gain or 1.0
    rate = args.sample_rate or 10000
    if config is not None:
        rig = RigSettings.from_config(config, args.rig)
    else:
        rig = RigSettings(isolator_gain_mA_per_V=gain, max_output_V=10.0, simulated=simulated,
                          stimulus_sample_rate_hz=float(rate) if args.sim == "daq" else None)
    plan = make_plan(RunRequest(rig=rig, out=args.out, metadata=_metadata_values(args),
                                protocol_path=args.protocol, overwrite=args.overwrite,
                                metadata_field_name=meta_option,
                                study_muscle=study.muscle if study is not None else None))
    name = Path(args.protocol).name
    if not args.yes and not stdin_is_terminal():
        needs = _first_interactive_step(plan.protocol)
        if needs is not None:
            raise UserError(f"{name}: {needs} needs the operator's answers, but stdin is not "
                            f"a terminal; run with --yes to auto-continue with the defaults")
    source, factory, recipe = _rig_factory(args, config, plan.preset, rig.limits, gain, rate)
    if study is not None and recipe is not None:
        from app.study.run_link import study_rig
        factory = study_rig(study, recipe)    # the animal's hidden effect, as in the GUI
    result = CliRunPlan(plan, source, factory)
    result.study = study
    return result


def _rig_factory(args: argparse.Namespace, config: Any, preset: str, limits: Any,
                 gain: float, rate: int) -> tuple[str, Any, Any]:
    """(what the rig is, for the first line; a function that connects it, given the
    command hook; the simulated rig's recipe, app.rig.simulated, or None) for the rig
    the options chose."""
    from app.rig.simulated import SimRigFile, SimRigSpec
    if config is not None and config.simulated:
        recipe = SimRigFile(config, muscle=preset, seed=args.seed,
                            treatment_effect=args.treatment)
        return f"rig file {args.rig} (simulated {preset})", recipe.connect, recipe
    if config is not None:
        from app.rig import connect_rig
        return f"rig file {args.rig}", lambda hook: connect_rig(config, on_command=hook), None
    if args.sim:
        recipe = SimRigSpec(args.sim, preset, seed=args.seed, treatment_effect=args.treatment,
                            isolator_gain_mA_per_V=gain, sample_rate_hz=rate, limits=limits)
        return recipe.describe(), recipe.connect, recipe
    from app.rig import connect_devices
    source = f"amplifier {args.amplifier}, stimulator {args.stimulator}"
    factory = lambda hook: connect_devices(  # noqa: E731
        args.amplifier, args.stimulator, limits=limits, isolator_gain_mA_per_V=gain,
        sample_rate_hz=rate, on_command=hook)
    return source, factory, None


def _study_session(args: argparse.Namespace):
    """--study/--animal: fill the metadata options and --out from the study
    (app.study.run_link; on a simulated rig the hidden treatment effect comes with it in
    plan_run); None without --study."""
    if args.study is None and args.animal is None:
        if args.out is None:
            raise UserError("--out FILE.h5 is needed (or --study DIR --animal ID to file the "
                            "session in a study)")
        return None
    if args.study is None or args.animal is None:
        raise UserError("--study DIR and --animal ID go together")
    for given, what in ((args.out, "--out"), (args.treatment, "--treatment"),
                        (args.meta_group, "--group"), (args.meta_subject_id, "--subject")):
        if given is not None:
            raise UserError(f"{what} comes from the study with --study; leave it out")
    from app.study.run_link import study_session
    link = study_session(args.study, args.animal, args.meta_timepoint)
    for name, value in link.metadata.items():
        if name != "muscle" and getattr(args, f"meta_{name}", None) is None:   # the plan's
            setattr(args, f"meta_{name}", value)
    args.out = str(link.out)
    link.out.parent.mkdir(parents=True, exist_ok=True)
    return link


def _metadata_values(args: argparse.Namespace) -> dict[str, Any]:
    """The metadata options given, as one object (``--muscle`` included) for the plan."""
    from app.metadata import SessionMetadata

    values = {name: getattr(args, f"meta_{name}", None) for name in SessionMetadata.model_fields}
    return {k: v for k, v in values.items() if v is not None}


def stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):
        return False


def _first_interactive_step(protocol) -> str | None:
    """The first step that waits for the technician (without --yes)."""
    from protocols.validation import step_location

    for i, step in enumerate(protocol.steps):
        if step.kind in ("prompt", "optimal_length"):
            return f"step {step_location(protocol, i)}"
    return None
