"""The discrete-time network step of docs/design.md, in Numba: one presentation at a time.

:func:`run_presentation` is the single implementation of the step formulas. Training,
testing and :func:`~dendrinet.backends.numba.engine.replay` all call it; they differ only in where
the spikes of hidden and output neurons come from (drawn from the per-neuron random
streams, or given) and in what is recorded.

Within step ``n`` (Brian2's order; docs/design.md, "Discrete-time semantics"):

1. state update of every layer from the start-of-step values: ``V_b = bL - bS + b``,
   ``V_a = aL - aS``, ``V <- V_inf + (V - V_inf) exp(-g dt)``, every trace decays by its
   exact factor;
2. window sums from the updated state (``V``, ``V_a``, ``phi_max sig(V)``, ``xL - xS``);
   optional trace recording (``V``, ``V_b``, ``V_a`` after the update, like a Brian2
   ``StateMonitor`` in the ``after_groups`` slot);
3. spikes: Bernoulli ``u < phi_max sig(V) dt`` on the updated ``V``, or the model's own
   spike condition (``[equations] hidden_spike_condition``), or given;
4. propagation: every spike adds ``psp_jump`` to its own ``xL, xS`` and ``psp_jump * W[i, :]``
   (or ``psp_jump * Y_l[k, :]``) to the postsynaptic traces. The weight rows of the
   spikes of one step are summed first into a pending vector ``c``, which the state
   update of the next step adds to ``bL, bS`` before anything reads them (one pass over
   the arrays instead of two; the same operations in the same order); at the end of a
   presentation the pending input is added, so that the state between presentations
   is plain. The own-trace jumps ``xL, xS += psp_jump`` are likewise folded into the
   next step's decay, ``x <- (x + psp_jump spk) exp(-dt/tau)`` (no loop over spikes).
   Then the model's own code on a spike (``[equations] hidden_on_spike``) runs for the
   spiking units (Brian2's reset slot, after its synapses: ``V_a`` holds this step's
   feedback).

Input traces act on nothing: only their window means ``s_bar`` are needed. They are
updated lazily: multiplied by ``exp(-k dt/tau)`` from a table when they jump and at the
end of the presentation, their window sums taken as geometric sums over the stretches
between jumps (no per-step work for the inputs; the same values up to rounding).

Input precision. With ``make_net(..., single_inputs=True)`` (the engine's default for
training and testing) the input spikes are propagated through a float32 copy ``W_in``
of the first weight matrix, summed in float32 per step (at most a few dozen rows), and
the sum enters the float64 traces: half the memory traffic of the step's largest part
(the weight rows come from the L2 cache, whose bandwidth bounds it). Rounding the
weights to float32 changes each by at most 6e-8 of itself; a step's sum carries a
relative error of about ``1e-7``; the learned weights stay float64 (``W_in`` is
rewritten from them by every update, ``plasticity.apply_update``).
:func:`~dendrinet.backends.numba.engine.replay` and ``FastEngine(input_precision="double")`` keep
every sum in float64.

Tiny traces. A trace that decays for thousands of steps without input would end in the
denormal range, where x86 arithmetic is ~100x slower. Every 32 steps, traces with
``|x| < 1e-30`` (in 1/ms) are set to exactly 0. Their effect on any potential is below
``1e-30 |W|``, 14 orders of magnitude under double precision of the potentials (about
1e-16), so no result changes; in exchange no denormal ever appears and the filtered
inputs of pixels silent for about 7 examples become exactly 0, so that learning skips
their weight rows (``plasticity.apply_update``). :func:`replay` does the same.
"""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit

from dendrinet.backends.numba.model_part import NeuronConstants
from dendrinet.jit.numerics import JIT, exp_parts, sigmoid
from dendrinet.jit.random_streams import uniform
from dendrinet.datasets.encoding import max_spike_probability

#: Constants and parameters (flat layout, see ``_layout``) read by the step.
Net = namedtuple("Net", [
    "sizes", "uo", "wo", "yo", "W", "b", "Y",
    "W_in",                          # input -> first layer, as propagated (see make_net)
    "W_in_copy",                     # W_in is a float32 copy, not a view of W
    "dL", "dS", "J",                 # trace decay factors per step, psp_jump (1/ms)
    "E_hid", "cB", "cA",             # hidden soma: exp(-g dt), g_B/g, g_A/g
    "E_free", "cD_free",             # output soma without teaching input
    "E_teach", "cD_teach",           # ... with teaching input (target phase)
    "drive_E", "drive_I",            # g_T E_E / g, g_T E_I / g (target phase)
    "p_max", "phi_max",              # phi_max dt, phi_max (1/ms)
    "dt_s", "n_x",                   # dt in seconds (generated code: SI units), rows of X
    "P",                             # values of the neuron part's parameters (SI)
    "on_spike",                      # the neuron part runs code on spikes
    "spike_condition",               # ... and spikes where a condition holds
    # short-term plasticity of the projections from hidden layers (ff) and from the
    # output layer (fb): STP_NONE, STP_DEPRESSION, STP_FACILITATION or STP_BOTH, the
    # utilisation at rest U and the decays exp(-dt/tau_D), exp(-dt/tau_F) per step
    "stp_ff", "stp_ff_U", "stp_ff_dD", "stp_ff_dF",
    "stp_fb", "stp_fb_U", "stp_fb_dD", "stp_fb_dF",
    # the model's neuron part as first-class functions (model_part.NeuronHooks; fields
    # of their own: Numba's parallel loops take no tuple nested in an argument)
    "update_hidden", "update_hidden_in", "update_hidden_projected",
    "update_hidden_projected_in", "update_output", "update_output_in", "add_apical",
    "apical_row", "on_spike_hidden", "on_spike_output", "spike_condition_hidden",
    "spike_condition_output",
])

