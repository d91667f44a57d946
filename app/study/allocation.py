"""Randomised allocation of animals to groups, and the neutral group codes of blinding.

* ``simple``: each animal independently, every group equally likely (group sizes can
  differ).
* ``block``: permuted blocks; each block holds every group ``block_size / groups``
  times in random order, so group sizes never differ by more than half a block.
* stratified by sex: the same method run separately within each sex, so each sex is
  balanced across groups.

Animals are taken in ID order; the generator is ``numpy.random.default_rng(seed)``, so a
recorded (method, seed, animals) reproduces the allocation. An animal is allocated once:
later runs only allocate animals not yet allocated. Groups are known by neutral codes
(A, B, ...), themselves assigned to groups at random by the first run; the code → group
key is written to its own file and never overwritten.
"""
from __future__ import annotations

import string
from typing import Sequence

import numpy as np

from app.errors import UserError


def group_codes(n: int) -> list[str]:
    return list(string.ascii_uppercase[:n])


def draw_key(groups: Sequence[str], rng: np.random.Generator) -> dict[str, str]:
    """Code → group, the codes shuffled over the groups."""
    codes = group_codes(len(groups))
    return {c: groups[i] for c, i in zip(codes, rng.permutation(len(groups)))}


def _sequence(n: int, k: int, method: str, block_size: int, rng: np.random.Generator
              ) -> list[int]:
    """Group indices for n animals among k groups."""
    if method == "simple":
        return [int(i) for i in rng.integers(0, k, size=n)]
    out: list[int] = []
    per = block_size // k
    while len(out) < n:
        out.extend(int(i) for i in rng.permutation(np.repeat(np.arange(k), per)))
    return out[:n]


def allocate(animals: Sequence[tuple[str, str | None]], n_groups: int, method: str,
             seed: int, block_size: int | None = None, stratify_by_sex: bool = False
             ) -> dict[str, int]:
    """Animal id → group index (0..n_groups−1). ``animals`` are (id, sex) pairs."""
    if method not in ("simple", "block"):
        raise UserError(f"randomisation method must be simple or block, got {method!r}")
    size = block_size or 2 * n_groups
    if method == "block" and size % n_groups:
        raise UserError(f"randomisation.block_size {size} is not a multiple of the "
                        f"{n_groups} groups")
    rng = np.random.default_rng(seed)
    ordered = sorted(animals)
    strata: dict[str, list[str]] = {}
    for aid, sex in ordered:
        key = (sex or "unknown") if stratify_by_sex else "all"
        strata.setdefault(key, []).append(aid)
    result: dict[str, int] = {}
    for key in sorted(strata):
        ids = strata[key]
        for aid, g in zip(ids, _sequence(len(ids), n_groups, method, size, rng)):
            result[aid] = g
    return result
