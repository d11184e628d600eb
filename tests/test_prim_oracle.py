"""PRIM (i4p_sim.stats.prim) against the EMA Workbench's ``Prim``, the reference
implementation of scenario discovery (Kwakkel 2017), on the same data.

ema_workbench 3 needs Python >= 3.12, and the project supports 3.11, so the oracle has two
forms:

- **Stored** (every Python): ``tests/data/prim_ema_oracle.json`` holds two small data sets
  and what ema_workbench's ``Prim`` (default settings) found on them: the whole peeling
  and pasting trajectory (coverage, density, mass, box limits) and the quasi-p-value of
  each restricted bound of every box. It was written by ema_workbench itself, by running
  this file: ``python tests/test_prim_oracle.py`` on Python 3.12 with ema_workbench
  installed.
- **Live** (where ema_workbench imports: Python 3.12 with the ``test`` extra, which
  installs it there; CI's 3.12 job runs this file): the same comparison against
  ema_workbench run now, and a check that the stored file is still what ema_workbench
  gives, so the stored oracle cannot drift from the real one. Where ema_workbench is not
  installed these tests are not defined (not skipped: there is nothing to run them with).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from i4p_sim.stats.prim import prim

ORACLE = Path(__file__).resolve().parent / "data" / "prim_ema_oracle.json"
HAVE_EMA = importlib.util.find_spec("ema_workbench") is not None


def datasets() -> dict[str, tuple[pd.DataFrame, np.ndarray]]:
    """The two data sets: a planted box in three continuous inputs with 10% of the labels
    flipped, and one with a five-valued input (as a sweep's axis gives) to test the cuts
    between runs of equal values. Inputs are rounded to 4 decimals, as stored."""
    rng = np.random.default_rng(2024)
    n = 200
    x = pd.DataFrame(rng.uniform(size=(n, 3)).round(4), columns=["a.x", "a.y", "b.noise"])
    y = ((x["a.x"] > 0.5) & (x["a.y"] < 0.6)).to_numpy() ^ (rng.uniform(size=n) < 0.1)
    levels = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=n)
    x2 = pd.DataFrame({"axis.level": levels, "c.u": rng.uniform(size=n).round(4)})
    y2 = ((levels >= 0.5) & (x2["c.u"] > 0.3)).to_numpy() ^ (rng.uniform(size=n) < 0.05)
    return {"planted": (x, y), "levels": (x2, y2)}


def ema_oracle(x: pd.DataFrame, y: np.ndarray) -> dict:
    """What ema_workbench's ``Prim`` (default settings) finds on ``x``, ``y``."""
    from ema_workbench.analysis import prim as ema_prim

    box = ema_prim.Prim(x, y).find_box()
    traj = box.peeling_trajectory
    return {
        "coverage": traj["coverage"].tolist(),
        "density": traj["density"].tolist(),
        "mass": traj["mass"].tolist(),
        "lims": [{c: [float(v) for v in lims[c]] for c in x.columns} for lims in box.box_lims],
        "quasi_p": [{c: [float(v) for v in qp[c]] for c in qp} for qp in box.p_values],
    }


def compare(x: pd.DataFrame, y: np.ndarray, oracle: dict) -> None:
    """Our trajectory, box limits and per-bound quasi-p-values equal the oracle's."""
    res = prim(x, y)
    traj = res.trajectory_frame()
    assert len(traj) == len(oracle["coverage"])
    for key in ("coverage", "density", "mass"):
        np.testing.assert_allclose(traj[key], oracle[key], rtol=1e-12)
    for box, lims in zip(res.trajectory, oracle["lims"], strict=True):
        for c, (lo, hi) in lims.items():
            assert box.lims[c] == pytest.approx((lo, hi), rel=1e-12)
    for i, qps in enumerate(oracle["quasi_p"]):
        ours = {side: res.quasi_p(i, side) for side in ("lower", "upper")}
        for c, (q_lo, q_hi) in qps.items():
            for side, q in (("lower", q_lo), ("upper", q_hi)):
                if q == -1:  # ema_workbench: that bound is not restricted
                    assert c not in ours[side]
                else:
                    assert ours[side][c] == pytest.approx(q, rel=1e-9, abs=1e-300)


def _stored() -> dict:
    return json.loads(ORACLE.read_text(encoding="utf-8"))


def _frame(stored: dict) -> tuple[pd.DataFrame, np.ndarray]:
    return pd.DataFrame(stored["x"]), np.asarray(stored["y"], dtype=bool)


@pytest.mark.parametrize("name", ["planted", "levels"])
def test_prim_matches_the_stored_ema_workbench_output(name):
    stored = _stored()[name]
    x, y = _frame(stored)
    compare(x, y, stored["ema"])
    assert len(stored["ema"]["coverage"]) > 10  # a real trajectory, not a trivial one


if HAVE_EMA:

    @pytest.mark.parametrize("name", ["planted", "levels"])
    def test_prim_matches_ema_workbench_live_and_the_stored_oracle_is_current(name):
        x, y = datasets()[name]
        live = ema_oracle(x, y)
        compare(x, y, live)
        stored = _stored()[name]
        sx, sy = _frame(stored)
        pd.testing.assert_frame_equal(sx, x)
        np.testing.assert_array_equal(sy, y)
        for key in ("coverage", "density", "mass"):
            np.testing.assert_allclose(stored["ema"][key], live[key], rtol=1e-12)
        assert stored["ema"]["lims"] == live["lims"]


def write_oracle() -> None:
    """Run ema_workbench on :func:`datasets` and store its output (Python >= 3.12)."""
    import ema_workbench

    out = {"ema_workbench": ema_workbench.__version__}
    for name, (x, y) in datasets().items():
        out[name] = {
            "x": {c: x[c].tolist() for c in x.columns},
            "y": [int(v) for v in y],
            "ema": ema_oracle(x, y),
        }
    ORACLE.write_text(json.dumps(out, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"written: {ORACLE}", file=sys.stderr)


if __name__ == "__main__":
    write_oracle()
