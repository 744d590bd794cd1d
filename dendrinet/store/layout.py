"""The layout of a spike store on disk (see :mod:`dendrinet.store`), and the checks of
its structure that a reader makes before trusting it: attributes, groups, column types
and shapes, and the values read from the columns."""
from __future__ import annotations

import h5py
import numpy as np

from dendrinet.errors import StoreError
from dendrinet.config.schedule import PHASE_NAMES as PHASES

FORMAT = "dendrinet-spikes"
FORMAT_VERSION = 1
#: Rows per HDF5 chunk of the spike datasets (128 KiB of float64): small enough that
#: rewriting the partly filled last chunk at each flush stays cheap. A writer never
#: holds this many unflushed spikes of one population (see :class:`SpikeStore`).
CHUNK_ROWS = 16384
#: Most neurons a population may declare (``n_nodes``): readers size per-neuron arrays
#: by it (8 bytes a neuron: 800 MB at this bound), so a store cannot ask for more.
MAX_NODES = 10 ** 8
PHASE_DTYPE = h5py.enum_dtype({name: code for code, name in enumerate(PHASES)}, basetype="i1")
PRESENTATION_COLUMNS = {"example_id": np.int64, "label": np.int64, "phase": PHASE_DTYPE,
                         "t_start": np.float64, "t_stop": np.float64}
PRESENTATION_ROW_BYTES = 33


def create_column(group: h5py.Group, name: str, dtype, chunk_rows: int) -> h5py.Dataset:
    """An empty, resizable, chunked and compressed 1-D column of ``group``."""
    return group.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype,
                                chunks=(chunk_rows,), compression="gzip",
                                compression_opts=4, shuffle=True)


def stored_rows(group: h5py.Group) -> int:
    """Rows of a population that both columns hold (after a crash the two columns may
    differ by the rows of the unfinished batch)."""
    return min(group["timestamps"].shape[0], group["node_ids"].shape[0])


def trim_columns(file: h5py.File) -> dict[str, int]:
    """Cut the columns of each population (and of the presentations) to their common
    length: after a crash they may differ by the rows of the unfinished batch."""
    trimmed = {}
    groups = [file["spikes"][name] for name in file["spikes"]] + [file["presentations"]]
    for group in groups:
        n = min(group[name].shape[0] for name in group)
        extra = sum(group[name].shape[0] - n for name in group)
        if extra:
            for name in group:
                group[name].resize((n,))
            trimmed[group.name] = extra
    return trimmed


def unequal_columns(file: h5py.File) -> bool:
    """Whether some group's columns differ in length (a batch a killed writer left)."""
    groups = [file["spikes"][name] for name in file["spikes"]] + [file["presentations"]]
    return any(len({group[name].shape[0] for name in group}) > 1 for group in groups)


# ------------------------------------------------------- what a reader trusts
def attribute(obj, key: str):
    """An attribute's value, None when it is missing or unreadable."""
    try:
        return obj.attrs.get(key)
    except (OSError, RuntimeError, TypeError, ValueError):
        return None


def as_int(value) -> int | None:
    """``value`` as an int when it is one integer (also a whole float), else None."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and value == int(value):
        return int(value)
    return None


def shown(value) -> str:
    """An attribute's value for a message (numpy scalars as plain numbers)."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def _as_real(value) -> float | None:
    """``value`` as a float when it is one real number, else None."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                    np.floating)):
        return None
    return float(value)


def _column(group: h5py.Group, key: str, kinds: str, where: str) -> h5py.Dataset:
    """Dataset ``key`` of ``group``, checked to be 1-D of a dtype kind in ``kinds``."""
    try:
        dataset = group.get(key)
    except (OSError, RuntimeError, KeyError, ValueError):
        dataset = None
    if not isinstance(dataset, h5py.Dataset):
        raise StoreError(f"{where}: the dataset {group.name}/{key} is missing")
    if dataset.ndim != 1 or dataset.dtype.kind not in kinds:
        kind = "integers" if kinds == "iu" else "floating-point numbers"
        raise StoreError(f"{where}: the dataset {dataset.name} holds {dataset.dtype} of shape "
                         f"{dataset.shape}; a spike store keeps a 1-D column of {kind} there")
    return dataset


def check_layout(file: h5py.File, where: str) -> None:
    """Check the structure of an open spike store (see :mod:`dendrinet.store`): the root
    attributes ``t_stop`` and ``dt``, the groups, the presentation columns and, per
    population, ``n_nodes`` (``1 .. MAX_NODES``) and its ``timestamps``/``node_ids``
    columns. The values in the columns are checked as they are read.

    Raises
    ------
    StoreError
        Naming ``where`` (the file) and the first problem found.
    """
    t_stop = _as_real(attribute(file, "t_stop"))
    if t_stop is None or not np.isfinite(t_stop) or t_stop < 0:
        raise StoreError(f"{where}: the root attribute t_stop is "
                         f"{shown(attribute(file, 't_stop'))}, "
                         "not a finite number of ms >= 0")
    dt = attribute(file, "dt")
    if dt is not None and not (_as_real(dt) is not None and np.isfinite(_as_real(dt))
                               and _as_real(dt) > 0):
        raise StoreError(f"{where}: the root attribute dt is {shown(dt)}, not a positive number "
                         "of ms")
    groups = {}
    for key in ("spikes", "presentations", "metadata"):
        try:
            groups[key] = file.get(key)
        except (OSError, RuntimeError, KeyError, ValueError):
            groups[key] = None
        if not isinstance(groups[key], h5py.Group):
            raise StoreError(f"{where}: the group /{key} is missing (a damaged or hand-edited "
                             "spike store)")
    for key, dtype in PRESENTATION_COLUMNS.items():
        kinds = "f" if np.dtype(dtype).kind == "f" else "iu"
        _column(groups["presentations"], key, kinds, where)
    for population in groups["spikes"]:
        group = groups["spikes"].get(population)
        if not isinstance(group, h5py.Group):
            raise StoreError(f"{where}: /spikes/{population} is not a population group")
        n_nodes = as_int(attribute(group, "n_nodes"))
        if n_nodes is None or not 1 <= n_nodes <= MAX_NODES:
            raise StoreError(f"{where}: population {population!r} declares n_nodes = "
                             f"{shown(attribute(group, 'n_nodes'))}; expected an integer in "
                             f"[1, {MAX_NODES}]")
        _column(group, "timestamps", "f", where)
        _column(group, "node_ids", "iu", where)


def check_read(where: str, what: str, times=None, ids=None, n_nodes: int | None = None,
                low: int = 0) -> None:
    """Check column values as read from the file: times finite, >= 0 (and, for spikes,
    non-decreasing), ids in ``[low, n_nodes)``."""
    if times is not None and times.size:
        if not np.isfinite(times).all() or times.min() < 0:
            bad = times[~np.isfinite(times) | (times < 0)][0]
            raise StoreError(f"{where}: {what}: a time of {bad} ms (times must be finite and "
                             ">= 0: a damaged or hand-edited store)")
        if ids is not None and (np.diff(times) < 0).any():
            raise StoreError(f"{where}: {what}: the times are not sorted (a damaged or "
                             "hand-edited store)")
    if ids is not None and ids.size:
        high = np.inf if n_nodes is None else n_nodes
        if ids.min() < low or ids.max() >= high:
            bad = ids[(ids < low) | (ids >= high)][0]
            bound = f"[{low}, {n_nodes})" if n_nodes is not None else f">= {low}"
            raise StoreError(f"{where}: {what}: the value {bad} is outside {bound} (a damaged "
                             "or hand-edited store)")
