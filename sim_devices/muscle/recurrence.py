"""The linear recurrence that renders the muscle's force ODE without a Python loop per sample.

With drive and time constant held constant over each sample interval the force ODE is
solved exactly per interval, ``F[k+1] = c[k] F[k] + d[k]``; :func:`linear_recurrence`
solves that recurrence in closed form with cumulative sums in log space
(see :mod:`sim_devices.muscle.model`).
"""
from __future__ import annotations

import numpy as np

#: a chunk of the recurrence never decays by more than exp(-_MAX_LOG_DECAY), so the
#: rescaled partial sums in :func:`linear_recurrence` stay far from overflow
_MAX_LOG_DECAY = 300.0


def linear_recurrence(log_c: np.ndarray, d: np.ndarray, x0: float) -> np.ndarray:
    """Solve ``x[k+1] = exp(log_c[k]) * x[k] + d[k]`` for k = 0..n-1; return ``x[1..n]``.

    Closed form with ``L_k = sum_{j<=k} log_c[j]``:
    ``x[k+1] = e^{L_k} (x0 + sum_{j<=k} d[j] e^{-L_j})``. ``log_c`` must be <= 0 (decay);
    the sequence is cut into chunks whose total decay stays below ``exp(-300)`` so the
    rescaled terms cannot overflow. All terms of the sum are of one sign when ``d >= 0``,
    so there is no cancellation.
    """
    log_c = np.asarray(log_c, dtype=np.float64)
    d = np.asarray(d, dtype=np.float64)
    n = d.shape[0]
    out = np.empty(n)
    if n == 0:
        return out
    total = -np.cumsum(log_c)  # non-decreasing
    start, base, x = 0, 0.0, float(x0)
    while start < n:
        end = int(np.searchsorted(total, base + _MAX_LOG_DECAY, side="right"))
        end = max(end, start + 1)
        decay = total[start:end] - base  # >= 0
        out[start:end] = np.exp(-decay) * (x + np.cumsum(d[start:end] * np.exp(decay)))
        x, base, start = float(out[end - 1]), float(total[end - 1]), end
    return out
