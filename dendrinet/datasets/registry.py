"""The data sets dendrinet knows by name (``data/manifest.toml``, checked once) and
what a loaded data set is (:class:`Dataset`)."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from dendrinet import resources
from dendrinet.errors import DatasetError

MANIFEST_NAME = "data/manifest.toml"  # how messages name the shipped manifest
N_CLASSES = 10


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
    return list(manifest_datasets())


def reads_data_files(name: str) -> bool:
    """Whether the named data set is read from data files found in a folder (``mnist``,
    ``mnist-10k``, ``fashion-mnist``: ``data_dir`` matters), not bundled with a package
    (``digits``). False for a name that is not in the manifest."""
    spec = manifest_datasets().get(str(name).strip().lower())
    return spec is not None and spec["source"] != "sklearn"


# ---------------------------------------------------------------------- manifest


@lru_cache(maxsize=1)
def manifest_datasets() -> dict[str, dict[str, Any]]:
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


def subset_size(value, available: int, what: str, name: str) -> int:
    """The number of examples to keep: ``value`` checked to be in ``1 .. available``
    (None: all)."""
    if value is None:
        return available
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise DatasetError(f"{what} must be a positive integer, got {value!r}")
    if not 1 <= value <= available:
        raise DatasetError(
            f"{what}={value} is out of range for dataset {name!r}: it has "
            f"{available} {what[2:]} examples (use 1..{available}, or None for all)")
    return int(value)
