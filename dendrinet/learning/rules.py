"""Learning rules for the hidden layers, as Numba functions of what a layer exposes.

A rule computes the **error** ``e`` of one hidden layer at the end of a training example;
dendrinet then applies the local update every rule here shares,
``W_l += eta_l P_hid outer(s_pre, e)`` and ``b_l += eta_l P_hid e``
(:func:`dendrinet.learning.plasticity.learn_flat`), and the output layer keeps its
own rule (the teaching-signal error). A rule is an ``@njit`` function
``rule(layer, e)`` that writes ``e`` (one value per unit of the layer, 1/ms) from

:class:`HiddenLayer`
    ``index`` (0 = lowest hidden layer), ``V_f`` (mean forward-phase somatic potential),
    ``alpha_f`` / ``alpha_t`` (forward- / target-phase plateau potentials
    ``sig(mean V_a)``), ``s_pre`` (mean forward-phase filtered presynaptic spike trains,
    1/ms), ``s_f`` (the layer's own), ``e_out`` (the output layer's error of this example),
    ``Y`` (feedback weights output -> this layer, shape ``(n_out, n)``), ``phi_max``
    (1/ms), ``k_B`` (basal attenuation ``g_B/(g_L + g_B + g_A)``) and ``key`` (a 64-bit
    number unique to the example and the layer, for :func:`gaussian`); ``X_f`` / ``X_t``
    (forward- / target-phase window means of the model's own hidden state variables,
    ``[equations] hidden_extra``: one row per variable in the order written, one column
    per unit, in SI units (a variable declared in ms holds seconds); 0 rows for a
    model without any).

Name it in a model file: ``[learning] rule = "my_rules.py:my_rule"`` (docs: "Write your
own learning rule"). The shipped rules below are named ``"segregated-dendrite"`` (the
default), ``"noise-feedback"``, ``"direct-feedback-alignment"``, ``"burstprop"`` and
``"burstprop-mean-field"``.
"""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit

from dendrinet.jit.numerics import JIT, sigmoid
from dendrinet.jit.random_streams import derive_key, mix64

#: What a hidden layer exposes to its learning rule (see the module docstring).
#: ``X_f`` and ``X_t`` may be left out when a rule is called by hand (no extra variables).
HiddenLayer = namedtuple("HiddenLayer", ["index", "V_f", "alpha_f", "alpha_t", "s_pre", "s_f",
                                         "e_out", "Y", "phi_max", "k_B", "key", "X_f", "X_t"],
                         defaults=(np.zeros((0, 0)), np.zeros((0, 0))))

_TWO_POW_53 = 1.0 / 9007199254740992.0


@njit(**JIT)
def gaussian(key, j):
    """A standard normal number, the ``j``-th of stream ``key`` (counter-based: the same
    ``key, j`` give the same number, in any order and on any thread)."""
    h1 = mix64(derive_key(key, 2 * j))
    h2 = mix64(derive_key(key, 2 * j + 1))
    u1 = ((h1 >> np.uint64(11)) + np.uint64(1)) * _TWO_POW_53   # (0, 1]
    u2 = (h2 >> np.uint64(11)) * _TWO_POW_53                    # [0, 1)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@njit(**JIT)
def segregated_dendrite(layer, e):
    """Guerguiev et al. (2017): the plateau difference times the somatic slope,
    ``e = (alpha_t - alpha_f) k_B phi_max sig'(V_f)``."""
    V_f, alpha_f, alpha_t = layer.V_f, layer.alpha_f, layer.alpha_t
    k_B, phi_max = layer.k_B, layer.phi_max
    for j in range(V_f.size):  # no reduction in this loop: it vectorises
        s = sigmoid(V_f[j])
        e[j] = (alpha_t[j] - alpha_f[j]) * k_B * phi_max * s * (1.0 - s)


@njit(**JIT)
def noise_feedback(layer, e):
    """The control for random feedback: Gaussian noise scaled to the output error,
    ``e = (||e_out|| / sqrt(n_out)) xi k_B phi_max sig'(V_f) / phi_max`` with ``xi``
    standard normal, new for every example and unit. It carries the size of the error
    and nothing of its direction, so hidden weights only diffuse (more when the network
    is wrong) and the output layer learns on the features they happen to give."""
    e_out = layer.e_out
    norm = 0.0
    for k in range(e_out.size):
        norm += e_out[k] * e_out[k]
    scale = math.sqrt(norm / e_out.size) / layer.phi_max
    for j in range(layer.V_f.size):
        s = sigmoid(layer.V_f[j])
        e[j] = scale * gaussian(layer.key, j) * layer.k_B * layer.phi_max * s * (1.0 - s)


