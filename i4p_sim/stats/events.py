"""Event statistics for validation: space-time clusters, discrete power laws, relapse.

Pure numpy / scipy; no model import.

- :func:`event_sizes` labels violent cells of a (T, H, W) stack into space-time clusters
  with :func:`scipy.ndimage.label` and a full 3 x 3 x 3 structure: two violent cells belong
  to one event when they are 8-neighbours (or the same cell) in one step, or when one is
  in the 3 x 3 neighbourhood of the other in the next step (26-connectivity in
  space-time). ``spatial=True`` labels each step alone (8-connected in space only).
- :func:`fit_power_law` fits a discrete power law ``p(x) = x**-alpha / zeta(alpha, xmin)``
  for ``x >= xmin`` by maximum likelihood, with ``xmin`` chosen to minimise the
  Kolmogorov-Smirnov distance (Clauset, Shalizi & Newman 2009, SIAM Review 51:661).
- :func:`power_law_gof` is their semi-parametric bootstrap goodness-of-fit p-value.
- :func:`compare_exponential` is Vuong's normalised log-likelihood ratio of the power law
  against a discrete exponential on the same tail.
- :func:`relapse` finds calm onsets after violence in per-area series and counts returns
  to violence within a window, with a Kaplan-Meier estimate that uses censored onsets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage, optimize, special

__all__ = [
    "PowerLawFit",
    "RelapseResult",
    "compare_exponential",
    "event_sizes",
    "fit_power_law",
    "km_relapse_share",
    "local_exponents",
    "power_law_gof",
    "relapse",
    "sample_power_law",
]

SPACE_TIME = np.ones((3, 3, 3), dtype=bool)
"""Space-time structure: 8-neighbours within a step, 3 x 3 neighbourhood across steps."""

_ALPHA_BOUNDS = (1.0001, 8.0)


# --------------------------------------------------------------------------- clusters


def event_sizes(stack: ArrayLike, *, spatial: bool = False) -> np.ndarray:
    """Sizes (in cell-steps) of the violent clusters of a (T, H, W) boolean stack.

    Parameters
    ----------
    stack : array_like of bool, shape (T, H, W)
        Violence per step and cell.
    spatial : bool, default False
        ``False``: space-time clusters (structure :data:`SPACE_TIME`, 3 x 3 x 3).
        ``True``: each step labelled on its own with 8-connectivity.

    Returns
    -------
    numpy.ndarray of int64
        One size per cluster, in label order (unsorted).
    """
    arr = np.asarray(stack, dtype=bool)
    if arr.ndim != 3:
        raise ValueError(f"stack must have shape (T, H, W), got {arr.shape}")
    if spatial:
        structure = np.zeros((3, 3, 3), dtype=bool)
        structure[1] = True
    else:
        structure = SPACE_TIME
    labels, count = ndimage.label(arr, structure=structure)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    return np.bincount(labels.ravel(), minlength=count + 1)[1:].astype(np.int64)


# --------------------------------------------------------------------------- power law


@dataclass(frozen=True)
class PowerLawFit:
    """A discrete power-law fit.

    Attributes
    ----------
    alpha : float
        MLE exponent on the tail ``x >= xmin``.
    xmin : int
        Lower bound of the power-law behaviour (KS-optimal unless given).
    ks : float
        Kolmogorov-Smirnov distance between the tail and the fitted law.
    n_tail : int
        Observations ``>= xmin``.
    n : int
        All observations.
    alpha_se : float
        Asymptotic standard error ``(alpha - 1) / sqrt(n_tail)``.
    loglik : float
        Log-likelihood of the tail at ``alpha``.
    """

    alpha: float
    xmin: int
    ks: float
    n_tail: int
    n: int
    alpha_se: float
    loglik: float


def _check_sample(x: ArrayLike) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        arr = arr.ravel()
    if arr.size == 0:
        raise ValueError("empty sample")
    if not np.all(np.isfinite(arr)) or np.any(arr < 1) or np.any(arr != np.round(arr)):
        raise ValueError("a discrete power law needs integers >= 1")
    return np.sort(arr.astype(np.int64))


def _tail_mle(n: int, sum_log: float, xmin: int) -> tuple[float, float]:
    """MLE of alpha for ``n`` tail values with sum of logs ``sum_log``; (alpha, loglik)."""

    def nll(a: float) -> float:
        return n * math.log(special.zeta(a, xmin)) + a * sum_log

    res = optimize.minimize_scalar(
        nll, bounds=_ALPHA_BOUNDS, method="bounded", options={"xatol": 1e-6}
    )
    return float(res.x), -float(res.fun)


def _ks(alpha: float, xmin: int, values: np.ndarray, counts: np.ndarray) -> float:
    """KS distance over every integer >= xmin between the tail's ECDF and the fitted CDF.

    ``values`` are the tail's distinct values (ascending, first >= xmin) and ``counts``
    their multiplicities. The ECDF is constant between distinct values and the fitted CDF
    increases, so the supremum is attained at a value or just before the next one.
    """
    n = counts.sum()
    ecdf = np.cumsum(counts) / n
    z0 = special.zeta(alpha, xmin)
    cdf_at = 1.0 - special.zeta(alpha, values + 1.0) / z0  # P(X <= v)
    d = np.abs(ecdf - cdf_at).max()
    if values.size > 1:
        cdf_before = 1.0 - special.zeta(alpha, values[1:].astype(float)) / z0  # P(X <= v'-1)
        d = max(d, np.abs(ecdf[:-1] - cdf_before).max())
    return float(d)


def fit_power_law(
    x: ArrayLike,
    *,
    xmin: int | None = None,
    min_tail: int = 50,
    max_candidates: int = 400,
) -> PowerLawFit:
    """Fit a discrete power law by maximum likelihood, ``xmin`` by the KS method.

    Parameters
    ----------
    x : array_like of int
        Observations, integers >= 1.
    xmin : int, optional
        Fix ``xmin`` instead of scanning.
    min_tail : int, default 50
        Candidate ``xmin`` values must leave at least this many observations in the tail
        (tiny tails give spuriously small KS distances).
    max_candidates : int, default 400
        Scan at most this many of the smallest distinct values as ``xmin``.

    Returns
    -------
    PowerLawFit

    Notes
    -----
    For each candidate ``xmin`` the exponent maximises
    ``L(alpha) = -n log zeta(alpha, xmin) - alpha sum(log x)`` (Hurwitz zeta,
    :func:`scipy.special.zeta`); the chosen ``xmin`` minimises the KS distance
    (Clauset, Shalizi & Newman 2009, section 3).
    """
    data = _check_sample(x)
    n = data.size
    values, counts = np.unique(data, return_counts=True)
    logs = np.log(data)
    # suffix sums of log x over the sorted data
    suffix_log = np.concatenate([np.cumsum(logs[::-1])[::-1], [0.0]])
    if xmin is not None:
        if xmin < 1:
            raise ValueError("xmin must be >= 1")
        i = int(np.searchsorted(values, xmin, side="left"))
        if i >= values.size:
            raise ValueError(f"no observations >= xmin={xmin}")
        candidates = [(i, int(xmin))]
    else:
        n_tail = n - np.searchsorted(data, values, side="left")
        ok = np.flatnonzero(n_tail >= min(min_tail, n))
        candidates = [(int(i), int(values[i])) for i in ok[:max_candidates]]
    best: PowerLawFit | None = None
    for i, xm in candidates:
        s = int(np.searchsorted(data, xm, side="left"))
        nt = n - s
        alpha, ll = _tail_mle(nt, float(suffix_log[s]), xm)
        d = _ks(alpha, xm, values[i:].astype(float), counts[i:])
        if best is None or d < best.ks:
            best = PowerLawFit(
                alpha=alpha,
                xmin=xm,
                ks=d,
                n_tail=nt,
                n=n,
                alpha_se=(alpha - 1.0) / math.sqrt(nt),
                loglik=ll,
            )
    assert best is not None
    return best


def local_exponents(x: ArrayLike, xmins: Sequence[int], *, min_tail: int = 50) -> list[PowerLawFit]:
    """Fits with ``xmin`` fixed at each of ``xmins`` whose tail holds ``min_tail`` or more.

    A power law has the same exponent at every ``xmin``; a drifting one shows where the
    distribution bends (validation's local-exponent table, the held-out event-size check).
    """
    if np.asarray(x).size == 0:
        return []
    data = _check_sample(x)
    return [
        fit_power_law(data, xmin=int(xm))
        for xm in xmins
        if int(data.size - np.searchsorted(data, xm, side="left")) >= min_tail
    ]


def sample_power_law(
    alpha: float,
    xmin: int,
    size: int,
    rng: np.random.Generator,
    *,
    table: int = 200_000,
) -> np.ndarray:
    """Draw from the discrete power law ``p(x) = x**-alpha / zeta(alpha, xmin)``, x >= xmin.

    Exact inversion of the survival function ``zeta(alpha, x) / zeta(alpha, xmin)`` over
    ``xmin .. xmin + table``; beyond the table (probability ``~ (table/xmin)**(1-alpha)``)
    the continuous approximation of Clauset et al. (2009, appendix D) takes over.

    Parameters
    ----------
    alpha : float
        Exponent > 1.
    xmin : int
        Lower bound >= 1.
    size : int
        Number of draws.
    rng : numpy.random.Generator
        Source of randomness.
    table : int, default 200000
        Length of the exact table.

    Returns
    -------
    numpy.ndarray of int64
    """
    if alpha <= 1:
        raise ValueError("alpha must be > 1")
    if xmin < 1:
        raise ValueError("xmin must be >= 1")
    xs = np.arange(xmin, xmin + table + 1, dtype=np.float64)
    sf = special.zeta(alpha, xs) / special.zeta(alpha, xmin)  # P(X >= x), decreasing
    u = 1.0 - rng.random(size)  # in (0, 1]
    # the largest x with P(X >= x) >= u
    k = np.searchsorted(-sf, -u, side="right")
    out = (xmin + k - 1).astype(np.int64)
    beyond = k >= xs.size
    if np.any(beyond):
        x_end = xs[-1]
        ratio = u[beyond] / sf[-1]  # conditional survival beyond x_end, in (0, 1]
        cont = np.floor((x_end - 0.5) * ratio ** (-1.0 / (alpha - 1.0)) + 0.5)
        out[beyond] = np.maximum(cont, x_end).astype(np.int64)
    return out


def power_law_gof(
    x: ArrayLike,
    fit: PowerLawFit | None = None,
    *,
    n_boot: int = 200,
    seed: int = 0,
    min_tail: int = 50,
    max_candidates: int = 400,
    fixed_xmin: bool = False,
) -> tuple[float, PowerLawFit]:
    """Goodness-of-fit p-value of a discrete power law by semi-parametric bootstrap.

    Each synthetic sample has the data's size: with probability ``n_tail / n`` a value is
    drawn from the fitted power law above ``xmin``, otherwise uniformly from the observed
    values below ``xmin``. Each synthetic sample is refitted with its own KS-optimal
    ``xmin``; the p-value is the share of synthetic KS distances at least the observed one
    (Clauset, Shalizi & Newman 2009, section 4.1). p <= 0.1 rules the power law out.

    Parameters
    ----------
    x : array_like of int
        Observations.
    fit : PowerLawFit, optional
        The fit of ``x`` (computed when omitted).
    n_boot : int, default 200
        Synthetic samples (p resolution 1 / n_boot).
    seed : int, default 0
        Seed of the bootstrap generator.
    min_tail, max_candidates : int
        As in :func:`fit_power_law`.
    fixed_xmin : bool, default False
        Keep ``fit.xmin`` in every refit instead of choosing it again by KS (use when
        ``xmin`` was fixed, e.g. to test a power law over the whole support).

    Returns
    -------
    tuple
        ``(p_value, fit)``.
    """
    data = _check_sample(x)
    if fit is None:
        fit = fit_power_law(data, min_tail=min_tail, max_candidates=max_candidates)
    rng = np.random.default_rng(seed)
    body = data[data < fit.xmin]
    n = data.size
    exceed = 0
    for _ in range(n_boot):
        n_pl = int(rng.binomial(n, fit.n_tail / n)) if body.size else n
        synth = np.concatenate(
            [
                sample_power_law(fit.alpha, fit.xmin, n_pl, rng),
                rng.choice(body, size=n - n_pl, replace=True) if n - n_pl else body[:0],
            ]
        )
        refit = fit_power_law(
            synth,
            xmin=fit.xmin if fixed_xmin else None,
            min_tail=min_tail,
            max_candidates=max_candidates,
        )
        exceed += refit.ks >= fit.ks
    return exceed / n_boot, fit


def compare_exponential(x: ArrayLike, fit: PowerLawFit) -> tuple[float, float]:
    """Vuong's test of the power law against a discrete exponential on the same tail.

    Parameters
    ----------
    x : array_like of int
        Observations (only those ``>= fit.xmin`` are used).
    fit : PowerLawFit
        The power-law fit.

    Returns
    -------
    tuple of float
        ``(R, p)``: normalised log-likelihood ratio (positive favours the power law) and
        the two-sided p-value of its sign (Clauset et al. 2009, section 5).
    """
    data = _check_sample(x)
    tail = data[data >= fit.xmin].astype(np.float64)
    shift = tail - fit.xmin
    mean_shift = shift.mean()
    if mean_shift == 0:
        return math.inf, 0.0
    lam = math.log1p(1.0 / mean_shift)  # MLE of p(x) = (1 - e^-lam) e^(-lam (x - xmin))
    ll_exp = math.log(-math.expm1(-lam)) - lam * shift
    ll_pl = -fit.alpha * np.log(tail) - math.log(special.zeta(fit.alpha, fit.xmin))
    diff = ll_pl - ll_exp
    sd = diff.std()
    if sd == 0:
        return (math.inf if diff.sum() > 0 else -math.inf), 0.0
    r = diff.sum() / (sd * math.sqrt(diff.size))
    return float(r), float(special.erfc(abs(r) / math.sqrt(2.0)))


# --------------------------------------------------------------------------- relapse


def km_relapse_share(lags: ArrayLike, followup: ArrayLike, window: int) -> float:
    """Kaplan-Meier estimate of P(relapse at a lag <= window).

    Parameters
    ----------
    lags : array_like of int
        Steps from each onset to its relapse, -1 when none was observed (censored).
    followup : array_like of int
        Steps observed after each onset (a relapse is observed only at lags <= followup).
    window : int
        Horizon in steps.

    Returns
    -------
    float
        ``1 - prod_k (1 - d_k / n_k)`` over lags ``k = 1..window``, where ``d_k`` onsets
        relapse at lag ``k`` and ``n_k`` are still at risk (no relapse before ``k``,
        followed at least ``k`` steps). NaN without onsets.
    """
    lag = np.asarray(lags, dtype=np.int64)
    fol = np.asarray(followup, dtype=np.int64)
    if lag.size == 0:
        return float("nan")
    event = np.where(lag >= 0, lag, np.iinfo(np.int64).max)
    surv = 1.0
    for k in range(1, window + 1):
        at_risk = int(((event >= k) & (fol >= k)).sum())
        if at_risk == 0:
            break
        surv *= 1.0 - int((event == k).sum()) / at_risk
    return 1.0 - surv


@dataclass(frozen=True)
class RelapseResult:
    """Calm onsets after violence and returns to violence within a window.

    Attributes
    ----------
    onsets : int
        Calm onsets (after the burn-in), censored or not.
    complete : int
        Onsets followed for the whole window.
    relapsed_complete : int
        Of those, onsets that returned to violence within the window.
    share : float
        ``relapsed_complete / complete`` (NaN when no onset was followed long enough).
    km_share : float
        Kaplan-Meier estimate of P(relapse within the window), using censored onsets.
    lags : numpy.ndarray
        Steps from each onset to the next violent step (-1 if none was observed).
    followup : numpy.ndarray
        Steps observed after each onset.
    """

    onsets: int
    complete: int
    relapsed_complete: int
    share: float
    km_share: float
    lags: np.ndarray
    followup: np.ndarray


def relapse(
    violent: ArrayLike,
    *,
    window: int,
    calm: int = 1,
    burn_in: int = 0,
) -> RelapseResult:
    """Share of calm spells that return to violence within ``window`` steps.

    Parameters
    ----------
    violent : array_like of bool, shape (T, A)
        Whether area ``a`` is violent at step ``t`` (any time unit).
    window : int
        Relapse window in steps, counted from the onset of calm.
    calm : int, default 1
        A calm onset is a step ``t`` with violence at ``t - 1`` and none in
        ``t .. t + calm - 1``; a relapse is the next violent step, so it comes at a lag
        of at least ``calm``.
    burn_in : int, default 0
        Onsets before this step are ignored.

    Returns
    -------
    RelapseResult
    """
    v = np.asarray(violent, dtype=bool)
    if v.ndim == 1:
        v = v[:, None]
    if v.ndim != 2:
        raise ValueError(f"violent must have shape (T, A), got {v.shape}")
    if window < 1 or calm < 1:
        raise ValueError("window and calm must be >= 1")
    t_len = v.shape[0]
    lags: list[int] = []
    follow: list[int] = []
    for a in range(v.shape[1]):
        series = v[:, a]
        hits = np.flatnonzero(series)
        for t in range(max(1, burn_in), t_len - calm + 1):
            if not series[t - 1] or series[t : t + calm].any():
                continue
            nxt = hits[np.searchsorted(hits, t)] if hits.size and hits[-1] >= t else -1
            lags.append(int(nxt - t) if nxt >= 0 else -1)
            follow.append(t_len - 1 - t)
    lag = np.asarray(lags, dtype=np.int64)
    fol = np.asarray(follow, dtype=np.int64)
    relapsed_in = (lag >= 0) & (lag <= window)
    complete = fol >= window
    n_complete = int(complete.sum())
    n_rel = int((relapsed_in & complete).sum())
    share = n_rel / n_complete if n_complete else float("nan")
    return RelapseResult(
        onsets=int(lag.size),
        complete=n_complete,
        relapsed_complete=n_rel,
        share=share,
        km_share=km_relapse_share(lag, fol, window),
        lags=lag,
        followup=fol,
    )
