"""The model: agent rules, tier coupling, common random numbers, shocks, stylized behaviour.

Stochastic claims use >= 20 paired seeds (common random numbers) on a 32 x 32 grid.
"""

from __future__ import annotations

import mesa
import numpy as np
import pytest
from scipy import ndimage

from i4p_sim.config.loading import load_scenario
from i4p_sim.config.scenario import SHOCK_CLASSES, CouncilConfig, DonorConfig, LPCConfig
from i4p_sim.core.committees import CommitteeTier
from i4p_sim.core.landscape import distance_to_boundary, group_boundary
from i4p_sim.sim.agents import Community, ExternalDonor, LocalPeaceCommittee, NationalCouncil
from i4p_sim.sim.model import LAYERS, MEASURES, I4PModel, substreams
from i4p_sim.sim.responses import response_capacity, triage
from i4p_sim.sim.shocks import HANDLERS

from conftest import SEEDS, SMALL
from oracles import dialogue_field, mediation_damping

NO_I4P = ["lpc.enabled=false", "council.enabled=false"]


def make(overrides=(), seed=0, small=True, **kw) -> I4PModel:
    base = SMALL if small else []
    return I4PModel(load_scenario(None, overrides=[*base, *overrides]), seed=seed, **kw)


def run_series(overrides=(), seed=0):
    model = make(overrides, seed, communities=False)
    model.run()
    return model, model.series()


def shock(kind: str, at: int = 60, **params) -> str:
    extra = "".join(f", {k} = {v!r}".replace("'", '"') for k, v in params.items())
    return f'shocks = [{{kind = "{kind}", at = {at}{extra}}}]'


def paired(metric, a_overrides, b_overrides, seeds=SEEDS):
    """Per-seed metric(b) - metric(a) with common random numbers."""
    out = []
    for seed in seeds:
        _, sa = run_series(a_overrides, seed)
        _, sb = run_series(b_overrides, seed)
        out.append(metric(sb) - metric(sa))
    return np.asarray(out)


def post(series, at=60):
    return series["violence_share"].to_numpy()[at:].sum()


def assert_positive(diffs, min_share=0.8):
    """Mean effect above 3 standard errors and consistent in most pairs."""
    se = diffs.std(ddof=1) / np.sqrt(len(diffs))
    assert diffs.mean() > 3 * se, (diffs.mean(), se)
    assert (diffs > 0).mean() >= min_share, diffs


# ---------------------------------------------------------------- committee rules


def tier(n=1, shape=(9, 9), **cfg) -> CommitteeTier:
    positions = np.array([[4, 4]] * n)
    return CommitteeTier(LPCConfig(**cfg), positions, shape, False)


def field(value, shape=(9, 9)):
    return np.full(shape, float(value))


def update(t: CommitteeTier, tension=0.1, violence=0.0, cohesion=0.5, mandate=np.nan):
    t.update(
        tension=field(tension, t.shape),
        violence=field(violence, t.shape),
        cohesion=field(cohesion, t.shape),
        council_mandate=np.full(t.n, mandate),
        civic_space=1.0,
    )


def test_capacity_follows_funding_and_ownership():
    funded, unfunded = tier(capacity=0.5, ownership=0.2), tier(capacity=0.5, ownership=0.2)
    for _ in range(60):
        funded.funding[:] = funded.cfg.cost
        update(funded)
        update(unfunded)
    assert funded.capacity[0] > 0.95
    # without funding capacity decays towards what local ownership sustains
    assert abs(unfunded.capacity[0] - unfunded.ownership[0]) < 0.1
    assert unfunded.capacity[0] < 0.5


def test_dormant_below_floor_and_reactivates_above_threshold():
    t = tier(capacity=0.2, ownership=0.0, floor=0.15, reactivation=0.3, ownership_growth=0.0)
    for _ in range(10):
        update(t)
    assert not t.active[0]
    assert mediation_damping(t).max() == 0.0
    assert t.mediation_damping_map().max() == 0.0
    t.funding[:] = t.cfg.cost
    update(t)
    assert not t.active[0]  # hysteresis: the floor is not enough to come back
    for _ in range(20):
        t.funding[:] = t.cfg.cost
        update(t)
    assert t.active[0]


