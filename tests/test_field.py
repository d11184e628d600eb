"""Tests for i4p_sim.field: the tension core contract (DESIGN.md section 1)."""

from __future__ import annotations

import random
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from i4p_sim.core import field, field_numpy
from i4p_sim.core.field import KERNELS, neighbour_mean, propagate

from oracles import MesaTensionReference, loop_neighbour_mean, loop_propagate

TOL = 1e-12
PARAMS = {"diffusion": 0.3, "contagion": 0.2, "decay": 0.05}


def random_inputs(shape, seed=0, *, violence_dtype=float):
    rng = np.random.default_rng(seed)
    tension = rng.random(shape)
    drive = rng.uniform(-0.3, 0.5, shape)
    violence = (rng.random(shape) < 0.3).astype(violence_dtype)
    damping = rng.uniform(0.0, 0.4, shape)
    return tension, drive, violence, damping


LOOP_CASES = [
    ((5, 7), False),
    ((5, 7), True),
    ((8, 3), False),
    ((8, 3), True),
    ((1, 6), False),
    ((1, 6), True),
    ((6, 1), False),
    ((6, 1), True),
    ((1, 1), False),
    ((1, 1), True),
    ((2, 5), True),
    ((2, 5), False),
    ((5, 2), True),
    ((2, 2), True),
    ((3, 3), True),
]
MESA_CASES = [((4, 6), False), ((4, 6), True), ((7, 3), False), ((7, 3), True), ((3, 3), True)]


def numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


needs_numba = pytest.mark.skipif(not numba_available(), reason="numba not installed")


# --- against the oracles ------------------------------------------------------------


@pytest.mark.parametrize(("shape", "torus"), LOOP_CASES)
def test_neighbour_mean_matches_loop(shape, torus):
    x = np.random.default_rng(1).random(shape)
    np.testing.assert_allclose(
        neighbour_mean(x, torus=torus), loop_neighbour_mean(x, torus), rtol=0, atol=TOL
    )


def test_neighbour_mean_counts():
    ones = np.ones((4, 5))
    assert np.array_equal(neighbour_mean(ones), ones)
    x = np.zeros((4, 5))
    x[0, 0] = 3.0  # corner: seen by 3 neighbours, each with 3/5/8 neighbours
    m = neighbour_mean(x)
    assert m[0, 1] == pytest.approx(3.0 / 5)
    assert m[1, 1] == pytest.approx(3.0 / 8)
    assert m[1, 0] == pytest.approx(3.0 / 5)
    assert m[0, 0] == 0.0
    assert neighbour_mean(np.array([[0.7]]))[0, 0] == 0.7
    # 1 x N torus: each cell counts its row neighbours three times (offsets di = -1, 0, 1)
    row = np.array([[1.0, 0.0, 0.0, 0.0]])
    assert neighbour_mean(row, torus=True)[0, 1] == pytest.approx(3.0 / 8)
    assert neighbour_mean(row, torus=True)[0, 0] == pytest.approx(2.0 / 8)


def test_neighbour_mean_out_and_bool():
    v = np.random.default_rng(2).random((5, 6)) < 0.5
    expected = loop_neighbour_mean(v.astype(float), False)
    np.testing.assert_allclose(neighbour_mean(v), expected, atol=TOL)
    x = v.astype(float)
    res = neighbour_mean(x, out=x)
    assert res is x
    np.testing.assert_allclose(x, expected, atol=TOL)


@pytest.mark.parametrize(("shape", "torus"), LOOP_CASES)
@pytest.mark.parametrize("kernel", KERNELS)
def test_propagate_matches_loop_oracle(shape, torus, kernel):
    if kernel == "numba" and not numba_available():
        pytest.skip("numba not installed")
    for seed in range(3):
        args = random_inputs(shape, seed)
        got = propagate(*args, **PARAMS, torus=torus, kernel=kernel)
        want = loop_propagate(*args, **PARAMS, torus=torus)
        np.testing.assert_allclose(got, want, rtol=0, atol=TOL)


