"""HDF5 spike store (SONATA-style layout), written while simulating, read lazily.

Layout of a store (all times in ms since the start of the run)::

    /                          attrs: format="dendrinet-spikes", format_version=1,
                                      t_stop (run duration so far), dt (time step)
    /spikes/<population>/      attrs: sorting="by_time", n_nodes
        timestamps             float64, attr units="ms", non-decreasing
        node_ids               int64, in [0, n_nodes)
    /presentations/            one row per presentation phase (1-D columns)
        example_id, label      int64 (label -1 when there is none)
        phase                  enum int8: forward=0, target=1, test=2
        t_start, t_stop        float64 ms
    /metadata                  attrs: one JSON string per key (model, protocol,
                               seed, versions of the libraries, ...)

Every dataset is chunked, compressed (gzip 4 + shuffle) and resizable, so spikes are
appended batch by batch and memory stays bounded.

A store is data from anyone, and a reader trusts none of it: opening a store checks the
layout above (attributes, groups, column types and shapes; ``n_nodes`` from 1 to
:data:`MAX_NODES`, 10^8), and every read checks the values it returns (times finite and
>= 0, spikes sorted, node ids in range, phases known). Whatever is wrong is one
:class:`~dendrinet.errors.StoreError` naming the file and the problem. Nothing is
allocated by a declared size alone: :meth:`SpikeStore.to_neo` builds at most
:data:`MAX_NEO_TRAINS` trains per call.

What a store on disk promises (crash safety)
--------------------------------------------
* **A killed writer keeps what it flushed.** While a writer has the file open it is in
  SWMR mode (HDF5 single-writer/multiple-reader): HDF5 orders its writes so that the file
  on disk is consistent at every instant, and a writer killed at any moment (SIGKILL,
  the OOM killer, a crash) leaves a file that opens with mode ``'r'`` and holds every
  spike and presentation appended before its last flush. ``append_*`` flush by default;
  with ``flush=False`` the store flushes by itself (see :class:`SpikeStore`).
* **Structure changes cannot destroy the file.** SWMR covers appends only, so
  :meth:`SpikeStore.add_population`, :meth:`SpikeStore.set_metadata` (and
  :meth:`SpikeStore.set_dt` on a store without ``dt``) change a copy of the file and
  rename it over the store (atomic): a writer killed meanwhile leaves the old file or the
  new one, both whole. The price is a copy of the file: make them before appending.
* **Readers never disturb the writer.** Readers open the file in SWMR read mode and take
  no file lock, so a writer is never refused or failed because of them, and a growing
  file is never reported corrupt. A reader holding the store across a structure change
  keeps seeing the file as it was (reopen it to see the change).
* **A dead writer's store can be appended to again** after :meth:`SpikeStore.recover`
  (what ``h5clear -s`` does, plus setting the end-of-file address; mode ``'a'`` refuses
  such a store and names this call). It is readable without it.
* **OS failures are one StoreError.** A full disk (ENOSPC, EDQUOT), a file size limit
  (``ulimit -f``, EFBIG), a read-only file system, a missing permission, a path under a
  regular file: one :class:`~dendrinet.errors.StoreError` naming the file and the cause.
  HDF5 cannot survive a failed write (closing the file afterwards crashes the process),
  so the store makes room for each write before HDF5 makes it (it checks the file size
  limit and allocates the blocks with ``posix_fallocate``, a few MiB ahead of the data
  while writing, given back at close), and should a write fail all the same it stops
  touching the file and closes it without writing: the file keeps what was flushed
  before. Either way the store is then closed; later calls raise the same error.
* Not covered: power loss or a kernel crash (appends are not fsync'ed), and two writers
  at once (refused: a writer holds a lock on the file, which readers ignore). A writer
  killed while creating a store or changing its structure may leave a hidden
  ``.<name>.<random>.tmp`` beside it (:meth:`SpikeStore.recover` deletes those).

SWMR's price: file space freed when the partly filled last chunk is rewritten is never
reused, so many tiny flushed batches bloat the file (see ``append_spikes``).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import glob
import json
import os
import re
import secrets
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple, NoReturn

import h5py
import numpy as np

from dendrinet.errors import StoreError
from dendrinet.provenance import library_versions
from dendrinet.schedule import PHASE_NAMES as PHASES

try:  # POSIX only: the writer's lock and the file size limit
    import fcntl
    import resource
except ImportError:  # pragma: no cover - Windows
    fcntl = resource = None

FORMAT = "dendrinet-spikes"
FORMAT_VERSION = 1
#: Rows per HDF5 chunk of the spike datasets (128 KiB of float64): small enough that
#: rewriting the partly filled last chunk at each flush stays cheap. A writer never
#: holds this many unflushed spikes of one population (see :class:`SpikeStore`).
CHUNK_ROWS = 16384
#: Seconds after which data appended with ``flush=False`` is flushed by the store itself.
FLUSH_SECONDS = 1.0
#: Most neurons a population may declare (``n_nodes``): readers size per-neuron arrays
#: by it (8 bytes a neuron: 800 MB at this bound), so a store cannot ask for more.
MAX_NODES = 10 ** 8
#: Most ``neo.SpikeTrain`` objects :meth:`SpikeStore.to_neo` builds in one call (each
#: costs about 4 KB and 0.1 ms): select neurons with ``node_ids`` beyond it.
MAX_NEO_TRAINS = 100_000
_PHASE_DTYPE = h5py.enum_dtype({name: code for code, name in enumerate(PHASES)}, basetype="i1")
_PRESENTATION_COLUMNS = {"example_id": np.int64, "label": np.int64, "phase": _PHASE_DTYPE,
                         "t_start": np.float64, "t_stop": np.float64}
_PRESENTATION_ROW_BYTES = 33
_CACHE_BYTES = 4 * 1024 ** 2  # HDF5 chunk cache per dataset: a few decompressed chunks
# Room made on disk before each write: the bytes it writes (x1.25: compression can
# expand random data a little, the partly filled last chunk is rewritten elsewhere) plus
# slack for HDF5's own metadata; taken in steps so posix_fallocate runs rarely.
_SLACK_BYTES = 512 * 1024
_SLACK_PER_DATASET = 64 * 1024
_RESERVE_STEP = 4 * 1024 ** 2
# HDF5 >= 1.12.1 can open a file without its flock: readers never block the writer, and
# the writer locks the file itself (see _try_lock)
_NO_HDF5_LOCK = {"locking": False} if h5py.version.hdf5_version_tuple >= (1, 12, 1) else {}
_OPEN_ATTEMPTS = 6  # a reader retries a file a writer is flushing: 10, 20, ... 160 ms
_WRITE_ACCESS, _SWMR_WRITE_ACCESS = 0x01, 0x04  # superblock status flags
_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# Linux open-file-description locks: unlike flock (HDF5's) they do not meet HDF5's own
# locks, and unlike POSIX record locks they survive the closing of other descriptors
_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", None) if (
    fcntl is not None and sys.platform.startswith("linux") and struct.calcsize("P") == 8) else None
_HDF5_ERRNO = re.compile(r"errno = (\d+)")
_NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _create_column(group: h5py.Group, name: str, dtype, chunk_rows: int) -> h5py.Dataset:
    return group.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype,
                                chunks=(chunk_rows,), compression="gzip",
                                compression_opts=4, shuffle=True)


def _append(dataset: h5py.Dataset, values: np.ndarray) -> None:
    n = dataset.shape[0]
    dataset.resize((n + len(values),))
    dataset[n:] = values


def _stored_rows(group: h5py.Group) -> int:
    # after a crash the two columns may differ by the rows of the unfinished batch
    return min(group["timestamps"].shape[0], group["node_ids"].shape[0])


def _bisect(dataset: h5py.Dataset, n: int, value: float, side: str) -> int:
    """``np.searchsorted(dataset[:n], value, side)`` reading about log2(n/chunk) chunks.

    Bisects on the first element of each HDF5 chunk, then searches the one chunk
    that holds the answer, so only whole chunks are decompressed, never the dataset.
    """
    step = dataset.chunks[0] if dataset.chunks else CHUNK_ROWS  # contiguous: any block
    before = (lambda x: x < value) if side == "left" else (lambda x: x <= value)
    lo, hi = 0, (n + step - 1) // step  # over chunk indices
    while lo < hi:
        mid = (lo + hi) // 2
        if before(dataset[mid * step]):
            lo = mid + 1
        else:
            hi = mid
    if lo == 0:
        return 0
    start = (lo - 1) * step
    block = dataset[start:min(start + step, n)]
    return start + int(np.searchsorted(block, value, side))


# ------------------------------------------------------- what a reader trusts
def _attr(obj, key: str):
    """An attribute's value, None when it is missing or unreadable."""
    try:
        return obj.attrs.get(key)
    except (OSError, RuntimeError, TypeError, ValueError):
        return None


