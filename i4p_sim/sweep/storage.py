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


def fsync_dir(path: str | Path) -> None:
    """``fsync`` a directory, so a rename or a new file in it survives a power loss."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - e.g. Windows cannot open a directory
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def probe_writable(path: str | Path, source: str = "--out") -> Path:
    """Create ``path`` (a directory) if missing and check a file can be written in it.

    Raises
    ------
    ConfigError
        One line: exists and is not a directory, or cannot be created or written.
    """
    path = Path(path)
    try:
        if path.exists() and not path.is_dir():
            raise ConfigError(source, str(path), "exists and is not a directory")
        path.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".write-test.", suffix=".tmp", dir=path)
        os.close(fd)
        os.unlink(tmp)
    except ConfigError:
        raise
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(source, str(path), f"cannot write here: {reason}") from None
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to a temp file beside ``path``, ``fsync`` it, ``os.replace`` it into
    place and ``fsync`` the directory."""
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
    fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_experiment_file(path: str | Path, table: dict, comment: str) -> Path:
    """An experiment file written by the program (a calibration wave, a search batch):
    ``# comment`` then ``table`` as TOML (tomli-w), atomically."""
    import tomli_w

    return atomic_write_text(path, f"# {comment}\n" + tomli_w.dumps(table))


def atomic_write_parquet(path: str | Path, frame: pd.DataFrame) -> Path:
    """Write a DataFrame as Parquet (pyarrow) with :func:`atomic_write_bytes`."""
    return atomic_write_bytes(path, frame.to_parquet(engine="pyarrow", index=False))


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
