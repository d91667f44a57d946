"""``myoforce gui``: the desktop application (acquire and replay)."""
from __future__ import annotations

import argparse

from sim_devices import SIM_KINDS


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "gui", help="open the desktop application",
        description="Open the desktop application: run protocols with the force trace live "
                    "(acquire), or look at a recorded session again (replay).")
    p.add_argument("file", nargs="?", help="a recording to open in replay (.h5, .nwb, .ddf, .csv)")
    p.add_argument("--sim", nargs="?", const=SIM_KINDS[0], choices=SIM_KINDS,
                   help="start with a simulated rig connected: 'serial' (default: serial "
                        "amplifier + SCPI stimulator) or 'daq' (an NI-DAQ board: force, stimulus "
                        "and auxiliary channels on one clock), as 'myoforce run --sim'; give FILE "
                        "before it")
    p.add_argument("--muscle", default="rat-edl", help="muscle model of the simulated rig (default rat-edl)")
    p.add_argument("--protocol", help="protocol file to load (default protocols/library/protocol1-demo.yaml)")
    p.add_argument("--screenshot", metavar="OUT.png",
                   help="save a picture of the window to OUT.png and exit: with FILE, of its replay "
                        "(see --view); without, of the demo protocol mid-run on the simulated rig "
                        "(stopped safely; --sim daq: on the simulated DAQ rig). Works without a display "
                        "(QT_QPA_PLATFORM=offscreen)")
    p.add_argument("--view", choices=("trial", "recording", "playback", "results"), default="recording",
                   help="replay tab for --screenshot with FILE (default recording)")
    p.add_argument("--span", metavar="T0:T1",
                   help="seconds of the recording shown in detail for --screenshot with FILE (default 0:10)")
    p.add_argument("--after-trials", type=int, default=25, help=argparse.SUPPRESS)
    p.add_argument("--timeout", type=float, default=240.0, help=argparse.SUPPRESS)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.file:
        from app.importers import detect_format
        detect_format(args.file)     # a missing or foreign file: one line, before any window
    _check_options(args)
    from app.gui.platform_check import display_problem
    problem = display_problem()
    if problem:
        from app.errors import UserError
        raise UserError(problem)
    from app.gui.app import run  # Qt is imported only when the GUI is asked for
    return run(args)


def _check_options(args: argparse.Namespace) -> None:
    """A bad --muscle or --protocol: one line before any window (the screenshot path
    would otherwise wait for a rig that never connects, or ignore the protocol)."""
    from sim_devices.muscle import get_preset
    get_preset(args.muscle)          # UnknownMuscleError (ValueError): one line naming them
    if args.protocol:
        from protocols.loader import load_protocol
        load_protocol(args.protocol)     # ProtocolFileError: one line naming file and field