def test_ownership_grows_in_calm_cohesive_catchments_and_shrinks_under_violence():
    calm, violent = tier(ownership=0.3, legitimacy=0.9), tier(ownership=0.3, legitimacy=0.9)
    for _ in range(24):
        calm.funding[:] = calm.cfg.cost
        violent.funding[:] = violent.cfg.cost
        update(calm, tension=0.05, cohesion=0.9)
        update(violent, tension=0.6, violence=0.5, cohesion=0.2)
    assert calm.ownership[0] > 0.3 > violent.ownership[0]


def test_communities_contribute_when_donors_cut_at_a_limited_rate():
    """Ownership grows with the funding gap (contribution_rate x gap x trust), no handover."""
    funded, cut = tier(ownership=0.2), tier(ownership=0.2)
    for _ in range(24):
        funded.funding[:] = funded.cfg.cost
        update(funded, tension=0.5, cohesion=0.0)
        update(cut, tension=0.5, cohesion=0.0)
    gain = cut.ownership[0] - funded.ownership[0]
    assert 0 < gain <= 24 * cut.cfg.contribution_rate
    none = tier(ownership=0.2, contribution_rate=0.0)
    for _ in range(24):
        update(none, tension=0.5, cohesion=0.0)
    assert none.ownership[0] <= 0.2


def test_dilution_below_minimum_viable_resources_capacity_decays_to_zero():
    fixed = dict(ownership=0.0, min_resources=0.3, contribution_rate=0.0, ownership_growth=0.0)
    thin, viable = tier(**fixed), tier(**fixed)
    for _ in range(60):
        thin.funding[:] = 0.25 * thin.cfg.cost  # funded share below the floor
        viable.funding[:] = 0.35 * viable.cfg.cost
        update(thin, tension=1.0)
        update(viable, tension=1.0)
    assert thin.capacity[0] < 0.05 and not thin.active[0]
    assert viable.capacity[0] > 0.3 and viable.active[0]


def test_mediation_turns_into_a_drive_below_the_partisan_threshold_per_group():
    """Per-cell sign map: the home group trusts the committee, the other group may not."""
    group = np.zeros((9, 9), dtype=np.int64)
    group[:, 5:] = 1
    inclusive = tier(radius=3, capacity=1.0, legitimacy=0.6, inclusiveness=0.9)
    partisan = tier(radius=3, capacity=1.0, legitimacy=0.6, inclusiveness=0.2)
    for t in (inclusive, partisan):
        t.set_groups(group)
    # home cells: L = 0.6 >= 0.3, damping m (0.6 - 0.3) / 0.7
    assert inclusive.mediation_sign_map()[4, 4] == 1 == partisan.mediation_sign_map()[4, 4]
    d = partisan.mediation_damping_map()
    assert d[4, 4] == pytest.approx(0.35 * 0.3 / 0.7)
    # out-group cells: inclusive L = 0.54 calms; partisan L = 0.12 < 0.3 drives
    assert inclusive.mediation_sign_map()[4, 6] == 1
    assert partisan.mediation_sign_map()[4, 6] == -1 and d[4, 6] == 0.0
    drive = np.zeros(81)
    drive[partisan.cover] = partisan.mediation_drive_cells()
    assert drive.reshape(9, 9)[4, 6] == pytest.approx(0.35 * (0.3 - 0.12) / 0.3)
    assert drive.reshape(9, 9)[4, 4] == 0.0 and partisan.mediation_sign_map()[0, 0] == 0


def test_surveillance_costs_legitimacy_with_the_reported_group():
    group = np.zeros((9, 9), dtype=np.int64)
    group[:, 6:] = 1
    t = tier(watch_radius=3, legitimacy=1.0, surveillance_cost=0.5, warning_threshold=0.2)
    t.set_groups(group)
    before = t.group_legitimacy().copy()
    t.surveil([(4, 7, 0.5, 0)], group, capture=1.0)
    after = t.group_legitimacy()
    assert (after[t.entry_home] == before[t.entry_home]).all()
    np.testing.assert_allclose(after[~t.entry_home], 0.5 * before[~t.entry_home])


