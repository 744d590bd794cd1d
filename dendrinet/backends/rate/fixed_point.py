"""Phases at their fixed point: the rate engine's fast path.

An input's rate is constant during a phase, so the mean field of
:mod:`dendrinet.backends.rate.rate_kernels` approaches a fixed point, geometrically: the
phase averages of a long enough phase are its fixed point's values. Here every phase is
replaced by that fixed point, found layer by layer instead of step by step:

1. a layer's pending input per step is constant, ``c = W^T p_below`` (the first layer's is
   :func:`~dendrinet.backends.rate.rate_kernels.input_drive`): one product per layer and
   phase;
2. its basal traces are set to their fixed point (``bL = J c dL / (1 - dL)`` after a
   step's decay, likewise ``bS``; the apical traces from ``Y^T p_out``);
3. its neuron part (the same first-class functions as the step-by-step engine: any model
   the fast engine runs) is iterated with that input until no potential or extra state
   variable changes by more than ``tol``, with Aitken's extrapolation (exact in one
   extrapolation for the standard soma, whose approach is geometric; samples further
   apart for a neuron with more modes, :func:`settle_layer`);
4. its probabilities ``p = p_max sig(V)`` and own traces ``x = J p d / (1 - d)`` follow.

With the apical potential acting on the soma (``g_A != 0`` or a model's own equations)
the layers are swept until the probabilities stop changing. The window sums are the
fixed point's values times the window's length; the input traces keep their exact closed
form (:func:`~dendrinet.backends.rate.rate_kernels.input_traces`), and the state left
after a phase is the stepped engine's at its fixed point.

What it leaves out is the transient: the stepped mean field reads its window after
``settle`` steps, when the approach to the fixed point is nearly over;
:func:`transient_share` bounds what is left of it in a window mean, and
:class:`~dendrinet.backends.rate.engine.RateEngine` takes fixed points only where that
share is small (docs/rate_engine.rst, "Fixed points").
"""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit

from dendrinet.backends.numba.model_part import NeuronConstants
from dendrinet.backends.rate.rate_kernels import (input_traces, matvec_t, teaching,
                                                  update_layer)
from dendrinet.jit.numerics import JIT, sigmoid

#: Default tolerance of a fixed point (per step: potentials, extra state variables).
FIXED_POINT_TOL = 1e-12
#: Sweeps over the layers at most, where the apical potential acts on the soma.
MAX_SWEEPS = 200
#: Steps one layer may take toward its fixed point in a phase: at least the phase's,
#: and this many (a slow extra state variable needs more than a phase).
MIN_MAX_STEPS = 5000
#: Largest spacing of the samples Aitken's extrapolation uses (see :func:`settle_layer`).
MAX_GAP = 64

#: Scratch of the fixed point: the layers' constant pending inputs ``c``, the apical
#: traces between two steps (``aL``, ``aS``), the potentials and extra state of the two
#: steps before (``v0``, ``v1``, ``x0``, ``x1``), the probabilities of the sweep before.
#: ``unsettled[0]`` counts the layers that reached no fixed point (the caller checks it).
SteadyScratch = namedtuple("SteadyScratch", ["c", "aL", "aS", "v0", "v1", "x0", "x1",
                                             "p_prev", "unsettled"])


@njit(**JIT)
def new_steady_scratch(n_units, n_x):
    return SteadyScratch(np.zeros(n_units), np.zeros(n_units), np.zeros(n_units),
                         np.zeros(n_units), np.zeros(n_units), np.zeros((n_x, n_units)),
                         np.zeros((n_x, n_units)), np.zeros(n_units), np.zeros(1, np.int64))


