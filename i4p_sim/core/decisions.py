"""Communities decide: the vectorised mobilisation rule of docs/ODD.md 7.4.

After Epstein 2002 (PNAS): a community mobilises when its grievance, net of the risk it
expects and of its exhaustion, exceeds a threshold plus its idiosyncratic shock of the
month. The readable per-agent form of the same rule is
``i4p_sim.sim.agents.Community.decide``; a test runs both through a Mesa ``AgentSet`` and
asserts they agree. Pure numpy: this module imports nothing else of the package.

Per inhabited cell ``i`` (every operand an (H, W) array or a scalar)::

    grievance_i  = tension_i * (1 - state_legitimacy[group_i])          # G = H (1 - L)
    deterrence_i = presence_i / (1 + 8 * near_i) + social_sanction * attachment_i * sanction_i
    arrest_p_i   = 1 - exp(-arrest_constant * deterrence_i)
    net_risk_i   = risk_aversion_i * arrest_p_i
    mobilise_i   = inhabited_i and grievance_i - net_risk_i - exhaustion_i > threshold + noise_i
    exhaustion_i = exhaustion_i * (1 - exhaustion_recovery) + exhaustion_cost * mobilise_i

``near_i`` is the mean of the Moore neighbours' mobilisation last month: the state's
presence is shared among those mobilised nearby (Epstein's cop-to-active ratio ``C/A``,
"safety in numbers"), the strategic complementarity that lets episodes ignite. ``sanction_i``
is the committees' social sanction at the cell: the sum over committees whose catchment
holds it of capability (``capacity ** lpc.returns`` while active) times the legitimacy the
cell's group grants the committee (0 off the catchments). Contagion of *hardship* is not here: it enters once, in the field.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Moore neighbours: ``near * NEIGHBOURS`` is the number of mobilised neighbours.
NEIGHBOURS = 8


@dataclass(frozen=True)
class DecisionParams:
    """The ``[community]`` parameters the rule reads (docs/ODD.md 8.x)."""

    threshold: float
    arrest_constant: float
    social_sanction: float
    exhaustion_cost: float
    exhaustion_recovery: float


def decide(
    *,
    tension: np.ndarray,
    group: np.ndarray,
    state_legitimacy: np.ndarray,
    presence: np.ndarray,
    near: np.ndarray,
    sanction: np.ndarray,
    attachment: np.ndarray,
    risk_aversion: np.ndarray,
    exhaustion: np.ndarray,
    noise: np.ndarray,
    inhabited: np.ndarray,
    params: DecisionParams,
    violence: np.ndarray,
    work: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    """Every community decides at once (synchronous update); return ``violence``.

    Writes this step's decisions into ``violence`` (bool, (H, W)) and updates
    ``exhaustion`` in place: all communities read the same state, then all write.
    ``work`` is three (H, W) float64 scratch arrays (the step allocates no grid).
    The operations are those of the formulas above, in their order, so that the
    per-agent form gives the same bits.
    """
    a, b, c = work
    # mode="wrap" reads what mode="raise" reads for every index in [-n, n) (the groups),
    # without the buffered copy mode="raise" makes of ``out=``
    np.take(1.0 - np.asarray(state_legitimacy, dtype=np.float64), group, out=a, mode="wrap")
    a *= tension  # grievance
    np.multiply(attachment, params.social_sanction, out=b)
    b *= sanction
    np.multiply(near, NEIGHBOURS, out=c)
    c += 1.0
    np.divide(presence, c, out=c)  # the state's presence shared among those mobilised
    b += c  # deterrence
    b *= -params.arrest_constant
    np.expm1(b, out=b)
    b *= risk_aversion  # -net_risk
    a += b
    a -= exhaustion
    np.add(noise, params.threshold, out=b)
    np.greater(a, b, out=violence)
    violence &= inhabited
    exhaustion *= 1.0 - params.exhaustion_recovery
    np.add(exhaustion, params.exhaustion_cost, out=exhaustion, where=violence)
    return violence