def test_low_council_mandate_coopts_committee_legitimacy():
    free, coopted = tier(legitimacy=0.8), tier(legitimacy=0.8)
    for _ in range(30):
        update(free, mandate=1.0)
        update(coopted, mandate=0.1)
    assert coopted.legitimacy[0] < free.legitimacy[0] - 0.1


def test_mediation_and_dialogue_act_only_in_the_catchment():
    t = tier(radius=2, capacity=1.0, legitimacy=1.0, mediation=0.4)
    damp = mediation_damping(t)
    assert np.array_equal(t.mediation_damping_map(), damp)
    assert damp[4, 4] == pytest.approx(0.4)
    assert damp[4, 6] == pytest.approx(0.4) and damp[4, 7] == 0.0 and damp[0, 0] == 0.0
    two = tier(n=2, radius=2, capacity=1.0, legitimacy=1.0, mediation=0.4)
    # overlapping committees combine as independent sinks: 1 - (1 - d)^2
    assert mediation_damping(two)[4, 4] == pytest.approx(1 - 0.6**2)
    dialogue = dialogue_field(t, civic_space=1.0)
    assert dialogue[4, 4] > 0 and dialogue[0, 0] == 0.0
    assert dialogue_field(t, civic_space=0.5)[4, 4] == pytest.approx(0.5 * dialogue[4, 4])


def test_warnings_point_at_the_hotspot_in_the_watch_area():
    t = tier(watch_radius=3, warning_threshold=0.35, legitimacy=1.0)
    tension = field(0.1)
    assert t.warnings(tension) == []
    tension[6, 5] = 0.5
    ((row, col, severity, sender),) = t.warnings(tension)
    assert (row, col, sender) == (6, 5, 0) and severity == 0.5
    t.active[:] = False
    assert t.warnings(tension) == []


def test_every_shock_kind_of_the_schema_has_one_handler():
    assert set(HANDLERS) == set(SHOCK_CLASSES)


def test_withdrawal_handlers_set_the_multipliers_the_schedule_reports():
    model = make(
        [
            'shocks=[{kind="funding_withdrawal", at=3, mode="phased", ramp=4, donor="all"},'
            ' {kind="funding_withdrawal", at=5, fraction=0.5, donor="undp"}]'
        ]
    )
    for t in range(10):
        model.step()
        for donor in model.donors:
            assert donor.multiplier == model.shocks.donor_multiplier(donor.name, t)
    assert any(d.multiplier < 1.0 for d in model.donors)


# ----------------------------------------------------------------- council and donor


class _Stub:
    """Just enough of a model for Mesa's Agent constructor."""

    def __init__(self):
        self.model = mesa.Model(rng=0)


def test_council_capacity_training_suspension_and_agreements():
    model = _Stub().model
    cfg = CouncilConfig(
        response_density=0.5, cost=10.0, domestic_budget=10.0, agreement_cooldown=5, mandate=1.0
    )
    # 3,000 inhabited cells: 1.5 responses a month, carried over: 1, 2, 1, 2, ...
    council = NationalCouncil(model, cfg, name="national", bounds=(0, 9, 0, 9), cells=3000)
    warnings = [(1, 1, 0.4, 0), (2, 2, 0.9, 1), (3, 3, 0.6, 2)]
    take, up = triage(warnings, 2)
    assert [w[2] for w in take] == [0.9, 0.6] and [w[2] for w in up] == [0.4]
    assert [response_capacity(council, t) for t in range(4)] == [1, 2, 1, 2]
    council.suspend(5)
    assert response_capacity(council, 4) == 0 and response_capacity(council, 5) == 1
    t = CommitteeTier(LPCConfig(capacity=0.5), np.array([[1, 1], [8, 8]]), (12, 12), False)
    regional = NationalCouncil(model, cfg, name="r", bounds=(0, 6, 0, 6), parent=council)
    regional.train(t, step=10)
    assert t.training[0] > 0 and t.training[1] == 0
    assert council.consider_agreement(recent_violence=0.5, step=10)
    assert not council.consider_agreement(recent_violence=0.5, step=12)  # cooldown
    assert council.consider_agreement(recent_violence=0.5, step=15)
    assert not regional.consider_agreement(recent_violence=0.5, step=20)  # national only


