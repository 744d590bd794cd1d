"""Whole chunks of training and test examples inside Numba (no Python per example)."""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from collections import namedtuple

from dendrinet.backends.numba.dynamics import (ACC_PHI_ALL, ACC_S, ACC_V, ACC_VA, ACC_X, APICAL,
                                               DRAW,
                                               RECORD, TRACES, Presentation, Rows, Traces,
                                               mean_apical, new_acc, new_scratch, new_state,
                                               reset_acc, reset_state, run_presentation,
                                               store_means)
from dendrinet.backends.numba.input_spikes import input_events, new_events
from dendrinet.jit.numerics import JIT, sigmoid
from dendrinet.learning.plasticity import learn
from dendrinet.jit.random_streams import derive_key, seed_streams

#: The learning rule's constants and buffers (:mod:`dendrinet.learning.plasticity`):
#: ``Rule``, ``Example``, ``Updates``.
Learner = namedtuple("Learner", ["rule", "ex", "upd"])

#: A chunk of training examples: rows ``order`` of ``X`` with labels from ``y``, the
#: forward and target phase lengths of each (steps), the settle steps, the epoch position
#: of the first, and whether the apical traces are explicit (see
#: ``dynamics.run_presentation``; otherwise the projected apical potential, ``g_A = 0``
#: and fixed ``Y`` only).
Chunk = namedtuple("Chunk", ["X", "y", "order", "n_fwd", "n_tgt", "settle", "pos0", "apical"])

#: What a training chunk writes: per example the forward-phase prediction correct (0/1),
#: then the statistics of :func:`dendrinet.learning.plasticity.learn_flat`
#: (``records``); the plateau vectors of the examples at epoch positions divisible by
#: ``sample_every`` (``samples_f``, ``samples_t``) and those positions (``sample_rows``).
ChunkOutput = namedtuple("ChunkOutput", ["records", "samples_f", "samples_t", "sample_rows",
                                         "sample_every"])


@njit(**JIT)
def _input_events(x, p_max, n_steps, st, ev):
    return input_events(x, p_max, n_steps, st.rin0, st.rin1, ev.active, ev.p, ev.s0, ev.s1,
                        ev.flag, ev.ptr, ev.ids)


@njit(**JIT)
def _dummies():
    """Writable placeholders for the unused recording arrays (Numba cannot compile
    writes into the read-only constants a module-level array would become)."""
    return np.zeros((1, 1), np.uint8), np.zeros((1, 1)), np.zeros((1, 1, 1))


@njit(**JIT)
def _window_means_x(acc, nw, out):
    """``out = acc.X / nw``: the window means of the extra state variables."""
    for r in range(acc.X.shape[0]):
        for j in range(acc.X.shape[1]):
            out[r, j] = acc.X[r, j] / nw


@njit(**JIT)
def forward_means(net, acc, nw, apical, ex):
    """The forward phase's window means (``nw`` steps) into ``ex``: ``V_f``, the units'
    and inputs' filtered rates, the plateaus ``alpha_f``, the extra state variables
    ``X_f``; returns the output unit with the highest ``V_f`` (its index among all
    units)."""
    L = net.sizes.size - 1
    n_units = net.uo[L]
    out_lo = net.uo[L - 1]
    best = out_lo
    for j in range(n_units):
        ex.V_f[j] = acc.V[j] / nw
        ex.s_units[j] = acc.s[j] / nw
    mean_apical(net, acc, nw, apical, ex.alpha_f)
    for j in range(out_lo):
        ex.alpha_f[j] = sigmoid(ex.alpha_f[j])
    for j in range(out_lo, n_units):
        if ex.V_f[j] > ex.V_f[best]:
            best = j
    for i in range(acc.s_in.size):
        ex.s_in[i] = acc.s_in[i] / nw
    _window_means_x(acc, nw, ex.X_f)
    return best


@njit(**JIT)
def target_means(net, acc, nw, apical, ex):
    """The target phase's window means into ``ex``: plateaus ``alpha_t``, output rates
    ``phi_t``, the extra state variables ``X_t``."""
    L = net.sizes.size - 1
    out_lo = net.uo[L - 1]
    mean_apical(net, acc, nw, apical, ex.alpha_t)
    for j in range(out_lo):
        ex.alpha_t[j] = sigmoid(ex.alpha_t[j])
    for j in range(out_lo, net.uo[L]):
        ex.phi_t[j] = acc.phi[j] / nw
    _window_means_x(acc, nw, ex.X_t)


@njit(**JIT)
def learn_and_record(net, rule, ex, upd, records, q, correct, pos0, sample_every, samples_f,
                     samples_t, sample_rows, n_samples):
    """The plasticity of example ``q`` of a chunk (epoch position ``pos0 + q``), its row
    of ``records`` (correct, the rule's statistics) and, every ``sample_every``
    examples, its plateaus into the samples. Returns the number of samples written."""
    learn(net, rule, ex, upd)
    records[q, 0] = 1.0 if correct else 0.0
    for k in range(upd.stats.size):
        records[q, 1 + k] = upd.stats[k]
    if (pos0 + q) % sample_every == 0:
        n_hid = net.uo[net.sizes.size - 2]
        for j in range(n_hid):
            samples_f[n_samples, j] = ex.alpha_f[j]
            samples_t[n_samples, j] = ex.alpha_t[j]
        sample_rows[n_samples] = pos0 + q
        n_samples += 1
    return n_samples


