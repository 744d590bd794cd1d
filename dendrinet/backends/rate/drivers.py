"""The rate engine's loops over examples: training (forward phase, target phase,
plasticity per example) and test presentations, each phase either stepped
(:func:`~dendrinet.backends.rate.rate_kernels.rate_presentation`) or at its fixed point
(:func:`~dendrinet.backends.rate.fixed_point.steady_presentation`), as
:class:`~dendrinet.backends.rate.engine.RateEngine` chose (``steady``)."""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from dendrinet.backends.numba.drivers import forward_means, learn_and_record, target_means
from dendrinet.backends.numba.dynamics import (ACC_S, ACC_V, ACC_VA, ACC_X, APICAL, new_acc,
                                               new_state, reset_acc, reset_state)
from dendrinet.backends.rate.fixed_point import new_steady_scratch, steady_presentation
from dendrinet.backends.rate.rate_kernels import (input_drive, new_rate_scratch,
                                                  rate_presentation, transpose_upper)
from dendrinet.jit.numerics import JIT
from dendrinet.jit.random_streams import derive_key


@njit(**JIT)
def _dummies():
    return np.zeros((1, 1)), np.zeros((1, 1, 1))


@njit(**JIT)
def _phase(net, st, scr, fp, acc, n_steps, settle, teach, label, apical, steady, tol):
    """One training phase (forward: ``not teach``) into the reset ``acc``: window sums of
    ``V``, ``V_a``, ``s`` (forward) or ``V_a``, ``phi`` (target)."""
    if steady:
        # a target phase follows the forward phase of the same input and weights
        steady_presentation(net, st, scr, fp, acc, n_steps, settle, teach, label, apical,
                            tol, not teach, teach)
        return
    no_f8, no_f3 = _dummies()
    flags = ACC_VA | ACC_X | (APICAL if apical else 0) | (0 if teach else ACC_V | ACC_S)
    rate_presentation(net, st, scr, acc, n_steps, settle, teach, label, flags, no_f8, no_f8,
                      no_f8, no_f3, 0, 0.0)


@njit(**JIT)
def rate_train_chunk(net, st, scr, fp, acc, rule, ex, upd, X, y, order, n_fwd, n_tgt, settle,
                     records, samples_f, samples_t, sample_rows, sample_every, pos0, apical,
                     key, steady, tol):
    """:func:`dendrinet.backends.numba.drivers.train_chunk` in the mean field: per
    example a forward phase (window means of ``V``, ``V_a``, ``s``), a target phase
    (``V_a``, ``phi``) and the plasticity, the phases at their fixed point (``steady``,
    tolerance ``tol``) or stepped; the rule's key of the example at epoch position ``m``
    is ``derive_key(key, m)``. Returns the number of samples written."""
    out_lo = net.uo[net.sizes.size - 2]
    n_samples = 0
    for q in range(order.size):
        i_x = order[q]
        label = y[i_x]
        nf = n_fwd[q]
        nt = n_tgt[q]
        input_drive(net, X[i_x], scr)
        if not steady:
            transpose_upper(net, scr.WT)  # the weights learned from the previous example
        # forward phase
        reset_acc(acc)
        _phase(net, st, scr, fp, acc, nf, settle, False, label, apical, steady, tol)
        best = forward_means(net, acc, nf - settle, apical, ex)
        # target phase
        reset_acc(acc)
        _phase(net, st, scr, fp, acc, nt, settle, True, label, apical, steady, tol)
        target_means(net, acc, nt - settle, apical, ex)
        ex.key[0] = derive_key(key, pos0 + q)
        n_samples = learn_and_record(net, rule, ex, upd, records, q, best - out_lo == label,
                                     pos0, sample_every, samples_f, samples_t, sample_rows,
                                     n_samples)
    return n_samples


@njit(parallel=True, **JIT)
def rate_evaluate(net, X, n_steps, settle, mean_V, n_blocks, apical, steady, tol, steady_tol,
                  unsettled):
    """Test presentations (state reset) of every row of ``X`` in the mean field, in
    parallel over ``n_blocks`` blocks; ``mean_V`` (n, n_out): the output's mean ``V``
    over the window (deterministic: no random streams). At the fixed point (``steady``,
    tolerance ``tol``) or stepped, stopping once no state variable changes by more than
    ``steady_tol`` per step (0: every step simulated); ``unsettled[blk]``: the layers of
    block ``blk`` that reached no fixed point."""
    n = X.shape[0]
    sizes = net.sizes
    L = sizes.size - 1
    n_in = sizes[0]
    n_units = net.uo[L]
    out_lo = net.uo[L - 1]
    flags = ACC_V | (APICAL if apical else 0)
    nw = n_steps - settle
    for blk in prange(n_blocks):
        start = blk * n // n_blocks
        stop = (blk + 1) * n // n_blocks
        st = new_state(n_in, n_units, net.n_x)
        scr = new_rate_scratch(n_in, n_units, sizes[1], sizes[L], net.W.size, net.n_x)
        fp = new_steady_scratch(n_units, net.n_x)
        if not steady:
            transpose_upper(net, scr.WT)
        acc = new_acc(n_in, n_units, net.n_x)
        no_f8, no_f3 = _dummies()
        for q in range(start, stop):
            reset_state(st)
            reset_acc(acc)
            input_drive(net, X[q], scr)
            if steady:
                steady_presentation(net, st, scr, fp, acc, n_steps, settle, False, -1, apical,
                                    tol, False, False)
            else:
                rate_presentation(net, st, scr, acc, n_steps, settle, False, -1, flags, no_f8,
                                  no_f8, no_f8, no_f3, 0, steady_tol)
            for k in range(n_units - out_lo):
                mean_V[q, k] = acc.V[out_lo + k] / nw
        unsettled[blk] = fp.unsettled[0]
