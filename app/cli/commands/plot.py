"""``myoforce plot FILE --out DIR``: PNG of each contraction (Pt/Po, TPT, ½RT marked),
of the force-frequency curve with its fit (when there are several frequencies) and
of the fatigue series (when there is one)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.analysis_options import add_analysis_options, analyze_files, config_from_args
from app.errors import UserError

NAME = "plot"


def run(args: argparse.Namespace) -> int:
    from app.plots import plot_session

    cfg = config_from_args(args)
    out = Path(args.out)
    if str(args.out).strip() == "":
        raise UserError("--out: the directory name is empty")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file; --out takes a directory for the figures")
    failed = 0
    for path, rec, res, err in analyze_files(args.files, cfg):
        if err:
            failed += 1
            print(f"myoforce {NAME}: {err}", file=sys.stderr)
        if rec is None or not res.trials:
            continue
        try:
            written = plot_session(rec, res, args.out)
        except OSError as exc:
            raise UserError(f"cannot write figures to {args.out}: {exc.strerror or exc}") from exc
        for p in written:
            print(p)
    return 1 if failed else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(NAME, help="write PNG figures of each contraction and curve",
                              description="Analyse recordings and write PNG figures.")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="recording file(s) (.h5, .nwb, .ddf, .csv)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    add_analysis_options(p)
    p.set_defaults(func=run)