def test_agreement_is_judged_on_the_violence_of_its_own_months():
    model = _Stub().model
    cfg = CouncilConfig(agreement_threshold=0.01, agreement_duration=2, agreement_cooldown=10)
    council = NationalCouncil(model, cfg, name="national", bounds=(0, 9, 0, 9), cells=100)
    assert council.broker_agreement(0.001, step=0) is None
    assert council.broker_agreement(0.05, step=1) == "brokered"  # recent mean 0.0255
    assert council.broker_agreement(0.002, step=2) is None
    assert council.broker_agreement(0.004, step=3) is None  # its months: mean 0.003, kept
    assert (council.agreements, council.broken_agreements) == (1, 0)
    council.cooldown_until = 0
    assert council.broker_agreement(0.2, step=4) == "brokered"
    council.broker_agreement(0.03, step=5)
    assert council.broker_agreement(0.02, step=6) == "broken"  # mean 0.025 > 0.01
    assert (council.agreements, council.broken_agreements) == (2, 1)


def test_agreements_fire_and_shift_state_legitimacy():
    """Agreements fire at the defaults of an election scenario and raise state legitimacy;
    with no damping they break down and cost it (docs/ODD.md 7.11)."""

    def run(*sets):
        scenario = load_scenario("scenarios/election.toml", overrides=[*SMALL, "steps=240", *sets])
        m = I4PModel(scenario)
        for _ in range(scenario.steps):
            m.step()
        return m

    brokered = broken = 0
    for seed in range(4):
        m = run(f"seed={seed}", "council.agreement_breakdown=0")
        brokered += m.national.agreements
        gain = 0.05 * m.national.agreements
        base = run(
            f"seed={seed}", "council.agreement_legitimacy=0", "council.agreement_breakdown=0"
        )
        assert np.all(
            m.state.initial_legitimacy - base.state.initial_legitimacy == pytest.approx(gain)
        )
        weak = run(f"seed={seed}", "council.agreement_strength=0", "council.agreement_legitimacy=0")
        broken += weak.national.broken_agreements
        lost = 0.05 * weak.national.broken_agreements
        assert np.all(
            base.state.initial_legitimacy - weak.state.initial_legitimacy == pytest.approx(lost)
        )
    assert brokered > 0 and broken > 0


def test_donor_policies_and_split():
    model = _Stub().model
    t = CommitteeTier(LPCConfig(), np.array([[1, 1], [5, 5], [8, 8]]), (10, 10), False)
    t.active[:] = [True, True, False]
    need = np.array([0.1, 0.3, 0.6])
    uniform = ExternalDonor(model, DonorConfig(name="u", policy="uniform"))
    needy = ExternalDonor(model, DonorConfig(name="n", policy="need"))
    perf = ExternalDonor(model, DonorConfig(name="p", policy="performance"))
    np.testing.assert_allclose(uniform.allocate(9.0, t, need), [3, 3, 3])
    a = needy.allocate(10.0, t, need)
    assert a.sum() == pytest.approx(10.0) and a[2] > a[1] > a[0]
    p = perf.allocate(10.0, t, need)
    assert p[2] == 0.0 and p.sum() == pytest.approx(10.0)
    d = ExternalDonor(model, DonorConfig(name="d", budget=10.0, lpc_share=0.7))
    assert d.split(True, True) == pytest.approx((7.0, 3.0))
    assert d.split(False, True) == (0.0, 10.0) and d.split(True, False) == (10.0, 0.0)
    assert d.split(False, False) == (0.0, 0.0)