#: Dynamic state carried from step to step (and example to example in training).
State = namedtuple("State", [
    "V", "bL", "bS", "aL", "aS", "xL", "xS",   # per unit (hidden + output)
    "xinL", "xinS",                            # per input neuron
    "s0", "s1",                                # per-unit random streams (uint64)
    "rin0", "rin1",                            # per-input random streams (uint64)
    "X",                                       # extra state variables (n_x, n_units)
    "stp_dx", "stp_du",                        # per unit: its synapses' 1 - x, u - U
])

#: Scratch arrays of one simulation thread.
Scratch = namedtuple("Scratch", ["sig", "spk", "idx", "cnt", "c", "ca", "drive", "last",
                                 "c_in", "u", "cand", "uc", "vc", "hit", "eff"])

#: Window sums of one presentation (``X``: the extra state variables, rows x units).
Acc = namedtuple("Acc", ["V", "Va", "phi", "s", "s_in", "X"])

#: What one presentation is: its input spikes (CSR by step: step ``t`` has the input ids
#: ``ids[ptr[t0 + t]:ptr[t0 + t + 1]]``), its length and window (steps), the phase
#: (``teach``: target phase, with the teaching input of ``label``) and the ``flags``
#: (:data:`ACC_V` ... :data:`APICAL`) of what to draw, sum and record.
Presentation = namedtuple("Presentation", ["ptr", "ids", "t0", "n_steps", "settle", "teach",
                                           "label", "flags"])

#: Rows of a step-by-unit array from row ``row0`` on: spikes given instead of drawn
#: (``Presentation`` without ``DRAW``), or spikes recorded (with ``RECORD``; columns are
#: inputs, then units).
Rows = namedtuple("Rows", ["spikes", "row0"])

#: Traces after the state update of every step (with ``TRACES``), from row ``row0`` on:
#: ``V``, ``V_b``, ``V_a`` of every unit and the extra state variables ``X`` (rows, n_x,
#: units).
Traces = namedtuple("Traces", ["V", "Vb", "Va", "X", "row0"])

#: Window means of a sequence of presentations, one row each: ``V``, ``V_a``, ``phi``
#: (1/ms) and ``s`` of every unit, ``s`` of every input, ``X`` (presentations, n_x, units)
#: of the extra state variables.
Means = namedtuple("Means", ["V", "Va", "phi", "s", "s_in", "X"])

TINY = 1e-30
FLUSH_EVERY = 32
#: The state of short-term plasticity (zero at rest; absent from checkpoints written
#: before it existed, which are at rest).
STP_STATE = ("stp_dx", "stp_du")
STATE_FLOATS = ("V", "bL", "bS", "aL", "aS", "xL", "xS", "xinL", "xinS", *STP_STATE)
#: Short-term plasticity of a projection (``Net.stp_ff``, ``Net.stp_fb``).
STP_NONE, STP_DEPRESSION, STP_FACILITATION, STP_BOTH = 0, 1, 2, 3


def _stp_constants(model, which: str, dt: float) -> tuple:
    """``(mode, U, exp(-dt/tau_D), exp(-dt/tau_F))`` of projection ``which``."""
    stp = model.synapses.projection(which)
    if stp is None:
        return (STP_NONE, 1.0, 0.0, 0.0)
    U, tau_D, tau_F = stp
    mode = (STP_DEPRESSION if tau_D > 0 else 0) | (STP_FACILITATION if tau_F > 0 else 0)
    return (mode, U, math.exp(-dt / tau_D) if tau_D > 0 else 0.0,
            math.exp(-dt / tau_F) if tau_F > 0 else 0.0)


