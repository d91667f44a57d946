"""How many decimals an exported number carries: what the measurement supports.

One rule for every exporter (``analyze --csv``/``--summary-csv``, the GUI's Export CSV),
keyed by the unit at the end of the field name (``peak_force_mN``, ``time_to_peak_ms``):

* force (mN) to 0.01 mN: the amplifier resolves far finer, the noise of a muscle
  preparation (0.1–1 mN) is coarser; a second decimal keeps sums and means exact enough;
* times (ms) to 0.01 ms: one sample is 0.1 ms at 10 kHz; crossings are interpolated
  between samples, so a tenth of a sample is the last meaningful digit;
* seconds to 0.1 ms (4 decimals), frequencies to 0.01 Hz, lengths to 0.01 mm, currents to
  0.001 mA (the stimulator's setting resolution), rates of force (mN/s) to 1 mN/s,
  force–time integrals to 0.001 mN·s, specific force to 0.001 N/cm²;
* ratios and indices (Pt/Po, fatigue index, fusion index, Hill slope) to 4 decimals;
* anything else to 6 significant digits.

JSON keeps full precision (it is for programs); tables on screen round further for
reading. docs/analysis.md repeats this table.
"""
from __future__ import annotations

import math
import numbers
from typing import Any

#: unit suffix of a field name -> decimals (longest suffixes first)
DECIMALS_BY_SUFFIX: tuple[tuple[str, int], ...] = (
    ("_mN_per_s", 0), ("_N_per_cm2", 3), ("_mN_s", 3), ("_per_s", 3), ("_mm2", 3),
    ("_mN", 2), ("_ms", 2), ("_hz", 2), ("_Hz", 2), ("_mm", 2), ("_mA", 3), ("_mg", 1),
    ("_g", 2), ("_C", 2), ("_s", 4),
)
RATIO_KEYS = {"pt_po_ratio", "fatigue_index", "fusion_index", "hill_slope"}


def decimals_for(key: str) -> int | None:
    """Decimals for the field ``key``; None: 6 significant digits."""
    if key in RATIO_KEYS or key.endswith(("_ratio", "_index")):
        return 4
    for suffix, decimals in DECIMALS_BY_SUFFIX:
        if key.endswith(suffix):
            return decimals
    return None


def round_value(key: str, value: Any) -> Any:
    """``value`` rounded for export as field ``key`` (non-numbers and NaN unchanged)."""
    if isinstance(value, (bool, int)) or not isinstance(value, numbers.Real):
        return value
    value = float(value)
    if not math.isfinite(value):
        return value
    decimals = decimals_for(key)
    if decimals is None:
        return float(f"{value:.6g}")
    rounded = round(float(value), decimals)
    return int(rounded) if decimals == 0 else rounded


def round_row(row: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``row`` with every number rounded by :func:`round_value`."""
    return {k: round_value(k, v) for k, v in row.items()}