def _as_int(value) -> int | None:
    """``value`` as an int when it is one integer (also a whole float), else None."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and value == int(value):
        return int(value)
    return None


def _shown(value) -> str:
    """An attribute's value for a message (numpy scalars as plain numbers)."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def _as_real(value) -> float | None:
    """``value`` as a float when it is one real number, else None."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                    np.floating)):
        return None
    return float(value)


def _column(group: h5py.Group, key: str, kinds: str, where: str) -> h5py.Dataset:
    """Dataset ``key`` of ``group``, checked to be 1-D of a dtype kind in ``kinds``."""
    try:
        dataset = group.get(key)
    except (OSError, RuntimeError, KeyError, ValueError):
        dataset = None
    if not isinstance(dataset, h5py.Dataset):
        raise StoreError(f"{where}: the dataset {group.name}/{key} is missing")
    if dataset.ndim != 1 or dataset.dtype.kind not in kinds:
        kind = "integers" if kinds == "iu" else "floating-point numbers"
        raise StoreError(f"{where}: the dataset {dataset.name} holds {dataset.dtype} of shape "
                         f"{dataset.shape}; a spike store keeps a 1-D column of {kind} there")
    return dataset


def check_layout(file: h5py.File, where: str) -> None:
    """Check the structure of an open spike store (see the module docstring): the root
    attributes ``t_stop`` and ``dt``, the groups, the presentation columns and, per
    population, ``n_nodes`` (``1 .. MAX_NODES``) and its ``timestamps``/``node_ids``
    columns. The values in the columns are checked as they are read.

    Raises
    ------
    StoreError
        Naming ``where`` (the file) and the first problem found.
    """
    t_stop = _as_real(_attr(file, "t_stop"))
    if t_stop is None or not np.isfinite(t_stop) or t_stop < 0:
        raise StoreError(f"{where}: the root attribute t_stop is {_shown(_attr(file, 't_stop'))}, "
                         "not a finite number of ms >= 0")
    dt = _attr(file, "dt")
    if dt is not None and not (_as_real(dt) is not None and np.isfinite(_as_real(dt))
                               and _as_real(dt) > 0):
        raise StoreError(f"{where}: the root attribute dt is {_shown(dt)}, not a positive number "
                         "of ms")
    groups = {}
    for key in ("spikes", "presentations", "metadata"):
        try:
            groups[key] = file.get(key)
        except (OSError, RuntimeError, KeyError, ValueError):
            groups[key] = None
        if not isinstance(groups[key], h5py.Group):
            raise StoreError(f"{where}: the group /{key} is missing (a damaged or hand-edited "
                             "spike store)")
    for key, dtype in _PRESENTATION_COLUMNS.items():
        kinds = "f" if np.dtype(dtype).kind == "f" else "iu"
        _column(groups["presentations"], key, kinds, where)
    for population in groups["spikes"]:
        group = groups["spikes"].get(population)
        if not isinstance(group, h5py.Group):
            raise StoreError(f"{where}: /spikes/{population} is not a population group")
        n_nodes = _as_int(_attr(group, "n_nodes"))
        if n_nodes is None or not 1 <= n_nodes <= MAX_NODES:
            raise StoreError(f"{where}: population {population!r} declares n_nodes = "
                             f"{_shown(_attr(group, 'n_nodes'))}; expected an integer in "
                             f"[1, {MAX_NODES}]")
        _column(group, "timestamps", "f", where)
        _column(group, "node_ids", "iu", where)


def _check_read(where: str, what: str, times=None, ids=None, n_nodes: int | None = None,
                low: int = 0) -> None:
    """Check column values as read from the file: times finite, >= 0 (and, for spikes,
    non-decreasing), ids in ``[low, n_nodes)``."""
    if times is not None and times.size:
        if not np.isfinite(times).all() or times.min() < 0:
            bad = times[~np.isfinite(times) | (times < 0)][0]
            raise StoreError(f"{where}: {what}: a time of {bad} ms (times must be finite and "
                             ">= 0: a damaged or hand-edited store)")
        if ids is not None and (np.diff(times) < 0).any():
            raise StoreError(f"{where}: {what}: the times are not sorted (a damaged or "
                             "hand-edited store)")
    if ids is not None and ids.size:
        high = np.inf if n_nodes is None else n_nodes
        if ids.min() < low or ids.max() >= high:
            bad = ids[(ids < low) | (ids >= high)][0]
            bound = f"[{low}, {n_nodes})" if n_nodes is not None else f">= {low}"
            raise StoreError(f"{where}: {what}: the value {bad} is outside {bound} (a damaged "
                             "or hand-edited store)")


# ------------------------------------------------------------ the file on disk
def _pread(fd: int, n: int, offset: int) -> bytes:
    if hasattr(os, "pread"):
        return os.pread(fd, n, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # pragma: no cover - Windows
    return os.read(fd, n)


def _pwrite(fd: int, data: bytes, offset: int) -> int:
    if hasattr(os, "pwrite"):
        return os.pwrite(fd, data, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # pragma: no cover - Windows
    return os.write(fd, data)


class _Superblock(NamedTuple):
    offset: int  # of the superblock in the file (0 unless there is a user block)
    version: int
    flags: int  # status flags: _WRITE_ACCESS, _SWMR_WRITE_ACCESS (version >= 2 only)
    end: int | None  # the end-of-file address HDF5 recorded (version >= 2, 8-byte offsets)
    head: bytes  # the superblock's bytes


def _read_superblock(fd: int) -> _Superblock | None:
    """The HDF5 superblock of an open file, or None when the file is not HDF5."""
    size = os.fstat(fd).st_size
    at = 0
    while at + 48 <= size:  # HDF5 looks at 0, 512, 1024, 2048, ...
        head = _pread(fd, 48, at)
        if head[:8] == _SIGNATURE:
            version = head[8]
            if version < 2 or head[9] != 8:  # flags and end address only from version 2
                return _Superblock(at, version, 0, None, head)
            end = struct.unpack_from("<Q", head, 28)[0]
            base = struct.unpack_from("<Q", head, 12)[0]
            return _Superblock(at, version, head[11], end if base == 0 else None, head)
        at = 512 if at == 0 else 2 * at
    return None


def _write_superblock(fd: int, block: _Superblock, flags: int, end: int | None) -> None:
    """Rewrite the status flags and end-of-file address of a version 2/3 superblock
    (with its checksum) in one write of its 48 bytes."""
    head = bytearray(block.head[:44])
    head[11] = flags
    if end is not None:
        struct.pack_into("<Q", head, 28, end)
    _pwrite(fd, bytes(head) + struct.pack("<I", _lookup3(bytes(head))), block.offset)


def _lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 ``hashlittle``, HDF5's metadata checksum."""
    mask = 0xFFFFFFFF

    def rot(x, k):
        return ((x << k) | (x >> (32 - k))) & mask

    length = len(data)
    a = b = c = (0xDEADBEEF + length + initval) & mask
    i = 0
    while length > 12:
        a = (a + int.from_bytes(data[i:i + 4], "little")) & mask
        b = (b + int.from_bytes(data[i + 4:i + 8], "little")) & mask
        c = (c + int.from_bytes(data[i + 8:i + 12], "little")) & mask
        a = (a - c) & mask; a ^= rot(c, 4); c = (c + b) & mask
        b = (b - a) & mask; b ^= rot(a, 6); a = (a + c) & mask
        c = (c - b) & mask; c ^= rot(b, 8); b = (b + a) & mask
        a = (a - c) & mask; a ^= rot(c, 16); c = (c + b) & mask
        b = (b - a) & mask; b ^= rot(a, 19); a = (a + c) & mask
        c = (c - b) & mask; c ^= rot(b, 4); b = (b + a) & mask
        length -= 12
        i += 12
    if length == 0:
        return c
    tail = data[i:] + bytes(12 - length)
    a = (a + int.from_bytes(tail[0:4], "little")) & mask
    b = (b + int.from_bytes(tail[4:8], "little")) & mask
    c = (c + int.from_bytes(tail[8:12], "little")) & mask
    c ^= b; c = (c - rot(b, 14)) & mask
    a ^= c; a = (a - rot(c, 11)) & mask
    b ^= a; b = (b - rot(a, 25)) & mask
    c ^= b; c = (c - rot(b, 16)) & mask
    a ^= c; a = (a - rot(c, 4)) & mask
    b ^= a; b = (b - rot(a, 14)) & mask
    c ^= b; c = (c - rot(b, 24)) & mask
    return c


