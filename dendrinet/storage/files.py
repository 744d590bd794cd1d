"""Files written whole or not at all: atomic writes, temporary files, and the checks
that keep a writer inside its folder. The one place dendrinet creates temporary files
and renames them over their targets (run folders, spike stores, downloads, reports).

:func:`atomic_open` writes a temporary file in the target's folder, fsyncs it, then
renames it over the target, so a reader (or a writer killed at any moment) sees either
the old file or the complete new one, never a half-written file. Writers that cannot
write through a file object (HDF5, a download streamed in pieces) use the two steps
themselves: :func:`create_temporary`, then :func:`commit_temporary` (or
:func:`remove_file` on failure).

The temporary files of :func:`atomic_open` are named ``<name>.<random><suffix>``
(suffix ``.tmp``, or ``.tmp.npz`` for NumPy archives; :data:`TEMPORARY_PATTERNS`); a
writer killed before its rename leaves one behind, which the folder's next writer
removes (:meth:`dendrinet.storage.locks.FolderLock.remove_temporaries`).

New files get the permissions of any new file, ``0o666`` less the umask (so a group
can read a run folder under umask 022), not the ``0o600`` of :func:`tempfile.mkstemp`.
An operating-system failure (full disk, read-only file system, missing permission, a
path under a regular file) is raised as one :class:`WriteError` naming the file and
the cause, and the old file stays as it was.

Writers into a folder whose content they own (a run folder) pass it as ``root``: then
no link is followed below it, neither a linked target (the rename would replace the
link, not its file, but the writer refuses anyway) nor a linked sub-folder (the
temporary file would land wherever the link points): :func:`check_no_symlinks`.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import socket
import stat
import tempfile
import threading
from pathlib import Path
from typing import IO, Iterator

from dendrinet.errors import DendrinetError, RunError

__all__ = ["WriteError", "TEMPORARY_PATTERNS", "atomic_open", "write_json_atomic",
           "write_text_atomic", "file_mode", "current_umask", "os_error_text",
           "check_writable_folder", "writer_temporary", "remove_dead_temporaries",
           "check_no_symlinks", "os_error_cause", "create_temporary", "commit_temporary",
           "remove_file", "create_temporary_folder", "rename"]

#: Glob patterns of the temporary files :func:`atomic_open` writes.
TEMPORARY_PATTERNS = ("*.tmp", "*.tmp.npz")

_umask_lock = threading.Lock()


class WriteError(DendrinetError):
    """A file could not be written for an operating-system reason.

    Attributes
    ----------
    path : Path
        The file (or folder) that could not be written.
    errno : int or None
        The operating system's error number (``errno.ENOSPC``, ...).
    cause : str
        Its description (strerror, with the errno name).
    """

    def __init__(self, path, exc: OSError, action: str = "cannot write"):
        self.path = Path(path)
        self.errno = getattr(exc, "errno", None)
        self.cause = os_error_cause(exc)
        super().__init__(f"{action} {self.path}: {self.cause}")


def os_error_cause(exc: BaseException) -> str:
    """``strerror [ENAME]`` of an OS error (its message for other exceptions)."""
    number = getattr(exc, "errno", None)
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    name = errno.errorcode.get(number) if isinstance(number, int) else None
    return f"{text} [{name}]" if name else text


def os_error_text(exc: OSError, path=None) -> str:
    """One line for an OS error: the file it names (or ``path``), then the cause."""
    where = getattr(exc, "filename", None) or path
    cause = os_error_cause(exc)
    other = getattr(exc, "filename2", None)
    if where is not None and other is not None:
        return f"{os.fsdecode(where)} -> {os.fsdecode(other)}: {cause}"
    return f"{os.fsdecode(where)}: {cause}" if where is not None else cause


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows
    (``/proc/self/status`` on Linux); elsewhere set and restored under a lock."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _umask_lock:  # pragma: no cover - not Linux, or an old kernel
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """Permissions of a new file: ``0o666`` less the umask."""
    return 0o666 & ~current_umask()


def check_writable_folder(folder, what: str = "output folder") -> None:
    """Raise :class:`WriteError` unless ``folder`` exists, is a folder, and a file can
    be created in it (tried: a temporary file is created and removed, which also
    catches read-only file systems and permissions that ``os.access`` misjudges)."""
    folder = Path(folder)
    action = f"cannot write to {what}"
    if not folder.is_dir():
        code = errno.ENOENT
        if folder.exists():
            code = errno.ENOTDIR
        else:  # a path under a regular file cannot be made
            parent = folder.parent
            while not parent.exists() and parent != parent.parent:
                parent = parent.parent
            if parent.exists() and not parent.is_dir():
                code = errno.ENOTDIR
        raise WriteError(folder, OSError(code, os.strerror(code)), action)
    try:
        probe, fd = create_temporary(folder / ".dendrinet-probe", hidden=False)
    except OSError as exc:
        raise WriteError(folder, exc, action) from None
    os.close(fd)
    remove_file(probe)


def create_temporary(target: str | os.PathLike, *, hidden: bool = True,
                     suffix: str = ".tmp") -> tuple[Path, int]:
    """Create a new, empty temporary file next to ``target`` and open it for reading and
    writing.

    Parameters
    ----------
    target : str or PathLike
        The file the temporary one will replace (:func:`commit_temporary`); its folder
        must exist.
    hidden : bool
        Name it ``.<name>.<random><suffix>`` (hidden: HDF5 stores, downloads), else
        ``<name>.<random><suffix>`` (:func:`atomic_open`, found again by
        :data:`TEMPORARY_PATTERNS`).
    suffix : str
        End of the name.

    Returns
    -------
    (Path, int)
        The file and its open descriptor (the caller closes it).

    Raises
    ------
    OSError
        The folder cannot hold a new file (callers name the file in their own error).

    Notes
    -----
    Created with ``O_EXCL`` (never an existing file, never through a link) and mode
    ``0o666`` less the umask: the permissions of any new file (:func:`file_mode`).
    """
    target = Path(target)
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    prefix = f".{target.name}." if hidden else f"{target.name}."
    for _ in range(100):
        tmp = target.with_name(f"{prefix}{secrets.token_hex(4)}{suffix}")
        try:
            return tmp, os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(target))


def commit_temporary(tmp: str | os.PathLike, target: str | os.PathLike, *,
                     fd: int | None = None) -> None:
    """Make a complete temporary file the target: fsync it (through ``fd`` when it is
    open, else by opening it), then rename it over ``target`` in one step, so the target
    is the old file or the whole new one whenever the writer stops.

    Raises
    ------
    OSError
        The fsync or the rename failed (``tmp`` is left for the caller to remove).
    """
    if fd is None:
        fd_read = os.open(tmp, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            os.fsync(fd_read)
        finally:
            os.close(fd_read)
    else:
        os.fsync(fd)
    os.replace(tmp, target)


def create_temporary_folder(parent: str | os.PathLike | None = None, *,
                            prefix: str = ".tmp-") -> Path:
    """Create a new, empty folder (mode ``0o700``) with a fresh name ``<prefix><random>``
    in ``parent`` (default: the system's temporary folder), to fill and then move into
    place in one step (:func:`rename`) or to use as scratch space.

    Raises
    ------
    OSError
        ``parent`` cannot hold a new folder.
    """
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


def rename(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Rename ``source`` to ``target`` in one step (same file system): a folder filled
    under a temporary name moved into place, or a folder moved out of the way before it
    is deleted. An existing file ``target`` is replaced; an existing non-empty folder
    is not (OSError, ``ENOTEMPTY`` or ``EEXIST``: another writer got there first)."""
    os.rename(source, target)


def remove_file(path: str | os.PathLike) -> bool:
    """Remove a file if it is there (a temporary file after a failure); whether it was."""
    try:
        os.unlink(path)
    except OSError:
        return False
    return True


def check_no_symlinks(path: str | os.PathLike, root: str | os.PathLike) -> None:
    """Refuse ``path`` if it, or any folder between ``root`` and it, is a symbolic link
    (``root`` itself may be one: the user chose it). Components that do not exist yet
    end the check (the writer creates them).

    Raises
    ------
    RunError
        One line naming the link; also when ``path`` is not inside ``root``.
    """
    path, root = Path(path), Path(root)
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        raise RunError(f"{path}: not inside {root}") from None
    current = root
    for part in parts:
        if part in ("", ".", ".."):
            raise RunError(f"{path}: not a plain path inside {root}")
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise WriteError(current, exc) from None
        if stat.S_ISLNK(st.st_mode):
            raise RunError(f"{current}: is a symbolic link inside {root}; dendrinet never "
                           "writes through links there: replace the link by a file or "
                           "folder of its own, or choose another folder")


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", *, suffix: str = ".tmp",
                encoding: str | None = None,
                root: str | os.PathLike | None = None) -> Iterator[IO]:
    """Open a temporary file next to ``path`` for writing; on a clean exit of the
    ``with`` block, flush, fsync and rename it to ``path``; on an exception, delete it.

    Parameters
    ----------
    path : str or PathLike
        Final file; its folder must exist.
    mode : str
        ``"wb"`` (binary) or ``"w"`` (text).
    suffix : str
        Ending of the temporary file's name (some writers look at it, e.g. ``.npz``).
    encoding : str or None
        Text encoding for ``mode="w"``.
    root : str or PathLike, optional
        A folder above ``path`` (a run folder): refuse links below it
        (:func:`check_no_symlinks`).

    Raises
    ------
    WriteError
        An OS error while creating, writing or renaming the file (the old file, if
        any, is unchanged and the temporary file removed).
    RunError
        ``root`` given and a link below it (nothing written).
    """
    path = Path(path)
    if root is not None:
        check_no_symlinks(path, root)
    try:
        tmp, fd = create_temporary(path, hidden=False, suffix=suffix)
    except OSError as exc:
        raise WriteError(path, exc) from None
    try:
        try:
            fh = os.fdopen(fd, mode, encoding=encoding)
        except BaseException:
            os.close(fd)
            raise
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # fsync'ed above, through the file object
    except BaseException as exc:
        remove_file(tmp)
        if isinstance(exc, OSError):
            raise WriteError(path, exc) from None
        raise


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def writer_temporary(target: str | os.PathLike) -> Path:
    """A fresh name for a temporary file next to ``target`` that names its writer:
    ``.<name>.w<pid>-<host>-<random>.tmp`` (``<host>``: a hash of the host name), for
    writers (HDF5) that cannot use :func:`atomic_open`. A later writer removes those of
    dead writers: :func:`remove_dead_temporaries`."""
    target = Path(target)
    return target.with_name(f".{target.name}.w{os.getpid()}-{_host_tag()}-"
                            f"{secrets.token_hex(4)}.tmp")


