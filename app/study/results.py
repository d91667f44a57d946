"""The study's numbers: every filed session analysed once (cached while the file is
unchanged), pooled per animal and timepoint, and compared between groups with
:mod:`app.compare` — for the report, the exports and anyone scripting a study.

All per-session analysis goes through :func:`analyse_session`, the one place to swap
in a batch analyser. Its cache lives in ``DIR/.cache/analysis/``: one JSON file per
(file path, size, modification time, analysis settings, software version), so a session
file that changes, or new settings, are analysed afresh.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from app import __version__
from app.analysis.config import AnalysisConfig
from app.analysis.results import SessionResult, TrialResult
from app.compare import Animal, Comparison, PARAMETERS, compare_animals, pool_animals
from app.study.folder import SessionRef, Study

CACHE_DIR = ".cache/analysis"


@dataclass
class AnalysisStats:
    analysed: int = 0
    reused: int = 0


def _cache_key(path: Path, cfg: AnalysisConfig) -> str:
    st = path.stat()
    ident = json.dumps([str(path.resolve()), st.st_size, st.st_mtime_ns, cfg.to_dict(),
                        __version__], sort_keys=True, default=str)
    return hashlib.sha256(ident.encode()).hexdigest()[:32]


def result_from_dict(d: dict[str, Any]) -> SessionResult:
    """Inverse of :meth:`SessionResult.to_dict` (None back to NaN in trial measures)."""
    names = {f.name for f in fields(TrialResult)}
    trials = []
    for t in d.get("trials", []):
        kw = {k: (math.nan if v is None and k not in ("error", "step", "kind", "status")
                  else v) for k, v in t.items() if k in names}
        kw["markers"] = {k: (math.nan if v is None else v) for k, v in t.get("markers", {}).items()}
        trials.append(TrialResult(**kw))
    summary = {k: (math.nan if v is None and k not in ("error", "force_frequency", "fatigue",
                                                        "pt_trial", "po_trial") else v)
               for k, v in d.get("summary", {}).items()}
    return SessionResult(file=d["file"], format=d.get("format"), metadata=d.get("metadata", {}),
                         trials=trials, summary=summary)


def analyse_session(path: Path, cfg: AnalysisConfig, cache_root: Path | None,
                    stats: AnalysisStats | None = None) -> SessionResult:
    """The analysis of one session file, from the cache when the file is unchanged.
    A file that cannot be read or analysed gives a failed result (summary error)."""
    from app.cli.commands.analyze import analyze_files

    cache = None
    if cache_root is not None:
        cache = cache_root / CACHE_DIR / f"{_cache_key(path, cfg)}.json"
        if cache.exists():
            try:
                res = result_from_dict(json.loads(cache.read_text(encoding="utf-8")))
                if stats:
                    stats.reused += 1
                return res
            except (ValueError, KeyError, TypeError):
                pass                                    # a damaged cache entry: redo
    _p, _rec, res, err = next(analyze_files([str(path)], cfg))
    if stats:
        stats.analysed += 1
    if cache is not None and not err:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps(res.to_dict()), encoding="utf-8")
        tmp.replace(cache)
    return res


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
    for ref in refs:
        if study.animals[ref.animal].excluded is not None:
            out.excluded_sessions.append(ref)
            continue
        res = analyse_session(ref.path, cfg, study.root if use_cache else None, out.stats)
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
