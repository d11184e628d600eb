"""Reference implementations of the tension core and committee fields, for tests and benchmarks.

Two deliberately plain oracles of ``i4p_sim.core.field.propagate``:

* :func:`loop_propagate` — a per-cell Python loop with the neighbourhood written out as
  explicit offsets (torus by modulo, counting repeated wrapped cells once per offset);
* :class:`MesaTensionReference` — a plain Mesa 3 model: one ``CellAgent`` per cell of an
  ``OrthogonalMooreGrid`` whose values are averaged over ``cell.neighborhood``. Mesa
  deduplicates neighbours, so use it on grids of at least 3 x 3 only.

Grid coordinate ``(i, j)`` of Mesa corresponds to array index ``[i, j]``; Mesa's
``dimensions=(H, W)`` then matches an array of shape ``(H, W)``.

And the full-grid committee fields (docs/ODD.md 7.9) that the model computes only at the
covered cells: :func:`mediation_damping` and :func:`dialogue_field` of a
``CommitteeTier``.
"""

from __future__ import annotations

import random

import numpy as np

from i4p_sim.core.committees import MAX_MEDIATION

OFFSETS = [(di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1) if (di, dj) != (0, 0)]


def loop_neighbour_mean(x: np.ndarray, torus: bool) -> np.ndarray:
    """Moore neighbour mean by explicit offsets, one cell at a time."""
    h, w = x.shape
    m = np.empty((h, w))
    for i in range(h):
        for j in range(w):
            vals = []
            for di, dj in OFFSETS:
                a, b = i + di, j + dj
                if torus:
                    vals.append(float(x[a % h, b % w]))
                elif 0 <= a < h and 0 <= b < w:
                    vals.append(float(x[a, b]))
            m[i, j] = sum(vals) / len(vals) if vals else float(x[i, j])
    return m


def loop_propagate(
    tension, drive, violence, damping, *, diffusion, contagion, decay, torus=False
) -> np.ndarray:
    """The contract's equation, literally, with a per-cell loop for ``M``."""
    violence = np.asarray(violence, dtype=float)
    x = tension + drive
    mx = loop_neighbour_mean(x, torus)
    mv = loop_neighbour_mean(violence, torus)
    h, w = x.shape
    out = np.empty((h, w))
    for i in range(h):
        for j in range(w):
            y = (1 - diffusion) * x[i, j] + diffusion * mx[i, j]
            y = y + contagion * mv[i, j]
            y = y * (1 - decay) * (1 - damping[i, j])
            out[i, j] = min(max(y, 0.0), 1.0)
    return out


class MesaTensionReference:
    """Plain-Mesa per-agent tension update: state in agents, neighbours from the grid.

    Parameters
    ----------
    shape : tuple of int
        Grid shape ``(H, W)``; at least 3 x 3 (Mesa deduplicates wrapped neighbours).
    torus : bool
        Whether the grid wraps.
    """

    def __init__(self, shape: tuple[int, int], torus: bool = False) -> None:
        import mesa
        from mesa.discrete_space import CellAgent, OrthogonalMooreGrid

        self.shape = tuple(shape)
        self.model = mesa.Model(rng=0)
        self.grid = OrthogonalMooreGrid(self.shape, torus=torus, random=random.Random(0))
        self.agents = []
        for i in range(self.shape[0]):
            for j in range(self.shape[1]):
                agent = CellAgent(self.model)
                agent.cell = self.grid[(i, j)]
                agent.ij = (i, j)
                self.agents.append(agent)

    def load(self, tension, drive, violence, damping) -> None:
        """Copy the arrays into per-agent attributes."""
        for a in self.agents:
            ij = a.ij
            a.tension = float(tension[ij])
            a.drive = float(drive[ij])
            a.violence = float(violence[ij])
            a.damping = float(damping[ij])

    def update(self, *, diffusion: float, contagion: float, decay: float) -> None:
        """One step: every agent averages its neighbours' values (two-phase update)."""
        for a in self.agents:
            a.x = a.tension + a.drive
        for a in self.agents:
            neighbours = list(a.cell.neighborhood.agents)
            if neighbours:
                mx = sum(n.x for n in neighbours) / len(neighbours)
                mv = sum(n.violence for n in neighbours) / len(neighbours)
            else:
                mx, mv = a.x, a.violence
            y = (1 - diffusion) * a.x + diffusion * mx
            y = y + contagion * mv
            y = y * (1 - decay) * (1 - a.damping)
            a.new_tension = min(max(y, 0.0), 1.0)
        for a in self.agents:
            a.tension = a.new_tension

    def tension(self) -> np.ndarray:
        """The agents' tension as an ``(H, W)`` array."""
        out = np.empty(self.shape)
        for a in self.agents:
            out[a.ij] = a.tension
        return out

    def propagate(
        self, tension, drive, violence, damping, *, diffusion, contagion, decay
    ) -> np.ndarray:
        """Load, update and read back: the reference counterpart of ``propagate``."""
        self.load(tension, drive, violence, damping)
        self.update(diffusion=diffusion, contagion=contagion, decay=decay)
        return self.tension()


# ------------------------------------------------------------ committee fields (ODD 7.9)


def mediation_damping(tier) -> np.ndarray:
    """(H, W) damping from all catchments: 1 - prod over entries of (1 - m c max(s, 0))."""
    h, w = tier.shape
    if tier.n == 0:
        return np.zeros(tier.shape)
    s = np.maximum(tier.mediation_sign(), 0.0)
    d = np.clip(tier.cfg.mediation * tier.capability()[tier.owner] * s, 0.0, MAX_MEDIATION)
    log_keep = np.bincount(tier.flat, weights=np.log1p(-d), minlength=h * w)
    return (-np.expm1(log_keep)).reshape(tier.shape)


def dialogue_field(tier, civic_space: float) -> np.ndarray:
    """(H, W) per-step cohesion gain rate from dialogue, capped at 1."""
    h, w = tier.shape
    if tier.n == 0:
        return np.zeros(tier.shape)
    rate = tier.cfg.dialogue * tier.capability()[tier.owner] * tier.group_legitimacy()
    rate *= civic_space
    field_ = np.bincount(tier.flat, weights=rate, minlength=h * w)
    return np.minimum(field_, 1.0).reshape(tier.shape)
