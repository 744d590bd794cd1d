"""What each spike transmits through synapses that depress and facilitate.

The synapse of a model's ``[synapses]`` table (:class:`dendrinet.config.SynapseParams`;
Tsodyks & Markram): resources ``x`` (1 at rest) recover with ``tau_D``, utilisation ``u``
(``U`` at rest) relaxes back to ``U`` with ``tau_F``; a spike transmits the share
``u x / U`` of its weight (1 from rest), then ``x <- x (1 - u)``, ``u <- u + U (1 - u)``.
:func:`transmitted_share` runs that recursion on recorded spike trains, in continuous
time (the engines step it per ``dt``: the same numbers up to rounding), so that one can
see how depressing synapses pass a burst-multiplexing neuron's events and facilitating
ones its bursts (``examples/plot_burstprop.py``).
"""
from __future__ import annotations

import math

import numpy as np

from dendrinet.analysis.spiketrains import to_ms
from dendrinet.errors import DendrinetError

__all__ = ["transmitted_share"]


def _time_constant(value, name: str) -> float:
    value = to_ms(value, name)
    if value < 0:
        raise DendrinetError(f"{name} must be a time in ms >= 0 (0: none), got {value!r}")
    return value


def transmitted_share(times_ms, node_ids, *, U: float, tau_D: float = 0.0,
                      tau_F: float = 0.0) -> np.ndarray:
    """The share of its weight each spike transmits, ``u x / U`` (dimensionless, one
    value per spike, in the order given).

    Parameters
    ----------
    times_ms : array of float
        Spike times, ms (any order; each neuron's spikes are taken in time order).
    node_ids : array of int
        The neuron of each spike; each neuron's synapses start at rest.
    U : float
        Utilisation at rest, in (0, 1].
    tau_D, tau_F : float
        Recovery time of the resources (depression) and decay time of the facilitation,
        ms; 0: none.

    Returns
    -------
    numpy.ndarray
        ``share[k]`` for spike ``k``: 1 for a spike from rest, below 1 where the
        resources are used (depression), above 1 where the utilisation is raised
        (facilitation).
    """
    times = np.asarray(times_ms, dtype=np.float64)
    nodes = np.asarray(node_ids)
    if times.ndim != 1 or nodes.shape != times.shape:
        raise DendrinetError(f"times_ms and node_ids must be 1-D arrays of one length, got "
                             f"shapes {times.shape} and {nodes.shape}")
    if not np.all(np.isfinite(times)):
        raise DendrinetError("times_ms holds NaN or infinite spike times")
    if isinstance(U, bool) or not isinstance(U, (int, float)) or not 0 < U <= 1:
        raise DendrinetError(f"U must be a fraction in (0, 1], got {U!r}")
    tau_D = _time_constant(tau_D, "tau_D")
    tau_F = _time_constant(tau_F, "tau_F")
    share = np.empty(times.size)
    order = np.lexsort((times, nodes))
    previous_node, previous_t, dx, du = None, 0.0, 0.0, 0.0
    for k in order:
        node, t = nodes[k], times[k]
        if node != previous_node:  # a new neuron: its synapses at rest
            dx = du = 0.0
        else:
            gap = t - previous_t
            dx = dx * math.exp(-gap / tau_D) if tau_D > 0 else 0.0
            du = du * math.exp(-gap / tau_F) if tau_F > 0 else 0.0
        u, x = U + du, 1.0 - dx
        share[k] = u * x / U
        dx, du = 1.0 - x * (1.0 - u), du + U * (1.0 - u)
        previous_node, previous_t = node, t
    return share
