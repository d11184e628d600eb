"""The I4P model: a Mesa model around the vectorised tension core.

:meth:`I4PModel.step` follows docs/ODD.md section 3, "Process overview":

1. shocks due now fire; this step's shock drive is assembled (``shocks``, ODD 7.13);
2. donors set budgets and disburse to committees and councils (``agents.disburse``, 7.10);
3. committees update capacity, ownership, legitimacy, dormancy, and send early warnings
   (``core.committees``, 7.9);
4. councils recover mandate, train committees, triage warnings (regional, then national),
   dispatch rapid responses (``responses``, 7.11) and may broker a national agreement;
   the state's security force cracks down on last step's violence (``state``, 7.5);
5. the tension field propagates (``core.field.propagate``, 7.1) with every source and sink;
6. communities decide whether to mobilise (``core.decisions``, 7.4); cohesion, memory and
   grievance update (``core.social``, 7.6-7.8);
7. the DataCollector records the step's measures (4.9).

Runs go through :class:`i4p_sim.sim.simulation.Simulation`, which builds this model.
"""

from __future__ import annotations

from typing import Any

import mesa
import numpy as np
from mesa.datacollection import DataCollector
from mesa.discrete_space import OrthogonalMooreGrid

from i4p_sim.config.loading import load_scenario
from i4p_sim.config.scenario import Scenario
from i4p_sim.core import landscape
from i4p_sim.core.committees import CommitteeFields, CommitteeTier
from i4p_sim.core.decisions import DecisionParams, decide
from i4p_sim.core.field import propagate
from i4p_sim.core.siting import need_based_sites
from i4p_sim.core.social import relax_grievance, update_cohesion_and_memory
from i4p_sim.core.streams import streams as keyed_streams
from i4p_sim.sim.agents import (
    Community,
    ExternalDonor,
    LocalPeaceCommittee,
    NationalCouncil,
    build_councils,
    disburse,
)
from i4p_sim.sim.measures import MEASURES, gc_paused, measure, reporter
from i4p_sim.sim.responses import RapidResponses
from i4p_sim.sim.shocks import ShockSchedule
from i4p_sim.sim.state import SecurityForce

#: The property layers, in the order they are registered on the grid.
LAYERS: tuple[str, ...] = tuple(
    "population group grievance tension cohesion violence memory exhaustion presence "
    "risk_aversion attachment".split()
)
#: First spawn-key entry of a re-seeded stream (:meth:`I4PModel.reseed_stream`), far from
#: the named streams' ids and the shock streams' (core/streams.py), so none collides.
RESEED_SPAWN_KEY = 0x5EED


def substreams(seed: int) -> dict[str, np.random.Generator]:
    """The run's keyed random streams (:func:`i4p_sim.core.streams.streams`, ODD 7.0)."""
    return keyed_streams(seed)


