"""``myoforce analyze FILE... [--json] [--csv OUT.csv] [analysis options]``.

Analyses myoforce ``.h5`` sessions, ``.nwb`` files myoforce exported, Aurora ``.ddf`` and ``.csv`` recordings. Prints a
compact table per file that fits 80 columns (``--wide``: every measure) (or, with ``--json``, exactly one JSON object per input file per line:
``SessionResult.to_dict()`` with NaN as null; a file that could not be read gives an
object whose ``summary.error`` says why). A failing file gets one line on stderr and
the other files are still analysed; the exit code is 1 if any file failed. A file of
an animal excluded from its study (:mod:`app.study.membership`) is analysed as asked
and marked: a line on stderr, the reason in the CSV column ``excluded`` and the JSON key
``excluded``.

The analysis options are generated from :class:`app.analysis.AnalysisConfig`, and
shared with ``compare``, ``plot``, ``export`` and ``study`` through
:mod:`app.cli.analysis_options`.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any, Collection, Iterator

from app.cli.analysis_options import (add_analysis_options, add_batch_options, batch_options,
                                      config_from_args)
from app.cli.terminal import console, fmt
from app.errors import UserError
from app.paths import check_output_file, same_file
from app.precision import round_row

NAME = "analyze"


# ----------------------------------------------------------------- output
def print_session(con, res) -> None:
    from rich.table import Table

    md = res.metadata
    from rich.markup import escape

    from app.terminal import printable
    who = printable(", ".join(f"{k} {md[k]}" for k in ("group", "subject_id", "muscle") if md.get(k)))
    table = Table(title=escape(printable(f"{res.file} ({res.format}{'; ' + who if who else ''})")),
                  title_justify="left", show_lines=False, pad_edge=False)
    cols = [("#", "index"), ("kind", "kind"), ("step", "step"), ("f Hz", "frequency_hz"),
            ("n", "pulses"), ("Pt/Po mN", "peak_force_mN"), ("TPT ms", "time_to_peak_ms"),
            ("½RT ms", "half_relaxation_ms"), ("10-90 ms", "rise_time_10_90_ms"),
            ("lat ms", "latency_ms"), ("+dF/dt mN/s", "max_dfdt_mN_per_s"),
            ("-dF/dt mN/s", "min_dfdt_mN_per_s"), ("FTI mN·s", "force_time_integral_mN_s"),
            ("fusion", "fusion_index")]
    for head, _ in cols:
        table.add_column(head, justify="right" if head not in ("kind", "step") else "left")
    table.add_column("flags")
    table.add_column("error / notes", overflow="fold")
    for t in res.trials:
        row = []
        for _, key in cols:
            v = getattr(t, key)
            row.append(fmt(v, 6 if key.endswith("_mN_per_s") else 4))
        row.append(flag_cell(t))
        row.append(f"[red]{t.error}[/red]" if t.error else notes_cell(t))
        table.add_row(*row)
    con.print(table)
    s = res.summary
    if s.get("error"):
        con.print(f"[red]error: {s['error']}[/red]")
        return
    from app.cli.analysis_table import summary_lines
    con.print("[bold]summary[/bold]")
    for line in summary_lines(s):
        con.print(line)
    for note in s.get("notes", []):
        con.print(f"  note: {note}")
    con.print()


def flag_cell(t) -> str:
    """The trial's flag codes for a table cell ('' when none; refusals in red)."""
    codes = [f"[red]{f.code}[/red]" if f.rule.how == "refused" else f"[yellow]{f.code}[/yellow]"
             for f in t.flags]
    return " ".join(codes)


def notes_cell(t, skip: Collection[str] = ()) -> str:
    """Flag texts (of flags that kept the measures, except codes in ``skip``) then
    notes, for the notes column."""
    return "; ".join([f.text for f in t.flags if f.rule.how == "kept" and f.code not in skip]
                     + list(t.notes))


def trial_rows(res, excluded: str = "") -> Iterator[dict[str, Any]]:
    from app.analysis.results import TRIAL_KEYS
    md = res.metadata
    for t in res.trials:
        d = t.to_dict()
        row = {"file": res.file, "format": res.format, "group": md.get("group", ""),
               "subject_id": md.get("subject_id", ""), "muscle": md.get("muscle", "")}
        row.update({k: "" if d[k] is None else d[k] for k in TRIAL_KEYS})
        row["flags"] = ";".join(t.flag_codes)
        row["flag_texts"] = " | ".join(f.text for f in t.flags)
        row["notes"] = "; ".join(t.notes)
        row["excluded"] = excluded
        yield round_row(row)


SUMMARY_KEYS = ("n_trials", "n_twitches", "n_tetani", "n_failed", "n_flagged", "pt_mN",
                "pt_sd_mN", "pt_n", "tpt_ms", "tpt_sd_ms", "half_relaxation_ms",
                "half_relaxation_sd_ms", "contraction_time_ms", "rfd_10_90_mN_per_s",
                "dfdt_per_peak_per_s", "ptp_ratio", "po_mN", "po_frequency_hz",
                "po_trial", "po_flags", "po_time_to_90pct_ms", "pt_po_ratio", "fmin_mN", "fmax_mN", "f50_hz",
                "sigmoid_midpoint_hz", "hill_slope", "fatigue_index", "fatigue_time_to_50pct_s",
                "specific_force_N_per_cm2", "csa_mm2", "muscle_mass_mg", "muscle_length_mm",
                "excluded_trials", "error")


