"""``myoforce verify FILE``: check a session file's structure and raw-data checksums."""
from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "verify", help="check a session file's structure and CRC-32 checksums",
        description="Check a session file: structure, and every written block of force and "
                    "flags against the CRC-32 the recorder stored. A crashed file is checked "
                    "up to what was flushed. Exit 0 and 'OK ...' if all is well, 1 otherwise.")
    p.add_argument("file", help="session file (.h5)")
    p.add_argument("-v", "--verbose", action="store_true", help="also print notes")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.recorder.verify import verify_session      # h5py: loaded only when it runs

    report = verify_session(args.file)
    if args.verbose or report.problems:
        for n in report.notes:
            print(f"note: {n}", file=sys.stderr if report.problems else sys.stdout)
    if report.ok:
        from app.cli.terminal import hanging, terminal_width
        print(hanging(f"OK {report.summary()}", 3, terminal_width()))
        return 0
    for p in report.problems:
        print(f"FAILED {args.file}: {p}", file=sys.stderr)
    return 1
