"""Plasticity kernels (Numba, in place): the local learning rules of Guerguiev,
Lillicrap & Richards (eLife 2017) and the backprop reference they are compared with.

Once per training example, after its target phase (docs/design.md, "Plasticity"):

* output layer: ``e = (phi_bar_t - phi_max sig(V_f)) k_D phi_max sig'(V_f)``,
  ``W += eta P_out outer(s_bar_f(pre), e)``, ``b += eta P_out e``;
* hidden layer ``l``: ``e_l = (alpha_t - alpha_f) k_B phi_max sig'(V_f)``,
  ``W_l += eta_l P_hid outer(s_bar_f(pre), e_l)``, ``b_l += eta_l P_hid e_l``;
* backprop reference: ``e_bp`` of the top hidden layer is ``(W_out @ e_out) k_B phi_max
  sig'(V_f)``, and of lower layers ``(W_{l+1} @ e_bp_{l+1}) k_B phi_max sig'(V_f)``. The
  angle between ``e_l`` and ``e_bp_l`` (degrees) is the angle between the rule's
  update and backprop's (the presynaptic factor is shared).

Order. Every error (the rule's and backprop's) is computed from the parameters as they
were during the example; then the output layer is updated, then the hidden layers, then
the feedback weights. No update reads another's result, so this equals "output layer
first" for every mode.

Feedback modes (``model.feedback.mode``):

``random``, ``sparse``
    ``Y`` stays fixed (its sparsity pattern was drawn at initialisation).
``symmetric``, ``noisy_symmetric``
    After the updates ``Y_l = (W_{l+1} ... W_out)^T + noise_l`` (the fixed noise of
    :attr:`~dendrinet.model.weights.Parameters.Y_noise`): the semantics of
    :func:`dendrinet.model.weights.refresh_feedback`, recomputed in Numba.
``learned``
    ``Y_l += eta_Y P_out outer(e_out, s_bar_f(hidden l))``: a local rule (output error
    times the hidden neuron's own forward-phase activity, both available at the
    feedback synapse). For the top hidden layer it is ``(eta_Y / eta_out)`` times the
    transpose of the output layer's update, so ``Y`` moves along ``W_out^T``
    (Kolen-Pollack-like alignment without weight decay).
``backprop``
    Hidden layers use ``e_bp_l`` instead of ``e_l`` (same ``P_hid`` and ``eta_l``). The
    recorded angle is that of the update actually applied, hence 0 in this mode.

``model.learning.train_hidden = False`` updates the output layer only (errors, losses
and angles are still computed and recorded).

Numbers are float64 throughout; ``sig`` is the logistic function.
"""
from __future__ import annotations

import math
from collections import namedtuple
from typing import Sequence

import numpy as np
from numba import njit

from dendrinet.config import FEEDBACK_MODES, ModelConfig
from dendrinet.engine.results import n_stats, stat_names
from dendrinet.learning.layout import FlatLayout, FlatParams
from dendrinet.jit.numerics import JIT, sigmoid
from dendrinet.jit.random_streams import derive_key
from dendrinet.learning.rules import HiddenLayer
from dendrinet.errors import DendrinetError
from dendrinet.model.equations import extra_state_variables
from dendrinet.model.weights import Parameters

__all__ = [
    "MODE_CODES", "mode_code", "output_error",
    "hidden_error", "backprop_error", "apply_update", "angle_degrees",
    "learned_feedback_update", "symmetric_feedback_flat", "learn_flat", "learn", "Rule",
    "Example", "Updates", "make_rule", "new_example", "new_updates", "learn_example",
]

#: Integer code of each feedback mode inside the kernels.
MODE_CODES = {name: i for i, name in enumerate(FEEDBACK_MODES)}
RANDOM, SPARSE, SYMMETRIC, NOISY_SYMMETRIC, LEARNED, BACKPROP = (
    MODE_CODES[m] for m in ("random", "sparse", "symmetric", "noisy_symmetric", "learned",
                            "backprop"))

