"""A user's own data: an ``.npz`` file or a folder of idx files (rules in
:mod:`dendrinet.datasets`, "Your own data"), checked from their headers and against this
machine's memory before any pixel is read."""
from __future__ import annotations

import io
import math
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dendrinet.datasets.idx import GZIP_MAGIC, read_idx_content, read_into
from dendrinet.datasets.registry import Dataset, manifest_datasets, subset_size
from dendrinet.errors import DatasetError
from dendrinet.config.limits import check_memory, gigabytes

# --------------------------------------------------------------- your own data

USER_ARRAYS = ("X_train", "y_train", "X_test", "y_test")
# split -> (images file, labels file) of a folder of idx files, without ".gz"
USER_IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                  "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_ZIP_MAGIC = b"PK\x03\x04"


def user_dataset_path(name: str) -> Path | None:
    """The existing file or folder ``name`` points to; None if ``name`` does not look
    like a path (then it is an unknown data set name)."""
    path = Path(name).expanduser()
    if path.exists():
        return path
    if any(sep in name for sep in ("/", os.sep)) or name.lower().endswith(".npz") \
            or name.startswith(("~", ".")):
        raise DatasetError(
            f"{path}: no such file or folder (a dataset path must be an .npz file with "
            f"X_train, y_train, X_test, y_test or a folder of idx files; shipped names: "
            f"{', '.join(manifest_datasets())})")
    return None


def load_user_dataset(path: Path, n_train, n_test) -> Dataset:
    """A data set from a user's ``.npz`` file or idx folder. Shapes and types are checked
    from the headers, the subsets chosen and the memory they need checked before any
    pixel is read; only the examples used are read, checked and converted."""
    source = _IdxFolder.read(path) if path.is_dir() else _NpzFile.open(path)
    where = source.where
    for key in ("X_train", "X_test"):
        _check_image_array(source.shapes[key], source.dtypes[key], where[key])
    n_pixels = {k: math.prod(source.shapes[k][1:]) for k in ("X_train", "X_test")}
    if n_pixels["X_train"] != n_pixels["X_test"]:
        raise DatasetError(
            f"{where['X_train']} has {n_pixels['X_train']} pixels per example but "
            f"{source.short['X_test']} has {n_pixels['X_test']}; both splits need the same "
            f"images")
    n_pixels = n_pixels["X_train"]
    image_shape = source.image_shape
    if image_shape is None:
        side = int(round(n_pixels ** 0.5))
        image_shape = (side, side) if side * side == n_pixels else (1, n_pixels)
    elif math.prod(image_shape) != n_pixels:
        raise DatasetError(f"{path}: image_shape {tuple(image_shape)} has "
                           f"{math.prod(image_shape)} pixels, X_train has {n_pixels}")
    name = str(path.resolve())
    rows = {"train": subset_size(n_train, source.shapes["X_train"][0], "n_train", name),
            "test": subset_size(n_test, source.shapes["X_test"][0], "n_test", name)}
    # raw rows and their float64 copy; the labels whole (and as int64)
    need = sum(rows[s] * n_pixels * (source.dtypes[f"X_{s}"].itemsize + 9)
               + math.prod(source.shapes[f"y_{s}"]) * (source.dtypes[f"y_{s}"].itemsize + 8)
               for s in rows)
    check_memory(need, f"{path}: reading {rows['train']:,} training and {rows['test']:,} "
                       f"test examples of {n_pixels:,} pixels", DatasetError)
    X, y = {}, {}
    for split in ("train", "test"):
        pixels = source.array(f"X_{split}", rows[split])[:rows[split]]
        X[split] = _user_images(pixels, where[f"X_{split}"], source.max_value)
        y[split] = source.array(f"y_{split}")
        _user_labels(y[split], where[f"y_{split}"], source.shapes[f"X_{split}"][0],
                     source.short[f"X_{split}"])
    largest = max(int(y["train"].max()), int(y["test"].max()))
    return Dataset(name=name, X_train=X["train"],
                   y_train=np.asarray(y["train"][:rows["train"]], dtype=np.int64),
                   X_test=X["test"], y_test=np.asarray(y["test"][:rows["test"]], dtype=np.int64),
                   image_shape=tuple(int(v) for v in image_shape), n_classes=largest + 1)


