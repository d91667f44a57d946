"""Tidy exports of a study for Prism, R or Excel: one row per animal × timepoint, one
row per contraction; CSV files and one XLSX workbook (openpyxl) with those sheets plus
the group statistics and the list of excluded animals. Group names are as operators may
see them (codes while blinded). Excluded animals' numbers are in none of them: they are
left out by :func:`app.study.results.study_results`, and only listed (sheet ``excluded``).
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from app.analysis.results import TRIAL_KEYS
from app.compare import PARAMETERS, comparison_rows
from app.study.results import StudyResults, changes_from_baseline

ANIMAL_COLUMNS = ("animal", "group", "timepoint", "sex", "body_mass_g", "files",
                  *(p.key for p in PARAMETERS))
CONTRACTION_COLUMNS = ("animal", "group", "timepoint", "file", *TRIAL_KEYS)


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def animal_rows(res: StudyResults) -> list[dict[str, Any]]:
    rows = []
    for tp in res.timepoints:
        for a in tp.animals:
            animal = res.study.animals[a.id]
            metas = [r.metadata for ref, r in res.sessions
                     if ref.animal == a.id and ref.timepoint == tp.name]
            mass = next((m.get("body_mass_g") for m in metas if m.get("body_mass_g")), None)
            rows.append({"animal": a.id, "group": a.group, "timepoint": tp.name,
                         "sex": animal.sex, "body_mass_g": mass, "files": len(a.files),
                         **{p.key: _clean(a.values.get(p.key)) for p in PARAMETERS}})
    return rows


def contraction_rows(res: StudyResults) -> list[dict[str, Any]]:
    rows = []
    for ref, r in res.sessions:
        for t in r.trials:
            d = t.to_dict()
            rows.append({"animal": ref.animal, "group": res.group_of(ref.animal),
                         "timepoint": ref.timepoint,
                         "file": str(ref.path.relative_to(res.study.root)),
                         **{k: d.get(k) for k in TRIAL_KEYS}})
    return rows


def group_rows(res: StudyResults) -> list[dict[str, Any]]:
    rows = []
    for tp in res.timepoints:
        if tp.comparison is None:
            continue
        for row in comparison_rows(tp.comparison):
            if row["kind"] in ("summary", "test"):
                rows.append({"timepoint": tp.name, **{k: _clean(v) for k, v in row.items()}})
    return rows


EXCLUDED_COLUMNS = ("animal", "group", "excluded_utc", "reason", "sessions_left_out")


def excluded_rows(res: StudyResults) -> list[dict[str, Any]]:
    """Every excluded animal, with when and why, and how many of its sessions were left
    out: listed, never measured (no outcome column)."""
    rows = []
    for aid, a in sorted(res.study.animals.items()):
        if a.excluded is not None:
            rows.append({"animal": aid, "group": res.group_of(aid),
                         "excluded_utc": f"{a.excluded.time:%Y-%m-%d %H:%M}",
                         "reason": a.excluded.reason,
                         "sessions_left_out": sum(1 for r in res.excluded_sessions
                                                  if r.animal == aid)})
    return rows


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: "" if r.get(k) is None else r.get(k) for k in columns})


def write_exports(res: StudyResults, stem: Path) -> list[Path]:
    """``<stem>-animals.csv``, ``<stem>-contractions.csv`` and ``<stem>.xlsx`` (sheets
    animals, contractions, groups, changes — from the first timepoint, per animal —
    and excluded: the animals excluded from the study, with when and why; none of their
    numbers is in any other sheet or file)."""
    from openpyxl import Workbook

    animals, contractions, groups = animal_rows(res), contraction_rows(res), group_rows(res)
    group_cols = tuple(dict.fromkeys(k for r in groups for k in r))
    changes = [{k: _clean(v) for k, v in r.items()} for r in changes_from_baseline(res)]
    change_cols = ("timepoint", "animal", "group", "parameter", "change", "percent")
    paths = [stem.with_name(stem.name + "-animals.csv"),
             stem.with_name(stem.name + "-contractions.csv"), stem.with_suffix(".xlsx")]
    _write_csv(paths[0], ANIMAL_COLUMNS, animals)
    _write_csv(paths[1], CONTRACTION_COLUMNS, contractions)
    wb = Workbook(write_only=True)          # streamed rows: several times faster to save
    for title, cols, rows in (("animals", ANIMAL_COLUMNS, animals),
                              ("contractions", CONTRACTION_COLUMNS, contractions),
                              ("groups", group_cols, groups),
                              ("changes", change_cols, changes),
                              ("excluded", EXCLUDED_COLUMNS, excluded_rows(res))):
        ws = wb.create_sheet(title)
        ws.freeze_panes = "A2"
        ws.append(list(cols))
        for r in rows:
            ws.append([_xl(r.get(k)) for k in cols])
    wb.save(paths[2])
    return paths


def _xl(v: Any) -> Any:
    if isinstance(v, (list, dict, tuple)):
        return str(v)
    return v
