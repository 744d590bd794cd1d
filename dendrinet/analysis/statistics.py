"""Spike-train statistics, one function each, returning ``quantities`` arrays.

Modelled on ``elephant.statistics``: each function takes spikes in any form
accepted by :func:`dendrinet.analysis.spiketrains.to_source` (a list of
``neo.SpikeTrain``, a ``(times_ms, node_ids)`` pair with ``t_start``,
``t_stop`` and ``n_nodes``, or a ``SpikeStore`` plus population name) and
returns a ``pq.Quantity`` in Hz, ms or dimensionless units.

Everything is computed in one pass over time-ordered chunks of spikes, so a
``SpikeStore`` is analysed with memory bounded by the chunk size (and by the
size of the result). Only :func:`isi` returns every interval and therefore
holds them all.

Windows are half-open: a spike at ``t_stop`` is not counted. Node ``i`` of a
list of trains is the ``i``-th train.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import quantities as pq

from dendrinet.errors import DendrinetError
from dendrinet.analysis.spiketrains import (DEFAULT_CHUNK_SIZE, SpikeSource, check_result_size,
                                            document_source, to_ms, to_source)

__all__ = [
    "mean_firing_rate", "population_rate", "spike_counts", "rates_by_presentation",
    "psth", "isi", "isi_histogram", "cv", "cv2", "fano_factor", "synchrony",
]


# --------------------------------------------------------------------- helpers
def _pair_with_previous(nodes: np.ndarray, values: np.ndarray, carry: np.ndarray):
    """Pair each value with the previous value of the same node.

    ``nodes``/``values`` must be ordered by (node, time). The first value of a
    node in this block is paired with ``carry[node]`` (its last value from
    earlier blocks, NaN if none); ``carry`` is then updated in place with each
    node's last value. Returns ``(nodes, previous, current)`` for the values
    that have a predecessor.
    """
    if nodes.size == 0:
        return nodes, values, values
    first = np.empty(nodes.size, dtype=bool)
    first[0] = True
    np.not_equal(nodes[1:], nodes[:-1], out=first[1:])
    previous = np.empty_like(values)
    previous[1:] = values[:-1]
    previous[first] = carry[nodes[first]]
    last = np.roll(first, -1)  # last value of each node's run in this block
    carry[nodes[last]] = values[last]
    has = ~np.isnan(previous)
    return nodes[has], previous[has], values[has]


def _isi_blocks(source: SpikeSource) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(node_ids, intervals_ms)`` per chunk, ordered by (node, time).

    Each neuron's last spike time is carried over chunk boundaries, so the
    intervals are exactly those of the whole spike train.
    """
    last_spike = np.full(source.n_nodes, np.nan)
    for times, node_ids in source.chunks():
        order = np.lexsort((times, node_ids))
        nodes, previous, current = _pair_with_previous(node_ids[order], times[order], last_spike)
        yield nodes, current - previous


def _bins(source: SpikeSource, bin_ms) -> tuple[int, np.ndarray, float]:
    """Number of whole bins in the window, their edges (ms) and the bin width (ms)."""
    bin_ms = to_ms(bin_ms, "bin_ms")
    if bin_ms <= 0:
        raise DendrinetError(f"bin_ms must be positive, got {bin_ms}")
    # Like Elephant's BinnedSpikeTrain, a trailing partial bin is dropped.
    n_bins = int(np.floor(source.duration_ms / bin_ms + 1e-9))
    if n_bins == 0:
        raise DendrinetError(
            f"bin_ms ({bin_ms} ms) is longer than the window ({source.duration_ms} ms)")
    return n_bins, source.t_start + bin_ms * np.arange(n_bins + 1), bin_ms


def _binned_blocks(source: SpikeSource, bin_ms):
    """Return (n_bins, edges, iterator of (bin_index, node_ids) per chunk)."""
    n_bins, edges, width = _bins(source, bin_ms)

    def blocks():
        for times, node_ids in source.chunks():
            index = np.floor((times - source.t_start) / width).astype(np.int64)
            keep = index < n_bins
            yield index[keep], node_ids[keep]

    return n_bins, edges, blocks()


