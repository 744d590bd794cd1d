"""One streaming form for every spike input the analysis functions accept.

Every statistic in :mod:`dendrinet.analysis.statistics` takes its spikes in
one of three forms and turns them into a :class:`SpikeSource` here:

1. a list of ``neo.SpikeTrain`` (any time unit; node ``i`` is the ``i``-th train,
   the window is the trains' common ``t_start``/``t_stop``);
2. a flat pair ``(times_ms, node_ids)`` of arrays, with explicit ``t_start``,
   ``t_stop`` (ms) and ``n_nodes`` -- what ``SpikeStore.spikes`` returns;
3. a ``SpikeStore`` plus a population name: read lazily with ``iter_chunks``,
   so memory stays bounded by the chunk size however many spikes the file holds.

A :class:`SpikeSource` yields ``(times_ms, node_ids)`` chunks restricted to the
half-open window ``[t_start, t_stop)``. Chunks come in time order (every spike
of one chunk precedes every spike of the next); inside a chunk spikes may be in
any order. In-memory inputs are one chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import neo
import numpy as np
import quantities as pq

from dendrinet.errors import DendrinetError

#: Spikes read per block from a SpikeStore (16 MB of times + 8 MB of ids).
DEFAULT_CHUNK_SIZE = 2_000_000

Chunk = tuple[np.ndarray, np.ndarray]

#: The parameters every statistic takes its spikes with, for its docstring's ``{source}``.
SOURCE_PARAMETERS = """spikes : list of neo.SpikeTrain, (times_ms, node_ids) pair, or SpikeStore
        Spikes to analyse (see :mod:`dendrinet.analysis.spiketrains`).
    population : str, optional
        Population name, required with a SpikeStore.
    t_start, t_stop : float (ms) or time Quantity, optional
        Analysis window ``[t_start, t_stop)``; required with a flat pair.
    n_nodes : int, optional
        Number of neurons; required with a flat pair.
    chunk_size : int
        Spikes per block read from a SpikeStore."""


def document_source(func):
    """Put :data:`SOURCE_PARAMETERS` in place of ``{source}`` in ``func``'s docstring."""
    func.__doc__ = func.__doc__.replace("{source}", SOURCE_PARAMETERS)
    return func


@dataclass(frozen=True)
class SpikeSource:
    """Spikes of ``n_nodes`` neurons in the window ``[t_start, t_stop)`` (ms).

    Attributes
    ----------
    t_start, t_stop : float
        Analysis window in ms; spikes at ``t_stop`` are excluded.
    n_nodes : int
        Number of neurons; node ids are ``0 .. n_nodes - 1``.
    lazy : bool
        True when the spikes are streamed from a store rather than held in memory.
    """

    t_start: float
    t_stop: float
    n_nodes: int
    read: Callable[[], Iterator[Chunk]]
    lazy: bool = False

    @property
    def duration_ms(self) -> float:
        """Window length in ms."""
        return self.t_stop - self.t_start

    def chunks(self) -> Iterator[Chunk]:
        """Yield ``(times_ms float64, node_ids int64)`` blocks inside the window."""
        for times, node_ids in self.read():
            keep = (times >= self.t_start) & (times < self.t_stop)
            yield times[keep], node_ids[keep]


def to_ms(value, name: str) -> float:
    """Return ``value`` (a number in ms or a time ``pq.Quantity``) as a float in ms."""
    if isinstance(value, pq.Quantity):
        try:
            value = value.rescale(pq.ms).magnitude
        except ValueError as err:
            raise DendrinetError(
                f"{name} must be a time, got units {value.dimensionality}") from err
    try:
        value = float(value)
    except (TypeError, ValueError) as err:
        raise DendrinetError(f"{name} must be a number in ms, got {value!r}") from err
    if not np.isfinite(value):
        raise DendrinetError(f"{name} must be finite, got {value}")
    return value


def _check_window(t_start: float, t_stop: float) -> None:
    if t_stop <= t_start:
        raise DendrinetError(f"t_stop ({t_stop} ms) must be greater than t_start ({t_start} ms)")


