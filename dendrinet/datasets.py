"""Image data sets dendrinet trains on, and a validating reader for idx files.

Four data sets, described in ``data/manifest.toml`` (file names, item counts,
sizes and checksums of every official file):

``"digits"``
    scikit-learn's bundled 8x8 handwritten digits (1,797 images, no download).
    Split in file order: images 0-1436 train, images 1437-1796 test.
``"mnist-10k"``
    The official 10,000-image MNIST test files, split in file order: images
    0-7999 train, images 8000-9999 test (the project's offline benchmark).
``"mnist"``
    MNIST, 60,000 training and 10,000 test images; downloaded if not found.
``"fashion-mnist"``
    Fashion-MNIST, 60,000 + 10,000 images in the same idx format; also found in
    ``/usr/share/datasets/fashion-mnist`` (Debian package ``dataset-fashion-mnist``).

Files are searched, in order, in the ``data_dir`` argument, ``$DENDRINET_DATA_DIR``
(each either the folder holding the files or a parent holding ``mnist/`` or
``fashion-mnist/``), the cache directory (``$DENDRINET_CACHE`` or
``~/.cache/dendrinet``, under ``mnist/`` or ``fashion-mnist/``) and the data set's
fallback folders from the manifest (``../shared/data/mnist`` next to the repository,
searched only when dendrinet runs from a source checkout, and
``/usr/share/datasets/fashion-mnist``). The first folder holding every needed file
wins; each file may be the official ``.gz`` archive or the decompressed idx file.

Every file is checked the first time it is used: idx structure (magic number,
dimensions, size), item count, label range and checksum (md5 and sha256 of the
official archive, or sha256 of the decompressed content for raw files and for
archives recompressed by a packager). The checksum result is remembered per
(path, size, modification time) for the life of the process.

Your own data
-------------
Instead of a name, :func:`load_dataset` takes the path of an existing file or folder
(a shipped name wins over a folder of the same name in the working directory; write
``./mnist`` for the folder):

``data.npz``
    A NumPy ``.npz`` file (``numpy.savez``) with four arrays ``X_train``, ``y_train``,
    ``X_test``, ``y_test``. ``X_*``: shape ``(n, n_pixels)`` or ``(n, rows, cols)``,
    finite pixel intensities. Scaling rule: if the file holds a scalar ``max_value``,
    every ``X_*`` is divided by it (values must lie in ``[0, max_value]``); otherwise
    ``uint8`` arrays are divided by 255, ``bool`` arrays are 0/1, float arrays must
    already lie in ``[0, 1]``, and other integer arrays are refused (store
    ``max_value``). ``y_*``: integer labels ``>= 0``, shape ``(n,)`` matching ``X_*``;
    the data set has ``max(label) + 1`` classes. Optional ``image_shape`` (two
    integers, rows and columns) for 2-D ``X_*``; otherwise a square image if
    ``n_pixels`` is a square number, else one row.
a folder of idx files
    ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``
    and ``t10k-labels-idx1-ubyte``, each raw or gzip-compressed (``.gz``), in the MNIST
    idx format: ``uint8`` images (divided by 255) or float images in ``[0, 1]``, integer
    labels ``>= 0``. No checksums (they are not official files).

Every problem (a missing array or file, a wrong shape, NaN, values out of range, float
or negative labels, image and label counts that differ) raises :class:`DatasetError`
naming the file and the array. The data set's ``name`` is the absolute path, which is
what a run folder records, so ``--resume`` and ``dendrinet evaluate`` find it again.

Sizes are checked before anything is read: the header of each ``.npz`` array (against
the sizes in the zip directory) and of each idx file, and the memory the examples used
need, raw and as float64, against this machine's (:mod:`dendrinet.limits`). With
``n_train``/``n_test`` only those first examples of an ``.npz`` are read (decompressed),
checked and converted. An idx file, raw or ``.gz`` (every file, official ones too), is
read as a stream up to the size its header declares: a file holding more or less than
that is refused.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import io
import math
import os
import tempfile
import tomllib
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from dendrinet import resources
from dendrinet.errors import DatasetError
from dendrinet.limits import check_memory, gigabytes

__all__ = [
    "Dataset",
    "available_datasets",
    "default_cache_dir",
    "load_dataset",
    "read_idx",
]

# The source checkout dendrinet runs from, or None when it is installed: relative
# fallback folders of the manifest are relative to it (and skipped without one).
REPO_ROOT = resources.checkout_root()
MANIFEST_NAME = "data/manifest.toml"  # how messages name the shipped manifest
DATA_DIR_ENV = "DENDRINET_DATA_DIR"
CACHE_ENV = "DENDRINET_CACHE"
DOWNLOAD_TIMEOUT_S = 60.0
N_CLASSES = 10

# The URL opener used for downloads; tests replace it (they never touch the network).
_urlopen = urllib.request.urlopen

# (resolved path, size in bytes, mtime in ns) of files whose checksum already matched.
_VERIFIED: set[tuple[str, int, int]] = set()

_GZIP_MAGIC = b"\x1f\x8b"
# idx type codes (third byte of the magic number); multi-byte types are big-endian.
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_DOWNLOAD_ERRORS = (OSError, http.client.HTTPException, ValueError)


# --------------------------------------------------------------------------- public


@dataclass(frozen=True)
class Dataset:
    """An image classification data set split into training and test examples.

    Attributes
    ----------
    name : str
        Data set name, as given to :func:`load_dataset`.
    X_train, X_test : numpy.ndarray
        float64, shape ``(n_examples, n_pixels)``, pixel intensities in [0, 1]
        (dimensionless; 1 = the format's maximum intensity), rows in file order.
    y_train, y_test : numpy.ndarray
        int64, shape ``(n_examples,)``, class labels ``0 .. n_classes - 1``.
    image_shape : tuple of int
        ``(rows, columns)`` of one image, in pixels; ``rows * columns == n_pixels``.
    n_classes : int
        Number of classes (10 for every bundled data set).
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    image_shape: tuple[int, int]
    n_classes: int = N_CLASSES

    def __post_init__(self) -> None:
        n_pixels = int(np.prod(self.image_shape))
        for split, X, y in (("train", self.X_train, self.y_train),
                            ("test", self.X_test, self.y_test)):
            if X.ndim != 2 or X.shape[1] != n_pixels:
                raise DatasetError(
                    f"dataset {self.name!r}: X_{split} has shape {X.shape}, expected "
                    f"(n, {n_pixels}) for images of shape {tuple(self.image_shape)}")
            if y.shape != (X.shape[0],):
                raise DatasetError(
                    f"dataset {self.name!r}: y_{split} has shape {y.shape}, expected "
                    f"({X.shape[0]},) to match X_{split}")

    @property
    def n_inputs(self) -> int:
        """Number of input pixels per image (``rows * columns``)."""
        return int(np.prod(self.image_shape))

    @property
    def n_train(self) -> int:
        """Number of training examples."""
        return int(self.X_train.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test examples."""
        return int(self.X_test.shape[0])


def available_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`, in manifest order.

    Returns
    -------
    list of str
        ``["digits", "mnist-10k", "mnist", "fashion-mnist"]`` with the bundled manifest.
        Whether the files of a data set are present is only known when it is loaded.
    """
    return list(_manifest())


def reads_data_files(name: str) -> bool:
    """Whether the named data set is read from data files found in a folder (``mnist``,
    ``mnist-10k``, ``fashion-mnist``: ``data_dir`` matters), not bundled with a package
    (``digits``). False for a name that is not in the manifest."""
    spec = _manifest().get(str(name).strip().lower())
    return spec is not None and spec["source"] != "sklearn"


def _env_data_dir() -> str | None:
    """``$DENDRINET_DATA_DIR``, None when unset or blank."""
    return os.environ.get(DATA_DIR_ENV, "").strip() or None


def first_data_dir(dataset, data_dir) -> str | None:
    """The absolute folder a named data set of idx files is looked for first
    (``data_dir``, else ``$DENDRINET_DATA_DIR``; :func:`load_dataset`), as a run's
    ``summary.json`` records it; None for other data (digits, a user's file, a Dataset)
    or the default search alone."""
    if not isinstance(dataset, str) or not reads_data_files(dataset):
        return None
    base = data_dir if data_dir is not None else _env_data_dir()
    return str(Path(base).expanduser().resolve()) if base is not None else None


def default_cache_dir() -> Path:
    """Folder where downloaded data sets are kept (outside git).

    Returns
    -------
    pathlib.Path
        ``$DENDRINET_CACHE`` if set, else ``~/.cache/dendrinet``.
    """
    env = os.environ.get(CACHE_ENV, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "dendrinet"


def load_dataset(name: str | os.PathLike, data_dir: str | os.PathLike | None = None,
                 n_train: int | None = None, n_test: int | None = None,
                 download: bool = True) -> Dataset:
    """Load a data set as float64 intensities in [0, 1] and int64 labels.

    Parameters
    ----------
    name : str or path-like
        One of :func:`available_datasets` (case-insensitive), or the path of your own
        data: an ``.npz`` file or a folder of idx files (rules in the module
        docstring, "Your own data").
    data_dir : str or path-like, optional
        Folder searched first for the idx files (or a parent holding ``mnist/`` or
        ``fashion-mnist/``). Must exist if given. Ignored for ``"digits"`` and for
        paths.
    n_train, n_test : int, optional
        Keep only the first ``n_train`` training and ``n_test`` test examples (file
        order); each must be an integer in ``1 .. available``. Default: all.
    download : bool
        If the files are not found, download them from the manifest's mirrors into
        the cache directory (:func:`default_cache_dir`), verifying the checksums.

    Returns
    -------
    Dataset

    Raises
    ------
    DatasetError
        Unknown name, bad ``n_train``/``n_test``, files missing (the message lists
        the folders searched and what to do), or a file that is corrupt (wrong magic
        number, wrong dimensions, truncated, bad checksum, labels outside 0..9,
        image and label counts that differ).
    """
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    if not isinstance(name, str):
        raise DatasetError(f"dataset name must be a string, got {name!r}")
    key = name.strip().lower()
    manifest = _manifest()
    if key not in manifest:
        path = _user_dataset_path(name)
        if path is None:
            raise DatasetError(
                f"unknown dataset {name!r}; available: {', '.join(manifest)}, or the path of "
                "an .npz file (X_train, y_train, X_test, y_test) or of a folder of idx files")
        return _load_user_dataset(path, n_train, n_test)
    spec = manifest[key]
    if spec["source"] == "sklearn":
        return _load_sklearn_digits(key, spec, n_train, n_test)
    return _load_idx_dataset(key, spec, manifest, data_dir, n_train, n_test, download)


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
    _, array = _read_idx_content(path)
    return array.astype(array.dtype.newbyteorder("="), copy=False)


# ---------------------------------------------------------------------- manifest


@lru_cache(maxsize=1)
def _manifest() -> dict[str, dict[str, Any]]:
    """Data set specifications from ``data/manifest.toml`` (shipped with the package,
    see :mod:`dendrinet.resources`), checked once."""
    try:
        document = tomllib.loads(resources.dataset_manifest())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DatasetError(f"cannot read the dataset manifest {MANIFEST_NAME}: {exc}") from None
    datasets = document.get("datasets")
    if not isinstance(datasets, dict) or not datasets:
        raise DatasetError(f"{MANIFEST_NAME}: no [datasets] tables")
    for name, spec in datasets.items():
        _check_manifest_entry(name, spec, datasets)
    return datasets


def _check_manifest_entry(name: str, spec: dict, datasets: dict) -> None:
    def require(table: dict, keys: tuple[str, ...], where: str) -> None:
        missing = [k for k in keys if k not in table]
        if missing:
            raise DatasetError(f"{MANIFEST_NAME}: {where} lacks {', '.join(missing)}")

    source = spec.get("source")
    where = f"datasets.{name}"
    if source == "sklearn":
        require(spec, ("image_shape", "max_value", "n_train", "n_test"), where)
    elif source == "idx":
        require(spec, ("image_shape", "max_value", "subdir", "files"), where)
        for role in ("train_images", "train_labels", "test_images", "test_labels"):
            require(spec["files"], (role,), f"{where}.files")
            require(spec["files"][role], ("name", "items", "md5", "raw_bytes"),
                    f"{where}.files.{role}")
    elif source == "idx-split":
        require(spec, ("files_from", "images", "labels", "n_train"), where)
        if datasets.get(spec["files_from"], {}).get("source") != "idx":
            raise DatasetError(f"{MANIFEST_NAME}: {where}.files_from must name an idx dataset")
    else:
        raise DatasetError(f"{MANIFEST_NAME}: {where}.source {source!r} is not "
                           "'sklearn', 'idx' or 'idx-split'")


# ------------------------------------------------------------------------ loaders


def _load_sklearn_digits(name: str, spec: dict, n_train, n_test) -> Dataset:
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise DatasetError(f"dataset {name!r} needs scikit-learn ({exc})") from None
    bunch = load_digits()
    images, labels = np.asarray(bunch.data), np.asarray(bunch.target)
    n_train_all, n_test_all = int(spec["n_train"]), int(spec["n_test"])
    if images.shape[0] != n_train_all + n_test_all:
        raise DatasetError(
            f"scikit-learn's digits have {images.shape[0]} images, the manifest "
            f"expects {n_train_all + n_test_all}")
    n_train = _subset_size(n_train, n_train_all, "n_train", name)
    n_test = _subset_size(n_test, n_test_all, "n_test", name)
    scale = float(spec["max_value"])
    return Dataset(
        name=name,
        X_train=images[:n_train] / scale,
        y_train=labels[:n_train].astype(np.int64),
        X_test=images[n_train_all:n_train_all + n_test] / scale,
        y_test=labels[n_train_all:n_train_all + n_test].astype(np.int64),
        image_shape=tuple(int(v) for v in spec["image_shape"]),
    )


def _load_idx_dataset(name, spec, manifest, data_dir, n_train, n_test, download) -> Dataset:
    if spec["source"] == "idx-split":
        parent_name = spec["files_from"]
        parent = manifest[parent_name]
        roles = (spec["images"], spec["labels"])
    else:
        parent_name, parent = name, spec
        roles = ("train_images", "train_labels", "test_images", "test_labels")
    file_specs = {role: parent["files"][role] for role in roles}
    image_shape = tuple(int(v) for v in parent["image_shape"])
    # Check sizes before touching any file, so a bad argument fails fast.
    if spec["source"] == "idx-split":
        total = int(file_specs[roles[0]]["items"])
        n_train_all = int(spec["n_train"])
        n_test_all = total - n_train_all
    else:
        n_train_all = int(file_specs["train_images"]["items"])
        n_test_all = int(file_specs["test_images"]["items"])
    n_train = _subset_size(n_train, n_train_all, "n_train", name)
    n_test = _subset_size(n_test, n_test_all, "n_test", name)

    paths = _locate_files(name, parent_name, parent, file_specs, data_dir, download)
    arrays = _read_checked_files(paths, file_specs, image_shape)

    scale = float(parent["max_value"])
    if spec["source"] == "idx-split":
        images, labels = arrays[roles[0]], arrays[roles[1]]
        train_x, train_y = images[:n_train], labels[:n_train]
        test_x = images[n_train_all:n_train_all + n_test]
        test_y = labels[n_train_all:n_train_all + n_test]
    else:
        train_x, train_y = arrays["train_images"][:n_train], arrays["train_labels"][:n_train]
        test_x, test_y = arrays["test_images"][:n_test], arrays["test_labels"][:n_test]
    return Dataset(
        name=name,
        X_train=_to_unit_interval(train_x, scale),
        y_train=train_y.astype(np.int64),
        X_test=_to_unit_interval(test_x, scale),
        y_test=test_y.astype(np.int64),
        image_shape=image_shape,
    )


def _to_unit_interval(images: np.ndarray, scale: float) -> np.ndarray:
    """uint8 images (n, rows, cols) -> float64 rows in [0, 1], in one pass."""
    flat = images.reshape(images.shape[0], -1)
    # Division (not multiplication by 1/scale) keeps the maximum exactly 1.0.
    return np.divide(flat, scale, dtype=np.float64)


def _subset_size(value, available: int, what: str, name: str) -> int:
    if value is None:
        return available
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise DatasetError(f"{what} must be a positive integer, got {value!r}")
    if not 1 <= value <= available:
        raise DatasetError(
            f"{what}={value} is out of range for dataset {name!r}: it has "
            f"{available} {what[2:]} examples (use 1..{available}, or None for all)")
    return int(value)


# --------------------------------------------------------------- your own data

USER_ARRAYS = ("X_train", "y_train", "X_test", "y_test")
# split -> (images file, labels file) of a folder of idx files, without ".gz"
USER_IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                  "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_ZIP_MAGIC = b"PK\x03\x04"


def _user_dataset_path(name: str) -> Path | None:
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
            f"{', '.join(_manifest())})")
    return None


def _load_user_dataset(path: Path, n_train, n_test) -> Dataset:
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
    rows = {"train": _subset_size(n_train, source.shapes["X_train"][0], "n_train", name),
            "test": _subset_size(n_test, source.shapes["X_test"][0], "n_test", name)}
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
                    "gzip data" if head[:2] == _GZIP_MAGIC else "not an .npz (zip) file")
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
                got = _read_into(fh, out)
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
    and this machine's memory first, :func:`_read_idx_content`)."""

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
            _, array = _read_idx_content(path)
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
    """Pixel array -> float64 rows in [0, 1] by the scaling rule of the module docstring."""
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


# ------------------------------------------------------------------ file search


def _candidate_dirs(spec: dict, data_dir) -> list[Path]:
    """Folders to search, in order (see the module docstring)."""
    subdir = spec["subdir"]
    dirs: list[Path] = []
    for base, origin in ((data_dir, "data_dir"),
                         (_env_data_dir(), f"${DATA_DIR_ENV}")):
        if base is None:
            continue
        base = Path(base).expanduser()
        if not base.is_dir():
            raise DatasetError(f"{origin} {base} is not an existing folder")
        dirs += [base, base / subdir]
    dirs.append(default_cache_dir() / subdir)
    for fallback in spec.get("fallback_dirs", []):
        fallback = Path(fallback).expanduser()
        if fallback.is_absolute():
            dirs.append(fallback.resolve())
        elif REPO_ROOT is not None:
            dirs.append((Path(REPO_ROOT) / fallback).resolve())
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def _find_in_dir(folder: Path, file_spec: dict) -> Path | None:
    """The .gz archive or, failing that, the raw idx file in ``folder``."""
    gz_name = file_spec["name"]
    for candidate in (folder / gz_name, folder / gz_name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def _locate_files(name, parent_name, parent, file_specs, data_dir, download) -> dict[str, Path]:
    dirs = _candidate_dirs(parent, data_dir)
    report = []
    for folder in dirs:
        found = {role: _find_in_dir(folder, fs) for role, fs in file_specs.items()}
        if all(found.values()):
            return found
        if not folder.is_dir():
            report.append(f"{folder} (no such folder)")
        else:
            lacking = [file_specs[r]["name"] for r, p in found.items() if p is None]
            report.append(f"{folder} (lacks {', '.join(lacking)})")

    wanted = ", ".join(fs["name"] for fs in file_specs.values())
    where = "; ".join(report)
    advice = (f"pass --data-dir DIR (data_dir=DIR) or set {DATA_DIR_ENV} to a folder "
              "holding these files (.gz or uncompressed)")
    urls = parent.get("urls", [])
    if not download or not urls:
        reason = "Downloading was not requested (download=False)" if urls else \
            "This dataset has no download mirror"
        raise DatasetError(
            f"dataset {name!r}: files not found: {wanted}. Looked in: {where}. "
            f"{reason}. To fix: {advice}"
            + (", or load with download=True on a machine with internet access." if urls else "."))

    target = default_cache_dir() / parent["subdir"]
    try:
        found = {}
        for role, fs in file_specs.items():
            found[role] = _find_in_dir(target, fs) or _download(fs, target, urls, parent_name)
        return found
    except _DownloadFailed as exc:
        raise DatasetError(
            f"dataset {name!r}: files not found: {wanted}. Looked in: {where}. "
            f"Download into {target} failed: {exc}. To fix: {advice}, or connect to the "
            "internet and try again.") from None


# ------------------------------------------------------------------- downloading


class _DownloadFailed(Exception):
    """Every mirror failed for one file (message: what each mirror answered)."""


def _download(file_spec: dict, target: Path, urls: list[str], dataset: str) -> Path:
    """Fetch one official archive into ``target``, trying each mirror in turn."""
    failures = []
    for base in urls:
        url = base.rstrip("/") + "/" + file_spec["name"]
        try:
            return _fetch_verified(url, target, file_spec)
        except _DOWNLOAD_ERRORS as exc:
            failures.append(f"{url}: {exc}")
    raise _DownloadFailed(f"{file_spec['name']} of {dataset}: " + "; ".join(failures))


def _fetch_verified(url: str, target: Path, file_spec: dict) -> Path:
    """Stream ``url`` to a temporary file, check size and checksums, rename atomically.

    Raises OSError (network, disk) or ValueError (size or checksum mismatch).
    """
    target.mkdir(parents=True, exist_ok=True)
    final = target / file_spec["name"]
    expected_bytes = file_spec.get("gz_bytes")
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    n_bytes = 0
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=target)
    try:
        with os.fdopen(fd, "wb") as out:
            with _urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                while chunk := response.read(1 << 20):
                    n_bytes += len(chunk)
                    if expected_bytes is not None and n_bytes > expected_bytes:
                        raise ValueError(f"more than the official {expected_bytes} bytes")
                    md5.update(chunk)
                    sha256.update(chunk)
                    out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if expected_bytes is not None and n_bytes != expected_bytes:
            raise ValueError(f"got {n_bytes} bytes, the official file has {expected_bytes}")
        if md5.hexdigest() != file_spec["md5"]:
            raise ValueError(f"checksum mismatch: md5 {md5.hexdigest()}, "
                             f"official {file_spec['md5']}")
        if "sha256" in file_spec and sha256.hexdigest() != file_spec["sha256"]:
            raise ValueError(f"checksum mismatch: sha256 {sha256.hexdigest()}, "
                             f"official {file_spec['sha256']}")
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, final)
        tmp_name = None
    finally:
        if tmp_name is not None:
            Path(tmp_name).unlink(missing_ok=True)
    _VERIFIED.add(_file_key(final))
    return final


