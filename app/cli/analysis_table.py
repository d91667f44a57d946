"""``myoforce analyze`` on a terminal: a compact table that fits 80 columns, and the
session summary as labelled lines with units.

The compact table holds the key measures (kind, step, frequency, pulses, peak, TPT,
½RT, flag codes); the notes and errors it has no room for follow the table, one line
each, so nothing is cut; a flag carried by several trials is explained once, by its
rule, with the list of its trials (each trial's own numbers are in ``--wide``/``--json``). ``--wide`` prints every measure (``analyze.print_session``).
Numbers are never cut: the step name is the column that gives way. Units are those of
the CSV and GUI (forces in mN, times in ms, rates of force in mN/s).
"""
from __future__ import annotations

import math
from typing import Any

from app.analysis.flags import FLAGS

COMPACT_WIDTH = 80
#: a kept-measure flag on this many trials or more is explained once, not per trial
SHARED_FLAG_TRIALS = 3


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
    shared = shared_flags(res.trials)
    notes = [(f"  {code} on {trial_list(indices)}: ", FLAGS[code].rule + " (each trial's "
              "numbers: --wide or --json)", False, 4) for code, indices in shared.items()]
    for t in res.trials:
        table.add_row(str(t.index), "tetanus" if t.kind == "tetanus" else t.kind, t.step or "",
                      num(t.frequency_hz, 0) if t.frequency_hz else "–", num(t.pulses),
                      num(t.peak_force_mN), num(t.time_to_peak_ms), num(t.half_relaxation_ms),
                      flag_cell(t) + (" [red]error[/red]" if t.error else ""))
        text = t.error or notes_cell(t, shared)
        if text:
            notes.append((f"  #{t.index}: ", text, bool(t.error), None))
    con.print(table)
    for prefix, text, is_error, indent in notes:
        _print_hanging(con, prefix, text, "red" if is_error else None, indent)
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


def shared_flags(trials, at_least: int = SHARED_FLAG_TRIALS) -> dict[str, list[int]]:
    """Kept-measure flag codes carried by at least ``at_least`` trials -> their trial
    indices: such a flag is explained once, by its rule, instead of once per trial."""
    by_code: dict[str, list[int]] = {}
    for t in trials:
        if t.error:
            continue
        for code in dict.fromkeys(f.code for f in t.flags if f.rule.how == "kept"):
            by_code.setdefault(code, []).append(t.index)
    return {code: idx for code, idx in by_code.items() if len(idx) >= at_least}


def trial_list(indices: list[int]) -> str:
    """``[15, 17, 18, 19, 21]`` -> ``'#15, #17–#19, #21'`` (runs of consecutive trials)."""
    runs: list[list[int]] = []
    for i in sorted(indices):
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ", ".join(f"#{a}" if a == b else f"#{a}–#{b}" for a, b in runs)


def _print_hanging(con, prefix: str, text: str, style: str | None = None,
                   indent: int | None = None) -> None:
    """``prefix`` + ``text`` as plain text (no markup) wrapped to the console's width,
    continuation lines indented under the text (or by ``indent``), never to column 0."""
    from app.cli.terminal import hanging
    con.print(hanging(prefix + text, len(prefix) if indent is None else indent, con.width), style=style, markup=False,
              highlight=False, overflow="fold")