class I4PModel(mesa.Model):
    """Infrastructures for Peace on a grid of communities.

    Mesa's ``steps`` counts the steps done; during :meth:`step` the step being computed
    is ``steps - 1`` (0-based).

    Parameters
    ----------
    scenario : Scenario, str or Path, optional
        A validated scenario or a TOML file; ``None`` is the default scenario.
    seed : int, optional
        Overrides the scenario's seed.
    communities : bool
        Create one :class:`Community` agent per inhabited cell (default). Sweeps that only
        need the arrays may switch it off.
    """

    def __init__(
        self,
        scenario: Scenario | str | None = None,
        *,
        seed: int | None = None,
        communities: bool = True,
    ) -> None:
        if not isinstance(scenario, Scenario):
            scenario = load_scenario(scenario)
        if seed is not None:
            scenario = scenario.model_copy(update={"seed": seed})
        # not ``self.scenario``: Mesa 3.5 reserves that name for its own Scenario object
        self.config = scenario
        super().__init__(rng=scenario.seed)
        # the dynamics draw only from these keyed streams, never from Mesa's random / rng
        self.streams = substreams(scenario.seed)
        self.rng_decisions = self.streams["decisions"]
        g = scenario.grid
        self.shape = (g.height, g.width)  # grid geometry, read by shocks and analyses
        self.torus = g.torus
        with gc_paused():  # ~10 objects per cell, all long-lived: no collection needed
            self.grid = OrthogonalMooreGrid(self.shape, torus=g.torus, random=self.random)
        self.georef: dict[str, Any] | None = None  # the grid's CRS and transform (real maps)
        self.region: np.ndarray | None = None  # region id per cell (0: none), from a map
        self._maps = None
        self._build_layers()
        self._build_landscape()
        self._build_traits()
        self.civic_space = 1.0
        self.capture = 0.0  # share of the I4P captured by an autocratic turn (7.13)
        self.shocks = ShockSchedule(scenario.shocks, scenario.seed)
        self.shock_drive = np.zeros(self.shape)
        self._buffers()
        if communities:
            with gc_paused():
                self._build_communities()
        self._build_committees()
        self._build_councils()
        self.donors = [ExternalDonor(self, d, self.n_inhabited / 1000.0) for d in scenario.donors]
        self.state = SecurityForce(
            self,
            scenario.state,
            self.layers["group"],
            scenario.landscape.groups,
            self.inhabited,
            presence=self.layers["presence"],
        )
        c = scenario.community
        self.decision_params = DecisionParams(
            c.threshold,
            c.arrest_constant,
            c.social_sanction,
            c.exhaustion_cost,
            c.exhaustion_recovery,
        )
        self.responses = RapidResponses(
            scenario.council,
            self.shape,
            self.torus,
            self.inhabited,
            self.streams["council"],
            self.streams["targeting"],
        )
        # a captured council's responses become the state's crackdowns (7.13)
        self.responses.crackdown = lambda row, col, t: self.state.crack_down(
            row, col, t, self.layers["grievance"]
        )
        self.measures: dict[str, float] = dict.fromkeys(MEASURES, 0.0)
        self._cluster = 0
        self.datacollector = DataCollector(
            model_reporters={name: reporter(name) for name in MEASURES}
        )

    # ------------------------------------------------------------------ construction

    def reseed_stream(self, name: str, key: int) -> None:
        """Replace random stream ``name`` by a fresh generator keyed by ``(seed, key)``.

        The null perturbation of the paired resilience metrics (docs/ODD.md 4.9): a twin
        whose decisions stream is re-seeded at the shock month is a decorrelated unshocked
        pair. The new generator is ``SeedSequence(seed, spawn_key=(RESEED_SPAWN_KEY, key))``,
        so it shares nothing with any of the run's substreams. Nothing else changes.
        """
        if name not in self.streams:
            raise ValueError(f"unknown stream {name!r}; allowed: {', '.join(self.streams)}")
        seq = np.random.SeedSequence(self.config.seed, spawn_key=(RESEED_SPAWN_KEY, int(key)))
        self.streams[name] = np.random.default_rng(seq)
        if hasattr(self, f"rng_{name}"):
            setattr(self, f"rng_{name}", self.streams[name])

    def _build_layers(self) -> None:
        dtypes = {"group": np.int64, "violence": np.bool_}
        self.layers: dict[str, np.ndarray] = {}
        for name in LAYERS:
            dtype = dtypes.get(name, np.float64)
            default = dtype(0)
            layer = self.grid.create_property_layer(name, default_value=default, dtype=dtype)
            self.layers[name] = layer.data

    def _build_landscape(self) -> None:
        """Population, groups and grievance (docs/ODD.md 5.1), then what derives from them."""
        self._generate_landscape()
        ls, torus, L = self.config.landscape, self.torus, self.layers
        self.inhabited = L["population"] > 0
        self.n_inhabited = int(self.inhabited.sum())
        L["cohesion"][...] = ls.cohesion_mean * self.inhabited
        self.base_grievance = L["grievance"].copy()
        self.base_cohesion = L["cohesion"].copy()
        self.friction = landscape.boundary_friction(
            L["group"], ls.groups, self.config.dynamics.friction_scale, torus
        )
        fmax = self.friction.max()
        self.friction_norm = self.friction / fmax if fmax > 0 else self.friction.copy()

    def _generate_landscape(self) -> None:
        """The three generated fields, from the landscape stream, in this order (5.1)."""
        rng = self.streams["landscape"]
        ls, shape, torus = self.config.landscape, self.shape, self.torus
        L = self.layers
        L["population"][...] = landscape.population(
            rng, shape, ls.inhabited_share, ls.population_mean, torus
        )
        L["group"][...] = landscape.identity_groups(rng, shape, ls.groups, ls.patch_scale, torus)
        L["grievance"][...] = landscape.grievance(
            rng, shape, ls.grievance_mean, ls.grievance_sd, ls.grievance_scale, torus
        )
        if ls.maps():  # real maps replace the layers they give (docs/ODD.md 6)
            from i4p_sim.geo import grid_maps

            self._maps = grid_maps(self.config, self.config.name)
            self.region = self._maps.apply(L)
            self.georef = self._maps.georeference()

    def _build_traits(self) -> None:
        """Persistent traits of the communities, from the traits stream (docs/ODD.md 5.1)."""
        rng = self.streams["traits"]
        L = self.layers
        L["risk_aversion"][...] = rng.random(self.shape) * self.inhabited  # Epstein's R
        L["attachment"][...] = rng.random(self.shape) * self.inhabited  # to its committee

    def _buffers(self) -> None:
        shape = self.shape
        self.drive = np.zeros(shape)
        self.damping = np.zeros(shape)
        self.draws = np.zeros(shape)  # this step's standard normal draws (decisions stream)
        self.noise = np.zeros(shape)  # decision_noise * draws
        self.sanction = np.zeros(shape)  # the committees' social sanction (7.4)
        self.near = np.zeros(shape)  # neighbours' mean mobilisation last step (7.4)
        self._work = (np.empty(shape), np.empty(shape), np.empty(shape))
        # scratch space reused every step, so that a step allocates no grid-sized array
        self._scratch = np.empty(shape)
        self._violence_f = np.zeros(shape)  # this step's violence as float64
        self._exposure = np.empty(shape)
        self._labels = np.empty(shape, dtype=np.int32)
        self._inhabited_idx = np.flatnonzero(self.inhabited)
        # as 1.0 / 0.0: multiplying by it gives the bits multiplying by the bool mask does
        # (numpy casts the bool to 1.0 / 0.0), without a cast every step
        self._inhabited_f = self.inhabited.astype(np.float64)
        self._gathered = np.empty(self._inhabited_idx.size)
        self._friction_drive: tuple[float, np.ndarray] | None = None

    def _build_communities(self) -> None:
        rows, cols = np.nonzero(self.inhabited)
        grid = self.grid
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            Community(self, grid[(r, c)])

    def _build_committees(self) -> None:
        """Site the committees (docs/ODD.md 5.2) and build their tier and agents."""
        cfg = self.config.lpc
        chosen = self._site_committees()
        w = self.shape[1]
        positions = np.stack([chosen // w, chosen % w], axis=1).astype(np.int64)
        self.committees = CommitteeTier(cfg, positions, self.shape, self.torus)
        self.committees.set_groups(self.layers["group"])
        for i, (r, c) in enumerate(self.committees.positions.tolist()):
            LocalPeaceCommittee(self, self.grid[(r, c)], i)

    def _site_committees(self) -> np.ndarray:
        """Flat indices of the committees' cells (docs/ODD.md 5.2), placement stream."""
        cfg = self.config.lpc
        rng = self.streams["placement"]
        if cfg.sites is not None and cfg.enabled:  # listed in a CSV: no draw (ODD 5.2)
            from i4p_sim.geo.sites import read_sites

            return read_sites(cfg.sites, self.config, self._maps, self.inhabited, self.config.name)
        # a density: committees per 1,000 inhabited cells, rounded half to even (ODD 5.2)
        n = int(np.rint(cfg.density * self.n_inhabited / 1000.0)) if cfg.enabled else 0
        candidates = np.flatnonzero(self.inhabited.ravel())
        n = min(n, candidates.size)
        if n and cfg.placement == "need":
            # committees are set up where structural drivers are worst (need-based siting)
            need = (self.layers["grievance"] + self.friction).ravel()[candidates]
            chosen = need_based_sites(rng, candidates, need, n, self.shape, cfg.radius)
        elif n:
            chosen = rng.choice(candidates, size=n, replace=False)
        else:
            chosen = np.zeros(0, dtype=np.int64)
        return chosen

    def _build_councils(self) -> None:
        """The national council, regional councils (docs/ODD.md 5.3), who answers to whom."""
        self.councils, self.council_of = build_councils(
            self,
            self.config.council,
            self.shape,
            self.committees.positions,
            self.inhabited,
            regions=self.region,
            names=self._maps.region_names if self._maps is not None else None,
        )
        self.national: NationalCouncil | None = self.councils[0] if self.councils else None
        self.regional = [c for c in self.councils if c.parent is not None]

    # ----------------------------------------------- what shocks change (shocks.ShockTarget)

    def capture_i4p(self, share: float) -> None:
        """An autocratic turn captures the I4P: responses -> crackdowns, warnings -> surveillance."""
        self.capture = max(self.capture, share)
        self.responses.capture = self.capture

    def close_civic_space(self, share: float) -> None:
        """Civic space shrinks by ``share`` of what is left (an autocratic turn, ODD 7.13)."""
        self.civic_space *= 1.0 - share

    def raise_grievance(self, rise: Any, *, permanent: bool = False) -> None:
        """Grievance rises by ``rise`` (scalar or (H, W)), clipped to [0, 1] (ODD 7.13).

        ``permanent`` raises the level grievance relaxes to (``base_grievance``) too.
        """
        if permanent:
            self.base_grievance[...] = np.clip(self.base_grievance + rise, 0.0, 1.0)
        g = self.layers["grievance"]
        g[...] = np.clip(g + rise, 0.0, 1.0)

    # -------------------------------------------------------------------------- step

    def step(self) -> None:
        """Advance one month, in the order of docs/ODD.md section 3 (module docstring)."""
        t = self.steps - 1  # Mesa counts this step already
        tension = self.layers["tension"]
        # 1. shocks: donors' budget multipliers, one-off effects, this step's shock drive
        shock_drive = self.shocks.fire(self, t)
        # 2. donors fund committees and the national council, by need: last step's tension
        # in each catchment, which the committees' update reads too (computed once)
        tier = self.committees
        need = tier.catchment_mean(tension) if tier.n else np.zeros(0)
        disbursed, returned = disburse(self.donors, tier, self.national, tension, need)
        # 3. committees update, then send early warnings
        warnings = self._committees_act(t, need)
        # 4. councils: mandate, training, rapid responses, national agreement
        answered = self._councils_act(warnings, t)
        # the state's security force acts on last step's violence, with or without an I4P
        self.state.act(self.layers["violence"], t, self.layers["grievance"])
        self.state.update_presence(t)
        # 5. tension: responses land, then the field propagates with every source and sink
        self.responses.land(t, tension)
        fields = self._committee_fields()  # the tier is settled for this step
        # without shocks the shock drive is +0.0 everywhere: adding it changes nothing
        self._assemble_drive(shock_drive if self.shocks.shocks else None, fields)
        self._assemble_damping(t, fields)
        self._propagate_tension()
        # 6. communities decide; councils will see it late; the social layers follow
        self._decide(fields)
        self.responses.record_violence(self.layers["violence"])
        self._update_social_layers(fields)
        # 7. observation
        self._measure(t, disbursed, returned, len(warnings), answered)
        self.datacollector.collect(self)

    def _committees_act(
        self, t: int, need: np.ndarray | None = None
    ) -> list[tuple[int, int, float, int]]:
        """Committees update from last step's state and warn of hotspots (docs/ODD.md 7.9)."""
        L, tier = self.layers, self.committees
        mandates = (
            np.array([c.effective_mandate(t) for c in self.councils] + [np.nan])[self.council_of]
            if tier.n
            else np.zeros(0)
        )
        tier.update(
            tension=L["tension"],
            violence=L["violence"],
            cohesion=L["cohesion"],
            council_mandate=mandates,
            civic_space=self.civic_space,
            tension_mean=need,
        )
        if not tier.n:
            return []
        warnings = tier.warnings(self.responses.risk_map(L["tension"], tier))
        if self.capture > 0:  # captured warnings become surveillance (7.13)
            tier.surveil(warnings, L["group"], self.capture)
        return warnings

    def _councils_act(self, warnings: list, t: int) -> int:
        """Councils act in turn (docs/ODD.md 7.11); return the number of warnings answered."""
        if self.national is None:
            return 0
        for council in self.councils:
            council.recover_mandate()
            # each committee is trained once, by its most local council
            if council.parent is not None or not self.regional:
                council.train(self.committees, t)
        answered = self.responses.respond(warnings, self.national, self.regional, t)
        event = self.national.broker_agreement(self.measures["violence_share"], t)
        if event == "brokered":  # a settlement raises what every group grants the state
            self.state.shift_legitimacy(self.config.council.agreement_legitimacy)
        elif event == "broken":
            self.state.shift_legitimacy(-self.config.council.agreement_breakdown)
        return answered

    def _committee_fields(self) -> CommitteeFields | None:
        """This step's committee fields at the covered cells (``None`` without committees)."""
        tier = self.committees
        return tier.step_fields(self.civic_space) if tier.n else None

    def _assemble_drive(
        self, shock_drive: np.ndarray | None, fields: CommitteeFields | None = None
    ) -> None:
        """Combine every source of tension into :attr:`drive` (docs/ODD.md 7.2).

        ``shock_drive``: ``None`` when it is zero everywhere; ``fields``: this step's
        committee fields (default: computed now).
        """
        d, L = self.config.dynamics, self.layers
        drive = self.drive
        np.multiply(L["cohesion"], -d.cohesion_buffer, out=drive)
        drive += 1.0
        drive *= L["grievance"]
        drive *= d.grievance_forcing
        drive += self._friction_term()
        scratch = self._scratch
        np.multiply(L["memory"], d.memory_weight, out=scratch)
        drive += scratch
        drive *= self._inhabited_f
        if shock_drive is not None:
            drive += shock_drive
        tier = self.committees
        if tier.n:  # partisan mediation drives where a group distrusts the committee (7.9)
            fields = fields or self._committee_fields()
            # a zero rate everywhere adds 0.0 * tension = +0.0, which leaves drive as it is
            # (never -0.0: sums of terms >= 0, the parameters being validated >= 0, and shocks)
            if fields.drive.any():
                flat = drive.reshape(-1)
                flat[tier.cover] += fields.drive * L["tension"].reshape(-1)[tier.cover]

    def _friction_term(self) -> np.ndarray:
        """``friction_strength * friction``: constant over a run, so computed once."""
        strength = self.config.dynamics.friction_strength
        cached = self._friction_drive
        if cached is None or cached[0] != strength:
            cached = self._friction_drive = (strength, strength * self.friction)
        return cached[1]

    def _assemble_damping(self, t: int, fields: CommitteeFields | None = None) -> None:
        """Combine every sink into :attr:`damping` (docs/ODD.md 7.3).

        Committees, rapid responses, a national agreement, violence release. Every factor
        is 1 off the cells it concerns (and x * 1.0 == x exactly), so each sink multiplies
        only its own cells: the result is bit for bit the product of the full-grid factors.
        """
        cfg = self.config
        keep = self.damping
        keep.fill(1.0)
        tier = self.committees
        if tier.n:  # mediation damping is zero off the catchments
            fields = fields or self._committee_fields()
            keep.reshape(-1)[tier.cover] = 1.0 - fields.damping
        self.responses.damp(keep, t)
        if self.national is not None and t < self.national.agreement_until:
            keep *= 1.0 - cfg.council.agreement_strength
        # 1 - release * violence is 1 - release where violent, 1 elsewhere
        release = 1.0 - cfg.dynamics.violence_release
        np.multiply(keep, release, out=keep, where=self.layers["violence"])
        np.subtract(1.0, keep, out=self.damping)

    def _propagate_tension(self) -> None:
        """The tension core (docs/ODD.md 7.1), in place."""
        d = self.config.dynamics
        tension = self.layers["tension"]
        propagate(
            tension,
            self.drive,
            self.layers["violence"],  # bool is read as 0.0 / 1.0, as its float64 copy would be
            self.damping,
            diffusion=d.diffusion,
            contagion=d.contagion,
            decay=d.decay,
            torus=self.torus,
            kernel=self.config.kernel,
            out=tension,
        )

    def _decide(self, fields: CommitteeFields | None = None) -> None:
        """Communities decide whether to mobilise (docs/ODD.md 7.4), all at once.

        One (H, W) standard normal draw from the decisions stream every step, whatever the
        state; the committees' social sanction at the cells they cover.
        """
        L, tier = self.layers, self.committees
        self.rng_decisions.standard_normal(out=self.draws)
        np.multiply(self.draws, self.config.community.decision_noise, out=self.noise)
        if tier.n:
            fields = fields or self._committee_fields()
            self.sanction.reshape(-1)[tier.cover] = fields.sanction
        decide(
            tension=L["tension"],
            group=L["group"],
            state_legitimacy=self.state.legitimacy,
            presence=L["presence"],
            near=self.near,
            sanction=self.sanction,
            attachment=L["attachment"],
            risk_aversion=L["risk_aversion"],
            exhaustion=L["exhaustion"],
            noise=self.noise,
            inhabited=self.inhabited,
            params=self.decision_params,
            violence=L["violence"],
            work=self._work,
        )

    def _update_social_layers(self, fields: CommitteeFields | None = None) -> None:
        """Cohesion (docs/ODD.md 7.6), memory (7.7) and grievance (7.8), in that order."""
        d, L, tier = self.config.dynamics, self.layers, self.committees
        # the neighbours' mean mobilisation is next step's ``near`` (7.4) and half of exposure
        update_cohesion_and_memory(
            L["violence"],
            torus=self.torus,
            near=self.near,
            cohesion=L["cohesion"],
            memory=L["memory"],
            dialogue=(fields or self._committee_fields()).dialogue if tier.n else None,
            cover=tier.cover,
            base=self.base_cohesion,
            params=d,
            inhabited=self._inhabited_f,
            work=(self._violence_f, self._exposure, self._scratch),
        )
        relax_grievance(L["grievance"], self.base_grievance, d.grievance_recovery, self._scratch)

    def _measure(self, t: int, disbursed: float, returned: float, sent: int, answered: int) -> None:
        measure(self, t, disbursed, returned, sent, answered)

    # ----------------------------------------------------------------------- helpers

    def run(self, steps: int | None = None) -> I4PModel:
        """Run ``steps`` steps (default: the scenario's ``steps``)."""
        for _ in range(self.config.steps if steps is None else steps):
            self.step()
        return self

    def series(self):
        """Per-step measures as a DataFrame indexed by step (0-based)."""
        df = self.datacollector.get_model_vars_dataframe()
        df.index.name = "step"
        return df


__all__ = ["LAYERS", "MEASURES", "I4PModel", "substreams"]