def _binned_moments(source: SpikeSource, bin_ms):
    """Per-bin population counts and per-neuron sums of counts and squared counts.

    Streams: a (node, bin) count may straddle a chunk boundary only in the
    chunk's last bin (chunks are time-ordered), so those counts are held back
    and merged into the next chunk before being squared.

    Returns ``(edges_ms, population_counts (n_bins,), count_sum (n_nodes,),
    count_sq_sum (n_nodes,), n_bins)``.
    """
    n = source.n_nodes
    n_bins, edges, blocks = _binned_blocks(source, bin_ms)
    population_counts = np.zeros(n_bins)
    count_sum = np.zeros(n)
    count_sq_sum = np.zeros(n)
    open_keys = np.empty(0, dtype=np.int64)
    open_counts = np.empty(0)

    def close(keys, counts):
        count_sum[:] += np.bincount(keys % n, counts, n)
        count_sq_sum[:] += np.bincount(keys % n, counts**2, n)

    for index, node_ids in blocks:
        if index.size == 0:
            continue
        population_counts += np.bincount(index, minlength=n_bins)
        keys, inverse = np.unique(np.concatenate([open_keys, index * n + node_ids]),
                                  return_inverse=True)
        weights = np.concatenate([open_counts, np.ones(index.size)])
        counts = np.bincount(inverse, weights, minlength=keys.size)
        still_open = keys // n == index.max()
        close(keys[~still_open], counts[~still_open])
        open_keys, open_counts = keys[still_open], counts[still_open]
    close(open_keys, open_counts)
    return edges, population_counts, count_sum, count_sq_sum, n_bins


def _node_counts(source: SpikeSource) -> np.ndarray:
    counts = np.zeros(source.n_nodes)
    for _, node_ids in source.chunks():
        counts += np.bincount(node_ids, minlength=source.n_nodes)
    return counts


# --------------------------------------------------------------------- rates
@document_source
def mean_firing_rate(spikes, population=None, *, t_start=None, t_stop=None, n_nodes=None,
                     chunk_size=DEFAULT_CHUNK_SIZE) -> pq.Quantity:
    """Mean firing rate of each neuron over the window.

    Parameters
    ----------
    {source}

    Returns
    -------
    pq.Quantity, shape (n_nodes,), Hz
        Spike count divided by the window length (as
        ``elephant.statistics.mean_firing_rate`` of each train).
    """
    source = to_source(spikes, population, t_start=t_start, t_stop=t_stop, n_nodes=n_nodes,
                       chunk_size=chunk_size)
    return pq.Quantity(_node_counts(source) / (source.duration_ms / 1000.0), pq.Hz)


@document_source
def population_rate(spikes, population=None, *, t_start=None, t_stop=None, n_nodes=None,
                    chunk_size=DEFAULT_CHUNK_SIZE) -> pq.Quantity:
    """Mean firing rate of the population (all spikes / neurons / window length).

    Parameters
    ----------
    {source}

    Returns
    -------
    pq.Quantity, scalar, Hz
        Equals the mean over neurons of :func:`mean_firing_rate`; silent
        neurons count.
    """
    source = to_source(spikes, population, t_start=t_start, t_stop=t_stop, n_nodes=n_nodes,
                       chunk_size=chunk_size)
    total = _node_counts(source).sum()
    return pq.Quantity(total / source.n_nodes / (source.duration_ms / 1000.0), pq.Hz)


@document_source
def spike_counts(spikes, population=None, *, bin_ms, t_start=None, t_stop=None, n_nodes=None,
                 chunk_size=DEFAULT_CHUNK_SIZE) -> pq.Quantity:
    """Spike counts of each neuron in consecutive bins.

    Parameters
    ----------
    {source}
    bin_ms : float (ms) or time Quantity
        Bin width. Bins start at ``t_start``; a trailing partial bin is
        dropped, as in ``elephant.conversion.BinnedSpikeTrain``.

    Returns
    -------
    pq.Quantity, shape (n_nodes, n_bins), dimensionless
        Counts; bin ``k`` covers ``[t_start + k bin_ms, t_start + (k+1) bin_ms)``.
    """
    source = to_source(spikes, population, t_start=t_start, t_stop=t_stop, n_nodes=n_nodes,
                       chunk_size=chunk_size)
    n_bins, _, blocks = _binned_blocks(source, bin_ms)
    check_result_size(8.0 * source.n_nodes * n_bins,
                      f"spike_counts of {source.n_nodes} neurons x {n_bins} bins")
    counts = np.zeros(source.n_nodes * n_bins)
    for index, node_ids in blocks:
        counts += np.bincount(node_ids * n_bins + index, minlength=counts.size)
    return pq.Quantity(counts.reshape(source.n_nodes, n_bins), pq.dimensionless)


