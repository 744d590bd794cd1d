"""HDF5 files opened and closed the way a spike store needs: a SWMR writer opened in
one step, a file abandoned after a failed write without HDF5 writing again, and the
cause of an HDF5 error as one line."""
from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import h5py

CACHE_BYTES = 4 * 1024 ** 2  # HDF5 chunk cache per dataset: a few decompressed chunks
# HDF5 >= 1.12.1 can open a file without its flock: readers never block the writer, and
# the writer locks the file itself (dendrinet.store.writer, with dendrinet.storage.locks)
NO_HDF5_LOCK = {"locking": False} if h5py.version.hdf5_version_tuple >= (1, 12, 1) else {}
_HDF5_ERRNO = re.compile(r"errno = (\d+)")


def error_cause(err: BaseException) -> str:
    """One line naming the cause of an OS or HDF5 error, with its errno name."""
    number = getattr(err, "errno", None)
    text = getattr(err, "strerror", None) or str(err)
    if not isinstance(number, int):
        found = _HDF5_ERRNO.search(str(err))
        number = int(found.group(1)) if found else None
        if number is not None:
            text = os.strerror(number)
        else:
            text = str(err).split("\n")[0]
    name = errno.errorcode.get(number) if isinstance(number, int) else None
    return f"{text} [{name}]" if name else text


def abandon(file: h5py.File, held: dict | None = None) -> None:
    """Close an HDF5 file after a failed write without writing anything more to it.

    After a failed write HDF5 still holds the unwritten data; closing the file (or the
    last handle of a dataset) tries again, fails, and leaves objects half-closed that
    crash the process at exit. So the file descriptor is pointed at /dev/null first:
    the closes then succeed and the file on disk keeps what was flushed before (with
    its SWMR status flags set). ``held``: dataset handles to drop only after that."""
    try:
        fd = file.id.get_vfd_handle()
        null = os.open(os.devnull, os.O_RDWR)
        try:
            os.dup2(null, fd)
        finally:
            os.close(null)
    except (OSError, RuntimeError, ValueError, TypeError):  # not the sec2 driver:
        _ABANDONED.append((file, dict(held or {})))  # keep it open until the process ends
        return
    if held:
        held.clear()
    try:
        file.close()
    except (OSError, RuntimeError):
        _ABANDONED.append((file, None))


_ABANDONED: list = []


def open_swmr_writer(path: Path) -> h5py.File:
    """Open an HDF5 file for SWMR writing in one step (``r+`` and then
    ``swmr_mode = True`` would mark the file as opened for non-SWMR writing in between,
    which readers cannot open)."""
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_LATEST, h5py.h5f.LIBVER_LATEST)
    cache = list(fapl.get_cache())
    cache[2] = CACHE_BYTES
    fapl.set_cache(*cache)
    if NO_HDF5_LOCK:
        fapl.set_file_locking(False, True)
    fid = h5py.h5f.open(os.fsencode(path), h5py.h5f.ACC_RDWR | h5py.h5f.ACC_SWMR_WRITE,
                        fapl=fapl)
    return h5py.File(fid)