def _superblock_of(path: Path) -> tuple[_Superblock, int] | None:
    """The superblock of a file and the file's size; None if it is not HDF5."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        block = _read_superblock(fd)
        size = os.fstat(fd).st_size
    except OSError:
        return None
    finally:
        os.close(fd)
    return None if block is None else (block, size)


def _try_lock(fd: int) -> bool:
    """Take the writer's lock on an open file (False: another open file holds it).

    An exclusive open-file-description lock on Linux, else flock. HDF5's own lock is
    not used (readers would block the writer, and SWMR writers release it)."""
    if fcntl is None:  # pragma: no cover - Windows
        return True
    try:
        if _OFD_SETLK is not None:
            fcntl.fcntl(fd, _OFD_SETLK, struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0))
        else:  # pragma: no cover - not Linux
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as err:
        # False: held elsewhere; True: a file system without locks, nothing to check
        return err.errno not in (errno.EACCES, errno.EAGAIN, errno.EWOULDBLOCK)


def _hdf5_locked(fd: int) -> bool:
    """Whether another program holds HDF5's flock on the file (a reader or writer that
    is not a dendrinet store)."""
    if fcntl is None:  # pragma: no cover
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        return err.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES)
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def _file_size_limit() -> int | None:
    """The soft file size limit (``ulimit -f``) in bytes, None when unlimited."""
    if resource is None:  # pragma: no cover
        return None
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return None if soft == resource.RLIM_INFINITY else int(soft)


def _reserve(fd: int, end: int, step: int = 0) -> int:
    """Make sure the file of ``fd`` has room up to ``end`` bytes before HDF5 writes there:
    check the file size limit, then allocate the missing blocks (``posix_fallocate``,
    up to ``step`` bytes more when there is room). Returns the end now reserved.

    Raises OSError (EFBIG, ENOSPC, EDQUOT, ...) when there is not enough room."""
    limit = _file_size_limit()
    if limit is not None and end > limit:
        raise OSError(errno.EFBIG, f"{os.strerror(errno.EFBIG)}: the file would grow to "
                      f"{end} bytes, over the file size limit (ulimit -f) of {limit} bytes")
    size = os.fstat(fd).st_size
    if end <= size:
        return size
    ahead = end + step if limit is None else min(end + step, limit)
    try:
        if not hasattr(os, "posix_fallocate"):  # pragma: no cover - macOS, Windows
            raise OSError(errno.EOPNOTSUPP, "no posix_fallocate")
        os.posix_fallocate(fd, size, ahead - size)
        return ahead
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT) and ahead > end:
            os.posix_fallocate(fd, size, end - size)  # exactly what is needed
            return end
        if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS, errno.ENODEV):
            raise
    if not hasattr(os, "fstatvfs"):  # pragma: no cover - Windows
        return size
    stat = os.fstatvfs(fd)  # no fallocate on this file system: look at the free space
    if stat.f_bavail * stat.f_frsize < end - size:
        raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)}: {end - size} bytes "
                      f"needed, {stat.f_bavail * stat.f_frsize} free")
    return size


def _cause(err: BaseException) -> str:
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


def _abandon(file: h5py.File, held: dict | None = None) -> None:
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


def _open_swmr_writer(path: Path) -> h5py.File:
    """Open an HDF5 file for SWMR writing in one step (``r+`` and then
    ``swmr_mode = True`` would mark the file as opened for non-SWMR writing in between,
    which readers cannot open)."""
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_LATEST, h5py.h5f.LIBVER_LATEST)
    cache = list(fapl.get_cache())
    cache[2] = _CACHE_BYTES
    fapl.set_cache(*cache)
    if _NO_HDF5_LOCK:
        fapl.set_file_locking(False, True)
    fid = h5py.h5f.open(os.fsencode(path), h5py.h5f.ACC_RDWR | h5py.h5f.ACC_SWMR_WRITE,
                        fapl=fapl)
    return h5py.File(fid)


def _new_temporary(path: Path) -> tuple[Path, int]:
    """Create ``.<name>.<random>.tmp`` next to ``path`` (permissions as for any new file)."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                         0o666)
        except FileExistsError:
            continue
        return tmp, fd
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path))


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _last_data_byte(fd: int, start: int, stop: int) -> int:
    """Offset just after the last non-zero byte of ``[start, stop)``, or ``start``."""
    block = 1024 ** 2
    while stop > start:
        lo = max(start, stop - block)
        data = np.frombuffer(_pread(fd, stop - lo, lo), dtype=np.uint8)
        nonzero = np.flatnonzero(data)
        if len(nonzero):
            return lo + int(nonzero[-1]) + 1
        stop = lo
    return start


def _trim_columns(file: h5py.File) -> dict[str, int]:
    """Cut the columns of each population (and of the presentations) to their common
    length: after a crash they may differ by the rows of the unfinished batch."""
    trimmed = {}
    groups = [file["spikes"][name] for name in file["spikes"]] + [file["presentations"]]
    for group in groups:
        n = min(group[name].shape[0] for name in group)
        extra = sum(group[name].shape[0] - n for name in group)
        if extra:
            for name in group:
                group[name].resize((n,))
            trimmed[group.name] = extra
    return trimmed


def _copy_hdf5(source: int, target: int) -> int:
    """Copy a closed HDF5 file up to its end of file (not the room reserved beyond it)
    into an empty file; returns the bytes copied."""
    block = _read_superblock(source)
    size = os.fstat(source).st_size
    if block is not None and block.end is not None:
        size = min(size, block.end)
    done = 0
    while done < size:
        try:
            step = os.copy_file_range(source, target, size - done, done, done)
        except (AttributeError, OSError):  # not Linux, or across file systems
            step = _pwrite(target, _pread(source, min(size - done, 1 << 24), done), done)
        if step <= 0:
            raise OSError(errno.EIO, f"copy stopped at byte {done} of {size}")
        done += step
    return size


def _unequal_columns(file: h5py.File) -> bool:
    groups = [file["spikes"][name] for name in file["spikes"]] + [file["presentations"]]
    return any(len({group[name].shape[0] for name in group}) > 1 for group in groups)


def _trim_tail(fd: int) -> None:
    """Cut a file closed cleanly back to HDF5's end of file: the room reserved beyond it
    (``_reserve``) is not HDF5's, which leaves it there."""
    block = _read_superblock(fd)
    if block is not None and block.end is not None and block.flags == 0 \
            and os.fstat(fd).st_size > block.end:
        os.ftruncate(fd, block.end)


