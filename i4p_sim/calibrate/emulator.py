"""Gaussian-process emulators of the simulated target means (scikit-learn).

One :class:`~sklearn.gaussian_process.GaussianProcessRegressor` per target, fitted on every
point simulated so far (inputs scaled to the unit cube): an anisotropic RBF kernel times a
constant, with each point's own Monte Carlo variance ``s^2 / R`` as its known noise
(``alpha``), so the predictive variance is that of the mean and enters the implausibility's
denominator beside the target's variances (:func:`emulated_implausibility`).

Where a statistic is undefined (NaN: e.g. no episode ever ended) the point is left out of
that target's GP fit, and a nearest-neighbour classifier (3 neighbours, in the unit cube)
of defined vs undefined filters the candidates: a candidate classified undefined is
emulated as NaN, hence ruled out like a simulated point would be (a classifier-filtered
design, DESIGN 3.1).

Fits are deterministic (fixed ``random_state``), so a resumed calibration chooses the same
next wave as an uninterrupted one.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from i4p_sim.calibrate.implausibility import implausibility

__all__ = ["Emulator", "emulated_implausibility", "fit_emulator"]

#: Restarts of the kernel hyperparameter optimiser (from seeded random starts).
RESTARTS = 2


@dataclass
class Emulator:
    """A fitted emulator of one target's mean, or a constant where too few points exist."""

    gp: object | None
    constant: float
    noise: float
    defined: object | None = None

    def predict(self, unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predicted mean and variance at points of the unit cube (NaN where the classifier
        says the statistic is undefined)."""
        n = len(unit)
        if self.gp is None:
            mean, var = np.full(n, self.constant), np.full(n, self.noise)
        else:
            m, sd = self.gp.predict(unit, return_std=True)
            mean, var = np.asarray(m, dtype=float), np.asarray(sd, dtype=float) ** 2
        if self.defined is not None and n:
            mean = np.where(self.defined.predict(unit).astype(bool), mean, np.nan)
        return mean, var


def fit_emulator(unit: np.ndarray, y: np.ndarray, noise: np.ndarray, seed: int = 0) -> Emulator:
    """Fit a GP to ``y`` at ``unit`` points with per-point noise variances ``noise``.

    With fewer than 3 finite values the emulator is a constant (their mean, or NaN) with
    their variance: it rules out nothing it cannot see.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel
    from sklearn.neighbors import KNeighborsClassifier

    ok = np.isfinite(y)
    defined = None
    if 0 < ok.sum() < len(ok):
        defined = KNeighborsClassifier(n_neighbors=min(3, len(ok))).fit(unit, ok)
    x, yy = unit[ok], y[ok]
    nz = np.nan_to_num(noise[ok], nan=0.0)
    if len(yy) < 3:
        mean = float(yy.mean()) if len(yy) else float("nan")
        spread = float(yy.var()) if len(yy) > 1 else 1.0
        return Emulator(None, mean, spread, defined)
    scale = float(yy.var()) or 1.0
    d = x.shape[1]
    kernel = ConstantKernel(1.0, (1e-3, 1e3)) * RBF(np.full(d, 0.5), (1e-2, 1e2))
    # y is normalised inside the GP: its noise variances are divided by the same variance
    alpha = np.maximum(nz, 0.0) / scale + 1e-6
    gp = GaussianProcessRegressor(
        kernel=kernel,
        alpha=alpha,
        normalize_y=True,
        n_restarts_optimizer=RESTARTS,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gp.fit(x, yy)
    return Emulator(gp, float(yy.mean()), scale, defined)


def emulated_implausibility(
    emulators: dict[str, Emulator],
    unit: np.ndarray,
    targets: list,
    var_model: dict[str, float],
) -> np.ndarray:
    """(candidates, targets) implausibility of emulated means, emulator variance included.

    ``var_model`` is the model variance a new simulation would have per target (the median
    over the points simulated so far).
    """
    cols = []
    for t in targets:
        mean, var = emulators[t.name].predict(unit)
        cols.append(
            implausibility(t.value, mean, t.var_target, t.var_discrepancy, var_model[t.name], var)
        )
    return np.column_stack(cols) if cols else np.zeros((len(unit), 0))
