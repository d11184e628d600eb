"""Failure modes (docs/ODD.md 7.9, 7.13): the I4P's effect is an output that can flip.

Paired seeds on the default 64 x 64 grid, violence after the turn (months 120-239).
"""

from __future__ import annotations

import numpy as np
import pytest

from i4p_sim.config.loading import load_scenario
from i4p_sim.sim.model import I4PModel

from conftest import ROOT

NONE = ["lpc.enabled=false", "council.enabled=false"]


def i4p_minus_none(name: str, extra=(), seeds=range(8)) -> np.ndarray:
    out = []
    for seed in seeds:
        post = {}
        for label, tiers in (("i4p", []), ("none", NONE)):
            sc = load_scenario(ROOT / "scenarios" / f"{name}.toml", overrides=[*extra, *tiers])
            m = I4PModel(sc, seed=seed, communities=False).run()
            post[label] = m.series()["violence_share"].to_numpy()[120:].sum()
        out.append(post["i4p"] - post["none"])
    return np.asarray(out)


def test_captured_i4p_differs_from_the_autocratic_turn_only_in_capture() -> None:
    captured = load_scenario(ROOT / "scenarios" / "captured_i4p.toml")
    turn = load_scenario(ROOT / "scenarios" / "autocratic_turn.toml")
    assert captured.shocks[0].capture == 1.0 and turn.shocks[0].capture == 0.0
    same = captured.model_copy(
        update={
            "shocks": [captured.shocks[0].model_copy(update={"capture": 0.0})],
            "name": turn.name,
            "description": turn.description,
        }
    )
    assert same == turn


@pytest.mark.slow
def test_in_a_captured_i4p_the_i4p_raises_violence_and_the_partisan_ablation_removes_it() -> None:
    """I4P - none > 0 in captured_i4p (paired); capture adds harm; the flip goes when the
    mechanism ODD names is ablated: the partisan drive (lpc.partisan_threshold 0.3 -> 0.1,
    inside its prior), through which the turn's legitimacy collapse makes committees
    insider partials to the out-groups."""
    captured = i4p_minus_none("captured_i4p")
    assert (captured > 0).all(), captured
    uncaptured = i4p_minus_none("captured_i4p", ["shocks.0.capture=0.0"])
    assert (captured > uncaptured).mean() >= 0.75, (captured, uncaptured)
    ablated = i4p_minus_none("captured_i4p", ["lpc.partisan_threshold=0.1"])
    assert ablated.mean() < 0 and (ablated < captured).all(), ablated


def contrast(name: str, a: list[str], b: list[str], start: int, seeds=range(8)) -> np.ndarray:
    """Per seed: violence (sum of shares from ``start``) of ``b`` minus that of ``a``."""
    out = []
    for seed in seeds:
        post = []
        for sets in (a, b):
            sc = load_scenario(
                ROOT / "scenarios" / f"{name}.toml",
                overrides=["grid.width=32", "grid.height=32", *sets],
            )
            m = I4PModel(sc, seed=seed, communities=False).run()
            post.append(m.series()["violence_share"].to_numpy()[start:].sum())
        out.append(post[1] - post[0])
    return np.asarray(out)


def test_partisan_committees_differs_from_baseline_only_inside_the_priors() -> None:
    import tomllib

    priors = {
        p["path"]: p
        for p in tomllib.loads((ROOT / "experiments" / "priors.toml").read_text())["prior"]
    }
    partisan = load_scenario(ROOT / "scenarios" / "partisan_committees.toml")
    base = load_scenario(ROOT / "scenarios" / "baseline.toml")
    changed = {
        "landscape.patch_scale": partisan.landscape.patch_scale,
        "lpc.inclusiveness": partisan.lpc.inclusiveness,
        "lpc.mediation": partisan.lpc.mediation,
    }
    for path, value in changed.items():
        assert priors[path]["low"] <= value <= priors[path]["high"], path
    same = partisan.model_copy(
        update={
            "landscape": partisan.landscape.model_copy(
                update={"patch_scale": base.landscape.patch_scale}
            ),
            "lpc": partisan.lpc.model_copy(
                update={"inclusiveness": base.lpc.inclusiveness, "mediation": base.lpc.mediation}
            ),
            "name": base.name,
            "description": base.description,
        }
    )
    assert same == base


