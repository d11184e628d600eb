"""Space-filling samples of parameter points for experiments (``[sample]``)."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from i4p_sim.config.errors import ConfigError

__all__ = ["SampleConfig", "sample_points"]


class SampleConfig(BaseModel):
    """A space-filling sample over parameter ranges (``scipy.stats.qmc``)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    method: Literal["lhs", "sobol"] = "lhs"
    n: Annotated[int, Field(ge=1, le=100_000)]
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    ranges: dict[str, Any]
    integers: list[str] = Field(default_factory=list)


def sample_points(
    sample: SampleConfig, ranges: dict[str, Any], source: str
) -> list[dict[str, Any]]:
    """Points of a Latin hypercube or scrambled Sobol sample over ``ranges`` (dotted path ->
    ``[low, high]``), rounded where ``sample.integers`` says."""
    from scipy.stats import qmc  # lazy: heavy, and only sampled experiments need it

    if not ranges:
        raise ConfigError(source, "sample.ranges", "name at least one dotted.path = [low, high]")
    lows, highs = [], []
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
        lows.append(float(rng[0]))
        highs.append(float(rng[1]))
    for i, path in enumerate(sample.integers):
        if path not in ranges:
            raise ConfigError(source, f"sample.integers.{i}", f"'{path}' is not in sample.ranges")
    d = len(ranges)
    if sample.method == "lhs":
        unit = qmc.LatinHypercube(d=d, seed=sample.seed).random(sample.n)
    else:
        if sample.n & (sample.n - 1):
            raise ConfigError(
                source, "sample.n", f"got {sample.n}; Sobol needs a power of 2 (e.g. 64, 128)"
            )
        unit = qmc.Sobol(d=d, scramble=True, seed=sample.seed).random(sample.n)
    scaled = qmc.scale(unit, lows, highs)
    points = []
    for row in scaled:
        point: dict[str, Any] = {}
        for path, value in zip(ranges, row, strict=True):
            point[path] = int(round(value)) if path in sample.integers else float(value)
        points.append(point)
    return points