def mode_code(model: ModelConfig) -> int:
    """The kernel code of ``model.feedback.mode``."""
    return MODE_CODES[model.feedback.mode]


# ------------------------------------------------------------------ kernels


@njit(**JIT)
def output_error(V_f, phi_bar_t, phi_max, k_D, e, sigmoid_slope=True):
    """Output error, written into ``e``; returns the output loss.

    Parameters
    ----------
    V_f : float64 array (n_out,)
        Mean forward-phase somatic potential (dimensionless).
    phi_bar_t : float64 array (n_out,)
        Mean target-phase rate ``phi_max sig(V)``, 1/ms.
    phi_max : float
        Maximum rate, 1/ms.
    k_D : float
        Dendritic attenuation ``g_D / (g_L + g_D)``.
    e : float64 array (n_out,), output
        ``(phi_bar_t - phi_max sig(V_f)) k_D phi_max sig'(V_f)``, 1/ms^2.
    sigmoid_slope : bool
        True: the slope ``sig'(V_f)`` as above (the paper's). False: its value at
        ``V_f = 0``, 1/4, for every unit (``[learning] output_slope = "constant"``): a unit
        pushed far below threshold keeps learning from its teacher.

    Returns
    -------
    float
        ``||phi_bar_t - phi_max sig(V_f)||^2``, (1/ms)^2.
    """
    loss = 0.0
    for k in range(V_f.size):
        s = sigmoid(V_f[k])
        diff = phi_bar_t[k] - phi_max * s
        loss += diff * diff
        if sigmoid_slope:
            e[k] = diff * k_D * phi_max * s * (1.0 - s)
        else:
            e[k] = diff * k_D * phi_max * 0.25
    return loss


@njit(**JIT)
def hidden_error(V_f, alpha_f, alpha_t, phi_max, k_B, e):
    """Hidden-layer error, written into ``e``; returns (loss, mean, s.d.) of the
    plateau difference.

    Parameters
    ----------
    V_f : float64 array (n,)
        Mean forward-phase somatic potential.
    alpha_f, alpha_t : float64 arrays (n,)
        Forward- and target-phase plateau potentials ``sig(mean V_a)`` (in (0, 1)).
    phi_max : float
        Maximum rate, 1/ms.
    k_B : float
        Basal attenuation ``g_B / (g_L + g_B + g_A)``.
    e : float64 array (n,), output
        ``(alpha_t - alpha_f) k_B phi_max sig'(V_f)``, 1/ms.

    Returns
    -------
    loss, mean, sd : float
        ``||alpha_t - alpha_f||^2`` and the mean and population s.d. (ddof 0) of
        ``alpha_t - alpha_f`` over the layer.
    """
    for j in range(V_f.size):  # no reduction in this loop: it vectorises
        s = sigmoid(V_f[j])
        e[j] = (alpha_t[j] - alpha_f[j]) * k_B * phi_max * s * (1.0 - s)
    return plateau_stats(alpha_f, alpha_t)


@njit(**JIT)
def plateau_stats(alpha_f, alpha_t):
    """``(||alpha_t - alpha_f||^2, mean, population s.d.)`` of the plateau difference."""
    n = alpha_f.size
    total = 0.0
    loss = 0.0
    for j in range(n):
        d = alpha_t[j] - alpha_f[j]
        total += d
        loss += d * d
    mean = total / n
    var = loss / n - mean * mean
    return loss, mean, math.sqrt(var if var > 0.0 else 0.0)


@njit(**JIT)
def backprop_error(W_above, e_above, V_f, phi_max, k_B, out):
    """Backpropagated error of a hidden layer: ``out = (W_above @ e_above) k_B phi_max
    sig'(V_f)``.

    Parameters
    ----------
    W_above : float64 array (n, n_above)
        Weights from this layer to the layer above (input-major).
    e_above : float64 array (n_above,)
        Error of the layer above (the output error, or the backprop error of the
        hidden layer above).
    V_f : float64 array (n,)
    phi_max, k_B : float
    out : float64 array (n,), output
    """
    n, n_above = W_above.shape
    for j in range(n):
        acc = 0.0
        for k in range(n_above):
            acc += W_above[j, k] * e_above[k]
        out[j] = acc
    for j in range(n):  # vectorises
        s = sigmoid(V_f[j])
        out[j] *= k_B * phi_max * s * (1.0 - s)


