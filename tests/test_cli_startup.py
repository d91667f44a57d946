"""The CLI imports only the command that runs, and heavy libraries only where used
(issue 14: fast startup). Checked in a fresh interpreter, by what is in sys.modules."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main as cli
from tests.helpers_recording import write_synthetic_session

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("scipy", "h5py", "pydantic", "matplotlib", "rich", "pyvisa", "serial", "PySide6")


def loaded_after(*argv: str) -> set[str]:
    """Top-level packages imported by ``myoforce ARGV`` in a fresh interpreter."""
    code = ("import sys, json\nfrom app.cli.main import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})), "
            "file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def test_help_imports_no_heavy_module():
    loaded = loaded_after("--help")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    assert "numpy" not in loaded


def test_command_help_imports_only_that_command():
    code = ("import sys\nfrom app.cli.main import main\ntry:\n    main(['info', '--help'])\n"
            "except SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('app.cli.commands.')), "
            "file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.stderr.strip().splitlines()[-1] == "['app.cli.commands.info']"


def test_info_imports_no_scipy_or_pydantic(tmp_path):
    path = write_synthetic_session(tmp_path / "s.h5").path
    loaded = loaded_after("info", str(path))
    assert "h5py" in loaded                 # it did read the file
    assert not loaded & {"scipy", "pydantic", "matplotlib", "rich", "serial", "pyvisa"}, loaded


def test_analyze_json_of_a_session_without_a_curve_fit_imports_no_scipy(tmp_path):
    """Two twitches and one tetanus: no force-frequency fit, so no scipy.optimize; and
    neither pydantic (metadata is read, not entered) nor the device libraries."""
    path = write_synthetic_session(tmp_path / "s.h5").path
    loaded = loaded_after("analyze", str(path), "--json")
    assert "h5py" in loaded
    assert not loaded & {"scipy", "pydantic", "matplotlib", "rich", "serial", "pyvisa"}, loaded


def test_every_command_module_is_listed_and_registers_its_name():
    assert not cli.unlisted_modules(), (
        "add these to COMMANDS in app/cli/main.py: " + ", ".join(cli.unlisted_modules()))
    choices = next(a for a in cli.build_parser()._actions
                   if a.dest == "command").choices
    assert set(cli.COMMANDS) <= set(choices)


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_each_command_parses_alone(name):
    parser = cli.build_parser(name)
    sub = next(a for a in parser._actions if a.dest == "command").choices[name]
    assert sub.add_help                     # fully registered, not the summary stand-in
    nested = any(isinstance(a, argparse._SubParsersAction) for a in sub._actions)
    assert sub.get_default("func") is not None or nested


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_command_help_imports_no_heavy_module(command):
    loaded = loaded_after(command, "--help")
    assert not loaded & {"scipy", "h5py", "matplotlib", "PySide6", "pyvisa", "serial"}, loaded