def check_result_size(n_bytes: float, what: str) -> None:
    """Refuse a result larger than this machine can hold
    (:func:`dendrinet.config.limits.check_memory`: "needs about X GB; this machine has Y GB")
    instead of a MemoryError after minutes. Results sized by a store's declared
    neurons (``n_nodes``) go through here."""
    from dendrinet.errors import ResourceError
    from dendrinet.config.limits import check_memory

    try:
        check_memory(n_bytes, what)
    except ResourceError as exc:
        raise ResourceError(f"{exc}: select fewer neurons, a shorter window or wider "
                            "bins") from None


def _check_n_nodes(n_nodes) -> int:
    if isinstance(n_nodes, bool) or not isinstance(n_nodes, (int, np.integer)):
        raise DendrinetError(f"n_nodes must be a positive integer, got {n_nodes!r}")
    if n_nodes <= 0:
        raise DendrinetError(f"empty selection: n_nodes must be positive, got {n_nodes}")
    return int(n_nodes)


def check_spike_arrays(times, node_ids, n_nodes: int) -> Chunk:
    """Validate one flat block of spikes; return it as (float64 ms, int64) arrays."""
    times = np.asarray(times)
    node_ids = np.asarray(node_ids)
    if times.ndim != 1 or node_ids.ndim != 1 or times.shape != node_ids.shape:
        raise DendrinetError(
            "spike times and node ids must be 1-D arrays of equal length, "
            f"got shapes {times.shape} and {node_ids.shape}")
    if not np.issubdtype(times.dtype, np.number) or np.iscomplexobj(times):
        raise DendrinetError(f"spike times must be real numbers in ms, got dtype {times.dtype}")
    times = times.astype(np.float64, copy=False)
    if np.isnan(times).any():
        raise DendrinetError(f"spike times contain {int(np.isnan(times).sum())} NaN value(s)")
    if node_ids.size and not np.issubdtype(node_ids.dtype, np.integer):
        raise DendrinetError(f"node ids must be integers, got dtype {node_ids.dtype}")
    node_ids = node_ids.astype(np.int64, copy=False)
    if node_ids.size and (node_ids.min() < 0 or node_ids.max() >= n_nodes):
        raise DendrinetError(
            f"node ids must lie in [0, {n_nodes}) (n_nodes={n_nodes}), "
            f"got range [{node_ids.min()}, {node_ids.max()}]")
    return times, node_ids


def _from_neo(trains, t_start, t_stop) -> SpikeSource:
    if len(trains) == 0:
        raise DendrinetError("empty selection: the list of spike trains is empty")
    starts = np.array([float(st.t_start.rescale(pq.ms)) for st in trains])
    stops = np.array([float(st.t_stop.rescale(pq.ms)) for st in trains])
    if t_start is None or t_stop is None:
        # One window for all trains, so that rates and counts compare like with like.
        if np.ptp(starts) > 1e-9 * max(1.0, np.abs(starts).max()) or \
                np.ptp(stops) > 1e-9 * max(1.0, np.abs(stops).max()):
            raise DendrinetError(
                "spike trains have different t_start/t_stop; pass t_start and t_stop (ms)")
    t_start = starts[0] if t_start is None else to_ms(t_start, "t_start")
    t_stop = stops[0] if t_stop is None else to_ms(t_stop, "t_stop")
    _check_window(t_start, t_stop)
    times = np.concatenate([st.times.rescale(pq.ms).magnitude.astype(np.float64) for st in trains])
    node_ids = np.repeat(np.arange(len(trains), dtype=np.int64), [len(st) for st in trains])
    times, node_ids = check_spike_arrays(times, node_ids, len(trains))
    return SpikeSource(float(t_start), float(t_stop), len(trains),
                       lambda: iter([(times, node_ids)]))


def _from_pair(pair, t_start, t_stop, n_nodes) -> SpikeSource:
    if t_start is None or t_stop is None or n_nodes is None:
        raise DendrinetError(
            "a (times_ms, node_ids) pair needs explicit t_start, t_stop (ms) and n_nodes")
    t_start, t_stop = to_ms(t_start, "t_start"), to_ms(t_stop, "t_stop")
    _check_window(t_start, t_stop)
    n_nodes = _check_n_nodes(n_nodes)
    times, node_ids = check_spike_arrays(pair[0], pair[1], n_nodes)
    return SpikeSource(t_start, t_stop, n_nodes, lambda: iter([(times, node_ids)]))


