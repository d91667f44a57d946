"""``myoforce run PROTOCOL``: run a protocol on a rig into a session file.

Everything that can be checked is checked before a device is touched: the protocol
file against the rig's limits, the rig file, the metadata, the output path, and
whether the protocol needs answers that nobody can give (no terminal, no ``--yes``).
Then the :class:`~app.session.ExperimentSession` connects, records and runs; this
module only shows its events, answers prompts from the terminal and prints the
per-trial results at the end. On a terminal, a line typed while no prompt is open is
the operator's comment at the current sample (as the GUI's comment box).

``--muscle`` names the muscle in the metadata and, on a simulated rig, picks the
muscle model: ``EDL`` (or ``edl``, ``rat-edl``) -> ``rat-edl``, ``soleus`` ->
``rat-soleus``, ``quadriceps`` -> ``rat-quadriceps``. With ``--study`` the study's
muscle is the session's, and a ``--muscle`` naming another is refused
(:func:`app.session_muscle.choose_muscle`, the rule the GUI applies too).

Exit codes: 0 completed; 1 failed (one line on stderr says why; the data recorded so
far are kept); 130 aborted with Ctrl-C (output off, file closed with status aborted).
"""
from __future__ import annotations

import argparse
import queue
import sys
import threading
import time
import typing
from typing import Any

from app.cli.interrupts import SafeInterrupts
from app.cli.run_checks import CliRunPlan, meta_option, plan_run, stdin_is_terminal
from app.cli.run_display import RunDisplay, results_table, show_prompt
from app.terminal import printable
from sim_devices import SIM_KINDS

#: the log file of this run (app.run_log), named in the one-line summary of a fault
_LOG_PATH: list = [None]

_EXAMPLE = """\
examples:
  myoforce run protocols/library/protocol1-demo.yaml --sim --yes --out s.h5 \\
      --subject rat-01
  myoforce run protocols/library/protocol1-demo.yaml --sim daq --yes --out s.h5
  myoforce run protocols/library/protocol1.yaml --rig rigs/example-rig.toml \\
      --out rat-07-edl.h5 --subject rat-07 --muscle EDL --side left \\
      --group treated --compound "magnesium aspartate" --dose-mg-per-kg 400
  myoforce run protocols/library/protocol1.yaml --amplifier /dev/ttyACM0 \\
      --stimulator TCPIP0::192.168.1.20::5025::SOCKET --out s.h5
"""

def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run", help="run a protocol on a rig and record it",
        description="Run a protocol (YAML) on the simulated rig, a rig file's rig, or devices\n"
                    "given by address; record everything into a session file; print the\n"
                    "per-trial results (Pt/Po, TPT, ½RT). Ctrl-C aborts safely. On a\n"
                    "terminal, a line typed while no question is open is saved as a\n"
                    "comment at the current sample.",
        epilog=_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("protocol", help="protocol file (.yaml), e.g. protocols/library/protocol1.yaml")
    rig = p.add_argument_group("rig (choose one)")
    rig.add_argument("--sim", nargs="?", const=SIM_KINDS[0], choices=SIM_KINDS,
                     help="use the simulated rig: 'serial' (default: serial amplifier + SCPI "
                          "stimulator) or 'daq' (an NI-DAQ board: force, stimulus and auxiliary "
                          "channels on one clock)")
    rig.add_argument("--rig", metavar="RIG.toml", help="rig file: device addresses, isolator, limits")
    rig.add_argument("--amplifier", metavar="PORT", help="force amplifier serial port (with --stimulator)")
    rig.add_argument("--stimulator", metavar="RESOURCE", help="stimulator VISA resource (with --amplifier)")
    rig.add_argument("--isolator-gain", type=float, metavar="MA_PER_V",
                     help="isolator gain for --amplifier/--stimulator or --sim (default 1 mA/V)")
    rig.add_argument("--sample-rate", type=int, metavar="HZ",
                     help="amplifier sample rate for --amplifier/--stimulator or --sim (default 10000)")
    sim = p.add_argument_group("simulated rig")
    sim.add_argument("--seed", type=int, help="seed of the simulated muscle's noise (reproducible runs)")
    sim.add_argument("--treatment", metavar="EFFECT",
                     help="simulated treatment effect: none (default), contractile:FACTOR "
                          "(scales active force; a bare number means the same) or "
                          "nmj-block:FRACTION (neuromuscular block, as raised Mg2+: depresses "
                          "the twitch more than the tetanus). --group never changes the "
                          "simulated muscle by itself")
    out = p.add_argument_group("output")
    out.add_argument("--out", metavar="FILE.h5",
                     help="session file to write (with --study: filed in the study folder)")
    out.add_argument("--overwrite", action="store_true", help="replace FILE.h5 if it exists")
    study = p.add_argument_group(
        "study", "--study DIR --animal ID [--timepoint T] fill the subject metadata from\n"
                 "the study (the group as its blinded code) and file the session in the study")
    study.add_argument("--study", metavar="DIR", help="study folder (myoforce study init)")
    study.add_argument("--animal", metavar="ID", help="the study's animal")
    run = p.add_argument_group("running")
    run.add_argument("-y", "--yes", action="store_true",
                     help="auto-continue: answer every operator prompt with its default; the "
                          "optimal length is found with the rig's length control")
    out.add_argument("--no-results-table", action="store_true",
                     help="leave out the results table at the end (e.g. when 'myoforce analyze' "
                          "follows, as in scripts/demo.sh)")
    _add_metadata_options(p)
    p.set_defaults(func=run_command)