def test_regional_councils_escalate_what_they_cannot_handle():
    # one regional response a month in each ~230-cell region, one national (~920 cells)
    model = make(["council.regions=[2, 2]", "council.regional_density=4.4", "council.mandate=1"])
    model.config.council.response_density = 1.09
    assert len(model.councils) == 5 and model.national.level == "national"
    model.national.donor_funds = model.national.uncovered_cost()  # fully funded
    warnings = [(1, 1, 0.9, 0), (2, 2, 0.8, 1), (3, 3, 0.7, 2)]  # all in region 0-0
    model._councils_act(warnings, t=0)
    by_council = [r.council for r in model.responses.queue if r.source == "warning"]
    assert by_council.count("region-0-0") == 1
    assert by_council.count("national") == 1  # the national council takes what was passed up


# ------------------------------------------------------------------------- the model


def test_layers_agents_and_measures():
    model = make()
    for name in LAYERS:
        assert model.layers[name].shape == (32, 32)
        assert model.grid._mesa_property_layers[name].data is model.layers[name]
    communities = model.agents_by_type
    assert len(communities[Community]) == model.n_inhabited
    assert len(communities[LocalPeaceCommittee]) == 10
    model.run(5)
    c = communities[Community][0]
    assert c.tension == model.layers["tension"][c.cell.coordinate]
    df = model.series()
    assert list(df.columns) == list(MEASURES) and len(df) == 5
    lpc = communities[LocalPeaceCommittee][0]
    assert 0 <= lpc.capacity <= 1 and isinstance(lpc.active, bool)


def test_same_seed_is_bit_identical_and_seeds_differ():
    a = run_series(seed=3)[1]
    b = run_series(seed=3)[1]
    c = run_series(seed=4)[1]
    assert a.equals(b)
    assert not a.equals(c)


def test_tiers_switch_off():
    model = make(NO_I4P)
    assert model.committees.n == 0 and model.national is None
    model.run(20)
    df = model.series()
    assert (df["lpcs_active"] == 0).all() and (df["funding_disbursed"] == 0).all()
    assert (df["council_mandate"] == 0).all()


def test_shock_leaves_landscape_and_violence_draws_shared_until_it_fires():
    calm, shocked = make(), make([shock("political_upheaval", at=30)])
    for name in ("population", "group", "grievance"):
        np.testing.assert_array_equal(calm.layers[name], shocked.layers[name])
    for t in range(60):
        calm.step()
        shocked.step()
        # the violence stream is drawn the same way whatever happens
        np.testing.assert_array_equal(calm.draws, shocked.draws)
        if t < 30:
            for name in LAYERS:
                np.testing.assert_array_equal(calm.layers[name], shocked.layers[name])
    assert not np.array_equal(calm.layers["tension"], shocked.layers["tension"])


def test_substreams_are_independent_of_each_other():
    s = substreams(7)
    draws = {k: g.random(4) for k, g in s.items()}
    assert len({tuple(v) for v in draws.values()}) == len(draws)
    again = substreams(7)
    for k in draws:
        np.testing.assert_array_equal(draws[k], again[k].random(4))


def test_without_committees_the_council_answers_no_warnings():
    for seed in range(5):
        _, both = run_series(["lpc.legitimacy=0.95"], seed)  # trusted: they hear of risks
        _, council_only = run_series(["lpc.enabled=false"], seed)
        assert both["warnings_answered"].sum() > 0
        assert council_only["warnings_sent"].sum() == 0
        assert council_only["warnings_answered"].sum() == 0


@pytest.mark.slow
def test_warnings_send_responses_to_hotter_places_than_the_councils_late_view():
    """Information (docs/ODD.md 7.11, 7.12): with committees' warnings the council's
    responses land on targets of higher tension percentile than without (paired seeds).
    A mechanism, not an outcome: whether it lowers violence is an output."""
    diffs = []
    quiet = ["council.agreement_threshold=1"]  # an agreement would damp both maps alike
    for seed in SEEDS:
        with_lpc = make(quiet, seed, communities=False).run()
        without = make([*quiet, "lpc.enabled=false"], seed, communities=False).run()
        a = [r.target_percentile for r in with_lpc.responses.landed]
        b = [r.target_percentile for r in without.responses.landed]
        if a and b:
            diffs.append(np.mean(a) - np.mean(b))
    assert len(diffs) >= 16
    assert_positive(np.array(diffs), min_share=0.6)


