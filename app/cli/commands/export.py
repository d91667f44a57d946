"""``myoforce export SESSION.h5 --nwb OUT.nwb`` (or several sessions / a folder --nwb DIR).

Exports myoforce sessions as Neurodata Without Borders files (``app.nwb``; mapping in
docs/nwb.md). Every output name is checked before anything is written; each file is
written under a temporary name and renamed when complete. A session that fails gets one
line on stderr and the others are still exported (exit code 1). pynwb is imported only
when the command runs.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from app.cli.analysis_options import add_analysis_options, config_from_args
from app.errors import UserError

NAME = "export"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        NAME, help="export sessions as NWB (Neurodata Without Borders) files",
        description="Export myoforce sessions as NWB files for DANDI and every NWB tool: "
                    "force, stimulus pulses, trials with their analysis, subject, devices, "
                    "protocol and session summary (mapping: docs/nwb.md). One session "
                    "exports to the file named; several sessions, a folder of sessions or a "
                    "study folder into a directory (one <session>.nwb each, subfolders "
                    "mirrored). Sessions of a study carry its facts: the group as its "
                    "blinding allows; an excluded animal's sessions are left out unless "
                    "--include-excluded.")
    p.add_argument("sessions", nargs="+", metavar="SESSION",
                   help="session files (.h5), folders of them, or a study folder")
    p.add_argument("--nwb", required=True, metavar="OUT",
                   help="output .nwb file (one session) or directory (several, or a folder)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing output files (never an input)")
    p.add_argument("--include-excluded", action="store_true",
                   help="also export the sessions of animals excluded from their study, "
                        "marked as excluded (with when and why) in each file; without it "
                        "they are left out, one line each")
    p.add_argument("--inspect", action="store_true",
                   help="run nwbinspector on each exported file and print its findings")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per session on stdout (source, output, counts, "
                        "status, warnings, DANDI notes, error; left_out for a session of "
                        "an excluded animal)")
    add_analysis_options(p)
    p.set_defaults(func=run)


def _print_report(report, quiet_notes: bool = False) -> None:
    from app.cli.terminal import hanging, terminal_width
    columns = terminal_width()
    print(hanging(f"{report.source} -> {report.output}: {report.samples} samples, "
                  f"{report.pulses} pulses, {report.trials} trials, {report.gaps} gaps; "
                  f"status {report.status or '-'} ({report.seconds:.1f} s)", 2, columns))
    for w in report.warnings:
        print(f"myoforce {NAME}: warning: {report.source}: {w}", file=sys.stderr)
    if not quiet_notes:
        for n in report.notes:
            print(hanging(f"  note (DANDI): {n}", 16, columns))


def _inspect(path: Path) -> int:
    """nwbinspector's findings for ``path`` (importance order); the number of serious ones."""
    try:
        from nwbinspector import Importance, inspect_nwbfile
    except ImportError:
        from app.nwb import INSTALL_HINT
        raise UserError(f"--inspect needs nwbinspector: {INSTALL_HINT}") from None
    serious = 0
    for m in inspect_nwbfile(nwbfile_path=str(path)):
        print(f"  nwbinspector {m.importance.name}: {m.check_function_name} "
              f"({m.object_type} {m.object_name}): {m.message}")
        serious += m.importance in (Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION)
    return serious


def run(args: argparse.Namespace) -> int:
    from app.nwb import require_pynwb
    from app.nwb.batch import leave_out_excluded, plan_outputs, session_files

    require_pynwb()
    cfg = config_from_args(args)
    jobs, left_out = leave_out_excluded(session_files(args.sessions), args.include_excluded)
    if not jobs:
        raise UserError(": ".join(map(str, left_out[0])) if len(left_out) == 1 else
                        f"nothing to export: all {len(left_out)} sessions named are of "
                        f"animals excluded from their study (--include-excluded exports "
                        f"them marked as excluded)")
    for source, why in left_out:
        print(f"myoforce {NAME}: {source}: {why}", file=sys.stderr)
        if args.json:
            print(json.dumps({"source": str(source), "output": None, "error": None,
                              "left_out": why}), flush=True)
    into_dir = (len(jobs) + len(left_out) > 1 or any(Path(s).is_dir() for s in args.sessions)
                or Path(args.nwb).is_dir())
    plan_outputs(jobs, args.nwb, into_dir=into_dir, overwrite=args.overwrite)
    from app.nwb.export import export_session

    failed = 0
    for job in jobs:
        out = job.output
        try:
            report = export_session(job.source, out, cfg, study=job.study)
        except UserError as exc:
            failed += 1
            print(f"myoforce {NAME}: {exc}", file=sys.stderr)
            if args.json:
                print(json.dumps({"source": str(job.source), "output": None,
                                  "error": str(exc)}), flush=True)
            continue
        if args.json:
            print(json.dumps({**dataclasses.asdict(report), "error": None}), flush=True)
            for w in report.warnings:
                print(f"myoforce {NAME}: warning: {report.source}: {w}", file=sys.stderr)
        else:
            _print_report(report)
        if args.inspect and _inspect(out):
            failed += 1
    return 1 if failed else 0
