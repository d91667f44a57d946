"""One module per step kind; each holds ``run(ctx, step)``, the procedure of that step.

``STEP_RUNNERS`` maps a protocol step's ``kind`` to its procedure.
"""
from __future__ import annotations

from typing import Callable

from protocols.engine.steps import (fatigue, force_frequency, optimal_length, prompt, rest,
                                    supramaximal, tetanus, twitch)

STEP_RUNNERS: dict[str, Callable] = {
    "supramaximal": supramaximal.run,
    "optimal_length": optimal_length.run,
    "twitch": twitch.run,
    "tetanus": tetanus.run,
    "force_frequency": force_frequency.run,
    "fatigue": fatigue.run,
    "rest": rest.run,
    "prompt": prompt.run,
    "note": prompt.run_note,
}

__all__ = ["STEP_RUNNERS"]
