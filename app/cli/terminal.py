"""Terminal output shared by the commands: numbers for table cells, a rich console
sized to the terminal, and long lines wrapped under their own label."""
from __future__ import annotations

import math
import shutil
import sys
import textwrap
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


def terminal_width(stream=None) -> int | None:
    """Columns of the terminal ``stream`` (stdout by default) writes to; None when it is
    not a terminal (a pipe or file keeps one record per line for grep and scripts)."""
    stream = sys.stdout if stream is None else stream
    try:
        if not stream.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    return shutil.get_terminal_size((80, 24)).columns


def hanging(text: str, indent: int, width: int | None = None) -> str:
    """``text`` wrapped to ``width`` columns with continuation lines indented by
    ``indent`` spaces, so a long note or value reads as one item instead of wrapping
    back to column 0; unchanged when ``width`` is None (not a terminal)."""
    if width is None or len(text) <= width:
        return text
    return textwrap.fill(text, width=width, subsequent_indent=" " * indent,
                         break_long_words=False, break_on_hyphens=False)
