"""``myoforce sim``: run the simulated rig as its own process and print where to connect.

The rig (muscle model, simulated amplifier on a pseudo-terminal, simulated stimulator on
127.0.0.1) runs until SIGINT or SIGTERM, then both devices are closed and the process exits
with 0. With ``--json`` the only thing on stdout is one line
``{"amplifier": "<serial port>", "stimulator": "<VISA resource>"}``, flushed at once, so a
test or another program can start the rig as a subprocess and read its addresses.
"""
from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading

from app.cli.sim_options import check_isolator_gain, check_seed
from app.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sim", help="run the simulated rig and print its addresses",
        description="Run the simulated rig (muscle, force amplifier, stimulator) until "
                    "interrupted, printing the serial port and VISA resource to connect to.")
    p.add_argument("--muscle", default="rat-edl",
                   help="muscle model: rat-edl, rat-soleus or rat-quadriceps (default rat-edl)")
    p.add_argument("--seed", type=int, default=None, help="seed for reproducible noise")
    p.add_argument("--treatment", type=float, default=None, metavar="FACTOR",
                   help="treatment effect: scale the muscle's active force by FACTOR")
    p.add_argument("--isolator-gain", type=float, default=1.0, metavar="MA_PER_V",
                   help="stimulus isolator gain in mA/V (default 1)")
    p.add_argument("--json", action="store_true",
                   help='print only one line {"amplifier": ..., "stimulator": ...}')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sim_devices.muscle import UnknownMuscleError, get_preset
    from sim_devices.rig import SimRig

    try:
        preset = get_preset(args.muscle)
    except UnknownMuscleError as exc:
        raise UserError(str(exc)) from None
    if args.treatment is not None and not (math.isfinite(args.treatment) and args.treatment > 0):
        raise UserError(f"--treatment must be a positive factor, got {args.treatment:g}")
    check_isolator_gain(args.isolator_gain)
    check_seed(args.seed)

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda signum, frame: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with SimRig.start(preset.name, seed=args.seed, treatment_effect=args.treatment,
                          isolator_gain_mA_per_V=args.isolator_gain) as rig:
            _announce(rig, preset, json_only=args.json)
            while not stop.wait(0.2):
                pass
        if not args.json:
            print("simulated rig stopped", file=sys.stderr)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _announce(rig, preset, *, json_only: bool) -> None:
    addresses = rig.addresses()
    try:
        if json_only:
            sys.stdout.write(json.dumps(addresses) + "\n")
        else:
            sys.stdout.write(
                f"simulated rig running: {preset.name}, Lo {preset.Lo_mm:g} mm\n"
                f"  muscle:              {preset.description}\n"
                f"  amplifier (serial):  {addresses['amplifier']}\n"
                f"  stimulator (VISA):   {addresses['stimulator']}\n"
                f"use it: myoforce run PROTOCOL.yaml --amplifier {addresses['amplifier']} \\\n"
                f"            --stimulator {addresses['stimulator']} --out FILE.h5\n"
                "press Ctrl-C to stop\n")
        sys.stdout.flush()
    except BrokenPipeError:  # nobody reads our stdout any more; keep serving the devices
        pass
