"""Peace spells against a Bernoulli null (DESIGN 1.1 null checks; docs/ODD.md "Null checks").

A peace spell is a maximal run of calm (inactive) region-months at least ``episode_gap``
long: the months between episodes (experiments/targets.toml, "peace_spells_overdispersed";
shorter lulls belong to an episode). The declared statistic is the variance-to-mean ratio
of their lengths, pooled over regions; :func:`spell_dispersion` compares it with the same
statistic after shuffling each region's months (a Bernoulli null conditioned on the number
of active months, so the marginal rate is exactly the region's), one-sided.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["SpellDispersion", "spell_dispersion", "spell_lengths"]


def spell_lengths(active: np.ndarray, min_length: int = 1) -> np.ndarray:
    """Lengths of the maximal runs of ``False`` at least ``min_length`` long (censored too)."""
    calm = ~np.asarray(active, dtype=bool)
    if calm.size == 0:
        return np.zeros(0, dtype=np.int64)
    padded = np.concatenate([[False], calm, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    runs = (edges[1::2] - edges[::2]).astype(np.int64)
    return runs[runs >= min_length]


def _vmr(series: Sequence[np.ndarray], gap: int) -> float:
    lengths = np.concatenate([spell_lengths(s, gap) for s in series])
    if lengths.size < 2:
        return float("nan")
    return float(lengths.var(ddof=1) / lengths.mean())


@dataclass(frozen=True)
class SpellDispersion:
    """Observed variance-to-mean ratio of peace spells, its null mean, a one-sided p."""

    observed: float
    null_mean: float
    p_value: float
    spells: int
    active_share: float

    @property
    def ratio(self) -> float:
        """Observed over null ratio: > 1 is over-dispersed against the null."""
        return self.observed / self.null_mean


def spell_dispersion(
    series: Sequence[np.ndarray], *, episode_gap: int = 12, n_permutations: int = 999, seed: int = 0
) -> SpellDispersion:
    """Variance-to-mean ratio of peace-spell lengths vs within-region permutations.

    Parameters
    ----------
    series : sequence of 1-D bool arrays
        One per region: True where the region-month is active.
    episode_gap : int
        Calm months that end an episode: shorter calm runs are not peace spells.
    n_permutations : int
        Null draws; the p-value is ``(1 + #{null >= observed}) / (1 + n_permutations)``.
    seed : int
        Seed of the permutations.
    """
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(s, dtype=bool) for s in series]
    observed = _vmr(arrays, episode_gap)
    null = np.array(
        [_vmr([rng.permutation(a) for a in arrays], episode_gap) for _ in range(n_permutations)]
    )
    null = null[np.isfinite(null)]
    p = (1 + int((null >= observed).sum())) / (1 + null.size)
    return SpellDispersion(
        observed=observed,
        null_mean=float(null.mean()) if null.size else float("nan"),
        p_value=float(p),
        spells=int(sum(spell_lengths(a, episode_gap).size for a in arrays)),
        active_share=float(np.mean(np.concatenate(arrays))) if arrays else float("nan"),
    )
