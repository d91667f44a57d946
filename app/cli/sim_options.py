"""Checks of the simulated-rig options that ``run --sim`` and ``sim`` share (``--seed``,
``--isolator-gain``): one rule and one message each, whichever command is given them."""
from __future__ import annotations

import math

from app.errors import UserError

#: largest --seed (the recording stores it as a 64-bit integer)
SEED_MAX = 2**63 - 1


def check_seed(seed: int | None) -> None:
    """Refuse a --seed that the recording could not store."""
    if seed is not None and not 0 <= seed <= SEED_MAX:
        raise UserError(f"--seed must be a whole number from 0 to {SEED_MAX}, got {seed}")


def check_isolator_gain(gain: float | None) -> None:
    """Refuse a --isolator-gain that is not a positive, finite number of mA/V."""
    if gain is not None and not (math.isfinite(gain) and gain > 0):
        raise UserError(f"--isolator-gain must be a positive number of mA/V, got {gain:g}")
