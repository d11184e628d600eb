"""Keyed random streams (docs/ODD.md 7.0, "Randomness").

Every source of randomness has its own generator, keyed by a fixed stream id rather than by
its position in a list: ``SeedSequence(seed, spawn_key=(STREAM_ID,))``. Adding a stream, or
a shock, therefore shifts no other stream's draws. Each shock gets its own stream keyed by a
stable id computed from its kind, step and parameters (:func:`shock_key`), not by its place
in the schedule. Pure numpy: this module imports nothing else of the package.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

#: Stream name -> fixed id. Never renumber: ids are part of every run's identity.
STREAM_IDS: dict[str, int] = {
    "landscape": 0,
    "traits": 1,
    "decisions": 2,
    "placement": 3,
    "council": 4,
    "state": 5,
    "targeting": 6,
}
#: First element of every shock stream's spawn key (far from the named streams' ids).
SHOCK_STREAM_ID = 1000


def stream(seed: int, name: str) -> np.random.Generator:
    """The generator of the named stream: ``SeedSequence(seed, spawn_key=(id,))``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(STREAM_IDS[name],)))


def streams(seed: int) -> dict[str, np.random.Generator]:
    """Every named stream of a run, by name."""
    return {name: stream(seed, name) for name in STREAM_IDS}


def shock_key(kind: str, at: int, params: Mapping[str, Any], occurrence: int = 0) -> int:
    """A stable 32-bit id of a shock: a hash of its kind, step and parameters.

    ``occurrence`` tells apart identical shocks (the n-th identical copy in a schedule).
    """
    text = json.dumps(
        {"kind": kind, "at": at, "params": dict(params), "n": occurrence},
        sort_keys=True,
        default=str,
    )
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "little")


def shock_stream(seed: int, key: int) -> np.random.Generator:
    """The generator of one shock: ``SeedSequence(seed, spawn_key=(SHOCK_STREAM_ID, key))``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SHOCK_STREAM_ID, key)))
