"""``myoforce annotate FILE key=value ...``: metadata known only after the run.

Muscle mass is weighed after the muscle is excised; this appends it (or any other
field of the session metadata) to a finished ``.h5`` session as a metadata revision
with an audit entry (``app.recorder.revisions``). Raw data and the recorded values are
never changed; ``myoforce info`` shows the revisions. Unknown keys and invalid values
are refused naming the field, and then nothing is written.
"""
from __future__ import annotations

import argparse

NAME = "annotate"


def run(args: argparse.Namespace) -> int:
    from app.recorder.revisions import annotate, parse_pairs
    changes = annotate(args.file, parse_pairs(args.pairs), source=args.source)
    print(f"{args.file}: metadata revised: "
          + ", ".join(f"{k} = {v}" for k, v in changes.items()))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        NAME, help="add metadata known later (muscle mass...) to a session",
        description="Append a metadata revision (with an audit entry) to a finished .h5 "
                    "session: e.g. 'myoforce annotate s.h5 muscle_mass_mg=160'. Keys are the "
                    "session metadata fields (muscle_mass_mg, muscle_length_mm, body_mass_g, "
                    "notes, ...). Raw data and earlier values are kept; 'myoforce info' "
                    "lists the revisions.")
    p.add_argument("file", metavar="FILE", help="myoforce session (.h5)")
    p.add_argument("pairs", nargs="+", metavar="key=value", help="metadata to set")
    p.add_argument("--source", default="annotate", help="who/what the values come from "
                                                         "(stored in the revision) [annotate]")
    p.set_defaults(func=run)