@pytest.mark.slow
def test_partisan_committees_raise_violence_inclusive_ones_lower_it_and_the_drive_is_why() -> None:
    """Committees only minus no I4P (paired seeds, 32 x 32): > 0 at inclusiveness 0.2, < 0 at
    1.0 (experiments/failure_modes/partisan_committees.toml locates the crossing); with the
    partisan drive ablated (threshold 0.01) the committees lower violence at 0.2 too."""
    lpc_only = ["council.enabled=false"]
    for incl, sign in ((0.2, 1), (1.0, -1)):
        d = contrast("partisan_committees", NONE, [*lpc_only, f"lpc.inclusiveness={incl}"], 24)
        assert (np.sign(d) == sign).mean() >= 0.75 and np.sign(d.mean()) == sign, (incl, d)
    ablated = contrast(
        "partisan_committees",
        NONE,
        [*lpc_only, "lpc.inclusiveness=0.2", "lpc.partisan_threshold=0.01"],
        24,
    )
    assert (ablated < 0).mean() >= 0.75, ablated


@pytest.mark.slow
def test_capture_weakens_the_council_tier() -> None:
    """Council only minus no I4P after the turn of captured_i4p (paired, 32 x 32). Capture
    turns its responses into crackdowns: at the top of the repression-cost prior the
    council lowers violence less than without capture in most seeds. (Whether it flips is
    grid-dependent: on 32 x 32 the captured council raises violence in most seeds, on 48 x
    48 experiments/failure_modes/captured_council.toml finds no sign change: docs/ODD.md,
    "Failure modes".)"""
    council_only = ["lpc.enabled=false"]
    costly = ["state.repression_cost=0.06"]
    captured = contrast("captured_i4p", [*NONE, *costly], [*council_only, *costly], 120)
    free = ["shocks.0.capture=0", *costly]
    uncaptured = contrast("captured_i4p", [*NONE, *costly], [*council_only, *free], 120)
    assert uncaptured.mean() < 0 and uncaptured.mean() < captured.mean(), (captured, uncaptured)
    assert (uncaptured < captured).mean() >= 0.75, (captured, uncaptured)


def _violence(sets: list[str], seed: int, start: int = 24) -> float:
    sc = load_scenario(None, overrides=["grid.width=32", "grid.height=32", *sets])
    m = I4PModel(sc, seed=seed, communities=False).run()
    return float(m.series()["violence_share"].to_numpy()[start:].sum())


@pytest.mark.slow
def test_random_siting_shrinks_the_committee_effect_and_the_tier_interaction() -> None:
    """A null check (DESIGN 1.1): committees sited at random instead of by need lower
    violence less, and the tiers' interaction moves towards 0 (paired seeds, 32 x 32;
    experiments/null_checks.toml gives the sizes on 48 x 48)."""
    council_off, lpc_off = ["council.enabled=false"], ["lpc.enabled=false"]
    rand = ['lpc.placement="random"']
    effect, effect_r, inter, inter_r = [], [], [], []
    for seed in range(16):
        none = _violence([*council_off, *lpc_off], seed)
        council = _violence(lpc_off, seed)
        lpc, lpc_r = _violence(council_off, seed), _violence([*council_off, *rand], seed)
        both, both_r = _violence([], seed), _violence(rand, seed)
        effect.append(lpc - none)
        effect_r.append(lpc_r - none)
        inter.append((both - council) - (lpc - none))
        inter_r.append((both_r - council) - (lpc_r - none))
    effect, effect_r = np.array(effect), np.array(effect_r)
    d = effect_r - effect  # > 0: random sites avert less
    assert effect.mean() < effect_r.mean() < 0, (effect, effect_r)
    assert d.mean() > 2 * d.std(ddof=1) / np.sqrt(d.size), d
    assert abs(np.mean(inter_r)) < abs(np.mean(inter)), (inter, inter_r)


