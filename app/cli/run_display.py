"""What ``myoforce run`` shows while a protocol runs: the runner's events as lines
(colour and a progress bar on a terminal, plain lines in logs and pipes), the prompts,
and the results table at the end. The command itself (checks, session, input loop)
is :mod:`app.cli.commands.run`.
"""
from __future__ import annotations

import math
import sys
from typing import Any

from app.labels import peak_name
from app.terminal import printable


class RunDisplay:
    """Prints the runner's events: colour and a progress bar on a terminal, plain lines
    otherwise (logs, CI, pipes)."""

    def __init__(self) -> None:
        from rich.console import Console

        self.tty = sys.stdout.isatty()
        self.console = Console(highlight=False, soft_wrap=not self.tty,
                               width=None if self.tty else 120)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)
        self.progress = None
        self.task = None
        if self.tty:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
            self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                     TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                                     console=self.console, transient=True)
            self.task = self.progress.add_task("starting", total=None, info="")

    def start(self) -> None:
        if self.progress is not None:
            self.progress.start()

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()

    def line(self, text: str, style: str | None = None) -> None:
        self.console.print(self.fit(printable(text)), style=style if self.tty else None,
                           markup=False)

    def fit(self, text: str) -> str:
        """On a terminal, a long line wraps indented two past its own indentation (a
        prompt's text stays under the prompt, not at column 0); elsewhere unchanged."""
        if not self.tty:
            return text
        from app.cli.terminal import hanging
        lead = len(text) - len(text.lstrip(" "))
        return hanging(text, lead + 2, self.console.width)

    def handle(self, ev) -> None:
        from protocols import events as E

        if isinstance(ev, E.StepStarted):
            self.line(f"[{ev.index + 1}/{ev.count}] {ev.name} ({ev.kind})", "bold")
            if ev.note:
                self.line(f"      {ev.note}", "dim")
            self._bar(f"{ev.index + 1}/{ev.count} {ev.name}", None, 0, "")
        elif isinstance(ev, E.TrialAnalysed):
            self.line("      " + _trial_line(ev), "red" if ev.status != "completed" else None)
        elif isinstance(ev, E.StepCompleted):
            summary = _step_summary(ev)
            if summary:
                self.line(f"      {summary}", "green")
        elif isinstance(ev, E.Progress):
            self._bar(None, ev.total, ev.done, ev.message)
            if not self.tty and ev.rest_s is not None and ev.rest_s >= 10:
                self.line(f"      {ev.message}")     # long rests show up in plain logs too
        elif isinstance(ev, E.FireHeld):
            self.line(f"      {ev.message}", "yellow")
        elif isinstance(ev, E.RunWarning):
            self.line(f"warning: {ev.message}", "yellow")
        elif isinstance(ev, E.StateChanged):
            if ev.new.value in ("paused", "aborting"):
                self.line(f"{ev.new.value}: {ev.reason}", "yellow")
        elif isinstance(ev, E.OperatorPrompt) and ev.auto:
            shown = "" if ev.default is None else f" -> {ev.default}"
            self.line(f"      prompt (auto-continue{shown}): {ev.text}", "dim")

    def _bar(self, description, total, done, info) -> None:
        if self.progress is None:
            return
        kwargs = {"completed": done, "info": info or ""}
        if description is not None:
            kwargs["description"] = description
        if total is not None or description is not None:
            kwargs["total"] = total
        self.progress.update(self.task, **kwargs)


def _fmt(value: Any, digits: int = 1) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "-"
    return f"{v:.{digits}f}" if math.isfinite(v) else "-"


def _trial_line(ev) -> str:
    what = (f"#{ev.trial_index:<3d} {ev.kind:7s} {ev.current_mA:5.2f} mA"
            + (f" {ev.frequency_hz:g} Hz x{ev.pulses}" if ev.frequency_hz else ""))
    if ev.length_mm is not None:
        what += f" @{ev.length_mm:g} mm"
    r = ev.result
    force = peak_name(ev.kind)
    text = f"{what}  {force} {_fmt(r.get('peak_force_mN'), 0)} mN"
    if ev.kind == "twitch":
        text += f"  TPT {_fmt(r.get('time_to_peak_ms'))} ms  ½RT {_fmt(r.get('half_relaxation_ms'))} ms"
    if r.get("error"):
        text += f"  ({r['error']})"
    if ev.status != "completed":
        text += f"  [{ev.status}]"
    return text


