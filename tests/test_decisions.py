"""Communities decide and the state's security actor (docs/ODD.md 7.4, 7.4b).

The per-agent rule (``Community.decide``, run through a Mesa ``AgentSet`` with synchronous
update) equals the vectorised rule (``core.decisions.decide``) from the same draws; each
rule does what ODD says; at the provisional defaults violence comes in episodes.
"""

from __future__ import annotations

import numpy as np
import pytest

from i4p_sim.config.loading import load_scenario
from i4p_sim.config.scenario import StateConfig
from i4p_sim.core.decisions import DecisionParams, decide
from i4p_sim.core.hotspots import densest_cells
from i4p_sim.sim.agents import Community
from i4p_sim.sim.model import I4PModel
from i4p_sim.sim.state import SecurityForce

PARAMS = DecisionParams(
    threshold=0.1,
    arrest_constant=2.3,
    social_sanction=0.5,
    exhaustion_cost=0.3,
    exhaustion_recovery=0.05,
)


def hot_model(torus: bool, seed: int = 1, *extra: str) -> I4PModel:
    """A small grid with violence, crackdowns and committees (low threshold, wide noise)."""
    sc = load_scenario(
        None,
        overrides=[
            "grid.width=14",
            "grid.height=11",
            f"grid.torus={str(torus).lower()}",
            "lpc.density=60",
            "community.threshold=0.02",
            "community.decision_noise=0.1",
            "state.crackdowns=20",
            *extra,
        ],
    )
    return I4PModel(sc, seed=seed)


def vector_decisions(m: I4PModel) -> tuple[np.ndarray, np.ndarray]:
    """The vectorised rule on copies of the model's current state (draws already made)."""
    L = m.layers
    violence, exhaustion = L["violence"].copy(), L["exhaustion"].copy()
    work = tuple(np.empty(m.shape) for _ in range(3))
    decide(
        tension=L["tension"],
        group=L["group"],
        state_legitimacy=m.state.legitimacy,
        presence=L["presence"],
        near=m.near,
        sanction=m.sanction,
        attachment=L["attachment"],
        risk_aversion=L["risk_aversion"],
        exhaustion=exhaustion,
        noise=m.noise,
        inhabited=m.inhabited,
        params=m.decision_params,
        violence=violence,
        work=work,
    )
    return violence, exhaustion


@pytest.mark.parametrize("torus", [False, True])
def test_per_agent_rule_equals_the_vectorised_rule_through_an_agentset(torus) -> None:
    m = hot_model(torus)
    agents = m.agents_by_type[Community]
    assert len(agents) == m.n_inhabited
    mobilised = 0
    for _ in range(12):
        m.step()
        # this step's decision inputs, exactly as I4PModel._decide prepares them
        m.rng_decisions.standard_normal(out=m.draws)
        np.multiply(m.draws, m.config.community.decision_noise, out=m.noise)
        m.sanction.reshape(-1)[m.committees.cover] = m.committees.sanction_cells(m.layers["group"])
        want_v, want_e = vector_decisions(m)
        agents.do("decide")  # all read the same state ...
        agents.do("commit")  # ... then all write
        np.testing.assert_array_equal(m.layers["violence"], want_v)
        np.testing.assert_allclose(m.layers["exhaustion"], want_e, rtol=0, atol=1e-12)
        mobilised += int(want_v.sum())
    assert mobilised > 0 and m.committees.n > 0 and m.sanction.any()


def one_cell(**kw) -> tuple[bool, float]:
    values = dict(
        tension=0.6,
        legitimacy=0.5,
        presence=0.2,
        near=0.0,
        sanction=0.0,
        attachment=0.5,
        risk_aversion=0.3,
        exhaustion=0.0,
        noise=0.0,
    )
    values.update(kw)
    a = {k: np.full((1, 1), float(v)) for k, v in values.items()}
    violence = np.zeros((1, 1), dtype=bool)
    exhaustion = a["exhaustion"].copy()
    decide(
        tension=a["tension"],
        group=np.zeros((1, 1), dtype=np.int64),
        state_legitimacy=np.array([values["legitimacy"]]),
        presence=a["presence"],
        near=a["near"],
        sanction=a["sanction"],
        attachment=a["attachment"],
        risk_aversion=a["risk_aversion"],
        exhaustion=exhaustion,
        noise=a["noise"],
        inhabited=np.ones((1, 1), dtype=bool),
        params=PARAMS,
        violence=violence,
        work=tuple(np.empty((1, 1)) for _ in range(3)),
    )
    return bool(violence[0, 0]), float(exhaustion[0, 0])