def summary_row(res, excluded: str = "") -> dict[str, Any]:
    from app.analysis.results import jsonable
    md, s = res.metadata, jsonable(res.summary)
    row = {"file": res.file, "format": res.format or "", "group": md.get("group", ""),
           "subject_id": md.get("subject_id", ""), "muscle": md.get("muscle", "")}
    row.update({k: "" if s.get(k) is None else s.get(k) for k in SUMMARY_KEYS})
    row["po_flags"] = ";".join(s.get("po_flags") or [])
    # trials a researcher excluded: their indices (the reasons: trial CSV flag_texts, JSON)
    row["excluded_trials"] = ";".join(str(e["trial"]) for e in s.get("excluded_trials") or [])
    row["excluded"] = excluded
    return round_row(row)


def write_rows(path: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        rows = []
    try:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            fields = list(rows[0]) if rows else ["file"]
            w = csv.DictWriter(fh, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _exclusion(studies: Any, path: str, metadata: dict[str, Any]) -> str:
    """Why the file's animal is excluded from its study ('' if it is not); a study
    folder that cannot be read is said, and the file is still analysed."""
    try:
        return studies.exclusion(path, metadata) or ""
    except UserError as exc:
        print(f"myoforce {NAME}: {path}: its study could not be read, so whether its "
              f"animal is excluded is not known ({exc})", file=sys.stderr)
        return ""


# ----------------------------------------------------------------- command
def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    for option in ("csv", "summary_csv"):
        name = getattr(args, option)
        if name:
            check_output_file(name, what=f"--{option.replace('_', '-')} file", inputs=args.files,
                              devices=True)
    if args.csv and args.summary_csv and (args.csv == args.summary_csv
                                          or same_file(args.csv, args.summary_csv)):
        raise UserError(f"--csv and --summary-csv both name {args.csv}; give two files")
    con = None if args.json else console(args.wide)
    failed = 0
    trials: list[dict[str, Any]] = []
    summaries: list[dict[str, Any]] = []
    from app.batch import analyze_many
    from app.study.membership import StudyLookup
    studies = StudyLookup()

    for outcome in analyze_many(args.files, cfg, **batch_options(args)):
        path, res, err = outcome.path, outcome.result, outcome.error
        if err:
            failed += 1
            print(f"myoforce {NAME}: {err}", file=sys.stderr)
        excluded = "" if err else _exclusion(studies, path, res.metadata)
        if excluded:              # analysed as asked, and marked in every output
            print(f"myoforce {NAME}: {path}: {excluded}: its numbers are not part of the "
                  f"study's analysis", file=sys.stderr)
        if args.json:
            d = res.to_dict() | ({"excluded": excluded} if excluded else {})
            sys.stdout.write(json.dumps(d, allow_nan=False) + "\n")
            sys.stdout.flush()
        elif res.trials or not err:
            if args.wide:
                print_session(con, res)
            else:
                from app.cli.analysis_table import print_compact
                print_compact(con, res, flag_cell, notes_cell)
        if res.trials:
            bad = sum(1 for t in res.trials if t.error)
            if bad and not err:
                where = ("'error' of each trial" if args.json else "the error column"
                         if args.wide else "the reasons under the table")
                print(f"myoforce {NAME}: {path}: {bad} of {len(res.trials)} trial(s) could not "
                      f"be measured (see {where})", file=sys.stderr)
        trials.extend(trial_rows(res, excluded))
        summaries.append(summary_row(res, excluded))
    if args.csv:
        write_rows(args.csv, trials)
    if args.summary_csv:
        write_rows(args.summary_csv, summaries)
    return 1 if failed else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        NAME, help="analyse twitches and tetani (Pt, TPT, ½RT, Po, force-frequency...)",
        description="Analyse recordings (.h5 myoforce sessions, .nwb files myoforce "
                    "exported, .ddf Aurora DMC, .csv time_s,force_mN,stim). Definitions: "
                    "docs/analysis.md.")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="recording files (.h5, .nwb, .ddf, .csv)")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per input file per line (NaN as null)")
    p.add_argument("--wide", action="store_true",
                   help="every measure in the table (about 170 columns); default: the key "
                        "measures in 80 columns")
    p.add_argument("--csv", metavar="OUT.csv", help="write every trial's measures to a CSV file")
    p.add_argument("--summary-csv", metavar="OUT.csv",
                   help="write one summary row per file to a CSV file")
    add_batch_options(p)
    p.add_argument("--meta", action="append", metavar="KEY=VALUE",
                   help="session metadata for files that lack it (DDF, CSV), e.g. "
                        "--meta muscle_mass_mg=160 --meta muscle_length_mm=35; .h5 sessions: "
                        "prefer 'myoforce annotate', which stores it in the file")
    add_analysis_options(p)
    p.set_defaults(func=run)
