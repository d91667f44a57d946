"""Text of the report: the ARRIVE 2.0 Essential 10 filled in from the study, and the
methods paragraph generated from the protocol actually run and the analysis settings.

ARRIVE 2.0: Percie du Sert N et al. (2020) PLoS Biol 18(7): e3000410. Items the study
file cannot answer are marked missing with the field to fill in. While the study is
blinded nothing here names a group.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from app import __version__
from app.analysis.config import AnalysisConfig
from app.compare import PARAMETERS
from app.study.results import StudyResults

LABELS = {p.key: f"{p.label} ({p.unit})" if p.unit else p.label for p in PARAMETERS}


@dataclass
class Item:
    number: int
    title: str
    text: str
    missing: list[str]


def _given(v: str | None) -> bool:
    return bool(v and v.strip())


def _range(values: list[float], unit: str) -> str:
    v = [x for x in values if x is not None and math.isfinite(x)]
    return f"{min(v):.0f}–{max(v):.0f} {unit}" if v else "not recorded"


def arrive_items(res: StudyResults) -> list[Item]:
    s, d = res.study, res.study.design
    arr = d.arrive
    n_alloc = len(s.codes)
    excluded = [a for a in s.animals.values() if a.excluded is not None]
    groups = (f"{len(d.groups)} groups, shown by neutral code while blinded" if s.blinded
              else ", ".join(d.groups))
    items: list[Item] = []

    def add(title: str, text: str, *missing: tuple[str, str | None]) -> None:
        items.append(Item(len(items) + 1, title, text,
                          [f"[arrive] {k} in study.toml" for k, v in missing if not _given(v)]))

    add("Study design", f"{groups}; timepoints: {', '.join(d.timepoints)}. Experimental unit: "
        f"the animal (one muscle per animal and timepoint; several sessions of one animal "
        f"are averaged). {arr.design or ''}", ("design", arr.design))
    add("Sample size", f"planned {d.planned_n_per_group} animals per group; {n_alloc} "
        f"allocated, {len(excluded)} excluded. {arr.sample_size or ''}",
        ("sample_size", arr.sample_size))
    crit = (f"Inclusion: {d.inclusion_criteria or 'not stated'}. Exclusion: "
            f"{d.exclusion_criteria or 'not stated'}. Excluded: "
            + ("; ".join(f"{a.id} ({a.excluded.reason})" for a in excluded) or "none") + ".")
    items.append(Item(3, "Inclusion and exclusion criteria", crit,
                      [f"{k} in study.toml" for k, v in (("inclusion_criteria",
                       d.inclusion_criteria), ("exclusion_criteria", d.exclusion_criteria))
                       if not _given(v)]))
    add("Randomisation", _randomisation_text(s.runs), ("randomisation", "x" if s.runs else None))
    add("Blinding", _blinding_text(s, d))
    outs = (f"Primary: {', '.join(LABELS[k] for k in d.outcomes.primary)}. Secondary: "
            f"{', '.join(LABELS[k] for k in d.outcomes.secondary)}. Definitions: "
            f"myoforce docs/analysis.md.")
    add("Outcome measures", outs)
    add("Statistical methods", statistics_text(res) + " " + (arr.statistical_methods or ""),
        ("statistical_methods", arr.statistical_methods))
    add("Experimental animals", _animals_text(s, d) + f" {arr.housing or ''}",
        ("housing", arr.housing), ("strain", d.strain))
    add("Experimental procedures", procedures_text(res) + " " + (arr.procedures or ""),
        ("procedures", arr.procedures))
    add("Results", "Per group n, mean ± SD and the comparisons with effect sizes and "
        "confidence intervals: the tables below; every exclusion and missing session is "
        "listed in the animal flow.")
    if _given(arr.ethics):
        items[-1].text += f" Ethics: {arr.ethics}."
    return items


def _randomisation_text(runs: list) -> str:
    """How the animals were allocated (method, blocks, strata, seeds, date)."""
    if not runs:
        return "no randomisation recorded"
    r = runs[0]
    return (f"{r['method']} randomisation" + (f" in blocks of {r['block_size']}"
                                              if r["method"] == "block" else "")
            + (", stratified by sex" if r.get("stratify_by_sex") else "")
            + f", numpy default_rng seed(s) {', '.join(str(x['seed']) for x in runs)}, "
            f"done by myoforce on {r['time'][:10]}; animals taken in ID order.")


def _blinding_text(s, d) -> str:
    """Who saw what: no blinding, blinded throughout, or blinded until an unblinding."""
    if not d.blinding:
        return "No blinding."
    if s.unblinding:
        return (f"Operators saw neutral group codes (sessions, status, live display) until "
                f"unblinding on {s.unblinding['time'][:16].replace('T', ' ')} UTC "
                f"(reason: {s.unblinding.get('reason')}).")
    return "Blinded: operators and this report see neutral group codes only."


def _animals_text(s, d) -> str:
    """Species, strain, sexes, n, age at arrival and first body mass (ranges)."""
    ages = [a.age_weeks_on(a.arrival) if a.arrival else None for a in s.animals.values()]
    masses = [a.body_mass[0].g for a in s.animals.values() if a.body_mass]
    sexes = sorted({a.sex or "unknown" for a in s.animals.values()})
    return (f"{d.species}, strain {d.strain or 'not stated'}, sex "
            f"{'/'.join(sexes)}; n = {len(s.animals)}; age at arrival "
            f"{_range([x for x in ages if x is not None], 'weeks')}; body mass at first "
            f"weighing {_range(masses, 'g')}.")


def procedures_text(res: StudyResults) -> str:
    d = res.study.design
    c, dose = d.compound, d.dose
    frac, src = c.mg_fraction()
    mm = c.molar_mass()
    who = ("one group (which one is hidden until unblinding)" if res.study.blinded
           else f"the {dose.group} group")
    basis = "elemental Mg" if dose.basis == "elemental_mg" else "salt"
    text = (f"{c.name} ({c.formula or 'formula not given'}"
            + (f", M = {mm:.1f} g/mol" if mm else "")
            + f", Mg {100 * frac:.2f} % from the "
            f"{'formula' if src.startswith('formula') else src}) at {dose.amount_mg_per_kg_per_day:g} "
            f"mg/kg/day as {basis}, {dose.route}"
            + (f", for {dose.duration_days:g} days" if dose.duration_days else "")
            + f", to {who}; the other animals received the carrier ({d.vehicle}) alone.")
    return text + " " + methods_paragraph(res)


def statistics_text(res: StudyResults) -> str:
    return ("Each animal contributes one value per outcome and timepoint (several sessions "
            "averaged). Groups are summarised as mean ± SD (SEM); comparisons give the "
            "difference of means with its Welch 95 % CI, Hedges' g with its exact "
            "noncentral-t 95 % CI, Welch's t-test and the Mann–Whitney U test (exact "
            "permutation p, correct with ties), two-sided, with Holm's adjustment across "
            "the eight outcomes. No p-value is given for a group of fewer than two animals.")


def _protocol(res: StudyResults) -> tuple[dict[str, Any] | None, int, list[float]]:
    """The protocol of the first session, how many sessions ran a different one, and
    the sample rates used."""
    from app.recorder.reader import open_session

    memo = getattr(res, "_protocol_memo", None)
    if memo is not None:
        return memo
    protocols, rates = [], set()
    for ref, _r in res.sessions:
        try:
            with open_session(ref.path) as sf:
                protocols.append(sf.protocol)
                rates.add(float(sf.sample_rate_hz))
        except Exception:                           # noqa: BLE001 - described as unknown
            protocols.append(None)
    memo = (None, 0, []) if not protocols else (
        protocols[0], sum(1 for p in protocols[1:] if p != protocols[0]), sorted(rates))
    res._protocol_memo = memo                       # read each file once per report
    return memo


def _step_text(st: dict[str, Any], pw: Any) -> str | None:
    k = st.get("kind")
    cur = f" at {st['current_mA']:g} mA" if st.get("current_mA") else " at the working current"
    if k == "supramaximal":
        return (f"supramaximal current found by twitches from {st.get('start_mA')} mA in "
                f"{st.get('step_mA')} mA steps to a plateau, then ×{st.get('factor')}")
    if k == "optimal_length":
        return f"optimal length (Lo) from twitches at {st.get('lengths_mm')} mm"
    if k == "twitch":
        return f"{st.get('count')} twitch(es){cur}, {st.get('interval_s')} s apart"
    if k == "tetanus":
        return (f"{st.get('count', 1)} tetanus/tetani at {st.get('frequency_hz')} Hz for "
                f"{st.get('duration_ms')} ms{cur}, {st.get('rest_s')} s rest")
    if k == "force_frequency":
        return (f"force–frequency trains at {', '.join(str(f) for f in st.get('frequencies_hz', []))} "
                f"Hz ({st.get('duration_ms')} ms, {st.get('rest_s')} s rest)")
    if k == "fatigue":
        return (f"fatigue: {st.get('trains')} trains at {st.get('frequency_hz')} Hz of "
                f"{st.get('duration_ms')} ms every {st.get('interval_s')} s")
    if k == "rest":
        return f"{st.get('duration_s')} s rest"
    return None


def methods_paragraph(res: StudyResults) -> str:
    proto, differing, rates = _protocol(res)
    cfg: AnalysisConfig = res.config
    temps = [r.metadata.get("temperature_C") for _ref, r in res.sessions
             if r.metadata.get("temperature_C")]
    if proto is None:
        text = ("No session recorded yet, so no protocol to describe." if not res.sessions
                else "The session files hold no protocol (imported or synthetic "
                     "recordings), so the stimulation cannot be described from them.")
    else:
        pw = proto.get("pulse_width_ms")
        steps = [t for t in (_step_text(s, pw) for s in proto.get("steps", [])) if t]
        text = (f"Isometric contractions were evoked by supramaximal stimulation of the motor "
                f"nerve with {pw} ms pulses (protocol '{proto.get('name')}'): "
                + "; ".join(steps) + ".")
        if differing:
            text += f" {differing} session(s) ran a different protocol."
    if rates:
        text += f" Force was sampled at {', '.join(f'{r:g}' for r in rates)} Hz."
    text += (f" Muscle temperature: {_range(temps, '°C')}." if temps
             else " Muscle temperature was not recorded.")
    changed = {k: v for k, v in cfg.to_dict().items() if v != AnalysisConfig().to_dict()[k]}
    text += (f" Contractions were analysed with myoforce {__version__} (definitions: its "
             f"docs/analysis.md; baseline = mean of the {cfg.baseline_ms:g} ms before the "
             f"stimulus; " + ("settings changed from the defaults: " + ", ".join(
                 f"{k} = {v}" for k, v in changed.items()) if changed else "default settings")
             + ").")
    return text
