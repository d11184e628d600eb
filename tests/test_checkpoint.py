"""Checkpoints of a long single run: ``i4p run --checkpoint-every N --out DIR`` and
``--resume`` (issue 12). A resumed run writes exactly what an uninterrupted one writes; a
checkpoint of another scenario or other versions is refused with one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from conftest import ROOT, one_error_line, run_cli

SCEN = ROOT / "scenarios" / "withdrawal_phased.toml"
ARGS = ["--set", "grid.width=10", "--set", "grid.height=10", "--set", "shocks.0.at=30"]
ARGS += ["--steps", "70", "--seed", "3"]


def outputs(out: Path) -> tuple[pd.DataFrame, dict]:
    series = pd.read_parquet(out / "series.parquet")
    summary = json.loads((out / "summary.json").read_text())
    return series, summary


def test_checkpoints_are_written_and_a_resumed_run_equals_an_uninterrupted_one(tmp_path):
    plain = tmp_path / "plain"
    proc = run_cli("run", SCEN, *ARGS, "--out", plain)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "ck"
    proc = run_cli("run", SCEN, *ARGS, "--out", out, "--checkpoint-every", "20")
    assert proc.returncode == 0, proc.stderr
    ck = out / "checkpoints"
    assert sorted(p.name for p in ck.iterdir()) == [
        f"step-{s:07d}{x}" for s in (20, 40, 60) for x in (".json", ".npz")
    ]
    head = json.loads((ck / "step-0000040.json").read_text())
    assert head["step"] == 40 and {"i4p-sim", "mesa", "numpy"} <= set(head["versions"])
    with np.load(ck / "step-0000040.npz", allow_pickle=False) as data:
        assert "layer/tension" in data.files
    pd.testing.assert_frame_equal(outputs(out)[0], outputs(plain)[0], check_exact=True)
    assert outputs(out)[1] == outputs(plain)[1]
    # a run killed after step 40: the later checkpoint and the outputs are gone
    for name in ("step-0000060.json", "step-0000060.npz"):
        (ck / name).unlink()
    for name in ("series.parquet", "summary.json", "twin_series.parquet"):
        (out / name).unlink()
    proc = run_cli("run", SCEN, *ARGS, "--out", out, "--checkpoint-every", "20", "--resume")
    assert proc.returncode == 0, proc.stderr
    assert "resumed from step 40" in proc.stderr
    pd.testing.assert_frame_equal(outputs(out)[0], outputs(plain)[0], check_exact=True)
    assert outputs(out)[1] == outputs(plain)[1]
    assert (ck / "step-0000060.json").exists()


def test_a_checkpoint_of_another_scenario_or_version_is_refused(tmp_path):
    out = tmp_path / "ck"
    assert run_cli("run", SCEN, *ARGS, "--out", out, "--checkpoint-every", "30").returncode == 0
    other = [*ARGS[:-1], "4"]  # another seed
    line = one_error_line(run_cli("run", SCEN, *other, "--out", out, "--resume"))
    assert "step-0000060.json: scenario_hash: written for another scenario" in line
    path = out / "checkpoints" / "step-0000060.json"
    head = json.loads(path.read_text())
    head["versions"]["mesa"] = "0.0.1"
    path.write_text(json.dumps(head))
    line = one_error_line(run_cli("run", SCEN, *ARGS, "--out", out, "--resume"))
    assert "versions.mesa: written with mesa 0.0.1" in line
    line = one_error_line(run_cli("run", SCEN, *ARGS, "--checkpoint-every", "5"))
    assert "--checkpoint-every: needs --out" in line