def make_net(layout, W, b, Y, model, dt: float, part, single_inputs: bool = False) -> Net:
    """Constants of the step for ``model`` at time step ``dt`` (ms), with the neuron
    part ``part`` (:func:`~dendrinet.backends.numba.model_part.model_part`; its parameter
    values are ``model``'s).

    ``single_inputs``: propagate input spikes through a float32 copy of the first
    weight matrix into a float32 pending sum (see the module docstring, "Input
    precision"); otherwise ``W_in`` is a view of ``W`` and every sum is float64.
    """

    n = model.neuron
    teaching_conductance = n.g_T
    W_in = W[layout.wo[0]:layout.wo[1]]
    if single_inputs:
        W_in = W_in.astype(np.float32)
    g_hid = n.g_L + n.g_B + n.g_A
    g_free = n.g_L + n.g_D
    g_teach = g_free + teaching_conductance
    return Net(layout.sizes, layout.uo, layout.wo, layout.yo, W, b, Y, W_in, single_inputs,
               math.exp(-dt / n.tau_L), math.exp(-dt / n.tau_s), n.psp_jump,
               math.exp(-g_hid * dt), n.g_B / g_hid, n.g_A / g_hid,
               math.exp(-g_free * dt), n.g_D / g_free,
               math.exp(-g_teach * dt), n.g_D / g_teach,
               teaching_conductance * n.E_E / g_teach, teaching_conductance * n.E_I / g_teach,
               max_spike_probability(n.phi_max, dt), n.phi_max, dt * 1e-3, part.n_extra,
               part.parameter_values(model), part.on_spike, part.spike_condition,
               *_stp_constants(model, "feedforward", dt), *_stp_constants(model, "feedback", dt),
               *part.hooks(W_in.dtype))


def make_state(n_inputs: int, n_units: int, n_x: int = 0) -> State:
    """A zero state with ``n_x`` extra state rows (random streams unseeded: all zero)."""
    z = lambda n: np.zeros(n)  # noqa: E731
    return State(z(n_units), z(n_units), z(n_units), z(n_units), z(n_units), z(n_units),
                 z(n_units), z(n_inputs), z(n_inputs), np.zeros(n_units, np.uint64),
                 np.zeros(n_units, np.uint64), np.zeros(n_inputs, np.uint64),
                 np.zeros(n_inputs, np.uint64), np.zeros((n_x, n_units)), z(n_units),
                 z(n_units))


@njit(**JIT)
def new_state(n_inputs, n_units, n_x):
    """:func:`make_state` inside Numba (``n_x = net.n_x`` extra state rows)."""
    return State(np.zeros(n_units), np.zeros(n_units), np.zeros(n_units), np.zeros(n_units),
                 np.zeros(n_units), np.zeros(n_units), np.zeros(n_units), np.zeros(n_inputs),
                 np.zeros(n_inputs), np.zeros(n_units, np.uint64), np.zeros(n_units, np.uint64),
                 np.zeros(n_inputs, np.uint64), np.zeros(n_inputs, np.uint64),
                 np.zeros((n_x, n_units)), np.zeros(n_units), np.zeros(n_units))


@njit(**JIT)
def new_scratch(n_inputs, n_units, n_layers, n_out, W_in):
    """Scratch arrays; the pending input sum ``c_in`` has the type of ``W_in``."""
    n_first = W_in.size // n_inputs
    return Scratch(np.zeros(n_units), np.zeros(n_units, np.uint8),
                   np.zeros(n_units + n_inputs + 1, np.int64), np.zeros(n_layers + 1, np.int64),
                   np.zeros(n_units), np.zeros(n_units), np.zeros(n_out),
                   np.zeros(n_inputs, np.int64), np.zeros_like(W_in[:n_first]),
                   np.zeros(n_units), np.zeros(n_units, np.int64), np.zeros(n_units),
                   np.zeros(n_units), np.zeros(n_units, np.uint8), np.zeros(n_units))


@njit(**JIT)
def new_acc(n_inputs, n_units, n_x):
    """Zeroed :data:`Acc` (``n_x = net.n_x`` extra state rows)."""
    return Acc(np.zeros(n_units), np.zeros(n_units), np.zeros(n_units), np.zeros(n_units),
               np.zeros(n_inputs), np.zeros((n_x, n_units)))


def new_means(n_presentations: int, n_inputs: int, n_units: int, n_x: int = 0) -> Means:
    """Zeroed :data:`Means` for ``n_presentations`` presentations."""
    z = lambda n: np.zeros((n_presentations, n))  # noqa: E731
    return Means(z(n_units), z(n_units), z(n_units), z(n_units), z(n_inputs),
                 np.zeros((n_presentations, n_x, n_units)))


@njit(**JIT)
def store_means(acc, n_window, means, k):
    """Row ``k`` of ``means``: the window sums of ``acc`` divided by ``n_window``."""
    for j in range(acc.V.size):
        means.V[k, j] = acc.V[j] / n_window
        means.Va[k, j] = acc.Va[j] / n_window
        means.phi[k, j] = acc.phi[j] / n_window
        means.s[k, j] = acc.s[j] / n_window
    for i in range(acc.s_in.size):
        means.s_in[k, i] = acc.s_in[i] / n_window
    for r in range(acc.X.shape[0]):
        for j in range(acc.X.shape[1]):
            means.X[k, r, j] = acc.X[r, j] / n_window


