"""``myoforce annotate FILE key=value ... [--comment TEXT --at SECONDS]``: what is known
only after the run.

Muscle mass is weighed after the muscle is excised; this appends it (or any other
field of the session metadata) to a finished ``.h5`` session as a metadata revision
with an audit entry (``app.recorder.revisions``). A comment forgotten during the run
("re-tied tendon at 40 s") is appended the same way at its place in the recording,
marked as added afterwards (``app.recorder.comments``). Raw data and the recorded
values are never changed; ``myoforce info`` shows both. Unknown keys, invalid values,
bad comments and times outside the recording are refused naming what is wrong, and
then nothing is written.
"""
from __future__ import annotations

import argparse

NAME = "annotate"


def run(args: argparse.Namespace) -> int:
    from app.errors import UserError
    from app.recorder.comments import add_comment_afterwards, comment_sample, validate_comment
    from app.recorder.revisions import annotate, parse_pairs, validate_changes
    pairs = parse_pairs(args.pairs or [])
    if args.comment is None and args.at is not None:
        raise UserError("--at places a comment: give --comment TEXT with it")
    if args.comment is None and not pairs:
        raise UserError("nothing to annotate: give key=value pairs (e.g. muscle_mass_mg=160) "
                        "or --comment TEXT --at SECONDS")
    if args.comment is not None:
        # everything is checked before anything is written
        validate_comment(args.comment)
        if args.at is None:
            raise UserError("--comment needs --at SECONDS: where in the recording it belongs")
        validate_changes(pairs)
        comment_sample(args.file, args.at)
    if pairs:
        changes = annotate(args.file, pairs, source=args.source)
        print(f"{args.file}: metadata revised: "
              + ", ".join(f"{k} = {v}" for k, v in changes.items()))
    if args.comment is not None:
        c = add_comment_afterwards(args.file, args.comment, args.at, source=args.source)
        print(f"{args.file}: comment added at {args.at:g} s (sample {c.sample}, marked as "
              f"added afterwards): {c.text}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        NAME, help="add metadata known later (muscle mass...) or a comment to a session",
        description="Append a metadata revision (with an audit entry) to a finished .h5 "
                    "session: e.g. 'myoforce annotate s.h5 muscle_mass_mg=160'. Keys are the "
                    "session metadata fields (muscle_mass_mg, muscle_length_mm, body_mass_g, "
                    "notes, ...). Or add a comment at a time in the recording, marked as added "
                    "afterwards: 'myoforce annotate s.h5 --comment \"re-tied tendon\" --at 40'. "
                    "Raw data and earlier values are kept; 'myoforce info' lists the revisions "
                    "and comments.")
    p.add_argument("file", metavar="FILE", help="myoforce session (.h5)")
    p.add_argument("pairs", nargs="*", metavar="key=value", help="metadata to set")
    p.add_argument("--comment", metavar="TEXT", help="a one-line comment to add (with --at)")
    p.add_argument("--at", type=float, metavar="SECONDS",
                   help="where the comment belongs: seconds from the start of the recording")
    p.add_argument("--source", default="annotate", help="who/what the values come from "
                                                         "(stored in the revision) [annotate]")
    p.set_defaults(func=run)
