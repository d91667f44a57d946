"""``myoforce study ...``: manage a study folder (docs/study.md).

    myoforce study init DIR --title "..." [--timepoints baseline,week-4]
    myoforce study add R07 --sex male --body-mass-g 312 [--dob 2026-08-01] --study DIR
    myoforce study import animals.csv --study DIR
    myoforce study mass R07 318.5 [--date 2026-11-02] --study DIR
    myoforce study dose [DIR] [--date YYYY-MM-DD]
    myoforce study randomise [DIR] [--seed N] [--animals R01,R02]
    myoforce study status [DIR]
    myoforce study exclude R07 --reason "..." --study DIR
    myoforce study unblind [DIR] --reason "..." [--yes]
    myoforce study report [DIR] --out report.html

The logic lives in ``app.study``; this module parses, prints and asks.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.terminal import console, fmt, hanging
from app.errors import UserError

NAME = "study"


def _study(args: argparse.Namespace):
    from app.study import load_study
    return load_study(getattr(args, "dir", None) or args.study)


def cmd_init(args: argparse.Namespace) -> int:
    from app.study.operations import init_study
    tps = [t.strip() for t in args.timepoints.split(",")] if args.timepoints else None
    study = init_study(Path(args.dir), args.title, tps)
    print(f"study created in {study.root}")
    print(f"next: edit {study.root / 'study.toml'}, then add animals:\n"
          f"  myoforce study add ID ... --study {study.root}\n"
          f"  myoforce study import FILE.csv --study {study.root}")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from app.study.animals import validate_animal
    from app.study.operations import add_animals, parse_day
    study = _study(args)
    values = {"id": args.animal, "sex": args.sex, "date_of_birth": args.dob,
              "age_weeks": args.age_weeks, "arrival": args.arrival}
    values = {k: v for k, v in values.items() if v is not None}
    if args.body_mass_g is not None:
        values["body_mass"] = [{"date": parse_day(args.arrival).isoformat(),
                                "g": args.body_mass_g}]
    add_animals(study, [validate_animal(values, f"animal {args.animal}")])
    print(f"added {args.animal} to {study.root}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from app.study.operations import import_animals
    study = _study(args)
    animals = import_animals(study, Path(args.csv))
    print(f"imported {len(animals)} animals from {args.csv}: "
          f"{', '.join(a.id for a in animals)}")
    return 0


def cmd_mass(args: argparse.Namespace) -> int:
    from app.study.operations import parse_day, record_mass
    study = _study(args)
    day = parse_day(args.date)
    record_mass(study, args.animal, args.grams, day)
    print(f"{args.animal}: {args.grams:g} g on {day}")
    return 0


def cmd_dose(args: argparse.Namespace) -> int:
    from rich.table import Table

    from app.study.operations import dose_rows, parse_day
    study = _study(args)
    day = parse_day(args.date)
    d = study.design
    frac, src = d.compound.mg_fraction()
    mm = d.compound.molar_mass()
    con = console()
    con.print(hanging(f"{d.compound.name}: M = {fmt(mm, 5)} g/mol, Mg {100 * frac:.3f} % "
                      f"({src}); dose {d.dose.amount_mg_per_kg_per_day:g} mg/kg/day as "
                      f"{'elemental Mg' if d.dose.basis == 'elemental_mg' else 'salt'}, "
                      f"{d.dose.route}", 2, con.width), markup=False)
    who = ("blinded: one group gets the compound (the allocation key says which), the "
           "others the same volume of carrier" if study.blinded else
           f"group '{d.dose.group}' gets the compound; the others the same volume of carrier")
    t = Table(title=f"per animal and day, on {day}, for its latest body mass",
              title_justify="left")
    for col in ("animal", "group", "body mass g", "weighed", "salt mg", "Mg mg", "Mg mmol"):
        t.add_column(col, justify="left" if col in ("animal", "group") else "right")
    for r in dose_rows(study, day):
        if r.dose is None:
            t.add_row(r.animal, r.label or "–", "no mass", "–", "–", "–", "–")
            continue
        if not study.blinded and r.label is not None and r.label != d.dose.group:
            # unblinded: a carrier-only animal gets no compound; never print an amount
            t.add_row(r.animal, r.label, f"{r.dose.body_mass_g:g}", str(r.mass_date),
                      "carrier", "0", "0")
            continue
        t.add_row(r.animal, r.label or "–", f"{r.dose.body_mass_g:g}", str(r.mass_date),
                  f"{r.dose.salt_mg:.2f}", f"{r.dose.mg_mg:.3f}", f"{r.dose.mg_mmol:.4f}")
    con.print(t)
    con.print(hanging(who, 2, con.width), markup=False)
    return 0


def cmd_randomise(args: argparse.Namespace) -> int:
    from app.study.operations import randomise
    study = _study(args)
    ids = [a.strip() for a in args.animals.split(",")] if args.animals else None
    new = randomise(study, ids, args.seed)
    run = study.runs[-1]
    print(f"allocated {len(new)} animals ({run['method']}"
          f"{', block size ' + str(run['block_size']) if run['method'] == 'block' else ''}"
          f"{', stratified by sex' if run['stratify_by_sex'] else ''}; seed {run['seed']})")
    for aid in new:
        print(f"  {aid}: {study.label(aid)}")
    if study.blinded:
        print("blinded: groups are shown as codes until 'myoforce study unblind'")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from rich.table import Table

    from app.study.operations import status_rows
    study = _study(args)
    rows = status_rows(study)
    tps = study.design.timepoints
    t = Table(title=f"{study.design.title} ({'blinded' if study.blinded else 'unblinded'})",
              title_justify="left")
    for col in ("animal", "sex", "mass g", "group", *tps, "excluded"):
        t.add_column(col)
    missing = 0
    for r in rows:
        cells = []
        for tp in tps:
            n = r["sessions"][tp]
            if n == 0 and r["excluded"] is None and r["group"] is not None:
                missing += 1
            cells.append("missing" if n == 0 else ("✓" if n == 1 else f"✓ ×{n}"))
        ex = r["excluded"]
        t.add_row(r["animal"], r["sex"] or "–", fmt(r["body_mass_g"]), r["group"] or
                  "not allocated", *cells, f"{ex.time:%Y-%m-%d}" if ex else "")
    con = console()
    con.print(t)
    for r in rows:
        if r["excluded"] is not None:
            con.print(f"excluded {r['animal']} on {r['excluded'].time:%Y-%m-%d %H:%M} UTC: "
                      f"{r['excluded'].reason}", markup=False)
    allocated = sum(1 for r in rows if r["group"])
    excluded = sum(1 for r in rows if r["excluded"])
    con.print(f"{len(rows)} animals, {allocated} allocated, {excluded} excluded, "
              f"{missing} session(s) missing", markup=False)
    return 0


def cmd_exclude(args: argparse.Namespace) -> int:
    from app.study.operations import exclude
    study = _study(args)
    ex = exclude(study, args.animal, args.reason)
    print(f"excluded {args.animal} at {ex.time:%Y-%m-%d %H:%M} UTC: {ex.reason}")
    return 0


def cmd_unblind(args: argparse.Namespace) -> int:
    from app.study.operations import unblind
    study = _study(args)
    if not args.yes:
        if not sys.stdin or not sys.stdin.isatty():
            raise UserError("unblinding needs confirmation: run on a terminal or pass --yes")
        answer = input(f"Unblind '{study.design.title}' for everyone? This is recorded and "
                       f"cannot be undone. Type 'unblind' to confirm: ")
        if answer.strip() != "unblind":
            print("not unblinded")
            return 1
    entry = unblind(study, args.reason)
    print(f"unblinded at {entry['time']} ({entry['reason']})")
    for aid in sorted(study.codes):
        print(f"  {aid}: group {study.codes[aid]} = {study.true_group(aid)}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from app.cli.analysis_options import config_from_args
    from app.study.report import build_report
    cfg = config_from_args(args)
    study = _study(args)
    out = build_report(study, Path(args.out), cfg=cfg, use_cache=not args.no_cache)
    print(f"report: {out.html}")
    for p in out.exports:
        print(f"export: {p}")
    for line in out.problems:
        print(f"note: {line}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(NAME, help="manage a study: animals, randomisation, blinding, "
                                         "doses, status, report",
                              description="Manage a study folder (docs/study.md).")
    sub = p.add_subparsers(dest="study_command", metavar="SUBCOMMAND", required=True)

    def cmd(name: str, func, help_text: str, dir_positional: bool = True,
            aliases: tuple[str, ...] = ()):
        q = sub.add_parser(name, help=help_text, description=help_text, aliases=list(aliases))
        if dir_positional:
            q.add_argument("dir", nargs="?", metavar="DIR", help="study folder [--study or .]")
        q.add_argument("--study", default=".", metavar="DIR", help="study folder [.]")
        q.set_defaults(func=func)
        return q

    q = sub.add_parser("init", help="create a study folder with a template study file")
    q.add_argument("dir", metavar="DIR", help="the new study folder")
    q.add_argument("--title", default="Magnesium aspartate dihydrate and skeletal muscle function in rats",
                   help="study title (keep group names out of it) [the Mg aspartate study]")
    q.add_argument("--timepoints", metavar="A,B,...", help="e.g. baseline,week-4 [terminal]")
    q.set_defaults(func=cmd_init)
    q = cmd("add", cmd_add, "add one animal", dir_positional=False)
    q.add_argument("animal", metavar="ID", help="the animal's ID, e.g. R07")
    q.add_argument("--sex", choices=["male", "female"])
    q.add_argument("--dob", metavar="YYYY-MM-DD", help="date of birth")
    q.add_argument("--age-weeks", type=float, metavar="N", help="age at arrival, weeks")
    q.add_argument("--arrival", metavar="YYYY-MM-DD", help="arrival date [today]")
    q.add_argument("--body-mass-g", type=float, metavar="G", help="body mass at arrival, g")
    q = cmd("import", cmd_import, "import animals from a CSV file", dir_positional=False)
    q.add_argument("csv", metavar="ANIMALS.csv",
                   help="columns: id, sex, date_of_birth or age_weeks, body_mass_g, arrival")
    q = cmd("mass", cmd_mass, "record an animal's body mass", dir_positional=False)
    q.add_argument("animal", metavar="ID", help="the animal's ID")
    q.add_argument("grams", type=float, metavar="G", help="body mass in g")
    q.add_argument("--date", metavar="YYYY-MM-DD", help="weighing date [today]")
    q = cmd("dose", cmd_dose, "daily salt and elemental Mg per animal for its body mass")
    q.add_argument("--date", metavar="YYYY-MM-DD", help="for this day's masses [today]")
    q = cmd("randomise", cmd_randomise, "allocate the unallocated animals to groups",
            aliases=("randomize",))
    q.add_argument("--seed", type=int, metavar="N", help="random seed [study file, or drawn]")
    q.add_argument("--animals", metavar="ID,ID", help="only these animals")
    cmd("status", cmd_status, "every animal: group, exclusions, sessions per timepoint")
    q = cmd("exclude", cmd_exclude, "exclude an animal, with the reason", dir_positional=False)
    q.add_argument("animal", metavar="ID", help="the animal's ID")
    q.add_argument("--reason", required=True, help="why (recorded, and listed in the report)")
    q = cmd("unblind", cmd_unblind, "reveal the groups (recorded with time and reason)")
    q.add_argument("--reason", required=True, help="why now (recorded with the time)")
    q.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    q = cmd("report", cmd_report, "write the HTML report and CSV/XLSX exports")
    q.add_argument("--out", required=True, metavar="REPORT.html",
                   help="the report; REPORT-animals.csv, REPORT-contractions.csv and "
                        "REPORT.xlsx are written beside it")
    q.add_argument("--no-cache", action="store_true",
                   help="analyse every session again (and redraw every figure)")
    from app.cli.analysis_options import add_analysis_options
    add_analysis_options(q)
