"""``myoforce recover FILE OUT``: copy a crashed session into a clean, closed file."""
from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "recover", help="copy a crashed session file into a clean one",
        description="Copy everything a crashed session file holds (up to its last flush) "
                    "into a new, normally openable file (complete=1, recovered_from=FILE). "
                    "FILE is never modified; h5clear is never used.")
    p.add_argument("file", help="the crashed session file")
    p.add_argument("out", help="the new file to write")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.recorder.recover import recover_session      # h5py: loaded only when it runs

    rep = recover_session(args.file, args.out, overwrite=args.overwrite)
    if rep.source_complete:
        print(f"note: {args.file} was already complete; copied it anyway")
    for n in rep.notes:
        print(f"note: {n}")
    print(f"recovered {rep.samples} samples, {rep.pulses} pulses, {rep.trials} trials, "
          f"{rep.gaps} gaps, {rep.audit_entries} audit entries into {args.out}")
    if rep.crc_mismatches:
        print(f"myoforce recover: {args.file}: {rep.crc_mismatches} block(s) of raw data do not "
              f"match their CRC-32; copied as they are into {args.out} (`myoforce verify "
              f"{args.out}` lists them)", file=sys.stderr)
        return 1
    return 0