def _locked(method):
    """Run a method under the store's lock (the flush timer thread takes it too)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)
    return wrapper


class SpikeStore:
    """A spike store on disk; see the module docstring for the layout and its promises.

    Parameters
    ----------
    path : str or Path
        The HDF5 file.
    mode : {"r", "w", "a"}
        ``"r"`` read only; ``"w"`` create (replace an existing file); ``"a"`` append
        to an existing store, or create it.
    dt : float, optional
        Simulation time step (ms), recorded as the root attribute ``dt`` when the
        store is created.

    Notes
    -----
    **What a killed writer keeps.** ``append_spikes`` and ``append_presentations``
    flush by default: when they return, their rows are on disk and survive the writer
    being killed at any later moment. With ``flush=False`` the spikes are held in
    memory and written a chunk at a time, and the store flushes by itself, unasked,

    * every ``CHUNK_ROWS`` (16384) spikes of a population: once that many have
      gathered, the whole chunks among them are written and flushed; and
    * ``FLUSH_SECONDS`` (1 s) after the oldest append not yet flushed, by the next
      call or, when none comes, by a timer thread (which needs the interpreter: a long
      call into compiled code that holds the GIL delays it until the call returns).

    So a writer killed at any moment loses at most the spikes appended in the last
    second, and never ``CHUNK_ROWS`` or more spikes of a population; everything up to
    its last flush (explicit, automatic, ``set_t_stop`` or ``close``) stays readable.
    Opening a killed writer's store for appending needs :meth:`recover` first.

    A writer holds a lock on its file: a second writer (mode ``"a"`` or ``"w"``) is
    refused while the first is alive. Readers take no lock.

    Raises
    ------
    StoreError
        Missing, truncated, corrupt or foreign file, a bad mode, a store another
        process is writing, a store whose writer died (mode ``"a"``, see
        :meth:`recover`), or an OS error (full disk, read-only or missing folder, ...).
    """

    def __init__(self, path, mode: str = "r", *, dt: float | None = None):
        if mode not in ("r", "w", "a"):
            raise StoreError(f"mode must be 'r', 'w' or 'a', got {mode!r}")
        self.path = Path(path)
        self.mode = mode
        # the file itself: temporary copies are renamed over it, not over a symlink
        self._target = Path(os.path.realpath(self.path))
        self._file: h5py.File | None = None
        self._fd: int | None = None  # writer: our descriptor of the file, holding its lock
        self._lock = threading.RLock()
        self._failure: str | None = None  # why a failed write closed the store
        self._failure_unreported = False  # met by the timer thread: close() raises it
        self._flags = 0  # reader: superblock status flags (a writer has it open, or died)
        # spikes appended with flush=False, written once a chunk's worth has gathered
        self._pending: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        self._pending_rows: dict[str, int] = {}
        self._n_nodes: dict[str, int] = {}  # cache: attribute reads cost ~0.1 ms
        self._columns: dict[str, tuple[h5py.Dataset, ...]] = {}  # writer: held open
        self._dirty_since: float | None = None  # time of the oldest unflushed append
        self._unflushed_bytes = 0  # written to HDF5 since the last flush
        self._unflushed_presentations = 0
        self._hdf5_dirty = False  # HDF5 holds writes not flushed yet
        self._timer: threading.Timer | None = None
        self._generation = 0  # flushes so far: a timer set before the last one is stale
        self._reserved = 0  # the file has room (allocated blocks) up to this size
        dt = None if dt is None else _check_dt(dt)
        unequal = False
        if mode == "w" or (mode == "a" and not self.path.exists()):
            self._create(dt)
        else:
            if not self.path.exists():
                raise StoreError(f"spike store {str(self.path)!r} does not exist")
            if self.path.is_dir():
                raise StoreError(f"spike store {str(self.path)!r} is a directory, not a file")
            if mode == "r":
                self._file = self._open_reader()
                try:
                    self._check_format(self._file)
                except StoreError:
                    self._file.close()
                    self._file = None
                    raise
            else:
                unequal = self._open_writer()
        try:
            self._t_stop = self._t_stop_written = float(self._file.attrs["t_stop"])
            if unequal:  # cut the batch a killed writer left unfinished
                self._restructure(_trim_columns)
            if mode == "a":
                # a recovered store may end with events after its recorded t_stop
                self._t_stop = max(self._t_stop, self._latest_event())
                if dt is not None:
                    self.set_dt(dt)
        except BaseException:
            if self._file is not None:
                self._columns.clear()
                self._file.close()
                self._file = None
            self._discard()
            raise

    def _discard(self) -> None:
        """Drop the writer's lock and timer (the HDF5 file is closed already)."""
        self._cancel_timer()
        if self._fd is not None:
            os.close(self._fd)  # releases the writer's lock
            self._fd = None

    # ---------------------------------------------------------------- opening
    def _h5(self, h5mode: str, **kwargs) -> h5py.File:
        return h5py.File(self.path, h5mode, libver="latest", rdcc_nbytes=_CACHE_BYTES,
                         **_NO_HDF5_LOCK, **kwargs)

    def _open_reader(self) -> h5py.File:
        """Open for reading, in SWMR mode: it reads a file a writer is appending to (or
        that a killed writer left), retrying checksums the writer is rewriting, and
        without HDF5's end-of-file check, which a growing file fails while the writer
        has reserved space it has not written yet. A file closed cleanly gets that check
        here (a truncated copy would otherwise open)."""
        name = str(self.path)
        error: OSError | None = None
        for attempt in range(_OPEN_ATTEMPTS):
            found = _superblock_of(self.path)
            if found is None:
                break
            block, size = found
            if block.flags & _WRITE_ACCESS and not block.flags & _SWMR_WRITE_ACCESS:
                raise StoreError(f"spike store {name!r} is open for writing by a program that "
                                 "does not use SWMR, or its writer died without closing it; "
                                 f"if nothing writes it, SpikeStore.recover({name!r}) makes it "
                                 "readable")
            if not block.flags and block.end is not None and size < block.end:
                break  # closed cleanly, then cut short
            try:
                file = self._h5("r", swmr=True)
                self._flags = block.flags
                return file
            except OSError as err:
                error = err
            if not block.flags & _SWMR_WRITE_ACCESS:
                break
            time.sleep(0.01 * 2 ** attempt)  # the writer is flushing: try again
        if "unable to lock file" in str(error):
            raise StoreError(f"spike store {name!r} is locked: another program has it open "
                             "for writing")
        raise StoreError(f"{name!r} is not a readable HDF5 file (truncated or corrupt)")

    def _open_writer(self) -> bool:
        """Open an existing store for appending: take the writer's lock, refuse a store
        whose writer is alive or died, then open it in SWMR mode. Returns whether
        columns differ in length (the rows of a batch a killed writer left)."""
        name = str(self.path)
        try:
            fd = os.open(self.path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
        except OSError as err:
            raise StoreError(f"cannot open spike store {name!r} for writing: "
                             f"{_cause(err)}") from None
        try:
            if not _try_lock(fd):
                raise StoreError(f"spike store {name!r} is open for writing by another "
                                 "process (one writer at a time); open it with mode='r' "
                                 "to read it meanwhile")
            block = _read_superblock(fd)
            if block is None:
                raise StoreError(f"{name!r} is not a readable HDF5 file (truncated or corrupt)")
            if block.flags & (_WRITE_ACCESS | _SWMR_WRITE_ACCESS):
                if _hdf5_locked(fd):
                    raise StoreError(f"spike store {name!r} is open for writing by another "
                                     "program")
                raise StoreError(f"spike store {name!r} is still marked open for writing: its "
                                 "writer died without closing it. Call "
                                 f"SpikeStore.recover({name!r}) to append to it again (mode='r' "
                                 "reads what was flushed without it)")
            probe = self._open_reader()  # the same errors as a reader, and the format
            try:
                self._check_format(probe)
                unequal = _unequal_columns(probe)
            finally:
                probe.close()
            self._file = _open_swmr_writer(self._target)
        except StoreError:
            os.close(fd)
            raise
        except (OSError, RuntimeError) as err:
            os.close(fd)
            raise StoreError(f"cannot open spike store {name!r} for writing: "
                             f"{_cause(err)}") from None
        self._fd = fd
        return unequal

    def _create(self, dt) -> None:
        """Create the store in a temporary file and rename it over ``path``: a killed
        writer leaves no half-made store (and the old file, when there was one)."""
        name = str(self.path)
        if self.path.is_dir():
            raise StoreError(f"cannot create spike store {name!r}: it is a directory")
        if self.path.is_file():  # replaced only if it could be written, and not in use
            try:
                old = os.open(self.path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
            except OSError as err:
                raise StoreError(f"cannot create spike store {name!r}: {_cause(err)}") from None
            try:
                busy = not _try_lock(old)
            finally:
                os.close(old)
            if busy:
                raise StoreError(f"spike store {name!r} is open for writing by another "
                                 "process; it cannot be replaced meanwhile")
        try:
            tmp, fd = _new_temporary(self._target)
        except OSError as err:
            raise StoreError(f"cannot create spike store {name!r}: {_cause(err)}") from None
        try:
            _try_lock(fd)
            file = h5py.File(tmp, "w", libver="latest", **_NO_HDF5_LOCK)
            try:
                _reserve(fd, 1024 ** 2)  # room for the empty store (HDF5 writes it at close)
                self._initialise(file, dt)
            except BaseException:
                _abandon(file)
                raise
            file.close()
            os.fsync(fd)
            os.replace(tmp, self._target)
            self._file = _open_swmr_writer(self._target)
        except BaseException as err:
            os.close(fd)
            _remove(tmp)
            if isinstance(err, (OSError, RuntimeError)):
                raise StoreError(f"cannot create spike store {name!r}: {_cause(err)}") from None
            raise
        self._fd = fd

    def _check_format(self, file: h5py.File) -> None:
        """Check what the reader relies on before it reads anything: the format, the
        root attributes, the groups and, per population, ``n_nodes`` and the two
        columns (types and shapes; their values are checked as they are read). A
        hand-edited or foreign file is one StoreError naming the path and the problem."""
        name = str(self.path)
        fmt = _attr(file, "format")
        if isinstance(fmt, bytes):
            fmt = fmt.decode(errors="replace")
        if not isinstance(fmt, str) or fmt != FORMAT:
            raise StoreError(f"{name!r} is an HDF5 file but not a dendrinet spike store")
        version = _attr(file, "format_version")
        if _as_int(version) is None:
            raise StoreError(f"{name!r}: the root attribute format_version is "
                             f"{_shown(version)}, not an integer (a damaged or hand-edited "
                             "spike store)")
        if _as_int(version) != FORMAT_VERSION:
            raise StoreError(f"{name!r} has spike store format_version {_as_int(version)}; "
                             f"this dendrinet reads version {FORMAT_VERSION}")
        check_layout(file, repr(name))

    @staticmethod
    def _initialise(file: h5py.File, dt) -> None:
        file.attrs.update(format=FORMAT, format_version=FORMAT_VERSION, t_stop=0.0)
        if dt is not None:
            file.attrs["dt"] = dt
        file.create_group("spikes")
        presentations = file.create_group("presentations")
        for name, dtype in _PRESENTATION_COLUMNS.items():
            _create_column(presentations, name, dtype, chunk_rows=4096)
        file.create_group("metadata").attrs.update(
            _encode_metadata({"versions": library_versions()}))

    def _restructure(self, change: Callable[[h5py.File], object], nbytes: int = 0) -> None:
        """Make a structure change (groups, attributes: what SWMR does not cover) on a
        copy of the file, then rename the copy over the store: a writer killed at any
        moment leaves the old file or the new one, both closed cleanly. Readers that
        hold the old file keep reading it."""
        name = str(self.path)
        self._flush_locked()
        self._close_file(trim=False)
        try:
            tmp, fd = _new_temporary(self._target)
        except OSError as err:
            self._reopen()
            raise StoreError(f"cannot change spike store {name!r} (it is unchanged): "
                             f"{_cause(err)}") from None
        try:
            _try_lock(fd)
            os.chmod(tmp, os.fstat(self._fd).st_mode & 0o7777)  # keep the permissions
            size = _copy_hdf5(self._fd, fd)
            # room for the change (HDF5 leaves what it does not use, and cuts it off
            # when the writer closes the file)
            _reserve(fd, size + 2 * nbytes + 256 * 1024)
            file = h5py.File(tmp, "r+", libver="latest", **_NO_HDF5_LOCK)
            try:
                change(file)
            except BaseException:
                _abandon(file)
                raise
            file.close()
            os.fsync(fd)
            os.replace(tmp, self._target)
        except BaseException as err:
            os.close(fd)
            _remove(tmp)
            self._reopen()
            if isinstance(err, (OSError, RuntimeError)):
                raise StoreError(f"cannot change spike store {name!r} (it is unchanged): "
                                 f"{_cause(err)}") from None
            raise
        os.close(self._fd)  # the old file's lock: the new file is locked by fd
        self._fd = fd
        self._reopen()

    def _reopen(self) -> None:
        try:
            self._file = _open_swmr_writer(self._target)
        except (OSError, RuntimeError) as err:
            os.close(self._fd)
            self._fd = None
            self._failure = (f"spike store {str(self.path)!r} could not be reopened after a "
                             f"structure change: {_cause(err)}")
            raise StoreError(self._failure) from None

    def _close_file(self, trim: bool = True) -> None:
        """Close the writer's HDF5 file (flushed before), then give back the room
        reserved beyond HDF5's end of file."""
        file, self._file = self._file, None
        self._columns.clear()
        file.close()
        if trim:
            _trim_tail(self._fd)
        self._reserved = 0

    # ----------------------------------------------------------- housekeeping
    @property
    def _live(self) -> h5py.File:
        if self._file is None:
            if self._failure is not None:
                self._failure_unreported = False
                raise StoreError(self._failure)
            raise StoreError(f"spike store {str(self.path)!r} is closed")
        return self._file

    def _writable(self) -> h5py.File:
        if self.mode == "r":
            raise StoreError(f"spike store {str(self.path)!r} is open read-only (mode='r'); "
                             "open it with mode='a' to write")
        return self._live

    @_locked
    def close(self) -> None:
        """Flush and close the file (idempotent). After a failed write the store is
        closed already, and this does nothing, unless the failure happened in the
        flush timer thread and no call has raised it yet: then it raises it."""
        self._cancel_timer()
        if self._failure_unreported:
            self._failure_unreported = False
            raise StoreError(self._failure)
        if self._file is not None:
            if self.mode == "r":
                self._file.close()
                self._file = None
            else:
                self._flush_locked()
                self._close_file()
        self._discard()

    def __enter__(self) -> SpikeStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._file is None else f"mode={self.mode!r}"
        return f"SpikeStore({str(self.path)!r}, {state})"

    @_locked
    def flush(self) -> None:
        """Write everything appended so far to disk (HDF5 flush)."""
        file = self._live
        if self.mode != "r":
            self._flush_locked()
        else:
            file.flush()

    def _flush_locked(self) -> None:
        self._write_pending()
        file = self._live

        def write():
            if self._t_stop != self._t_stop_written:
                file.attrs.modify("t_stop", self._t_stop)  # in place: SWMR allows it
            file.flush()

        if self._hdf5_dirty or self._t_stop != self._t_stop_written:
            self._guarded(0, write)  # (nothing to write: no room needed, e.g. disk full)
        self._t_stop_written = self._t_stop
        self._unflushed_bytes = self._unflushed_presentations = 0
        self._hdf5_dirty = False
        self._dirty_since = None
        self._generation += 1
        self._cancel_timer()

    def _guarded(self, nbytes: int, write: Callable[[], None]) -> None:
        """Run ``write`` (HDF5 writes of about ``nbytes``) once the file has room for
        it; any OS or HDF5 failure closes the store (:meth:`_fail`)."""
        file = self._live
        try:
            need = (file.id.get_filesize() + _SLACK_BYTES
                    + _SLACK_PER_DATASET * (2 * len(self._n_nodes) + 8)
                    + int(1.25 * (nbytes + self._unflushed_bytes)))
            limit = _file_size_limit()
            if need > self._reserved or (limit is not None and need > limit):
                self._reserved = _reserve(self._fd, need, _RESERVE_STEP)
        except OSError as err:
            self._fail(err, hdf5_failed=False)
        self._hdf5_dirty = True
        try:
            write()
        except (OSError, RuntimeError) as err:
            self._fail(err, hdf5_failed=True)

    def _fail(self, err: BaseException, hdf5_failed: bool) -> NoReturn:
        """Close the store after a failed write, without letting HDF5 write again unless
        nothing is left to write, and raise one StoreError naming the file and the cause."""
        name = str(self.path)
        file, self._file = self._file, None
        self._cancel_timer()
        clean = not hdf5_failed and not self._hdf5_dirty
        if file is not None:
            if clean:  # HDF5 has nothing to write but its superblock: a clean close
                self._columns.clear()
                with contextlib.suppress(OSError, RuntimeError):  # keep the first error
                    file.close()
                    _trim_tail(self._fd)
            else:
                _abandon(file, self._columns)
        self._columns = {}
        self._discard()
        if clean:
            after = "reopen it with mode='a' once there is room to append again"
        else:
            after = (f"read it with mode='r'; once there is room, SpikeStore.recover({name!r}) "
                     "makes it appendable again")
        self._failure = (f"spike store {name!r}: cannot write: {_cause(err)}. The store is "
                         "closed; the file keeps everything flushed before the failure "
                         f"({after})")
        raise StoreError(self._failure) from None

    def _note_unflushed(self) -> None:
        if self._dirty_since is None:
            self._dirty_since = time.monotonic()

    def _flush_if_due(self) -> None:
        """Flush data appended FLUSH_SECONDS ago or more; else make sure the timer will."""
        if self._dirty_since is None:
            return
        if time.monotonic() - self._dirty_since >= FLUSH_SECONDS:
            self._flush_locked()
        elif self._timer is None:
            delay = max(0.0, self._dirty_since + FLUSH_SECONDS - time.monotonic())
            self._timer = threading.Timer(delay, self._timed_flush, args=(self._generation,))
            self._timer.daemon = True
            self._timer.start()

    def _timed_flush(self, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return  # flushed meanwhile; a later timer covers what came since
            self._timer = None
            if self._file is None or self._dirty_since is None:
                return
            try:
                self._flush_locked()
            except StoreError:  # the store is closed; its next call raises the failure
                self._failure_unreported = True

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _write_pending(self, population: str | None = None, whole_chunks: bool = False) -> None:
        """Write the spikes held in memory (or, with ``whole_chunks``, those that fill
        whole chunks: a flushed chunk is then never rewritten)."""
        for name in list(self._pending) if population is None else [population]:
            batches = self._pending.get(name)
            if not batches:
                continue
            times = np.concatenate([t for t, _ in batches]) if len(batches) > 1 else batches[0][0]
            ids = np.concatenate([i for _, i in batches]) if len(batches) > 1 else batches[0][1]
            rest = None
            if whole_chunks:
                n = self._spike_columns(name)[0].shape[0]
                k = (n + len(times)) // CHUNK_ROWS * CHUNK_ROWS - n
                if k <= 0:
                    continue
                times, ids, rest = times[:k], ids[:k], (times[k:], ids[k:])
            self._write_spikes(name, times, ids)
            if rest is not None and len(rest[0]):
                self._pending[name] = [rest]
                self._pending_rows[name] = len(rest[0])
            else:
                del self._pending[name]
                self._pending_rows.pop(name, None)

    def _spike_columns(self, name: str) -> tuple[h5py.Dataset, ...]:
        # held open: closing the last handle of a dataset writes its chunk cache, where
        # a failure could not be caught (h5py ignores errors in __dealloc__)
        columns = self._columns.get(name)
        if columns is None:
            group = self._population(name)
            columns = self._columns[name] = (group["timestamps"], group["node_ids"])
        return columns

    def _write_spikes(self, name: str, times: np.ndarray, ids: np.ndarray) -> None:
        timestamps, node_ids = self._spike_columns(name)

        def write():
            n = min(timestamps.shape[0], node_ids.shape[0])
            # ids first: after a crash, readers take the shorter column
            node_ids.resize((n + len(ids),))
            node_ids[n:] = ids
            timestamps.resize((n + len(times),))
            timestamps[n:] = times

        self._guarded(16 * len(times), write)
        self._unflushed_bytes += 16 * len(times)

    # ------------------------------------------------------------- populations
    @property
    def populations(self) -> list[str]:
        """Names of the stored populations, sorted."""
        return sorted(self._live["spikes"])

    def _population(self, name: str) -> h5py.Group:
        spikes = self._live["spikes"]
        if not isinstance(name, str) or name not in spikes:
            raise StoreError(f"{str(self.path)!r} has no population {name!r}; "
                             f"available: {sorted(spikes)}")
        return spikes[name]

    def n_nodes(self, population: str) -> int:
        """Number of neurons (node ids ``0 .. n_nodes-1``) of a population."""
        if population not in self._n_nodes:  # valid: checked at open or by add_population
            self._n_nodes[population] = int(self._population(population).attrs["n_nodes"])
        return self._n_nodes[population]

    @_locked
    def n_spikes(self, population: str) -> int:
        """Number of stored spikes of a population."""
        group = self._population(population)
        self._write_pending(population)
        return _stored_rows(group)

    @_locked
    def add_population(self, name: str, n_nodes: int) -> None:
        """Create an empty population of ``n_nodes`` neurons (1 to :data:`MAX_NODES`).

        A structure change: it copies the file (see the module docstring), so add the
        populations before appending spikes."""
        self._writable()
        if not isinstance(name, str) or not name or "/" in name:
            raise StoreError("population name must be a non-empty string without '/', "
                             f"got {name!r}")
        if name in self._live["spikes"]:
            raise StoreError(f"{str(self.path)!r} already has a population {name!r}")
        if isinstance(n_nodes, bool) or not isinstance(n_nodes, (int, np.integer)) or n_nodes <= 0:
            raise StoreError(f"n_nodes of {name!r} must be a positive integer, got {n_nodes!r}")
        if n_nodes > MAX_NODES:
            raise StoreError(f"n_nodes of {name!r} is {n_nodes}, over the limit of {MAX_NODES} "
                             "neurons per population (readers size per-neuron arrays by it)")

        def change(file):
            group = file["spikes"].create_group(name)
            group.attrs.update(sorting="by_time", n_nodes=int(n_nodes))
            _create_column(group, "timestamps", np.float64, CHUNK_ROWS).attrs["units"] = "ms"
            _create_column(group, "node_ids", np.int64, CHUNK_ROWS)

        self._restructure(change)

    # ------------------------------------------------------------------ writing
    @_locked
    def append_spikes(self, population: str, times_ms, node_ids, *, flush: bool = True) -> None:
        """Append a batch of spikes of one population (and by default flush it to disk).

        Parameters
        ----------
        population : str
        times_ms : array_like of float, shape (n,)
            Spike times (ms), non-decreasing, not earlier than the last stored spike.
        node_ids : array_like of int, shape (n,)
            Neuron of each spike, in ``[0, n_nodes)``.
        flush : bool
            Write and flush to disk before returning (the default: a killed process
            loses nothing appended). With many small batches (< ~1e4 spikes) pass
            ``flush=False``: the spikes are then held in memory (fewer than
            ``CHUNK_ROWS`` per population, and for at most about ``FLUSH_SECONDS``: see
            :class:`SpikeStore`) and written a chunk at a time, whereas each flush
            rewrites the partly filled last chunk, and SWMR never reuses the file space
            of the old copy.
        """
        self._writable()
        n_nodes = self.n_nodes(population)
        times = _float_array(times_ms, "spike times")
        ids = _id_array(node_ids, n_nodes, f"node ids of {population!r}")
        if len(times) != len(ids):
            raise StoreError(f"{len(times)} spike times but {len(ids)} node ids for {population!r}")
        if len(times) == 0:
            return
        if np.any(np.diff(times) < 0):
            raise StoreError(f"spike times of {population!r} must be non-decreasing within a batch")
        last = self._last_time(population)
        if times[0] < last:
            raise StoreError(f"spike time {times[0]} ms of {population!r} is earlier than the "
                             f"last stored spike ({last} ms); append in time order")
        self._pending.setdefault(population, []).append((times, ids))
        self._pending_rows[population] = self._pending_rows.get(population, 0) + len(times)
        self._note_unflushed()
        self._t_stop = max(self._t_stop, float(times[-1]))
        if flush:
            self._flush_locked()
            return
        if self._pending_rows[population] >= CHUNK_ROWS:  # flush the whole chunks
            self._write_pending(population, whole_chunks=True)
            self._guarded(0, self._live.flush)
            self._unflushed_bytes = self._unflushed_presentations = 0
            self._hdf5_dirty = False
        self._flush_if_due()

    @_locked
    def append_presentations(self, example_id, label, phase, t_start, t_stop, *,
                             flush: bool = True) -> None:
        """Append presentation phases (scalars or equal-length arrays), by default flushed.

        Parameters
        ----------
        example_id : int or array_like of int
            Index of the example in its dataset (>= 0).
        label : int or array_like of int
            Class label, -1 when there is none.
        phase : str or array_like of str
            One of ``"forward"``, ``"target"``, ``"test"``.
        t_start, t_stop : float or array_like of float
            Window of the phase (ms), ``0 <= t_start <= t_stop``.
        flush : bool
            Flush to disk before returning (see :meth:`append_spikes`; unflushed rows
            are flushed within about ``FLUSH_SECONDS``).
        """
        self._writable()
        try:
            columns = np.broadcast_arrays(*map(np.asarray, (example_id, label, phase,
                                                            t_start, t_stop)))
        except ValueError:
            raise StoreError("presentation columns have mismatched lengths") from None
        if columns[0].ndim > 1:
            raise StoreError("presentation columns must be scalars or 1-D arrays")
        columns = [np.atleast_1d(c) for c in columns]
        examples = _id_array(columns[0], None, "example ids")
        labels = _id_array(columns[1], None, "labels", low=-1)
        unknown = sorted(set(map(str, columns[2].tolist())) - set(PHASES))
        if unknown:
            raise StoreError(f"unknown presentation phase(s) {unknown}; "
                             f"expected one of {list(PHASES)}")
        codes = np.array([PHASES.index(str(p)) for p in columns[2].tolist()], dtype=np.int8)
        starts = _float_array(columns[3], "presentation t_start")
        stops = _float_array(columns[4], "presentation t_stop")
        if np.any(starts > stops):
            raise StoreError("presentation t_start must not exceed its t_stop")
        if len(starts) == 0:
            return
        if "presentations" not in self._columns:
            group = self._live["presentations"]
            self._columns["presentations"] = tuple(group[name] for name in _PRESENTATION_COLUMNS)
        datasets = self._columns["presentations"]
        values = (examples, labels, codes, starts, stops)

        def write():
            n = min(dataset.shape[0] for dataset in datasets)
            for dataset, column in zip(datasets, values):
                dataset.resize((n + len(column),))
                dataset[n:] = column

        self._guarded(_PRESENTATION_ROW_BYTES * len(starts), write)
        self._unflushed_bytes += _PRESENTATION_ROW_BYTES * len(starts)
        self._unflushed_presentations += len(starts)
        self._note_unflushed()
        self._t_stop = max(self._t_stop, float(stops.max()))
        if flush or self._unflushed_presentations >= CHUNK_ROWS:
            self._flush_locked()
        else:
            self._flush_if_due()

    @_locked
    def set_t_stop(self, t_ms: float) -> None:
        """Record the duration of the run so far (ms); not before any stored event."""
        self._writable()
        t_ms = float(_float_array([t_ms], "t_stop")[0])
        latest = self._latest_event()
        if t_ms < latest:
            raise StoreError(f"t_stop {t_ms} ms is earlier than the last stored event "
                             f"({latest} ms)")
        self._t_stop = t_ms
        self._flush_locked()

    def _latest_event(self) -> float:
        stops = self._read(self._live["presentations/t_stop"], slice(0, self.n_presentations))
        _check_read(repr(str(self.path)), "presentation t_stop", stops)
        return max([self._last_time(p) for p in self.populations]
                   + [float(stops.max(initial=0.0))])

    @_locked
    def set_dt(self, dt_ms: float) -> None:
        """Record the simulation time step (ms, > 0)."""
        dt_ms = _check_dt(dt_ms)
        file = self._writable()
        dt = file.attrs.get("dt")
        if isinstance(dt, (float, np.floating)):  # rewritten in place, as t_stop
            self._guarded(0, lambda: file.attrs.modify("dt", dt_ms))
            self._flush_locked()
        else:
            self._restructure(lambda f: f.attrs.__setitem__("dt", dt_ms))

    @_locked
    def set_metadata(self, metadata: dict) -> None:
        """Merge run metadata (JSON-serialisable values: dicts, numbers, strings, lists).

        A structure change: it copies the file (see the module docstring), so set the
        metadata before appending spikes."""
        encoded = _encode_metadata(metadata)
        self._writable()
        self._restructure(lambda file: file["metadata"].attrs.update(encoded),
                          nbytes=sum(len(v) for v in encoded.values()))

    # --------------------------------------------------------------- recovery
    @classmethod
    def recover(cls, path) -> dict:
        """Make the store of a writer that died appendable again (``h5clear -s``).

        A writer that was killed, crashed or stopped by a failed write leaves its file
        marked as open for SWMR writing. Readers open it as it is (mode ``"r"``); HDF5
        refuses to open it for writing, and so does mode ``"a"``, naming this call.
        ``recover``

        1. refuses (StoreError) while a process still writes the file (the writer's
           lock, or HDF5's lock held by another program);
        2. clears the status flags of the file's superblock, as ``h5clear -s`` does, and
           moves its end-of-file address past everything the writer wrote (a SWMR
           writer may die before recording it; HDF5 would then place new data over
           old), extending a file shorter than that address, as ``h5clear
           --increment`` does;
        3. opens the store for appending and closes it, which cuts the columns of a
           batch the writer was killed in to a common length, records ``t_stop``, and
           deletes the temporary files ``.<name>.*.tmp`` a killed writer left beside it.

        It only changes what a dead writer left: on a store closed cleanly it does
        nothing but step 3. Afterwards any HDF5 tool opens the file.

        Returns
        -------
        dict
            ``status_flags`` (found, 0 when closed cleanly), ``end_of_file`` (the
            recorded end address before and after, bytes), ``n_spikes`` per population,
            ``n_presentations`` and ``removed`` (temporary files deleted).
        """
        name = str(path)
        path = Path(os.path.realpath(path))
        if not path.exists():
            raise StoreError(f"spike store {name!r} does not exist")
        if path.is_dir():
            raise StoreError(f"spike store {name!r} is a directory, not a file")
        try:
            fd = os.open(path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
        except OSError as err:
            raise StoreError(f"cannot recover spike store {name!r}: {_cause(err)}") from None
        removed = []
        try:
            if not _try_lock(fd):
                raise StoreError(f"spike store {name!r} is open for writing by a live process; "
                                 "recover only the store of a writer that died")
            if _hdf5_locked(fd):
                raise StoreError(f"spike store {name!r} is open in another program (it holds "
                                 "HDF5's file lock); close it first")
            block = _read_superblock(fd)
            if block is None:
                raise StoreError(f"{name!r} is not a readable HDF5 file (truncated or corrupt)")
            flags, end = block.flags, block.end
            if flags & (_WRITE_ACCESS | _SWMR_WRITE_ACCESS):
                if end is not None:
                    size = os.fstat(fd).st_size
                    written = _last_data_byte(fd, end, size)
                    if written > end:  # written past the recorded end: keep a margin of
                        end = min(size, written + 64 * 1024)  # trailing zero bytes
                    if end > size:
                        os.ftruncate(fd, end)
                _write_superblock(fd, block, flags & ~(_WRITE_ACCESS | _SWMR_WRITE_ACCESS), end)
                os.fsync(fd)
            for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
                _remove(tmp)
                removed.append(tmp.name)
        except OSError as err:
            raise StoreError(f"cannot recover spike store {name!r}: {_cause(err)}") from None
        finally:
            os.close(fd)
        with cls(path, "a") as store:
            report = {"status_flags": flags, "end_of_file": (block.end, end),
                      "n_spikes": {p: store.n_spikes(p) for p in store.populations},
                      "n_presentations": store.n_presentations, "removed": removed}
        return report

    # ------------------------------------------------------------------ reading
    @property
    def metadata(self) -> dict:
        """Run metadata, decoded from JSON."""
        out = {}
        for key, value in self._live["metadata"].attrs.items():
            try:
                out[key] = json.loads(value)
            except (TypeError, ValueError):  # an attribute some other tool added
                out[key] = value.item() if isinstance(value, np.generic) else value
        return out

    @property
    def t_stop(self) -> float:
        """Duration of the run so far (ms)."""
        t_stop = self._t_stop
        if self.mode == "r" and self._flags:  # a writer has it open, or died: it may
            t_stop = max(t_stop, self._latest_event())  # be between a batch and its t_stop
        return t_stop

    @property
    def dt(self) -> float | None:
        """Simulation time step (ms), or None when it was not recorded."""
        dt = self._live.attrs.get("dt")
        return None if dt is None else float(dt)

    def _last_time(self, population: str) -> float:
        if self._pending.get(population):
            return float(self._pending[population][-1][0][-1])
        group = self._population(population)
        n = _stored_rows(group)
        if not n:
            return 0.0
        last = self._read(group["timestamps"], slice(n - 1, n))
        _check_read(repr(str(self.path)), f"timestamps of {population!r}", last)
        return float(last[0])

    @property
    def presentations(self) -> dict[str, np.ndarray]:
        """All presentation rows: ``example_id``, ``label``, ``phase`` (str),
        ``t_start``, ``t_stop`` (ms)."""
        group = self._live["presentations"]
        n = min(group[name].shape[0] for name in _PRESENTATION_COLUMNS)
        out = {name: self._read(group[name], slice(0, n)) for name in _PRESENTATION_COLUMNS}
        where = repr(str(self.path))
        _check_read(where, "presentation example_id", ids=out["example_id"])
        _check_read(where, "presentation label", ids=out["label"], low=-1)
        _check_read(where, "presentation phase", ids=out["phase"], n_nodes=len(PHASES))
        _check_read(where, "presentation t_start", out["t_start"])
        _check_read(where, "presentation t_stop", out["t_stop"])
        out["phase"] = np.array(PHASES)[out["phase"].astype(np.intp)]
        return out

    @property
    def n_presentations(self) -> int:
        """Number of presentation rows."""
        return min(self._live["presentations"][name].shape[0] for name in _PRESENTATION_COLUMNS)

    def presentation_window(self, index: int) -> tuple[float, float]:
        """``(t_start, t_stop)`` in ms of presentation row ``index``."""
        n = self.n_presentations
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) \
                or not 0 <= index < n:
            raise StoreError(f"presentation index must be an integer in [0, {n}), got {index!r}")
        group = self._live["presentations"]
        row = slice(int(index), int(index) + 1)
        window = np.concatenate([self._read(group["t_start"], row),
                                 self._read(group["t_stop"], row)])
        _check_read(repr(str(self.path)), f"presentation {index}", window)
        return float(window[0]), float(window[1])

    def spikes(self, population: str, t_start: float | None = None, t_stop: float | None = None,
               node_ids=None) -> tuple[np.ndarray, np.ndarray]:
        """Spikes of a population in the window ``[t_start, t_stop)`` (ms).

        Only the chunks around the window are read (binary search on the sorted
        timestamps).

        Parameters
        ----------
        population : str
        t_start, t_stop : float, optional
            Window (ms); None means the start / the end of the recording (the end
            included).
        node_ids : array_like of int, optional
            Keep only the spikes of these neurons.

        Returns
        -------
        times_ms : ndarray of float64
        node_ids : ndarray of int64
        """
        group = self._population(population)
        _check_window(t_start, t_stop)
        selected = None if node_ids is None else _id_array(
            node_ids, self.n_nodes(population), f"selected node ids of {population!r}")
        n = self.n_spikes(population)  # also writes pending spikes
        timestamps = group["timestamps"]
        lo = 0 if t_start is None else _bisect(timestamps, n, float(t_start), "left")
        hi = n if t_stop is None else _bisect(timestamps, n, float(t_stop), "left")
        times = self._read(timestamps, slice(lo, hi))
        ids = self._read(group["node_ids"], slice(lo, hi))
        _check_read(repr(str(self.path)), f"the spikes of {population!r}", times, ids,
                    self.n_nodes(population))
        if selected is not None:
            keep = np.isin(ids, selected)
            times, ids = times[keep], ids[keep]
        return times, ids

    def spikes_in_presentation(self, population: str, index: int, node_ids=None):
        """Spikes of a population during presentation row ``index`` (see :meth:`spikes`)."""
        return self.spikes(population, *self.presentation_window(index), node_ids=node_ids)

    def iter_chunks(self, population: str, chunk_size: int = 1_000_000
                    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(times_ms, node_ids)`` blocks of at most ``chunk_size`` spikes, in time
        order; memory is bounded by the block size (16 bytes per spike)."""
        group = self._population(population)
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) \
                or chunk_size <= 0:
            raise StoreError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        n = self.n_spikes(population)
        n_nodes = self.n_nodes(population)
        last = -np.inf
        for start in range(0, n, int(chunk_size)):
            block = slice(start, min(start + int(chunk_size), n))
            times = self._read(group["timestamps"], block)
            ids = self._read(group["node_ids"], block)
            _check_read(repr(str(self.path)), f"the spikes of {population!r}", times, ids,
                        n_nodes)
            if times.size and times[0] < last:  # sorted across blocks too
                raise StoreError(f"{str(self.path)!r}: the spikes of {population!r} are not "
                                 "sorted by time (a damaged or hand-edited store)")
            last = times[-1] if times.size else last
            yield times, ids

    def to_neo(self, population: str, t_start: float | None = None, t_stop: float | None = None,
               node_ids=None) -> list:
        """One ``neo.SpikeTrain`` per neuron (times in s), empty trains included.

        Parameters
        ----------
        t_start, t_stop : float, optional
            Window (ms); defaults to 0 and the store's ``t_stop``.
        node_ids : array_like of int, optional
            Neurons to export, in this order; default all ``0 .. n_nodes-1``. At most
            :data:`MAX_NEO_TRAINS` (100,000) neurons per call: a larger population
            needs a selection, e.g. the neurons that spiked,
            ``np.unique(store.spikes(population)[1])``.

        Returns
        -------
        list of neo.SpikeTrain
            Times in s, ``t_start``/``t_stop`` the window in s; annotations
            ``population`` and ``node_id``.
        """
        n_nodes = self.n_nodes(population)
        count = n_nodes if node_ids is None else np.size(node_ids)
        if count > MAX_NEO_TRAINS:  # one Python object per neuron: refuse before building
            what = (f"population {population!r} has {n_nodes} neurons" if node_ids is None
                    else f"{count} neurons were selected")
            raise StoreError(f"{str(self.path)!r}: to_neo makes one neo.SpikeTrain per neuron "
                             f"(about 4 KB each) and "
                             f"{what}, over the limit of {MAX_NEO_TRAINS}: pass node_ids= with "
                             f"at most {MAX_NEO_TRAINS} neurons, e.g. those that spiked: "
                             f"np.unique(store.spikes({population!r})[1])")
        import neo  # slow import, needed only here

        nodes = np.arange(n_nodes) if node_ids is None else _id_array(
            node_ids, n_nodes, f"selected node ids of {population!r}")
        times, ids = self.spikes(population, t_start, t_stop, None if node_ids is None else nodes)
        start = 0.0 if t_start is None else float(t_start)
        stop = self.t_stop if t_stop is None else float(t_stop)
        _check_window(start, stop)
        order = np.argsort(ids, kind="stable")  # stable: times stay sorted per neuron
        times_s, ids = times[order] / 1000.0, ids[order]
        lows = np.searchsorted(ids, nodes, "left")
        highs = np.searchsorted(ids, nodes, "right")
        return [neo.SpikeTrain(times_s[lo:hi], t_stop=stop / 1000.0, units="s",
                               t_start=start / 1000.0, name=f"{population}[{node}]",
                               population=population, node_id=int(node))
                for node, lo, hi in zip(nodes, lows, highs)]

    def _read(self, dataset: h5py.Dataset, selection: slice) -> np.ndarray:
        try:
            return dataset[selection]
        except OSError:
            raise StoreError(f"{str(self.path)!r}: dataset {dataset.name} is unreadable "
                             "(truncated or corrupt)") from None


def _encode_metadata(metadata: dict) -> dict[str, str]:
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and k for k in metadata):
        raise StoreError("metadata must be a dict with non-empty string keys")
    encoded = {}
    for key, value in metadata.items():
        try:
            encoded[key] = json.dumps(value, default=_json_default)
        except (TypeError, ValueError) as err:
            raise StoreError(f"metadata {key!r} cannot be stored as JSON: {err}") from None
    return encoded


def _check_dt(dt_ms) -> float:
    dt_ms = float(_float_array([dt_ms], "dt")[0])
    if dt_ms <= 0:
        raise StoreError(f"dt must be positive, got {dt_ms} ms")
    return dt_ms


def _float_array(values, what: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise StoreError(f"{what} must be numbers (ms)") from None
    if array.ndim != 1:
        raise StoreError(f"{what} must be a 1-D array, got shape {array.shape}")
    if np.isnan(array).any():
        raise StoreError(f"{what} contain NaN")
    if np.isinf(array).any():
        raise StoreError(f"{what} must be finite")
    if (array < 0).any():
        raise StoreError(f"{what} must not be negative (ms since the start of the run), "
                         f"got {array.min()}")
    return array


def _id_array(values, n_nodes: int | None, what: str, low: int = 0) -> np.ndarray:
    array = np.atleast_1d(np.asarray(values))
    if array.size == 0:
        return array.astype(np.int64).ravel()
    integral = np.issubdtype(array.dtype, np.integer) or (
        np.issubdtype(array.dtype, np.floating) and np.isfinite(array).all()
        and (array == np.round(array)).all())
    if array.ndim != 1 or not integral:
        raise StoreError(f"{what} must be a 1-D array of integers")
    array = array.astype(np.int64)
    high = np.inf if n_nodes is None else n_nodes
    if array.min() < low or array.max() >= high:
        bad = array[(array < low) | (array >= high)][0]
        bound = f"[{low}, {n_nodes})" if n_nodes is not None else f">= {low}"
        raise StoreError(f"{what} must be in {bound}, got {bad}")
    return array


def _check_window(t_start, t_stop) -> None:
    for name, value in (("t_start", t_start), ("t_stop", t_stop)):
        if value is None:
            continue
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise StoreError(f"{name} must be a number (ms), got {value!r}") from None
        if np.isnan(value):
            raise StoreError(f"{name} is NaN")
        if value < 0:
            raise StoreError(f"{name} must not be negative (ms), got {value}")
    if t_start is not None and t_stop is not None and float(t_start) > float(t_stop):
        raise StoreError(f"window t_start {t_start} ms is after t_stop {t_stop} ms")


def write_new_store(path, *, dt: float, sizes: dict, spikes: dict, presentations=None,
                    metadata: dict | None = None, t_stop: float | None = None) -> None:
    """Write a complete spike store to ``path`` through a temporary file in its folder,
    fsync it and rename it over ``path``: whenever the writer is killed or fails (full
    disk, ...), ``path`` holds the old file or the whole new store.

    Parameters
    ----------
    path : str or Path
        The file (an existing file there is replaced: callers decide whether it may be).
    dt : float
        Time step, ms.
    sizes : dict of str -> int
        Populations and their numbers of neurons, in order.
    spikes : dict of str -> (times_ms, ids)
        Spikes of every population.
    presentations : tuple, optional
        ``(example_id, label, phase, t_start, t_stop)`` columns
        (:meth:`SpikeStore.append_presentations`; phases as names).
    metadata : dict, optional
        JSON-serialisable metadata.
    t_stop : float, optional
        End of the recording, ms.

    Raises
    ------
    StoreError
        An OS error or a store error, naming ``path`` (not the temporary file).
    """
    from dendrinet._atomic import os_error_cause, remove_dead_temporaries, writer_temporary

    name = str(path)
    target = Path(os.path.realpath(path))  # a symbolic link's file is replaced
    remove_dead_temporaries(target)
    tmp = writer_temporary(target)
    try:
        with SpikeStore(tmp, "w", dt=dt) as store:
            # structure first (each change copies the file), then the data
            for pop, n in sizes.items():
                store.add_population(pop, int(n))
            if metadata:
                store.set_metadata(metadata)
            for pop in sizes:
                times, ids = spikes[pop]
                store.append_spikes(pop, times, ids)
            if presentations is not None:
                store.append_presentations(*presentations)
            if t_stop is not None and t_stop > 0:
                store.set_t_stop(t_stop)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise StoreError(f"cannot write spike store {name!r}: "
                             f"{os_error_cause(exc)}") from None
        if isinstance(exc, StoreError):  # the store names the temporary file
            raise StoreError(str(exc).replace(str(tmp), name)) from None
        raise