def _presentation_windows(presentations, phase):
    """Selected presentation windows (ms) and a mask of the selected rows."""
    try:
        starts = np.asarray(presentations["t_start"], dtype=np.float64)
        stops = np.asarray(presentations["t_stop"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as err:
        raise DendrinetError("presentations must map 't_start' and 't_stop' to arrays in ms") \
            from err
    if starts.ndim != 1 or starts.shape != stops.shape:
        raise DendrinetError("presentation t_start and t_stop must be 1-D arrays of equal length")
    selected = np.ones(starts.size, dtype=bool)
    if phase is not None:
        if "phase" not in presentations:
            raise DendrinetError("presentations have no 'phase' entry to select by")
        phases = np.array([p.decode() if isinstance(p, bytes) else p
                           for p in np.asarray(presentations["phase"]).tolist()], dtype=object)
        selected = phases == phase
        if not selected.any():
            raise DendrinetError(
                f"empty selection: no presentation has phase {phase!r}; "
                f"phases are {sorted(set(phases.tolist()))}")
    starts, stops = starts[selected], stops[selected]
    if starts.size == 0:
        raise DendrinetError("empty selection: there are no presentations")
    if np.isnan(starts).any() or np.isnan(stops).any():
        raise DendrinetError("presentation windows contain NaN")
    if (stops <= starts).any():
        raise DendrinetError("a presentation has t_stop <= t_start")
    return starts, stops, selected


def rates_by_presentation(spikes, population=None, *, presentations=None, phase=None,
                          n_nodes=None, chunk_size=DEFAULT_CHUNK_SIZE) -> pq.Quantity:
    """Firing rate of each neuron in each presentation window.

    Parameters
    ----------
    spikes : SpikeStore, list of neo.SpikeTrain, or (times_ms, node_ids) pair
        Spikes to analyse.
    population : str, optional
        Population name, required with a SpikeStore.
    presentations : dict of arrays, optional
        ``t_start`` and ``t_stop`` (ms) of each presentation, plus ``phase``
        when selecting by phase. Defaults to ``spikes.presentations`` of a store.
    phase : str, optional
        Keep only presentations of this phase (e.g. ``"forward"``).
    n_nodes : int, optional
        Number of neurons; required with a flat pair.
    chunk_size : int
        Spikes per block read from a SpikeStore.

    Returns
    -------
    pq.Quantity, shape (n_presentations, n_nodes), Hz
        Spike count in ``[t_start, t_stop)`` of each selected presentation
        divided by its duration. Windows must not overlap.
    """
    if presentations is None:
        presentations = getattr(spikes, "presentations", None)
        if presentations is None:
            raise DendrinetError("pass presentations (t_start, t_stop in ms) for non-store input")
    starts, stops, _ = _presentation_windows(presentations, phase)
    order = np.argsort(starts, kind="stable")
    sorted_starts, sorted_stops = starts[order], stops[order]
    # a rounding-level overlap (stop = start + duration in floating point) is a touch
    tolerance = 1e-9 * max(1.0, float(np.abs(sorted_stops).max()))
    if (sorted_starts[1:] < sorted_stops[:-1] - tolerance).any():
        raise DendrinetError("presentation windows overlap; select one phase")
    source = to_source(spikes, population, t_start=sorted_starts[0], t_stop=sorted_stops.max(),
                       n_nodes=n_nodes, chunk_size=chunk_size)
    check_result_size(16.0 * starts.size * source.n_nodes,
                      f"rates_by_presentation of {starts.size} presentations x "
                      f"{source.n_nodes} neurons")
    counts = np.zeros(starts.size * source.n_nodes)
    for times, node_ids in source.chunks():
        window = np.searchsorted(sorted_starts, times, side="right") - 1
        inside = times < sorted_stops[window]  # window >= 0 since times >= first start
        counts += np.bincount(window[inside] * source.n_nodes + node_ids[inside],
                              minlength=counts.size)
    counts = counts.reshape(starts.size, source.n_nodes)
    rates = np.empty_like(counts)
    rates[order] = counts / ((sorted_stops - sorted_starts)[:, None] / 1000.0)
    return pq.Quantity(rates, pq.Hz)


@document_source
def psth(spikes, population=None, *, bin_ms, t_start=None, t_stop=None, n_nodes=None,
         chunk_size=DEFAULT_CHUNK_SIZE) -> tuple[pq.Quantity, pq.Quantity]:
    """Peri-stimulus time histogram: population rate in consecutive bins.

    Parameters
    ----------
    {source}
    bin_ms : float (ms) or time Quantity
        Bin width; a trailing partial bin is dropped.

    Returns
    -------
    rate : pq.Quantity, shape (n_bins,), Hz
        Spikes in each bin / n_nodes / bin width, as
        ``elephant.statistics.time_histogram(..., output="rate")``.
    edges : pq.Quantity, shape (n_bins + 1,), ms
        Bin edges.
    """
    source = to_source(spikes, population, t_start=t_start, t_stop=t_stop, n_nodes=n_nodes,
                       chunk_size=chunk_size)
    n_bins, edges, blocks = _binned_blocks(source, bin_ms)
    counts = np.zeros(n_bins)
    for index, _ in blocks:
        counts += np.bincount(index, minlength=n_bins)
    width_s = (edges[1] - edges[0]) / 1000.0
    return pq.Quantity(counts / source.n_nodes / width_s, pq.Hz), pq.Quantity(edges, pq.ms)


# --------------------------------------------------------------------- intervals
@document_source
def isi(spikes, population=None, *, t_start=None, t_stop=None, n_nodes=None,
        chunk_size=DEFAULT_CHUNK_SIZE) -> list[pq.Quantity]:
    """Inter-spike intervals of each neuron, in time order.

    Parameters
    ----------
    {source}

    Returns
    -------
    list of pq.Quantity, length n_nodes, ms
        ``isi(...)[i]`` equals ``elephant.statistics.isi`` of the sorted spike
        times of neuron ``i`` (empty for fewer than 2 spikes). This holds every
        interval in memory; use :func:`isi_histogram` or :func:`cv` for large stores.
    """
    source = to_source(spikes, population, t_start=t_start, t_stop=t_stop, n_nodes=n_nodes,
                       chunk_size=chunk_size)
    # one Quantity per neuron (about 1 KB each), silent neurons included
    check_result_size(1000.0 * source.n_nodes, f"isi of {source.n_nodes} neurons (one array "
                      "each; isi_histogram or cv stream instead)")
    blocks = [(np.empty(0, np.int64), np.empty(0))] + list(_isi_blocks(source))
    nodes = np.concatenate([b[0] for b in blocks])
    intervals = np.concatenate([b[1] for b in blocks])
    # Blocks are in time order and each is ordered by (node, time): a stable sort
    # by node keeps each neuron's intervals in time order.
    order = np.argsort(nodes, kind="stable")
    splits = np.cumsum(np.bincount(nodes, minlength=source.n_nodes))[:-1]
    return [pq.Quantity(part, pq.ms) for part in np.split(intervals[order], splits)]


@document_source
def isi_histogram(spikes, population=None, *, bin_ms=1.0, max_ms=200.0, t_start=None,
                  t_stop=None, n_nodes=None, chunk_size=DEFAULT_CHUNK_SIZE
                  ) -> tuple[pq.Quantity, pq.Quantity]:
    """Histogram of the inter-spike intervals pooled over all neurons.

    Parameters
    ----------
    {source}
    bin_ms : float (ms) or time Quantity
        Histogram bin width.
    max_ms : float (ms) or time Quantity
        Upper edge of the last bin; longer intervals are not counted.

    Returns
    -------
    counts : pq.Quantity, shape (n_bins,), dimensionless
        Number of intervals in each bin ``[edges[k], edges[k+1])``.
    edges : pq.Quantity, shape (n_bins + 1,), ms
        Bin edges from 0 to ``max_ms``.
    """
    bin_ms, max_ms = to_ms(bin_ms, "bin_ms"), to_ms(max_ms, "max_ms")
    if bin_ms <= 0 or max_ms < bin_ms:
        raise DendrinetError(f"need 0 < bin_ms <= max_ms, got bin_ms={bin_ms}, max_ms={max_ms}")
    source = to_source(spikes, population, t_start=t_start, t_stop=t_stop, n_nodes=n_nodes,
                       chunk_size=chunk_size)
    n_bins = int(np.floor(max_ms / bin_ms + 1e-9))
    counts = np.zeros(n_bins)
    for _, intervals in _isi_blocks(source):
        index = np.floor(intervals / bin_ms).astype(np.int64)
        counts += np.bincount(index[index < n_bins], minlength=n_bins)
    return pq.Quantity(counts, pq.dimensionless), pq.Quantity(bin_ms * np.arange(n_bins + 1), pq.ms)


@document_source
def cv(spikes, population=None, *, t_start=None, t_stop=None, n_nodes=None,
       chunk_size=DEFAULT_CHUNK_SIZE) -> pq.Quantity:
    """Coefficient of variation of each neuron's inter-spike intervals.

    Parameters
    ----------
    {source}

    Returns
    -------
    pq.Quantity, shape (n_nodes,), dimensionless
        ``std(ISI) / mean(ISI)`` with the population standard deviation
        (``ddof=0``), equal to ``elephant.statistics.cv(elephant.statistics.isi(st))``.
        NaN for neurons with fewer than 2 intervals (Elephant returns 0 for
        exactly one interval, which carries no information about variability).

    Notes
    -----
    Streams: per-neuron interval count, mean and sum of squared deviations are
    merged chunk by chunk (Chan et al. 1979), which avoids the cancellation of
    ``sum(x**2) - n mean**2`` for near-regular trains.
    """
    source = to_source(spikes, population, t_start=t_start, t_stop=t_stop, n_nodes=n_nodes,
                       chunk_size=chunk_size)
    n = source.n_nodes
    count, mean, sq_dev = np.zeros(n), np.zeros(n), np.zeros(n)
    for nodes, intervals in _isi_blocks(source):
        block_count = np.bincount(nodes, minlength=n).astype(float)
        touched = block_count > 0
        block_mean = np.zeros(n)
        block_mean[touched] = np.bincount(nodes, intervals, n)[touched] / block_count[touched]
        block_sq_dev = np.bincount(nodes, (intervals - block_mean[nodes]) ** 2, n)
        total = count + block_count
        delta = block_mean - mean
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(touched, mean + delta * block_count / total, mean)
            merged = sq_dev + block_sq_dev + delta**2 * count * block_count / total
            sq_dev = np.where(touched, merged, sq_dev)
        count = total
    result = np.full(n, np.nan)
    enough = count >= 2
    result[enough] = np.sqrt(sq_dev[enough] / count[enough]) / mean[enough]
    return pq.Quantity(result, pq.dimensionless)


@document_source
def cv2(spikes, population=None, *, t_start=None, t_stop=None, n_nodes=None,
        chunk_size=DEFAULT_CHUNK_SIZE) -> pq.Quantity:
    """Local coefficient of variation CV2 of each neuron (Holt et al. 1996).

    ``CV2 = mean over i of 2 |I[i+1] - I[i]| / (I[i+1] + I[i])`` for
    consecutive inter-spike intervals ``I``.

    Parameters
    ----------
    {source}

    Returns
    -------
    pq.Quantity, shape (n_nodes,), dimensionless
        Equal to ``elephant.statistics.cv2(isi(st), with_nan=True)``: NaN for
        neurons with fewer than 2 intervals. About 1 for Poisson trains, 0 for
        regular ones, and insensitive to slow rate changes.
    """
    source = to_source(spikes, population, t_start=t_start, t_stop=t_stop, n_nodes=n_nodes,
                       chunk_size=chunk_size)
    n = source.n_nodes
    last_interval = np.full(n, np.nan)
    term_sum, term_count = np.zeros(n), np.zeros(n)
    for nodes, intervals in _isi_blocks(source):
        nodes, previous, current = _pair_with_previous(nodes, intervals, last_interval)
        term_sum += np.bincount(nodes, np.abs(current - previous) / (current + previous), n)
        term_count += np.bincount(nodes, minlength=n)
    result = np.full(n, np.nan)
    enough = term_count > 0
    result[enough] = 2.0 * term_sum[enough] / term_count[enough]
    return pq.Quantity(result, pq.dimensionless)


# --------------------------------------------------------------------- variability
@document_source
def fano_factor(spikes, population=None, *, bin_ms=None, t_start=None, t_stop=None,
                n_nodes=None, chunk_size=DEFAULT_CHUNK_SIZE) -> pq.Quantity:
    """Fano factor (variance / mean) of spike counts.

    Parameters
    ----------
    {source}
    bin_ms : float (ms) or time Quantity, optional
        Without it, one count per neuron over the whole window and one Fano
        factor across neurons (trains as trials), equal to
        ``elephant.statistics.fanofactor(trains)``. With it, one Fano factor
        per neuron across its counts in consecutive bins (bins as trials).

    Returns
    -------
    pq.Quantity, dimensionless
        Scalar without ``bin_ms``, shape (n_nodes,) with it. Variances use
        ``ddof=0`` as Elephant does. NaN where the mean count is 0. About 1
        for Poisson trains, 0 for regular ones.
    """
    source = to_source(spikes, population, t_start=t_start, t_stop=t_stop, n_nodes=n_nodes,
                       chunk_size=chunk_size)
    if bin_ms is None:
        counts = _node_counts(source)
        mean = counts.mean()
        return pq.Quantity(counts.var() / mean if mean > 0 else np.nan, pq.dimensionless)
    _, _, count_sum, count_sq_sum, n_bins = _binned_moments(source, bin_ms)
    mean = count_sum / n_bins
    variance = (n_bins * count_sq_sum - count_sum**2) / n_bins**2  # exact for integer counts
    result = np.full(source.n_nodes, np.nan)
    result[mean > 0] = variance[mean > 0] / mean[mean > 0]
    return pq.Quantity(result, pq.dimensionless)


@document_source
def synchrony(spikes, population=None, *, bin_ms=5.0, t_start=None, t_stop=None, n_nodes=None,
              chunk_size=DEFAULT_CHUNK_SIZE) -> pq.Quantity:
    """Golomb's population synchrony index chi, from binned spike counts.

    ``chi**2 = Var_t(mean_i c_i(t)) / mean_i Var_t(c_i(t))`` where ``c_i(t)``
    is the spike count of neuron ``i`` in bin ``t`` (Golomb & Rinzel 1993;
    Golomb 2007, Scholarpedia 2:1347), variances over bins with ``ddof=0``.

    Parameters
    ----------
    {source}
    bin_ms : float (ms) or time Quantity
        Bin width: the time scale on which spikes count as synchronous.

    Returns
    -------
    pq.Quantity, scalar, dimensionless
        1 when all neurons have the same binned counts, about
        ``1 / sqrt(n_nodes)`` for independent neurons; NaN if no neuron's
        count varies.
    """
    source = to_source(spikes, population, t_start=t_start, t_stop=t_stop, n_nodes=n_nodes,
                       chunk_size=chunk_size)
    _, population_counts, count_sum, count_sq_sum, n_bins = _binned_moments(source, bin_ms)
    population_variance = np.var(population_counts / source.n_nodes)
    neuron_variance = np.mean((n_bins * count_sq_sum - count_sum**2) / n_bins**2)
    if neuron_variance <= 0:
        return pq.Quantity(np.nan, pq.dimensionless)
    return pq.Quantity(np.sqrt(population_variance / neuron_variance), pq.dimensionless)