def test_mesa_coordinates_match_array_indices():
    """Mesa's (i, j) is array [i, j] with dimensions (H, W): check on a non-square grid."""
    from mesa.discrete_space import OrthogonalMooreGrid

    grid = OrthogonalMooreGrid((3, 5), torus=False, random=random.Random(0))
    assert grid.dimensions == (3, 5)
    assert sorted(c.coordinate for c in grid.all_cells) == [
        (i, j) for i in range(3) for j in range(5)
    ]
    assert sorted(n.coordinate for n in grid[(0, 4)].neighborhood) == [(0, 3), (1, 3), (1, 4)]
    assert len(grid[(1, 2)].neighborhood) == 8
    assert len(grid[(2, 2)].neighborhood) == 5


@pytest.mark.parametrize(("shape", "torus"), MESA_CASES)
@pytest.mark.parametrize("kernel", KERNELS)
def test_propagate_matches_mesa_oracle(shape, torus, kernel):
    if kernel == "numba" and not numba_available():
        pytest.skip("numba not installed")
    ref = MesaTensionReference(shape, torus=torus)
    for seed in range(2):
        args = random_inputs(shape, seed, violence_dtype=bool)
        want = ref.propagate(*args, **PARAMS)
        got = propagate(*args, **PARAMS, torus=torus, kernel=kernel)
        np.testing.assert_allclose(got, want, rtol=0, atol=TOL)


def test_mesa_oracle_agrees_with_loop_oracle():
    args = random_inputs((5, 4), 3)
    want = loop_propagate(*args, **PARAMS, torus=False)
    got = MesaTensionReference((5, 4)).propagate(*args, **PARAMS)
    np.testing.assert_allclose(got, want, atol=TOL)


# --- numba against numpy ------------------------------------------------------------


@needs_numba
@pytest.mark.parametrize(
    "shape", [(1, 1), (1, 9), (9, 1), (2, 5), (5, 2), (2, 2), (3, 3), (17, 31), (64, 48)]
)
@pytest.mark.parametrize("torus", [False, True])
@pytest.mark.parametrize("vdtype", [float, bool, np.uint8])
def test_numba_equals_numpy(shape, torus, vdtype):
    args = random_inputs(shape, 5, violence_dtype=vdtype)
    params = {"diffusion": 0.45, "contagion": 0.35, "decay": 0.1}
    a = propagate(*args, **params, torus=torus, kernel="numpy")
    b = propagate(*args, **params, torus=torus, kernel="numba")
    np.testing.assert_allclose(b, a, rtol=0, atol=TOL)


@needs_numba
@pytest.mark.parametrize("torus", [False, True])
@pytest.mark.parametrize("shape", [(1, 1), (2, 5), (6, 7)])
def test_numba_out_is_tension(torus, shape):
    t, d, v, g = random_inputs(shape, 6)
    want = propagate(t, d, v, g, **PARAMS, torus=torus)
    t2 = t.copy()
    res = propagate(t2, d, v, g, **PARAMS, torus=torus, kernel="numba", out=t2)
    assert res is t2
    np.testing.assert_allclose(t2, want, atol=TOL)


# --- the row-blocked numpy kernel (large grids) --------------------------------------


@pytest.mark.parametrize("shape", [(2, 2), (2, 5), (3, 3), (5, 1), (7, 2), (17, 11), (40, 37)])
@pytest.mark.parametrize("torus", [False, True])
@pytest.mark.parametrize("in_place", [False, True])
def test_blocked_numpy_kernel_is_bit_identical(shape, torus, in_place):
    t, d, v, g = random_inputs(shape, 10, violence_dtype=bool)
    ws = field_numpy._workspace(shape, torus)
    want = np.empty(shape)
    field_numpy._propagate_numpy(t, d, v, g, 0.45, 0.35, 0.1, ws, want)
    h = shape[0]
    for rows in sorted({1, 2, 3, max(1, h - 1), h, h + 2}):
        src = t.copy()
        res = src if in_place else np.full(shape, np.nan)
        field_numpy._propagate_numpy_blocked(src, d, v, g, 0.45, 0.35, 0.1, ws, res, rows)
        np.testing.assert_array_equal(res, want, err_msg=f"block rows {rows}")


def test_blocked_numpy_kernel_runs_on_large_grids_only():
    assert not field_numpy._uses_blocks((256, 256))
    assert not field_numpy._uses_blocks((2, 1 << 20))  # one block would hold the whole grid
    shape = (740, 730)
    assert field_numpy._uses_blocks(shape)
    args = random_inputs(shape, 11, violence_dtype=bool)
    got = propagate(*args, **PARAMS)
    want = np.empty(shape)
    ws = field_numpy._workspace(shape, False)
    field_numpy._propagate_numpy(
        *args, PARAMS["diffusion"], PARAMS["contagion"], PARAMS["decay"], ws, want
    )
    np.testing.assert_array_equal(got, want)
    t = args[0].copy()
    propagate(t, *args[1:], **PARAMS, out=t)
    np.testing.assert_array_equal(t, want)


