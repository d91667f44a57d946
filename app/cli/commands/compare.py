"""``myoforce compare FILE... --by group [--group FILE=NAME ...] [--csv OUT.csv]``.

Analyses each file, assigns it to a group (the session metadata value named by
``--by``, default ``group``; ``--group FILE=NAME`` overrides or supplies it), pools the
files per animal (``--unit``, default ``subject_id``) and prints per group n, mean ± SD
and SEM of Pt, TPT, ½RT, Po, Pt/Po, f50, fatigue index and specific force; per pair of
groups the difference with its 95 % CI, Hedges' g with its CI, Welch's t (df, p), the
Mann-Whitney U p (exact at small n) and Holm-adjusted p; and the mean normalised
force-frequency curve per group. ``--json`` prints it all as one object. Statistics:
``app.compare`` and ``app.statistics``. A file of an animal excluded from its study
(filed in a study folder, or an NWB file exported marked as excluded) is left out with
one line saying so (:mod:`app.study.membership`).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from app.cli.analysis_options import (add_analysis_options, add_batch_options, batch_options,
                                      config_from_args)
from app.cli.terminal import console, fmt, hanging
from app.errors import UserError
from app.paths import check_output_file

NAME = "compare"


def parse_group_overrides(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        file, sep, name = item.rpartition("=")
        if not sep or not file or not name:
            raise UserError(f"--group expects FILE=NAME, got {item!r}")
        out[file] = name
    return out


def _names(key: str, path: str) -> bool:
    """Does the --group FILE ``key`` name ``path`` (as given, by its file name, or as
    the same file)?"""
    k, p = Path(key), Path(path)
    return key == path or k.name == key and k.name == p.name or (
        k.exists() and p.exists() and k.resolve() == p.resolve())


def group_for(path: str, metadata: dict, by: str, overrides: dict[str, str]) -> str | None:
    """Command-line assignment (by the path as given, its resolved path or its name),
    else the metadata value."""
    for key, name in overrides.items():
        if _names(key, path):
            return name
    v = metadata.get(by)
    return None if v in (None, "") else str(v)


def check_outputs(args: argparse.Namespace, overrides: dict[str, str]) -> None:
    """--by is a key; --group names given files; --csv and --plot are writable and not
    inputs."""
    if not args.by.strip():
        raise UserError("--by: the metadata key is empty (e.g. --by group)")
    for key, name in overrides.items():
        if not any(_names(key, f) for f in args.files):
            raise UserError(f"--group {key}={name}: {key} is not one of the files given")
    if args.csv:
        check_output_file(args.csv, what="comparison CSV", inputs=args.files, devices=True)
    if args.plot:
        check_output_file(args.plot, what="force-frequency plot", inputs=args.files)
        from matplotlib.backend_bases import FigureCanvasBase
        kinds = FigureCanvasBase.get_supported_filetypes()
        ext = Path(args.plot).suffix.lower().lstrip(".")
        if ext not in kinds:
            raise UserError(f"--plot {args.plot}: " + (f"'.{ext}' is not an image type" if ext
                                                       else "the name has no extension")
                            + " (use .png, .pdf or .svg)")


def run(args: argparse.Namespace) -> int:
    from app.batch import analyze_many
    from app.compare import compare_sessions, comparison_to_dict, write_csv

    cfg = config_from_args(args)
    overrides = parse_group_overrides(args.group)
    check_outputs(args, overrides)
    from app.study.membership import StudyLookup
    studies = StudyLookup()
    failed = 0
    results, groups = [], []
    for outcome in analyze_many(args.files, cfg, **batch_options(args)):
        path, res, err = outcome.path, outcome.result, outcome.error
        if err:
            failed += 1
            print(f"myoforce {NAME}: {err}", file=sys.stderr)
            continue
        excluded = studies.exclusion(path, res.metadata)
        if excluded:              # never in group statistics: said, not counted as failed
            print(f"myoforce {NAME}: {path}: left out: {excluded}", file=sys.stderr)
            continue
        g = group_for(path, res.metadata, args.by, overrides)
        if g is None:
            failed += 1
            print(f"myoforce {NAME}: {path}: no {args.by!r} in the session metadata; assign "
                  f"one with --group {path}=NAME", file=sys.stderr)
            continue
        results.append(res)
        groups.append(g)
    if not results:
        raise UserError("no file could be analysed and grouped; nothing to compare")
    comp = compare_sessions(results, groups, unit_key=args.unit, adjust=args.holm,
                            exclude_flagged=args.exclude_flagged)
    if args.json:
        print(json.dumps(comparison_to_dict(comp)))
    else:
        print_comparison(comp, args.by)
    if len(comp.groups) < 2:
        unwritten = " and ".join(o for o in (args.csv, args.plot) if o)
        raise UserError(f"only one group ({comp.groups[0]}, {len(comp.animals)} animal(s)): "
                        f"nothing to compare; give files of two or more groups (--by KEY, "
                        f"--group FILE=NAME)" + (f"; {unwritten} not written" if unwritten else ""))
    if args.csv:
        try:
            write_csv(comp, args.csv)
        except OSError as exc:
            raise UserError(f"cannot write {args.csv}: {exc.strerror or exc}") from exc
    if args.plot:
        from app.plots import plot_group_force_frequency
        if plot_group_force_frequency(comp, args.plot) is None:
            print(f"myoforce {NAME}: no force-frequency data to plot", file=sys.stderr)
    return 1 if failed else 0


def _label(p) -> str:
    return f"{p.label}{' (' + p.unit + ')' if p.unit else ''}"


def _ci(pair: tuple[float, float], digits: int = 3) -> str:
    return f"[{fmt(pair[0], digits)}, {fmt(pair[1], digits)}]"


def _print_pair(con, comp, a: str, b: str, adj: str) -> None:
    """One pair of groups as two tables, estimates then tests, so that each fits an
    80-column terminal without cutting a number or an interval."""
    from rich.table import Table

    from app.compare import PARAMETERS

    est = Table(title=f"{b} − {a}: difference [95 % CI], Hedges' g [95 % CI]",
                title_justify="left")
    tests = Table(title=f"{b} − {a}: Welch t (df), p ({adj}), Mann–Whitney U, p ({adj})",
                  title_justify="left")
    for table, cols in ((est, ("outcome", "difference [95 % CI]", "Hedges' g [95 % CI]")),
                        (tests, ("outcome", "Welch t (df)", "p", "p adj", "U", "p MW",
                                 "p MW adj"))):
        for col in cols:
            table.add_column(col, justify="left" if col == "outcome" else "right",
                             no_wrap=col != "outcome")
    for p in PARAMETERS:
        x = comp.test(p.key, a, b)
        est.add_row(_label(p), f"{fmt(x.difference, 3)} {_ci(x.difference_ci)}",
                    f"{fmt(x.hedges_g, 2)} {_ci(x.hedges_g_ci, 2)}")
        tests.add_row(_label(p), f"{fmt(x.t, 2)} ({fmt(x.df, 1)})", fmt(x.p_welch, 3),
                      fmt(x.p_welch_holm, 3) if comp.holm else "–", fmt(x.u, 1),
                      fmt(x.p_mann_whitney, 3) + ("" if x.mann_whitney_exact or not
                                                  math.isfinite(x.u) else " (approx.)"),
                      fmt(x.p_mann_whitney_holm, 3) if comp.holm else "–")
    con.print(est)
    con.print(tests)


def _stat_cell(s) -> str:
    flag = f" [{s.flagged} flagged]" if s.flagged else ""
    return (f"{fmt(s.mean)} ± {fmt(s.sd, 3)}, {fmt(s.sem, 2)} ({s.n})" if s.n
            else "– (0)") + flag


def _column_runs(widths: list[int], room: int) -> list[list[int]]:
    """Column indices in runs whose widths add up to at most ``room`` (at least one
    column per run): more groups than fit beside each other go into further tables."""
    runs: list[list[int]] = [[]]
    used = 0
    for i, w in enumerate(widths):
        if runs[-1] and used + w > room:
            runs.append([])
            used = 0
        runs[-1].append(i)
        used += w
    return runs


def _print_group_table(con, comp, by: str) -> None:
    """Per group and outcome: mean ± SD, SEM (n); as many tables as it takes for every
    cell to fit the terminal whole (two groups per table at 80 columns)."""
    from rich.table import Table

    from app.compare import PARAMETERS

    heads = [f"{g} (N={len(comp.members[g])})" for g in comp.groups]
    cells = {p.key: [_stat_cell(comp.stat(p.key, g)) for g in comp.groups] for p in PARAMETERS}
    widths = [max(len(h), *(len(cells[p.key][i]) for p in PARAMETERS)) + 3
              for i, h in enumerate(heads)]
    room = con.width - max(len(_label(p)) for p in PARAMETERS) - 5
    for run in _column_runs(widths, room):
        t = Table(title=f"by {by}, one value per animal ({comp.unit_key}): mean ± SD, SEM (n)",
                  title_justify="left")
        t.add_column("outcome")
        for i in run:
            t.add_column(heads[i], justify="right", no_wrap=True)
        for p in PARAMETERS:
            t.add_row(_label(p), *(cells[p.key][i] for i in run))
        con.print(t)


def print_comparison(comp, by: str) -> None:
    from rich.table import Table

    con = console()
    _print_group_table(con, comp, by)
    adj = "Holm" if comp.holm else "unadjusted"
    pairs = list(dict.fromkeys((x.group_a, x.group_b) for x in comp.tests))
    for a, b in pairs:
        _print_pair(con, comp, a, b, adj)
    if comp.force_frequency:
        ff = Table(title="force-frequency (force / session maximum): mean ± SEM (n animals)",
                   title_justify="left")
        ff.add_column("Hz", justify="right")
        for g in comp.groups:
            ff.add_column(g, justify="right")
        freqs = sorted({p.frequency_hz for p in comp.force_frequency})
        for f in freqs:
            row = [fmt(f)]
            for g in comp.groups:
                pt = next((p for p in comp.force_frequency
                           if p.group == g and p.frequency_hz == f), None)
                row.append(f"{pt.mean:.3f} ± {fmt(pt.sem, 2)} ({pt.n})" if pt else "–")
            ff.add_row(*row)
        con.print(ff)
    for note in comp.notes:
        con.print(hanging(f"note: {note}", 6, con.width), markup=False, highlight=False)
    con.print("Tests are two-sided; " + ("p adj: Holm across the outcomes of each pair "
                                         "of groups." if comp.holm else
                                         "p-values are not adjusted for multiple comparisons."))


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        NAME, help="compare groups per animal: mean ± SD/SEM, difference and Hedges' g with "
             "95 % CI, Welch t, exact Mann-Whitney U, Holm-adjusted p",
        description="Analyse sessions and compare groups (treatment vs vehicle...).")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="recording files (.h5, .nwb, .ddf, .csv)")
    p.add_argument("--by", default="group", metavar="KEY",
                   help="session metadata key that names the group [group]")
    p.add_argument("--group", action="append", default=[], metavar="FILE=NAME",
                   help="assign FILE to group NAME (overrides its metadata); repeatable")
    p.add_argument("--unit", default="subject_id", metavar="KEY",
                   help="metadata key naming the animal (the experimental unit); several "
                        "files of one animal are averaged [subject_id]")
    p.add_argument("--holm", action=argparse.BooleanOptionalAction, default=True,
                   help="Holm-adjust p-values across the outcomes of each pair [on]")
    p.add_argument("--exclude-flagged", action="store_true",
                   help="leave out values that carry a quality flag (they are counted "
                        "either way; codes: docs/analysis.md)")
    p.add_argument("--json", action="store_true", help="print the comparison as one JSON object")
    p.add_argument("--csv", metavar="OUT.csv", help="write the comparison to a CSV file")
    p.add_argument("--plot", metavar="OUT.png",
                   help="write the force-frequency curves per group as a PNG")
    add_batch_options(p)
    add_analysis_options(p)
    p.set_defaults(func=run)