def _store_t_stop(store) -> float | None:
    value = getattr(store, "t_stop", None)
    return None if value is None or callable(value) else float(value)


def _from_store(store, population, t_start, t_stop, n_nodes, chunk_size) -> SpikeSource:
    if population is None:
        raise DendrinetError("a SpikeStore needs a population name")
    populations = list(store.populations)
    if population not in populations:
        raise DendrinetError(f"unknown population {population!r}; the store has {populations}")
    if n_nodes is not None:
        raise DendrinetError("n_nodes comes from the store; do not pass it with a SpikeStore")
    n_nodes = _check_n_nodes(store.n_nodes(population))
    t_start = 0.0 if t_start is None else to_ms(t_start, "t_start")
    if t_stop is None:
        t_stop = _store_t_stop(store)
        if t_stop is None:
            raise DendrinetError("the store records no t_stop; pass t_stop (ms)")
    t_stop = to_ms(t_stop, "t_stop")
    _check_window(t_start, t_stop)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) \
            or chunk_size <= 0:
        raise DendrinetError(f"chunk_size must be a positive integer, got {chunk_size!r}")

    def read() -> Iterator[Chunk]:
        for times, node_ids in store.iter_chunks(population, int(chunk_size)):
            times, node_ids = check_spike_arrays(times, node_ids, n_nodes)
            if times.size and times[0] >= t_stop:
                break  # chunks are sorted by time: nothing later is in the window
            if times.size and times[-1] < t_start:
                continue
            yield times, node_ids

    return SpikeSource(t_start, t_stop, n_nodes, read, lazy=True)


def to_source(spikes, population=None, *, t_start=None, t_stop=None, n_nodes=None,
              chunk_size: int = DEFAULT_CHUNK_SIZE) -> SpikeSource:
    """Normalise any accepted spike input into a :class:`SpikeSource`.

    Parameters
    ----------
    spikes : list of neo.SpikeTrain, (times_ms, node_ids) pair, or SpikeStore
        See the module docstring.
    population : str, optional
        Population name; required with a SpikeStore, refused otherwise.
    t_start, t_stop : float (ms) or time Quantity, optional
        Analysis window ``[t_start, t_stop)``. Required with a flat pair; for neo
        trains defaults to their common window; for a store defaults to
        ``0`` and the store's recorded ``t_stop``.
    n_nodes : int, optional
        Number of neurons; required with a flat pair (silent neurons count).
    chunk_size : int
        Spikes per block read from a store.

    Raises
    ------
    DendrinetError
        On any malformed input (unknown population, empty selection, NaN,
        ``t_stop <= t_start``, node ids out of range, ...).
    """
    if hasattr(spikes, "iter_chunks"):
        return _from_store(spikes, population, t_start, t_stop, n_nodes, chunk_size)
    if population is not None:
        raise DendrinetError("population only applies to a SpikeStore input")
    if isinstance(spikes, neo.SpikeTrain):
        spikes = [spikes]
    if isinstance(spikes, (list, tuple)) and len(spikes) and \
            all(isinstance(st, neo.SpikeTrain) for st in spikes):
        if n_nodes is not None and n_nodes != len(spikes):
            raise DendrinetError(f"n_nodes={n_nodes} but {len(spikes)} spike trains were given")
        return _from_neo(spikes, t_start, t_stop)
    if isinstance(spikes, (list, tuple)) and len(spikes) == 0:
        raise DendrinetError("empty selection: the list of spike trains is empty")
    if isinstance(spikes, (list, tuple)) and len(spikes) == 2:
        return _from_pair(spikes, t_start, t_stop, n_nodes)
    raise DendrinetError(
        "spikes must be a list of neo.SpikeTrain, a (times_ms, node_ids) pair or a SpikeStore, "
        f"got {type(spikes).__name__}")
