"""``myoforce gui``: the desktop application (acquire and replay)."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "gui", help="open the desktop application",
        description="Open the desktop application: run protocols with the force trace live "
                    "(acquire), or look at a recorded session again (replay).")
    p.add_argument("file", nargs="?", help="a recording to open in replay (.h5, .ddf, .csv)")
    p.add_argument("--sim", action="store_true", help="start with the simulated rig connected")
    p.add_argument("--muscle", default="rat-edl", help="muscle model of the simulated rig (default rat-edl)")
    p.add_argument("--protocol", help="protocol file to load (default protocols/library/protocol1-demo.yaml)")
    p.add_argument("--screenshot", metavar="OUT.png",
                   help="run the demo protocol on the simulated rig, save a picture of the window "
                        "mid-protocol to OUT.png, abort safely and exit")
    p.add_argument("--after-trials", type=int, default=25, help=argparse.SUPPRESS)
    p.add_argument("--timeout", type=float, default=240.0, help=argparse.SUPPRESS)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from app.gui.app import run  # Qt is imported only when the GUI is asked for
    return run(args)
