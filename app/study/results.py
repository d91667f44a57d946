"""The study's numbers: every filed session analysed once (the result cache of
:mod:`app.batch` reuses an unchanged file's analysis), pooled per animal and timepoint,
and compared between groups with :mod:`app.compare` — for the report, the exports and
anyone scripting a study.

All per-session analysis goes through :func:`analyse_sessions`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.analysis.config import AnalysisConfig
from app.analysis.results import SessionResult
from app.compare import Animal, Comparison, PARAMETERS, compare_animals, pool_animals
from app.study.folder import SessionRef, Study


@dataclass
class AnalysisStats:
    analysed: int = 0
    reused: int = 0


def analyse_sessions(paths: list[Path], cfg: AnalysisConfig, use_cache: bool = True,
                     stats: AnalysisStats | None = None) -> list[SessionResult]:
    """The analysis of each session file (a failed file gives a failed result), from
    :func:`app.batch.analyze_many`: cached results for unchanged files, the others on
    every CPU."""
    from app.batch import analyze_many

    out = []
    for o in analyze_many([str(p) for p in paths], cfg, progress=False, cache=use_cache):
        if stats is not None:
            if o.cached:
                stats.reused += 1
            else:
                stats.analysed += 1
        out.append(o.result)
    return out


@dataclass
class Timepoint:
    name: str
    comparison: Comparison | None
    animals: list[Animal]


@dataclass
class StudyResults:
    """Everything the report shows, by timepoint; group names as operators may see them."""

    study: Study
    sessions: list[tuple[SessionRef, SessionResult]]
    timepoints: list[Timepoint] = field(default_factory=list)
    excluded_sessions: list[SessionRef] = field(default_factory=list)
    failed: list[tuple[SessionRef, str]] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)     # (animal, timepoint)
    subject_mismatch: list[tuple[SessionRef, str]] = field(default_factory=list)
    stats: AnalysisStats = field(default_factory=AnalysisStats)
    config: AnalysisConfig = field(default_factory=AnalysisConfig)

    def group_of(self, animal_id: str) -> str | None:
        return self.study.label(animal_id)


def study_results(study: Study, cfg: AnalysisConfig | None = None,
                  use_cache: bool = True) -> StudyResults:
    """Analyse (or reuse) every session and compare the groups at every timepoint.
    Excluded animals, failed analyses, sessions whose recorded subject is not the animal
    they are filed under, and missing sessions are listed — never silently dropped."""
    cfg = cfg or AnalysisConfig()
    out = StudyResults(study, [], config=cfg)
    refs = study.sessions()
    kept = []
    for ref in refs:
        if study.animals[ref.animal].excluded is not None:
            out.excluded_sessions.append(ref)
        else:
            kept.append(ref)
    results = analyse_sessions([r.path for r in kept], cfg, use_cache, out.stats)
    for ref, res in zip(kept, results):
        subject = str(res.metadata.get("subject_id", ""))
        if res.error:
            out.failed.append((ref, res.error))
        elif subject != ref.animal:
            out.subject_mismatch.append((ref, subject))
        else:
            out.sessions.append((ref, res))
    for aid, a in sorted(study.animals.items()):
        if a.excluded is None and aid in study.codes:
            for tp in study.design.timepoints:
                if not any(r.animal == aid and r.timepoint == tp for r in refs):
                    out.missing.append((aid, tp))
    for tp in study.design.timepoints:
        here = [(ref, res) for ref, res in out.sessions if ref.timepoint == tp]
        if not here:
            out.timepoints.append(Timepoint(tp, None, []))
            continue
        results = [res for _, res in here]
        groups = [study.label(ref.animal) or "not allocated" for ref, _ in here]
        animals, notes = pool_animals(results, groups)
        comp = compare_animals(_ordered(animals, study), notes=notes)
        out.timepoints.append(Timepoint(tp, comp, comp.animals))
    return out


def _ordered(animals: list[Animal], study: Study) -> list[Animal]:
    """Animals in group order (the study's group labels), then ID."""
    order = {g: i for i, g in enumerate(study.group_labels())}
    return sorted(animals, key=lambda a: (order.get(a.group, len(order)), a.id))


def changes_from_baseline(res: StudyResults) -> list[dict[str, Any]]:
    """Per later timepoint, outcome and animal: value − baseline value (first timepoint)."""
    if len(res.timepoints) < 2:
        return []
    base = {a.id: a for a in res.timepoints[0].animals}
    rows = []
    for tp in res.timepoints[1:]:
        for a in tp.animals:
            b = base.get(a.id)
            if b is None:
                continue
            for p in PARAMETERS:
                v, v0 = a.values.get(p.key, math.nan), b.values.get(p.key, math.nan)
                if math.isfinite(v) and math.isfinite(v0):
                    rows.append({"timepoint": tp.name, "animal": a.id, "group": a.group,
                                 "parameter": p.key, "change": v - v0,
                                 "percent": 100 * (v - v0) / v0 if v0 else math.nan})
    return rows
