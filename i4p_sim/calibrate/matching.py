"""History matching in waves over any simulator (DESIGN section 3.1).

:func:`history_match` is the wave loop. A *simulator* is a function ``(wave, points) ->
frame``: for a (points, parameters) frame it returns, row for row, each target's simulated
mean (column ``TARGET``) and model variance (column ``TARGET:var_model``, see
:func:`~i4p_sim.calibrate.implausibility.model_variance`). The model's simulator runs a
wave through the sweep engine (:mod:`~i4p_sim.calibrate.waves`); the tests plug in a noisy
toy function with a known answer.

Each wave:

1. wave 1 is a Latin hypercube over the prior box; wave ``k > 1`` draws ``candidates``
   Latin-hypercube points over the prior box and keeps those whose *emulated* maximum
   implausibility (:mod:`~i4p_sim.calibrate.emulator`, fitted on every point simulated so
   far) is at most the cut-off; the first ``points`` of them (a random subset: the
   hypercube's order is random) are simulated. The share kept estimates the fraction of the
   prior box not yet ruled out (``space_fraction``). If no candidate is kept, the wave
   simulates the least implausible candidates and says so (``note``);
2. every simulated point gets its implausibility per target and its maximum; points above
   the cut-off are ruled out.

After the last wave, while fewer than ``members`` points are not ruled out, up to
``fill_waves`` *fill waves* sample the neighbourhood of the points not ruled out (or, if
there are none, of the least implausible ones): ``candidates`` Gaussian perturbations of
them in the unit cube (standard deviation ``fill_scale``, reflected at the box's faces);
those the emulators keep are simulated first, the rest of the wave is perturbations in
draw order, unranked (ranking by an emulator that rules out the points already found would
only repeat its error). A fill wave rules points out exactly like a wave; it adds members
to the ensemble, which is then concentrated around the points found and is no more a
uniform sample of the space not ruled out than the waves' points are.

Every draw is seeded from ``(seed, wave)``, so the same seed gives the same waves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from i4p_sim.calibrate.emulator import Emulator, emulated_implausibility, fit_emulator
from i4p_sim.calibrate.implausibility import CUTOFF, implausibility, max_implausibility

__all__ = ["Box", "Matching", "Target", "history_match", "lhs"]

Simulator = Callable[[int, pd.DataFrame], pd.DataFrame]


@dataclass(frozen=True)
class Target:
    """A calibration target: its value and the variances of its implausibility."""

    name: str
    value: float
    var_target: float
    var_discrepancy: float


@dataclass(frozen=True)
class Box:
    """The prior box: parameter names, lower and upper bounds, integer-valued names."""

    names: tuple[str, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    integers: frozenset[str] = frozenset()

    def scale(self, unit: np.ndarray) -> pd.DataFrame:
        """Unit-cube points to parameter values (integers rounded)."""
        lo, hi = np.asarray(self.low), np.asarray(self.high)
        vals = lo + np.asarray(unit) * (hi - lo)
        frame = pd.DataFrame(vals, columns=list(self.names))
        for name in self.integers:
            frame[name] = frame[name].round().astype(int)
        return frame

    def unit(self, frame: pd.DataFrame) -> np.ndarray:
        """Parameter values to the unit cube."""
        lo, hi = np.asarray(self.low), np.asarray(self.high)
        return (frame[list(self.names)].to_numpy(dtype=float) - lo) / (hi - lo)


def _seed(seed: int, wave: int) -> int:
    return int(np.random.SeedSequence([seed, wave]).generate_state(1)[0])


def lhs(d: int, n: int, seed: int) -> np.ndarray:
    """A Latin hypercube of ``n`` points in ``[0, 1]^d`` (:mod:`scipy.stats.qmc`)."""
    from scipy.stats import qmc

    return qmc.LatinHypercube(d=d, seed=seed).random(n)


@dataclass
class Matching:
    """What :func:`history_match` returns.

    Attributes
    ----------
    points : pandas.DataFrame
        Every simulated point: ``wave``, ``point``, the parameters, per target its mean,
        ``TARGET:var_model`` and ``TARGET:I``, then ``max_I`` and ``not_ruled_out``.
    waves : pandas.DataFrame
        Per wave: points simulated, not ruled out, their share, the estimated fraction of
        the prior box not ruled out before the wave (``space_fraction``) and after it
        (``space_fraction_after``, from the emulators fitted on every point so far), note.
    emulators : dict
        The last fit per target.
    """

    points: pd.DataFrame
    waves: pd.DataFrame
    emulators: dict[str, Emulator] = field(default_factory=dict)

    @property
    def ensemble(self) -> pd.DataFrame:
        """The simulated points not ruled out (an ensemble, not a posterior)."""
        return self.points[self.points["not_ruled_out"]].reset_index(drop=True)


def score(frame: pd.DataFrame, targets: Sequence[Target], cutoff: float) -> pd.DataFrame:
    """Add ``TARGET:I``, ``max_I`` and ``not_ruled_out`` to a simulated frame."""
    out = frame.copy()
    cols = []
    for t in targets:
        i = implausibility(
            t.value, out[t.name], t.var_target, t.var_discrepancy, out[f"{t.name}:var_model"]
        )
        out[f"{t.name}:I"] = i
        cols.append(i)
    out["max_I"] = max_implausibility(np.column_stack(cols)) if cols else 0.0
    out["not_ruled_out"] = out["max_I"] <= cutoff
    return out


def _fit(box: Box, done: pd.DataFrame, targets: Sequence[Target], seed: int):
    unit = box.unit(done)
    emus = {
        t.name: fit_emulator(
            unit, done[t.name].to_numpy(float), done[f"{t.name}:var_model"].to_numpy(float), seed
        )
        for t in targets
    }
    var_model = {
        t.name: float(np.nan_to_num(np.nanmedian(done[f"{t.name}:var_model"]), nan=0.0))
        if done[f"{t.name}:var_model"].notna().any()
        else 0.0
        for t in targets
    }
    return emus, var_model


def _space(box: Box, emus, var_model, targets, n: int, seed: int, cutoff: float):
    """Candidates of a fresh hypercube, their emulated max implausibility, the kept share."""
    unit = lhs(len(box.names), n, seed)
    imax = max_implausibility(emulated_implausibility(emus, unit, list(targets), var_model))
    return unit, imax, float(np.mean(imax <= cutoff))


def _reflect(x: np.ndarray) -> np.ndarray:
    """Fold values into [0, 1] by reflection at the faces."""
    x = np.mod(x, 2.0)
    return np.where(x > 1.0, 2.0 - x, x)


def _around(
    box: Box,
    done: pd.DataFrame,
    emus,
    var_model,
    targets,
    n: int,
    candidates: int,
    seed: int,
    cutoff: float,
    scale: float,
) -> tuple[np.ndarray, str]:
    """A fill wave's ``n`` points near the points not ruled out (module docstring)."""
    kept = done[done["not_ruled_out"]]
    if kept.empty:
        kept = done.nsmallest(n, "max_I")
        where = "the least implausible points (none is not ruled out)"
    else:
        where = f"the {len(kept)} points not ruled out"
    centres = box.unit(kept)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(centres), size=candidates)
    cand = _reflect(centres[pick] + rng.normal(0.0, scale, size=(candidates, centres.shape[1])))
    imax = max_implausibility(emulated_implausibility(emus, cand, list(targets), var_model))
    good = np.flatnonzero(imax <= cutoff)
    rest = np.setdiff1d(np.arange(candidates), good, assume_unique=True)
    order = np.concatenate([good, rest])[:n]
    note = (
        f"fill: perturbations (sd {scale:g}) of {where}; {min(len(good), n)} kept by the "
        f"emulators, {n - min(len(good), n)} unranked"
    )
    return cand[order], note


