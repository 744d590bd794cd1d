"""Locks: the one implementation of the advisory file locks dendrinet takes.

Two primitives on an open file descriptor, and the lock of a folder built on them:

:func:`try_lock`
    An exclusive lock that never waits, in one of two styles (:data:`FLOCK`,
    :data:`OFD`). Run and sweep folders use ``flock`` (whole-file, per open file,
    coordinated by NFS servers). The HDF5 spike store uses an open-file-description
    record lock (``F_OFD_SETLK``, Linux): HDF5 takes ``flock`` locks of its own on the
    files it opens (other programs reading or writing a store hold them), and the two
    kinds do not meet, so a store's writer lock neither blocks nor is blocked by HDF5's,
    and, unlike POSIX record locks, it is not dropped when another descriptor of the
    file is closed. Elsewhere the store falls back to ``flock``.
:func:`flock_held_elsewhere`
    Whether another open file holds a ``flock`` on the file (the store asks whether a
    program that is not a dendrinet store, HDF5's lock, has it open).
:class:`FolderLock`
    One writer per folder, described below.

Folder locks
------------
One writer per folder: an advisory lock on a file inside the folder.

>>> with FolderLock("runs/a") as lock:       # doctest: +SKIP
...     lock.remove_temporaries(["weights"])  # leftovers of writers killed earlier
...     ...                                   # write the folder

The lock is ``flock(LOCK_EX | LOCK_NB)`` (:func:`try_lock`) on ``<folder>/.lock``. The
kernel releases it when its holder ends, however it ends (``kill -9`` included), so a
killed writer never blocks the next one; only a living holder does. While holding it,
the holder keeps its host name, process id, start time and command line in the file,
and a refused writer's :class:`FolderBusyError` names them. A clean release removes the file.

All cooperating writers must use this lock (it is advisory: it does not stop other
programs from writing the folder). Deleting ``.lock`` while it is held lets a second
writer take a new file's lock; the first one finds out at its next
:meth:`FolderLock.check_held` (``.lock`` no longer the file it locked) and stops with
:class:`LockLostError`, and its release leaves the other writer's file alone. Locks
taken in one process through two :class:`FolderLock` objects exclude each other too. On
NFS, Linux maps ``flock`` to POSIX record locks, which the server coordinates between
hosts.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import struct
import sys
import time
from pathlib import Path
from typing import Iterable

from dendrinet.errors import RunError
from dendrinet.storage.files import TEMPORARY_PATTERNS, WriteError, file_mode

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["FolderLock", "FolderBusyError", "LockLostError", "LOCK_NAME", "FLOCK", "OFD",
           "OFD_AVAILABLE", "try_lock", "flock_held_elsewhere", "describe_holder"]

LOCK_NAME = ".lock"
#: Lock styles of :func:`try_lock`: a whole-file ``flock``, or an open-file-description
#: record lock (Linux ``F_OFD_SETLK``; ``flock`` where there is none).
FLOCK, OFD = "flock", "ofd"
# Open-file-description locks exist on 64-bit Linux (the struct flock packed below is
# that layout)
_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", None) if (
    fcntl is not None and sys.platform.startswith("linux") and struct.calcsize("P") == 8) else None
#: Whether :data:`OFD` locks exist here (elsewhere :data:`OFD` falls back to ``flock``).
OFD_AVAILABLE = _OFD_SETLK is not None
# errno values of a lock that another open file holds
_HELD = (errno.EACCES, errno.EAGAIN, errno.EWOULDBLOCK)


def try_lock(fd: int, style: str = FLOCK, *, unsupported_ok: bool = False,
             wait: bool = False) -> bool:
    """Take an exclusive lock on the whole file open as ``fd``, without waiting (unless
    ``wait``).

    The lock belongs to the open file (not the process): it excludes other open files,
    in this process too, and goes when the last descriptor of this one is closed, or
    when the process ends however it ends.

    Parameters
    ----------
    fd : int
        An open file descriptor (writable for :data:`OFD`).
    style : {FLOCK, OFD}
        ``flock`` (run and sweep folders), or an open-file-description record lock (the
        HDF5 store: it must not meet the ``flock`` HDF5 takes on its files; see the
        module docstring).
    unsupported_ok : bool
        Count a lock the file system refuses for another reason than a holder (no lock
        support, e.g. some network file systems) as taken: there is nothing to check
        (the store); otherwise that OSError is raised.
    wait : bool
        Wait while another open file holds the lock (``flock`` only: a queue of
        processes taking turns) instead of returning False.

    Returns
    -------
    bool
        True when taken (or nothing to take: no ``fcntl``, Windows), False when another
        open file holds a lock on it.
    """
    if fcntl is None:  # pragma: no cover - Windows
        return True
    try:
        if style not in (OFD, FLOCK) or (wait and style != FLOCK):
            raise ValueError(f"unknown lock style {style!r} (wait={wait})")
        if style == OFD and _OFD_SETLK is not None:
            whole_file = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
            fcntl.fcntl(fd, _OFD_SETLK, whole_file)
        else:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno in _HELD:
            return False
        if unsupported_ok:
            return True
        raise
    return True


def flock_held_elsewhere(fd: int) -> bool:
    """Whether another open file holds a ``flock`` on the file of ``fd`` (for a store:
    HDF5's lock, taken by a program that is not a dendrinet store). Takes and drops a
    ``flock`` to find out: not for a descriptor that holds a ``flock`` of its own (it
    would drop it); an :data:`OFD` lock on it is untouched."""
    if fcntl is None:  # pragma: no cover
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        return err.errno in _HELD
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


class FolderBusyError(RunError):
    """Another living process holds the folder's lock.

    Attributes
    ----------
    path : Path
        The folder.
    holder : dict
        What the holder recorded (``host``, ``pid``, ``started``, ``command``); empty
        when it has not written it yet.
    """

    def __init__(self, path: Path, holder: dict, what: str):
        self.path, self.holder = path, holder
        super().__init__(f"{path}: this {what} is in use by {describe_holder(holder)}; "
                         "one writer at a time: wait for it to end, or stop it first")


class LockLostError(RunError):
    """The holder's lock file was removed or replaced (see :meth:`FolderLock.check_held`)."""


def describe_holder(holder: dict) -> str:
    """``pid 123 on host n1 since 2025-01-31T12:00:00+0100 (dendrinet train ...)``."""
    if not holder.get("pid"):
        return "another process (it has not recorded itself yet)"
    text = f"pid {holder['pid']} on host {holder.get('host', '?')}"
    if holder.get("started"):
        text += f" since {holder['started']}"
    if holder.get("command"):
        text += f" ({holder['command']})"
    return text


def _read_holder(fd: int) -> dict:
    try:
        data = os.pread(fd, 65536, 0)
        holder = json.loads(data.decode("utf-8")) if data.strip() else {}
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _command_line() -> str:
    argv = [os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python",
            *sys.argv[1:]]
    text = " ".join(argv)
    return text if len(text) <= 200 else text[:197] + "..."


class FolderLock:
    """An exclusive advisory lock on a folder, held from :meth:`acquire` (or ``with``)
    to :meth:`release`, or until the process ends.

    Parameters
    ----------
    path : str or PathLike
        The folder.
    create : bool
        Create the folder (and its parents) if missing; otherwise a missing folder is an
        error.
    what : str
        What the folder is, for messages (``"run folder"``, ``"sweep folder"``).

    Attributes
    ----------
    path : Path
    lock_path : Path
        ``path / ".lock"``.
    created : bool
        Whether :meth:`acquire` created the folder (so a caller that fails before
        writing anything can remove it again, see :meth:`release`).
    holder : dict
        What this holder recorded in the lock file (after :meth:`acquire`).

    Raises
    ------
    FolderBusyError
        (from :meth:`acquire`) another living process, or another ``FolderLock`` of
        this process, holds the folder.
    WriteError
        The folder cannot be created, or the lock file cannot be created or written
        (read-only file system, missing permission, a path under a regular file, ...).
    """

    def __init__(self, path: str | os.PathLike, *, create: bool = True,
                 what: str = "folder"):
        self.path = Path(path)
        self.lock_path = self.path / LOCK_NAME
        self.create = create
        self.what = what
        self.created = False
        self._made: list[Path] = []
        self.holder: dict = {}
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "FolderLock":
        """Take the lock, or raise :class:`FolderBusyError` at once (never waits)."""
        if self._fd is not None:
            raise RunError(f"{self.path}: this FolderLock is held already")
        if self.create and not self.path.is_dir():
            # the folders made here (the run folder and missing parents such as runs/):
            # a writer that fails before writing anything leaves none of them behind
            self._made = [p for p in (self.path, *self.path.parents) if not p.exists()]
            try:
                self.path.mkdir(parents=True)
                self.created = True
            except FileExistsError:
                pass
            except OSError as exc:
                raise WriteError(self.path, exc, f"cannot create {self.what}") from None
        for _ in range(100):
            fd = self._open()
            try:
                if not try_lock(fd, FLOCK):
                    raise FolderBusyError(self.path, _read_holder(fd), self.what)
                # the file may have been removed by its last holder between our open
                # and our flock: then the lock is on a stale file; take it again
                try:
                    same = os.path.samestat(os.fstat(fd), os.stat(self.lock_path))
                except FileNotFoundError:
                    same = False
                if same:
                    self._record(fd)
                    self._fd = fd
                    return self
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
        raise RunError(f"{self.lock_path}: cannot take the lock (the file keeps being "
                       "replaced)")

    def _open(self) -> int:
        if not self.path.is_dir():
            if self.path.exists():
                raise RunError(f"{self.path}: exists and is not a folder")
            raise RunError(f"{self.path}: {self.what} missing")
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0),
                         0o666)
        except OSError as exc:
            raise WriteError(self.path, exc, f"cannot lock {self.what}") from None
        return fd

    def _record(self, fd: int) -> None:
        self.holder = {"host": socket.gethostname(), "pid": os.getpid(),
                       "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                       "command": _command_line()}
        data = (json.dumps(self.holder) + "\n").encode("utf-8")
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
            with contextlib.suppress(OSError):  # a file made before under another umask
                os.fchmod(fd, file_mode())
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(self.lock_path)
            raise WriteError(self.lock_path, exc) from None

    def check_held(self, next_step: str = "anything more") -> None:
        """Check that ``.lock`` is still the file this holder locked: a lock file that
        was deleted (or replaced by another writer's) no longer excludes anyone.

        Parameters
        ----------
        next_step : str
            What the caller was about to write, for the message.

        Raises
        ------
        LockLostError
            The lock is not held, or ``.lock`` was removed or replaced.
        """
        if self._fd is None or not self._owns_lock_file():
            raise LockLostError(
                f"lost the lock of {self.path}: {LOCK_NAME} was removed or replaced; "
                f"another process may be writing; stopping without writing {next_step}")

    def _owns_lock_file(self) -> bool:
        try:
            mine = os.fstat(self._fd)
            return mine.st_nlink > 0 and os.path.samestat(mine, os.lstat(self.lock_path))
        except OSError:
            return False

    def release(self, remove_if_created: bool = False) -> None:
        """Drop the lock and remove the lock file (no-op when not held).

        Parameters
        ----------
        remove_if_created : bool
            Also remove the folder if :meth:`acquire` created it and it is empty now
            (a writer that failed before writing anything).
        """
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            # others then open a fresh file; a file that replaced ours (a writer that
            # came in after ours was deleted) is theirs, and stays
            self._fd = fd
            if self._owns_lock_file():
                with contextlib.suppress(OSError):
                    os.unlink(self.lock_path)
        finally:
            self._fd = None
            os.close(fd)  # releases the flock
        if remove_if_created and self.created:
            for folder in self._made:  # innermost first
                try:
                    folder.rmdir()  # only an empty folder goes
                except OSError:
                    break

    def remove_temporaries(self, subfolders: Iterable[str] = ()) -> list[Path]:
        """Remove the temporary files of atomic writes (``*.tmp``, ``*.tmp.npz``) that
        writers killed before their rename left in the folder and in ``subfolders``
        (relative names). Only the holder may: a living writer's temporary file would
        go too. Returns the files removed."""
        if self._fd is None:
            raise RunError(f"{self.path}: remove_temporaries needs the folder's lock")
        removed = []
        for folder in (self.path, *(self.path / s for s in subfolders)):
            for pattern in TEMPORARY_PATTERNS:
                for p in folder.glob(pattern):
                    try:
                        if p.is_file() and not p.is_symlink():
                            p.unlink()
                            removed.append(p)
                    except OSError:
                        pass
        return removed

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"FolderLock({str(self.path)!r}, held={self.held})"