@needs_numba
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (2, 8), (5, 16), (17, 31), (40, 37)])
@pytest.mark.parametrize("torus", [False, True])
@pytest.mark.parametrize("in_place", [False, True])
def test_numba_prefetching_fill_is_bit_identical(shape, torus, in_place):
    from i4p_sim.core.field_numba import fused_kernel

    t, d, v, g = random_inputs(shape, 8, violence_dtype=bool)
    results = []
    for ahead in (0, 1, 3, 100):  # 100: every prefetch clamps to the last row
        out = t.copy() if in_place else np.full(shape, np.nan)
        src = out if in_place else t
        fused_kernel(src, d, v, g, 0.45, 0.35, 0.1, torus, ahead, out)
        results.append(out)
    for other in results[1:]:
        np.testing.assert_array_equal(other, results[0])
    want = propagate(t, d, v, g, diffusion=0.45, contagion=0.35, decay=0.1, torus=torus)
    np.testing.assert_allclose(results[0], want, rtol=0, atol=TOL)


@needs_numba
def test_numba_prefetches_on_large_grids_only():
    from i4p_sim.core.field_numba import PREFETCH_MIN_CELLS, prefetch_rows

    side = int(np.ceil(np.sqrt(PREFETCH_MIN_CELLS)))
    assert prefetch_rows((256, 256)) == 0
    assert prefetch_rows((side - 1, side - 1)) == 0
    assert prefetch_rows((side, side)) >= 1
    # the public path on a grid that prefetches
    args = random_inputs((side, side), 9, violence_dtype=bool)
    a = propagate(*args, **PARAMS, kernel="numpy")
    b = propagate(*args, **PARAMS, kernel="numba")
    np.testing.assert_allclose(b, a, rtol=0, atol=TOL)


def test_numba_missing_gives_install_hint(monkeypatch):
    monkeypatch.setattr(field, "_numba", None)
    monkeypatch.setitem(sys.modules, "numba", None)  # makes `import numba` fail
    with pytest.raises(ImportError, match=r"pip install -e \".*\[fast\]\""):
        propagate(*random_inputs((3, 3)), **PARAMS, kernel="numba")


def test_field_module_does_not_import_mesa():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(field))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    assert "mesa" not in names


# --- properties ---------------------------------------------------------------------

unit = st.floats(0.0, 1.0)
shapes = st.tuples(st.integers(1, 7), st.integers(1, 7))


@st.composite
def field_inputs(draw, shape=None):
    if shape is None:
        shape = draw(shapes)
    el01 = st.floats(0.0, 1.0, allow_nan=False)
    tension = draw(hnp.arrays(np.float64, shape, elements=el01))
    drive = draw(hnp.arrays(np.float64, shape, elements=st.floats(-1.0, 1.0)))
    violence = draw(hnp.arrays(np.float64, shape, elements=el01))
    damping = draw(hnp.arrays(np.float64, shape, elements=el01))
    params = {"diffusion": draw(unit), "contagion": draw(unit), "decay": draw(unit)}
    return (tension, drive, violence, damping), params


prop_settings = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@prop_settings
@given(field_inputs(), st.booleans(), st.sampled_from(KERNELS))
def test_output_finite_in_unit_interval(inputs, torus, kernel):
    if kernel == "numba" and not numba_available():
        kernel = "numpy"
    args, params = inputs
    res = propagate(*args, **params, torus=torus, kernel=kernel)
    assert res.shape == args[0].shape and res.dtype == np.float64
    assert np.all(np.isfinite(res))
    assert np.all((res >= 0.0) & (res <= 1.0))


@prop_settings
@given(shapes, unit, unit, st.floats(0.0, 1.0), st.booleans(), st.sampled_from(KERNELS))
def test_uniform_field_is_fixed_point(shape, level, diffusion, contagion, torus, kernel):
    if kernel == "numba" and not numba_available():
        kernel = "numpy"
    tension = np.full(shape, level)
    zeros = np.zeros(shape)
    res = propagate(
        tension,
        zeros,
        zeros,
        zeros,
        diffusion=diffusion,
        contagion=contagion,
        decay=0.0,
        torus=torus,
        kernel=kernel,
    )
    np.testing.assert_allclose(res, tension, rtol=0, atol=TOL)