def remove_dead_temporaries(target: str | os.PathLike) -> list[Path]:
    """Remove the :func:`writer_temporary` files of ``target`` (and the files their
    writers made from their names) whose writer, a process of this host, has ended.
    Returns the files removed."""
    target = Path(target)
    pattern = re.compile(r"\.{1,2}" + re.escape(target.name) + r"\.w(\d+)-([0-9a-f]{8})-")
    removed, host = [], _host_tag()
    try:
        names = os.listdir(target.parent)
    except OSError:
        return removed
    for name in names:
        match = pattern.match(name)
        if not match or match.group(2) != host or _alive(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            os.unlink(target.parent / name)
            removed.append(target.parent / name)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # exists (another user's), or cannot tell: keep its file
    return True


def write_json_atomic(path: str | os.PathLike, data: dict, *,
                      root: str | os.PathLike | None = None) -> None:
    """Write ``data`` as indented UTF-8 JSON (with a final newline) atomically
    (``root``: see :func:`atomic_open`)."""
    with atomic_open(path, "w", encoding="utf-8", root=root) as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")


def write_text_atomic(path: str | os.PathLike, text: str, *,
                      root: str | os.PathLike | None = None) -> None:
    """Write ``text`` (UTF-8) atomically (``root``: see :func:`atomic_open`)."""
    with atomic_open(path, "w", encoding="utf-8", root=root) as fh:
        fh.write(text)
