"""Whole chunks of training and test examples inside Numba (no Python per example)."""
from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit, prange

from dendrinet.engine._kernels import JIT, derive_key, input_events, seed_streams
from dendrinet.engine._simulate import (ACC_S, ACC_V, ACC_VA, APICAL, DRAW, RECORD, learn,
                                        mean_apical, new_acc, new_scratch, new_state, reset_acc,
                                        reset_state, run_presentation)
from dendrinet.plasticity import sigmoid

#: Plasticity constants and per-example buffers of the training loop.
Learn = namedtuple("Learn", [
    "Y_noise", "eta", "P_hid", "P_out", "k_B", "k_D", "mode", "train_hidden", "eta_Y",
    "V_f", "alpha_f", "alpha_t", "phi_t", "s_in", "s_units", "e", "e_bp", "work", "stats",
])

#: Input-event buffers of one thread.
Events = namedtuple("Events", ["active", "p", "s0", "s1", "flag", "ptr", "ids"])


@njit(**JIT)
def new_events(n_inputs, max_steps):
    return Events(np.zeros(n_inputs, np.int64), np.zeros(n_inputs),
                  np.zeros(n_inputs, np.uint64), np.zeros(n_inputs, np.uint64),
                  np.zeros(n_inputs, np.uint8), np.zeros(max_steps + 2, np.int64),
                  np.zeros(n_inputs * max_steps + 1, np.int64))


@njit(**JIT)
def _input_events(x, p_max, n_steps, st, ev):
    return input_events(x, p_max, n_steps, st.rin0, st.rin1, ev.active, ev.p, ev.s0, ev.s1,
                        ev.flag, ev.ptr, ev.ids)


@njit(**JIT)
def _dummies():
    """Writable placeholders for the unused recording arrays (Numba cannot compile
    writes into the read-only constants a module-level array would become)."""
    return np.zeros((1, 1), np.uint8), np.zeros((1, 1))


@njit(**JIT)
def train_chunk(net, st, scr, acc, lrn, ev, X, y, order, n_fwd, n_tgt, settle,
                records, samples_f, samples_t, sample_rows, sample_every, pos0,
                apical, record, rec, rec0):
    """Train on the examples ``order`` (rows of ``X``), one after the other.

    Per example: input events for the forward + target phases, forward phase (window
    sums of ``V``, ``V_a``, ``s``), target phase (``V_a``, ``phi``), plasticity.

    Parameters
    ----------
    records : float64 array (n, 1 + n_stats), output
        Per example: forward-phase prediction correct (0/1), then the statistics of
        :func:`dendrinet.plasticity.learn_flat`.
    samples_f, samples_t : float64 arrays (n_samples, n_hidden_units), output
        Plateau vectors of the examples at epoch positions ``pos0 + q`` divisible by
        ``sample_every``; their positions go to ``sample_rows``.
    apical : bool
        Explicit apical traces (see ``_simulate.run_presentation``); otherwise the
        projected apical potential (``g_A = 0`` and fixed ``Y`` only).
    record : bool
        Record every spike into ``rec`` from row ``rec0`` on (tests).

    Returns
    -------
    (int, int)
        Number of samples written, number of rows of ``rec`` used.
    """
    no_u8, no_f8 = _dummies()
    base = DRAW | ACC_VA | (APICAL if apical else 0) | (RECORD if record else 0)
    sizes, uo = net.sizes, net.uo
    L = sizes.size - 1
    n_units = uo[L]
    out_lo = uo[L - 1]
    n_hid = uo[L - 1]
    n_samples = 0
    row = rec0
    for q in range(order.size):
        ex = order[q]
        label = y[ex]
        nf = n_fwd[q]
        nt = n_tgt[q]
        _input_events(X[ex], net.p_max, nf + nt, st, ev)
        # forward phase
        reset_acc(acc)
        run_presentation(net, st, scr, acc, ev.ptr, ev.ids, 0, nf, settle, False, label,
                         base | ACC_V | ACC_S, no_u8, 0, rec, row, no_f8, no_f8, no_f8, 0)
        row += nf
        nw = nf - settle
        best = out_lo
        for j in range(n_units):
            lrn.V_f[j] = acc.V[j] / nw
            lrn.s_units[j] = acc.s[j] / nw
        mean_apical(net, acc, nw, apical, lrn.alpha_f)
        for j in range(n_hid):
            lrn.alpha_f[j] = sigmoid(lrn.alpha_f[j])
        for j in range(out_lo, n_units):
            if lrn.V_f[j] > lrn.V_f[best]:
                best = j
        for i in range(acc.s_in.size):
            lrn.s_in[i] = acc.s_in[i] / nw
        # target phase
        reset_acc(acc)
        run_presentation(net, st, scr, acc, ev.ptr, ev.ids, nf, nt, settle, True, label,
                         base, no_u8, 0, rec, row, no_f8, no_f8, no_f8, 0)
        row += nt
        nw = nt - settle
        mean_apical(net, acc, nw, apical, lrn.alpha_t)
        for j in range(n_hid):
            lrn.alpha_t[j] = sigmoid(lrn.alpha_t[j])
        for j in range(out_lo, n_units):
            lrn.phi_t[j] = acc.phi[j] / nw
        # plasticity
        args = (net.W, net.b, net.Y, lrn.Y_noise, sizes, uo, net.wo, net.yo, lrn.V_f,
                lrn.alpha_f, lrn.alpha_t, lrn.phi_t, lrn.s_in, lrn.s_units, lrn.eta, lrn.P_hid,
                lrn.P_out, lrn.k_B, lrn.k_D, net.phi_max, lrn.mode, lrn.train_hidden,
                lrn.eta_Y, lrn.e, lrn.e_bp, lrn.work, lrn.stats)
        learn(net, args)
        records[q, 0] = 1.0 if best - out_lo == label else 0.0
        for k in range(lrn.stats.size):
            records[q, 1 + k] = lrn.stats[k]
        if (pos0 + q) % sample_every == 0:
            for j in range(n_hid):
                samples_f[n_samples, j] = lrn.alpha_f[j]
                samples_t[n_samples, j] = lrn.alpha_t[j]
            sample_rows[n_samples] = pos0 + q
            n_samples += 1
    return n_samples, row