@njit(**JIT)
def apply_update(W, b, s_pre, e, scale, W_copy=None):
    """``W += scale * outer(s_pre, e)`` and ``b += scale * e``, in place.

    Parameters
    ----------
    W : float64 array (n_pre, n_post), input-major
    b : float64 array (n_post,)
    s_pre : float64 array (n_pre,)
        Mean forward-phase filtered presynaptic spike train, 1/ms.
    e : float64 array (n_post,)
        Error of the postsynaptic layer.
    scale : float
        ``eta * P`` of the layer.
    W_copy : array (n_pre * n_post,), optional
        A flat lower-precision copy of ``W`` (the fast engine's float32 input weights):
        its changed rows are rewritten from ``W`` while they are in cache.
    """
    n_pre, n_post = W.shape
    for i in range(n_pre):
        a = scale * s_pre[i]
        if a != 0.0:  # rows of silent inputs: nothing to add (saves memory traffic)
            for j in range(n_post):
                W[i, j] += a * e[j]
            if W_copy is not None:
                row = W_copy[i * n_post:(i + 1) * n_post]
                for j in range(n_post):
                    row[j] = W[i, j]
    for j in range(n_post):
        b[j] += scale * e[j]


@njit(**JIT)
def angle_degrees(a, b):
    """Angle between two vectors, degrees in [0, 180]; NaN if either is zero.

    Kahan's form ``2 atan2(|u - v|, |u + v|)`` of the unit vectors, accurate also near
    0 and 180 degrees (``acos`` of the cosine loses half the digits there).
    """
    na = 0.0
    nb = 0.0
    for i in range(a.size):
        na += a[i] * a[i]
        nb += b[i] * b[i]
    if na == 0.0 or nb == 0.0:
        return np.nan
    na = math.sqrt(na)
    nb = math.sqrt(nb)
    minus = 0.0
    plus = 0.0
    for i in range(a.size):
        u = a[i] / na
        v = b[i] / nb
        minus += (u - v) * (u - v)
        plus += (u + v) * (u + v)
    return math.degrees(2.0 * math.atan2(math.sqrt(minus), math.sqrt(plus)))


@njit(**JIT)
def learned_feedback_update(Y, e_out, s_hidden, scale):
    """``Y += scale * outer(e_out, s_hidden)`` (learned feedback), in place.

    ``Y`` is ``(n_out, n_hidden)``; ``s_hidden`` the hidden layer's mean forward-phase
    filtered spike train (1/ms); ``scale = eta_Y * P_out``.
    """
    n_out, n = Y.shape
    for k in range(n_out):
        a = scale * e_out[k]
        for j in range(n):
            Y[k, j] += a * s_hidden[j]


@njit(**JIT)
def symmetric_feedback_flat(W, sizes, wo, Y, yo, Y_noise, work):
    """``Y_l = (W_{l+1} ... W_out)^T + Y_noise_l`` for every hidden layer, in the flat
    layout of :class:`dendrinet.learning.layout.FlatLayout` (in place).

    ``work`` needs ``2 * max(hidden sizes) * n_out`` elements.
    """
    L = sizes.size - 1
    if L < 2:
        return
    n_out = sizes[L]
    half = work.size // 2
    prev = work[:half]
    new = work[half:]
    # M_{L-2} = W_{L-1}, shape (sizes[L-1], n_out)
    n_rows = sizes[L - 1]
    for r in range(n_rows * n_out):
        prev[r] = W[wo[L - 1] + r]
    for l in range(L - 2, -1, -1):
        n_rows = sizes[l + 1]
        if l < L - 2:
            # M_l = W_{l+1} @ M_{l+1}: (sizes[l+1], sizes[l+2]) @ (sizes[l+2], n_out)
            n_mid = sizes[l + 2]
            for r in range(n_rows * n_out):
                new[r] = 0.0
            for r in range(n_rows):
                for m in range(n_mid):
                    w = W[wo[l + 1] + r * n_mid + m]
                    for k in range(n_out):
                        new[r * n_out + k] += w * prev[m * n_out + k]
            prev, new = new, prev
        for k in range(n_out):
            for r in range(n_rows):
                idx = yo[l] + k * n_rows + r
                Y[idx] = prev[r * n_out + k] + Y_noise[idx]