def test_grievance_is_hardship_times_illegitimacy() -> None:
    # G = 0.6 * 0.5 = 0.3; risk 0.3 * (1 - exp(-0.46)) = 0.11: margin 0.19 > 0.1
    assert one_cell()[0]
    assert not one_cell(legitimacy=0.8)[0]  # a legitimate state: G = 0.12
    assert not one_cell(tension=0.3)[0]


def test_presence_deters_and_is_shared_among_those_mobilised_nearby() -> None:
    assert not one_cell(presence=1.0, risk_aversion=0.5)[0]
    assert one_cell(presence=1.0, risk_aversion=0.5, near=1.0)[0]  # safety in numbers


def test_committee_sanction_deters_only_through_attachment_and_legitimacy() -> None:
    assert not one_cell(sanction=1.0, attachment=1.0, risk_aversion=0.5, presence=0.1)[0]
    assert one_cell(sanction=1.0, attachment=0.0, risk_aversion=0.5, presence=0.1)[0]
    assert one_cell(sanction=0.0, attachment=1.0, risk_aversion=0.5, presence=0.1)[0]


def test_mobilisation_is_costly_and_exhaustion_recovers() -> None:
    went, e = one_cell()
    assert went and e == pytest.approx(PARAMS.exhaustion_cost)
    assert not one_cell(exhaustion=e)[0]  # exhausted: the episode ends here
    stayed, e2 = one_cell(exhaustion=0.3, tension=0.0)
    assert not stayed and e2 == pytest.approx(0.3 * (1 - PARAMS.exhaustion_recovery))
    assert one_cell(noise=-0.2, tension=0.4)[0] and not one_cell(noise=0.2)[0]


def test_densest_cells_equal_a_full_stable_sort() -> None:
    rng = np.random.default_rng(4)
    for _ in range(50):
        d = np.round(rng.random((9, 8)) * (rng.random((9, 8)) < 0.4), 1)
        for k in (0, 1, 3, 20, 100):
            order = np.argsort(-d, axis=None, kind="stable")[:k]
            order = order[d.ravel()[order] > 0]
            np.testing.assert_array_equal(densest_cells(d, k), order)


def test_crackdowns_deter_now_and_cost_legitimacy_and_raise_grievance() -> None:
    m = I4PModel(load_scenario(None, overrides=["grid.width=10", "grid.height=10"]))
    group = np.zeros((10, 10), dtype=np.int64)
    group[:, 5:] = 1
    cfg = StateConfig(crackdowns=10.0, repression_cost=0.05, backlash=0.1, crackdown_duration=2)
    force = SecurityForce(m, cfg, group, 2, np.ones((10, 10), dtype=bool))
    assert force.legitimacy.tolist() == pytest.approx([0.6, 0.6 * 0.7])
    violence = np.zeros((10, 10), dtype=bool)
    violence[4:7, 7:9] = True  # in group 1's half
    grievance = np.full((10, 10), 0.2)
    assert force.act(violence, 0, grievance) == 1  # 10 per 1,000 cells: one a month here
    p = force.update_presence(0).copy()
    assert p.max() == pytest.approx(0.7) and p.min() == pytest.approx(0.2)
    assert p[5, 8] == pytest.approx(0.7) and p[5, 1] == pytest.approx(0.2)
    assert 0.42 - force.legitimacy[1] > 0.6 - force.legitimacy[0] >= 0  # group 1 pays most
    assert grievance[5, 8] == pytest.approx(0.3) and grievance[5, 1] == pytest.approx(0.2)
    assert force.update_presence(2).max() == pytest.approx(0.2)  # deterrence is short-run
    lost = force.legitimacy.copy()
    force.act(np.zeros_like(violence), 3, grievance)
    assert (force.legitimacy > lost).all()  # it recovers, slowly


def test_without_violence_there_is_no_crackdown_and_the_state_is_there_without_i4p() -> None:
    m = I4PModel(
        load_scenario(
            None,
            overrides=[
                "grid.width=16",
                "grid.height=16",
                "lpc.enabled=false",
                "council.enabled=false",
            ],
        )
    )
    assert m.state.act(np.zeros(m.shape, dtype=bool), 0, m.layers["grievance"]) == 0
    assert (m.layers["presence"] == m.config.state.presence).all()


def _episodes(active: np.ndarray, gap: int = 12) -> tuple[int, int]:
    onsets = terminations = quiet = 0
    inside = False
    for a in active:
        if a:
            onsets += not inside
            inside, quiet = True, 0
        elif inside:
            quiet += 1
            if quiet >= gap:
                terminations += 1
                inside = False
    return onsets, terminations


