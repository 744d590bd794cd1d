"""Validation of the arguments both engines take (labels, example indices, callbacks):
one clear :class:`~dendrinet.errors.DendrinetError` per problem."""
from __future__ import annotations

import numpy as np

from dendrinet.errors import DendrinetError


def check_labels(y, n: int, n_out: int, what: str = "y") -> np.ndarray:
    """``n`` integer class labels in ``[0, n_out)`` (whole floats accepted), as int64."""
    try:
        labels = np.asarray(y)
    except Exception:  # noqa: BLE001 - anything numpy cannot take is bad input
        raise DendrinetError(f"{what}: expected an array of integer labels") from None
    if labels.shape != (n,):
        raise DendrinetError(f"{what}: expected {n} labels (one per example), got shape "
                             f"{labels.shape}")
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise DendrinetError(f"{what}: labels must be whole numbers")
    elif labels.dtype.kind not in "iub":
        raise DendrinetError(f"{what}: labels must be integers, got dtype {labels.dtype}")
    labels = labels.astype(np.int64)
    if n and (labels.min() < 0 or labels.max() >= n_out):
        raise DendrinetError(f"{what}: labels must be in [0, {n_out}) for {n_out} output "
                             f"neurons, found {labels.min()}..{labels.max()}")
    return labels


def check_indices(idx, n: int, what: str) -> np.ndarray:
    """A 1-D array of example indices into ``n`` examples, as int64."""
    try:
        arr = np.asarray(idx)
    except Exception:  # noqa: BLE001
        raise DendrinetError(f"{what}: expected an array of example indices") from None
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise DendrinetError(f"{what}: expected a 1-D array of integer example indices")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise DendrinetError(f"{what}: indices must be in [0, {n}), found "
                             f"{arr.min()}..{arr.max()}")
    return arr


def check_callback(progress) -> None:
    """``progress`` is None or callable."""
    if progress is not None and not callable(progress):
        raise DendrinetError("progress must be a callable progress(n_done, n_correct) or None")
