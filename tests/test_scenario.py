"""Scenario schema: defaults, ``extends``, shipped scenarios, ``--set`` and one-line errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from i4p_sim.config.errors import ConfigError
from i4p_sim.config.loading import load_scenario, parse_set
from i4p_sim.config.scenario import SHOCK_KINDS, FundingWithdrawal, Scenario
from i4p_sim.sim.model import I4PModel
from i4p_sim.sim.shocks import ShockSchedule, withdrawal_multiplier

from conftest import ROOT, SCENARIOS, run_cli, run_cli_subprocess


def cli(*args: str | Path) -> subprocess.CompletedProcess:
    """Run ``i4p ARGS`` in this process (see ``conftest.run_cli``)."""
    return run_cli(*args)


def error_lines(stderr: str) -> list[str]:
    """Stderr lines apart from argparse's (possibly wrapped) usage block."""
    lines = stderr.splitlines()
    if lines and lines[0].startswith("usage:"):
        lines = lines[1:]
        while lines and lines[0].startswith(" "):
            lines = lines[1:]
    return [line for line in lines if line.strip()]


# --------------------------------------------------------------------------- defaults


def test_empty_file_is_the_default_scenario(tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    loaded = load_scenario(empty)
    assert loaded.name == "empty"  # the file's stem, when the file does not name itself
    assert loaded.model_dump(exclude={"name"}) == Scenario().model_dump(exclude={"name"})
    assert loaded.model_dump(exclude={"name"}) == load_scenario().model_dump(exclude={"name"})


def test_extends_deep_merges_tables_and_replaces_arrays(tmp_path: Path) -> None:
    (tmp_path / "base.toml").write_text(
        'description = "base"\nseed = 7\n'
        "[grid]\nwidth = 20\nheight = 10\n"
        "[lpc]\ndensity = 12.0\nradius = 2\n"
        '[[donors]]\nname = "a"\nbudget = 5.0\n'
        '[[donors]]\nname = "b"\nbudget = 6.0\n'
        '[[shocks]]\nkind = "election"\nat = 5\n'
        '[[shocks]]\nkind = "election"\nat = 9\n'
    )
    (tmp_path / "child.toml").write_text(
        'extends = "base.toml"\nseed = 8\n'
        "[grid]\nwidth = 30\n"
        "[lpc]\ndensity = 3.0\n"
        '[[donors]]\nname = "c"\nbudget = 1.0\npolicy = "need"\n'
        '[[shocks]]\nkind = "economic_shock"\nat = 4\n'
    )
    sc = load_scenario(tmp_path / "child.toml")
    assert sc.name == "child"
    assert sc.description == "base"  # inherited
    assert sc.seed == 8  # overridden
    assert (sc.grid.width, sc.grid.height) == (30, 10)  # tables merge key by key
    assert (sc.lpc.density, sc.lpc.radius) == (3.0, 2)
    assert [d.name for d in sc.donors] == ["c"]  # arrays replace
    assert [(s.kind, s.at) for s in sc.shocks] == [("economic_shock", 4)]


def test_extends_chain_of_three(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text("steps = 50\n[grid]\nwidth = 9\n")
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n[grid]\nheight = 11\n')
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "c.toml").write_text('extends = "../b.toml"\nseed = 3\n')
    sc = load_scenario(sub / "c.toml")
    assert (sc.steps, sc.grid.width, sc.grid.height, sc.seed) == (50, 9, 11, 3)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_shipped_scenario_validates(path: Path) -> None:
    sc = load_scenario(path)
    assert sc.name == path.stem
    assert sc.description  # every shipped scenario says what it is
    # the resolved TOML round-trips to the same scenario
    again = Scenario.model_validate(__import__("tomllib").loads(sc.to_toml()))
    assert again == sc


def test_required_scenarios_are_shipped() -> None:
    names = {p.stem for p in SCENARIOS}
    required = {
        "baseline",
        "no_i4p",
        "lpc_only",
        "council_only",
        "withdrawal_abrupt",
        "withdrawal_phased",
        "withdrawal_partial",
        "upheaval",
        "election",
        "autocratic_turn",
        "border_spillover",
        "economic_shock",
    }
    assert required <= names


def test_shipped_shocks_cover_every_kind() -> None:
    kinds = {s.kind for p in SCENARIOS for s in load_scenario(p).shocks}
    assert kinds == set(SHOCK_KINDS)


# ------------------------------------------------------------------ withdrawal totals


def _withdrawal(path: str) -> FundingWithdrawal:
    (shock,) = load_scenario(ROOT / "scenarios" / path).shocks
    return shock


def test_phased_multiplier_pays_the_same_total_as_abrupt() -> None:
    abrupt, phased = _withdrawal("withdrawal_abrupt.toml"), _withdrawal("withdrawal_phased.toml")
    assert abrupt.at == phased.at
    steps = range(abrupt.at + phased.ramp + 10)
    a = np.array([withdrawal_multiplier(abrupt, abrupt.at, t) for t in steps])
    p = np.array([withdrawal_multiplier(phased, phased.at, t) for t in steps])
    assert a.sum() == pytest.approx(p.sum(), abs=1e-9)
    assert a.sum() == pytest.approx(abrupt.at)
    # the phased exit starts earlier and ends later, ramping down monotonically
    start = phased.at - phased.ramp // 2
    assert p[start - 1] == 1.0 and p[start] < 1.0
    assert p[phased.at + phased.ramp // 2] == 0.0 and p[phased.at + phased.ramp // 2 - 1] > 0.0
    assert np.all(np.diff(p) <= 0.0)
    assert np.all((p >= 0.0) & (p <= 1.0))


@pytest.mark.parametrize("ramp", [1, 2, 5, 24, 25, 60])
@pytest.mark.parametrize("fraction", [1.0, 0.5])
def test_phased_same_total_for_any_ramp(ramp: int, fraction: float) -> None:
    at = 100
    abrupt = FundingWithdrawal(kind="funding_withdrawal", at=at, fraction=fraction)
    phased = FundingWithdrawal(
        kind="funding_withdrawal", at=at, mode="phased", ramp=ramp, fraction=fraction
    )
    steps = range(at + ramp + 5)
    a = sum(withdrawal_multiplier(abrupt, at, t) for t in steps)
    p = sum(withdrawal_multiplier(phased, at, t) for t in steps)
    assert a == pytest.approx(p, abs=1e-9)


def test_schedule_donor_multiplier_totals_match() -> None:
    totals = {}
    for name in ("withdrawal_abrupt", "withdrawal_phased"):
        sc = load_scenario(ROOT / "scenarios" / f"{name}.toml")
        sched = ShockSchedule(sc.shocks)
        totals[name] = {
            d.name: sum(sched.donor_multiplier(d.name, t) for t in range(sc.steps))
            for d in sc.donors
        }
    assert totals["withdrawal_abrupt"] == pytest.approx(totals["withdrawal_phased"], abs=1e-9)
    assert totals["withdrawal_abrupt"]["undp"] == pytest.approx(120.0)


def _budgets(name: str, steps: int = 200) -> np.ndarray:
    sc = load_scenario(
        ROOT / "scenarios" / f"{name}.toml",
        overrides=["grid.width=10", "grid.height=10", "lpc.density=50", f"steps={steps}"],
    )
    model = I4PModel(sc, communities=False)
    out = []
    for _ in range(sc.steps):
        model.step()
        out.append(sum(d.budget for d in model.donors))
    return np.array(out)


def test_phased_and_abrupt_models_pay_the_same_donor_budget() -> None:
    abrupt, phased = _budgets("withdrawal_abrupt"), _budgets("withdrawal_phased")
    base = _budgets("baseline")
    assert abrupt.sum() == pytest.approx(phased.sum(), rel=1e-12)
    # two donors, 8.139 + 5.426 per 1,000 inhabited cells per step
    full = base[0]
    assert full == pytest.approx(13.565 * 90 / 1000)  # 90 inhabited cells of 10 x 10
    assert abrupt.sum() == pytest.approx(full * 120)
    assert base.sum() == pytest.approx(full * 200)
    assert phased[110] < abrupt[110] == full  # phased starts earlier ...
    assert phased[125] > abrupt[125] == 0.0  # ... and ends later


def test_partial_and_conditional_withdrawal() -> None:
    sc = load_scenario(ROOT / "scenarios" / "withdrawal_partial.toml")
    sched = ShockSchedule(sc.shocks)
    assert sched.donor_multiplier("undp", 119) == 1.0
    assert sched.donor_multiplier("undp", 120) == pytest.approx(0.5)
    sc = load_scenario(ROOT / "scenarios" / "withdrawal_conditional.toml")
    sched = ShockSchedule(sc.shocks)
    # the bilateral donor leaves when (and only when) the autocratic turn happens
    assert sched.donor_multiplier("bilateral", 119) == 1.0
    assert sched.donor_multiplier("bilateral", 120) == 0.0
    assert sched.donor_multiplier("undp", 200) == 1.0
    without_turn = [s for s in sc.shocks if s.kind == "funding_withdrawal"]
    assert ShockSchedule(without_turn).donor_multiplier("bilateral", 200) == 1.0


# ---------------------------------------------------------------------------- --set


@pytest.mark.parametrize(
    ("text", "path", "value"),
    [
        ("grid.width=40", ["grid", "width"], 40),
        ("lpc.enabled=false", ["lpc", "enabled"], False),
        ("shocks.0.at=60", ["shocks", "0", "at"], 60),
        ("donors.1.budget=3", ["donors", "1", "budget"], 3),
        ("dynamics.decay=0.25", ["dynamics", "decay"], 0.25),
        ("council.regions=[2, 3]", ["council", "regions"], [2, 3]),
        ('lpc.placement="random"', ["lpc", "placement"], "random"),
        ("lpc.placement=random", ["lpc", "placement"], "random"),  # bare word: a string
        (" grid.height = 12 ", ["grid", "height"], 12),
    ],
)
def test_parse_set(text: str, path: list[str], value: object) -> None:
    assert parse_set(text) == (".".join(path), value)


def test_set_overrides_apply() -> None:
    sc = load_scenario(
        ROOT / "scenarios" / "withdrawal_abrupt.toml",
        overrides=["grid.width=40", "lpc.enabled=false", "shocks.0.at=60", "donors.1.budget=3"],
    )
    assert sc.grid.width == 40 and sc.grid.height == 64
    assert sc.lpc.enabled is False
    assert sc.shocks[0].at == 60 and sc.shocks[0].mode == "abrupt"
    assert sc.donors[1].budget == 3.0 and sc.donors[0].budget == 8.139


def test_set_works_on_default_donors(tmp_path: Path) -> None:
    empty = tmp_path / "e.toml"
    empty.write_text("")
    sc = load_scenario(empty, overrides=["donors.1.budget=3"])
    assert [d.budget for d in sc.donors] == [8.139, 3.0]


@pytest.mark.parametrize(
    ("override", "field"),
    [("grid", "grid"), ("grid.width=-1", "grid.width"), ("shocks.5.at=1", "shocks")],
)
def test_bad_set_raises_config_error(override: str, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_scenario(ROOT / "scenarios" / "baseline.toml", overrides=[override])
    assert info.value.source == "--set"
    assert info.value.field == field
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("value", ["0", "-1", "4.5", "nan", "inf", "true", '"2"'])
def test_returns_to_scale_out_of_range_or_not_finite_is_one_line(value: str) -> None:
    """lpc.returns (docs/ODD.md 7.9): a finite exponent in (0, 4]; anything else, one line."""
    with pytest.raises(ConfigError) as info:
        load_scenario(ROOT / "scenarios" / "baseline.toml", overrides=[f"lpc.returns={value}"])
    assert info.value.field == "lpc.returns" and "\n" not in str(info.value)
    for ok in ("0.5", "1", "2.0", "4"):
        assert load_scenario(None, overrides=[f"lpc.returns={ok}"]).lpc.returns == float(ok)


# ------------------------------------------------------------------ one-line errors

SHOCKS = ", ".join(SHOCK_KINDS)

# id, files (name -> bytes), the file given to the CLI, fragments the line must contain
FILE_CASES = [
    ("malformed_toml", {"s.toml": b"seed = \n"}, "s.toml", ["malformed TOML", "line 1"]),
    (
        "unknown_top_level_key",
        {"s.toml": b"bogus = 1\n"},
        "s.toml",
        ["bogus", "unknown key", "allowed:", "seed", "shocks"],
    ),
    (
        "unknown_lpc_key",
        {"s.toml": b"[lpc]\nbogus = 1\n"},
        "s.toml",
        ["lpc.bogus", "unknown key", "allowed:", "radius"],
    ),
    (
        "string_for_int",
        {"s.toml": b'[grid]\nwidth = "wide"\n'},
        "s.toml",
        ["grid.width", "'wide'", "integer"],
    ),
    ("negative_density", {"s.toml": b"[lpc]\ndensity = -1\n"}, "s.toml", ["lpc.density", ">= 0"]),
    (
        "share_above_one",
        {"s.toml": b'[[donors]]\nname = "a"\nlpc_share = 1.5\n'},
        "s.toml",
        ["donors.0.lpc_share", "1.5", "<= 1"],
    ),
    (
        "zero_duration",
        {"s.toml": b"[council]\nresponse_duration = 0\n"},
        "s.toml",
        ["council.response_duration", ">= 1"],
    ),
    (
        "bad_policy_literal",
        {"s.toml": b'[[donors]]\nname = "a"\npolicy = "random"\n'},
        "s.toml",
        ["donors.0.policy", "'random'", "'uniform'", "'need'", "'performance'"],
    ),
    (
        "unknown_shock_kind",
        {"s.toml": b'[[shocks]]\nkind = "meteor"\nat = 3\n'},
        "s.toml",
        ["shocks.0", "'meteor'", SHOCKS],
    ),
    (
        "shock_missing_kind",
        {"s.toml": b"[[shocks]]\nat = 3\n"},
        "s.toml",
        ["shocks.0", "kind", SHOCKS],
    ),
    (
        "shock_missing_at",
        {"s.toml": b'[[shocks]]\nkind = "election"\n'},
        "s.toml",
        ["shocks.0.at", "missing"],
    ),
    (
        "shock_key_of_another_kind",
        {"s.toml": b'[[shocks]]\nkind = "election"\nat = 3\nramp = 4\n'},
        "s.toml",
        ["shocks.0.ramp", "unknown key", "allowed:", "pre_steps", "pulse"],
    ),
    (
        "unknown_donor_in_withdrawal",
        {"s.toml": b'[[shocks]]\nkind = "funding_withdrawal"\nat = 3\ndonor = "ghost"\n'},
        "s.toml",
        ["shocks.0.donor", "'ghost'", "'all'", "undp", "bilateral"],
    ),
    (
        "duplicate_donor_names",
        {"s.toml": b'[[donors]]\nname = "a"\n[[donors]]\nname = "a"\n'},
        "s.toml",
        ["donors", "unique"],
    ),
    (
        "trigger_row_outside_grid",
        {
            "s.toml": b'[grid]\nheight = 10\n[[shocks]]\nkind = "trigger_incident"\nat = 3\nrow = 10\n'
        },
        "s.toml",
        ["shocks.0.row", "< grid.height (10)"],
    ),
    (
        "missing_extends_target",
        {"s.toml": b'extends = "nothere.toml"\n'},
        "s.toml",
        ["extends", "nothere.toml", "not found"],
    ),
    (
        "circular_extends",
        {"a.toml": b'extends = "b.toml"\n', "b.toml": b'extends = "a.toml"\n'},
        "a.toml",
        ["extends", "circular", "a.toml -> b.toml -> a.toml"],
    ),
    (
        "self_extends",
        {"s.toml": b'extends = "s.toml"\n'},
        "s.toml",
        ["extends", "circular", "s.toml -> s.toml"],
    ),
    ("missing_file", {}, "missing.toml", ["file not found"]),
    ("directory", {"adir/x.toml": b""}, "adir", ["directory", ".toml file"]),
    (
        "non_utf8",
        {"s.toml": b"seed = 1 # caf\xe9\n"},
        "s.toml",
        ["not valid UTF-8", "must be UTF-8"],
    ),
]


def _write(tmp_path: Path, files: dict[str, bytes]) -> None:
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def _assert_one_line_error(
    proc: subprocess.CompletedProcess, where: str, fragments: list[str]
) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith("i4p"), line
    assert where in line, line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


@pytest.mark.parametrize("command", ["check", "run"])
@pytest.mark.parametrize(
    ("files", "target", "fragments"),
    [pytest.param(f, t, fr, id=i) for i, f, t, fr in FILE_CASES],
)
def test_file_error_is_one_line(
    tmp_path: Path, command: str, files: dict[str, bytes], target: str, fragments: list[str]
) -> None:
    _write(tmp_path, files)
    args = [command, tmp_path / target] + (["--steps", "1"] if command == "run" else [])
    line = _assert_one_line_error(cli(*args), str(tmp_path / target), fragments)
    # the error names the file, then the field path, then what is wrong
    assert line.startswith(f"i4p: {tmp_path / target}")


BASELINE = str(ROOT / "scenarios" / "baseline.toml")
ABRUPT = str(ROOT / "scenarios" / "withdrawal_abrupt.toml")

# id, CLI arguments, what the line names as the source, fragments it must contain
ARG_CASES = [
    ("set_without_equals", [BASELINE, "--set", "grid.width"], "--set", ["grid.width", "=VALUE"]),
    ("set_out_of_range", [BASELINE, "--set", "grid.width=-3"], "--set", ["grid.width", ">= 1"]),
    ("set_share_too_big", [BASELINE, "--set", "donors.0.lpc_share=2"], "--set", ["<= 1"]),
    (
        "set_bad_literal",
        [BASELINE, "--set", "donors.1.policy=random"],
        "--set",
        ["donors.1.policy", "'uniform'"],
    ),
    (
        "set_unknown_key",
        [BASELINE, "--set", "lpc.share=0.3"],
        "--set",
        ["lpc.share", "unknown key", "allowed:", "density"],
    ),
    ("set_index_out_of_range", [ABRUPT, "--set", "shocks.5.at=1"], "--set", ["shocks.5", "0..0"]),
    ("set_no_shocks", [BASELINE, "--set", "shocks.5.at=1"], "--set", ["shocks", "no shocks"]),
    ("set_donor_index", [BASELINE, "--set", "donors.2.budget=1"], "--set", ["donors.2", "0..1"]),
    (
        "set_wrong_type",
        [BASELINE, "--set", "grid.width=abc"],
        "--set",
        ["grid.width", "'abc'", "integer"],
    ),
    ("steps_zero", [BASELINE, "--steps", "0"], "command line", ["--steps", ">= 1"]),
    ("steps_not_int", [BASELINE, "--steps", "abc"], "command line", ["--steps", "integer"]),
    ("seed_negative", [BASELINE, "--seed", "-1"], "command line", ["--seed", ">= 0"]),
    (
        "format_xml",
        [BASELINE, "--format", "xml"],
        "command line",
        ["--format", "'xml'", "'table'", "'json'"],
    ),
    (
        "kernel_unknown",
        [BASELINE, "--kernel", "fortran"],
        "command line",
        ["--kernel", "'numpy'", "'numba'"],
    ),
    ("unknown_flag", [BASELINE, "--bogus"], "command line", ["--bogus", "unrecognized"]),
    ("missing_scenario", [], "command line", ["required", "scenario"]),
]


@pytest.mark.parametrize(
    ("args", "where", "fragments"),
    [pytest.param(a, w, f, id=i) for i, a, w, f in ARG_CASES],
)
def test_argument_error_is_one_line(args: list[str], where: str, fragments: list[str]) -> None:
    _assert_one_line_error(cli("run", *args), where, fragments)


def test_check_without_file_is_one_line() -> None:
    _assert_one_line_error(cli("check"), "command line", ["required", "file"])


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [["run", BASELINE, "--set", "grid.width=-3"], ["check", "no/such/file.toml"], ["run"]],
    ids=["bad-set", "missing-file", "no-argument"],
)
def test_a_real_process_exits_2_with_one_line_and_no_traceback(args: list[str]) -> None:
    res = run_cli_subprocess(*args)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert len(error_lines(res.stderr)) == 1, res.stderr


def test_enough_error_cases() -> None:
    assert len(FILE_CASES) + len(ARG_CASES) >= 20


# ----------------------------------------------------- docs/ODD.md parameter table

ODD = ROOT / "docs" / "ODD.md"


def _odd_rows() -> dict[str, str]:
    """``field path -> default cell`` of every parameter-table row of docs/ODD.md."""
    rows = {}
    for line in ODD.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("`") and cells[0].endswith("`"):
            rows[cells[0].strip("`")] = cells[1]
    return rows


def _schema_fields() -> dict[str, object]:
    """``field path -> default`` of every scenario field, named as the ODD table names it."""
    import pydantic_core

    from i4p_sim.config import scenario as S

    def default(info) -> object:
        if info.default is pydantic_core.PydanticUndefined:
            return "(required)"
        return "(none)" if info.default is None else info.default

    out: dict[str, object] = {"extends": "(none)"}
    for name, info in S.Scenario.model_fields.items():
        if name not in (
            "grid",
            "landscape",
            "dynamics",
            "community",
            "state",
            "lpc",
            "council",
            "donors",
            "shocks",
        ):
            out[name] = default(info)
    sections = {
        "grid": S.GridConfig,
        "landscape": S.LandscapeConfig,
        "dynamics": S.DynamicsConfig,
        "community": S.CommunityConfig,
        "state": S.StateConfig,
        "lpc": S.LPCConfig,
        "council": S.CouncilConfig,
        "donors[]": S.DonorConfig,
    }
    for section, cls in sections.items():
        for name, info in cls.model_fields.items():
            out[f"{section}.{name}"] = default(info)
    out["shocks[].kind"] = out["shocks[].at"] = "(required)"
    for cls in S._Shock.__subclasses__():
        kind = cls.model_fields["kind"].annotation.__args__[0]
        for name, info in cls.model_fields.items():
            if name not in ("kind", "at"):
                out[f"shocks[{kind}].{name}"] = default(info)
    return out


def test_odd_documents_every_parameter_with_its_default() -> None:
    import tomllib

    rows, fields = _odd_rows(), _schema_fields()
    assert sorted(set(fields) - set(rows)) == [], "fields missing from docs/ODD.md"
    assert sorted(set(rows) - set(fields)) == [], "docs/ODD.md documents unknown fields"
    for path, expected in fields.items():
        cell = rows[path]
        if isinstance(expected, str) and expected.startswith("("):
            assert cell == expected, path
            continue
        shown = tomllib.loads(f"v = {cell.strip('`')}")["v"]
        if isinstance(expected, tuple):
            expected = list(expected)
        assert shown == expected and type(shown) is type(expected), (path, cell, expected)
