"""Morris screening and Sobol indices through SALib (i4p_sim.stats.sensitivity), the
``morris``/``saltelli`` sample methods and ``i4p sensitivity`` (DESIGN 3.1, issue 13)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("SALib")

from i4p_sim.config.errors import ConfigError  # noqa: E402
from i4p_sim.config.experiment import load_experiment  # noqa: E402
from i4p_sim.stats import sensitivity as sa  # noqa: E402

from conftest import ROOT, run_cli  # noqa: E402

PI = math.pi
ISHIGAMI_BOUNDS = [[-PI, PI]] * 3


def _ishigami(x: np.ndarray, a: float = 7.0, b: float = 0.1) -> np.ndarray:
    return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])


def _ishigami_exact(a: float = 7.0, b: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Analytical S1 and ST of the Ishigami function (Sobol' & Levitan 1999)."""
    v1 = 0.5 * (1 + b * PI**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * PI**8 * (1 / 18 - 1 / 50)
    v = v1 + v2 + v13
    return np.array([v1, v2, 0.0]) / v, np.array([v1 + v13, v2, v13]) / v


def test_the_salib_path_reproduces_the_ishigami_indices():
    s1_exact, st_exact = _ishigami_exact()
    np.testing.assert_allclose(s1_exact, [0.3139, 0.4424, 0.0], atol=1e-3)
    np.testing.assert_allclose(st_exact, [0.5576, 0.4424, 0.2437], atol=1e-3)
    x = sa.design_matrix("saltelli", ISHIGAMI_BOUNDS, 1024, seed=3)
    assert x.shape == (1024 * 5, 3)
    # two replicates per point, as a sweep stores them: identical here (no noise)
    y = np.column_stack([_ishigami(x)] * 2)
    table = sa.sobol_indices(["x1", "x2", "x3"], ISHIGAMI_BOUNDS, y, seed=3).set_index("parameter")
    np.testing.assert_allclose(table.loc[["x1", "x2", "x3"], "S1"], s1_exact, atol=0.05)
    np.testing.assert_allclose(table.loc[["x1", "x2", "x3"], "ST"], st_exact, atol=0.05)
    assert list(table.index) == ["x1", "x2", "x3"]  # ranked by ST
    assert sa.noise_index(y) == 0.0


def _synthetic(x: np.ndarray, rng: np.random.Generator, reps: int, noise: float) -> np.ndarray:
    """Strong x0, nonlinear x1, weak x2, inert x3; replicate noise on every run."""
    f = 4 * x[:, 0] + 12 * (x[:, 1] - 0.5) ** 2 + 0.2 * x[:, 2]
    return f[:, None] + rng.normal(0.0, noise, (len(x), reps))


def test_morris_ranks_an_inert_parameter_last_and_leaves_it_out_of_the_active_set():
    bounds = [[0.0, 1.0]] * 4
    x = sa.design_matrix("morris", bounds, 20, seed=1, num_levels=4)
    assert x.shape == (20 * 5, 4)
    y = _synthetic(x, np.random.default_rng(0), reps=3, noise=0.05)
    table, dropped = sa.morris_indices(["a", "b", "c", "inert"], bounds, x, y, 4, seed=1)
    assert dropped == 0
    assert set(table["parameter"][:2]) == {"a", "b"} and table["parameter"].iloc[-1] == "inert"
    # replicate noise alone gives the inert parameter its mu_star: it is near its noise level
    inert = table.set_index("parameter").loc["inert"]
    assert inert["mu_star"] < 2 * inert["noise_level"]
    assert set(sa.select_active(table)) == {"a", "b"}  # c: 0.2 is under 10% of 4
    assert set(sa.select_active(table, share=0.01)) == {"a", "b", "c"}


def test_a_trajectory_with_a_missing_run_is_dropped_not_filled():
    bounds = [[0.0, 1.0]] * 2
    x = sa.design_matrix("morris", bounds, 6, seed=2)
    y = _synthetic(np.column_stack([x, x]), np.random.default_rng(1), reps=2, noise=0.1)
    y[4, :] = np.nan  # every replicate of a point of the second trajectory
    table, dropped = sa.morris_indices(["a", "b"], bounds, x, y, 4, seed=2)
    assert dropped == 1 and np.isfinite(table["mu_star"]).all()


def test_noise_index_and_the_replicates_it_asks_for():
    rng = np.random.default_rng(4)
    y = rng.normal(0, 1, (4000, 1)) + rng.normal(0, 1, (4000, 4))  # half between, half within
    assert sa.noise_index(y) == pytest.approx(0.5, abs=0.03)
    assert math.isnan(sa.noise_index(y[:, :1]))
    assert sa.replicates_needed(0.5) == 19  # noise/R <= 5% of the variance of point means
    assert sa.replicates_needed(0.0) == 1 and sa.replicates_needed(math.nan) is None


def _experiment(tmp_path, sample: str, name: str = "sens", replicates: int = 2):
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\nseed = 5\nreplicates = {replicates}\nsteps = 30\nreference_step = 10\n'
        'set = ["grid.width=12", "grid.height=12"]\nnoise_pairs = 0\nsnapshot_replicates = 0\n'
        f'scenarios = ["{ROOT / "scenarios" / "baseline.toml"}"]\n\n[sample]\n{sample}\n'
    )
    return path


