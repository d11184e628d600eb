"""``DensestWindows`` picks the cells scipy's filtered density and a stable sort pick."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from i4p_sim.core.hotspots import DensestWindows, densest_cells


def reference(violent, size, k, bounds=None):
    density = ndimage.uniform_filter(violent.astype(np.float64), size=size, mode="constant")
    if bounds is not None:
        r0, r1, c0, c1 = bounds
        inside = np.zeros(violent.shape, dtype=bool)
        inside[r0:r1, c0:c1] = True
        density = np.where(inside, density, 0.0)
    order = np.argsort(-density, axis=None, kind="stable")[:k]
    return order[density.ravel()[order] > 0]


@pytest.mark.parametrize("size", [1, 3, 5, 7])
@pytest.mark.parametrize("share", [0.0005, 0.01, 0.08, 0.5])
def test_densest_windows_equal_the_filtered_stable_sort(size, share):
    rng = np.random.default_rng(int(share * 1e4) + size)
    shape = (90, 130)
    find = DensestWindows(shape, size)
    for _ in range(5):
        violent = rng.random(shape) < share
        # clustered violence too: many equal counts, ties broken by scipy's rounding
        violent[20:40, 50:90] |= rng.random((20, 40)) < 0.7
        for k in (1, 4, 13, 60, 400):
            for bounds in (None, (10, 60, 40, 100)):
                got = find(violent, k, bounds)
                assert got.tolist() == reference(violent, size, k, bounds).tolist()


def test_few_violent_cells_fall_back_to_the_filter():
    """Fewer positive windows than k: scipy's residues may be chosen, so filter as it does."""
    shape = (40, 40)
    violent = np.zeros(shape, dtype=bool)
    violent[5, 5] = violent[5, 6] = violent[5, 7] = True
    find = DensestWindows(shape, 5)
    for k in (1, 14, 15, 16, 100):
        assert find(violent, k).tolist() == reference(violent, 5, k).tolist()


def test_densest_cells_orders_by_density_then_index():
    density = np.array([[0.0, 0.5, 0.2], [0.5, 0.0, 0.7]])
    assert densest_cells(density, 3).tolist() == [5, 1, 3]
    assert densest_cells(density, 10).tolist() == [5, 1, 3, 2]


@pytest.mark.parametrize("size", [1, 3, 5, 7])
@pytest.mark.parametrize("shape", [(90, 130), (7, 5)])
def test_sparse_window_counts_equal_the_dense_ones(monkeypatch, size, shape):
    """Counts accumulated from the violent cells (the sparse path) are the dense counts."""
    import i4p_sim.core.hotspots as hotspots

    rng = np.random.default_rng(size * 7 + shape[0])
    for share in (0.0, 0.001, 0.004, 0.02, 0.3):
        violent = rng.random(shape) < share
        violent[0, 0] = violent[-1, -1] = share > 0  # corners: windows cut by the edges
        picks = {}
        for path, per_entry in (("dense", 10**9), ("sparse", 0)):
            monkeypatch.setattr(hotspots, "SPARSE_CELLS_PER_ENTRY", per_entry)
            find = DensestWindows(shape, size)
            counts, positive = find._window_counts(violent)
            assert (positive is not None) == (path == "sparse" or not violent.any())
            picks[path] = (counts.copy(), find._columns.copy())
            if positive is not None:
                assert positive.tolist() == np.flatnonzero(counts > 0).tolist()
            for k in (1, 4, 13, 60):
                for bounds in (None, (1, 5, 2, 4)):
                    got = find(violent, k, bounds)
                    assert got.tolist() == reference(violent, size, k, bounds).tolist()
        assert np.array_equal(picks["dense"][0], picks["sparse"][0])
        assert np.array_equal(picks["dense"][1], picks["sparse"][1])