def history_match(
    simulate: Simulator,
    box: Box,
    targets: Sequence[Target],
    *,
    waves: int,
    points: int,
    candidates: int = 2000,
    seed: int = 0,
    cutoff: float = CUTOFF,
    members: int = 0,
    fill_waves: int = 0,
    fill_scale: float = 0.1,
    log: Callable[[str], None] | None = None,
) -> Matching:
    """Run ``waves`` waves of history matching of ``simulate`` against ``targets``.

    Parameters
    ----------
    simulate : callable
        ``(wave, points frame) -> frame`` of means and model variances (module docstring).
    box : Box
        The prior ranges.
    targets : sequence of Target
        Calibration targets only (held-out targets never enter the matching).
    waves, points, candidates : int
        Waves, points simulated per wave, emulator candidates drawn per wave.
    seed : int
        Seeds every design.
    cutoff : float
        Implausibility above which a point is ruled out.
    members, fill_waves, fill_scale :
        After the last wave, up to ``fill_waves`` fill waves run while fewer than
        ``members`` points are not ruled out (module docstring); 0 = none.
    log : callable, optional
        Receives one line per wave.
    """
    if waves < 1 or points < 1:
        raise ValueError("waves and points must be >= 1")
    done = pd.DataFrame()
    rows = []
    emus: dict[str, Emulator] = {}
    var_model: dict[str, float] = {}
    d = len(box.names)
    total = waves + fill_waves
    for wave in range(1, total + 1):
        note = ""
        if wave > waves:
            if int(done["not_ruled_out"].sum()) >= members:
                break
            unit, note = _around(
                box,
                done,
                emus,
                var_model,
                targets,
                points,
                candidates,
                _seed(seed, wave),
                cutoff,
                fill_scale,
            )
            space = _space(box, emus, var_model, targets, candidates, _seed(seed, wave), cutoff)[2]
        elif wave == 1:
            unit = lhs(d, points, _seed(seed, wave))
            space = 1.0
        else:
            cand, imax, space = _space(
                box, emus, var_model, targets, candidates, _seed(seed, wave), cutoff
            )
            keep = np.flatnonzero(imax <= cutoff)
            if keep.size == 0:
                keep = np.argsort(imax, kind="stable")
                note = "no emulated candidate below the cut-off: the least implausible simulated"
            unit = cand[keep[:points]]
        design = box.scale(unit)
        sim = simulate(wave, design.copy())
        missing = [c for t in targets for c in (t.name, f"{t.name}:var_model") if c not in sim]
        if missing or len(sim) != len(design):
            raise ValueError(f"the simulator must return {len(design)} rows with {missing}")
        frame = pd.concat(
            [
                pd.DataFrame({"wave": wave, "point": np.arange(len(design))}),
                design.reset_index(drop=True),
                sim.reset_index(drop=True)[[c for c in sim.columns if c not in design]],
            ],
            axis=1,
        )
        frame = score(frame, targets, cutoff)
        done = pd.concat([done, frame], ignore_index=True)
        emus, var_model = _fit(box, done, targets, _seed(seed, wave))
        after = _space(box, emus, var_model, targets, candidates, _seed(seed, 1000 + wave), cutoff)
        kept = int(frame["not_ruled_out"].sum())
        rows.append(
            {
                "wave": wave,
                "fill": wave > waves,
                "points": len(frame),
                "not_ruled_out": kept,
                "share_not_ruled_out": kept / len(frame),
                "space_fraction": space,
                "space_fraction_after": after[2],
                "note": note,
            }
        )
        if log is not None:
            kind = "fill wave" if wave > waves else "wave"
            log(
                f"{kind} {wave}: {kept} of {len(frame)} points not ruled out; estimated space "
                f"not ruled out {100 * space:.1f}% before, {100 * after[2]:.1f}% after"
            )
    return Matching(done, pd.DataFrame(rows), emus)