@njit(**JIT)
def direct_feedback_alignment(layer, e):
    """Direct feedback alignment (Nøkland 2016): the output error sent to every hidden
    layer through its fixed random feedback weights,
    ``e = (Y^T e_out) k_B phi_max sig'(V_f) / phi_max``: no plateau potentials, the
    error itself is broadcast (so: not a local rule of the dendrites; the comparison
    the segregated-dendrite rule approximates with its plateau difference)."""
    Y, e_out = layer.Y, layer.e_out
    n = layer.V_f.size
    for j in range(n):
        e[j] = 0.0
    for k in range(e_out.size):
        a = e_out[k]
        for j in range(n):
            e[j] += Y[k, j] * a
    for j in range(n):
        s = sigmoid(layer.V_f[j])
        e[j] *= layer.k_B * s * (1.0 - s)


#: Hz (the SI unit of the window means in ``X_f``, ``X_t``) in 1/ms, the unit of ``e``.
_HZ_PER_MS = 1e-3


@njit(**JIT)
def burstprop(layer, e):
    """Burst-dependent plasticity (Payeur et al., Nature Neuroscience 2021) with the two
    phases: ``e = k_B (B_t - P_f E_t)``, the target phase's burst rate minus the bursts
    its events would give at the forward phase's burst probability ``P_f = alpha_f =
    sig(mean V_a)``, i.e. ``E_t (P_t - P_f)`` where the teacher changed the apical drive.

    ``B_t`` and ``E_t`` are the target-phase window means of the model's burst and event
    rates, its first two hidden state variables, ``E`` then ``B``, in Hz (``X_t[0]``,
    ``X_t[1]``; the model file ``payeur2021-burstprop`` declares them, and a model naming
    this rule without them is refused when it is read). Payeur et al. keep a running
    average of the burst probability for ``P_f``; the forward phase gives its expectation
    for this example."""
    E_t, B_t, alpha_f = layer.X_t[0], layer.X_t[1], layer.alpha_f
    scale = layer.k_B * _HZ_PER_MS
    for j in range(e.size):
        e[j] = (B_t[j] - alpha_f[j] * E_t[j]) * scale


#: Payeur et al.'s event: a spike at least this long after the neuron's previous spike, ms.
EVENT_GAP_MS = 16.0


@njit(**JIT)
def burstprop_mean_field(layer, e):
    """Burstprop's update in expectation, from what every engine has (the rate engine
    too): ``e = k_B (alpha_t - alpha_f) E(V_f)``, with ``E(V) = r exp(-r 16 ms)`` and
    ``r = phi_max sig(V)``, the rate of events of a Poisson neuron firing at ``r``
    (spikes with no spike in the 16 ms before them, :data:`EVENT_GAP_MS`).

    It is :func:`burstprop`'s ``k_B (B_t - P_f E_t)`` with the target phase's bursts
    replaced by their expectation, ``B_t = P_t E_t`` at the burst probability
    ``P_t = alpha_t``, and the event rate by that of the neuron's mean rate, so that no
    burst needs to be drawn: the neuron is the standard one, and the noise of the burst
    draws (half the gap to the 2017 rule on mnist-10k, BENCHMARKS.md) is gone. Against
    the 2017 rule the somatic slope ``phi_max sig'(V) = r (1 - sig(V))`` becomes the event
    rate ``r exp(-r 16 ms)``: both vanish for a silent unit, the event rate more slowly
    for a busy one (at ``phi_max = 0.2 /ms``: ``exp(-3.2) = 0.04`` of the rate)."""
    V_f, alpha_f, alpha_t = layer.V_f, layer.alpha_f, layer.alpha_t
    k_B, phi_max = layer.k_B, layer.phi_max
    for j in range(V_f.size):  # no reduction in this loop: it vectorises
        r = phi_max * sigmoid(V_f[j])
        e[j] = (alpha_t[j] - alpha_f[j]) * k_B * r * math.exp(-r * EVENT_GAP_MS)
