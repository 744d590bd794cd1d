"""Export of a spike store to Neo: one ``neo.SpikeTrain`` per neuron, with a bound on
how many one call builds."""
from __future__ import annotations

import numpy as np

from dendrinet.errors import StoreError
from dendrinet.store.values import check_window, id_array

#: Most ``neo.SpikeTrain`` objects :meth:`~dendrinet.store.SpikeStore.to_neo` builds in
#: one call (each costs about 4 KB and 0.1 ms): select neurons with ``node_ids`` beyond it.
MAX_NEO_TRAINS = 100_000


def spike_trains(store, population: str, t_start: float | None = None,
                 t_stop: float | None = None, node_ids=None) -> list:
    """One ``neo.SpikeTrain`` per neuron of a population of ``store`` (an open
    :class:`~dendrinet.store.SpikeStore`), times in s, empty trains included; what
    :meth:`~dendrinet.store.SpikeStore.to_neo` returns.

    Parameters
    ----------
    t_start, t_stop : float, optional
        Window (ms); defaults to 0 and the store's ``t_stop``.
    node_ids : array_like of int, optional
        Neurons to export, in this order; default all ``0 .. n_nodes-1``. At most
        :data:`MAX_NEO_TRAINS` (100,000) neurons per call: a larger population
        needs a selection, e.g. the neurons that spiked,
        ``np.unique(store.spikes(population)[1])``.

    Returns
    -------
    list of neo.SpikeTrain
        Times in s, ``t_start``/``t_stop`` the window in s; annotations
        ``population`` and ``node_id``.
    """
    n_nodes = store.n_nodes(population)
    count = n_nodes if node_ids is None else np.size(node_ids)
    if count > MAX_NEO_TRAINS:  # one Python object per neuron: refuse before building
        what = (f"population {population!r} has {n_nodes} neurons" if node_ids is None
                else f"{count} neurons were selected")
        raise StoreError(f"{str(store.path)!r}: to_neo makes one neo.SpikeTrain per neuron "
                         f"(about 4 KB each) and "
                         f"{what}, over the limit of {MAX_NEO_TRAINS}: pass node_ids= with "
                         f"at most {MAX_NEO_TRAINS} neurons, e.g. those that spiked: "
                         f"np.unique(store.spikes({population!r})[1])")
    import neo  # slow import, needed only here

    nodes = np.arange(n_nodes) if node_ids is None else id_array(
        node_ids, n_nodes, f"selected node ids of {population!r}")
    times, ids = store.spikes(population, t_start, t_stop, None if node_ids is None else nodes)
    start = 0.0 if t_start is None else float(t_start)
    stop = store.t_stop if t_stop is None else float(t_stop)
    check_window(start, stop)
    order = np.argsort(ids, kind="stable")  # stable: times stay sorted per neuron
    times_s, ids = times[order] / 1000.0, ids[order]
    lows = np.searchsorted(ids, nodes, "left")
    highs = np.searchsorted(ids, nodes, "right")
    return [neo.SpikeTrain(times_s[lo:hi], t_stop=stop / 1000.0, units="s",
                           t_start=start / 1000.0, name=f"{population}[{node}]",
                           population=population, node_id=int(node))
            for node, lo, hi in zip(nodes, lows, highs)]
