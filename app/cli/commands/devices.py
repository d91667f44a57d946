"""``myoforce devices``: list the serial ports, VISA resources and NI-DAQmx boards this
computer sees (and say plainly when the NI-DAQmx driver is missing)."""
from __future__ import annotations

import argparse
import json
import math

from app.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "devices", help="list serial ports, VISA resources and NI-DAQmx boards",
        description="List serial ports (for the force amplifier), VISA resources (for the "
                    "stimulator) and NI-DAQmx boards (for a DAQ rig: docs/daq-rig.md). "
                    "Raw-socket instruments such as TCPIP0::host::5025::SOCKET "
                    "and pseudo-terminals are not discoverable; give them by name.")
    p.add_argument("--json", action="store_true",
                   help='print one JSON object {"serial": [...], "visa": [...], "daq": [...], '
                        '"daq_problem": null or why there are no boards}')
    p.add_argument("--timeout", type=float, default=5.0, metavar="S",
                   help="give up on VISA discovery after S seconds (default 5)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from drivers.discovery import list_daq_devices, list_serial_ports, list_visa_resources

    if not (math.isfinite(args.timeout) and 0.1 <= args.timeout <= 3600):
        raise UserError(f"--timeout must be a number of seconds from 0.1 to 3600, "
                        f"got {args.timeout:g}")
    serial_ports = list_serial_ports()
    visa = list_visa_resources(timeout_s=args.timeout)
    daq, daq_problem = list_daq_devices()
    if args.json:
        print(json.dumps({"serial": serial_ports, "visa": visa, "daq": daq,
                          "daq_problem": daq_problem}), flush=True)
        return 0
    print("serial ports:")
    for p in serial_ports:
        extra = ", ".join(str(v) for v in (p["description"], p["hwid"]) if v)
        print(f"  {p['device']}" + (f"  ({extra})" if extra else ""))
    if not serial_ports:
        print("  (none)")
    print("VISA resources:")
    for r in visa:
        print(f"  {r}")
    if not visa:
        print("  (none)")
    print("NI-DAQmx devices:")
    for d in daq:
        sim = ", simulated" if d["simulated"] else ""
        print(f"  {d['name']}  ({d['product']}, serial {d['serial_number']}{sim}: "
              f"{d['ai_channels']} AI up to {d['ai_max_single_rate_hz']:g} Hz, "
              f"{d['ao_channels']} AO)")
    if not daq:
        print(f"  ({daq_problem})" if daq_problem else "  (none)")
    return 0
