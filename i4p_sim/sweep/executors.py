"""Executors for sweeps: a local process pool or Dask (an existing scheduler or a local
cluster), each worker limited to one thread.

The local pool's workers are forked from a fork server (``forkserver``, POSIX) that this
process starts once (:func:`start_fork_server`) and that has imported the worker's modules
and loaded numba's kernel (:mod:`i4p_sim.sweep.preload`): a pool starts in milliseconds
instead of each worker importing the model (about 1.2 s), and a process that runs many
sweeps (the benchmarks, calibration waves, a search) pays the imports once. Each worker
gets the driver's environment at the pool's start, as a spawned one would (the fork server
was started with the environment of its own start). When a variable read at import time
(numba's, the thread pools', Python's) has changed since the server started, or where there
is no fork server (Windows), the pool spawns its workers instead.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing as mp
import os
import signal
from collections.abc import Iterator

from i4p_sim.config.errors import ConfigError

__all__ = [
    "THREAD_ENV",
    "RestartablePool",
    "limit_threads",
    "make_executor",
    "start_fork_server",
]

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


#: What the fork server imports before it forks any worker (``__main__`` as the standard
#: library does by default: a worker then does not run the driver's script again).
PRELOAD = ["__main__", "i4p_sim.sweep.preload"]
#: Environment variables read when a library is imported (numba's configuration, the
#: numeric thread pools, Python's own): a forked worker has those of the fork server.
IMPORT_ENV_PREFIXES = (
    "NUMBA_",
    "OMP_",
    "OPENBLAS_",
    "MKL_",
    "NUMEXPR_",
    "VECLIB_",
    "KMP_",
    "PYTHON",
)
#: The import-time environment the fork server of this process was started with.
_server_env: dict[str, str] | None = None


def _import_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(IMPORT_ENV_PREFIXES)}


def _thread_defaults() -> None:
    # inherited by the fork server and spawned workers before they import numpy
    for name in THREAD_ENV:
        os.environ.setdefault(name, "1")


def start_fork_server() -> bool:
    """Start this process's fork server if it is not running, without waiting for its
    imports (a later pool waits for them); returns whether pools can fork from it.

    Called early by :func:`~i4p_sim.sweep.driver.run_experiment`, so that the server's
    imports overlap the driver's own work.
    """
    global _server_env
    if "forkserver" not in mp.get_all_start_methods():
        return False
    from multiprocessing import forkserver

    _thread_defaults()
    if _server_env is None:
        forkserver.set_forkserver_preload(PRELOAD)
        _server_env = _import_env()
    elif _server_env != _import_env():  # a variable numba or numpy read at import changed
        return False
    try:
        forkserver.ensure_running()  # (re)started with PRELOAD if it is not running
    except OSError:  # pragma: no cover - e.g. no room for its socket: spawn instead
        return False
    return True


def _worker_init(env: dict[str, str] | None = None) -> None:
    """Process-pool initializer: the driver's environment (a forked worker has the fork
    server's), one thread per worker; Ctrl-C and SIGTERM are handled by the driver, which
    ends the workers itself."""
    if env is not None and env != os.environ:
        os.environ.clear()
        os.environ.update(env)
    limit_threads()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class RestartablePool:
    """A :class:`~concurrent.futures.ProcessPoolExecutor` (forked from the fork server, else
    spawned) that can be replaced by a fresh one when a worker dies (``BrokenProcessPool``)
    and whose workers can be ended at once on an interrupt.

    Parameters
    ----------
    workers : int
        Worker processes.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.restarts = 0
        self.method = "spawn"
        self._pool = self._new()

    def _new(self) -> cf.ProcessPoolExecutor:
        self.method = "forkserver" if start_fork_server() else "spawn"
        return cf.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=mp.get_context(self.method),
            initializer=_worker_init,
            initargs=(dict(os.environ),),
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
    _thread_defaults()
    if scheduler or dask_local:
        with _dask_executor(scheduler, dask_local) as out:
            yield out
        return
    n = workers or os.cpu_count() or 1
    pool = RestartablePool(n)
    ok = False
    try:
        yield pool, f"process pool ({n} workers, {pool.method})", n  # type: ignore[misc]
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
