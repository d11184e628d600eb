"""The I4P model: a Mesa model around the vectorised tension core.

Step order (docs/ODD.md, "Process overview"):

1. shocks due now fire; this step's shock drive is assembled;
2. donors set budgets and disburse to committees and councils;
3. committees update capacity, ownership, legitimacy, dormancy, and send early warnings;
4. councils triage warnings (regional, then national), dispatch rapid responses, train
   committees and may broker a national agreement;
5. the tension field propagates (``field.propagate``) with every source and sink;
6. violence is drawn; cohesion, memory and grievance update;
7. the DataCollector records the step's measures.
"""

from __future__ import annotations

import contextlib
import gc
from collections import deque

import mesa
import numpy as np
from mesa.datacollection import DataCollector
from mesa.discrete_space import OrthogonalMooreGrid
from scipy import ndimage

from i4p_sim.config.loading import load_scenario
from i4p_sim.config.scenario import Scenario
from i4p_sim.core import landscape
from i4p_sim.core.field import neighbour_mean, propagate
from i4p_sim.sim.agents import (
    CommitteeTier,
    Community,
    ExternalDonor,
    LocalPeaceCommittee,
    NationalCouncil,
    Response,
)
from i4p_sim.sim.shocks import ShockSchedule

LAYERS = ("population", "group", "grievance", "tension", "cohesion", "violence", "memory")
MEASURES = (
    "mean_tension",
    "max_tension",
    "violence_share",
    "violent_events",
    "affected_population",
    "largest_cluster",
    "mean_cohesion",
    "lpcs_active",
    "lpc_capacity",
    "council_mandate",
    "funding_disbursed",
    "warnings_sent",
    "warnings_answered",
)
STREAMS = ("landscape", "violence", "decisions", "shocks", "placement")
_EIGHT = np.ones((3, 3), dtype=bool)


def substreams(seed: int) -> dict[str, np.random.Generator]:
    """Independent generators for each source of randomness, all from one seed."""
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {
        name: np.random.default_rng(child) for name, child in zip(STREAMS, children, strict=True)
    }


