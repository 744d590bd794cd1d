"""Room on disk before HDF5 writes: HDF5 cannot survive a failed write (closing the
file afterwards crashes the process), so the store checks the file size limit and
allocates the blocks (``posix_fallocate``) before each write; a write that would not
fit is an OSError raised before HDF5 is asked."""
from __future__ import annotations

import errno
import os

try:  # POSIX only: the file size limit
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None

# Room made on disk before each write: the bytes it writes (x1.25: compression can
# expand random data a little, the partly filled last chunk is rewritten elsewhere) plus
# slack for HDF5's own metadata; taken in steps so posix_fallocate runs rarely.
SLACK_BYTES = 512 * 1024
SLACK_PER_DATASET = 64 * 1024
RESERVE_STEP = 4 * 1024 ** 2


def file_size_limit() -> int | None:
    """The soft file size limit (``ulimit -f``) in bytes, None when unlimited."""
    if resource is None:  # pragma: no cover
        return None
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return None if soft == resource.RLIM_INFINITY else int(soft)


def reserve(fd: int, end: int, step: int = 0) -> int:
    """Make sure the file of ``fd`` has room up to ``end`` bytes before HDF5 writes there:
    check the file size limit, then allocate the missing blocks (``posix_fallocate``,
    up to ``step`` bytes more when there is room). Returns the end now reserved.

    Raises OSError (EFBIG, ENOSPC, EDQUOT, ...) when there is not enough room."""
    limit = file_size_limit()
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
