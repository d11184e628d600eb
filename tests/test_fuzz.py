"""Fuzzing with hypothesis (issue 16): generated scenario and experiment TOML (valid and
invalid), ``--set`` values and app callback payloads.

Invariants: the CLI exits 0 or 2 with no traceback (an exception escaping ``main`` fails
the test), nothing is written on an error, and on valid input (tiny grids, few steps) the
model's state is finite and tension stays in [0, 1]; the app answers every payload with a
status below 500 and no exception text.

The profile comes from ``tests/conftest.py``: ``ci`` (``CI`` set) is derandomized with
bounded examples, so a failure reproduces; counts of inputs tried and clean are printed at
the end of the run (``fuzz: ...``).
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import uuid
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pytest
import tomli_w
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from i4p_sim.config.errors import ConfigError
from i4p_sim.config.loading import load_scenario
from i4p_sim.config.scenario import (
    SHOCK_CLASSES,
    CouncilConfig,
    DynamicsConfig,
    GridConfig,
    LandscapeConfig,
    LPCConfig,
)

from conftest import FUZZ_COUNTS, ROOT, run_cli

BASELINE = ROOT / "scenarios" / "baseline.toml"
SECTIONS = {
    "grid": GridConfig,
    "landscape": LandscapeConfig,
    "dynamics": DynamicsConfig,
    "lpc": LPCConfig,
    "council": CouncilConfig,
}
#: Largest magnitude drawn for a valid float (the schema allows more; the overflow of
#: extreme values is tested to fail cleanly in test_reliability_sweep/inputs).
VALID_FLOAT_CAP = 1e6
#: Fields naming files or a CRS (real maps): not drawn here; tests/test_geo.py tries them.
GEO_FIELDS = {
    *(
        f"{kind}_{suffix}"
        for kind in ("population", "group", "region")
        for suffix in ("map", "field")
    ),
    "crs",
    "sites",
}
FUZZ = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def count(kind: str, clean: bool) -> None:
    FUZZ_COUNTS[f"{kind} tried"] += 1
    if clean:
        FUZZ_COUNTS[f"{kind} clean"] += 1


def nothing_traced(res) -> bool:
    return "Traceback" not in res.stderr and res.returncode in (0, 2)


# ------------------------------------------------------------------ strategies

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.integers(-5, 100), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _bounds(field) -> tuple[float | None, float | None, bool, bool]:
    lo = hi = None
    lo_open = hi_open = False
    for m in field.metadata:
        for name in ("ge", "gt"):
            if getattr(m, name, None) is not None:
                lo, lo_open = getattr(m, name), name == "gt"
        for name in ("le", "lt"):
            if getattr(m, name, None) is not None:
                hi, hi_open = getattr(m, name), name == "lt"
    return lo, hi, lo_open, hi_open


def valid_value(name: str, field) -> st.SearchStrategy:
    """A value the schema accepts for ``field`` (numbers kept in a practical range)."""
    ann = field.annotation
    if ann is bool:
        return st.booleans()
    args = get_args(ann)
    if args and all(isinstance(a, str) for a in args):  # Literal
        return st.sampled_from(args)
    lo, hi, lo_open, hi_open = _bounds(field)
    if ann is int:
        lo_i = int(lo if lo is not None else 0) + (1 if lo_open else 0)
        hi_i = int(min(hi if hi is not None else 1000, 1000))
        return st.integers(lo_i, max(lo_i, hi_i))
    if ann is float:
        lo_f = float(lo) if lo is not None else -VALID_FLOAT_CAP
        hi_f = float(min(hi, VALID_FLOAT_CAP)) if hi is not None else VALID_FLOAT_CAP
        return st.floats(lo_f, hi_f, exclude_min=lo_open, exclude_max=hi_open)
    return st.nothing()


@st.composite
def valid_scenarios(draw) -> dict[str, Any]:
    """A valid scenario dict on a tiny grid with few steps."""
    data: dict[str, Any] = {"steps": draw(st.integers(2, 8)), "seed": draw(st.integers(0, 99))}
    for section, model in SECTIONS.items():
        table = {}
        for name, field in model.model_fields.items():
            if name in ("width", "height"):
                table[name] = draw(st.integers(3, 10))
            elif section == "council" and name == "regions":
                table[name] = [draw(st.integers(1, 3)), draw(st.integers(1, 3))]
            elif section == "lpc" and name == "count":
                table[name] = draw(st.integers(0, 12))
            elif name in GEO_FIELDS:
                continue
            elif draw(st.booleans()):
                table[name] = draw(valid_value(name, field))
        data[section] = table
    kinds = draw(st.lists(st.sampled_from(sorted(SHOCK_CLASSES)), max_size=2))
    shocks = []
    for kind in kinds:
        # inside the run: a shock past the last month is an error (config/horizon.py)
        shock: dict[str, Any] = {"kind": kind, "at": draw(st.integers(0, data["steps"] - 1))}
        if kind == "trigger_incident":
            shock["row"] = draw(st.integers(0, data["grid"]["height"] - 1))
            shock["col"] = draw(st.integers(0, data["grid"]["width"] - 1))
        shocks.append(shock)
    data["shocks"] = shocks
    return data


@st.composite
def invalid_scenarios(draw) -> dict[str, Any]:
    """A valid scenario with one to three fields replaced by junk or unknown keys."""
    data = draw(valid_scenarios())
    for _ in range(draw(st.integers(1, 3))):
        section = draw(st.sampled_from([*SECTIONS, "", "shocks"]))
        if section == "":
            key = draw(st.sampled_from(["steps", "seed", "name", "reference_step", "bogus"]))
            data[key] = draw(junk)
        elif section == "shocks":
            data["shocks"] = draw(st.one_of(junk, st.lists(junk, max_size=2)))
        else:
            fields = [*SECTIONS[section].model_fields, "bogus"]
            data[section][draw(st.sampled_from(fields))] = draw(junk)
    return data


def _drop_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _drop_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_none(v) for v in obj if v is not None]
    return obj


def to_toml(data: dict[str, Any]) -> str:
    try:
        return tomli_w.dumps(_drop_none(data))
    except (TypeError, ValueError):  # e.g. a mixed-type array tomli_w refuses
        return json.dumps(_drop_none(data), default=str)  # invalid TOML: fine, also tested


def assert_state_ok(scenario) -> None:
    from i4p_sim.sim.simulation import Simulation
    from i4p_sim.sweep.finite import check_finite

    sim = Simulation(scenario, communities=False).advance()
    check_finite(sim.series(), sim.summary(), sim.model.layers)
    tension = sim.model.layers["tension"]
    assert np.isfinite(tension).all() and tension.min() >= 0.0 and tension.max() <= 1.0
    for name, arr in sim.model.layers.items():
        assert np.isfinite(np.asarray(arr, dtype=float)).all(), name


@contextlib.contextmanager
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    with contextlib.chdir(d):
        yield d


# ------------------------------------------------------------------ scenario files


@pytest.mark.slow
@FUZZ
@given(data=valid_scenarios())
def test_valid_scenarios_run_finite_and_bounded(data, tmp_path_factory):
    with workdir(tmp_path_factory) as d:
        path = d / "s.toml"
        path.write_text(to_toml(data))
        res = run_cli("check", path)
        count("valid scenario", res.returncode == 0 and nothing_traced(res))
        assert res.returncode == 0, res.stderr
        assert_state_ok(load_scenario(path))


@FUZZ
@given(data=invalid_scenarios())
def test_invalid_scenarios_one_line_and_nothing_written(data, tmp_path_factory):
    with workdir(tmp_path_factory) as d:
        path = d / "s.toml"
        path.write_text(to_toml(data))
        res = run_cli("run", path, "--out", d / "out", "--steps", "2")
        clean = nothing_traced(res)
        if res.returncode == 2:
            lines = [ln for ln in res.stderr.splitlines() if ln.startswith("i4p:")]
            clean = clean and len(lines) == 1 and not (d / "out").exists()
        count("invalid scenario", clean)
        assert clean, (res.returncode, res.stderr[-500:])
        if res.returncode == 0:  # the junk happened to be valid: the state must be fine
            assert_state_ok(load_scenario(path, steps=2))


@FUZZ
@given(text=st.one_of(st.text(max_size=200), st.binary(max_size=200).map(repr)))
def test_arbitrary_text_as_a_scenario(text, tmp_path_factory):
    with workdir(tmp_path_factory) as d:
        path = d / "s.toml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        res = run_cli("check", path)
        count("raw TOML text", nothing_traced(res))
        assert nothing_traced(res), res.stderr[-500:]


# ------------------------------------------------------------------ experiment files

scenario_refs = st.one_of(
    st.just(str(BASELINE)),
    st.just(str(ROOT / "scenarios" / "no_i4p.toml")),
    st.text(max_size=12),
    st.just(""),
    st.just("/dev/zero"),
    st.just(".."),
)


@st.composite
def experiments(draw) -> dict[str, Any]:
    exp: dict[str, Any] = {
        "name": draw(st.one_of(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), junk)),
        "scenarios": draw(st.lists(scenario_refs, min_size=0, max_size=3)),
        "replicates": draw(st.one_of(st.integers(1, 3), junk)),
        "steps": draw(st.one_of(st.integers(2, 6), junk)),
        "set": draw(st.sampled_from([["grid.width=6", "grid.height=6"], [], ["grid.width=x"]])),
    }
    if draw(st.booleans()):
        axes_paths = ["dynamics.decay", "lpc.density", "grid.torus", "nope.x"]
        exp["axes"] = {
            p: draw(st.one_of(st.lists(junk, max_size=3), junk))
            for p in draw(st.lists(st.sampled_from(axes_paths), max_size=2, unique=True))
        }
    if draw(st.booleans()):
        exp[draw(st.sampled_from(["bogus", "window", "seed", "heatmap_steps"]))] = draw(junk)
    return exp


@FUZZ
@given(exp=experiments())
def test_experiments_exit_0_or_2_and_nothing_written(exp, tmp_path_factory):
    with workdir(tmp_path_factory) as d:
        path = d / "e.toml"
        path.write_text(to_toml(exp))
        res = run_cli("check", path)
        clean = nothing_traced(res)
        if res.returncode == 2:
            out = d / "results-here"
            swept = run_cli("sweep", path, "--out", out, "--workers", "1", "--no-report")
            clean = clean and swept.returncode == 2 and not out.exists()
            clean = clean and not (d / "results").exists()
        count("experiment", clean)
        assert clean, (res.stderr[-300:], exp)


# ------------------------------------------------------------------ --set values

set_paths = st.sampled_from(
    [
        "grid.width",
        "grid.torus",
        "steps",
        "seed",
        "lpc.density",
        "lpc.cost",
        "dynamics.decay",
        "donors.0.budget",
        "donors.5.budget",
        "shocks.0.at",
        "council.regions",
        "landscape.population_mean",
        "name",
        "kernel",
        "nope",
        "grid.width.x",
        "",
        "a..b",
    ]
)
set_values = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(
        ["true", "yes", "inf", "nan", "-inf", "[1, 2]", "{a = 1}", '"x"', "", "1e400", "9" * 5000]
    ),
    st.text(max_size=15),
)


@FUZZ
@given(path=set_paths, value=set_values)
def test_set_values_are_validated_strictly(path, value):
    assignment = f"{path}={value}"
    try:
        sc = load_scenario(
            None, overrides=["grid.width=6", "grid.height=6", "steps=3", assignment], steps=3
        )
    except ConfigError as err:
        one = "\n" not in err.one_line()
        count("--set", one)
        assert one
        return
    count("--set", True)
    assume(sc.grid.width * sc.grid.height <= 400 and sc.lpc.density <= 200)
    if all(math.isfinite(d.budget) and d.budget < VALID_FLOAT_CAP for d in sc.donors) and (
        sc.landscape.population_mean < VALID_FLOAT_CAP
    ):
        assert_state_ok(sc)


# ------------------------------------------------------------------ app payloads


@pytest.fixture(scope="module")
def fuzz_app():
    from i4p_sim.app import create_app

    return create_app(load_scenario(overrides=["grid.width=10", "grid.height=8", "lpc.density=14"]))


payload_values = st.one_of(
    junk,
    st.just(str(uuid.uuid4())),
    st.lists(junk, max_size=3),
    st.sampled_from(["tension", "violence", "nope", "abrupt", "phased", "west", "all"]),
)


@FUZZ
@given(data=st.data())
def test_app_callback_payloads_never_500(fuzz_app, data):
    from i4p_sim.app.client import _DISPATCH, DashClient

    c = DashClient(fuzz_app)
    body = c.body(_DISPATCH, [])
    b = copy.deepcopy(body)
    groups = [("inputs", i) for i in range(len(b["inputs"]))] + [
        ("state", i) for i in range(len(b["state"]))
    ]
    for group, i in data.draw(st.lists(st.sampled_from(groups), min_size=1, max_size=4)):
        entry = b[group][i]
        if isinstance(entry, list):
            for item in entry:
                item["value"] = data.draw(payload_values)
        else:
            entry["value"] = data.draw(payload_values)
    trig = data.draw(st.sampled_from(b["inputs"]))
    b["changedPropIds"] = data.draw(
        st.one_of(st.just([f"{trig['id']}.{trig['property']}"]), st.just([]), junk)
    )
    resp = c.http.post("/_dash-update-component", json=b)
    text = resp.get_data(as_text=True)
    clean = resp.status_code < 500 and "Traceback" not in text and "Exception" not in text
    count("app payload", clean)
    assert clean, (resp.status_code, text[:300])


def test_fuzz_profile_is_derandomized_in_ci():
    if os.environ.get("HYPOTHESIS_PROFILE"):  # an explicit profile (e.g. "long") is as asked
        return
    if os.environ.get("CI"):
        assert settings().derandomize
    assert settings().max_examples <= 200
    assert Path(__file__).name == "test_fuzz.py"