def test_at_the_defaults_violence_comes_in_episodes_and_most_region_months_are_calm() -> None:
    """experiments/targets.toml definitions: a 64 x 64 region, >= 3 violent cells, gap 12."""
    active, onsets, terminations = [], [], []
    for seed in range(4):
        m = I4PModel(load_scenario(None), seed=seed, communities=False)
        counts = []
        for _ in range(240):
            m.step()
            counts.append(int(m.layers["violence"].sum()))
        a = np.asarray(counts[24:]) >= 3
        on, off = _episodes(a)
        active.append(a.mean())
        onsets.append(on)
        terminations.append(off)
    assert np.mean(active) < 0.5, active
    assert np.mean(onsets) >= 1 and np.mean(terminations) >= 1, (onsets, terminations)


@pytest.mark.parametrize(
    ("torus", "returns"), [(False, 1.0), (True, 1.0), (False, 2.0), (True, 0.5)]
)
def test_per_agent_committee_rules_equal_the_vectorised_tier(torus, returns) -> None:
    """LocalPeaceCommittee.mediation_at / sanction_at / dialogue_at over an AgentSet = the
    tier's fields, with linear, convex and concave returns to scale (``lpc.returns``); the
    donors' performance weight is each agent's capability x legitimacy."""
    from i4p_sim.sim.agents import LocalPeaceCommittee

    m = hot_model(torus, 1, "landscape.patch_scale=1", f"lpc.returns={returns}")
    assert len(np.unique(m.layers["group"])) == 2
    m.config.lpc.inclusiveness = 0.3  # some out-group cells below the partisan threshold
    m.committees.trust_other[:] = 0.3
    m.run(6)
    tier = m.committees
    # (at 60 committees per 1,000 cells the default budgets dilute them all into dormancy)
    tier.capacity[:] = np.linspace(0.2, 0.9, tier.n)
    tier.active[:] = True
    tier.active[0] = False
    agents = m.agents_by_type[LocalPeaceCommittee]
    assert len(agents) == tier.n > 1
    w = m.shape[1]
    keep, drive, sanction, dialogue = [], [], [], []
    for cell in tier.cover.tolist():
        row, col = divmod(cell, w)
        values = [a.mediation_at(row, col) for a in agents]
        keep.append(np.prod([1.0 - d for d, _ in values]))
        drive.append(sum(r for _, r in values))
        sanction.append(sum(a.sanction_at(row, col) for a in agents))
        dialogue.append(min(sum(a.dialogue_at(row, col, 0.8) for a in agents), 1.0))
    np.testing.assert_allclose(1.0 - np.array(keep), tier.mediation_damping_cells(), atol=1e-12)
    np.testing.assert_allclose(drive, tier.mediation_drive_cells(), atol=1e-12)
    np.testing.assert_allclose(sanction, tier.sanction_cells(), atol=1e-12)
    np.testing.assert_allclose(dialogue, tier.dialogue_cells(0.8), rtol=0, atol=1e-12)
    assert tier.mediation_drive_cells().max() > 0 and tier.mediation_damping_cells().max() > 0
    assert tier.dialogue_cells(0.8).max() > 0
    by_agent = sorted(agents, key=lambda a: a.index)
    np.testing.assert_allclose(
        tier.effectiveness(), [a.capability * a.legitimacy for a in by_agent], rtol=0, atol=1e-12
    )
    if returns == 1.0:  # linear returns: the model before lpc.returns, bit for bit
        assert np.array_equal(tier.capability(), tier.capacity * tier.active)
        assert np.array_equal(tier.effectiveness(), tier.capacity * tier.legitimacy * tier.active)
    else:
        np.testing.assert_allclose(tier.capability(), tier.capacity**returns * tier.active)


@pytest.mark.parametrize("torus", [False, True])
def test_per_agent_committee_update_equals_the_vectorised_tier(torus) -> None:
    from i4p_sim.sim.agents import LocalPeaceCommittee

    m = hot_model(torus, 2, "landscape.patch_scale=1", "lpc.density=30", "donors.0.budget=60")
    tier = m.committees
    agents = list(m.agents_by_type[LocalPeaceCommittee])
    for step in range(8):
        m.step()
        tier.funding[:] = np.linspace(0.0, 1.2, tier.n) * tier.cfg.cost
        tier.training[:] = 0.01 * step
        mandates = np.where(np.arange(tier.n) % 2, np.nan, 0.6)
        want = [a.updated(mandates[a.index], 0.8) for a in agents]  # all read ...
        L = m.layers
        tier.update(  # ... then all write
            tension=L["tension"],
            violence=L["violence"],
            cohesion=L["cohesion"],
            council_mandate=mandates,
            civic_space=0.8,
        )
        for key in ("capacity", "ownership", "legitimacy"):
            got = getattr(tier, key)
            np.testing.assert_allclose(got, [w[key] for w in want], rtol=0, atol=1e-12)
        assert tier.active.tolist() == [w["active"] for w in want]
    assert tier.capacity[0] < tier.capacity[-1]  # the unfunded one is being diluted


