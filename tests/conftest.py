"""Shared fixtures: a small grid scaled from the defaults so stochastic tests take seconds."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# 32 x 32 is a quarter of the default region: committees, donor budgets and the council's
# rapid-response capacity are scaled by the same quarter, so densities stay as in defaults.
SMALL = [
    "grid.width=32",
    "grid.height=32",
    "lpc.count=10",
    "donors.0.budget=7.5",
    "donors.1.budget=5.0",
    "council.rapid_responses=1",
    "council.cost=3.0",
    "council.domestic_budget=1.0",
    "steps=120",
]
SEEDS = range(20)


@pytest.fixture
def small():
    """Overrides for the small test grid."""
    return list(SMALL)