@njit(**JIT)
def learn_flat(net, rule, ex, out, W_in_copy=None):
    """One example's plasticity on the flat parameter layout, in place.

    Parameters
    ----------
    net : namedtuple with ``sizes, uo, wo, yo`` (int64 layout offsets) and ``W, b, Y``
        (flat float64 parameters, :class:`~dendrinet.learning.layout.FlatLayout`),
        e.g. the engine's ``Net`` or :class:`~dendrinet.learning.layout.FlatParams`;
        ``W``, ``b`` and (symmetric and learned modes) ``Y`` are updated.
    rule : Rule
        The learning rule's constants (:func:`make_rule`).
    ex : Example
        What the layers exposed at the end of the example (:func:`new_example`): mean
        forward-phase potentials ``V_f``, plateaus ``alpha_f``/``alpha_t`` (hidden
        units), mean target-phase rates ``phi_t`` (1/ms, output units), mean
        forward-phase filtered spike trains ``s_in`` (inputs) and ``s_units``, 1/ms;
        ``key[0]`` a number unique to the example (for rules that draw random numbers);
        ``X_f``, ``X_t`` (n_x, n_units): forward- and target-phase window means of the
        extra state variables (the hidden layers' rows ``:rule.n_x_hidden`` reach the rule).
        The hidden layers' errors come from the model's rule
        (:mod:`~dendrinet.learning.rules`), ``rule.hidden_layer_error``.
    out : Updates
        On return: the errors applied (``e``), the backprop errors (``e_bp``; output
        entries hold the output error) and ``stats``: ``loss_out``, then per hidden
        layer ``loss_hidden, angle (degrees), alpha_diff_mean, alpha_diff_sd`` (see
        :func:`stat_names`); ``work`` is scratch.
    W_in_copy : array, optional
        Flat copy of the first weight matrix in another precision, kept equal to it
        (rounded) through :func:`apply_update`.
    """
    W, b, Y = net.W, net.b, net.Y
    sizes, uo, wo, yo = net.sizes, net.uo, net.wo, net.yo
    V_f, alpha_f, alpha_t, phi_t = ex.V_f, ex.alpha_f, ex.alpha_t, ex.phi_t
    s_in, s_units = ex.s_in, ex.s_units
    eta, P_hid, P_out, k_B, k_D = rule.eta, rule.P_hid, rule.P_out, rule.k_B, rule.k_D
    phi_max, mode, train_hidden, eta_Y = rule.phi_max, rule.mode, rule.train_hidden, rule.eta_Y
    Y_noise, n_xh = rule.Y_noise, rule.n_x_hidden
    e, e_bp, work, stats = out.e, out.e_bp, out.work, out.stats
    L = sizes.size - 1
    n_out = sizes[L]
    lo = uo[L - 1]
    hi = uo[L]
    stats[0] = output_error(V_f[lo:hi], phi_t[lo:hi], phi_max, k_D, e[lo:hi],
                            rule.output_sigmoid_slope)
    e_bp[lo:hi] = e[lo:hi]
    # errors, top hidden layer down; all from the current (pre-update) parameters
    for l in range(L - 2, -1, -1):
        lo = uo[l]
        hi = uo[l + 1]
        # an exception inside the rule cannot cross the function pointer (Numba prints it
        # and goes on): NaN errors make such an example stop training at the chunk's
        # finiteness check instead of learning from the last example's errors
        e[lo:hi] = np.nan
        rule.hidden_layer_error(HiddenLayer(l, V_f[lo:hi], alpha_f[lo:hi], alpha_t[lo:hi],
                                       s_in if l == 0 else s_units[uo[l - 1]:uo[l]],
                                       s_units[lo:hi], e[uo[L - 1]:uo[L]],
                                       Y[yo[l]:yo[l + 1]].reshape((n_out, sizes[l + 1])),
                                       phi_max, k_B, derive_key(ex.key[0], l),
                                       ex.X_f[:n_xh, lo:hi], ex.X_t[:n_xh, lo:hi]), e[lo:hi])
        loss, mean, sd = plateau_stats(alpha_f[lo:hi], alpha_t[lo:hi])
        W_above = W[wo[l + 1]:wo[l + 2]].reshape((sizes[l + 1], sizes[l + 2]))
        backprop_error(W_above, e_bp[uo[l + 1]:uo[l + 2]], V_f[lo:hi], phi_max, k_B,
                       e_bp[lo:hi])
        stats[1 + 4 * l] = loss
        stats[3 + 4 * l] = mean
        stats[4 + 4 * l] = sd
    if mode == BACKPROP:
        for j in range(uo[L - 1]):
            e[j] = e_bp[j]
    for l in range(L - 1):  # angle of the update actually applied (0 in backprop mode)
        stats[2 + 4 * l] = angle_degrees(e[uo[l]:uo[l + 1]], e_bp[uo[l]:uo[l + 1]])
    # updates: output layer first, then hidden layers
    for l in range(L - 1, -1, -1):
        if l < L - 1 and not train_hidden:
            break
        pre = s_in if l == 0 else s_units[uo[l - 1]:uo[l]]
        W_l = W[wo[l]:wo[l + 1]].reshape((sizes[l], sizes[l + 1]))
        P = P_out if l == L - 1 else P_hid
        if l == 0:
            apply_update(W_l, b[uo[l]:uo[l + 1]], pre, e[uo[l]:uo[l + 1]], eta[l] * P,
                         W_in_copy)
        else:
            apply_update(W_l, b[uo[l]:uo[l + 1]], pre, e[uo[l]:uo[l + 1]], eta[l] * P)
    # feedback
    if mode == SYMMETRIC or mode == NOISY_SYMMETRIC:
        symmetric_feedback_flat(W, sizes, wo, Y, yo, Y_noise, work)
    elif mode == LEARNED:
        e_out = e[uo[L - 1]:uo[L]]
        for l in range(L - 1):
            Y_l = Y[yo[l]:yo[l + 1]].reshape((n_out, sizes[l + 1]))
            learned_feedback_update(Y_l, e_out, s_units[uo[l]:uo[l + 1]], eta_Y * P_out)


