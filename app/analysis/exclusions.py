"""Trials a researcher excluded from the session's numbers (``Recording.exclusions``,
the session file's ``trial-excluded`` audit rows, :mod:`app.recorder.exclusions`),
applied to analysed trials.

An excluded trial is still measured, so its numbers stay visible (a reviewer can see
what was left out); it gets the flag ``excluded`` (text: the reason), whose rule leaves
it out of every session-level number (:attr:`TrialResult.in_session`), and the summary
lists it with its reason (``excluded_trials``, and a note). Definitions:
docs/analysis.md §5, §11.
"""
from __future__ import annotations

from typing import Any, Mapping

from app.analysis.flags import Flag
from app.analysis.results import TrialResult


def flag_excluded(results: list[TrialResult], exclusions: Mapping[int, Any]
                  ) -> tuple[list[dict[str, Any]], list[str]]:
    """Flag each result whose trial is in ``exclusions`` (trial index -> an exclusion
    with ``reason``, ``source``, ``time_utc``); returns (the summary's
    ``excluded_trials``, notes). An exclusion naming a trial this analysis does not
    have (trials regrouped from the pulses with another ``--train-min-hz``) is not
    applied, and a note says so: never silently."""
    by_index = {r.index: r for r in results}
    listed: list[dict[str, Any]] = []
    notes: list[str] = []
    for index, ex in sorted(exclusions.items()):
        reason, source = str(ex.reason), str(getattr(ex, "source", "") or "")
        when = str(getattr(ex, "time_utc", "") or "")
        r = by_index.get(index)
        if r is None:
            notes.append(f"exclusion of trial {index} ({reason}) not applied: this analysis "
                         f"has no trial {index}")
            continue
        by = ", ".join(x for x in (source, when[:10]) if x)
        r.flags.append(Flag("excluded", reason + (f" ({by})" if by else "")))
        listed.append({"trial": index, "kind": r.kind, "reason": reason, "source": source,
                       "time_utc": when})
        notes.append(f"trial {index} ({r.kind}) excluded from the session's numbers: {reason}")
    return listed, notes
