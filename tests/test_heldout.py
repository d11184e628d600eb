"""Held-out checks over the ensemble members (``i4p_sim.calibrate.heldout``): the member's
statistics are validation's at the same seeds and parameters, the spillover ring against
a brute-force distance, the per-member store is reused, and the results do not depend on
the worker count or on which other members are computed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from i4p_sim.calibrate import heldout as ho
from i4p_sim.calibrate.design import load_calibration
from i4p_sim.config.errors import ConfigError
from i4p_sim.sim.simulation import Simulation
from i4p_sim.stats import events as es
from i4p_sim.stats.spillover import ring_cell_months, ring_mask
from i4p_sim.validation.calibration import heldout_verdict
from i4p_sim.validation.common import spatial_run
from i4p_sim.validation.event_sizes import MIN_TAIL, XMINS, fit_row

from conftest import ROOT

TARGETS = """
[definitions]
region_cells = 48
active_cells = 1
episode_gap = 6
burn_in = 12

[heldout]
grid = {grid}
replicates = {replicates}
{extra}

[[target]]
name = "relapse_within_a_decade"
role = "calibration"
statistic = "KM relapse"
value = 0.9
low = 0.8
high = 1.0
var_discrepancy = 0.05

[[target]]
name = "event_size_tail"
role = "held_out"
statistic = "event sizes"
value_low = 1.8
value_high = 3.0
xmin_low = 10
xmin_high = 50

[[target]]
name = "training_spillover"
role = "held_out"
statistic = "ring"
ring = [1, 3]
"""

#: violent enough for tails of more than MIN_TAIL events of at least 10 cell-months
VIOLENT = {"community.threshold": 0.03, "dynamics.contagion": 0.2}


def tiny(tmp: Path, extra: str = "", grid: int = 48, replicates: int = 3) -> Path:
    """A calibration file whose held-out reruns take about a second (48 x 48, 60 months)."""
    (tmp / "targets.toml").write_text(TARGETS.format(extra=extra, grid=grid, replicates=replicates))
    path = tmp / "tiny.toml"
    path.write_text(
        f"""
name = "tiny"
seed = 5
scenario = "{ROOT / "scenarios/baseline.toml"}"
elections = "{ROOT / "scenarios/election.toml"}"
targets = "targets.toml"
priors = "{ROOT / "experiments/priors.toml"}"
parameters = ["community.threshold", "dynamics.contagion"]
set = ["grid.width=48", "grid.height=48"]
steps = 60
waves = 1
points = 2
replicates = 2
[units]
relapse_within_a_decade = 60
"""
    )
    return path


def members(*rows: tuple[int, int, float, float]) -> pd.DataFrame:
    """An ensemble frame: (wave, point, threshold, contagion) per member."""
    return pd.DataFrame(
        rows, columns=["wave", "point", "community.threshold", "dynamics.contagion"]
    )


def test_member_statistics_are_validations(tmp_path: Path) -> None:
    """Event sizes, Vuong's R and the local exponents as validation section 4 computes
    them (spatial_run, fit_row, the local-exponent table) at the member's seeds."""
    cal = load_calibration(tiny(tmp_path))
    sizes = ho.heldout_sizes(cal)
    with_lpc, without = ho.member_scenarios(cal, sizes, VIOLENT)
    assert (with_lpc.grid.width, with_lpc.steps, with_lpc.shocks) == (48, 60, [])
    assert with_lpc.lpc.enabled and not without.lpc.enabled
    seeds = ho.member_seeds(cal.config.seed, 1, 0, sizes.replicates)
    defs = ho._definitions(cal)
    assert defs["xmins"] == (10, 20, 50) and defs["ring"] == (1, 3)
    got = ho.member_job(with_lpc, without, seeds, defs["burn_in"], defs["ring"], defs["xmins"])
    runs = [spatial_run(with_lpc.model_copy(update={"seed": s}), (), True) for s in seeds]
    pooled = np.concatenate([r["sizes"] for r in runs])
    row = fit_row(pooled, n_boot=2, seed=0)
    assert got["events"] == pooled.size and got["largest"] == pooled.max()
    assert (got["R"], got["xmin"], got["alpha"]) == (row.R, row.fit.xmin, row.fit.alpha)
    table = {
        str(f.xmin): f.alpha
        for f in es.local_exponents(pooled, XMINS, min_tail=MIN_TAIL)
        if 10 <= f.xmin <= 50
    }
    assert got["local"] == table and "10" in table  # a tail was fitted at these sizes


