"""``myoforce study report``: one self-contained HTML file (jinja2; figures embedded as
base64 PNG) and tidy CSV/XLSX exports beside it.

Blinded or unblinded as the study is: while blinded every group appears as its neutral
code. Sections: ARRIVE Essential 10, animal flow, group and per-animal tables per
timepoint (from :mod:`app.compare`), figures (each animal a point over the group mean
± SD; force–frequency and fatigue curves), change from baseline, the methods paragraph,
and every problem (missing, excluded, failed, mismatched sessions) listed.
"""
from __future__ import annotations

import base64
import contextlib
import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from app import __version__
from app.analysis.config import AnalysisConfig
from app.compare import PARAMETERS
from app.errors import UserError
from app.paths import check_output_file
from app.study import figures
from app.study.arrive import arrive_items, methods_paragraph
from app.study.exports import animal_rows, write_exports
from app.study.folder import Study
from app.study.membership import exclusion_text
from app.study.results import StudyResults, changes_from_baseline, study_results


@dataclass
class ReportOutput:
    html: Path
    exports: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    results: StudyResults | None = None


def _num(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, float):
        if abs(v) >= 10 ** digits:                  # no exponent for large numbers
            return f"{v:.0f}"
        return f"{v:.{digits}g}"
    return str(v)


def _p(v: float) -> str:
    if not math.isfinite(v):
        return "–"
    return "< 0.001" if v < 0.001 else f"{v:.3f}"


def _img(png: bytes | None) -> str | None:
    return None if png is None else "data:image/png;base64," + base64.b64encode(png).decode()


def problems(res: StudyResults) -> list[str]:
    """Every session not in the analysis, and why."""
    out = [f"{a} at {tp}: no session recorded" for a, tp in res.missing]
    out += [f"{r.path.relative_to(res.study.root)}: left out, animal {r.animal} excluded "
            f"({exclusion_text(res.study.animals[r.animal].excluded)})"
            for r in res.excluded_sessions]
    out += [f"{r.path.relative_to(res.study.root)}: not analysed ({why})" for r, why in res.failed]
    out += [f"{r.path.relative_to(res.study.root)}: the file's subject is {s!r}, not "
            f"{r.animal}; left out" for r, s in res.subject_mismatch]
    return out


def excluded_trials(res: StudyResults) -> list[str]:
    """Trials a researcher left out of an analysed session's numbers (``myoforce
    annotate --exclude-trial``), with the reason: in the analysis as excluded, so listed."""
    return [f"{ref.path.relative_to(res.study.root)}: trial {e['trial']} ({e['kind']}) "
            f"excluded: {e['reason']}"
            for ref, r in res.sessions for e in (r.summary.get("excluded_trials") or [])]


def flow(res: StudyResults) -> list[dict[str, Any]]:
    """Per group (as operators see it): allocated, excluded with reasons, analysed."""
    s = res.study
    rows = []
    for g in s.group_labels():
        ids = [a for a in s.codes if s.label(a) == g]
        excl = [s.animals[a] for a in ids if s.animals[a].excluded is not None]
        analysed = {tp.name: sum(1 for a in tp.animals if a.group == g) for tp in res.timepoints}
        rows.append({"group": g, "allocated": len(ids),
                     "excluded": [f"{a.id}: {a.excluded.reason}" for a in excl],
                     "analysed": analysed})
    return rows


def group_table(comp) -> list[dict[str, Any]]:
    rows = []
    pairs = list(dict.fromkeys((t.group_a, t.group_b) for t in comp.tests))
    for p in PARAMETERS:
        cells = []
        for g in comp.groups:
            st = comp.stat(p.key, g)
            cells.append((f"{_num(st.mean, 4)} ± {_num(st.sd)} ({_num(st.sem, 2)}); n = {st.n}"
                          if st.n else "–; n = 0")
                         + (f"; {st.flagged} flagged" if st.flagged else ""))
        tests = []
        for a, b in pairs:
            t = comp.test(p.key, a, b)
            tests.append({
                "difference": f"{_num(t.difference)} [{_num(t.difference_ci[0])}, "
                              f"{_num(t.difference_ci[1])}]",
                "g": f"{_num(t.hedges_g, 2)} [{_num(t.hedges_g_ci[0], 2)}, "
                     f"{_num(t.hedges_g_ci[1], 2)}]",
                "welch": (f"t({_num(t.df, 3)}) = {_num(t.t, 3)}" if math.isfinite(t.t) else "–"),
                "p": _p(t.p_welch), "p_adj": _p(t.p_welch_holm),
                "mw": f"U = {_num(t.u)}" if math.isfinite(t.u) else "–",
                "p_mw": _p(t.p_mann_whitney), "p_mw_adj": _p(t.p_mann_whitney_holm),
                "note": t.note})
        rows.append({"label": f"{p.label}" + (f" ({p.unit})" if p.unit else ""),
                     "cells": cells, "tests": tests})
    return rows