@prop_settings
@given(
    st.tuples(st.integers(3, 8), st.integers(3, 8)).flatmap(
        lambda s: st.tuples(field_inputs(shape=s), st.integers(-9, 9), st.integers(-9, 9))
    ),
    st.sampled_from(KERNELS),
)
def test_torus_shift_equivariance(data, kernel):
    if kernel == "numba" and not numba_available():
        kernel = "numpy"
    (args, params), di, dj = data
    base = propagate(*args, **params, torus=True, kernel=kernel)
    shifted = [np.roll(a, (di, dj), axis=(0, 1)) for a in args]
    res = propagate(*shifted, **params, torus=True, kernel=kernel)
    np.testing.assert_allclose(res, np.roll(base, (di, dj), axis=(0, 1)), rtol=0, atol=TOL)


@prop_settings
@given(field_inputs(), st.booleans(), st.sampled_from(KERNELS))
def test_inputs_never_modified(inputs, torus, kernel):
    if kernel == "numba" and not numba_available():
        kernel = "numpy"
    args, params = inputs
    copies = [a.copy() for a in args]
    propagate(*args, **params, torus=torus, kernel=kernel)
    out = np.empty_like(args[0])
    propagate(*args, **params, torus=torus, kernel=kernel, out=out)
    for a, c in zip(args, copies, strict=True):
        assert np.array_equal(a, c)


@prop_settings
@given(field_inputs(), st.booleans(), st.sampled_from(KERNELS))
def test_out_and_aliasing_match(inputs, torus, kernel):
    if kernel == "numba" and not numba_available():
        kernel = "numpy"
    (t, d, v, g), params = inputs
    want = propagate(t, d, v, g, **params, torus=torus, kernel=kernel)

    out = np.full_like(t, np.nan)
    res = propagate(t, d, v, g, **params, torus=torus, kernel=kernel, out=out)
    assert res is out
    np.testing.assert_array_equal(out, want)

    t2 = t.copy()
    res = propagate(t2, d, v, g, **params, torus=torus, kernel=kernel, out=t2)
    assert res is t2
    np.testing.assert_array_equal(t2, want)

    # out aliasing another input is safe too (computed in scratch, then copied)
    g2 = g.copy()
    res = propagate(t, d, v, g2, **params, torus=torus, kernel=kernel, out=g2)
    assert res is g2
    np.testing.assert_array_equal(g2, want)


def test_repeated_calls_reuse_workspace_and_stay_correct():
    args = random_inputs((6, 9), 7)
    first = propagate(*args, **PARAMS)
    propagate(*random_inputs((4, 4), 8), **PARAMS, torus=True)  # another shape in between
    second = propagate(*args, **PARAMS)
    np.testing.assert_array_equal(first, second)
    assert first is not second


# --- validation ---------------------------------------------------------------------


def test_mismatched_shapes_raise():
    t, d, v, g = random_inputs((4, 5))
    with pytest.raises(ValueError, match="shape mismatch"):
        propagate(t, d[:, :4], v, g, **PARAMS)
    with pytest.raises(ValueError, match="damping"):
        propagate(t, d, v, g.T, **PARAMS)
    with pytest.raises(ValueError, match="2-D"):
        propagate(t.ravel(), d.ravel(), v.ravel(), g.ravel(), **PARAMS)
    with pytest.raises(ValueError, match="out"):
        propagate(t, d, v, g, **PARAMS, out=np.empty((5, 4)))
    with pytest.raises(ValueError, match="float64"):
        propagate(t, d, v, g, **PARAMS, out=np.empty((4, 5), dtype=np.float32))


@pytest.mark.parametrize("name", ["diffusion", "contagion", "decay"])
@pytest.mark.parametrize("bad", [-0.01, 1.01, float("nan"), "0.5"])
def test_parameter_out_of_range_raises(name, bad):
    params = dict(PARAMS, **{name: bad})
    with pytest.raises(ValueError, match=name):
        propagate(*random_inputs((3, 3)), **params)


def test_unknown_kernel_raises():
    with pytest.raises(ValueError, match="numpy, numba"):
        propagate(*random_inputs((3, 3)), **PARAMS, kernel="cuda")
