"""The HDF5 superblock of a spike store, read and rewritten by hand (with its lookup3
checksum): the status flags a writer leaves set, and the end-of-file address HDF5
records. What ``h5clear`` does, without the HDF5 tools; and the copy of a closed file up
to that address."""
from __future__ import annotations

import errno
import os
import struct
from pathlib import Path
from typing import NamedTuple

import numpy as np

WRITE_ACCESS, SWMR_WRITE_ACCESS = 0x01, 0x04  # superblock status flags
_SIGNATURE = b"\x89HDF\r\n\x1a\n"


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


class Superblock(NamedTuple):
    """What the HDF5 superblock of a file says (see :func:`read_superblock`)."""
    offset: int  # of the superblock in the file (0 unless there is a user block)
    version: int
    flags: int  # status flags: WRITE_ACCESS, SWMR_WRITE_ACCESS (version >= 2 only)
    end: int | None  # the end-of-file address HDF5 recorded (version >= 2, 8-byte offsets)
    head: bytes  # the superblock's bytes


def read_superblock(fd: int) -> Superblock | None:
    """The HDF5 superblock of an open file, or None when the file is not HDF5."""
    size = os.fstat(fd).st_size
    at = 0
    while at + 48 <= size:  # HDF5 looks at 0, 512, 1024, 2048, ...
        head = _pread(fd, 48, at)
        if head[:8] == _SIGNATURE:
            version = head[8]
            if version < 2 or head[9] != 8:  # flags and end address only from version 2
                return Superblock(at, version, 0, None, head)
            end = struct.unpack_from("<Q", head, 28)[0]
            base = struct.unpack_from("<Q", head, 12)[0]
            return Superblock(at, version, head[11], end if base == 0 else None, head)
        at = 512 if at == 0 else 2 * at
    return None


def write_superblock(fd: int, block: Superblock, flags: int, end: int | None) -> None:
    """Rewrite the status flags and end-of-file address of a version 2/3 superblock
    (with its checksum) in one write of its 48 bytes."""
    head = bytearray(block.head[:44])
    head[11] = flags
    if end is not None:
        struct.pack_into("<Q", head, 28, end)
    _pwrite(fd, bytes(head) + struct.pack("<I", lookup3(bytes(head))), block.offset)


def lookup3(data: bytes, initval: int = 0) -> int:
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


def superblock_of(path: Path) -> tuple[Superblock, int] | None:
    """The superblock of a file and the file's size; None if it is not HDF5."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        block = read_superblock(fd)
        size = os.fstat(fd).st_size
    except OSError:
        return None
    finally:
        os.close(fd)
    return None if block is None else (block, size)


def last_data_byte(fd: int, start: int, stop: int) -> int:
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


def copy_hdf5(source: int, target: int) -> int:
    """Copy a closed HDF5 file up to its end of file (not the room reserved beyond it)
    into an empty file; returns the bytes copied."""
    block = read_superblock(source)
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


def trim_tail(fd: int) -> None:
    """Cut a file closed cleanly back to HDF5's end of file: the room reserved beyond it
    (``reserve``) is not HDF5's, which leaves it there."""
    block = read_superblock(fd)
    if block is not None and block.end is not None and block.flags == 0 \
            and os.fstat(fd).st_size > block.end:
        os.ftruncate(fd, block.end)
