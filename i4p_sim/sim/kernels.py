"""The tension-core kernel a scenario asks for must be able to run here, checked up front.

``kernel = "numba"`` (or ``--kernel numba``) without numba installed would otherwise fail
inside the first step (a traceback for ``i4p run``, every run stored as failed for a
sweep); :func:`require_kernels` refuses it before any work, in one line naming the command
that installs the ``fast`` extra.
"""

from __future__ import annotations

from collections.abc import Iterable

from i4p_sim.config.errors import ConfigError
from i4p_sim.config.scenario import Scenario
from i4p_sim.core.field import require_kernel

__all__ = ["require_kernels"]


def require_kernels(scenarios: Iterable[Scenario], source: str, field: str = "kernel") -> None:
    """Refuse a kernel that cannot run in this environment.

    Parameters
    ----------
    scenarios : iterable of Scenario
        The scenarios about to run.
    source, field : str
        Where the kernel was chosen (the file and ``kernel``, or ``"command line"`` and
        ``--kernel``), named in the error.

    Raises
    ------
    ConfigError
        One line: numba is not installed, and the command that installs it.
    """
    for kernel in sorted({sc.kernel for sc in scenarios}):
        try:
            require_kernel(kernel)
        except ImportError as exc:
            raise ConfigError(source, field, str(exc)) from None