@njit(**JIT)
def reset_state(st):
    """Zero every potential and trace (not the random streams)."""
    st.V[:] = 0.0
    st.bL[:] = 0.0
    st.bS[:] = 0.0
    st.aL[:] = 0.0
    st.aS[:] = 0.0
    st.xL[:] = 0.0
    st.xS[:] = 0.0
    st.xinL[:] = 0.0
    st.xinS[:] = 0.0
    st.X[:, :] = 0.0
    st.stp_dx[:] = 0.0
    st.stp_du[:] = 0.0


@njit(**JIT)
def reset_acc(acc):
    acc.V[:] = 0.0
    acc.Va[:] = 0.0
    acc.phi[:] = 0.0
    acc.s[:] = 0.0
    acc.s_in[:] = 0.0
    acc.X[:, :] = 0.0


# ------------------------------------------------------------- layer loops
# Every loop runs over range(view.size) of views that start at 0 (see numerics) and
# writes few arrays, so that LLVM vectorises it (it gives up when too many pairs of
# arrays might overlap).


@njit(**JIT)
def _sigmoid(V, sig):
    for j in range(V.size):
        sig[j] = sigmoid(V[j])


@njit(**JIT)
def _decay_jump(xL, xS, spk, J, dL, dS):
    """Own traces of the units: the jumps of the previous step's spikes (``spk``, step 4
    of that step, folded in here to avoid a scalar loop over the spikes), then this
    step's decay: ``x <- (x + J spk) d``, the same operations in the same order."""
    for j in range(xL.size):
        jump = J * spk[j]
        xL[j] = (xL[j] + jump) * dL
        xS[j] = (xS[j] + jump) * dS


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
def _uniforms(s0, s1, p_max, u, flag):
    """The next number ``u`` of every unit's stream, and whether ``u < p_max``
    (vectorised)."""
    for j in range(u.size):
        x = uniform(s0, s1, j)
        u[j] = x
        flag[j] = x < p_max


@njit(**JIT)
def _gather(V, u, cand, vc, uc):
    for k in range(cand.size):
        j = cand[k]
        vc[k] = V[j]
        uc[k] = u[j]


@njit(**JIT)
def _bernoulli(vc, uc, p_max, hit):
    """``u < p_max sig(V)``, tested as ``u (Q + 2^k P) < p_max Q``
    (``sig(V) = Q / (Q + 2^k P)``, see :func:`dendrinet.jit.numerics.sigmoid`): no division."""
    for k in range(vc.size):
        scale, p, q = exp_parts(-vc[k])
        hit[k] = np.uint8(uc[k] * (q + scale * p) < p_max * q)


@njit(**JIT)
def _draw(V, s0, s1, p_max, spk, scr, uo, idx, cnt):
    """Bernoulli spikes ``u < p_max sig(V)`` of every unit into ``spk``, and the
    spiking units of layer ``l`` as ``idx[cnt[l]:cnt[l + 1]]`` (ids relative to the
    layer). Every stream advances by one number; ``sig`` is evaluated only for the
    units with ``u < p_max`` (about ``p_max`` of them), the only ones that can spike
    (``sig <= 1``): the same spikes as testing every unit, in a fraction of the time."""
    _uniforms(s0, s1, p_max, scr.u, spk)
    m = _compact(spk, scr.cand)
    cand = scr.cand[:m]
    hit = scr.hit[:m]
    _gather(V, scr.u, cand, scr.vc[:m], scr.uc[:m])
    _bernoulli(scr.vc[:m], scr.uc[:m], p_max, hit)
    n = 0
    for k in range(m):
        j = cand[k]
        spk[j] = hit[k]
        idx[n] = j
        n += hit[k]
    # layer bounds of the (ascending) spiking ids, made relative to their layer
    L = uo.size - 1
    e = 0
    cnt[0] = 0
    for l in range(L):
        hi = uo[l + 1]
        while e < n and idx[e] < hi:
            idx[e] -= uo[l]
            e += 1
        cnt[l + 1] = e


@njit(**JIT)
def _compact(spk, idx):
    """Indices of the spiking neurons of ``spk`` written to ``idx``, branch-free;
    returns their number."""
    n = 0
    for j in range(spk.size):
        idx[n] = j
        n += spk[j]
    return n


@njit(**JIT)
def _spiking_ids(spk, uo, idx, cnt):
    """The spiking units of layer ``l`` as ``idx[cnt[l]:cnt[l + 1]]`` (ids relative to
    the layer), from the step's spikes ``spk``."""
    cnt[0] = 0
    for l in range(uo.size - 1):
        cnt[l + 1] = cnt[l] + _compact(spk[uo[l]:uo[l + 1]], idx[cnt[l]:])


@njit(**JIT)
def _add_1row(c, r1):
    for k in range(c.size):
        c[k] += r1[k]