def transient_share(n_layers: int, dL: float, dS: float, E_hidden: float, E_output: float,
                    settle: int, n_window: int) -> float:
    """Share of a window mean that the transient left out by a fixed point can hold.

    The linearised chain of ``n_layers`` layers with unit gains, from rest, is stepped as
    the engine steps (a layer's input reaches it one step after the layer below moved; a
    PSP kernel of decays ``dL``, ``dS`` per step, then a soma of decay ``E_hidden``, the
    last layer's ``E_output``) toward its steady value 1; the result is the mean of its
    deviation over the window (``n_window`` steps after ``settle``). A deviation at the
    start of a phase smaller than the whole step (training phases start from the phase
    before) holds proportionally less."""
    if n_window <= 0:
        return math.inf
    T = settle + min(n_window, 4000)  # the deviation is negligible far beyond the settle
    u = np.ones(T)
    gain = 1.0 / (1.0 - dL) - 1.0 / (1.0 - dS)
    for layer in range(n_layers):
        E = E_output if layer == n_layers - 1 else E_hidden
        xL = xS = V = 0.0
        out = np.zeros(T)
        for t in range(1, T):  # the input of step t is the layer below's at t - 1
            L_ = xL + u[t - 1]
            S_ = xS + u[t - 1]
            V_b = (L_ - S_) / gain
            V = V_b + (V - V_b) * E
            xL, xS = L_ * dL, S_ * dS
            out[t] = V
        u = out
    return float(np.abs(1.0 - u[settle:]).sum() / n_window)


# ------------------------------------------------------------------ one layer


@njit(**JIT)
def _step_layer(net, consts, st, scr, fp, l, apical, drive, E_out, cD, teach, label):
    """One step of layer ``l``'s neuron part with its constant input ``fp.c`` (and the
    apical traces ``fp.aL``, ``fp.aS`` between steps)."""
    lo = net.uo[l]
    hi = net.uo[l + 1]
    c = scr.c_in if l == 0 else scr.c[lo:hi]
    for j in range(hi - lo):
        c[j] = fp.c[lo + j]
    if apical and l < net.sizes.size - 2:
        for j in range(lo, hi):
            st.aL[j] = fp.aL[j]
            st.aS[j] = fp.aS[j]
    update_layer(net, consts, st, l, c, apical, drive, E_out, cD, teach, label)


@njit(**JIT)
def _save(st, lo, hi, v, x):
    for j in range(lo, hi):
        v[j] = st.V[j]
    for r in range(st.X.shape[0]):
        for j in range(lo, hi):
            x[r, j] = st.X[r, j]


@njit(**JIT)
def _change(st, lo, hi, v, x):
    m = 0.0
    for j in range(lo, hi):
        m = max(m, abs(st.V[j] - v[j]))
    for r in range(st.X.shape[0]):
        for j in range(lo, hi):
            m = max(m, abs(st.X[r, j] - x[r, j]))
    return m


@njit(**JIT)
def _aitken(a0, a1, a2):
    """Aitken's extrapolation of ``a0, a1, a2`` (the limit of a geometric sequence), or
    ``a2`` where it is undefined."""
    d1 = a1 - a0
    d2 = a2 - a1
    den = d2 - d1
    if den == 0.0 or not math.isfinite(den):
        return a2
    a = a2 - d2 * d2 / den
    return a if math.isfinite(a) else a2


@njit(**JIT)
def _extrapolate(st, fp, lo, hi):
    for j in range(lo, hi):
        st.V[j] = _aitken(fp.v0[j], fp.v1[j], st.V[j])
    for r in range(st.X.shape[0]):
        for j in range(lo, hi):
            st.X[r, j] = _aitken(fp.x0[r, j], fp.x1[r, j], st.X[r, j])


