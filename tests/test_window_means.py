"""``core.window_means.FootprintMean`` equals, bit for bit, the gathered sum it replaces."""

from __future__ import annotations

import numpy as np
import pytest

from i4p_sim.core import window_means
from i4p_sim.core.window_means import FootprintMean


def gathered_footprint_mean(field: np.ndarray, radius: int, torus: bool) -> np.ndarray:
    """The reference: gather every cell's footprint (row-major offsets) and ``np.sum`` it."""
    h, w = field.shape
    cells = np.arange(h * w)
    off = np.arange(-radius, radius + 1)
    dr, dc = np.meshgrid(off, off, indexing="ij")
    rows = cells[:, None] // w + dr.ravel()[None, :]
    cols = cells[:, None] % w + dc.ravel()[None, :]
    if torus:
        rows, cols = rows % h, cols % w
    inside = ((rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)).astype(np.float64)
    window = np.clip(rows, 0, h - 1) * w + np.clip(cols, 0, w - 1)
    values = np.take(field.ravel(), window) * inside
    return (values.sum(axis=1) / window.shape[1]).reshape(h, w)


def wide_range(rng, shape):
    """Non-negative values over many orders of magnitude: any change of order shows."""
    return rng.random(shape) * 10.0 ** rng.integers(-8, 3, shape)


# radius 0: fewer than 8 terms; 1-5: numpy's eight partial sums; 6-7: more than 128 terms
@pytest.mark.parametrize("radius", [0, 1, 2, 3, 5, 6, 7])
@pytest.mark.parametrize("torus", [False, True])
@pytest.mark.parametrize("shape", [(40, 50), (7, 9), (300, 20)])
def test_footprint_mean_equals_the_gathered_sum(radius, torus, shape):
    rng = np.random.default_rng(radius)
    field = wide_range(rng, shape)
    got = FootprintMean(shape, radius, torus)(field, np.zeros(shape))
    assert got.tobytes() == gathered_footprint_mean(field, radius, torus).tobytes()


def test_footprint_mean_computes_the_wanted_rows_only(monkeypatch):
    monkeypatch.setattr(window_means, "BLOCK_CELLS", 8192)
    rng = np.random.default_rng(1)
    shape = (600, 40)  # row blocks of 8192 // 40 = 204 rows
    field = wide_range(rng, shape)
    rows = np.array([3, 450])
    out = np.full(shape, -1.0)
    FootprintMean(shape, 2, False, rows=rows)(field, out)
    want = gathered_footprint_mean(field, 2, False)
    assert out[rows].tobytes() == want[rows].tobytes()
    assert (out[204:408] == -1.0).all()  # a block without wanted rows is left alone