@dataclass(frozen=True)
class _NpyHeader:
    """One array of an ``.npz`` file as its ``.npy`` header declares it.

    Attributes
    ----------
    member : str
        Its name in the zip archive.
    shape : tuple of int
    dtype : numpy.dtype
    fortran_order : bool
    offset : int
        Bytes of the header, before the data in the member.
    """

    member: str
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    offset: int

    @property
    def n_bytes(self) -> int:
        """Bytes of the data, from the header."""
        return math.prod(self.shape) * self.dtype.itemsize


#: Longest ``.npy`` header read (numpy's own limit is 10,000 bytes).
_MAX_NPY_HEADER = 10_000
#: Largest expansion of deflate (zlib's documentation: 1032:1), for the sizes an
#: archive's directory may claim for its members.
_DEFLATE_RATIO = 1032


class _NpzFile:
    """A user's ``.npz`` data set: the headers of its arrays, read without their data
    and checked against the zip directory, then the arrays (or their first rows) read
    on demand."""

    def __init__(self, path: Path, headers: dict[str, _NpyHeader]):
        self.path = path
        self.headers = headers
        self.shapes = {k: h.shape for k, h in headers.items()}
        self.dtypes = {k: h.dtype for k, h in headers.items()}
        self.short = {k: k for k in USER_ARRAYS}
        self.where = {k: f"{path}: {k}" for k in USER_ARRAYS}
        self.max_value = self._max_value()
        self.image_shape = self._image_shape()

    @classmethod
    def open(cls, path: Path) -> "_NpzFile":
        advice = ("expected a NumPy .npz file (numpy.savez) with arrays X_train, y_train, "
                  "X_test, y_test, or a folder of idx files")
        try:
            with open(path, "rb") as fh:
                head = fh.read(4)
        except OSError as exc:
            raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None
        if head != _ZIP_MAGIC:
            what = ("a single .npy array" if head[:4] == b"\x93NUM" else
                    "an HDF5 file" if head == b"\x89HDF" else
                    "gzip data" if head[:2] == GZIP_MAGIC else "not an .npz (zip) file")
            raise DatasetError(f"{path}: {what}; {advice}")
        try:
            with zipfile.ZipFile(path) as archive:
                size = path.stat().st_size
                headers = {}
                for info in archive.infolist():
                    if info.filename.endswith(".npy"):
                        header = _npy_header(archive, info, size, path)
                        headers[info.filename.removesuffix(".npy")] = header
        except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
            if isinstance(exc, DatasetError):
                raise
            raise DatasetError(f"{path}: corrupt or truncated .npz file ({exc})") from None
        missing = [k for k in USER_ARRAYS if k not in headers]
        if missing:
            raise DatasetError(f"{path}: lacks array(s) {', '.join(missing)} (it has: "
                               f"{', '.join(sorted(headers)) or 'nothing'}); {advice}")
        return cls(path, headers)

    def array(self, key: str, rows: int | None = None) -> np.ndarray:
        """Array ``key``, or its first ``rows`` rows: only those are read (decompressed)
        when the array is in C order."""
        h = self.headers[key]
        shape = h.shape
        if rows is not None and not h.fortran_order and len(shape) >= 1:
            shape = (min(rows, shape[0]), *shape[1:])
        out = np.empty(shape, h.dtype, order="F" if h.fortran_order else "C")
        try:
            with zipfile.ZipFile(self.path) as archive, archive.open(h.member) as fh:
                fh.read(h.offset)
                got = read_into(fh, out)
                if got == h.n_bytes:
                    fh.read(1)  # reads to the end: the zip checks the member's CRC
        except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as exc:
            raise DatasetError(f"{self.path}: corrupt or truncated .npz file (array {key}: "
                               f"{exc})") from None
        if got < out.nbytes:
            raise DatasetError(f"{self.path}: corrupt or truncated .npz file (array {key} "
                               f"ends after {got:,} of {out.nbytes:,} bytes)")
        return out

    def _max_value(self) -> float | None:
        if "max_value" not in self.headers:
            return None
        h = self.headers["max_value"]
        value = self.array("max_value") if math.prod(h.shape) == 1 else None
        if value is None or h.dtype.kind not in "iuf" or not np.isfinite(value).all() or \
                float(value.reshape(-1)[0]) <= 0:
            raise DatasetError(f"{self.path}: max_value must be one positive number (the pixel "
                               f"value of full intensity), got {h.dtype} array of shape "
                               f"{h.shape}")
        return float(value.reshape(-1)[0])

    def _image_shape(self) -> tuple[int, int] | None:
        image_shape = None
        if "image_shape" in self.headers:
            h = self.headers["image_shape"]
            if h.shape != (2,) or h.dtype.kind not in "iu":
                raise DatasetError(f"{self.path}: image_shape must hold two positive integers "
                                   f"(rows, columns), got a {h.dtype} array of shape {h.shape}")
            shape = self.array("image_shape")
            if (shape < 1).any():
                raise DatasetError(f"{self.path}: image_shape must hold two positive integers "
                                   f"(rows, columns), got {shape.tolist()!r}")
            image_shape = tuple(int(v) for v in shape)
        for k in ("X_train", "X_test"):
            if len(self.shapes[k]) == 3:
                shape = tuple(int(v) for v in self.shapes[k][1:])
                if image_shape is not None and shape != image_shape:
                    raise DatasetError(f"{self.path}: {k} holds images of shape {shape}, "
                                       f"image_shape says {image_shape}")
                image_shape = shape
        return image_shape