MORRIS = """method = "morris"
n = 2
seed = 1
integers = ["lpc.radius"]
[sample.ranges]
"landscape.grievance_mean" = [0.2, 0.6]
"dynamics.contagion" = [0.04, 0.25]
"lpc.radius" = [2, 5]
"""


def test_the_design_methods_list_salib_points_and_priors_resolve(tmp_path):
    exp = load_experiment(_experiment(tmp_path, MORRIS))
    assert len(exp.points) == 2 * 4 and exp.total_runs() == 16
    assert all(isinstance(p["lpc.radius"], int) for p in exp.points)
    design = exp.resolved_config()["design"]
    assert design["names"] == ["landscape.grievance_mean", "dynamics.contagion", "lpc.radius"]
    priors = 'method = "morris"\nn = 1\nranges = "priors"\nexclude = ["shocks.*"]\n'
    priors += f'priors_file = "{ROOT / "experiments" / "priors.toml"}"\n'
    exp = load_experiment(_experiment(tmp_path, priors, "pri"))
    d = len(exp.points[0])
    assert (
        len(exp.points) == d + 1
        and d > 60
        and not any(k.startswith("shocks") for k in exp.points[0])
    )
    assert isinstance(exp.points[0]["council.response_delay"], int)
    some = priors.replace('exclude = ["shocks.*"]', 'include = ["community.*", "lpc.radius"]')
    exp = load_experiment(_experiment(tmp_path, some, "some"))
    assert "lpc.radius" in exp.points[0] and all(
        k.startswith("community.") for k in exp.points[0] if k != "lpc.radius"
    )
    with pytest.raises(ConfigError, match="no prior matches 'lpc.nope'"):
        load_experiment(_experiment(tmp_path, some.replace("lpc.radius", "lpc.nope"), "nope"))
    with pytest.raises(ConfigError, match="has a 'election' shock"):
        load_experiment(
            _experiment(
                tmp_path,
                'method = "morris"\nn = 1\n[sample.ranges]\n'
                '"shocks.election.pulse" = [0.01, 0.05]\n',
                "shock",
            )
        )
    with pytest.raises(ConfigError, match="power of 2"):
        load_experiment(
            _experiment(
                tmp_path, MORRIS.replace("morris", "saltelli").replace("n = 2", "n = 3"), "s3"
            )
        )


def test_a_shock_kind_prior_sets_every_shock_of_that_kind(tmp_path):
    path = _experiment(
        tmp_path,
        'method = "saltelli"\nn = 1\n[sample.ranges]\n"shocks.election.pulse" = [0.01, 0.05]\n',
        "el",
    )
    text = path.read_text().replace("baseline.toml", "election.toml")
    path.write_text(text.replace("steps = 30", "steps = 200"))  # loaded, never run
    exp = load_experiment(path)
    assert len(exp.points) == 3
    for i, point in enumerate(exp.points):
        shocks = exp.scenario_at("election", i).shocks
        assert {s.pulse for s in shocks if s.kind == "election"} == {point["shocks.election.pulse"]}


def test_morris_sweep_then_sensitivity_end_to_end_and_bad_input(tmp_path):
    out = tmp_path / "res"
    r = run_cli(
        "sweep", _experiment(tmp_path, MORRIS), "--out", out, "--no-report", "--workers", "1"
    )
    assert r.returncode == 0, r.stderr
    r = run_cli("sensitivity", out)
    assert r.returncode == 0, r.stderr
    assert "noise index" in r.stdout and "active (" in r.stdout and "Grievance" in r.stdout
    result = json.loads((out / "sensitivity.json").read_text())
    assert result["method"] == "morris" and result["points"] == 8 and result["replicates"] == 2
    assert 0 <= result["noise_index"] <= 1 and len(result["indices"]) == 3
    assert set(result["active"]) <= {"landscape.grievance_mean", "dynamics.contagion", "lpc.radius"}
    assert len(pd.read_csv(out / "sensitivity.csv")) == 3

    bad = run_cli("sensitivity", out, "--metric", "nope")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "'nope' unknown" in bad.stderr
    bad = run_cli("sensitivity", out, "--scenario", "nope")
    assert bad.returncode == 2 and "'nope' not found" in bad.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["config"]["design"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    bad = run_cli("sensitivity", out)
    assert (
        bad.returncode == 2
        and bad.stderr.count("\n") == 1
        and "no sensitivity design" in bad.stderr
    )
    bad = run_cli("sensitivity", tmp_path / "missing")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


@pytest.mark.slow
def test_saltelli_sweep_gives_sobol_indices(tmp_path):
    sample = MORRIS.replace("morris", "saltelli").replace("n = 2", "n = 2")
    out = tmp_path / "sob"
    exp = _experiment(tmp_path, sample, "sob", replicates=1)
    assert run_cli("sweep", exp, "--out", out, "--no-report", "--workers", "1").returncode == 0
    r = run_cli("sensitivity", out, "--metric", "mean_tension")
    assert r.returncode == 0, r.stderr
    assert "S1" in r.stdout and "n/a (one replicate" in r.stdout
    result = json.loads((out / "sensitivity.json").read_text())
    assert result["points"] == 2 * 5 and {"S1", "ST"} <= set(result["indices"][0])
