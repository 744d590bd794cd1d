"""Bernoulli spike trains of the input layer (pixels -> step-sorted input events), drawn
inside Numba from one random stream per input neuron."""
from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from dendrinet.jit.numerics import JIT
from dendrinet.jit.random_streams import uniform

# ------------------------------------------------------------- input spikes


@njit(**JIT)
def _bernoulli_flags(p, s0, s1, flag):
    """``flag[k] = u_k < p[k]`` with ``u_k`` the next number of stream ``k`` (vectorised)."""
    for k in range(p.size):
        flag[k] = uniform(s0, s1, k) < p[k]


@njit(**JIT)
def input_events(x, p_max, n_steps, rng0, rng1, active, p, s0, s1, flag, ptr, ids):
    """Bernoulli spike trains of the input layer for one example, as step-sorted events.

    Input ``i`` spikes in each step independently with probability ``p = p_max * x[i]``
    (``p_max = phi_max * dt``), drawn from its own stream: ``u < p``. Only inputs with
    ``p > 0`` draw (about a fifth of MNIST's pixels), all of them per step in one
    vectorised loop over their streams, gathered for the example.

    Parameters
    ----------
    x : float64 array (n_inputs,)
        Pixel intensities in [0, 1].
    p_max : float
        Spike probability per step of a pixel of intensity 1.
    n_steps : int
        Steps to fill.
    rng0, rng1 : uint64 arrays (n_inputs,)
        State of the input streams (advanced by ``n_steps`` for every input with
        ``p > 0``).
    active, p, s0, s1, flag : arrays (n_inputs,), scratch
        int64, float64, uint64, uint64, uint8.
    ptr : int64 array (n_steps + 1,), output
        Events of step ``t`` are ``ids[ptr[t]:ptr[t + 1]]``.
    ids : int64 array (capacity >= n_inputs * n_steps), output
        Input indices, ascending within each step.

    Returns
    -------
    int
        Number of input spikes.
    """
    m = 0
    for i in range(x.size):
        pi = p_max * x[i]
        if pi > 0.0:
            active[m] = i
            p[m] = pi
            s0[m] = rng0[i]
            s1[m] = rng1[i]
            m += 1
    n = 0
    ptr[0] = 0
    for t in range(n_steps):
        _bernoulli_flags(p[:m], s0[:m], s1[:m], flag[:m])
        for k in range(m):  # branch-free compaction
            ids[n] = active[k]
            n += flag[k]
        ptr[t + 1] = n
    for k in range(m):
        rng0[active[k]] = s0[k]
        rng1[active[k]] = s1[k]
    return n


#: Input-event buffers of one thread.
Events = namedtuple("Events", ["active", "p", "s0", "s1", "flag", "ptr", "ids"])


@njit(**JIT)
def new_events(n_inputs, max_steps):
    return Events(np.zeros(n_inputs, np.int64), np.zeros(n_inputs),
                  np.zeros(n_inputs, np.uint64), np.zeros(n_inputs, np.uint64),
                  np.zeros(n_inputs, np.uint8), np.zeros(max_steps + 2, np.int64),
                  np.zeros(n_inputs * max_steps + 1, np.int64))