@njit(**JIT)
def settle_layer(net, consts, st, scr, fp, l, apical, drive, E_out, cD, teach, label, tol,
                 max_steps):
    """Layer ``l`` at its fixed point for the constant input ``fp.c``: traces set, then
    the neuron part iterated until one step changes no potential or extra state variable
    by more than ``tol``, or ``max_steps`` steps were taken (then ``fp.unsettled[0]``
    grows by one). The state is left as after a step (what the window sums read).
    Returns the number of steps taken.

    Aitken's extrapolation from three states ``gap`` steps apart: with ``gap = 1`` it is
    exact in one go for the standard soma (one geometric mode: three steps in all); a
    neuron with more modes (an extra state variable) leaves the fastest behind by
    spacing the samples, so ``gap`` doubles after every extrapolation that did not end
    the iteration, up to :data:`MAX_GAP`."""
    lo = net.uo[l]
    hi = net.uo[l + 1]
    J, dL, dS = net.J, net.dL, net.dS
    fL = dL / (1.0 - dL)
    fS = dS / (1.0 - dS)
    for j in range(lo, hi):
        v = J * fp.c[j]
        st.bL[j] = v * fL
        st.bS[j] = v * fS
    steps = 0
    gap = 1
    while True:
        _save(st, lo, hi, fp.v0, fp.x0)
        _step_layer(net, consts, st, scr, fp, l, apical, drive, E_out, cD, teach, label)
        steps += 1
        if _change(st, lo, hi, fp.v0, fp.x0) <= tol:
            return steps
        if steps + 2 * gap > max_steps:
            break
        for _ in range(gap - 1):
            _step_layer(net, consts, st, scr, fp, l, apical, drive, E_out, cD, teach, label)
        _save(st, lo, hi, fp.v1, fp.x1)
        for _ in range(gap):
            _step_layer(net, consts, st, scr, fp, l, apical, drive, E_out, cD, teach, label)
        steps += 2 * gap - 1
        _extrapolate(st, fp, lo, hi)
        gap = min(2 * gap, MAX_GAP)
    fp.unsettled[0] += 1
    return steps


@njit(**JIT)
def _probabilities(net, st, scr, lo, hi):
    """``p = p_max sig(V)`` and the own traces at their fixed point (after a step's
    decay, as the window reads them)."""
    J, dL, dS = net.J, net.dL, net.dS
    fL = dL / (1.0 - dL)
    fS = dS / (1.0 - dS)
    for j in range(lo, hi):
        p = net.p_max * sigmoid(st.V[j])
        scr.p[j] = p
        st.xL[j] = J * p * fL
        st.xS[j] = J * p * fS


@njit(**JIT)
def _apical_input(net, scr, fp):
    """Apical traces between two steps, ``J Y^T p_out / (1 - d)``, into ``fp.aL, fp.aS``."""
    sizes, uo, yo = net.sizes, net.uo, net.yo
    L = sizes.size - 1
    n_hid = uo[L - 1]
    J, dL, dS = net.J, net.dL, net.dS
    ca = fp.v1  # free here: reused as the apical input's scratch
    for j in range(n_hid):
        ca[j] = 0.0
    for h in range(L - 1):
        matvec_t(net.Y[yo[h]:yo[h + 1]], scr.p[n_hid:], ca[uo[h]:uo[h + 1]])
    for j in range(n_hid):
        fp.aL[j] = J * ca[j] / (1.0 - dL)
        fp.aS[j] = J * ca[j] / (1.0 - dS)


