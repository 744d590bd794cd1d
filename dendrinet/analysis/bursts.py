"""Events and bursts of spike trains: the code of burst-multiplexing neurons.

A pyramidal neuron can send two signals in one spike train (Naud & Sprekeler, PNAS 2018;
Payeur et al., Nature Neuroscience 2021, "burstprop"): *events*, the rate of which carries
its somatic (feedforward) drive, and *bursts*, whose share of the events (the burst
probability) carries its apical (feedback) drive. With the definition of those papers,
for a neuron's spikes in time order and an interval ``burst_isi`` (16 ms):

- a spike is an **event** when the neuron's previous spike lies ``burst_isi`` or more
  before it (or there is none in the window): the first spike of each group of spikes
  closer than ``burst_isi``;
- an event is a **burst** when the neuron's next spike follows it within less than
  ``burst_isi`` (the group has two spikes or more); a burst is counted once, at its
  event, however many spikes it has.

So ``burst probability = bursts / events`` is 0 for a neuron whose spikes are all
isolated, 1 for one that fires only in groups. For a Poisson train of rate ``r`` the
events have rate ``r exp(-r burst_isi)`` and the burst probability is
``1 - exp(-r burst_isi)`` (each interval is independent): at 20 Hz and 16 ms, 0.27.

Each function takes spikes in the forms of :mod:`dendrinet.analysis.statistics` (a list
of ``neo.SpikeTrain``, a ``(times_ms, node_ids)`` pair, or a ``SpikeStore`` and a
population, streamed chunk by chunk) and returns a ``quantities`` array, one value per
neuron. Spikes outside the window ``[t_start, t_stop)`` are not seen: a neuron's first
spike in the window is an event, and a group cut by ``t_stop`` after its first spike is
an event without a burst.
"""
from __future__ import annotations

import numpy as np
import quantities as pq

from dendrinet.analysis.spiketrains import (DEFAULT_CHUNK_SIZE, SpikeSource, document_source,
                                            to_ms, to_source)
from dendrinet.errors import DendrinetError

__all__ = ["event_rate", "burst_rate", "burst_probability", "spike_kinds", "BURST_ISI_MS",
           "SINGLE", "BURST_START", "IN_BURST"]

#: The interval that separates events from the spikes of a burst (Payeur et al. 2021), ms.
BURST_ISI_MS = 16.0
#: Kinds of spikes (:func:`spike_kinds`): an event that is not a burst, an event that is,
#: and a later spike of a burst.
SINGLE, BURST_START, IN_BURST = 0, 1, 2

#: The docstring entry of ``burst_isi``, after the spikes' (``{source}``).
_BURST_ISI_DOC = """burst_isi : float (ms) or time Quantity
        A spike closer than this to the neuron's previous spike belongs to that spike's
        burst (default 16 ms)."""


def _doc(func):
    func.__doc__ = func.__doc__.replace("{burst_isi}", _BURST_ISI_DOC)
    return document_source(func)


def _check_burst_isi(burst_isi) -> float:
    value = to_ms(burst_isi, "burst_isi")
    if not value > 0:
        raise DendrinetError(f"burst_isi must be a positive time, got {value} ms")
    return value


def _sorted_flags(nodes, t, burst_isi, last=None):
    """For spikes sorted by (node, time): which spike is its neuron's first here, and which
    is an event. ``last[node]``: the neuron's spike before these (default: none)."""
    first = np.empty(nodes.size, bool)
    first[0] = True
    np.not_equal(nodes[1:], nodes[:-1], out=first[1:])
    previous = np.empty_like(t)
    previous[1:] = t[:-1]
    previous[first] = -np.inf if last is None else last[nodes[first]]
    return first, t - previous >= burst_isi


def _counts(source: SpikeSource, burst_isi: float) -> tuple[np.ndarray, np.ndarray]:
    """Events and bursts of each neuron, in one pass over the time-ordered chunks.

    A spike that is *not* an event while its neuron's previous spike *is* one is the
    second spike of a burst, so counting those counts the bursts. Each neuron's last
    spike time, and whether it was an event, are carried across chunks."""
    n = source.n_nodes
    last = np.full(n, -np.inf)          # previous spike of each neuron (-inf: none yet)
    last_was_event = np.zeros(n, bool)
    events, bursts = np.zeros(n), np.zeros(n)
    for times, node_ids in source.chunks():
        if times.size == 0:
            continue
        order = np.lexsort((times, node_ids))
        nodes, t = node_ids[order], times[order]
        first, is_event = _sorted_flags(nodes, t, burst_isi, last)
        previous_event = np.empty_like(is_event)
        previous_event[1:] = is_event[:-1]
        previous_event[first] = last_was_event[nodes[first]]
        events += np.bincount(nodes, weights=is_event, minlength=n)
        bursts += np.bincount(nodes, weights=~is_event & previous_event, minlength=n)
        final = np.roll(first, -1)  # each neuron's last spike in this chunk
        last[nodes[final]] = t[final]
        last_was_event[nodes[final]] = is_event[final]
    return events, bursts