def _add_metadata_options(p: argparse.ArgumentParser) -> None:
    """One option per SessionMetadata field (``--subject``, ``--muscle``, ``--body-mass-g``...)."""
    from app.metadata import SessionMetadata

    meta = p.add_argument_group(
        "session metadata", "--muscle also picks the simulated muscle:\n"
                            "EDL, soleus, quadriceps (or rat-edl, rat-soleus, rat-quadriceps)")
    for name, field in SessionMetadata.model_fields.items():
        choices = _literal_choices(field.annotation)
        suffix, unit = _unit(name)
        label = name.removesuffix(suffix).replace("_", " ")
        numeric = float in typing.get_args(field.annotation)
        metavar = None if choices else {"subject_id": "ID", "muscle": "NAME", "group": "NAME"}.get(
            name, "N" if numeric else "TEXT")
        meta.add_argument(meta_option(name), dest=f"meta_{name}", metavar=metavar, choices=choices,
                          help=f"{label.removesuffix(' id')}{f' in {unit}' if unit else ''}")


def _literal_choices(annotation: Any) -> list[str] | None:
    for arg in typing.get_args(annotation) or (annotation,):
        if typing.get_origin(arg) is typing.Literal:
            return [str(a) for a in typing.get_args(arg)]
    return None


def _unit(name: str) -> tuple[str, str]:
    """(suffix, unit) of a metadata field name such as ``body_mass_g``."""
    for suffix, unit in (("_mg_per_kg", "mg/kg"), ("_mm", "mm"), ("_mg", "mg"), ("_g", "g"),
                         ("_weeks", "weeks"), ("_days", "days"), ("_C", "degC")):
        if name.endswith(suffix):
            return suffix, unit
    return "", ""


# ============================================================================ running

def _stdin_reader(lines: "queue.Queue[tuple[str, Any]]") -> None:
    """Terminal input on its own thread, so events keep printing while a prompt is open."""
    while True:
        try:
            line = sys.stdin.readline()
        except (ValueError, OSError):
            line = ""
        if not line:
            lines.put(("eof", None))
            return
        lines.put(("line", line.rstrip("\n")))


def run_command(args: argparse.Namespace) -> int:
    from app.run_log import route_logs_to_file

    with SafeInterrupts() as guard:        # from the start: no signal can skip the summary
        try:
            plan = plan_run(args)
        except KeyboardInterrupt:
            print(f"myoforce run: interrupted with {guard.signal_name} before anything was "
                  f"connected; nothing was stimulated", file=sys.stderr)
            return 130
        _LOG_PATH[0] = route_logs_to_file()    # fault details: the log file, not the terminal
        return _start(args, plan, guard)


def _start(args: argparse.Namespace, plan: CliRunPlan, guard: SafeInterrupts) -> int:
    from app.session import ExperimentSession

    display = RunDisplay()
    inbox: "queue.Queue[tuple[str, Any]]" = queue.Queue()
    session = ExperimentSession(plan.protocol, plan.rig_factory, args.out, plan.metadata,
                                overwrite=args.overwrite, auto_continue=args.yes,
                                protocol_text=plan.protocol_text, tare_samples=plan.tare_samples,
                                protocol_source=plan.plan.protocol_source)
    session.subscribe(lambda ev: inbox.put(("event", ev)))
    interactive = stdin_is_terminal() and not args.yes
    display.line(f"myoforce run: {printable(plan.protocol.name)} on the {printable(plan.source)} "
                 f"-> {printable(str(args.out))}")
    if plan.plan.muscle_note:
        display.line(f"myoforce run: {printable(plan.plan.muscle_note)}")
    if stdin_is_terminal():
        display.line("myoforce run: type a comment and press Enter to mark it at the current "
                     "sample (e.g. 're-tied tendon')")
    return _run(args, plan, session, display, inbox, interactive, guard)


