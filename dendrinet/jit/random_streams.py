"""Per-neuron random number streams (xoroshiro128+) inside Numba: one stream per neuron
so that a layer's per-step draws vectorise, seeded and split by splitmix64 hashes."""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from dendrinet.jit.numerics import JIT, ubits_f64

# ---------------------------------------------------------------------- RNG
#
# xoroshiro128+ (Blackman & Vigna 2018; a=24, b=16, c=37): two uint64 words of state
# per stream. Its top 52 bits are used, the weak low bits never. One stream per neuron
# (state arrays s0[j], s1[j]) lets the per-step draws of a layer vectorise.

_U24 = np.uint64(24)
_U40 = np.uint64(40)
_U16 = np.uint64(16)
_U37 = np.uint64(37)
_U27 = np.uint64(27)
_U12 = np.uint64(12)
_ONE_BITS = np.uint64(0x3FF0000000000000)   # the exponent bits of 1.0
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_U30 = np.uint64(30)
_U31 = np.uint64(31)


@njit(inline="always", **JIT)
def uniform(s0, s1, j):
    """Next uniform number in [0, 1) (52 random bits) of stream ``j``; advances it.

    The 52 top bits of the xoroshiro128+ output become the mantissa of a double in
    [1, 2); subtracting 1 is exact.
    """
    a = s0[j]
    c = s1[j]
    result = a + c
    c ^= a
    s0[j] = ((a << _U24) | (a >> _U40)) ^ c ^ (c << _U16)
    s1[j] = (c << _U37) | (c >> _U27)
    return ubits_f64((result >> _U12) | _ONE_BITS) - 1.0


@njit(inline="always", **JIT)
def mix64(z):
    """splitmix64's finaliser: a bijective 64-bit hash."""
    z = (z ^ (z >> _U30)) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> _U31)


@njit(**JIT)
def seed_streams(key, s0, s1):
    """Seed streams ``0 .. len(s0)-1`` from the 64-bit ``key`` with splitmix64, so
    that every stream starts at an independent, non-zero state."""
    for j in range(s0.size):
        base = key + np.uint64(2 * j + 1) * _GOLDEN
        s0[j] = mix64(base)
        s1[j] = mix64(base + _GOLDEN)
        if s0[j] == 0 and s1[j] == 0:  # the one forbidden state (never in practice)
            s1[j] = _GOLDEN


@njit(**JIT)
def derive_key(key, index):
    """A new 64-bit key for sub-stream ``index`` of ``key`` (e.g. one per test example)."""
    return mix64(mix64(key ^ _GOLDEN) + np.uint64(index) * _GOLDEN + np.uint64(1))


# ------------------------------------------------ numbers of the neuron's equations
#
# rand() and randn() in a model's equations (the fast engine's generated neuron part):
# the c-th number of unit j in a step is a hash of that unit's stream state and c. The
# state is the one the step's spike draw is about to use, so it differs from step to
# step (every draw advances every unit's stream by one number), and the stream is not
# advanced: a model with noise draws the same spikes from the same probabilities, and
# nothing new has to be seeded, saved or resumed.

_TWO_POW_53 = 1.0 / 9007199254740992.0
_U11 = np.uint64(11)


@njit(inline="always", **JIT)
def _state_hash(s0, s1, j, c):
    return mix64(s0[j] ^ mix64(s1[j] + np.uint64(c + 1) * _GOLDEN))


@njit(inline="always", **JIT)
def step_uniform(s0, s1, j, c):
    """The ``c``-th uniform number in [0, 1) (53 bits) of unit ``j`` in this step (see
    above); does not advance the stream."""
    return (_state_hash(s0, s1, j, c) >> _U11) * _TWO_POW_53


@njit(inline="always", **JIT)
def step_normal(s0, s1, j, c):
    """A standard normal number of unit ``j`` in this step, from the uniforms ``2c`` and
    ``2c + 1`` (Box-Muller); does not advance the stream."""
    u1 = ((_state_hash(s0, s1, j, 2 * c) >> _U11) + np.uint64(1)) * _TWO_POW_53  # (0, 1]
    u2 = step_uniform(s0, s1, j, 2 * c + 1)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
