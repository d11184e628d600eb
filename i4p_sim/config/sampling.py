"""Samples of parameter points for experiments (``[sample]``).

Space-filling (``lhs``, scrambled ``sobol``; :mod:`scipy.stats.qmc`) or the designs of a
global sensitivity analysis (SALib, :mod:`i4p_sim.stats.sensitivity`): ``morris``
(``n`` Morris trajectories of ``d + 1`` points on a ``num_levels`` grid) and ``saltelli``
(Saltelli's design for Sobol first-order and total indices: ``n * (d + 2)`` points, ``n``
a power of 2). The designs keep SALib's row order, so ``i4p sensitivity`` can analyse a
store by the point index of its runs.

``ranges = "priors"`` means every ``[[prior]]`` of ``priors_file`` (next to the experiment
file; default ``priors.toml``) matching ``include`` (shell patterns; default all) except
those matching ``exclude`` (e.g. ``"shocks.*"``); a prior whose default, low and high are all integers stays an integer.
"""

from __future__ import annotations

import fnmatch
import math
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from i4p_sim.config.errors import ConfigError
from i4p_sim.config.loading import flatten_dotted

__all__ = [
    "DESIGN_METHODS",
    "SampleConfig",
    "design_record",
    "sample_points",
    "sample_ranges",
    "sample_size",
]

#: Methods whose points form a sensitivity design (analysed by ``i4p sensitivity``).
DESIGN_METHODS = ("morris", "saltelli")


class SampleConfig(BaseModel):
    """A sample over parameter ranges: space-filling or a sensitivity design."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    method: Literal["lhs", "sobol", "morris", "saltelli"] = "lhs"
    #: points (lhs, sobol), trajectories (morris) or the base sample size (saltelli)
    n: Annotated[int, Field(ge=1, le=100_000)]
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    ranges: dict[str, Any] | Literal["priors"]
    integers: list[str] = Field(default_factory=list)
    #: Morris grid levels (morris only)
    num_levels: Annotated[int, Field(ge=2, le=100)] = 4
    #: with ranges = "priors": the priors file, relative to the experiment file
    priors_file: str = "priors.toml"
    #: with ranges = "priors": shell patterns of the prior paths varied (default: all)
    include: list[str] = Field(default_factory=list)
    #: with ranges = "priors": shell patterns of prior paths left at their defaults
    exclude: list[str] = Field(default_factory=list)


def sample_ranges(sample: SampleConfig, source: str) -> tuple[dict[str, list[float]], list[str]]:
    """The sample's ranges (dotted path -> ``[low, high]``) and its integer paths, with
    ``ranges = "priors"`` resolved from the priors file next to ``source``."""
    if sample.ranges != "priors":
        if sample.exclude or sample.include:
            field = "sample.exclude" if sample.exclude else "sample.include"
            raise ConfigError(source, field, 'only with ranges = "priors"')
        ranges = flatten_dotted(sample.ranges)
        _check_ranges(ranges, source)
        for i, path in enumerate(sample.integers):
            if path not in ranges:
                raise ConfigError(
                    source, f"sample.integers.{i}", f"'{path}' is not in sample.ranges"
                )
        return ranges, list(sample.integers)
    file = Path(source).parent / sample.priors_file
    try:
        priors = tomllib.loads(file.read_text(encoding="utf-8")).get("prior", [])
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(source, "sample.priors_file", f"cannot read {file}: {err}") from None
    ranges, integers = {}, list(sample.integers)
    for prior in priors:
        path = prior.get("path", "")
        if any(fnmatch.fnmatchcase(path, pat) for pat in sample.exclude):
            continue
        if sample.include and not any(fnmatch.fnmatchcase(path, p) for p in sample.include):
            continue
        ranges[path] = [prior.get("low"), prior.get("high")]
        ends = (prior.get("default"), prior.get("low"), prior.get("high"))
        if all(isinstance(v, int) and not isinstance(v, bool) for v in ends):
            integers.append(path)
    if not ranges:
        raise ConfigError(source, "sample", f"include/exclude leave no prior of {file}")
    unmatched = [p for p in sample.include if not any(fnmatch.fnmatchcase(r, p) for r in ranges)]
    if unmatched:
        raise ConfigError(source, "sample.include", f"no prior matches {unmatched[0]!r}")
    _check_ranges(ranges, source)
    return ranges, integers


def _check_ranges(ranges: dict[str, Any], source: str) -> None:
    if not ranges:
        raise ConfigError(source, "sample.ranges", "name at least one dotted.path = [low, high]")
    for path, rng in ranges.items():
        where = f"sample.ranges.{path}"
        if (
            not isinstance(rng, list)
            or len(rng) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in rng)
        ):
            raise ConfigError(source, where, "must be [low, high] (two numbers)")
        if not (math.isfinite(rng[0]) and math.isfinite(rng[1])) or rng[0] >= rng[1]:
            raise ConfigError(source, where, f"got {rng}; need finite low < high")


def sample_size(sample: SampleConfig, d: int) -> int:
    """Parameter points of the sample over ``d`` parameters (counted without listing)."""
    if sample.method == "morris":
        return sample.n * (d + 1)
    if sample.method == "saltelli":
        return sample.n * (d + 2)
    return sample.n


def design_record(sample: SampleConfig, source: str) -> dict[str, Any] | None:
    """What ``i4p sensitivity`` needs to rebuild a sensitivity design (for the manifest);
    ``None`` for a space-filling sample."""
    if sample.method not in DESIGN_METHODS:
        return None
    ranges, integers = sample_ranges(sample, source)
    return {
        "method": sample.method,
        "n": sample.n,
        "seed": sample.seed,
        "num_levels": sample.num_levels,
        "names": list(ranges),
        "bounds": [[float(lo), float(hi)] for lo, hi in ranges.values()],
        "integers": integers,
    }


def sample_points(sample: SampleConfig, source: str) -> list[dict[str, Any]]:
    """Points of the sample (dotted path -> value), rounded where integers say."""
    ranges, integers = sample_ranges(sample, source)
    lows = [float(r[0]) for r in ranges.values()]
    highs = [float(r[1]) for r in ranges.values()]
    d = len(ranges)
    if sample.method in ("sobol", "saltelli") and sample.n & (sample.n - 1):
        raise ConfigError(
            source, "sample.n", f"got {sample.n}; Sobol needs a power of 2 (e.g. 64, 128)"
        )
    if sample.method in DESIGN_METHODS:
        from i4p_sim.stats.sensitivity import design_matrix  # lazy: SALib

        try:
            scaled = design_matrix(
                sample.method,
                list(zip(lows, highs, strict=True)),
                sample.n,
                sample.seed,
                sample.num_levels,
            )
        except ImportError:
            raise ConfigError(
                source, "sample.method", f"'{sample.method}' needs SALib: pip install SALib"
            ) from None
    else:
        from scipy.stats import qmc  # lazy: heavy, and only sampled experiments need it

        if sample.method == "lhs":
            unit = qmc.LatinHypercube(d=d, seed=sample.seed).random(sample.n)
        else:
            unit = qmc.Sobol(d=d, scramble=True, seed=sample.seed).random(sample.n)
        scaled = qmc.scale(unit, lows, highs)
    points = []
    for row in scaled:
        point: dict[str, Any] = {}
        for path, value in zip(ranges, row, strict=True):
            point[path] = int(round(value)) if path in integers else float(value)
        points.append(point)
    return points
