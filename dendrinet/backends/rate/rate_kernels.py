"""The mean-field step: the discrete-time network of docs/design.md with every Bernoulli
spike replaced by its probability.

:func:`rate_presentation` is :func:`dendrinet.backends.numba.dynamics.run_presentation`
with expectations in place of spikes, in the same order within a step:

1. state update of every layer through the model's neuron part (the same first-class
   functions of the ``Net``: any model the fast engine runs, extra state variables
   included), then the own traces ``x <- (x + J p) d`` with last step's probabilities
   ``p`` in place of its spikes;
2. window sums of ``V``, ``V_a``, ``phi_max sig(V)``, ``xL - xS`` from the updated state;
3. "spikes": the probability ``p = p_max sig(V)`` of every unit (``p_max = phi_max dt``);
4. propagation: the pending input of a layer is ``W^T p_pre``, the expectation of the
   sum of the weight rows of its spiking inputs (added to ``bL, bS`` with factor ``J``
   by the next step's update); the apical traces get ``J Y^T p_out`` at once.

An input's probability ``p_in = p_max x`` is constant during a presentation, so the
input layer's pending input ``W_0^T p_in`` is one matrix-vector product per example
(:func:`input_drive`), copied into the pending sum every step. The input traces act on
nothing; their window means are a closed form (:func:`input_traces`): with ``z`` the
trace after the previous presentation, the value read in step ``t`` is
``z d^(t+1) + J p_in (d + ... + d^t)``.

Everything linear in the spikes (the traces, the basal potential ``V_b``, the soma of the
standard hidden neuron) therefore equals the spiking engine's expectation exactly for the
first hidden layer; above it the rate engine propagates ``sig(E[V])`` where the spiking
network's mean is ``E[sig(V)]`` (tests/test_rate_engine.py measures the difference).
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from dendrinet.backends.numba.dynamics import (ACC_PHI_ALL, ACC_S, ACC_V, ACC_VA, ACC_X, APICAL,
                                               FLUSH_EVERY, STP_DEPRESSION, STP_FACILITATION,
                                               STP_NONE, TINY, TRACES, stp_decay, flush_tiny,
                                               reset_acc, reset_state, store_means)
from dendrinet.backends.numba.model_part import NeuronConstants
from dendrinet.jit.numerics import JIT, sigmoid

#: Scratch arrays of one simulation thread: sigmoids and probabilities of the units
#: (``p``: last step's, the "spikes" of the mean field), pending inputs (``c`` of the
#: layers above the first, ``ca`` apical, ``c_in`` of the first), the teaching drive,
#: the input probabilities ``p_in`` and the first layer's input ``drive_in = W_0^T p_in``.
RateScratch = namedtuple("RateScratch", ["p", "c", "ca", "drive", "c_in", "p_in",
                                         "drive_in", "WT", "prev", "prevX", "q"])

#: Steps between two checks for a fixed point (see :func:`rate_presentation`).
STEADY_EVERY = 8
#: State variables compared by the fixed-point check.
_N_COMPARED = 9


@njit(**JIT)
def new_rate_scratch(n_inputs, n_units, n_first, n_out, n_weights, n_x):
    """Scratch for a network with ``n_weights`` weights (``WT`` holds the transposes of
    the weight matrices above the first: their products per step are dot products) and
    ``n_x`` extra state variables; ``prev``, ``prevX``: the state of the step before,
    for the fixed-point check."""
    return RateScratch(np.zeros(n_units), np.zeros(n_units), np.zeros(n_units),
                       np.zeros(n_out), np.zeros(n_first), np.zeros(n_inputs),
                       np.zeros(n_first), np.zeros(n_weights - n_inputs * n_first),
                       np.zeros((_N_COMPARED, n_units)), np.zeros((n_x, n_units)),
                       np.zeros(n_units))


@njit(**JIT)
def _state_rows(st):
    return (st.V, st.bL, st.bS, st.aL, st.aS, st.xL, st.xS, st.stp_dx, st.stp_du)


@njit(**JIT)
def _snapshot(st, scr):
    rows = _state_rows(st)
    for r in range(_N_COMPARED):
        scr.prev[r, :] = rows[r]
    scr.prevX[:, :] = st.X


@njit(**JIT)
def _max_change(a, b):
    m = 0.0
    for j in range(a.size):
        m = max(m, abs(a[j] - b[j]))
    return m


@njit(**JIT)
def _is_steady(st, scr, tol):
    """Whether no state variable changed by more than ``tol`` since :func:`_snapshot`."""
    rows = _state_rows(st)
    for r in range(_N_COMPARED):
        if _max_change(rows[r], scr.prev[r]) > tol:
            return False
    for r in range(st.X.shape[0]):
        if _max_change(st.X[r], scr.prevX[r]) > tol:
            return False
    return True


@njit(**JIT)
def transpose_upper(net, WT):
    """The weight matrices above the first, transposed, into ``WT`` (layer ``l``'s at
    ``wo[l] - wo[1]``): rewritten whenever the weights changed."""
    sizes, wo = net.sizes, net.wo
    base = wo[1]
    for l in range(1, sizes.size - 1):
        m = sizes[l]
        n = sizes[l + 1]
        W = net.W[wo[l]:wo[l + 1]]
        T = WT[wo[l] - base:wo[l + 1] - base]
        for i in range(m):
            for k in range(n):
                T[k * m + i] = W[i * n + k]


# ------------------------------------------------------------------- loops


@njit(**JIT)
def _decay_jump_rates(xL, xS, p, J, dL, dS, V, p_max):
    """Own traces: last step's jump ``J p`` (expected), then this step's decay; then the
    new probabilities ``p = p_max sig(V)`` (one pass over the arrays)."""
    for j in range(xL.size):
        jump = J * p[j]
        xL[j] = (xL[j] + jump) * dL
        xS[j] = (xS[j] + jump) * dS
        p[j] = p_max * sigmoid(V[j])


@njit(**JIT)
def _add(acc, x):
    for j in range(acc.size):
        acc[j] += x[j]


@njit(**JIT)
def _add_scaled(acc, x, a):
    for j in range(acc.size):
        acc[j] += a * x[j]


@njit(**JIT)
def _add_diff(acc, L_, S_):
    for j in range(acc.size):
        acc[j] += L_[j] - S_[j]


@njit(**JIT)
def _decay_jump(xL, xS, p, J, dL, dS):
    """Own traces: last step's jump ``J p`` (expected), then this step's decay."""
    for j in range(xL.size):
        jump = J * p[j]
        xL[j] = (xL[j] + jump) * dL
        xS[j] = (xS[j] + jump) * dS


@njit(**JIT)
def _apply_pending(L_, S_, c, J):
    for j in range(c.size):
        v = J * c[j]
        L_[j] += v
        S_[j] += v
        c[j] = 0.0


@njit(**{**JIT, "fastmath": {"contract", "reassoc"}})
def _dots(T, p, c):
    """``c += T p`` for ``T`` flat, ``c.size`` rows of ``p.size`` columns: dot products,
    vectorised (``reassoc`` lets LLVM sum in several lanes: the order of the additions
    changes, by rounding only; 10x faster than in order)."""
    m = p.size
    for k in range(c.size):
        row = T[k * m:(k + 1) * m]
        a = 0.0
        for i in range(m):
            a += row[i] * p[i]
        c[k] += a


@njit(**JIT)
def matvec_t(M, p, c):
    """``c += M^T p`` for ``M`` flat, ``p.size`` rows of ``c.size`` columns."""
    n = c.size
    for i in range(p.size):
        a = p[i]
        row = M[i * n:(i + 1) * n]
        for k in range(n):
            c[k] += a * row[k]


@njit(**JIT)
def stp_expected(mode, U, p, dx, du, q):
    """Short-term plasticity in the mean field: what the units send, ``q = p u x / U``
    (their probability times the share a spike would transmit), then their synapses'
    state after the step's expected spike: ``dx += p u x``, ``du += p U (1 - u)`` (the
    spiking engine's ``x <- x (1 - u)``, ``u <- u + U (1 - u)`` with probability ``p``;
    :func:`dendrinet.backends.numba.dynamics.stp_spikes`)."""
    for j in range(p.size):
        pj = p[j]
        if mode == STP_DEPRESSION:
            x = 1.0 - dx[j]
            q[j] = pj * x
            dx[j] += pj * x * U
        elif mode == STP_FACILITATION:
            u = U + du[j]
            q[j] = pj * (u / U)
            du[j] += pj * U * (1.0 - u)
        else:
            u = U + du[j]
            x = 1.0 - dx[j]
            q[j] = pj * (u * x / U)
            dx[j] += pj * u * x
            du[j] += pj * U * (1.0 - u)


@njit(**JIT)
def teaching(net, teach, label, drive):
    """The output's input in this phase: the teaching ``drive`` (written) and the soma's
    ``E_out``, ``cD`` (returned), taught toward ``label`` or free."""
    for k in range(drive.size):
        drive[k] = 0.0 if not teach else net.drive_E if k == label else net.drive_I
    if teach:
        return net.E_teach, net.cD_teach
    return net.E_free, net.cD_free


@njit(**JIT)
def update_layer(net, consts, st, l, c, apical, drive, E_out, cD, teach, label):
    """One step of layer ``l``'s neuron part: the hook for its kind (hidden with explicit
    or projected apical potential, output with this phase's teaching ``drive``, ``E_out``,
    ``cD``), its pending input ``c`` (``scr.c_in`` for the first layer, else the layer's
    slice of ``scr.c``) added and cleared."""
    uo = net.uo
    L = net.sizes.size - 1
    lo = uo[l]
    hi = uo[l + 1]
    V, bL, bS, aL, aS, X, b = st.V, st.bL, st.bS, st.aL, st.aS, st.X, net.b
    if l == L - 1:
        if L == 1:
            net.update_output_in(consts, V[lo:hi], bL[lo:hi], bS[lo:hi], c, b[lo:hi], X, lo,
                                 hi, drive, E_out, cD, teach, label)
        else:
            net.update_output(consts, V[lo:hi], bL[lo:hi], bS[lo:hi], c, b[lo:hi], X, lo, hi,
                              drive, E_out, cD, teach, label)
    elif apical:
        if l == 0:
            net.update_hidden_in(consts, V[lo:hi], bL[lo:hi], bS[lo:hi], c, aL[lo:hi],
                                 aS[lo:hi], b[lo:hi], X, lo, hi)
        else:
            net.update_hidden(consts, V[lo:hi], bL[lo:hi], bS[lo:hi], c, aL[lo:hi], aS[lo:hi],
                              b[lo:hi], X, lo, hi)
    elif l == 0:
        net.update_hidden_projected_in(consts, V[lo:hi], bL[lo:hi], bS[lo:hi], c, b[lo:hi],
                                       X, lo, hi)
    else:
        net.update_hidden_projected(consts, V[lo:hi], bL[lo:hi], bS[lo:hi], c, b[lo:hi], X,
                                    lo, hi)


@njit(**JIT)
def input_drive(net, x, scr):
    """``p_in = p_max x`` and ``drive_in = W_0^T p_in`` (one product per example)."""
    drive = scr.drive_in
    n = drive.size
    drive[:] = 0.0
    W_in = net.W_in
    for i in range(x.size):
        p = net.p_max * x[i]
        scr.p_in[i] = p
        if p != 0.0:
            row = W_in[i * n:(i + 1) * n]
            for k in range(n):
                drive[k] += p * row[k]


@njit(**JIT)
def input_traces(xinL, xinS, p_in, J, dL, dS, n_steps, settle, s_in, accumulate):
    """Input traces over a presentation of ``n_steps`` with constant probabilities
    ``p_in``, in closed form: window sums into ``s_in`` (if ``accumulate``), then the
    traces after the last step (the value read in the next step is that times ``d``).

    Per decay ``d``: the value read in step ``t`` is ``z d^(t+1) + J p G_t`` with
    ``G_t = d + ... + d^t``; the window sum is ``z A + J p B``, ``A`` and ``B`` the sums
    of ``d^(t+1)`` and ``G_t`` over the window; after the last step the trace is
    ``z d^n + J p (1 + G_(n-1))``. Traces below ``TINY`` are set to 0 (as the fast
    engine does: learning skips the rows of silent inputs)."""
    if n_steps <= 0:
        return
    AL, AS, BL, BS = 0.0, 0.0, 0.0, 0.0
    pwL, pwS, GL, GS = 1.0, 1.0, 0.0, 0.0
    for t in range(n_steps):
        pwL *= dL  # d^(t+1)
        pwS *= dS
        if t >= settle:
            AL += pwL
            AS += pwS
            BL += GL
            BS += GS
        if t < n_steps - 1:
            GL += pwL  # G_(t+1)
            GS += pwS
    EL = 1.0 + GL
    ES = 1.0 + GS
    for i in range(p_in.size):
        zL = xinL[i]
        zS = xinS[i]
        jp = J * p_in[i]
        if accumulate:
            s_in[i] += zL * AL - zS * AS + jp * (BL - BS)
        zL = zL * pwL + jp * EL
        zS = zS * pwS + jp * ES
        xinL[i] = zL if abs(zL) >= TINY else 0.0
        xinS[i] = zS if abs(zS) >= TINY else 0.0


# ------------------------------------------------------------ presentation


@njit(**JIT)
def rate_presentation(net, st, scr, acc, n_steps, settle, teach, label, flags, tr_V, tr_Vb,
                      tr_Va, tr_X, tr0, steady_tol):
    """Simulate one presentation of ``n_steps`` steps in the mean field, the input being
    the one :func:`input_drive` prepared in ``scr``.

    Parameters are those of :func:`~dendrinet.backends.numba.dynamics.run_presentation`
    without the spikes: ``flags`` takes ``ACC_V``, ``ACC_S``, ``ACC_PHI_ALL``,
    ``ACC_VA``, ``ACC_X``, ``TRACES``, ``APICAL`` (the projected apical potential of that function's
    Notes holds here too: it is linear).

    Fixed point. With ``steady_tol > 0`` (test presentations; not with ``TRACES``) the
    state is compared every :data:`STEADY_EVERY` steps with that of the step before;
    when no state variable changed by more than ``steady_tol``, the input being constant
    every later step is the same, so the remaining window steps are added to the window
    sums as copies of this one and the loop stops. The error of a window mean is below
    ``steady_tol / (1 - d)`` for state that approaches its fixed point geometrically by a
    factor ``d`` per step (``d = exp(-dt / tau_L) = 0.905``: 1e-11 for 1e-12).
    """
    sizes, uo, wo, yo = net.sizes, net.uo, net.wo, net.yo
    L = sizes.size - 1
    n_units = uo[L]
    n_hid = uo[L - 1]
    J = net.J
    dL = net.dL
    dS = net.dS
    consts = NeuronConstants(J, dL, dS, net.dt_s, net.E_hid, net.cB, net.cA, net.P, st.s0,
                             st.s1)
    E_out, cD = teaching(net, teach, label, scr.drive)
    acc_v = (flags & ACC_V) != 0
    acc_s = (flags & ACC_S) != 0
    acc_va = (flags & ACC_VA) != 0
    acc_x = (flags & ACC_X) != 0 and st.X.shape[0] > 0
    traces = (flags & TRACES) != 0
    apical = (flags & APICAL) != 0
    sig_lo = 0 if (flags & ACC_PHI_ALL) != 0 else n_hid
    V, bL, bS, aL, aS, xL, xS = st.V, st.bL, st.bS, st.aL, st.aS, st.xL, st.xS
    X = st.X
    b, p, c, ca, q = net.b, scr.p, scr.c, scr.ca, scr.q
    stp_ff, stp_fb = net.stp_ff, net.stp_fb
    phi_per_p = net.phi_max / net.p_max  # phi = phi_max sig(V) = p / dt
    base = wo[1]
    c_in = scr.c_in
    drive_in = scr.drive_in
    for t in range(n_steps):
        if t % FLUSH_EVERY == 0:
            flush_tiny(st)
        window = t >= settle
        # 1. state update (the neuron part), own traces with last step's probabilities
        for l in range(L):
            update_layer(net, consts, st, l, c_in if l == 0 else c[uo[l]:uo[l + 1]], apical,
                         scr.drive, E_out, cD, teach, label)
        # own traces with last step's probabilities; then 3., the mean field's
        # "spikes", p = p_max sig(V) (early: only the window sums read p before step 4)
        _decay_jump_rates(xL, xS, p, J, dL, dS, V, net.p_max)
        if stp_ff != STP_NONE:
            stp_decay(st.stp_dx[:n_hid], st.stp_du[:n_hid], net.stp_ff_dD, net.stp_ff_dF)
        if stp_fb != STP_NONE:
            stp_decay(st.stp_dx[n_hid:], st.stp_du[n_hid:], net.stp_fb_dD, net.stp_fb_dF)
        # 2. window sums and traces from the updated state
        if window:
            _add_scaled(acc.phi[sig_lo:], p[sig_lo:], phi_per_p)
            if acc_v:
                _add(acc.V, V)
            if acc_s:
                _add_diff(acc.s, xL, xS)
            if acc_va:
                if apical:
                    net.add_apical(consts, acc.Va[:n_hid], V[:n_hid], bL[:n_hid], bS[:n_hid],
                                   aL[:n_hid], aS[:n_hid], b[:n_hid], X, 0, n_hid)
                elif not acc_s:
                    _add_diff(acc.s[n_hid:], xL[n_hid:], xS[n_hid:])
            if acc_x:
                for r in range(X.shape[0]):
                    _add(acc.X[r], X[r])
        if traces:
            row = tr0 + t
            for j in range(n_units):
                tr_V[row, j] = V[j]
                tr_Vb[row, j] = bL[j] - bS[j] + b[j]
            for j in range(n_hid, n_units):
                tr_Va[row, j] = aL[j] - aS[j]
            net.apical_row(consts, tr_Va[row, :n_hid], V[:n_hid], bL[:n_hid], bS[:n_hid],
                           aL[:n_hid], aS[:n_hid], b[:n_hid], X, 0, n_hid)
            tr_X[row, :, :] = X
        # 4. propagation: expected sums of weight rows into the pending inputs
        _add(c_in, drive_in)
        if stp_ff != STP_NONE:  # sent: q = p u x / U (scr.q), where synapses depress or
            stp_expected(stp_ff, net.stp_ff_U, p[:n_hid], st.stp_dx[:n_hid],  # facilitate
                         st.stp_du[:n_hid], q[:n_hid])
        if stp_fb != STP_NONE:
            stp_expected(stp_fb, net.stp_fb_U, p[n_hid:], st.stp_dx[n_hid:], st.stp_du[n_hid:],
                         q[n_hid:])
        sent_ff = q if stp_ff != STP_NONE else p
        sent_fb = q if stp_fb != STP_NONE else p
        for l in range(L - 1):
            _dots(scr.WT[wo[l + 1] - base:wo[l + 2] - base], sent_ff[uo[l]:uo[l + 1]],
                  c[uo[l + 1]:uo[l + 2]])
        if apical:
            for h in range(L - 1):
                lo = uo[h]
                hi = uo[h + 1]
                matvec_t(net.Y[yo[h]:yo[h + 1]], sent_fb[n_hid:], ca[lo:hi])
                _apply_pending(aL[lo:hi], aS[lo:hi], ca[lo:hi], J)
        if steady_tol > 0.0 and not traces:
            phase = (t + 1) % STEADY_EVERY
            if phase == 0 and t > 0 and _is_steady(st, scr, steady_tol):
                rest = n_steps - max(t + 1, settle)  # window steps not simulated
                if rest > 0:
                    _add_scaled(acc.phi[sig_lo:], p[sig_lo:], phi_per_p * rest)
                    if acc_v:
                        _add_scaled(acc.V, V, float(rest))
                    if acc_s:
                        _add_scaled(acc.s, xL, float(rest))
                        _add_scaled(acc.s, xS, -float(rest))
                    if acc_va:
                        for _ in range(rest):
                            if apical:
                                net.add_apical(consts, acc.Va[:n_hid], V[:n_hid], bL[:n_hid],
                                               bS[:n_hid], aL[:n_hid], aS[:n_hid], b[:n_hid],
                                               X, 0, n_hid)
                            elif not acc_s:
                                _add_diff(acc.s[n_hid:], xL[n_hid:], xS[n_hid:])
                    if acc_x:
                        for r in range(X.shape[0]):
                            _add_scaled(acc.X[r], X[r], float(rest))
                break
            if phase == STEADY_EVERY - 1:
                _snapshot(st, scr)
    # leave a plain state (as the fast engine does): pending inputs and jumps added
    _apply_pending(bL, bS, c, J)
    _apply_pending(bL[:uo[1]], bS[:uo[1]], c_in, J)
    _decay_jump(xL, xS, p, J, 1.0, 1.0)
    p[:] = 0.0
    input_traces(st.xinL, st.xinS, scr.p_in, J, dL, dS, n_steps, settle, acc.s_in,
                 acc_s and n_steps > settle)


# ----------------------------------------------------------------- drivers


@njit(**JIT)
def rate_present_schedule(net, st, scr, acc, X, example_id, n_steps, settle, teach, label,
                          reset, tr_V, tr_Vb, tr_Va, tr_X, means):
    """Present any schedule in the mean field (no learning): traces of every unit after
    each step and the window means of every presentation (explicit apical traces)."""
    flags = ACC_V | ACC_S | ACC_PHI_ALL | ACC_VA | ACC_X | APICAL | TRACES
    transpose_upper(net, scr.WT)
    row = 0
    for k in range(example_id.size):
        if reset[k]:
            reset_state(st)
        reset_acc(acc)
        input_drive(net, X[example_id[k]], scr)
        rate_presentation(net, st, scr, acc, n_steps[k], settle[k], teach[k], label[k], flags,
                          tr_V, tr_Vb, tr_Va, tr_X, row, 0.0)
        store_means(acc, n_steps[k] - settle[k], means, k)
        row += n_steps[k]