# --------------------------------------------------------------------- shock effects


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind,params",
    [
        ("political_upheaval", {}),
        ("autocratic_turn", {}),
        ("border_spillover", {}),
        ("economic_shock", {}),
        ("trigger_incident", {"row": 16, "col": 16, "radius": 2}),
    ],
)
def test_every_shock_raises_violence_against_a_paired_calm_run(kind, params):
    """Shocks that add drive or grievance or remove mediation raise violence (a mechanism).

    Withdrawals are not here: whether losing the I4P's funding raises violence is a
    headline output, not a rule; the election is tested by its pulse below. Agreements
    are off: one brokered against the shock's violence absorbs part of it (7.11), which is
    an output of the I4P, not the shock's own channel."""
    quiet = ["council.agreement_threshold=1"]
    if kind == "trigger_incident":
        # a local shock: look where it struck
        def metric(s):
            return s["violence_share"].to_numpy()[60:72].sum()
    else:
        metric = post
    diffs = paired(metric, quiet, [*quiet, shock(kind, **params)])
    assert_positive(diffs, min_share=0.6 if kind == "trigger_incident" else 0.8)


def test_election_pulse_raises_tension_before_the_vote_only():
    # no agreement: one brokered against the pulse's violence would damp tension (7.11)
    quiet = ["council.agreement_threshold=1"]
    calm = make(quiet, communities=False).run(70)
    vote = make([*quiet, shock("election", at=60)], communities=False).run(70)
    a, b = calm.series()["mean_tension"], vote.series()["mean_tension"]
    np.testing.assert_array_equal(a[:54], b[:54])
    assert (b[54:60].to_numpy() > a[54:60].to_numpy()).all()


def test_conditional_withdrawal_waits_for_the_autocratic_turn():
    cond = 'shocks = [{kind = "autocratic_turn", at = 50}, {kind = "funding_withdrawal", at = 10, donor = "bilateral", condition = "autocratic_turn"}]'
    model = make([cond])
    model.run(60)
    budgets = model.series()["funding_disbursed"].to_numpy()
    assert budgets[49] > budgets[51]
    bilateral = next(d for d in model.donors if d.name == "bilateral")
    assert bilateral.budget == 0.0
    never = make(
        ['shocks = [{kind = "funding_withdrawal", at = 10, condition = "autocratic_turn"}]']
    )
    never.run(30)
    assert all(d.multiplier == 1.0 for d in never.donors)


# ----------------------------------------------------------- calibration and stylized facts


PLACEBO = [
    "lpc.mediation=0",
    "lpc.dialogue=0",
    "community.social_sanction=0",
    "council.response_strength=0",
    "council.agreement_strength=0",
    "council.agreement_legitimacy=0",
    "council.agreement_breakdown=0",
]


def test_placebo_i4p_funded_with_zero_efficacy_changes_nothing():
    """A null check (DESIGN 1.1): committees and councils funded and at work, every channel
    of effect at zero efficacy: the run is the no-I4P run, step for step."""
    _, placebo = run_series(PLACEBO)
    _, none = run_series(NO_I4P)
    assert placebo["funding_disbursed"].sum() > 0 and placebo["warnings_sent"].sum() > 0
    np.testing.assert_array_equal(placebo["violence_share"], none["violence_share"])
    np.testing.assert_array_equal(placebo["mean_tension"], none["mean_tension"])


@pytest.mark.parametrize("channel", PLACEBO[:4])
def test_each_i4p_channel_can_be_switched_off_alone(channel):
    """Each channel of effect, alone at zero, changes a run with violence (a live channel).

    (Agreements act only in the months after one is brokered: the placebo covers them.)"""
    hot = ["community.threshold=0.05"]
    _, full = run_series(hot)
    _, off = run_series([*hot, channel])
    assert not np.array_equal(full["mean_tension"], off["mean_tension"]), channel


