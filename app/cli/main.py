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

from app import __version__
from app.cli import commands
from app.errors import UserError
from drivers.errors import DeviceError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    except (UserError, DeviceError, OSError, ValueError) as exc:
        if os.environ.get("MYOFORCE_DEBUG"):
            raise
        print(f"myoforce {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