@njit(**JIT)
def learn(net, rule, ex, out):
    """:func:`learn_flat` on ``net``'s flat parameters, keeping a float32 ``W_in`` (the
    fast engine's input weights, ``net.W_in_copy``) equal to the learned ``W_0``."""
    if net.W_in_copy:
        learn_flat(net, rule, ex, out, net.W_in)
    else:
        learn_flat(net, rule, ex, out)


# -------------------------------------------------------------- Python API

#: The learning rule's constants, built once from the model by :func:`make_rule`, and
#: its hidden layers' rule as a first-class function (``hidden_layer_error(layer, e)``,
#: :mod:`dendrinet.learning.rule_part`): the kernels are compiled once for every rule.
#: Adding a learning parameter: the model file, its dataclass (``dendrinet.config``),
#: one field here and the kernel that reads it.
Rule = namedtuple("Rule", ["eta", "P_hid", "P_out", "k_B", "k_D", "phi_max", "mode",
                           "train_hidden", "eta_Y", "Y_noise", "hidden_layer_error",
                           "output_sigmoid_slope", "n_x_hidden"])

#: What the layers expose at the end of an example, flat over units (see learn_flat).
Example = namedtuple("Example", ["V_f", "alpha_f", "alpha_t", "phi_t", "s_in", "s_units",
                                 "key", "X_f", "X_t"])

