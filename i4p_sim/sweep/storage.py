"""Atomic file writes and a directory lock: nothing already stored is lost.

A write goes to a temp file beside its target and is ``os.replace``-d into place, so an
interrupted write leaves the old file. :func:`directory_lock` keeps two processes from
writing one results directory at once (one would delete the other's temp files).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from i4p_sim.config.errors import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX (Windows): no lock
    fcntl = None

LOCK_NAME = ".lock"

# mkstemp creates 0600 files; stored results are ordinary files readable like any other
FILE_MODE = 0o644


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to a temp file beside ``path`` and ``os.replace`` it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_parquet(path: str | Path, frame: pd.DataFrame) -> Path:
    """Write a DataFrame as Parquet (pyarrow) through a temp file and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        frame.to_parquet(tmp, engine="pyarrow", index=False)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@contextlib.contextmanager
def directory_lock(root: str | Path) -> Iterator[Path]:
    """Hold an exclusive lock on the directory ``root`` (created if missing).

    The lock is ``flock`` on ``root/.lock``, which holds the owner's pid; the operating
    system releases it when the owner exits, however it exits, so a killed sweep leaves
    no stale lock. On systems without ``fcntl`` the directory is not locked.

    Raises
    ------
    ConfigError
        If another process holds the lock: names the directory and that process.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
                raise ConfigError(
                    str(root),
                    "",
                    f"in use by another sweep (pid {owner}); wait for it to finish or "
                    "write to another directory (--out)",
                ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the lock