@pytest.mark.slow
def test_responses_to_random_cells_lower_violence_less() -> None:
    """A null check: the council's rapid responses sent to random inhabited cells instead of
    warned or observed hotspots lower violence less (council only, agreements off so that
    the responses are its only channel; paired seeds, 32 x 32)."""
    base = ["lpc.enabled=false", "council.agreement_threshold=1"]
    none = np.array(
        [_violence(["lpc.enabled=false", "council.enabled=false"], s) for s in range(8)]
    )
    aimed = np.array([_violence(base, s) for s in range(8)]) - none
    random = (
        np.array([_violence([*base, 'council.targeting="random"'], s) for s in range(8)]) - none
    )
    assert aimed.mean() < random.mean() < 0 and (aimed < random).mean() >= 0.75, (aimed, random)


@pytest.mark.slow
def test_interaction_and_exit_harm_flip_with_composition_and_the_drive_is_why() -> None:
    """partisan_committees (paired seeds, 32 x 32): the tier interaction
    ``(both - council) - (lpc - none)`` is negative with partisan committees (inclusiveness
    0.2: the council offsets them) and positive with inclusive ones (1.0); an abrupt exit at
    month 120 lowers violence with partisan committees and raises it with inclusive ones.
    With the partisan drive ablated (threshold 0.01) neither flips (docs/ODD.md 8.10)."""
    lpc_off, council_off = ["lpc.enabled=false"], ["council.enabled=false"]
    exit_120 = 'shocks=[{kind="funding_withdrawal", at=120, donor="all", mode="abrupt"}]'

    def interaction(extra: list[str]) -> np.ndarray:
        both_minus_council = contrast("partisan_committees", [*lpc_off, *extra], extra, 24)
        lpc_minus_none = contrast("partisan_committees", NONE + extra, [*council_off, *extra], 24)
        return both_minus_council - lpc_minus_none

    partisan, inclusive = ["lpc.inclusiveness=0.2"], ["lpc.inclusiveness=1.0"]
    ablated = ["lpc.partisan_threshold=0.01"]
    assert interaction(partisan).mean() < 0 < interaction(inclusive).mean()
    assert interaction([*partisan, *ablated]).mean() > 0
    harm = {
        name: contrast("partisan_committees", extra, [*extra, exit_120], 120)
        for name, extra in (
            ("partisan", partisan),
            ("inclusive", inclusive),
            ("ablated", [*partisan, *ablated]),
        )
    }
    assert harm["partisan"].mean() < 0 < harm["inclusive"].mean(), harm
    assert harm["ablated"].mean() > 0 and (harm["ablated"] > 0).mean() >= 0.75, harm


FRAGILE = {
    "council.agreement_threshold": 0.0005,
    "council.agreement_cooldown": 12,
    "council.agreement_legitimacy": 0.0,
    "council.agreement_breakdown": 0.15,
    "council.response_strength": 0.2,
}


def assert_differs_only_inside_priors(
    scenario: str, shipped: str, table: str, changed: dict[str, float]
) -> None:
    """``scenarios/SCENARIO.toml`` is ``scenarios/SHIPPED.toml`` with only the ``changed``
    parameters of one table set, each to a value inside its prior (priors.toml)."""
    import tomllib

    priors = {
        p["path"]: p
        for p in tomllib.loads((ROOT / "experiments" / "priors.toml").read_text())["prior"]
    }
    variant = load_scenario(ROOT / "scenarios" / f"{scenario}.toml")
    base = load_scenario(ROOT / "scenarios" / f"{shipped}.toml")
    for path, value in changed.items():
        assert getattr(getattr(variant, table), path.split(".")[1]) == value, path
        assert priors[path]["low"] <= value <= priors[path]["high"], path
    base_values = {k.split(".")[1]: getattr(getattr(base, table), k.split(".")[1]) for k in changed}
    same = variant.model_copy(
        update={
            table: getattr(variant, table).model_copy(update=base_values),
            "name": base.name,
            "description": base.description,
        }
    )
    assert same == base


def test_fragile_settlements_differs_from_baseline_only_in_council_parameters_inside_the_priors() -> (
    None
):
    assert_differs_only_inside_priors("fragile_settlements", "baseline", "council", FRAGILE)


