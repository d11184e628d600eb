"""Executors for sweeps: a local process pool or Dask (an existing scheduler or a local
cluster), each worker limited to one thread."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing as mp
import os
import signal
from collections.abc import Iterator

from i4p_sim.config.errors import ConfigError

__all__ = ["THREAD_ENV", "RestartablePool", "limit_threads", "make_executor"]

#: Thread-pool variables of numeric libraries, set to 1 in every worker.
THREAD_ENV = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMEXPR_MAX_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMBA_NUM_THREADS",
)
#: How long to wait for a Dask scheduler.
SCHEDULER_TIMEOUT = "10s"
#: Times Dask reruns a task that raised (a worker that dies is rescheduled by Dask itself):
#: a rerun skips the runs its first attempt stored and rewrites no other
#: (:func:`i4p_sim.sweep.worker.run_task`).
DASK_RETRIES = 2


def limit_threads() -> None:
    """One thread per worker process (set before the numeric libraries start threads)."""
    for name in THREAD_ENV:
        os.environ[name] = "1"


def _worker_init() -> None:
    """Process-pool initializer: one thread per worker; Ctrl-C and SIGTERM are handled by
    the driver, which ends the workers itself."""
    limit_threads()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class RestartablePool:
    """A spawn :class:`~concurrent.futures.ProcessPoolExecutor` that can be replaced by a
    fresh one when a worker dies (``BrokenProcessPool``) and whose workers can be ended
    at once on an interrupt.

    Parameters
    ----------
    workers : int
        Worker processes.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.restarts = 0
        self._pool = self._new()

    def _new(self) -> cf.ProcessPoolExecutor:
        ctx = mp.get_context("spawn")
        return cf.ProcessPoolExecutor(
            max_workers=self.workers, mp_context=ctx, initializer=_worker_init
        )

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:  # noqa: ANN001
        """Submit to the current pool."""
        return self._pool.submit(fn, *args, **kwargs)

    def restart(self) -> None:
        """End the current (broken) pool's processes and start a fresh pool."""
        self.terminate()
        self._pool = self._new()
        self.restarts += 1

    def terminate(self) -> None:
        """End every worker process now (no waiting for running tasks)."""
        pool = self._pool
        procs = list((getattr(pool, "_processes", None) or {}).values())
        for proc in procs:
            with contextlib.suppress(Exception):
                proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            with contextlib.suppress(Exception):
                proc.join(timeout=5)
                if proc.is_alive():
                    proc.kill()
                    proc.join(timeout=5)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = True) -> None:
        """Shut the current pool down."""
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


@contextlib.contextmanager
def make_executor(
    workers: int | None = None,
    scheduler: str | None = None,
    dask_local: int | None = None,
) -> Iterator[tuple[cf.Executor, str, int]]:
    """Yield ``(executor, description, slots)`` and shut everything down afterwards.

    Parameters
    ----------
    workers : int, optional
        Local process pool size (default ``os.cpu_count()``); used when neither Dask
        option is given.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://HOST:PORT``).
    dask_local : int, optional
        Start a Dask ``LocalCluster`` of this many single-threaded worker processes.
    """
    # inherited by spawned workers before they import numpy
    for name in THREAD_ENV:
        os.environ.setdefault(name, "1")
    if scheduler or dask_local:
        with _dask_executor(scheduler, dask_local) as out:
            yield out
        return
    n = workers or os.cpu_count() or 1
    pool = RestartablePool(n)
    ok = False
    try:
        yield pool, f"process pool ({n} workers, spawn)", n  # type: ignore[misc]
        ok = True
    finally:
        if ok:
            # every task is done: the idle workers exit by themselves (about 0.9 s of
            # interpreter teardown on this machine) while the driver assembles the results
            pool.shutdown(wait=False, cancel_futures=True)
        else:  # an error or an interrupt: end the workers now, leave no orphan
            pool.terminate()


@contextlib.contextmanager
def _dask_executor(
    scheduler: str | None, dask_local: int | None
) -> Iterator[tuple[cf.Executor, str, int]]:
    try:
        # lazy: Dask is optional (the 'distributed' extra) and slow to import
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError(
            "command line",
            "--scheduler" if scheduler else "--dask-local",
            "Dask is not installed; pip install 'i4p-sim[distributed]'",
        ) from None
    cluster = None
    try:
        if scheduler:
            try:
                client = Client(scheduler, timeout=SCHEDULER_TIMEOUT)
            except (OSError, TimeoutError, ValueError) as exc:
                raise ConfigError(
                    "command line",
                    "--scheduler",
                    f"cannot connect to {scheduler!r}: {exc}".splitlines()[0],
                ) from None
            desc = f"dask {scheduler}"
        else:
            cluster = LocalCluster(
                n_workers=dask_local,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            client = Client(cluster)
            desc = f"dask LocalCluster({dask_local} workers)"
        client.run(limit_threads)
        slots = max(1, sum(client.nthreads().values()))
        try:
            yield client.get_executor(pure=False, retries=DASK_RETRIES), desc, slots
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()
