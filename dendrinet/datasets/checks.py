"""Checks of official data files against the manifest: structure, item counts, labels
and checksums (of the official archive, or of the decompressed content), remembered per
file for the life of the process."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from dendrinet.datasets.idx import GZIP_MAGIC, read_idx_content
from dendrinet.datasets.registry import N_CLASSES
from dendrinet.errors import DatasetError

# (resolved path, size in bytes, mtime in ns) of files whose checksum already matched.
VERIFIED: set[tuple[str, int, int]] = set()


# ------------------------------------------------------------- reading & checks


def read_checked_files(paths: dict[str, Path], file_specs: dict[str, dict],
                        image_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Read each file, check structure, counts, labels and checksum (in that order,
    so that the message names the most specific problem)."""
    arrays, headers, archive_ok = {}, {}, {}
    for role, path in paths.items():
        fs = file_specs[role]
        _check_file_size(path, fs)
        data = _read_bytes(path)
        archive_ok[role], mismatch = (
            (True, None) if file_key(path) in VERIFIED else _check_archive(data, fs))
        headers[role], array = read_idx_content(path, data, mismatch)
        _check_kind(array, path, "images" if role.endswith("images") else "labels",
                    image_shape)
        if role.endswith("labels"):
            _check_labels(array, path)
        arrays[role] = array

    for split in {role.split("_")[0] for role in paths}:
        images, labels = f"{split}_images", f"{split}_labels"
        if images in arrays and labels in arrays and \
                arrays[images].shape[0] != arrays[labels].shape[0]:
            raise DatasetError(
                f"image/label count mismatch: {paths[images]} holds "
                f"{arrays[images].shape[0]} images but {paths[labels]} holds "
                f"{arrays[labels].shape[0]} labels")

    for role, path in paths.items():
        fs = file_specs[role]
        if arrays[role].shape[0] != int(fs["items"]):
            raise DatasetError(
                f"{path}: declares {arrays[role].shape[0]} items, the official "
                f"{fs['name']} has {fs['items']}")
        if not archive_ok[role]:
            _check_raw_checksum(headers[role], arrays[role], path, fs)
        VERIFIED.add(file_key(path))
    return arrays


def _check_file_size(path: Path, file_spec: dict) -> None:
    """Refuse, before reading it, a file far larger than the official one decompressed
    (any gzip of it is smaller, give or take a header and 0.1 %)."""
    try:
        size = path.stat().st_size
    except OSError:
        return  # reading it names the problem
    most = int(file_spec["raw_bytes"]) * 1.001 + 4096
    if size > most:
        raise DatasetError(
            f"{path}: {size:,} bytes, more than the official {file_spec['name']} holds "
            f"decompressed ({int(file_spec['raw_bytes']):,} bytes); the file is not the "
            "official one (delete it and fetch it again)")


def _check_archive(data: bytes, file_spec: dict) -> tuple[bool, str | None]:
    """(matches, note): whether ``data`` is byte-identical to the official .gz archive,
    and for a gzip file that is not, a note on the md5 mismatch for error messages."""
    if data[:2] != GZIP_MAGIC:
        return False, None  # a raw idx file: checked later against raw_sha256
    md5 = hashlib.md5(data).hexdigest()
    matches = (md5 == file_spec["md5"]
               and len(data) == file_spec.get("gz_bytes", len(data))
               and ("sha256" not in file_spec
                    or hashlib.sha256(data).hexdigest() == file_spec["sha256"]))
    note = None if matches else (
        f"its md5 {md5} does not match the official checksum {file_spec['md5']}")
    return matches, note


def _check_raw_checksum(header: bytes, array: np.ndarray, path: Path, file_spec: dict
                        ) -> None:
    """Checksum of the decompressed content (``header`` then the bytes of ``array``, as
    in the file): for raw files and recompressed archives."""
    expected = file_spec.get("raw_sha256")
    if expected is None:
        return  # nothing known beyond structure; size was checked by read_idx_content
    digest = hashlib.sha256(header)
    digest.update(array.reshape(-1).view(np.uint8))
    actual = digest.hexdigest()
    if actual != expected:
        raise DatasetError(
            f"{path}: checksum mismatch: the idx content has sha256 {actual}, the official "
            f"{file_spec['name']} decompresses to sha256 {expected}; the file is corrupt "
            "or not the official one (delete it and fetch it again)")


def _check_kind(array: np.ndarray, path: Path, kind: str, image_shape: tuple) -> None:
    if array.dtype != np.uint8:
        raise DatasetError(f"{path}: holds {array.dtype} values, expected unsigned bytes "
                           "(idx type code 0x08)")
    if kind == "images" and (array.ndim != 3 or array.shape[1:] != tuple(image_shape)):
        raise DatasetError(
            f"{path}: wrong declared dimensions {array.shape}: expected images of shape "
            f"(n, {image_shape[0]}, {image_shape[1]})")
    if kind == "labels" and array.ndim != 1:
        raise DatasetError(
            f"{path}: wrong declared dimensions {array.shape}: expected a label "
            "file with one dimension (n,)")


def _check_labels(labels: np.ndarray, path: Path) -> None:
    if labels.size and int(labels.max()) >= N_CLASSES:
        bad = np.flatnonzero(labels >= N_CLASSES)
        raise DatasetError(
            f"{path}: {bad.size} label values outside 0..{N_CLASSES - 1} (first at item "
            f"{bad[0]}: {labels[bad[0]]})")


def file_key(path: Path) -> tuple[str, int, int]:
    """``(resolved path, size in bytes, mtime in ns)``: what :data:`VERIFIED` remembers."""
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None
