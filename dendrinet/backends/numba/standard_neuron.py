"""The neuron update of the standard model: what the generated code replaces.

:func:`~dendrinet.backends.numba.dynamics.run_presentation` reaches a neuron's equations
only through the functions of a *neuron part* like this module, given to it as
first-class functions (:mod:`dendrinet.backends.numba.model_part`). These implement the
standard equations of :mod:`dendrinet.model.equations` by hand (exponential Euler
written as ``V <- V_inf + (V - V_inf) exp(-g dt)`` with precomputed constants, and a
projected apical potential where it is exact). A model with other equations gets a
module with the same functions generated from its Brian2 equations
(:mod:`dendrinet.backends.numba.codegen`); tests/test_codegen.py checks that the
generator, given the standard equations, reproduces these functions.

Arguments, for one layer's slice of the flat unit arrays: ``k`` the constants of the
step (:data:`~dendrinet.backends.numba.model_part.NeuronConstants`), ``V`` soma, ``bL,
bS`` basal
traces, ``c`` the previous step's summed presynaptic weight rows (added to ``bL, bS``
with factor ``k.J`` first, then cleared), ``aL, aS`` apical traces, ``b`` bias, ``X``
the model's extra state variables (all of them, one row each; none here) and ``lo, hi``
the slice's units in ``X`` (``X[r, lo:hi]`` is a contiguous view, so loops over it
vectorise; a 2-D slice ``X[:, lo:hi]`` would not).
"""
from __future__ import annotations

from numba import njit

from dendrinet.jit.numerics import JIT

#: Extra state variables per population kind (rows of ``State.X``).
EXTRA_STATE = {"hidden": (), "output": ()}
#: Parameters read from ``k.P`` (none: the constants of ``k`` are all it needs).
PARAMETERS = ()
#: Code of the model's own run on a spike (``[equations] hidden_on_spike``): none.
ON_SPIKE = False
#: Spikes of the model's own condition (``[equations] hidden_spike_condition``): none.
SPIKE_CONDITION = False


@njit(**JIT)
def update_hidden(k, V, bL, bS, c, aL, aS, b, X, lo, hi):
    """Exponential-Euler soma from the start-of-step traces, then the trace decays."""
    J, E, cB, cA, dL, dS = k.J, k.E_hid, k.cB, k.cA, k.dL, k.dS
    for j in range(V.size):
        v = J * c[j]
        L_ = bL[j] + v
        S_ = bS[j] + v
        c[j] = 0.0
        V_b = L_ - S_ + b[j]
        V_a = aL[j] - aS[j]
        V_inf = cB * V_b + cA * V_a
        V[j] = V_inf + (V[j] - V_inf) * E
        bL[j] = L_ * dL
        bS[j] = S_ * dS
        aL[j] *= dL
        aS[j] *= dS


@njit(**JIT)
def update_hidden_projected(k, V, bL, bS, c, b, X, lo, hi):
    """Hidden soma without apical input (``g_A = 0``, projected apical potential)."""
    J, E, cB, dL, dS = k.J, k.E_hid, k.cB, k.dL, k.dS
    for j in range(V.size):
        v = J * c[j]
        L_ = bL[j] + v
        S_ = bS[j] + v
        c[j] = 0.0
        V_inf = cB * (L_ - S_ + b[j])
        V[j] = V_inf + (V[j] - V_inf) * E
        bL[j] = L_ * dL
        bS[j] = S_ * dS


@njit(**JIT)
def update_output(k, V, bL, bS, c, b, X, lo, hi, drive, E, cD, teach, label):
    """Output soma; ``drive``, ``E``, ``cD`` hold the teaching input of this phase."""
    J, dL, dS = k.J, k.dL, k.dS
    for j in range(V.size):
        v = J * c[j]
        L_ = bL[j] + v
        S_ = bS[j] + v
        c[j] = 0.0
        V_inf = cD * (L_ - S_ + b[j]) + drive[j]
        V[j] = V_inf + (V[j] - V_inf) * E
        bL[j] = L_ * dL
        bS[j] = S_ * dS


@njit(**JIT)
def add_apical(k, acc, V, bL, bS, aL, aS, b, X, lo, hi):
    """``acc += V_a`` of every unit of the slice (explicit apical traces)."""
    for j in range(acc.size):
        acc[j] += aL[j] - aS[j]


@njit(**JIT)
def apical_row(k, out, V, bL, bS, aL, aS, b, X, lo, hi):
    """``V_a`` of every unit of the slice into ``out`` (for traces)."""
    for j in range(out.size):
        out[j] = aL[j] - aS[j]


@njit(**JIT)
def nothing_on_spikes(k, V, aL, aS, X, units, lo):
    """The standard neuron runs no code of its own on a spike and spikes only by its
    draw: the hooks ``on_spike_*`` (``units``: the spiking ids) and ``spike_condition_*``
    (``units``: the step's spikes), never called."""
    return


on_spike_hidden = on_spike_output = nothing_on_spikes
spike_condition_hidden = spike_condition_output = nothing_on_spikes
