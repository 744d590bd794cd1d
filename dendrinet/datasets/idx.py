"""A validating reader for idx files (the MNIST format), raw or gzip-compressed, read
as a stream up to the size the header declares, after checking that size against this
machine's memory."""
from __future__ import annotations

import contextlib
import gzip
import io
import math
import os
import zlib
from pathlib import Path

import numpy as np

from dendrinet.errors import DatasetError
from dendrinet.config.limits import check_memory

GZIP_MAGIC = b"\x1f\x8b"
# idx type codes (third byte of the magic number); multi-byte types are big-endian.
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an idx file (gzip-compressed or raw) and check its structure.

    Parameters
    ----------
    path : str or path-like
        An idx file such as ``t10k-images-idx3-ubyte.gz``; gzip compression is
        recognised from the content, not the name.

    Returns
    -------
    numpy.ndarray
        Array of the shape declared in the header (``(n, rows, cols)`` for images,
        ``(n,)`` for labels), in native byte order (uint8 for MNIST files).

    Raises
    ------
    DatasetError
        Missing or unreadable file, corrupt gzip data, wrong magic number, a zero
        dimension, a file size that does not match its header (truncated file), or a
        header declaring more data than this machine's memory holds (checked before
        the data is read; a gzip file is decompressed only as far as its header says).
    """
    path = Path(path)
    _, array = read_idx_content(path)
    return array.astype(array.dtype.newbyteorder("="), copy=False)


#: Bytes read from a stream at a time (a gzip stream decompresses only as much).
_CHUNK = 1 << 20


def read_idx_content(path: Path, data: bytes | None = None,
                      checksum_note: str | None = None) -> tuple[bytes, np.ndarray]:
    """The header bytes and the array of an idx file, raw or gzip-compressed.

    The file is read as a stream: the header first, then exactly the bytes it declares,
    after checking them against this machine's memory, into a writable array of the
    declared shape and (big-endian) type. A gzip file is decompressed only that far, so
    a small file that claims or expands to gigabytes is refused without being read whole.

    Parameters
    ----------
    path : Path
        The file (for reading and for messages).
    data : bytes, optional
        Its content, when already read (official files are hashed first).
    checksum_note : str, optional
        Appended to a gzip error (why the archive is not the official one).
    """
    with contextlib.ExitStack() as stack:
        if data is None:
            source = stack.enter_context(_open_file(path))
            size = os.fstat(source.fileno()).st_size
        else:
            source, size = io.BytesIO(data), len(data)
        gz = source.read(2) == GZIP_MAGIC
        source.seek(0)
        if not gz:
            return _read_idx_stream(source, path, size)
        try:
            return _read_idx_stream(stack.enter_context(gzip.GzipFile(fileobj=source)), path)
        except (EOFError, OSError, zlib.error) as exc:
            note = f"; {checksum_note}" if checksum_note else ""
            raise DatasetError(
                f"{path}: corrupt or truncated gzip data ({exc}){note}; delete the file "
                "and fetch it again") from None


def _open_file(path: Path):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _read_up_to(stream, n: int) -> bytes:
    """At most ``n`` bytes of ``stream``, fewer only at its end."""
    parts, got = [], 0
    while got < n:
        part = stream.read(min(n - got, _CHUNK))
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def read_into(stream, array: np.ndarray) -> int:
    """Fill the (contiguous) ``array`` from ``stream``; the number of bytes read."""
    view = memoryview(array.ravel(order="A").view(np.uint8))
    done = 0
    while done < len(view):
        n = stream.readinto(view[done:done + _CHUNK])
        if not n:
            break
        done += n
    return done


def _read_idx_stream(stream, path: Path, size: int | None = None) -> tuple[bytes, np.ndarray]:
    """:func:`read_idx_content` from an open stream of idx bytes (``size``: their
    number, when known without reading them: raw files)."""
    head = _read_up_to(stream, 4)
    if len(head) < 4:
        raise DatasetError(f"{path}: only {len(head)} bytes, too short for an idx header "
                           "(empty or truncated file)")
    code, ndim = head[2], head[3]
    if head[0] != 0 or head[1] != 0 or code not in _IDX_DTYPES or ndim == 0:
        raise DatasetError(
            f"{path}: wrong magic number 0x{head.hex()}: not an idx file (expected two "
            "zero bytes, a type code 08-0E and the number of dimensions, e.g. "
            "0x00000803 for images, 0x00000801 for labels)")
    header_bytes = 4 + 4 * ndim
    rest = _read_up_to(stream, 4 * ndim)
    if len(rest) < 4 * ndim:
        raise DatasetError(f"{path}: truncated header: {ndim} dimensions need "
                           f"{header_bytes} bytes, the file has {4 + len(rest)}")
    dims = tuple(int(d) for d in np.frombuffer(rest, dtype=">u4"))
    if 0 in dims:
        raise DatasetError(f"{path}: wrong declared dimensions {dims}: every dimension "
                           "must be positive")
    dtype = _IDX_DTYPES[code]
    data_bytes = math.prod(dims) * dtype.itemsize
    need = header_bytes + data_bytes

    def mismatch(state: str, have) -> DatasetError:
        return DatasetError(f"{path}: file size does not match its header ({state}): "
                            f"dimensions {dims} need {need} bytes, the idx data has {have}")

    if size is not None and size != need:
        raise mismatch("truncated" if size < need else "has trailing bytes", size)
    check_memory(data_bytes, f"{path}: the {dtype} data of dimensions {dims} its header "
                             f"declares", DatasetError)
    array = np.empty(dims, dtype)
    got = read_into(stream, array)
    if got < data_bytes:
        raise mismatch("truncated", header_bytes + got)
    if stream.read(1):
        raise mismatch("has trailing bytes", "more (it decompresses to more than its "
                                             "header declares)")
    return head + rest, array