@pytest.mark.slow
def test_autocratic_turn_raises_violence():
    assert_positive(paired(post, [], [shock("autocratic_turn")]), min_share=0.9)


@pytest.mark.slow
def test_border_spillover_violence_falls_with_distance_from_the_border():
    """Per seed: violence rate per column regressed on distance from the western border."""
    slopes, near_minus_far = [], []
    for seed in SEEDS:
        calm = make([], seed, communities=False)
        spill = make(
            [shock("border_spillover", at=0, edge="west", duration=120)], seed, communities=False
        )
        excess = np.zeros(spill.shape)
        for _ in range(120):
            calm.step()
            spill.step()
            excess += spill.layers["violence"].astype(float) - calm.layers["violence"]
        per_column = excess.sum(axis=0) / np.maximum(spill.inhabited.sum(axis=0), 1)
        distance = np.arange(spill.shape[1])
        slopes.append(np.polyfit(distance, per_column, 1)[0])
        near_minus_far.append(per_column[:8].mean() - per_column[-8:].mean())
    assert_positive(-np.array(slopes), min_share=0.9)
    assert_positive(np.array(near_minus_far), min_share=0.9)


@pytest.mark.slow
def test_without_i4p_violence_concentrates_at_group_boundaries():
    """Boundary cells vs the interiors of large patches (>= 3 friction scales from any edge).

    A 48 x 48 grid at the default patch scale holds both islands and large patches.
    """
    boundary_rate, interior_rate = [], []
    for seed in SEEDS:
        model = I4PModel(
            load_scenario(None, overrides=[*NO_I4P, "grid.width=48", "grid.height=48"]),
            seed=seed,
            communities=False,
        )
        counts = np.zeros(model.shape)
        for _ in range(120):
            model.step()
            counts += model.layers["violence"]
        group = model.layers["group"]
        deep = 3 * model.config.dynamics.friction_scale
        edge = group_boundary(group) & model.inhabited
        interior = (distance_to_boundary(group) >= deep) & model.inhabited
        if edge.sum() == 0 or interior.sum() == 0:
            continue
        boundary_rate.append(counts[edge].mean())
        interior_rate.append(counts[interior].mean())
    assert len(boundary_rate) >= 15
    assert_positive(np.array(boundary_rate) - np.array(interior_rate), min_share=0.9)


@pytest.mark.parametrize("torus", [False, True])
def test_warning_risk_map_is_the_footprint_mean_on_watched_cells(torus):
    model = make([f"grid.torus={str(torus).lower()}"], seed=2)
    model.run(15)
    tension = model.layers["tension"]
    size = 2 * model.config.council.response_radius + 1
    expected = ndimage.uniform_filter(tension, size=size, mode="wrap" if torus else "constant")
    cells = model.committees.watched_cells()
    risk = model.responses.risk_map(tension, model.committees)
    np.testing.assert_allclose(risk.ravel()[cells], expected.ravel()[cells], rtol=0, atol=1e-12)


def test_with_regional_councils_each_committee_is_trained_once():
    flat, nested = make(), make(["council.regions=[2, 2]"])
    for model in (flat, nested):
        model.national.donor_funds = model.national.cfg.cost
        model.committees.capacity[:] = 0.5
        model.committees.training[:] = 0.0
        model._councils_act([], t=0)
    np.testing.assert_allclose(nested.committees.training, flat.committees.training)
    assert (flat.committees.training > 0).all()


def test_random_targeting_on_a_grid_with_no_inhabited_cell_runs() -> None:
    """Found by the fuzzer: the null check's draw of targets among no cells."""
    sc = load_scenario(
        None,
        overrides=["grid.width=4", "grid.height=3", "landscape.inhabited_share=0.0"],
        steps=3,
    )
    sc = sc.model_copy(update={"council": sc.council.model_copy(update={"targeting": "random"})})
    model = I4PModel(sc, communities=False).run()
    assert not model.layers["violence"].any()
