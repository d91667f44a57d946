"""Entry point of the ``myoforce`` command.

Subcommands are discovered from ``app.cli.commands``: each module there registers its
own parser, so adding a command never touches this file. User mistakes (bad files,
bad arguments, missing devices) end with one clear line on stderr and a non-zero
exit code, never a traceback; set ``MYOFORCE_DEBUG=1`` to see tracebacks.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from typing import NoReturn

from app import __version__
from app.cli import commands
from app.errors import UserError
from drivers.errors import DeviceError


class _Parser(argparse.ArgumentParser):
    """argparse with a usage mistake as one line (the full usage is one ``--help`` away).

    Subcommand parsers are made with the class of their parent, so this covers them all."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="myoforce",
        description="In-vivo muscle force experiments: run protocols, record, analyse, compare.")
    parser.add_argument("--version", action="version", version=f"myoforce {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
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
        print(f"myoforce {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