@njit(**JIT)
def train_chunk(net, st, scr, acc, ev, learner, chunk, out, record, rec):
    """Train on the examples of ``chunk``, one after the other.

    Per example: input events for the forward + target phases, forward phase (window
    sums of ``V``, ``V_a``, ``s``, ``X``), target phase (``V_a``, ``phi``, ``X``), plasticity
    (``learner``: :data:`Learner`). ``chunk``: :data:`Chunk`; ``out``:
    :data:`ChunkOutput` (written).

    Parameters
    ----------
    record : bool
        Record every spike into ``rec`` (:data:`~dendrinet.backends.numba.dynamics.Rows`)
        from its row ``row0`` on (tests).

    Returns
    -------
    (int, int)
        Number of samples written, the next free row of ``rec``.
    """
    no_u8, no_f8, no_f3 = _dummies()
    rule, ex, upd = learner.rule, learner.ex, learner.upd
    X, y, order, n_fwd, n_tgt = chunk.X, chunk.y, chunk.order, chunk.n_fwd, chunk.n_tgt
    settle, pos0, apical = chunk.settle, chunk.pos0, chunk.apical
    records, samples_f, samples_t = out.records, out.samples_f, out.samples_t
    sample_rows, sample_every = out.sample_rows, out.sample_every
    base = DRAW | ACC_VA | ACC_X | (APICAL if apical else 0) | (RECORD if record else 0)
    no_given = Rows(no_u8, 0)
    no_traces = Traces(no_f8, no_f8, no_f8, no_f3, 0)
    sizes, uo = net.sizes, net.uo
    L = sizes.size - 1
    n_units = uo[L]
    out_lo = uo[L - 1]
    n_samples = 0
    row = rec.row0
    for q in range(order.size):
        i_x = order[q]
        label = y[i_x]
        nf = n_fwd[q]
        nt = n_tgt[q]
        _input_events(X[i_x], net.p_max, nf + nt, st, ev)
        # forward phase
        reset_acc(acc)
        run_presentation(net, st, scr, acc,
                         Presentation(ev.ptr, ev.ids, 0, nf, settle, False, label,
                                      base | ACC_V | ACC_S),
                         no_given, Rows(rec.spikes, row), no_traces)
        row += nf
        best = forward_means(net, acc, nf - settle, apical, ex)
        # target phase
        reset_acc(acc)
        run_presentation(net, st, scr, acc,
                         Presentation(ev.ptr, ev.ids, nf, nt, settle, True, label, base),
                         no_given, Rows(rec.spikes, row), no_traces)
        row += nt
        target_means(net, acc, nt - settle, apical, ex)
        # plasticity (the key: a number unique to the example, for rules that draw noise)
        ex.key[0] = st.s0[0] ^ st.s1[n_units - 1]
        n_samples = learn_and_record(net, rule, ex, upd, records, q, best - out_lo == label,
                                     pos0, sample_every, samples_f, samples_t, sample_rows,
                                     n_samples)
    return n_samples, row


@njit(**JIT)
def _test_one(net, st, scr, acc, ev, x, key, n_steps, settle, mean_V, apical, record, rec, rec0):
    """One test presentation from a zero state with streams seeded by ``key``."""
    no_u8, no_f8, no_f3 = _dummies()
    L = net.sizes.size - 1
    out_lo = net.uo[L - 1]
    n_units = net.uo[L]
    reset_state(st)
    seed_streams(key, st.s0, st.s1)
    seed_streams(key ^ np.uint64(0x5DEECE66D), st.rin0, st.rin1)
    _input_events(x, net.p_max, n_steps, st, ev)
    reset_acc(acc)
    flags = DRAW | ACC_V | (APICAL if apical else 0) | (RECORD if record else 0)
    run_presentation(net, st, scr, acc,
                     Presentation(ev.ptr, ev.ids, 0, n_steps, settle, False, -1, flags),
                     Rows(no_u8, 0), Rows(rec, rec0), Traces(no_f8, no_f8, no_f8, no_f3, 0))
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
        st = new_state(n_in, n_units, net.n_x)
        scr = new_scratch(n_in, n_units, L, sizes[L], net.W_in)
        acc = new_acc(n_in, n_units, net.n_x)
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
    st = new_state(n_in, n_units, net.n_x)
    scr = new_scratch(n_in, n_units, L, sizes[L], net.W_in)
    acc = new_acc(n_in, n_units, net.n_x)
    ev = new_events(n_in, n_steps)
    for q in range(X.shape[0]):
        _test_one(net, st, scr, acc, ev, X[q], derive_key(key, positions[q]), n_steps, settle,
                  mean_V[q], apical, True, rec, q * n_steps)


@njit(**JIT)
def present_schedule(net, st, scr, acc, ev, X, example_id, n_steps, settle, teach, label,
                     reset, rec, tr_V, tr_Vb, tr_Va, tr_X, means):
    """Present any schedule (rows ``example_id`` of ``X``, no learning), drawing every
    spike, recording all of them into ``rec`` and the traces ``V, V_b, V_a`` of every
    unit after each step (and the extra state variables, ``tr_X``), and the window means
    of every presentation (``means``)."""
    flags = ACC_V | ACC_S | ACC_PHI_ALL | ACC_VA | ACC_X | APICAL | TRACES | DRAW | RECORD
    no_u8 = np.zeros((1, 1), np.uint8)
    row = 0
    for k in range(example_id.size):
        if reset[k]:
            reset_state(st)
        reset_acc(acc)
        _input_events(X[example_id[k]], net.p_max, n_steps[k], st, ev)
        run_presentation(net, st, scr, acc,
                         Presentation(ev.ptr, ev.ids, 0, n_steps[k], settle[k], teach[k],
                                      label[k], flags),
                         Rows(no_u8, 0), Rows(rec, row), Traces(tr_V, tr_Vb, tr_Va, tr_X, row))
        store_means(acc, n_steps[k] - settle[k], means, k)
        row += n_steps[k]
