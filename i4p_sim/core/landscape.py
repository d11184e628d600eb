"""Generated landscapes: population, identity groups, grievance, group-boundary friction.

Pure numpy / scipy.ndimage; no Mesa import. Every function takes the generator it draws
from, so a landscape depends only on the run's landscape substream.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def _mode(torus: bool) -> str:
    return "wrap" if torus else "reflect"


def smooth_field(
    rng: np.random.Generator, shape: tuple[int, int], scale: float, torus: bool = False
) -> np.ndarray:
    """Standardised Gaussian random field with correlation length ``scale`` (cells).

    ``scale == 0`` gives white noise. Returns mean 0, standard deviation 1 (or zeros for a
    constant field).
    """
    noise = rng.standard_normal(shape)
    if scale > 0:
        noise = ndimage.gaussian_filter(noise, sigma=scale, mode=_mode(torus))
    sd = noise.std()
    noise -= noise.mean()
    if sd > 0:
        noise /= sd
    return noise


def identity_groups(
    rng: np.random.Generator,
    shape: tuple[int, int],
    groups: int,
    patch_scale: float,
    torus: bool = False,
) -> np.ndarray:
    """Identity-group map (int 0..groups-1) in patches of characteristic size ``patch_scale``.

    Each cell takes the group whose smooth random field is highest there: ``patch_scale``
    0 is a well-mixed map, large values give large separated regions.
    """
    if groups == 1:
        return np.zeros(shape, dtype=np.int64)
    fields = np.stack([smooth_field(rng, shape, patch_scale, torus) for _ in range(groups)])
    return np.argmax(fields, axis=0).astype(np.int64)


def boundary_friction(
    group: np.ndarray, groups: int, scale: float, torus: bool = False
) -> np.ndarray:
    """Scale-selective group-boundary friction in [0, 1] (Lim, Metzler & Bar-Yam 2007).

    For each group, a Mexican-hat (difference-of-Gaussians) filter of its indicator map,
    ``G(scale) * I - G(3 scale) * I``, is positive on islands and peninsulas of about
    ``scale`` cells embedded in other groups and near zero both in well-mixed areas and in
    the interiors of large regions. A cell's friction is that response for its own group.
    """
    friction = np.zeros(group.shape, dtype=np.float64)
    if groups == 1:
        return friction
    mode = _mode(torus)
    for k in range(groups):
        indicator = (group == k).astype(np.float64)
        narrow = ndimage.gaussian_filter(indicator, sigma=scale, mode=mode)
        wide = ndimage.gaussian_filter(indicator, sigma=3.0 * scale, mode=mode)
        np.add(friction, indicator * np.clip(narrow - wide, 0.0, None), out=friction)
    return np.clip(2.0 * friction, 0.0, 1.0)


def population(
    rng: np.random.Generator,
    shape: tuple[int, int],
    inhabited_share: float,
    mean: float,
    torus: bool = False,
) -> np.ndarray:
    """Population per cell: clustered settlement, lognormal sizes, 0 = uninhabited."""
    settle = smooth_field(rng, shape, 2.0, torus)
    cut = np.quantile(settle, 1.0 - inhabited_share) if inhabited_share < 1 else -np.inf
    inhabited = settle >= cut if inhabited_share > 0 else np.zeros(shape, dtype=bool)
    sizes = rng.lognormal(mean=0.0, sigma=0.8, size=shape)
    sizes *= mean / np.exp(0.8**2 / 2)
    return np.where(inhabited, sizes, 0.0)


def grievance(
    rng: np.random.Generator,
    shape: tuple[int, int],
    mean: float,
    sd: float,
    scale: float,
    torus: bool = False,
) -> np.ndarray:
    """Structural grievance in [0, 1]: a smooth field of the given mean and spread."""
    return np.clip(mean + sd * smooth_field(rng, shape, scale, torus), 0.0, 1.0)


def group_boundary(group: np.ndarray, torus: bool = False) -> np.ndarray:
    """True where a cell has a Moore neighbour of another group."""
    footprint = np.ones((3, 3), dtype=bool)
    mode = "wrap" if torus else "nearest"
    hi = ndimage.maximum_filter(group, footprint=footprint, mode=mode)
    lo = ndimage.minimum_filter(group, footprint=footprint, mode=mode)
    return hi != lo


def distance_to_boundary(group: np.ndarray, torus: bool = False) -> np.ndarray:
    """Chebyshev distance (cells) from each cell to the nearest group-boundary cell."""
    boundary = group_boundary(group, torus)
    if not boundary.any():
        return np.full(group.shape, np.inf)
    return ndimage.distance_transform_cdt(~boundary, metric="chessboard").astype(np.float64)


def edge_distance(shape: tuple[int, int], edge: str) -> np.ndarray:
    """Distance (cells) of every cell from one grid edge: north, south, east or west."""
    rows, cols = np.indices(shape, dtype=np.float64)
    h, w = shape
    return {
        "north": rows,
        "south": (h - 1) - rows,
        "west": cols,
        "east": (w - 1) - cols,
    }[edge]


def square_window(row: int, col: int, radius: int, shape: tuple[int, int]) -> tuple[slice, slice]:
    """Slices of the square of Chebyshev radius ``radius`` around a cell, clipped to the grid.

    The footprint of a rapid response (docs/ODD.md 7.11) and of a trigger incident (7.13).
    """
    h, w = shape
    return (
        slice(max(0, row - radius), min(h, row + radius + 1)),
        slice(max(0, col - radius), min(w, col + radius + 1)),
    )