def change_table(rows: list[dict[str, Any]], timepoints: list[str], groups: list[str]
                 ) -> list[dict[str, Any]]:
    """Per later timepoint and outcome: per group the mean ± SD change from the first
    timepoint (n animals measured at both), and the mean % change."""
    from app.statistics import describe
    out = []
    for tp in timepoints[1:]:
        for p in PARAMETERS:
            cells = []
            for g in groups:
                sel = [r for r in rows if r["timepoint"] == tp and r["parameter"] == p.key
                       and r["group"] == g]
                d = describe([r["change"] for r in sel])
                pct = describe([r["percent"] for r in sel if math.isfinite(r["percent"])])
                cells.append(f"{_num(d.mean)} ± {_num(d.sd)} ({_num(pct.mean, 2)} %); "
                             f"n = {d.n}" if d.n else "–")
            out.append({"timepoint": tp, "label": p.label + (f" ({p.unit})" if p.unit else ""),
                        "cells": cells})
    return out


def _fatigue_data(res: StudyResults, tp: str) -> tuple[dict, dict]:
    curves: dict[str, list[list[float]]] = {}
    recovery: dict[str, list[float]] = {}
    for g in res.study.group_labels():
        curves[g], recovery[g] = [], []
    for ref, r in res.sessions:
        if ref.timepoint != tp:
            continue
        g = res.group_of(ref.animal)
        fat = r.summary.get("fatigue") or {}
        force = fat.get("force_mN") or []
        if force and force[0]:
            curves.setdefault(g, []).append([100.0 * f / force[0] for f in force])
        rec = [t for t in r.trials if t.kind == "twitch" and "recover" in (t.step or "")
               and t.in_session]
        pt = r.summary.get("pt_mN")
        if rec and isinstance(pt, float) and math.isfinite(pt) and pt > 0:
            recovery.setdefault(g, []).append(100.0 * rec[0].peak_force_mN / pt)
    return curves, recovery


def build_context(res: StudyResults) -> dict[str, Any]:
    s = res.study
    sections = []
    for tp in res.timepoints:
        if tp.comparison is None:
            sections.append({"name": tp.name, "empty": True})
            continue
        comp = tp.comparison
        curves, recovery = _fatigue_data(res, tp.name)
        sections.append({
            "name": tp.name, "empty": False, "groups": comp.groups,
            "pairs": list(dict.fromkeys(f"{t.group_b} − {t.group_a}" for t in comp.tests)),
            "group_rows": group_table(comp), "notes": comp.notes,
            "animals": [r for r in animal_rows(res) if r["timepoint"] == tp.name],
            "dots": _img(figures.dot_over_mean(comp, tp.name)),
            "ff": _img(figures.force_frequency(comp, tp.name)),
            "fatigue": _img(figures.fatigue(curves, recovery, tp.name))})
    changes = changes_from_baseline(res)
    return {
        "change_rows": change_table(changes, s.design.timepoints, s.group_labels()),
        "title": s.design.title, "blinded": s.blinded, "design": s.design,
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "version": __version__, "arrive": arrive_items(res), "flow": flow(res),
        "timepoints": s.design.timepoints, "sections": sections,
        "parameters": PARAMETERS, "num": _num,
        "change_figure": _img(figures.change_from_baseline(
            changes, s.design.timepoints, s.group_labels())),
        "methods": methods_paragraph(res), "problems": problems(res),
        "excluded_trials": excluded_trials(res),
        "unblinding": s.unblinding, "stats": res.stats,
    }


def render(context: dict[str, Any]) -> str:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("app.study", "templates"),
        autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined)
    return env.get_template("report.html").render(**context)


def build_report(study: Study, out: Path, cfg: AnalysisConfig | None = None,
                 use_cache: bool = True) -> ReportOutput:
    """Analyse (or reuse), render and write the report and its exports."""
    if out.suffix.lower() not in (".html", ".htm"):
        raise UserError(f"--out {out}: the report is an HTML file (name it .html)")
    check_output_file(out, what="report")
    res = study_results(study, cfg, use_cache=use_cache)
    if not res.sessions:
        raise UserError(f"{study.root}: no analysable session in the study yet"
                        + (f" ({'; '.join(problems(res)[:3])})" if problems(res) else ""))
    with figures.caching(False) if not use_cache else contextlib.nullcontext():
        html = render(build_context(res))            # --no-cache: figures drawn afresh
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    exports = write_exports(res, out.with_suffix(""))
    return ReportOutput(out, exports, problems(res), res)
