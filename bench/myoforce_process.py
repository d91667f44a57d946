"""One ``myoforce`` process of a given source tree, timed (for the startup and batch
benches): started exactly as the ``myoforce`` console script starts it."""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

LAUNCH = "import sys; from app.cli.main import main; sys.exit(main())"
#: as installed: byte code cached (PYTHONDONTWRITEBYTECODE would recompile every module
#: of the tree in every run; pip compiles an installed package)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


@dataclass
class Run:
    wall_s: float
    cpu_s: float            # user + system, with the worker processes it waited for
    returncode: int
    stdout: bytes
    stderr: bytes


def run_myoforce(tree: Path, argv: list[str], env: dict[str, str]) -> Run:
    """``myoforce ARGV`` with ``tree`` first on the path and ``env`` added."""
    full_env = {**ENV, "PYTHONPATH": str(tree), **env}
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", LAUNCH, *argv], env=full_env, cwd=tree,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return Run(wall, cpu, done.returncode, done.stdout, done.stderr)