@pytest.mark.slow
def test_with_fragile_settlements_a_weak_council_raises_violence_and_breakdown_is_why() -> None:
    """Council only minus no I4P (paired seeds, 32 x 32, months 24-239) in
    fragile_settlements: > 0 when agreements are weak (strength 0.1, the prior's low end),
    < 0 when strong (0.5, its high end); with broken agreements costing nothing
    (agreement_breakdown 0) the weak council lowers violence too (docs/ODD.md 8.10)."""
    council_only = ["lpc.enabled=false"]
    weak = contrast(
        "fragile_settlements", NONE, [*council_only, "council.agreement_strength=0.1"], 24
    )
    strong = contrast(
        "fragile_settlements", NONE, [*council_only, "council.agreement_strength=0.5"], 24
    )
    assert (weak > 0).mean() >= 0.75 and weak.mean() > 0, weak
    assert (strong < 0).mean() >= 0.75 and strong.mean() < 0, strong
    no_breakdown = ["council.agreement_strength=0.1", "council.agreement_breakdown=0"]
    ablated = contrast("fragile_settlements", NONE, [*council_only, *no_breakdown], 24)
    assert (ablated < 0).mean() >= 0.75 and (ablated < weak).all(), ablated


CONVEX = {"lpc.returns": 2.0, "lpc.capacity_rate": 0.2, "lpc.min_resources": 0.1}


def test_convex_returns_differs_from_the_phased_exit_only_in_committee_parameters_inside_the_priors() -> (
    None
):
    assert_differs_only_inside_priors("convex_returns", "withdrawal_phased", "lpc", CONVEX)


def exit_shape(ownership: float, returns: float, seeds=range(24)) -> tuple[np.ndarray, np.ndarray]:
    """Per seed, phased minus abrupt exit at month 60 in convex_returns (48 x 48, months
    48-71, the ramp): (committees' capability-months, violence summed over the months)."""
    out = []
    for seed in seeds:
        k, v = [], []
        for mode in ("abrupt", "phased"):
            sc = load_scenario(
                ROOT / "scenarios" / "convex_returns.toml",
                overrides=[
                    "grid.width=48",
                    "grid.height=48",
                    "steps=72",
                    f"lpc.ownership={ownership}",
                    f"lpc.returns={returns}",
                    "shocks.0.at=60",
                    f'shocks.0.mode="{mode}"',
                ],
            )
            m = I4PModel(sc, seed=seed, communities=False)
            months = []
            for _ in range(72):
                m.step()
                months.append(m.committees.capability().sum())
            k.append(sum(months[48:]))
            v.append(m.series()["violence_share"].to_numpy()[48:].sum())
        out.append((k[1] - k[0], v[1] - v[0]))
    return np.asarray(out)[:, 0], np.asarray(out)[:, 1]


@pytest.mark.slow
def test_with_convex_returns_the_exit_shape_flips_with_ownership_and_linear_returns_remove_it() -> (
    None
):
    """convex_returns (returns to scale 2), phased minus abrupt exit over the ramp (months
    48-71, paired seeds, 48 x 48): with little ownership (0.05) the ramp's money buys fewer
    capability-months than the abrupt exit's and phasing raises violence; with much (0.5)
    the committees' own resources fill the ramp's first months, phasing buys more and lowers
    violence. With linear returns (lpc.returns = 1, the ablation) phasing buys more
    capability-months and lowers violence at both ends: no flip
    (experiments/failure_modes/exit_shape.toml locates the crossing; docs/ODD.md 8.10).
    Capability-months differ in every seed; violence by about a third of a seed's standard
    deviation at the low end, so the test reads violence as means over 48 seeds (and the
    paired difference between convex and linear returns there)."""
    k_low, v_low = exit_shape(0.05, 2.0, range(48))
    k_high, v_high = exit_shape(0.5, 2.0, range(48))
    k_lin_low, v_lin_low = exit_shape(0.05, 1.0, range(48))
    k_lin_high, v_lin_high = exit_shape(0.5, 1.0, range(48))
    assert (k_low < 0).mean() >= 0.75 and (k_high > 0).mean() >= 0.75, (k_low, k_high)
    assert (k_lin_low > 0).mean() >= 0.75 and (k_lin_high > 0).mean() >= 0.75
    assert v_low.mean() > 0 > v_high.mean(), (v_low.mean(), v_high.mean())
    assert v_lin_low.mean() < 0 and v_lin_high.mean() < 0, (v_lin_low.mean(), v_lin_high.mean())
    d = v_low - v_lin_low  # convex minus linear returns, same seeds
    assert d.mean() > 2 * d.std(ddof=1) / np.sqrt(d.size), d