def test_spillover_ring_against_brute_force_distances(tmp_path: Path) -> None:
    cal = load_calibration(tiny(tmp_path))
    sizes = ho.heldout_sizes(cal)
    with_lpc, without = ho.member_scenarios(cal, sizes, VIOLENT)
    seed = ho.member_seeds(cal.config.seed, 2, 7, 1)
    got = ho.member_job(with_lpc, without, seed, 12, (1, 3), ())
    counts = []
    for sc in (with_lpc, without):
        sim = Simulation(sc.model_copy(update={"seed": seed[0]}), communities=False)
        stack = sim.violence_stack()
        if sc is with_lpc:
            model = sim.model
            rr, cc = np.indices(model.shape)
            pos = model.committees.positions
            d2 = ((rr[..., None] - pos[:, 0]) ** 2 + (cc[..., None] - pos[:, 1]) ** 2).min(-1)
            r = sc.lpc.radius
            ring = (d2 > r**2) & (d2 <= (r + 3) ** 2) & model.inhabited
        counts.append(int(stack[12:, ring].sum()))
        sim.release()
    assert got["ring_cells"] == [int(ring.sum())] and ring.sum() > 0
    assert [got["with"][0], got["without"][0]] == counts


def test_ring_mask_by_hand() -> None:
    """One committee at a corner of a 7 x 7 torus, radius 1, ring 1..1: distance in (1, 2]."""
    inhabited = np.ones((7, 7), dtype=bool)
    inhabited[0, 2] = False
    mask = ring_mask(np.array([[0, 0]]), 1, inhabited, torus=True, inner=1, outer=1)
    expected = {(0, 5), (5, 0), (1, 1), (1, 6), (6, 1), (6, 6), (2, 0)}  # (0, 2) uninhabited
    assert {tuple(map(int, ij)) for ij in np.argwhere(mask)} == expected
    stack = np.zeros((3, 7, 7), dtype=bool)
    stack[:, 2, 0] = True
    assert ring_cell_months(stack, mask, start=1) == 2
    with pytest.raises(ValueError):
        ring_mask(np.array([[0, 0]]), 1, inhabited, torus=True, inner=0)


def test_the_member_store_is_reused(tmp_path: Path, monkeypatch) -> None:
    """A second call computes nothing; a new member is the only one computed; another
    replicate count recomputes (its key changes)."""
    cal = load_calibration(tiny(tmp_path, "steps = 30", grid=24, replicates=2))
    ens = members((1, 0, 0.2, 0.1), (1, 1, 0.1, 0.15))
    first, done = ho.rerun_members(cal, ens, tmp_path / "out", workers=1)
    assert done == 2 and sorted(p.name for p in (tmp_path / "out" / "heldout").iterdir()) == [
        "wave_1_point_0.json",
        "wave_1_point_1.json",
    ]

    def refuse(*args, **kwargs):
        raise AssertionError("recomputed a stored member")

    real = ho.member_job
    monkeypatch.setattr(ho, "member_job", refuse)
    again, done = ho.rerun_members(cal, ens, tmp_path / "out", workers=1)
    assert done == 0 and again == first
    monkeypatch.setattr(ho, "member_job", real)
    more = pd.concat([members((2, 3, 0.05, 0.2)), ens], ignore_index=True)
    grown, done = ho.rerun_members(cal, more, tmp_path / "out", workers=1)
    assert done == 1 and grown[1:] == first
    bigger = ho.HeldoutSizes(grid=24, replicates=1, steps=30)
    _, done = ho.rerun_members(cal, ens, tmp_path / "out", sizes=bigger, workers=1)
    assert done == 2


