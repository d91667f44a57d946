"""Running ``myoforce`` commands in-process from tests (no test here)."""
from __future__ import annotations

from app.cli.main import main


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """``myoforce ARGV...`` in this process: (exit code, stdout, stderr). argparse's usage
    errors end in SystemExit; its code is returned like any other (one line on stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err
