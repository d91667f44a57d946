"""Long terminal lines (info values, verify's OK line, export and analyze notes) wrap under
their label on a terminal and stay one record per line in a pipe."""
from __future__ import annotations

import io

from app.cli.terminal import hanging, terminal_width


def test_hanging_indents_continuations_and_keeps_every_word():
    text = "metadata revision  2026-12-02T05:39:53+00:00 optimal-length step: " \
           "muscle_length_mm (none) -> 31.99 and some more words to wrap"
    out = hanging(text, 19, 60)
    lines = out.splitlines()
    assert len(lines) > 1 and all(len(line) <= 60 for line in lines)
    assert all(line.startswith(" " * 19) and line[19] != " " for line in lines[1:])
    assert out.split() == text.split()


def test_hanging_leaves_short_lines_and_pipes_alone():
    assert hanging("short", 4, 80) == "short"
    long = "x " * 100
    assert hanging(long, 4, None) == long
    assert terminal_width(io.StringIO()) is None


def test_every_commands_help_fits_80_columns(capsys, monkeypatch):
    import pytest

    from app.cli.main import COMMANDS, main
    monkeypatch.setenv("COLUMNS", "80")
    for argv in ([], *([c] for c in COMMANDS)):
        with pytest.raises(SystemExit):
            main([*argv, "--help"])
        out = capsys.readouterr().out
        assert max(len(line) for line in out.splitlines()) <= 80, argv


def test_every_study_subcommand_argument_says_what_it_is():
    import argparse

    from app.cli.main import build_parser
    parser = build_parser()
    study = next(a for a in parser._subparsers._group_actions[0].choices["study"]._actions
                 if isinstance(a, argparse._SubParsersAction))
    for name, sub in study.choices.items():
        for action in sub._actions:        # an option with choices explains itself
            assert action.help or action.choices, f"study {name}: {action.dest} has no help"


def test_run_display_wraps_long_event_lines_under_their_own_indent(capsys, monkeypatch):
    import sys

    from app.cli.run_display import RunDisplay
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)   # a terminal
    display = RunDisplay()                          # (its progress bar is never started)
    display.line("      prompt (auto-continue -> 32.0): Optimal length: Lo = 32 mm suggested "
                 "(parabola). Confirm or enter Lo in mm.")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(len(line.rstrip()) <= 80 for line in lines)
    assert lines[1].startswith(" " * 8) and lines[1].strip().endswith("enter Lo in mm.")