def _npy_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, archive_bytes: int,
                path: Path) -> _NpyHeader:
    """The header of one ``.npy`` member, checked against the sizes of the zip directory
    (a header may not claim more data than the member holds, nor the directory more than
    its compressed bytes can expand to)."""
    key = info.filename.removesuffix(".npy")
    corrupt = f"{path}: corrupt .npz file: array {key}"
    if info.compress_size > archive_bytes or (
            info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size
    ) or (info.compress_type == zipfile.ZIP_DEFLATED
          and info.file_size > _DEFLATE_RATIO * info.compress_size + 1024):
        raise DatasetError(f"{corrupt}: the zip directory says {info.file_size:,} bytes from "
                           f"{info.compress_size:,} compressed bytes in a file of "
                           f"{archive_bytes:,}")
    with archive.open(info) as fh:
        magic = fh.read(8)  # "\x93NUMPY", major and minor version
        version = np.lib.format.read_magic(io.BytesIO(magic))
        if version not in ((1, 0), (2, 0)):
            raise DatasetError(f"{corrupt}: .npy format version {version[0]}.{version[1]} is "
                               f"not read (save it with numpy.savez)")
        length = fh.read(2 if version == (1, 0) else 4)
        n_header = int.from_bytes(length, "little")
        if n_header > _MAX_NPY_HEADER:  # numpy would read it all before refusing it
            raise DatasetError(f"{corrupt}: a header of {n_header:,} bytes (at most "
                               f"{_MAX_NPY_HEADER:,})")
        head = io.BytesIO(magic + length + fh.read(n_header))
    np.lib.format.read_magic(head)
    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                   else np.lib.format.read_array_header_2_0)
    shape, fortran_order, dtype = read_header(head)
    offset = len(head.getvalue())
    if dtype.hasobject:
        raise DatasetError(f"{path}: array {key} cannot be read without pickle (it holds "
                           f"Python objects); store plain numbers")
    header = _NpyHeader(info.filename, tuple(int(n) for n in shape), dtype,
                        bool(fortran_order), offset)
    if offset + header.n_bytes != info.file_size:
        raise DatasetError(f"{corrupt}: its header declares shape {header.shape} of {dtype} "
                           f"({gigabytes(header.n_bytes)}), the file holds "
                           f"{info.file_size - offset:,} bytes of data; the file is corrupt "
                           f"or was altered")
    return header