def _step_summary(ev) -> str:
    r = ev.result
    if ev.kind == "supramaximal" and "working_current_mA" in r:
        how = "plateau" if r.get("plateau_found") else "no plateau; largest twitch"
        return (f"{how} at {r['plateau_current_mA']:g} mA -> working current "
                f"{r['working_current_mA']:.3g} mA ({r['factor']:g} x)"
                + (" (decided on flagged twitch peaks)" if r.get("decided_on_flagged") else ""))
    if ev.kind == "optimal_length" and "lo_mm" in r:
        return f"Lo {r['lo_mm']:g} mm (suggested {r['suggested_lo_mm']:g} mm, {r['fit']})"
    if ev.kind == "fatigue" and "fatigue_index" in r:
        return f"fatigue index (last/first) {_fmt(r['fatigue_index'], 3)} over {r['trains']} trains"
    return ""


def results_table(console, trials, tty: bool):
    """Kind, frequency, current, Pt/Po, TPT, ½RT per trial; analysis problems below it.

    On a terminal narrower than 100 columns the pulse count and length columns are left
    out (the per-trial lines printed during the run show them) so numbers never wrap."""
    from rich import box
    from rich.table import Table

    narrow = tty and console.width < 100
    columns = [("#", "right"), ("step", "left"), ("kind", "left"), ("f Hz", "right"),
               ("pulses", "right"), ("I mA", "right"), ("L mm", "right"), ("Pt/Po mN", "right"),
               ("TPT ms", "right"), ("½RT ms", "right"), ("status", "left")]
    if narrow:
        columns = [c for c in columns if c[0] not in ("pulses", "L mm")]
    table = Table(title="Results", box=box.SIMPLE_HEAD if tty else box.ASCII2,
                  title_justify="left", collapse_padding=tty, pad_edge=not tty)
    for name, justify in columns:
        table.add_column(name, justify=justify, no_wrap=name != "step",
                         overflow="fold" if name == "step" else "ellipsis")
    problems = []
    for ev in trials:
        r = ev.result
        status = "ok" if ev.status == "completed" else ev.status
        if r.get("error"):
            status += " (!)"
            problems.append(f"trial {ev.trial_index}: {r['error']}")
        cells = {"#": str(ev.trial_index), "kind": ev.kind,
                 "f Hz": f"{ev.frequency_hz:g}" if ev.frequency_hz else "-", "step": printable(ev.step),
                 "pulses": str(ev.pulses), "I mA": f"{ev.current_mA:.2f}",
                 "L mm": _fmt(ev.length_mm, 2) if ev.length_mm is not None else "-",
                 "Pt/Po mN": _fmt(r.get("peak_force_mN")), "TPT ms": _fmt(r.get("time_to_peak_ms")),
                 "½RT ms": _fmt(r.get("half_relaxation_ms")), "status": status}
        table.add_row(*(cells[name] for name, _ in columns))
    console.print(table)
    for line in problems:
        console.print(f"(!) {printable(line)}", markup=False, highlight=False)


def show_prompt(display: RunDisplay, prompt) -> None:
    display.stop()
    default = "" if prompt.default is None else f" [{prompt.default}]"
    if prompt.requested == "length_mm":
        hint = " (mm"
        if prompt.default is not None:
            hint += "; Enter = the default"
        if not prompt.blocking:
            hint += "; 'done' when finished"
        hint += ")"
    else:
        hint = " (Enter to continue)"
    display.console.print(display.fit(printable(f"? {prompt.text}{hint}{default}")),
                          style="bold cyan" if display.tty else None,
                          markup=False)