def _markov(rng, n: int, stay_calm: float, stay_active: float) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    for t in range(1, n):
        stay = stay_active if out[t - 1] else stay_calm
        out[t] = out[t - 1] if rng.random() < stay else not out[t - 1]
    return out


def test_peace_spells_of_a_bernoulli_series_are_not_over_dispersed_a_sticky_one_is() -> None:
    """The null check's statistic (i4p_sim.stats.spells; experiments/targets.toml)."""
    from i4p_sim.stats.spells import spell_dispersion, spell_lengths

    series = np.array([0, 0, 1, 0, 1, 1, 0, 0, 0], bool)
    np.testing.assert_array_equal(spell_lengths(series), [2, 1, 3])
    np.testing.assert_array_equal(spell_lengths(series, 2), [2, 3])
    assert spell_lengths(np.ones(4, bool)).size == 0
    rng = np.random.default_rng(1)
    bernoulli = [rng.random(216) < 0.15 for _ in range(8)]
    res = spell_dispersion(bernoulli, n_permutations=199)
    assert res.p_value > 0.05, res
    sticky = [_markov(rng, 216, 0.97, 0.7) for _ in range(8)]
    res = spell_dispersion(sticky, n_permutations=199)
    assert res.p_value < 0.05 and res.ratio > 1.5, res


@pytest.mark.parametrize("torus", [False, True])
def test_per_agent_warnings_and_surveillance_equal_the_vectorised_tier(torus) -> None:
    """LocalPeaceCommittee.warn through an AgentSet, collected in committee order, gives
    CommitteeTier.warnings exactly (cells, committees, order; severities to 1e-12), step
    after step; LocalPeaceCommittee.surveilled gives CommitteeTier.surveil's trust."""
    from i4p_sim.sim.peace_committee import LocalPeaceCommittee, collect_warnings

    m = hot_model(
        torus,
        3,
        "landscape.patch_scale=1",
        "donors.0.budget=150",  # 8 committees, funded enough to stay active
        "lpc.inclusiveness=0.8",  # out-group cells see a little less: trust weights risk
        "lpc.warning_threshold=0.1",
    )
    m.capture_i4p(0.5)  # warnings become surveillance: trust falls unevenly over the run
    tier = m.committees
    agents = m.agents_by_type[LocalPeaceCommittee]
    lpcs = list(agents)
    assert [a.index for a in lpcs] == list(range(tier.n)) and tier.n > 4
    sent = shared = 0
    for step in range(30):
        m.step()
        tier.active[step % tier.n] = False  # a dormant committee sends nothing
        risk = m.responses.risk_map(m.layers["tension"], tier)
        want = tier.warnings(risk)
        mine = agents.map("warn", risk)  # in committee order
        assert mine[step % tier.n] is None
        got = collect_warnings(mine)
        assert [(r, c, i) for r, c, _, i in got] == [(r, c, i) for r, c, _, i in want]
        np.testing.assert_allclose([w[2] for w in got], [w[2] for w in want], rtol=0, atol=1e-12)
        sent += len(want)
        shared += sum(w is not None for w in mine) - len(want)  # overlapping watch areas
        home, other = tier.trust_home.copy(), tier.trust_other.copy()
        for r, c, _, i in got:
            home[i], other[i] = lpcs[i].surveilled(r, c, m.capture)
        tier.surveil(want, m.layers["group"], m.capture)
        np.testing.assert_allclose(tier.trust_home, home, rtol=0, atol=1e-12)
        np.testing.assert_allclose(tier.trust_other, other, rtol=0, atol=1e-12)
    assert sent > 10 and shared > 0
    assert tier.trust_home.min() < 1.0
    # ties: on an even risk map every cell of a group looks the same; the first (row-major)
    # of the best-trusting group is the hotspot, and overlapping committees report it once
    tier.active[:] = True
    even = np.full(m.shape, 0.9)
    got = collect_warnings(agents.map("warn", even))
    assert got == tier.warnings(even) and 0 < len(got) < tier.n
    # a report on a cell of another group costs the other groups' trust (both branches)
    group = m.layers["group"]
    reports = []
    for a in lpcs:
        home = group[a.cell.coordinate]
        for want_home in (True, False):
            rows, cols = np.nonzero((group == home) == want_home)
            reports.append(
                (int(rows[a.index % len(rows)]), int(cols[a.index % len(cols)]), a.index)
            )
    for r, c, i in reports:
        expect = lpcs[i].surveilled(r, c, 1.0)
        tier.surveil([(r, c, 0.5, i)], group, 1.0)
        assert (tier.trust_home[i], tier.trust_other[i]) == pytest.approx(expect, abs=1e-12)
    assert tier.trust_other.max() < 0.8