#: The rule's results for one example, and its scratch (see learn_flat).
Updates = namedtuple("Updates", ["e", "e_bp", "work", "stats"])


def make_rule(model: ModelConfig, Y_noise: np.ndarray, epoch: int = 0) -> Rule:
    """The constants of ``model``'s learning rule in epoch ``epoch`` (from 0).

    Parameters
    ----------
    model : ModelConfig
    Y_noise : float64 array
        Flat fixed feedback noise (``FlatLayout.pack``; zeros unless ``noisy_symmetric``).
    epoch : int
        Epochs trained before this one: the learning rates are ``eta * eta_decay**epoch``.
    """
    from dendrinet.learning.rule_part import bound_rule

    n = model.neuron
    # eta_decay = 1 multiplies by exactly 1.0: constant rates stay bit-identical
    eta = np.asarray(model.learning.eta, dtype=np.float64) * model.learning.eta_decay ** epoch
    return Rule(eta, float(model.P_hidden),
                float(model.P_output), float(n.k_B), float(n.k_D), float(n.phi_max),
                mode_code(model), bool(model.learning.train_hidden),
                float(model.feedback.eta_Y), Y_noise, bound_rule(model),
                model.learning.output_slope == "sigmoid",
                len(extra_state_variables(model, "hidden")))


def new_example(n_inputs: int, n_units: int, n_x: int = 0) -> Example:
    """Zeroed :data:`Example` buffers (``n_x``: rows of extra state variables, the
    engine's ``net.n_x``)."""
    return Example(np.zeros(n_units), np.zeros(n_units), np.zeros(n_units), np.zeros(n_units),
                   np.zeros(n_inputs), np.zeros(n_units), np.zeros(1, np.uint64),
                   np.zeros((n_x, n_units)), np.zeros((n_x, n_units)))


def new_updates(sizes) -> Updates:
    """Zeroed :data:`Updates` buffers for a network with layer sizes ``sizes``."""
    sizes = np.asarray(sizes)
    n_units = int(sizes[1:].sum())
    return Updates(np.zeros(n_units), np.zeros(n_units), np.zeros(work_size(sizes)),
                   np.zeros(n_stats(sizes.size - 2)))


def work_size(sizes) -> int:
    """Scratch length needed by :func:`symmetric_feedback_flat` / :func:`learn_flat`."""
    sizes = list(sizes)
    hidden = sizes[1:-1]
    return max(1, 2 * max(hidden, default=0) * sizes[-1])