@njit(**JIT)
def _add_2rows(c, r1, r2):
    for k in range(c.size):
        a = c[k]
        a += r1[k]
        a += r2[k]
        c[k] = a


@njit(**JIT)
def _add_4rows(c, r1, r2, r3, r4):
    for k in range(c.size):
        a = c[k]
        a += r1[k]
        a += r2[k]
        a += r3[k]
        a += r4[k]
        c[k] = a


@njit(**JIT)
def _add_rows(M, n, ids, c):
    """``c += M[i, :]`` for every ``i`` in ``ids``, in that order (``M`` flat with ``n``
    columns). Wide rows go four at a time (one pass over ``c`` per four rows, the
    same sums in the same order); narrow rows (e.g. 10 outputs) in plain loops."""
    m = ids.size
    e = 0
    if n < 32:
        while e + 4 <= m:
            r1 = ids[e] * n
            r2 = ids[e + 1] * n
            r3 = ids[e + 2] * n
            r4 = ids[e + 3] * n
            for k in range(n):
                a = c[k]
                a += M[r1 + k]
                a += M[r2 + k]
                a += M[r3 + k]
                a += M[r4 + k]
                c[k] = a
            e += 4
        while e < m:
            r1 = ids[e] * n
            for k in range(n):
                c[k] += M[r1 + k]
            e += 1
        return
    while e + 4 <= m:
        r1 = ids[e] * n
        r2 = ids[e + 1] * n
        r3 = ids[e + 2] * n
        r4 = ids[e + 3] * n
        _add_4rows(c, M[r1:r1 + n], M[r2:r2 + n], M[r3:r3 + n], M[r4:r4 + n])
        e += 4
    if e + 2 <= m:
        r1 = ids[e] * n
        r2 = ids[e + 1] * n
        _add_2rows(c, M[r1:r1 + n], M[r2:r2 + n])
        e += 2
    if e < m:
        r1 = ids[e] * n
        _add_1row(c, M[r1:r1 + n])


@njit(**JIT)
def _add_rows_scaled(M, n, ids, eff, c):
    """``c += eff[e] * M[ids[e], :]`` for every spike ``e``, in order (synapses with
    short-term plasticity: each spike transmits its share ``eff`` of its weights)."""
    for e in range(ids.size):
        r = ids[e] * n
        a = eff[e]
        for k in range(n):
            c[k] += a * M[r + k]


@njit(**JIT)
def stp_decay(dx, du, dD, dF):
    """One step of recovery: ``1 - x`` and ``u - U`` decay toward rest (0)."""
    for j in range(dx.size):
        dx[j] *= dD
        du[j] *= dF


@njit(**JIT)
def stp_spikes(mode, U, ids, dx, du, eff):
    """The share ``eff[e] = u x / U`` each spike ``ids[e]`` transmits, then its
    synapses' state after it: ``x <- x (1 - u)``, ``u <- u + U (1 - u)`` (the order of
    Brian2's ``on_pre`` and reset, :func:`dendrinet.model.equations.stp_spike_code`)."""
    for e in range(ids.size):
        j = ids[e]
        if mode == STP_DEPRESSION:
            x = 1.0 - dx[j]
            eff[e] = x
            dx[j] = 1.0 - x * (1.0 - U)
        elif mode == STP_FACILITATION:
            u = U + du[j]
            eff[e] = u / U
            du[j] = du[j] + U * (1.0 - u)
        else:
            u = U + du[j]
            x = 1.0 - dx[j]
            eff[e] = u * x / U
            dx[j] = 1.0 - x * (1.0 - u)
            du[j] = du[j] + U * (1.0 - u)


@njit(**JIT)
def _apply_pending(L_, S_, c, J):
    for j in range(c.size):
        v = J * c[j]
        L_[j] += v
        S_[j] += v
        c[j] = 0.0


@njit(**JIT)
def _flush(x):
    for j in range(x.size):
        v = x[j]
        x[j] = v if abs(v) >= TINY else 0.0


@njit(**JIT)
def flush_tiny(st):
    """Set traces below ``TINY`` in magnitude to zero (see the module docstring)."""
    _flush(st.bL)
    _flush(st.bS)
    _flush(st.aL)
    _flush(st.aS)
    _flush(st.xL)
    _flush(st.xS)
    _flush(st.xinL)
    _flush(st.xinS)
    _flush(st.stp_dx)
    _flush(st.stp_du)


# ------------------------------------------------------------ presentation


#: Flags of :func:`run_presentation` (bits of its ``flags`` argument).
ACC_V = 1          # window sums of V (every unit)
ACC_S = 2          # window sums of s = xL - xS (every unit and input)
ACC_PHI_ALL = 4    # window sums of phi for every unit (otherwise output units only)
ACC_VA = 8         # window sums of the apical potential (see APICAL)
DRAW = 16          # draw unit spikes (otherwise read them from ``given``)
RECORD = 32        # write every spike into ``rec``
TRACES = 64        # write V, V_b, V_a after every state update (needs APICAL)
APICAL = 128       # explicit apical traces aL, aS (otherwise "projected", see below)
ACC_X = 256        # window sums of the extra state variables (every unit)