class I4PModel(mesa.Model):
    """Infrastructures for Peace on a grid of communities.

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
        if scenario is None or not isinstance(scenario, Scenario):
            scenario = load_scenario(scenario)
        if seed is not None:
            scenario = scenario.model_copy(update={"seed": seed})
        # not ``self.scenario``: Mesa 3.5 reserves that name for its own Scenario object
        self.config = scenario
        super().__init__(rng=scenario.seed)
        self.t = 0  # 0-based index of the step being (or last) computed
        self.streams = substreams(scenario.seed)
        self.rng_violence = self.streams["violence"]
        self.rng_decisions = self.streams["decisions"]
        self.rng_shocks = self.streams["shocks"]
        self.dyn = scenario.dynamics
        self.kernel = scenario.kernel
        g = scenario.grid
        self.shape = (g.height, g.width)
        self.torus = g.torus
        with _gc_paused():  # ~10 objects per cell, all long-lived: no collection needed
            self.grid = OrthogonalMooreGrid(self.shape, torus=g.torus, random=self.random)
        self._build_layers()
        self._build_landscape()
        self.civic_space = 1.0
        self.shocks = ShockSchedule(scenario.shocks)
        self.shock_drive = np.zeros(self.shape)
        self._buffers()
        if communities:
            with _gc_paused():
                self._build_communities()
        self._build_committees()
        self._build_councils()
        self.donors = [ExternalDonor(self, d) for d in scenario.donors]
        self._initial_lpc_budget = self._lpc_budget()
        self._last_lpc_budget = self._initial_lpc_budget
        self.responses: deque[Response] = deque()
        self.response_log: list[Response] = []
        self.agreements: list[int] = []
        self._violence_history: deque[np.ndarray] = deque(
            maxlen=max(1, scenario.council.observation_delay + 1)
        )
        self._share_history: deque[float] = deque(maxlen=3)
        self.measures: dict[str, float] = dict.fromkeys(MEASURES, 0.0)
        self._cluster = 0
        self.datacollector = DataCollector(
            model_reporters={name: _reporter(name) for name in MEASURES}
        )

    # ------------------------------------------------------------------ construction

    def _build_layers(self) -> None:
        dtypes = {"group": np.int64, "violence": np.bool_}
        self.layers: dict[str, np.ndarray] = {}
        for name in LAYERS:
            dtype = dtypes.get(name, np.float64)
            default = dtype(0)
            layer = self.grid.create_property_layer(name, default_value=default, dtype=dtype)
            self.layers[name] = layer.data

    def _build_landscape(self) -> None:
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
        self.inhabited = L["population"] > 0
        self.n_inhabited = int(self.inhabited.sum())
        L["cohesion"][...] = ls.cohesion_mean * self.inhabited
        self.base_grievance = L["grievance"].copy()
        self.base_cohesion = L["cohesion"].copy()
        self.friction = landscape.boundary_friction(
            L["group"], ls.groups, self.dyn.friction_scale, torus
        )
        fmax = self.friction.max()
        self.friction_norm = self.friction / fmax if fmax > 0 else self.friction.copy()

    def _buffers(self) -> None:
        shape = self.shape
        self.drive = np.zeros(shape)
        self.damping = np.zeros(shape)
        self.probability = np.zeros(shape)
        self.response_damping = np.zeros(shape)
        self.lpc_damping = np.zeros(shape)
        self.dialogue = np.zeros(shape)
        self.draws = np.zeros(shape)
        # scratch space reused every step, so that a step allocates no grid-sized array
        self._scratch = np.empty(shape)
        self._violence_f = np.zeros(shape)  # this step's violence as float64
        self._exposure = np.empty(shape)
        self._risk = np.zeros(shape)
        self._risk_window: tuple[np.ndarray, ...] | None = None
        self._density = np.empty(shape)
        self._labels = np.empty(shape, dtype=np.int32)
        self._window_mask = np.zeros(shape, dtype=bool)
        self._response_windows: list[tuple[slice, slice]] = []
        self._inhabited_idx = np.flatnonzero(self.inhabited)
        self._gathered = np.empty(self._inhabited_idx.size)
        self._gathered_mask = np.empty(self._inhabited_idx.size, dtype=bool)
        self._friction_drive: tuple[float, np.ndarray] | None = None

    def _build_communities(self) -> None:
        rows, cols = np.nonzero(self.inhabited)
        cells = self.grid._cells
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            Community(self, cells[(r, c)])

    def _build_committees(self) -> None:
        cfg = self.config.lpc
        rng = self.streams["placement"]
        n = cfg.count if cfg.enabled else 0
        candidates = np.flatnonzero(self.inhabited.ravel())
        n = min(n, candidates.size)
        if n and cfg.placement == "need":
            # committees are set up where structural drivers are worst (need-based siting)
            need = (self.layers["grievance"] + self.friction).ravel()[candidates]
            need = need + 1e-6 * rng.random(candidates.size)
            spread = _spread_pick(candidates, need, n, self.shape, cfg.radius)
            chosen = spread
        elif n:
            chosen = rng.choice(candidates, size=n, replace=False)
        else:
            chosen = np.zeros(0, dtype=np.int64)
        w = self.shape[1]
        positions = np.stack([chosen // w, chosen % w], axis=1).astype(np.int64)
        self.committees = CommitteeTier(cfg, positions.reshape(-1, 2), self.shape, self.torus)
        cells = self.grid._cells
        for i, (r, c) in enumerate(self.committees.positions.tolist()):
            LocalPeaceCommittee(self, cells[(r, c)], i)

    def _build_councils(self) -> None:
        cfg = self.config.council
        self.councils: list[NationalCouncil] = []
        self.national: NationalCouncil | None = None
        if not cfg.enabled:
            self.council_of = np.full(self.committees.n, -1)
            return
        h, w = self.shape
        self.national = NationalCouncil(self, cfg, name="national", bounds=(0, h, 0, w))
        self.councils.append(self.national)
        nr, nc = cfg.regions
        if nr * nc > 1:
            r_edges = np.linspace(0, h, nr + 1).round().astype(int)
            c_edges = np.linspace(0, w, nc + 1).round().astype(int)
            for i in range(nr):
                for j in range(nc):
                    bounds = (r_edges[i], r_edges[i + 1], c_edges[j], c_edges[j + 1])
                    self.councils.append(
                        NationalCouncil(
                            self, cfg, name=f"region-{i}-{j}", bounds=bounds, parent=self.national
                        )
                    )
        self.regional = [c for c in self.councils if c.parent is not None]
        # each committee answers to its most local council (for co-optation and shielding)
        self.council_of = np.zeros(self.committees.n, dtype=np.int64)
        for k, council in enumerate(self.councils):
            for i, (r, c) in enumerate(self.committees.positions.tolist()):
                if council.covers(r, c):
                    self.council_of[i] = k

    def _lpc_budget(self) -> float:
        lpcs = self.committees.n > 0
        return sum(d.split(lpcs, self.national is not None)[0] for d in self.donors)

    # -------------------------------------------------------------------------- step

    def step(self) -> None:
        """Advance one month (see the module docstring for the order)."""
        t = self.t
        L = self.layers
        tension, cohesion, violence = L["tension"], L["cohesion"], L["violence"]
        # 1. shocks
        shock_drive = self.shocks.fire(self, t)
        # 2. donors
        disbursed = self._fund(t)
        # 3. committees
        tier = self.committees
        mandates = (
            np.array([c.effective_mandate(t) for c in self.councils] + [np.nan])[self.council_of]
            if tier.n
            else np.zeros(0)
        )
        budget = self._lpc_budget()
        decline = max(0.0, self._last_lpc_budget - budget) / max(self._initial_lpc_budget, 1e-12)
        self._last_lpc_budget = budget
        tier.update(
            tension=tension,
            violence=violence,
            cohesion=cohesion,
            budget_decline=decline,
            council_mandate=mandates,
            civic_space=self.civic_space,
        )
        warnings = tier.warnings(self._risk_map(tension)) if tier.n else []
        # 4. councils
        answered = self._councils_act(warnings, t)
        # 5. the tension field (responses landing now meet the field as it stands)
        self._land_responses(t)
        self._assemble_drive(shock_drive)
        self._assemble_damping(t)
        propagate(
            tension,
            self.drive,
            violence,  # bool is read as 0.0 / 1.0, exactly as its float64 copy would be
            self.damping,
            diffusion=self.dyn.diffusion,
            contagion=self.dyn.contagion,
            decay=self.dyn.decay,
            torus=self.torus,
            kernel=self.kernel,
            out=tension,
        )
        # 6. violence, cohesion, memory, grievance
        self._draw_violence()
        self._update_slow_layers()
        # 7. measures
        self._measure(t, disbursed, len(warnings), answered)
        self.datacollector.collect(self)
        self.t += 1

    def _fund(self, t: int) -> float:
        tier = self.committees
        tier.funding[:] = 0.0
        has_lpcs, has_council = tier.n > 0, self.national is not None
        need = tier.catchment_mean(self.layers["tension"]) if tier.n else np.zeros(0)
        council_money = 0.0
        for donor in self.donors:
            donor.multiplier = self.shocks.donor_multiplier(donor.name, t)
            to_lpcs, to_council = donor.split(has_lpcs, has_council)
            tier.funding += donor.allocate(to_lpcs, tier, need)
            council_money += to_council
        # committees cannot absorb more than their running cost
        np.minimum(tier.funding, tier.cfg.cost, out=tier.funding)
        disbursed = float(tier.funding.sum())
        if has_council:
            cap = self.national.cfg.cost
            council_money = min(council_money, cap)
            self.national.donor_funds = council_money
            disbursed += council_money
        return disbursed

    def _councils_act(self, warnings: list, t: int) -> int:
        if self.national is None:
            return 0
        for council in self.councils:
            council.recover_mandate()
            # each committee is trained once, by its most local council
            if council.parent is not None or not self.regional:
                council.train(self.committees, t)
        escalated: list = []
        answered: list = []
        if self.regional:
            for council in self.regional:
                mine = [w for w in warnings if council.covers(w[0], w[1])]
                take, up = council.triage(mine, t)
                self._dispatch(council, [(w[0], w[1], "warning") for w in take], t)
                answered += take
                escalated += up
        else:
            escalated = warnings
        take, _ = self.national.triage(escalated, t)
        self._dispatch(self.national, [(w[0], w[1], "warning") for w in take], t)
        answered += take
        # spare capacity goes to violence it has seen: late and imprecise
        spare = self.national.capacity(t) - len(take)
        if spare > 0 and len(self._violence_history) == self._violence_history.maxlen:
            self._dispatch(self.national, self._observed_targets(spare), t)
        self._share_history.append(self.measures["violence_share"])
        recent = float(np.mean(self._share_history))
        if self.national.consider_agreement(recent, t):
            self.agreements.append(t)
        return len(answered)

    def _risk_map(self, tension: np.ndarray) -> np.ndarray:
        """Tension averaged over a rapid response's footprint: what a warning ranks by.

        The mean over the (2r+1)^2 footprint, cells beyond a non-torus edge counting as 0
        (``scipy.ndimage.uniform_filter`` with mode "constant" or "wrap"), evaluated only on
        the cells some committee watches: warnings read nothing else.
        """
        if self._risk_window is None:
            cells, window, inside = self._footprint_windows(self.committees.watched_cells())
            self._risk_window = (
                cells,
                window,
                inside,
                np.empty(window.shape),
                np.empty(len(cells)),
            )
        cells, window, inside, values, sums = self._risk_window
        np.take(tension.ravel(), window, out=values)
        values *= inside
        values.sum(axis=1, out=sums)
        sums /= window.shape[1]
        self._risk.ravel()[cells] = sums
        return self._risk

    def _footprint_windows(self, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Flat indices of each cell's response footprint and which of them lie on the grid."""
        h, w = self.shape
        rad = self.config.council.response_radius
        off = np.arange(-rad, rad + 1)
        dr, dc = np.meshgrid(off, off, indexing="ij")
        rows = cells[:, None] // w + dr.ravel()[None, :]
        cols = cells[:, None] % w + dc.ravel()[None, :]
        if self.torus:
            rows, cols = rows % h, cols % w
        inside = ((rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)).astype(np.float64)
        window = np.clip(rows, 0, h - 1) * w + np.clip(cols, 0, w - 1)
        return cells, window, inside

    def _observed_targets(self, k: int) -> list[tuple[int, int, str]]:
        """The k worst areas of violence the council saw ``observation_delay`` steps ago."""
        if not self._violence_history[0].any():
            return []
        seen = self._scratch
        np.copyto(seen, self._violence_history[0])
        density = ndimage.uniform_filter(seen, size=3, mode="constant", output=self._density)
        # the k densest cells with density > 0, ties by cell index: the first k of a stable
        # argsort of -density restricted to > 0, without sorting the whole grid
        flat = density.reshape(-1)
        candidates = np.flatnonzero(flat > 0)
        order = candidates[np.argsort(-flat[candidates], kind="stable")[:k]]
        h, w = self.shape
        err = self.config.council.observation_error
        rows, cols = order // w, order % w
        if err:
            rows = np.clip(rows + self.rng_decisions.integers(-err, err + 1, rows.size), 0, h - 1)
            cols = np.clip(cols + self.rng_decisions.integers(-err, err + 1, cols.size), 0, w - 1)
        return [(int(r), int(c), "observed") for r, c in zip(rows, cols, strict=True)]

    def _dispatch(self, council: NationalCouncil, targets: list, t: int) -> None:
        cfg = council.cfg
        for row, col, source in targets:
            lands = t + cfg.response_delay
            self.responses.append(
                Response(lands, lands + cfg.response_duration, row, col, source, council.name)
            )
            council.responses_sent += 1

    def _assemble_drive(self, shock_drive: np.ndarray) -> None:
        d, L = self.dyn, self.layers
        drive = self.drive
        np.multiply(L["cohesion"], -d.cohesion_buffer, out=drive)
        drive += 1.0
        drive *= L["grievance"]
        drive *= d.grievance_forcing
        drive += self._friction_term()
        scratch = self._scratch
        np.multiply(L["memory"], d.memory_weight, out=scratch)
        drive += scratch
        drive *= self.inhabited
        drive += shock_drive

    def _friction_term(self) -> np.ndarray:
        """``friction_strength * friction``: constant over a run, so computed once."""
        strength = self.dyn.friction_strength
        cached = self._friction_drive
        if cached is None or cached[0] != strength:
            cached = self._friction_drive = (strength, strength * self.friction)
        return cached[1]

    def _assemble_damping(self, t: int) -> None:
        """Combine every sink: committees, rapid responses, agreements, violence release."""
        # Every factor below is 1 off the cells it concerns (and x * 1.0 == x exactly), so
        # each sink multiplies only its own cells: the result is bit for bit the product
        # of the full-grid factors.
        keep = self.damping
        keep.fill(1.0)
        tier = self.committees
        if tier.n:
            cells = tier.mediation_damping_cells()  # zero off the catchments
            self.lpc_damping.reshape(-1)[tier.cover] = cells
            keep.reshape(-1)[tier.cover] = 1.0 - cells
        rd = self.response_damping
        for rs, cs in self._response_windows:  # last step's windows: back to zero
            rd[rs, cs] = 0.0
        windows = []
        h, w = self.shape
        rad = self.config.council.response_radius
        strength = self.config.council.response_strength
        for resp in self.responses:
            if resp.lands <= t < resp.ends:
                rs = slice(max(0, resp.row - rad), min(h, resp.row + rad + 1))
                cs = slice(max(0, resp.col - rad), min(w, resp.col + rad + 1))
                np.maximum(rd[rs, cs], strength, out=rd[rs, cs])
                windows.append((rs, cs))
        self._response_windows = windows
        if windows:  # keep *= 1 - rd once per cell of the union of the windows
            done = self._window_mask
            for rs, cs in windows:
                sub = keep[rs, cs]
                np.multiply(sub, 1.0 - rd[rs, cs], out=sub, where=~done[rs, cs])
                done[rs, cs] = True
            for rs, cs in windows:
                done[rs, cs] = False
        if self.national is not None and t < self.national.agreement_until:
            keep *= 1.0 - self.config.council.agreement_strength
        # 1 - release * violence is 1 - release where violent, 1 elsewhere
        release = 1.0 - self.dyn.violence_release * 1.0
        np.multiply(keep, release, out=keep, where=self.layers["violence"])
        np.subtract(1.0, keep, out=self.damping)

    def _land_responses(self, t: int) -> None:
        tension = self.layers["tension"]
        rad = self.config.council.response_radius
        h, w = self.shape
        while self.responses and self.responses[0].ends <= t:
            self.responses.popleft()
        landing = [r for r in self.responses if r.lands == t]
        if not landing:
            return
        inhabited = np.take(tension.reshape(-1), self._inhabited_idx, out=self._gathered)
        calmer = self._gathered_mask
        for resp in landing:
            rs = slice(max(0, resp.row - rad), min(h, resp.row + rad + 1))
            cs = slice(max(0, resp.col - rad), min(w, resp.col + rad + 1))
            resp.target_tension = float(tension[rs, cs].mean())
            # inhabited cells calmer than the target (what a sorted search would count)
            below = np.count_nonzero(np.less(inhabited, resp.target_tension, out=calmer))
            resp.target_percentile = float(below / max(inhabited.size, 1))
            self.response_log.append(resp)

    def _draw_violence(self) -> None:
        d, L = self.dyn, self.layers
        p = self.probability
        np.subtract(L["tension"], d.violence_threshold, out=p)
        p /= -d.violence_width
        np.exp(p, out=p)
        p += 1.0
        np.reciprocal(p, out=p)
        shield = self._scratch
        np.multiply(L["cohesion"], d.cohesion_shield, out=shield)
        np.subtract(1.0, shield, out=shield)
        p *= shield
        p *= self.inhabited
        self.rng_violence.random(out=self.draws)
        np.less(self.draws, p, out=L["violence"])
        history = self._violence_history  # a ring of preallocated maps
        if len(history) == history.maxlen:
            seen = history.popleft()
        else:
            seen = np.empty(self.shape, dtype=bool)
        np.copyto(seen, L["violence"])
        history.append(seen)

    def _update_slow_layers(self) -> None:
        d, L = self.dyn, self.layers
        v = self._violence_f
        np.copyto(v, L["violence"])
        exposure = neighbour_mean(v, torus=self.torus, out=self._exposure)
        exposure += v
        exposure *= 0.5
        c = L["cohesion"]
        tier = self.committees
        if tier.n:  # dialogue is zero off the catchments, where c += 0 changes nothing
            gain = tier.dialogue_cells(self.civic_space)
            self.dialogue.reshape(-1)[tier.cover] = gain
            flat = c.reshape(-1)
            old = flat[tier.cover]
            flat[tier.cover] = old + gain * (1.0 - old)
        s = self._scratch
        np.multiply(exposure, d.cohesion_erosion, out=s)
        s *= c
        c -= s
        np.subtract(self.base_cohesion, c, out=s)
        s *= d.cohesion_recovery
        c += s
        np.clip(c, 0.0, 1.0, out=c)
        c *= self.inhabited
        m = L["memory"]
        m *= 1.0 - d.memory_decay
        np.subtract(1.0, m, out=s)
        gain_m = np.multiply(v, d.memory_gain, out=exposure)  # exposure is no longer needed
        gain_m *= s
        m += gain_m
        g = L["grievance"]
        np.subtract(self.base_grievance, g, out=s)
        s *= d.grievance_recovery
        g += s

    def _measure(self, t: int, disbursed: float, sent: int, answered: int) -> None:
        L, m = self.layers, self.measures
        v = L["violence"]
        tension = L["tension"]
        events = int(np.count_nonzero(v))
        inhabited = max(self.n_inhabited, 1)
        m["mean_tension"] = float(tension.mean())
        m["max_tension"] = float(tension.max())
        m["violence_share"] = events / inhabited
        m["violent_events"] = events
        m["affected_population"] = float(L["population"][v].sum())
        if t % self.dyn.cluster_every == 0:
            if events:
                count = ndimage.label(v, structure=_EIGHT, output=self._labels)
                sizes = np.bincount(self._labels.reshape(-1))
                self._cluster = int(sizes[1:].max()) if count else 0
            else:
                self._cluster = 0
        m["largest_cluster"] = self._cluster
        if self.n_inhabited:  # the inhabited cells in C order, as boolean indexing gives
            cohesion = np.take(L["cohesion"].reshape(-1), self._inhabited_idx, out=self._gathered)
            m["mean_cohesion"] = float(cohesion.mean())
        else:
            m["mean_cohesion"] = 0.0
        tier = self.committees
        m["lpcs_active"] = int(tier.active.sum())
        m["lpc_capacity"] = float(tier.capacity.mean()) if tier.n else 0.0
        m["council_mandate"] = self.national.effective_mandate(t) if self.national else 0.0
        m["funding_disbursed"] = disbursed
        m["warnings_sent"] = sent
        m["warnings_answered"] = answered

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

    def summary(self, *, window: int = 12, tol: float | None = None) -> dict:
        """Per-run summary metrics (DESIGN section 2) at the scenario's reference step."""
        from i4p_sim.stats.metrics import summary_metrics

        return summary_metrics(
            self.series(), self.config.resolved_reference_step(), window=window, tol=tol
        )


@contextlib.contextmanager
def _gc_paused():
    """Pause Python's cyclic garbage collector while building many long-lived objects.

    Building a grid of a million cells (and as many Community agents) otherwise triggers
    repeated full collections that traverse every object built so far, for nothing:
    none of them is garbage. The collector's previous state is restored afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _reporter(name: str):
    def report(model: I4PModel):
        return model.measures[name]

    report.__name__ = name
    return report


def _spread_pick(
    candidates: np.ndarray, score: np.ndarray, n: int, shape: tuple[int, int], radius: int
) -> np.ndarray:
    """Pick ``n`` high-score cells, preferring ones not already in another's catchment."""
    order = candidates[np.argsort(-score, kind="stable")]
    w = shape[1]
    taken = np.zeros(shape, dtype=bool)
    chosen: list[int] = []
    rest: list[int] = []
    for idx in order.tolist():
        r, c = divmod(idx, w)
        if taken[r, c]:
            rest.append(idx)
            continue
        chosen.append(idx)
        taken[max(0, r - radius) : r + radius + 1, max(0, c - radius) : c + radius + 1] = True
        if len(chosen) == n:
            break
    chosen += rest[: n - len(chosen)]
    return np.asarray(chosen, dtype=np.int64)