def _run(args, plan, session, display, inbox, interactive, guard) -> int:
    """The run itself: events shown, prompts answered, then the safe teardown and a
    one-line summary of how it ended (which no second signal can take away)."""
    from protocols import events as E

    started = time.monotonic()
    open_prompts: list = []
    finished = None
    try:
        session.start()
        display.start()
        if stdin_is_terminal():     # prompts' answers, and comments (also with --yes)
            threading.Thread(target=_stdin_reader, args=(inbox,), name="stdin", daemon=True).start()
        while finished is None:
            try:
                kind, item = inbox.get(timeout=0.2)
            except queue.Empty:
                if session.finished is not None and inbox.empty():
                    finished = session.finished
                continue
            if kind == "event":
                display.handle(item)
                if isinstance(item, E.OperatorPrompt) and not item.auto:
                    if not interactive:
                        session.abort(f"prompt {item.id!r} needs an answer but stdin is not a "
                                      f"terminal; run with --yes")
                        continue
                    open_prompts.append(item)
                    show_prompt(display, item)
                elif isinstance(item, E.PromptAnswered):
                    open_prompts = [p for p in open_prompts if p.id != item.id]
                    if not open_prompts:
                        display.start()
                elif isinstance(item, E.Finished):
                    finished = item
            elif kind == "line" and open_prompts:
                prompt = open_prompts[0]
                value = _parse_answer(prompt, item)
                try:
                    session.answer(prompt.id, value)
                except (KeyError, ValueError) as exc:
                    display.line(f"  {exc}", "red")
                    show_prompt(display, prompt)
            elif kind == "line":
                _comment(session, display, item)
            elif kind == "eof" and open_prompts:
                session.abort("stdin closed while a prompt was open")
    except KeyboardInterrupt:
        guard.shield()                       # a second signal must not stop the teardown
        display.stop()
        display.err.print(f"{guard.signal_name}: aborting - stimulator output off, closing the "
                          f"recording ...", markup=False)
        session.abort(f"aborted with {guard.signal_name}")
        session.wait(10.0)
    finally:
        # nothing may interrupt the teardown: output off, recorder closed, devices released
        guard.shield()
        display.stop()
        status = session.close()
    return _summary(args, plan, session, display, finished, status, guard,
                    time.monotonic() - started)


def _comment(session, display: RunDisplay, text: str) -> None:
    """A line typed while no prompt is open: the operator's comment at the newest sample
    (the rule and the writing are the core's, app.recorder.comments, as the GUI's comment
    box). Said back with its time, or why it was not saved; a blank line is nothing."""
    from app.errors import UserError
    from app.recorder.comments import record_comment

    if not text.strip():
        return
    try:
        comment = record_comment(session.recorder, text)
    except UserError as exc:
        display.line(f"  comment not saved: {exc}", "red")
        return
    rate = session.rig.amplifier.sample_rate_hz     # a comment was saved: the rig is connected
    display.line(f"  comment at {comment.time_s(rate):.2f} s: {comment.text}", "cyan")


def _summary(args, plan, session, display, finished, status, guard, elapsed: float) -> int:
    """The last word on the terminal: how the run ended, the stimulator's state, the data."""
    finished = finished or session.finished
    if plan.study is not None:
        from app.study.run_link import file_session
        file_session(plan.study, status)
    if session.results and not args.no_results_table:
        results_table(display.console, session.results, display.tty)
    kept = f"data kept in {args.out} (status {status})" if status else "no recording was written"
    if finished is not None and finished.status == "completed" and not guard.interrupted:
        display.line(f"completed: {finished.trials} trials in {elapsed:.1f} s -> {args.out}", "green")
        return 0
    confirmed = getattr(session, "output_off_confirmed", True)
    output = ("stimulator output off" if confirmed is not False else
              "stimulator output OFF sent but NOT confirmed (the stimulator does not answer: "
              "check it)")
    details = f"; details in {_LOG_PATH[0]}" if _LOG_PATH[0] and not guard.interrupted else ""
    if guard.interrupted:
        print(printable(f"myoforce run: aborted with {guard.signal_name} after {elapsed:.1f} s; "
                        f"{output}; {kept}"), file=sys.stderr)
        return 130
    why = finished.message if finished is not None else "the run did not finish"
    state = finished.status if finished is not None else "failed"
    print(printable(f"myoforce run: {state}: {why}; {output}; {kept}{details}"), file=sys.stderr)
    return 1


def _parse_answer(prompt, line: str) -> Any:
    text = line.strip()
    if prompt.requested == "length_mm":
        if text == "":
            return prompt.default
        if text.lower() == "done":
            return None
        return text          # the runner parses (and rejects) it
    if prompt.requested == "text":
        return text or prompt.default
    return text or prompt.default