@njit(**JIT)
def run_presentation(net, st, scr, acc, pres, given, rec, traces):
    """Simulate one presentation.

    Parameters
    ----------
    net, st, scr, acc : Net, State, Scratch, Acc
        Constants, state (updated), scratch, window sums (added to; zero them before).
    pres : Presentation
        Input spikes, length, window, phase, label and flags: :data:`ACC_V`,
        :data:`ACC_S`, :data:`ACC_PHI_ALL`, :data:`ACC_VA`, :data:`ACC_X`, :data:`DRAW`,
        :data:`RECORD`, :data:`TRACES`, :data:`APICAL`.
    given : Rows
        Without ``DRAW``: unit spikes of step ``t`` are row ``given.row0 + t`` of
        ``given.spikes`` (uint8, columns = units).
    rec : Rows
        With ``RECORD``: spikes of step ``t`` go to row ``rec.row0 + t`` (columns =
        inputs, then units).
    traces : Traces
        With ``TRACES``: ``V``, ``V_b``, ``V_a`` of every unit after the state update of
        step ``t`` go to row ``traces.row0 + t`` (``traces.X``: the extra state
        variables, shape ``(rows, n_x, n_units)``).

    Notes
    -----
    Projected apical potential (``APICAL`` off). The apical traces are a fixed linear
    image of the output layer's own traces, ``aL = Y^T xL_out`` (both start at 0, get
    the same jumps ``J Y[k, :]`` / ``J`` for every output spike and decay alike), as
    long as ``Y`` never changes. When in addition ``g_A = 0`` (the apical potential does
    not act on the soma), the engine skips ``aL, aS`` and obtains the window mean of
    ``V_a`` as ``Y^T`` times the window mean of the output's ``xL - xS`` (accumulated
    here in ``acc.s`` of the output units when ``ACC_VA`` is set): the same quantity,
    with different rounding (about 1e-16 relative).
    """
    ev_ptr, ev_ids, ev0 = pres.ptr, pres.ids, pres.t0
    n_steps, settle, teach, label, flags = (pres.n_steps, pres.settle, pres.teach, pres.label,
                                            pres.flags)
    given_spikes, given0 = given.spikes, given.row0
    rec_spikes, rec0 = rec.spikes, rec.row0
    tr_V, tr_Vb, tr_Va, tr_X, tr0 = traces.V, traces.Vb, traces.Va, traces.X, traces.row0
    sizes, uo, wo, yo = net.sizes, net.uo, net.wo, net.yo
    L = sizes.size - 1
    n_in = sizes[0]
    n_units = uo[L]
    n_hid = uo[L - 1]
    J = net.J
    dL = net.dL
    dS = net.dS
    # what the model's neuron part reads (model_part.NeuronConstants)
    consts = NeuronConstants(J, dL, dS, net.dt_s, net.E_hid, net.cB, net.cA, net.P, st.s0,
                             st.s1)
    if teach:
        E_out = net.E_teach
        cD = net.cD_teach
        for k in range(sizes[L]):
            scr.drive[k] = net.drive_E if k == label else net.drive_I
    else:
        E_out = net.E_free
        cD = net.cD_free
        for k in range(sizes[L]):
            scr.drive[k] = 0.0
    acc_v = (flags & ACC_V) != 0
    acc_s = (flags & ACC_S) != 0
    acc_va = (flags & ACC_VA) != 0
    acc_x = (flags & ACC_X) != 0 and st.X.shape[0] > 0
    draw = (flags & DRAW) != 0
    record = (flags & RECORD) != 0
    traces = (flags & TRACES) != 0
    apical = (flags & APICAL) != 0
    sig_lo = 0 if (flags & ACC_PHI_ALL) != 0 else n_hid
    V, bL, bS, aL, aS, xL, xS = st.V, st.bL, st.bS, st.aL, st.aS, st.xL, st.xS
    X = st.X
    xinL, xinS = st.xinL, st.xinS
    stp_dx, stp_du, eff = st.stp_dx, st.stp_du, scr.eff
    stp_ff, stp_fb = net.stp_ff, net.stp_fb
    b, sig, spk, idx, cnt, c, ca = net.b, scr.sig, scr.spk, scr.idx, scr.cnt, scr.c, scr.ca
    c_in = scr.c_in
    # Input traces are updated lazily (they act on nothing; only their window sums are
    # used): xin[i] holds the value after step last[i] (-1: before step 0); in between
    # it decays geometrically, so it is brought up to date with powL[k] = dL^k when
    # input i spikes and at the end, and its window sum over a stretch of k steps is
    # xin * (cumL[b + 1] - cumL[a]), cumL[m] = 1 + dL + ... + dL^(m - 1).
    powL = np.empty(n_steps + 1)
    powS = np.empty(n_steps + 1)
    cumL = np.empty(n_steps + 2)
    cumS = np.empty(n_steps + 2)
    powL[0] = 1.0
    powS[0] = 1.0
    cumL[0] = 0.0
    cumS[0] = 0.0
    for k in range(1, n_steps + 1):
        powL[k] = powL[k - 1] * dL
        powS[k] = powS[k - 1] * dS
    for k in range(1, n_steps + 2):
        cumL[k] = cumL[k - 1] + powL[k - 1]
        cumS[k] = cumS[k - 1] + powS[k - 1]
    last = scr.last
    last[:] = -1
    for t in range(n_steps):
        if t % FLUSH_EVERY == 0:
            flush_tiny(st)
        window = t >= settle
        # 1. state update of every layer from its start-of-step values; trace decays
        # (layer 0's pending input is c_in, of the type of W_in; its part of c stays 0)
        for l in range(L - 1):
            lo = uo[l]
            hi = uo[l + 1]
            if apical:
                if l == 0:
                    net.update_hidden_in(consts, V[lo:hi], bL[lo:hi], bS[lo:hi], c_in,
                                           aL[lo:hi], aS[lo:hi], b[lo:hi], X, lo, hi)
                else:
                    net.update_hidden(consts, V[lo:hi], bL[lo:hi], bS[lo:hi], c[lo:hi],
                                        aL[lo:hi], aS[lo:hi], b[lo:hi], X, lo, hi)
            elif l == 0:
                net.update_hidden_projected_in(consts, V[lo:hi], bL[lo:hi], bS[lo:hi], c_in,
                                                 b[lo:hi], X, lo, hi)
            else:
                net.update_hidden_projected(consts, V[lo:hi], bL[lo:hi], bS[lo:hi], c[lo:hi],
                                              b[lo:hi], X, lo, hi)
        if L == 1:  # no hidden layer: the inputs drive the output layer
            net.update_output_in(consts, V, bL, bS, c_in, b, X, 0, n_units, scr.drive, E_out,
                                   cD, teach, label)
        else:
            net.update_output(consts, V[n_hid:], bL[n_hid:], bS[n_hid:], c[n_hid:],
                                b[n_hid:], X, n_hid, n_units, scr.drive, E_out, cD, teach, label)
        _decay_jump(xL, xS, spk, J, dL, dS)
        if stp_ff != STP_NONE:
            stp_decay(stp_dx[:n_hid], stp_du[:n_hid], net.stp_ff_dD, net.stp_ff_dF)
        if stp_fb != STP_NONE:
            stp_decay(stp_dx[n_hid:], stp_du[n_hid:], net.stp_fb_dD, net.stp_fb_dF)
        # 2. window sums and traces, from the updated state
        if window:
            _sigmoid(V[sig_lo:], sig[sig_lo:])
            _add_scaled(acc.phi[sig_lo:], sig[sig_lo:], net.phi_max)
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
            for j in range(n_hid, n_units):  # output units: no apical input (0)
                tr_Va[row, j] = aL[j] - aS[j]
            net.apical_row(consts, tr_Va[row, :n_hid], V[:n_hid], bL[:n_hid], bS[:n_hid],
                             aL[:n_hid], aS[:n_hid], b[:n_hid], X, 0, n_hid)
            tr_X[row, :, :] = X
        # 3. spikes; the spiking units of layer l are idx[cnt[l]:cnt[l + 1]] (relative ids)
        if draw:
            _draw(V, st.s0, st.s1, net.p_max, spk, scr, uo, idx, cnt)
            if net.spike_condition:  # the model's own condition (Brian2: draw or condition)
                for l in range(L):
                    lo = uo[l]
                    hi = uo[l + 1]
                    if l < L - 1:
                        net.spike_condition_hidden(consts, V[lo:hi], aL[lo:hi], aS[lo:hi], X,
                                                   spk[lo:hi], lo)
                    else:
                        net.spike_condition_output(consts, V[lo:hi], aL[lo:hi], aS[lo:hi], X,
                                                   spk[lo:hi], lo)
                _spiking_ids(spk, uo, idx, cnt)
        else:
            for j in range(n_units):
                spk[j] = given_spikes[given0 + t, j]
            _spiking_ids(spk, uo, idx, cnt)
        e0 = ev_ptr[ev0 + t]
        e1 = ev_ptr[ev0 + t + 1]
        if record:
            r = rec0 + t
            for e in range(e0, e1):
                rec_spikes[r, ev_ids[e]] = 1
            for j in range(n_units):
                rec_spikes[r, n_in + j] = spk[j]
        # 4. propagation: inputs -> layer 0, layer l -> layer l + 1, output -> apical;
        #    the rows of one step's spikes are summed, then added to both traces
        if e1 > e0:
            for e in range(e0, e1):
                i = ev_ids[e]
                k = t - last[i]
                if acc_s and window:  # window sum of the stretch last+1 .. t
                    a = max(settle, last[i] + 1) - last[i]
                    acc.s_in[i] += (xinL[i] * (cumL[k + 1] - cumL[a])
                                    - xinS[i] * (cumS[k + 1] - cumS[a]))
                xinL[i] = xinL[i] * powL[k] + J
                xinS[i] = xinS[i] * powS[k] + J
                last[i] = t
            _add_rows(net.W_in, sizes[1], ev_ids[e0:e1], c_in)
        for l in range(L):
            if cnt[l + 1] == cnt[l]:
                continue
            spiking = idx[cnt[l]:cnt[l + 1]]
            stp = stp_ff if l < L - 1 else stp_fb
            if stp != STP_NONE:  # each spike's share of its weights; its synapses' state
                lo = uo[l]
                stp_spikes(stp, net.stp_ff_U if l < L - 1 else net.stp_fb_U, spiking,
                            stp_dx[lo:uo[l + 1]], stp_du[lo:uo[l + 1]], eff)
            if l < L - 1:  # into c, added to the traces at the next step (or below)
                if stp != STP_NONE:
                    _add_rows_scaled(net.W[wo[l + 1]:wo[l + 2]], sizes[l + 2], spiking, eff,
                                     c[uo[l + 1]:uo[l + 2]])
                else:
                    _add_rows(net.W[wo[l + 1]:wo[l + 2]], sizes[l + 2], spiking,
                              c[uo[l + 1]:uo[l + 2]])
            elif apical:
                for h in range(L - 1):
                    lo = uo[h]
                    hi = uo[h + 1]
                    if stp != STP_NONE:
                        _add_rows_scaled(net.Y[yo[h]:yo[h + 1]], sizes[h + 1], spiking, eff,
                                         ca[lo:hi])
                    else:
                        _add_rows(net.Y[yo[h]:yo[h + 1]], sizes[h + 1], spiking, ca[lo:hi])
                    _apply_pending(aL[lo:hi], aS[lo:hi], ca[lo:hi], J)
        if net.on_spike:  # the model's own code on its spikes: Brian2's reset slot, after
            for l in range(L):  # the synapses (the apical traces hold this step's input)
                if cnt[l + 1] > cnt[l]:
                    lo = uo[l]
                    hi = uo[l + 1]
                    ids = idx[cnt[l]:cnt[l + 1]]
                    if l < L - 1:
                        net.on_spike_hidden(consts, V[lo:hi], aL[lo:hi], aS[lo:hi], X, ids, lo)
                    else:
                        net.on_spike_output(consts, V[lo:hi], aL[lo:hi], aS[lo:hi], X, ids, lo)
    # leave a plain state: pending basal input and own-trace jumps added, input traces
    # up to date
    _apply_pending(bL, bS, c, J)
    _apply_pending(bL[:uo[1]], bS[:uo[1]], c_in, J)
    _decay_jump(xL, xS, spk, J, 1.0, 1.0)
    spk[:] = 0
    _catch_up(xinL, xinS, last, powL, powS, cumL, cumS, n_steps - 1, settle, acc.s_in,
              acc_s and n_steps > settle)


