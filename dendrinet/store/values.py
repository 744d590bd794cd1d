"""Checks of the values a caller gives a spike store (spike times, node ids, windows,
the time step, metadata): each wrong value is one StoreError naming it."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dendrinet.errors import StoreError

def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode_metadata(metadata: dict) -> dict[str, str]:
    """Metadata as one JSON string per key (the store's ``/metadata`` attributes)."""
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and k for k in metadata):
        raise StoreError("metadata must be a dict with non-empty string keys")
    encoded = {}
    for key, value in metadata.items():
        try:
            encoded[key] = json.dumps(value, default=_json_default)
        except (TypeError, ValueError) as err:
            raise StoreError(f"metadata {key!r} cannot be stored as JSON: {err}") from None
    return encoded


def check_dt(dt_ms) -> float:
    """The time step as a positive float (ms)."""
    dt_ms = float(float_array([dt_ms], "dt")[0])
    if dt_ms <= 0:
        raise StoreError(f"dt must be positive, got {dt_ms} ms")
    return dt_ms


def float_array(values, what: str) -> np.ndarray:
    """``values`` as a 1-D float64 array of finite times >= 0 (ms)."""
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


def id_array(values, n_nodes: int | None, what: str, low: int = 0) -> np.ndarray:
    """``values`` as a 1-D int64 array of ids in ``[low, n_nodes)`` (no upper bound
    when ``n_nodes`` is None)."""
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


def check_window(t_start, t_stop) -> None:
    """Check a window of times (ms): numbers, not NaN, >= 0, ``t_start <= t_stop``."""
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