def learn_example(params: Parameters, model: ModelConfig, V_f: Sequence[np.ndarray],
                  alpha_f: Sequence[np.ndarray], alpha_t: Sequence[np.ndarray],
                  phi_bar_t: np.ndarray, s_bar_f: Sequence[np.ndarray], key: int = 0,
                  X_f: Sequence[np.ndarray] | None = None,
                  X_t: Sequence[np.ndarray] | None = None) -> dict:
    """Apply one example's plasticity to ``params`` (in place) and return its record.

    The model's own rule (``[learning] rule``), through the same kernel (:func:`learn_flat`) as the fast engine; for engines that compute
    the phase averages themselves (the Brian2 engine).

    Parameters
    ----------
    params : Parameters
        Updated in place (``W``, ``b``, and ``Y`` in the symmetric and learned modes).
    model : ModelConfig
    V_f : sequence of arrays
        Mean forward-phase somatic potentials per layer: hidden layers, then output.
    alpha_f, alpha_t : sequence of arrays
        Forward/target plateau potentials per hidden layer.
    phi_bar_t : array (n_out,)
        Mean target-phase output rates, 1/ms.
    s_bar_f : sequence of arrays
        Mean forward-phase filtered spike trains, 1/ms: input, then each hidden layer.
    key : int
        A number unique to the example (random numbers of rules that draw them, e.g.
        ``noise-feedback``).
    X_f, X_t : sequence of arrays, optional
        Forward- and target-phase window means of the model's extra hidden state
        variables, one ``(n_variables, n)`` array per hidden layer (rows in the order of
        ``[equations] hidden_extra``); required when the model has such variables.

    Returns
    -------
    dict
        ``loss_out``, and per hidden layer ``loss_hidden_<l>``, ``angle_<l>`` (degrees),
        ``alpha_diff_mean_<l>``, ``alpha_diff_sd_<l>``; ``e_<l>`` (the errors applied,
        one per layer) and ``e_bp_<l>`` (backprop errors per hidden layer).
    """
    layout = FlatLayout.from_sizes(params.layer_sizes)
    L = layout.n_layers
    if len(V_f) != L or len(alpha_f) != L - 1 or len(alpha_t) != L - 1 or len(s_bar_f) != L:
        raise DendrinetError(
            f"learn_example: expected {L} V_f arrays, {L - 1} alpha_f and alpha_t arrays and "
            f"{L} s_bar_f arrays (input + hidden) for a network with {L - 1} hidden layer(s)")
    n_units = layout.n_units

    def units(parts, fill_output=None):
        out = np.zeros(n_units)
        for l, part in enumerate(parts):
            out[layout.uo[l]:layout.uo[l + 1]] = part
        if fill_output is not None:
            out[layout.uo[L - 1]:] = fill_output
        return out

    for name, parts, sizes in (("V_f", V_f, layout.sizes[1:]), ("s_bar_f", s_bar_f,
                                                                  layout.sizes[:-1]),
                               ("alpha_f", alpha_f, layout.sizes[1:-1]),
                               ("alpha_t", alpha_t, layout.sizes[1:-1])):
        for l, (part, n) in enumerate(zip(parts, sizes)):
            if np.shape(part) != (n,):
                raise DendrinetError(f"learn_example: {name}[{l}] has shape {np.shape(part)}, "
                                     f"expected ({n},)")
    n_x = len(extra_state_variables(model, "hidden"))
    extra = []
    for name, parts in (("X_f", X_f), ("X_t", X_t)):
        rows = np.zeros((n_x, n_units))
        if parts is None and n_x:
            raise DendrinetError(f"learn_example: the model has extra hidden state variables; "
                                 f"give {name} (one ({n_x}, n) array per hidden layer)")
        if parts is not None:
            if len(parts) != L - 1:
                raise DendrinetError(f"learn_example: expected {L - 1} {name} arrays (one per "
                                     "hidden layer)")
            for l, part in enumerate(parts):
                if np.shape(part) != (n_x, layout.sizes[l + 1]):
                    raise DendrinetError(f"learn_example: {name}[{l}] has shape "
                                         f"{np.shape(part)}, expected "
                                         f"({n_x}, {layout.sizes[l + 1]})")
                rows[:, layout.uo[l]:layout.uo[l + 1]] = part
        extra.append(rows)
    W, b, Y, Yn = layout.pack(params)
    ex = Example(units(V_f), units(alpha_f), units(alpha_t), units([], phi_bar_t),
                 np.ascontiguousarray(s_bar_f[0], dtype=np.float64), units(s_bar_f[1:]),
                 np.array([key], np.uint64), *extra)
    out = new_updates(layout.sizes)
    learn_flat(FlatParams(layout.sizes, layout.uo, layout.wo, layout.yo, W, b, Y),
               make_rule(model, Yn), ex, out)
    layout.unpack_into(params, W, b, Y)
    record = dict(zip(stat_names(L - 1), out.stats.tolist()))
    for l in range(L):
        record[f"e_{l}"] = layout.layer_units(out.e, l).copy()
    for l in range(L - 1):
        record[f"e_bp_{l}"] = layout.layer_units(out.e_bp, l).copy()
    return record