@njit(**JIT)
def _catch_up(xL, xS, last, powL, powS, cumL, cumS, t, settle, sums, accumulate):
    """Bring lazily decayed traces up to date (the value after step ``t``), adding the
    window sums of the stretch ``last + 1 .. t`` first if ``accumulate``."""
    for i in range(xL.size):
        k = t - last[i]
        if accumulate and k > 0:
            a = max(settle, last[i] + 1) - last[i]
            if a <= k:
                sums[i] += xL[i] * (cumL[k + 1] - cumL[a]) - xS[i] * (cumS[k + 1] - cumS[a])
        xL[i] *= powL[k]
        xS[i] *= powS[k]
        last[i] = t


@njit(**JIT)
def mean_apical(net, acc, n_window, apical, out):
    """Window mean of ``V_a`` of every hidden unit into ``out[:n_hidden]``: from the
    apical sums (``apical``), or ``Y_l^T`` times the output's mean ``xL - xS``."""
    sizes, uo, yo = net.sizes, net.uo, net.yo
    L = sizes.size - 1
    n_hid = uo[L - 1]
    if apical:
        for j in range(n_hid):
            out[j] = acc.Va[j] / n_window
        return
    n_out = sizes[L]
    s_out = acc.s[n_hid:]
    for l in range(L - 1):
        n = sizes[l + 1]
        Y = net.Y[yo[l]:yo[l + 1]]
        o = out[uo[l]:uo[l + 1]]
        for j in range(n):
            o[j] = 0.0
        for k in range(n_out):
            a = s_out[k] / n_window
            row = Y[k * n:(k + 1) * n]
            for j in range(n):
                o[j] += row[j] * a
