"""Terminal output shared by the commands: numbers for table cells and a rich console
sized to the terminal."""
from __future__ import annotations

import math
import shutil
from typing import Any


def fmt(v: Any, digits: int = 4) -> str:
    """Number for tables: NaN/None as '–'."""
    if v is None:
        return "–"
    if isinstance(v, float):
        return "–" if not math.isfinite(v) else f"{v:.{digits}g}"
    return str(v)


def console(wide: bool = False):
    """Rich console as wide as the terminal (``--wide``: at least 180 columns, for a pager)."""
    from rich.console import Console
    width = shutil.get_terminal_size((80, 24)).columns
    return Console(width=max(width, 180) if wide else width, highlight=False)