def test_a_member_does_not_depend_on_the_others(tmp_path: Path) -> None:
    """Seeds are keyed by (wave, point): alone, in another order, or beside other members,
    a member's result is the same (what any worker count relies on)."""
    cal = load_calibration(tiny(tmp_path, "steps = 30", grid=24, replicates=2))
    ens = members((1, 0, 0.2, 0.1), (3, 4, 0.1, 0.15))
    both, _ = ho.rerun_members(cal, ens, tmp_path / "a", workers=1)
    alone, _ = ho.rerun_members(cal, ens.iloc[[1]], tmp_path / "b", workers=1)
    flipped, _ = ho.rerun_members(cal, ens.iloc[::-1], tmp_path / "c", workers=1)
    assert alone == both[1:] and flipped == both[::-1]
    assert ho.member_seeds(5, 1, 0, 3)[:2] == ho.member_seeds(5, 1, 0, 2)
    assert ho.member_seeds(5, 1, 0, 2) != ho.member_seeds(5, 0, 1, 2)


@pytest.mark.slow
def test_the_table_is_the_same_on_one_and_two_workers(tmp_path: Path) -> None:
    cal = load_calibration(tiny(tmp_path, "steps = 30", grid=24, replicates=2))
    ens = members((1, 0, 0.2, 0.1), (1, 1, 0.1, 0.15), (2, 0, 0.05, 0.2))
    one = ho.heldout_table(cal, None, ens, tmp_path / "one", workers=1)  # type: ignore[arg-type]
    two = ho.heldout_table(cal, None, ens, tmp_path / "two", workers=2)  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(one, two)


def test_the_table_reads_as_counts_over_members(tmp_path: Path) -> None:
    """Each row says "in K of N members" first, which the VALIDATION generator reads."""
    cal = load_calibration(tiny(tmp_path, "steps = 30", grid=24, replicates=2))
    ens = members((1, 0, 0.2, 0.1), (1, 1, 0.1, 0.15))
    table = ho.heldout_table(cal, None, ens, tmp_path / "out", workers=1)  # type: ignore[arg-type]
    assert list(table["target"]) == ["event_size_tail", "training_spillover"]
    assert list(table["members"]) == [2, 2]
    for result in table["result"]:
        assert " of 2 members;" in result
        assert heldout_verdict(2, result).status in ("agrees", "disagrees")
    empty = ho.heldout_table(cal, None, ens.iloc[:0], tmp_path / "out")  # type: ignore[arg-type]
    assert list(empty["result"]) == ["no member to check"] * 2


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ("colour = 1", "heldout.colour: unknown key"),
        ("steps = 0", "heldout.steps: must be an integer >= 1"),
        ("steps = 12", "heldout.steps: must exceed the burn-in"),
        ("[heldout.quick]\ngrid = true", "heldout.quick.grid: must be an integer"),
    ],
)
def test_bad_heldout_sizes_are_one_line(tmp_path: Path, extra: str, where: str) -> None:
    cal = load_calibration(tiny(tmp_path, extra), quick=True)
    with pytest.raises(ConfigError) as err:
        ho.heldout_sizes(cal)
    assert where in err.value.one_line()


def test_quick_sizes_and_the_shipped_targets(tmp_path: Path) -> None:
    cal = load_calibration(tiny(tmp_path, "[heldout.quick]\nreplicates = 1"), quick=True)
    assert ho.heldout_sizes(cal) == ho.HeldoutSizes(grid=48, replicates=1, steps=60)
    shipped = ROOT / "experiments" / "calibration.toml"
    full = ho.heldout_sizes(load_calibration(shipped))
    quick = ho.heldout_sizes(load_calibration(shipped, quick=True))
    assert full == ho.HeldoutSizes(grid=128, replicates=4, steps=240)
    assert quick.grid * quick.replicates < full.grid * full.replicates
