"""``myoforce analyze`` on a terminal: a compact table that fits 80 columns, and the
session summary as labelled lines with units.

The compact table holds the key measures (kind, step, frequency, pulses, peak, TPT,
½RT, flag codes); the notes and errors it has no room for follow the table, one line
each, so nothing is cut. ``--wide`` prints every measure (``analyze.print_session``).
Numbers are never cut: the step name is the column that gives way. Units are those of
the CSV and GUI (forces in mN, times in ms, rates of force in mN/s).
"""
from __future__ import annotations

import math
from typing import Any

COMPACT_WIDTH = 80


def num(v: Any, decimals: int = 1) -> str:
    """A number for a table cell: fixed decimals, '–' for missing/NaN."""
    if v is None or isinstance(v, str):
        return "–" if v in (None, "") else v
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    v = float(v)
    if not math.isfinite(v):
        return "–"
    return f"{v:.{decimals}f}"


def summary_lines(s: dict[str, Any], width: int = COMPACT_WIDTH) -> list[str]:
    """The session summary (:func:`app.labels.summary_parts`) as labelled lines of at
    most ``width`` characters, twitch measures first; missing values shown as '–'."""
    from app.labels import summary_parts
    parts = [p.replace("Hill slope", "Hill") for p in summary_parts(s)]
    lines: list[str] = []
    for group in (parts[:5], parts[5:]):
        line = ""
        for part in group:
            candidate = f"{line} · {part}" if line else f"  {part}"
            if line and len(candidate) > width:
                lines.append(line)
                candidate = f"  {part}"
            line = candidate
        lines.append(line)
    return lines


def print_compact(con, res, flag_cell, notes_cell) -> None:
    """One file: title, compact table, then notes/errors, then the summary."""
    from rich.table import Table

    md = res.metadata
    from rich.markup import escape

    from app.terminal import printable
    who = printable(", ".join(str(md[k]) for k in ("subject_id", "group", "muscle") if md.get(k)))
    con.print(f"[bold]{escape(printable(str(res.file)))}[/bold] ({res.format}"
              f"{'; ' + escape(who) if who else ''})", overflow="fold")
    table = Table(box=None, pad_edge=False, padding=(0, 1), header_style="bold underline")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("step", no_wrap=True, overflow="ellipsis", max_width=15)
    for head in ("f Hz", "n", "peak mN", "TPT ms", "½RT ms"):
        table.add_column(head, justify="right", no_wrap=True)
    table.add_column("flags", overflow="fold", min_width=17)
    notes = []
    for t in res.trials:
        table.add_row(str(t.index), "tetanus" if t.kind == "tetanus" else t.kind, t.step or "",
                      num(t.frequency_hz, 0) if t.frequency_hz else "–", num(t.pulses),
                      num(t.peak_force_mN), num(t.time_to_peak_ms), num(t.half_relaxation_ms),
                      flag_cell(t) + (" [red]error[/red]" if t.error else ""))
        text = t.error or notes_cell(t)
        if text:
            notes.append((f"  #{t.index}: ", text, bool(t.error)))
    con.print(table)
    for prefix, text, is_error in notes:
        _print_hanging(con, prefix, text, "red" if is_error else None)
    s = res.summary
    if s.get("error"):
        con.print(f"[red]error: {s['error']}[/red]", overflow="fold")
    else:
        con.print("[bold]summary[/bold]")
        for line in summary_lines(s):
            con.print(line, overflow="fold")
        for note in s.get("notes", []):
            _print_hanging(con, "  note: ", note)
    con.print()


def _print_hanging(con, prefix: str, text: str, style: str | None = None) -> None:
    """``prefix`` + ``text`` as plain text (no markup) wrapped to the console's width,
    continuation lines indented under the text, never back to column 0."""
    from app.cli.terminal import hanging
    con.print(hanging(prefix + text, len(prefix), con.width), style=style, markup=False,
              highlight=False, overflow="fold")
