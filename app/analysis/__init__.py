"""Contraction analysis: twitch and tetanus measures, session summary, definitions.

Public API::

    from app.analysis import AnalysisConfig, analyze_trial, analyze_recording
    result = analyze_recording(recording, AnalysisConfig(smooth_ms=2.0))
    result.to_dict()          # {"file", "format", "metadata", "trials", "summary"}

Definitions and defaults are documented in docs/analysis.md. The heavy modules (scipy)
are imported on first use, so importing the configuration stays cheap for the CLI.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.analysis.config import AnalysisConfig

if TYPE_CHECKING:
    from app.analysis.results import SessionResult, TrialResult
    from app.analysis.session import analyze_recording
    from app.analysis.trial import analyze_trial

__all__ = ["AnalysisConfig", "analyze_trial", "analyze_recording", "TrialResult",
           "SessionResult"]

_LAZY = {
    "analyze_trial": "app.analysis.trial",
    "analyze_recording": "app.analysis.session",
    "TrialResult": "app.analysis.results",
    "SessionResult": "app.analysis.results",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'app.analysis' has no attribute {name!r}")
