"""Quality flags: what a trial result carries when a measure may not mean what it says.

Every :class:`~app.analysis.results.TrialResult` has ``flags``, a list of
:class:`Flag` (a code from :data:`FLAGS` plus a one-line text with the numbers of
this trial). A flag either marks measures that were kept (``how == "kept"``: the
number is reported, but the rule below says why it may be off) or explains a
refusal (``how == "refused"``: the trial's ``error`` is set and every measure is NaN).
A rule with ``leaves_session`` also keeps the trial out of every session-level number
(:attr:`TrialResult.in_session <app.analysis.results.TrialResult.in_session>`, the one
place the session summary asks): a work loop's ``not-isometric``, a researcher's
``excluded``.

The catalogue below is the single place each code is defined; docs/analysis.md §11
shows it as a table, and ``compare`` counts/excludes flagged measures through
:meth:`TrialResult.flagged_measures` (``app.analysis.results``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: every measure of a trial result that a flag can affect
ALL_MEASURES = ("baseline_mN", "peak_force_mN", "time_to_peak_ms", "half_relaxation_ms",
                "rise_time_10_90_ms", "latency_ms", "contraction_time_ms",
                "max_dfdt_mN_per_s", "min_dfdt_mN_per_s", "rfd_10_90_mN_per_s",
                "dfdt_per_peak_per_s", "time_to_90pct_ms", "force_time_integral_mN_s",
                "fusion_index")
_AMPLITUDES = ("baseline_mN", "peak_force_mN", "max_dfdt_mN_per_s", "min_dfdt_mN_per_s",
               "rfd_10_90_mN_per_s", "force_time_integral_mN_s")
_RELAXATION = ("half_relaxation_ms", "min_dfdt_mN_per_s", "force_time_integral_mN_s")
_ONSET = ("latency_ms", "contraction_time_ms", "rise_time_10_90_ms", "max_dfdt_mN_per_s",
          "rfd_10_90_mN_per_s", "dfdt_per_peak_per_s")


@dataclass(frozen=True)
class FlagRule:
    """One flag code: the rule that raises it, the measures it concerns and how."""

    code: str
    rule: str
    measures: tuple[str, ...]
    how: Literal["kept", "refused"]
    #: the trial is left out of the session summary (its own numbers are still shown)
    leaves_session: bool = False


def _rule(code: str, rule: str, measures: tuple[str, ...],
          how: Literal["kept", "refused"] = "kept", leaves_session: bool = False) -> FlagRule:
    return FlagRule(code, rule, measures, how, leaves_session)


#: the flag catalogue, by code (documented in docs/analysis.md §11)
FLAGS: dict[str, FlagRule] = {r.code: r for r in (
    _rule("artefact-extended",
          "the stimulus artefact lasts longer than --blank-ms; blanking follows its measured "
          "extent (up to --artefact-max-ms)", _ONSET),
    _rule("artefact-peak",
          "the peak comes earlier than --min-tpt-ms after the stimulus, or the 10-90 % rise "
          "is faster than --min-rise-ms: an artefact, not a muscle", ALL_MEASURES, "refused"),
    _rule("inverted",
          "force moves away from baseline downwards (more than twice as far as upwards): "
          "transducer wired the other way; --force-polarity negative measures it inverted",
          ALL_MEASURES, "refused"),
    _rule("measured-inverted",
          "--force-polarity negative: the force signal was inverted before measuring", ()),
    _rule("multiple-contractions",
          "force falls by more than --second-contraction-percent of the peak and rises again "
          "by as much within the window (double response, unmarked stimulus, spontaneous "
          "contraction); measures come from the first, the window is cut before the second",
          _RELAXATION),
    _rule("baseline-drift",
          "the pre-stimulus trend (slope significant at 3 SE) moves the force at the peak "
          "by more than --baseline-drift-percent of the peak; the baseline is extrapolated "
          "(a line, or the exponential of a relaxation tail)", ALL_MEASURES),
    _rule("relaxation-drift",
          "a baseline trend that was not extrapolated - significant before the stimulus "
          "but below --baseline-drift-percent at the peak, or seen only as force settling "
          "away from the baseline after relaxation (below --baseline-shift-percent) - could "
          "move the half-relaxation crossing by more than the ½RT tolerance (max(0.2 ms, "
          "one sample)): ½RT may be off by up to the amount in the text",
          ("half_relaxation_ms",)),
    _rule("baseline-shift",
          "after relaxation the force settles more than --baseline-shift-percent of the "
          "peak (and 5 noise SD) away from the pre-stimulus baseline",
          _AMPLITUDES + _RELAXATION),
    _rule("clipped",
          "the force reaches the ADC full scale of the recording (.h5: from the calibration "
          "stored in the file), --clip-level-mn, or has a flat top (a run at the maximum, "
          "or a top quieter than the baseline noise)", ALL_MEASURES, "refused"),
    _rule("not-isometric",
          "the muscle length changes during the contraction (work loop): isometric "
          "measures do not apply and the session gets no Po", ALL_MEASURES,
          leaves_session=True),
    _rule("gaps-filled",
          "lost samples (NaN) up to --fill-gaps-ms were interpolated", ALL_MEASURES),
    _rule("damaged",
          "the trial's samples fail the recording's integrity check (.h5 block CRC, "
          "unlogged gap): damaged data is never measured", ALL_MEASURES, "refused"),
    _rule("tpt-ambiguous",
          "tetanus: the force averaged over one pulse interval comes within 3 of its noise "
          "SDs of its top at points more than one interval apart (a flat or rippled "
          "plateau without a peak): the time to peak is not defined to better than that",
          ("time_to_peak_ms", "contraction_time_ms")),
    _rule("aborted",
          "the trial was aborted during recording (stimulation stopped early)",
          ALL_MEASURES),
    _rule("excluded",
          "a researcher excluded the trial after the run, with a reason ('myoforce annotate "
          "FILE --exclude-trial N --reason TEXT', an audit row in the file; the text gives "
          "the reason): still measured and shown, but left out of every session-level "
          "number (Pt, TPT, ½RT, potentiation, Po, force-frequency, fatigue, specific "
          "force); the summary lists it", (), leaves_session=True),
)}


@dataclass(frozen=True)
class Flag:
    """One flag on one trial: the code and a one-line text with this trial's numbers."""

    code: str
    text: str

    def __post_init__(self) -> None:
        if self.code not in FLAGS:
            raise ValueError(f"unknown flag code {self.code!r}")

    @property
    def rule(self) -> FlagRule:
        return FLAGS[self.code]

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "text": self.text}


def flag_table_markdown() -> str:
    """The flag catalogue as the markdown table of docs/analysis.md §11."""
    lines = ["| code | rule | measures | how |", "| --- | --- | --- | --- |"]
    for r in FLAGS.values():
        measures = "all" if set(r.measures) == set(ALL_MEASURES) else (
            ", ".join(f"`{m}`" for m in r.measures) or "none")
        how = "NaN, trial error" if r.how == "refused" else "kept, flagged"
        if r.leaves_session:
            how += "; left out of the session summary"
        lines.append(f"| `{r.code}` | {r.rule} | {measures} | {how} |")
    return "\n".join(lines)