def _events_and_bursts(spikes, population, burst_isi, t_start, t_stop, n_nodes, chunk_size
                       ) -> tuple[np.ndarray, np.ndarray, float]:
    """Events and bursts of each neuron and the window's length in seconds."""
    burst_isi = _check_burst_isi(burst_isi)
    source = to_source(spikes, population, t_start=t_start, t_stop=t_stop, n_nodes=n_nodes,
                       chunk_size=chunk_size)
    events, bursts = _counts(source, burst_isi)
    return events, bursts, source.duration_ms / 1000.0


@_doc
def event_rate(spikes, population=None, *, burst_isi=BURST_ISI_MS, t_start=None, t_stop=None,
               n_nodes=None, chunk_size=DEFAULT_CHUNK_SIZE) -> pq.Quantity:
    """Rate of events (isolated spikes and first spikes of bursts) of each neuron.

    Parameters
    ----------
    {source}
    {burst_isi}

    Returns
    -------
    pq.Quantity, shape (n_nodes,), Hz
        Events divided by the window length; at most the firing rate.
    """
    events, _, seconds = _events_and_bursts(spikes, population, burst_isi, t_start, t_stop,
                                            n_nodes, chunk_size)
    return pq.Quantity(events / seconds, pq.Hz)


@_doc
def burst_rate(spikes, population=None, *, burst_isi=BURST_ISI_MS, t_start=None, t_stop=None,
               n_nodes=None, chunk_size=DEFAULT_CHUNK_SIZE) -> pq.Quantity:
    """Rate of bursts (events followed by another spike within ``burst_isi``) of each
    neuron.

    Parameters
    ----------
    {source}
    {burst_isi}

    Returns
    -------
    pq.Quantity, shape (n_nodes,), Hz
        Bursts divided by the window length; at most the event rate.
    """
    _, bursts, seconds = _events_and_bursts(spikes, population, burst_isi, t_start, t_stop,
                                            n_nodes, chunk_size)
    return pq.Quantity(bursts / seconds, pq.Hz)


@_doc
def burst_probability(spikes, population=None, *, burst_isi=BURST_ISI_MS, t_start=None,
                      t_stop=None, n_nodes=None, chunk_size=DEFAULT_CHUNK_SIZE) -> pq.Quantity:
    """Share of each neuron's events that are bursts (``burst_rate / event_rate``).

    Parameters
    ----------
    {source}
    {burst_isi}

    Returns
    -------
    pq.Quantity, shape (n_nodes,), dimensionless
        In [0, 1]; NaN for a neuron without events in the window.
    """
    events, bursts, _ = _events_and_bursts(spikes, population, burst_isi, t_start, t_stop,
                                           n_nodes, chunk_size)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(events > 0, bursts / np.maximum(events, 1), np.nan)
    return pq.Quantity(share, pq.dimensionless)


@_doc
def spike_kinds(times_ms, node_ids, *, burst_isi=BURST_ISI_MS) -> np.ndarray:
    """The kind of every spike: :data:`SINGLE` (an event that is not a burst),
    :data:`BURST_START` (an event that is a burst) or :data:`IN_BURST` (a later spike of
    a burst), by the definitions of this module.

    Parameters
    ----------
    times_ms : array, ms (or time Quantity)
        Spike times, in any order.
    node_ids : array of int
        Neuron of each spike.
    {burst_isi}

    Returns
    -------
    numpy.ndarray of int8, shape like ``times_ms``
        So that ``kinds != IN_BURST`` counts the events and ``kinds == BURST_START`` the
        bursts of :func:`event_rate` and :func:`burst_rate` on the same spikes.
    """
    burst_isi = _check_burst_isi(burst_isi)
    times = np.asarray(times_ms.rescale(pq.ms).magnitude if isinstance(times_ms, pq.Quantity)
                       else times_ms, dtype=np.float64)
    nodes = np.asarray(node_ids)
    if times.ndim != 1 or times.shape != nodes.shape:
        raise DendrinetError(f"times_ms and node_ids must be 1-D of equal length, got "
                             f"shapes {times.shape} and {nodes.shape}")
    if np.isnan(times).any():
        raise DendrinetError("times_ms contains NaN")
    kinds = np.empty(times.size, np.int8)
    if times.size == 0:
        return kinds
    order = np.lexsort((times, nodes))
    first, is_event = _sorted_flags(nodes[order], times[order], burst_isi)
    has_next = np.zeros(times.size, bool)  # the neuron's next spike is of the same group
    has_next[:-1] = ~first[1:] & ~is_event[1:]
    kinds[order] = np.where(is_event, np.where(has_next, BURST_START, SINGLE), IN_BURST)
    return kinds
