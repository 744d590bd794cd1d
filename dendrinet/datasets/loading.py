"""Loading a data set by name or path: the bundled digits, the named idx data sets
(found or downloaded, then checked), or a user's own file."""
from __future__ import annotations

import os

import numpy as np

from dendrinet.datasets.checks import read_checked_files
from dendrinet.datasets.folders import locate_files
from dendrinet.datasets.registry import Dataset, manifest_datasets, subset_size
from dendrinet.datasets.user_files import load_user_dataset, user_dataset_path
from dendrinet.errors import DatasetError

def load_dataset(name: str | os.PathLike, data_dir: str | os.PathLike | None = None,
                 n_train: int | None = None, n_test: int | None = None,
                 download: bool = True) -> Dataset:
    """Load a data set as float64 intensities in [0, 1] and int64 labels.

    Parameters
    ----------
    name : str or path-like
        One of :func:`available_datasets` (case-insensitive), or the path of your own
        data: an ``.npz`` file or a folder of idx files (rules in
        :mod:`dendrinet.datasets`, "Your own data").
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
    manifest = manifest_datasets()
    if key not in manifest:
        path = user_dataset_path(name)
        if path is None:
            raise DatasetError(
                f"unknown dataset {name!r}; available: {', '.join(manifest)}, or the path of "
                "an .npz file (X_train, y_train, X_test, y_test) or of a folder of idx files")
        return load_user_dataset(path, n_train, n_test)
    spec = manifest[key]
    if spec["source"] == "sklearn":
        return _load_sklearn_digits(key, spec, n_train, n_test)
    return _load_idx_dataset(key, spec, manifest, data_dir, n_train, n_test, download)


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
    n_train = subset_size(n_train, n_train_all, "n_train", name)
    n_test = subset_size(n_test, n_test_all, "n_test", name)
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
    n_train = subset_size(n_train, n_train_all, "n_train", name)
    n_test = subset_size(n_test, n_test_all, "n_test", name)

    paths = locate_files(name, parent_name, parent, file_specs, data_dir, download)
    arrays = read_checked_files(paths, file_specs, image_shape)

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
