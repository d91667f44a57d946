"""``myoforce annotate FILE key=value ... [--comment TEXT --at SECONDS]``, ``myoforce
annotate FILE --exclude-trial N --reason TEXT`` (``--include-trial N``): what is known
only after the run.

Muscle mass is weighed after the muscle is excised; this appends it (or any other
field of the session metadata) to a finished ``.h5`` session as a metadata revision
with an audit entry (``app.recorder.revisions``). A comment forgotten during the run
("re-tied tendon at 40 s") is appended the same way at its place in the recording,
marked as added afterwards (``app.recorder.comments``). A trial that must not count
(the animal moved) is excluded from the session's numbers with its reason, and taken
back, the same way (``app.recorder.exclusions``). Raw data and the recorded
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
    trial_change = args.exclude_trial is not None or args.include_trial is not None
    if args.reason is not None and not trial_change:
        raise UserError("--reason says why a trial is excluded: give --exclude-trial N with it")
    if trial_change and (pairs or args.comment is not None):
        raise UserError("exclude or include a trial on its own: give --exclude-trial or "
                        "--include-trial without key=value pairs or --comment")
    if trial_change:
        return _trial_change(args)
    if args.comment is None and not pairs:
        raise UserError("nothing to annotate: give key=value pairs (e.g. muscle_mass_mg=160), "
                        "--comment TEXT --at SECONDS or --exclude-trial N --reason TEXT")
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


def _trial_change(args: argparse.Namespace) -> int:
    """``--exclude-trial N --reason TEXT`` / ``--include-trial N``: one audit row
    (:func:`app.recorder.exclusions.set_trial_exclusion`, what the GUI calls too)."""
    from app.errors import UserError
    from app.recorder.exclusions import set_trial_exclusion
    if args.exclude_trial is not None and args.include_trial is not None:
        raise UserError("give --exclude-trial or --include-trial, not both")
    if args.exclude_trial is not None:
        if args.reason is None:
            raise UserError("--exclude-trial needs --reason TEXT: why the trial must not count "
                            "(e.g. --reason 'animal moved')")
        now = set_trial_exclusion(args.file, args.exclude_trial, True, args.reason,
                                  source=args.source)
        print(f"{args.file}: trial {args.exclude_trial} excluded from the session's numbers: "
              f"{now[args.exclude_trial].reason}")
    else:
        now = set_trial_exclusion(args.file, args.include_trial, False, args.reason or "",
                                  source=args.source)
        print(f"{args.file}: trial {args.include_trial} included again")
    print(f"{args.file}: excluded trials now: "
          + (", ".join(str(i) for i in now) if now else "none"))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        NAME, help="add metadata known later (muscle mass...), a comment, or exclude a trial",
        description="Append a metadata revision (with an audit entry) to a finished .h5 "
                    "session: e.g. 'myoforce annotate s.h5 muscle_mass_mg=160'. Keys are the "
                    "session metadata fields (muscle_mass_mg, muscle_length_mm, body_mass_g, "
                    "notes, ...). Or add a comment at a time in the recording, marked as added "
                    "afterwards: 'myoforce annotate s.h5 --comment \"re-tied tendon\" --at 40'. "
                    "Or leave a trial out of the session's numbers, with the reason: "
                    "'myoforce annotate s.h5 --exclude-trial 3 --reason \"animal moved\"' "
                    "(undo: --include-trial 3). "
                    "Raw data and earlier values are kept; 'myoforce info' lists the revisions "
                    "and comments.")
    p.add_argument("file", metavar="FILE", help="myoforce session (.h5)")
    p.add_argument("pairs", nargs="*", metavar="key=value", help="metadata to set")
    p.add_argument("--comment", metavar="TEXT", help="a one-line comment to add (with --at)")
    p.add_argument("--at", type=float, metavar="SECONDS",
                   help="where the comment belongs: seconds from the start of the recording")
    p.add_argument("--exclude-trial", type=int, metavar="N",
                   help="leave trial N out of the session's numbers (with --reason); it is "
                        "still measured and shown, flagged 'excluded'")
    p.add_argument("--include-trial", type=int, metavar="N",
                   help="take back the exclusion of trial N")
    p.add_argument("--reason", metavar="TEXT",
                   help="why the trial is excluded (one line, kept in the file)")
    p.add_argument("--source", default="annotate", help="who/what the values come from "
                                                         "(stored in the revision) [annotate]")
    p.set_defaults(func=run)
