"""Entry point of the ``myoforce`` command.

Registering a command is ONE line in :data:`COMMANDS` below::

    "export": "write sessions as NWB files",

and a module ``app/cli/commands/export.py`` (``-`` in a command name becomes ``_`` in
the module name) that defines ``register(subparsers)``: it adds the parser named like
the command and sets ``func`` (taking the parsed args, returning an exit code). The
line in COMMANDS is the summary shown by ``myoforce --help``.

Startup stays fast because only the command that runs is imported: ``myoforce --help``
is built from COMMANDS alone, ``myoforce analyze ...`` imports only
``app.cli.commands.analyze``. Keep command modules light at the top too: import heavy
libraries (scipy, h5py, pydantic, matplotlib, rich, pyvisa, serial) inside the
functions that use them. A module in app/cli/commands that is missing from COMMANDS
still works (it is found by name), but is listed without a summary; tests flag it.

User mistakes (bad files, bad arguments, missing devices) end with one clear line on
stderr and a non-zero exit code, never a traceback; set ``MYOFORCE_DEBUG=1`` to see
tracebacks.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from typing import Any, NoReturn

from app import __version__
from app.cli import commands
from app.errors import UserError
from drivers.errors import DeviceError

#: command name -> one-line summary for ``myoforce --help`` (module: app.cli.commands.NAME)
COMMANDS: dict[str, str] = {
    "analyze": "analyse twitches and tetani (Pt, TPT, ½RT, Po, force-frequency...)",
    "annotate": "add metadata known later (muscle mass...) to a session as a new revision",
    "compare": "compare groups per animal: differences, Hedges' g, Welch t, Mann-Whitney",
    "devices": "list serial ports, VISA resources and NI-DAQmx boards",
    "export": "export sessions as NWB (Neurodata Without Borders) files for DANDI",
    "gui": "open the desktop application",
    "info": "summarise a session file",
    "plot": "write PNG figures of each contraction and curve",
    "recover": "copy a crashed session file into a clean one",
    "run": "run a protocol on a rig and record it",
    "sim": "run the simulated rig and print its addresses",
    "study": "manage a study: animals, randomisation, blinding, doses, status, report",
    "verify": "check a session file's structure and CRC-32 checksums",
}


def module_name(command: str) -> str:
    """The module that implements ``command`` (``study-report`` -> ``...study_report``)."""
    return f"{commands.__name__}.{command.replace('-', '_')}"


def unlisted_modules() -> list[str]:
    """Command modules present in app/cli/commands but missing from COMMANDS."""
    listed = {module_name(c) for c in COMMANDS}
    return sorted(f"{commands.__name__}.{m.name}" for m in pkgutil.iter_modules(commands.__path__)
                  if f"{commands.__name__}.{m.name}" not in listed)


class _Parser(argparse.ArgumentParser):
    """argparse with a usage mistake as one line (the full usage is one ``--help`` away).

    Subcommand parsers are made with the class of their parent, so this covers them all."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")


class _Subparsers:
    """What a command's ``register`` receives: the real subparsers, with the summary line
    taken from COMMANDS so it lives in one place."""

    def __init__(self, sub: argparse._SubParsersAction) -> None:
        self._sub = sub

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if name in COMMANDS:
            kwargs["help"] = COMMANDS[name]
        return self._sub.add_parser(name, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._sub, attr)


def chosen_command(argv: list[str]) -> str | None:
    """The command word in ``argv`` (the top-level parser has no options taking values,
    so it is the first word that is not an option), or None."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(only: str | None = None, *, everything: bool | None = None
                 ) -> argparse.ArgumentParser:
    """The ``myoforce`` parser. With ``only``, just that command's module is imported and
    the others are listed from COMMANDS; with neither (tests, docs), every command is
    fully registered."""
    if everything is None:
        everything = only is None
    parser = _Parser(
        prog="myoforce",
        description="In-vivo muscle force experiments: run protocols, record, analyse, compare.")
    parser.add_argument("--version", action="version", version=f"myoforce {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wrapped = _Subparsers(sub)
    for name, summary in COMMANDS.items():
        if everything or name == only:
            importlib.import_module(module_name(name)).register(wrapped)
        else:
            sub.add_parser(name, help=summary, add_help=False)
    for mod in unlisted_modules():          # found the slow way; see the module docstring
        if everything or (only and only not in COMMANDS):
            importlib.import_module(mod).register(wrapped)
        else:
            sub.add_parser(mod.rsplit(".", 1)[1].replace("_", "-"), add_help=False,
                           help="(no summary: add one to COMMANDS in app/cli/main.py)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(chosen_command(argv) or "", everything=False)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("myoforce: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # whoever read our output stopped reading (`myoforce info x.h5 | head`): nothing
        # to report; point stdout at /dev/null so the final flush does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (UserError, DeviceError, OSError, ValueError) as exc:
        if os.environ.get("MYOFORCE_DEBUG"):
            raise
        from app.terminal import printable
        # one line per problem (a refused run plan lists every one), each on its own line
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"myoforce {args.command}: {printable(line)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
