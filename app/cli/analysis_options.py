"""Analysis options shared by the commands that analyse recordings (analyze, compare,
plot, export, study): one ``--option`` per :class:`app.analysis.AnalysisConfig` field,
the batch options (``--jobs``, ``--no-cache``), and the config and batch keywords they
give. One place, so every command offers and checks the same options the same way.
"""
from __future__ import annotations

import argparse
from typing import Any, Iterator

from app.analysis.config import AnalysisConfig
from app.errors import UserError


def add_analysis_options(parser: argparse.ArgumentParser) -> None:
    """One ``--option`` per AnalysisConfig field (``baseline_ms`` -> ``--baseline-ms``)."""
    grp = parser.add_argument_group("analysis options (definitions: docs/analysis.md)")
    for name, typ, default, help_text, unit in AnalysisConfig.option_fields():
        flag = "--" + name.replace("_", "-").replace("-mN", "-mn")
        shown = f"{default:g}" if isinstance(default, float) else str(default)
        text = f"{help_text} [{shown}{(' ' + unit) if unit and default is not None else ''}]"
        text = text.replace("%", "%%")
        if isinstance(default, bool):
            grp.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction,
                             default=None, help=text)
        elif "Literal" in str(typ):
            choices = [c.strip(" '\"") for c in str(typ).split("[", 1)[1].rstrip("]").split(",")]
            grp.add_argument(flag, dest=name, choices=choices, default=None, help=text)
        elif str(typ).startswith("str"):
            grp.add_argument(flag, dest=name, default=None, metavar="TEXT", help=text)
        else:
            kind = int if isinstance(default, int) else float
            grp.add_argument(flag, dest=name, type=kind, default=None, metavar="X", help=text)


def config_from_args(args: argparse.Namespace) -> AnalysisConfig:
    """AnalysisConfig with the options given on the command line; UserError if invalid."""
    given = {name: getattr(args, name) for name, *_ in AnalysisConfig.option_fields()
             if getattr(args, name, None) is not None}
    if getattr(args, "meta", None):
        from app.recorder.revisions import parse_pairs, validate_changes
        given["metadata_overrides"] = tuple(validate_changes(parse_pairs(args.meta)).items())
    try:
        return AnalysisConfig(**given)
    except ValueError as exc:
        raise UserError(f"invalid analysis option: {exc}") from exc


def add_batch_options(parser: argparse.ArgumentParser) -> None:
    """--jobs and --no-cache, for commands that analyse many files (app.batch)."""
    parser.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                        help="analyse N files at a time [all CPUs]")
    parser.add_argument("--no-cache", action="store_true",
                        help="analyse every file again instead of reusing results of "
                             "unchanged files (cache: $MYOFORCE_CACHE_DIR or "
                             "~/.cache/myoforce)")


def batch_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of :func:`app.batch.analyze_many` from the options above; the
    progress bar (stderr, terminals only) is off with --json."""
    jobs = getattr(args, "jobs", None)
    if jobs is not None and jobs < 1:
        raise UserError(f"--jobs must be at least 1 (got {jobs})")
    return {"jobs": jobs, "cache": not getattr(args, "no_cache", False),
            "progress": not getattr(args, "json", False)}


def analyze_files(paths: list[str], cfg: AnalysisConfig
                  ) -> Iterator[tuple[str, Any, Any, str | None]]:
    """Yield (path, recording or None, SessionResult, error message or None) per file,
    one file at a time in this process (for commands that need the recording; the
    others use :func:`app.batch.analyze_many`). Never raises for a bad file."""
    from app.batch import analyze_path

    for p in paths:
        yield (p, *analyze_path(p, cfg))