class _IdxFolder:
    """A user's folder of four idx files, read whole (each checked against its header
    and this machine's memory first, :func:`read_idx_content`)."""

    def __init__(self, arrays: dict[str, np.ndarray], files: dict[str, Path]):
        self.arrays = arrays
        self.shapes = {k: a.shape for k, a in arrays.items()}
        self.dtypes = {k: a.dtype for k, a in arrays.items()}
        self.short = self.where = {k: str(p) for k, p in files.items()}
        self.max_value = None
        self.image_shape = tuple(int(v) for v in arrays["X_train"].shape[1:])

    @classmethod
    def read(cls, folder: Path) -> "_IdxFolder":
        found, missing = {}, []
        for split, names in USER_IDX_FILES.items():
            for kind, stem in zip(("X", "y"), names):
                candidates = [folder / stem, folder / f"{stem}.gz"]
                hit = next((c for c in candidates if c.is_file()), None)
                if hit is None:
                    missing.append(f"{stem}[.gz]")
                found[f"{kind}_{split}"] = hit
        if missing:
            wanted = ", ".join(f"{stem}[.gz]" for names in USER_IDX_FILES.values()
                               for stem in names)
            raise DatasetError(f"{folder}: lacks {', '.join(missing)}; a dataset folder needs "
                               f"the four idx files {wanted}")
        arrays = {}
        for key, path in found.items():
            _, array = read_idx_content(path)
            if key.startswith("X") and array.ndim != 3:
                raise DatasetError(f"{path}: wrong declared dimensions {array.shape}: "
                                   "expected images (n, rows, cols)")
            arrays[key] = array
        shapes = {arrays[k].shape[1:] for k in ("X_train", "X_test")}
        if len(shapes) != 1:
            raise DatasetError(f"{found['X_train']} holds images of shape "
                               f"{arrays['X_train'].shape[1:]} but {found['X_test']} of shape "
                               f"{arrays['X_test'].shape[1:]}")
        return cls(arrays, found)

    def array(self, key: str, rows: int | None = None) -> np.ndarray:
        return self.arrays[key] if rows is None else self.arrays[key][:rows]


def _check_image_array(shape: tuple, dtype: np.dtype, where: str) -> None:
    """The type and shape of a pixel array, from its header."""
    if dtype.kind not in "biuf":
        raise DatasetError(f"{where}: holds {dtype} values, expected numbers (pixel "
                           "intensities)")
    if len(shape) not in (2, 3):
        raise DatasetError(f"{where}: has shape {shape}, expected (n, n_pixels) or "
                           "(n, rows, cols)")
    if shape[0] == 0 or math.prod(shape) == 0:
        raise DatasetError(f"{where}: holds no examples (shape {shape})")


def _user_images(X: np.ndarray, where: str, max_value: float | None) -> np.ndarray:
    """Pixel array -> float64 rows in [0, 1] by the scaling rule of
    :mod:`dendrinet.datasets` ("Your own data")."""
    _check_image_array(X.shape, X.dtype, where)
    flat = X.reshape(X.shape[0], -1)
    if X.dtype.kind == "f":
        bad = ~np.isfinite(flat)
        if bad.any():
            row = int(np.flatnonzero(bad.any(axis=1))[0])
            raise DatasetError(f"{where}: {int(bad.sum())} NaN or infinite value(s) (first in "
                               f"example {row}); pixel intensities must be finite")
    if max_value is not None:
        scale, limit, rule = max_value, max_value, f"[0, max_value = {max_value:g}]"
    elif X.dtype == np.uint8:
        scale, limit, rule = 255.0, 255.0, "[0, 255]"
    elif X.dtype.kind in "bf":
        scale, limit, rule = 1.0, 1.0, "[0, 1]"
    else:
        raise DatasetError(
            f"{where}: holds {X.dtype} values without a stated maximum; store a scalar "
            "max_value in the file (pixels are divided by it), or use uint8 pixels "
            "(divided by 255) or floats in [0, 1]")
    lo, hi = flat.min(), flat.max()
    if lo < 0 or hi > limit:
        outside = (flat < 0) | (flat > limit)
        row = int(np.flatnonzero(outside.any(axis=1))[0])
        hint = ("; scale float pixels to [0, 1] or store a scalar max_value"
                if max_value is None and X.dtype.kind == "f" else "")
        raise DatasetError(f"{where}: values lie in [{lo:g}, {hi:g}], outside {rule} (first "
                           f"in example {row}){hint}")
    return np.divide(flat, scale, dtype=np.float64)


def _user_labels(y: np.ndarray, where: str, n: int, images: str) -> None:
    if y.dtype.kind not in "iu":
        whole = y.dtype.kind == "f" and np.isfinite(y).all() and (y == np.round(y)).all()
        hint = " (they are whole numbers: store y.astype(int))" if whole else ""
        raise DatasetError(f"{where}: holds {y.dtype} labels, expected integers 0, 1, 2, ..."
                           f"{hint}")
    if y.shape != (n,):
        raise DatasetError(f"{where}: has shape {y.shape}, expected ({n},): one label per "
                           f"example of {images}")
    if int(y.min()) < 0:
        first = int(np.flatnonzero(y < 0)[0])
        raise DatasetError(f"{where}: {int((y < 0).sum())} negative label(s) (first at item "
                           f"{first}: {int(y[first])}); labels are class indices 0, 1, 2, ...")
