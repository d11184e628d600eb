"""Checkpoints of a long single run (``i4p run --checkpoint-every N --out DIR``).

Every ``N`` steps the run's :meth:`~i4p_sim.sim.simulation.Simulation.snapshot` is written
to ``DIR/checkpoints/step-XXXXXXX.npz`` (its arrays, loaded with ``allow_pickle=False``)
and ``step-XXXXXXX.json`` (the step, the package, Mesa and numpy versions, the scenario's
hash and the snapshot's scalars, generator states and series), each atomically, the JSON
last (it commits the pair). ``--resume`` restores the last complete checkpoint and goes on;
a checkpoint of another scenario or written with other versions is refused with the usual
one-line error (a run continued across versions would not be the run it claims to be).
"""

from __future__ import annotations

import hashlib
import io
import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from i4p_sim._version import __version__
from i4p_sim.config.errors import ConfigError
from i4p_sim.config.scenario import Scenario
from i4p_sim.sim.simulation import Simulation
from i4p_sim.sim.snapshot import ModelSnapshot
from i4p_sim.sweep.storage import atomic_write_bytes, atomic_write_text

__all__ = ["CHECKPOINT_DIR", "Checkpoints", "scenario_hash"]

CHECKPOINT_DIR = "checkpoints"
#: Checkpoint file format; bumped when what a checkpoint holds changes.
FORMAT = 1


def scenario_hash(scenario: Scenario) -> str:
    """sha256 of the resolved scenario (seed, steps and shocks included)."""
    text = json.dumps(scenario.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _versions() -> dict[str, str]:
    out = {"i4p-sim": __version__, "numpy": np.__version__}
    try:
        out["mesa"] = version("mesa")
    except PackageNotFoundError:  # pragma: no cover - Mesa is a dependency
        out["mesa"] = "unknown"
    return out


class Checkpoints:
    """The checkpoints of one run in ``out/checkpoints``.

    Parameters
    ----------
    out : str or Path
        The run's ``--out`` directory.
    scenario : Scenario
        The run's scenario (its hash is checked on resume).
    every : int
        Steps between checkpoints.
    """

    def __init__(self, out: str | Path, scenario: Scenario, every: int) -> None:
        if every < 1:
            raise ValueError("checkpoints need every >= 1")
        self.dir = Path(out) / CHECKPOINT_DIR
        self.scenario = scenario
        self.every = int(every)
        self.written: list[int] = []

    def path(self, step: int, suffix: str) -> Path:
        return self.dir / f"step-{step:07d}{suffix}"

    def write(self, sim: Simulation) -> Path:
        """Write the simulation's state now; return the JSON file (the commit)."""
        snap = sim.snapshot()
        buf = io.BytesIO()
        np.savez(buf, **snap.arrays)
        atomic_write_bytes(self.path(snap.step, ".npz"), buf.getvalue())
        head = {
            "format": FORMAT,
            "step": snap.step,
            "versions": _versions(),
            "scenario_hash": scenario_hash(self.scenario),
            "scenario": self.scenario.name,
            "meta": snap.meta,
        }
        path = self.path(snap.step, ".json")
        atomic_write_text(path, json.dumps(head))
        self.written.append(snap.step)
        return path

    def latest(self) -> Path | None:
        """The JSON file of the last complete checkpoint (its .npz present), or None."""
        found = []
        for path in self.dir.glob("step-*.json"):
            if path.with_suffix(".npz").exists():
                found.append((int(path.stem.split("-")[1]), path))
        return max(found)[1] if found else None

    def clear(self) -> None:
        """Remove every checkpoint (a run that does not resume starts a new history)."""
        for path in (*self.dir.glob("step-*.json"), *self.dir.glob("step-*.npz")):
            path.unlink(missing_ok=True)

    def load(self, path: Path) -> ModelSnapshot:
        """Read a checkpoint, refusing one of another scenario, format or versions."""
        try:
            head = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(str(path), "", f"unreadable checkpoint: {exc}") from None
        if head.get("format") != FORMAT:
            raise ConfigError(
                str(path), "format", f"checkpoint format {head.get('format')}, this is {FORMAT}"
            )
        mine = _versions()
        for pkg, have in mine.items():
            was = (head.get("versions") or {}).get(pkg)
            if was != have:
                raise ConfigError(
                    str(path),
                    f"versions.{pkg}",
                    f"written with {pkg} {was}, this is {have}; resume with the same "
                    "versions or rerun without --resume",
                )
        if head.get("scenario_hash") != scenario_hash(self.scenario):
            raise ConfigError(
                str(path),
                "scenario_hash",
                f"written for another scenario ('{head.get('scenario')}' or other "
                "settings); resume with the same scenario, --set, --seed and --steps, or "
                "rerun without --resume",
            )
        try:
            with np.load(path.with_suffix(".npz"), allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            raise ConfigError(
                str(path.with_suffix(".npz")), "", f"unreadable checkpoint: {exc}"
            ) from None
        return ModelSnapshot(int(head["step"]), arrays, head["meta"])

    def run(self, sim: Simulation, *, resume: bool = False) -> int:
        """Advance ``sim`` to its horizon, writing a checkpoint every :attr:`every` steps.

        With ``resume``, first restore the last checkpoint (if any). Returns the step the
        run started from (0, or the checkpoint's).
        """
        start = 0
        if resume:
            path = self.latest()
            if path is not None:
                snap = self.load(path)
                sim.restore(snap)
                start = snap.step
        else:
            self.clear()
        while sim.steps_done < sim.horizon:
            nxt = min(sim.horizon, (sim.steps_done // self.every + 1) * self.every)
            sim.advance(nxt)
            if nxt < sim.horizon:
                self.write(sim)
        return start

    def describe(self, start: int) -> dict[str, Any]:
        """What happened, for the CLI's note."""
        return {"resumed_from": start, "written": list(self.written), "dir": str(self.dir)}