@njit(**JIT)
def _test_one(net, st, scr, acc, ev, x, key, n_steps, settle, mean_V, apical, record, rec, rec0):
    """One test presentation from a zero state with streams seeded by ``key``."""
    no_u8, no_f8 = _dummies()
    L = net.sizes.size - 1
    out_lo = net.uo[L - 1]
    n_units = net.uo[L]
    reset_state(st)
    seed_streams(key, st.s0, st.s1)
    seed_streams(key ^ np.uint64(0x5DEECE66D), st.rin0, st.rin1)
    _input_events(x, net.p_max, n_steps, st, ev)
    reset_acc(acc)
    flags = DRAW | ACC_V | (APICAL if apical else 0) | (RECORD if record else 0)
    run_presentation(net, st, scr, acc, ev.ptr, ev.ids, 0, n_steps, settle, False, -1, flags,
                     no_u8, 0, rec, rec0, no_f8, no_f8, no_f8, 0)
    nw = n_steps - settle
    for k in range(n_units - out_lo):
        mean_V[k] = acc.V[out_lo + k] / nw


@njit(parallel=True, **JIT)
def evaluate_examples(net, X, positions, key, n_steps, settle, mean_V, n_blocks, apical):
    """Test presentations of every row of ``X`` (independent: state reset before each),
    in parallel over ``n_blocks`` contiguous blocks. The streams of row ``q`` are
    seeded from ``derive_key(key, positions[q])``, so results do not depend on the
    number of threads. Writes ``mean_V`` (n, n_out): mean output potential over the
    window."""
    n = X.shape[0]
    sizes = net.sizes
    L = sizes.size - 1
    n_in = sizes[0]
    n_units = net.uo[L]
    for blk in prange(n_blocks):
        start = blk * n // n_blocks
        stop = (blk + 1) * n // n_blocks
        st = new_state(n_in, n_units)
        scr = new_scratch(n_in, n_units, L, sizes[L], net.W_in)
        acc = new_acc(n_in, n_units)
        ev = new_events(n_in, n_steps)
        no_rec = np.zeros((1, 1), np.uint8)
        for q in range(start, stop):
            _test_one(net, st, scr, acc, ev, X[q], derive_key(key, positions[q]), n_steps,
                      settle, mean_V[q], apical, False, no_rec, 0)


@njit(**JIT)
def record_examples(net, X, positions, key, n_steps, settle, mean_V, apical, rec):
    """Like :func:`evaluate_examples` (single thread), recording every spike of row
    ``q`` into rows ``q * n_steps ...`` of ``rec``."""
    sizes = net.sizes
    L = sizes.size - 1
    n_in = sizes[0]
    n_units = net.uo[L]
    st = new_state(n_in, n_units)
    scr = new_scratch(n_in, n_units, L, sizes[L], net.W_in)
    acc = new_acc(n_in, n_units)
    ev = new_events(n_in, n_steps)
    for q in range(X.shape[0]):
        _test_one(net, st, scr, acc, ev, X[q], derive_key(key, positions[q]), n_steps, settle,
                  mean_V[q], apical, True, rec, q * n_steps)