# ------------------------------------------------------------- reading & checks


def _read_checked_files(paths: dict[str, Path], file_specs: dict[str, dict],
                        image_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Read each file, check structure, counts, labels and checksum (in that order,
    so that the message names the most specific problem)."""
    arrays, headers, archive_ok = {}, {}, {}
    for role, path in paths.items():
        fs = file_specs[role]
        _check_file_size(path, fs)
        data = _read_bytes(path)
        archive_ok[role], mismatch = (
            (True, None) if _file_key(path) in _VERIFIED else _check_archive(data, fs))
        headers[role], array = _read_idx_content(path, data, mismatch)
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
        _VERIFIED.add(_file_key(path))
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
    if data[:2] != _GZIP_MAGIC:
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
        return  # nothing known beyond structure; size was checked by _read_idx_content
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


def _file_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None


#: Bytes read from a stream at a time (a gzip stream decompresses only as much).
_CHUNK = 1 << 20


def _read_idx_content(path: Path, data: bytes | None = None,
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
        gz = source.read(2) == _GZIP_MAGIC
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


def _read_into(stream, array: np.ndarray) -> int:
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
    """:func:`_read_idx_content` from an open stream of idx bytes (``size``: their
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
    got = _read_into(stream, array)
    if got < data_bytes:
        raise mismatch("truncated", header_bytes + got)
    if stream.read(1):
        raise mismatch("has trailing bytes", "more (it decompresses to more than its "
                                             "header declares)")
    return head + rest, array