@njit(**JIT)
def steady_presentation(net, st, scr, fp, acc, n_steps, settle, teach, label, apical, tol,
                        accumulate_inputs, reuse_hidden):
    """One presentation at its fixed point, the input prepared by
    :func:`~dendrinet.backends.rate.rate_kernels.input_drive` in ``scr``: window sums of
    ``V``, ``s``, ``phi``, ``V_a`` (explicit, with ``apical``) and the extra state
    variables ``X`` in ``acc`` as the fixed point's values times the ``n_steps - settle``
    window steps; the input traces' window sums (``accumulate_inputs``) and the state
    after the phase as the stepped engine leaves them. ``acc`` must be reset by the caller.

    ``reuse_hidden`` (a target phase right after the forward phase of the same input
    and weights, the apical potential not acting on the soma): the hidden layers are at
    their fixed point already, their probabilities still in ``scr.p`` (only the output's
    teaching changed), so only the output layer is settled; the hidden units' window
    sums of ``s`` then come from their traces between steps (a target phase reads
    none of them)."""
    sizes, uo, wo = net.sizes, net.uo, net.wo
    L = sizes.size - 1
    n_units = uo[L]
    n_hid = uo[L - 1]
    J, dL, dS = net.J, net.dL, net.dS
    consts = NeuronConstants(J, dL, dS, net.dt_s, net.E_hid, net.cB, net.cA, net.P, st.s0,
                             st.s1)
    drive = scr.drive
    E_out, cD = teaching(net, teach, label, drive)
    nw = n_steps - settle
    max_steps = max(n_steps, MIN_MAX_STEPS)
    if apical:
        for j in range(n_hid):
            fp.aL[j] = st.aL[j]  # the apical input of the phase before: the first guess
            fp.aS[j] = st.aS[j]
    first = 0
    if reuse_hidden and not apical:
        first = L - 1  # the hidden probabilities in scr.p are the forward phase's
    for sweep in range(MAX_SWEEPS if apical else 1):
        for l in range(first, L):
            lo = uo[l]
            hi = uo[l + 1]
            if l == 0:
                for j in range(hi - lo):
                    fp.c[j] = scr.drive_in[j]
            elif l == first:
                pass  # the forward phase's input, kept in fp.c
            else:
                for j in range(lo, hi):
                    fp.c[j] = 0.0
                matvec_t(net.W[wo[l]:wo[l + 1]], scr.p[uo[l - 1]:lo], fp.c[lo:hi])
            settle_layer(net, consts, st, scr, fp, l, apical, drive, E_out, cD, teach, label,
                         tol, max_steps)
            _probabilities(net, st, scr, lo, hi)
        if not apical:
            break
        _apical_input(net, scr, fp)
        change = 0.0
        for j in range(n_units):
            change = max(change, abs(scr.p[j] - fp.p_prev[j]))
            fp.p_prev[j] = scr.p[j]
        if sweep > 0 and change <= tol * net.p_max:
            break
    # window sums: the fixed point's values (the state as after a step)
    if nw > 0:
        phi_per_p = net.phi_max / net.p_max
        for j in range(n_units):
            acc.V[j] += nw * st.V[j]
            acc.s[j] += nw * (st.xL[j] - st.xS[j])
            acc.phi[j] += nw * phi_per_p * scr.p[j]
        if apical:
            net.add_apical(consts, acc.Va[:n_hid], st.V[:n_hid], st.bL[:n_hid],
                           st.bS[:n_hid], st.aL[:n_hid], st.aS[:n_hid], net.b[:n_hid], st.X,
                           0, n_hid)
            for j in range(n_hid):
                acc.Va[j] *= nw
        for r in range(st.X.shape[0]):
            for j in range(n_units):
                acc.X[r, j] += nw * st.X[r, j]
    # the state between two steps, as the stepped engine leaves it
    for j in range(n_units):
        st.bL[j] = J * fp.c[j] / (1.0 - dL)
        st.bS[j] = J * fp.c[j] / (1.0 - dS)
        st.xL[j] = J * scr.p[j] / (1.0 - dL)
        st.xS[j] = J * scr.p[j] / (1.0 - dS)
        scr.c[j] = 0.0  # (scr.p is kept: a target phase reuses the hidden layers')
    for j in range(scr.c_in.size):
        scr.c_in[j] = 0.0
    if apical:
        for j in range(n_hid):
            st.aL[j] = fp.aL[j]
            st.aS[j] = fp.aS[j]
    input_traces(st.xinL, st.xinS, scr.p_in, J, dL, dS, n_steps, settle, acc.s_in,
                 accumulate_inputs and nw > 0)
