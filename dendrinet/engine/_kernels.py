"""Numba building blocks of the fast engine: a vectorisable ``exp``/sigmoid, per-neuron
random number generators, Bernoulli input spike trains.

Everything here is scalar code written so that LLVM vectorises the loops that call it
(AVX2 has no vector ``exp`` and no 64-bit integer <-> double conversion, so both are
built from bit manipulations, see :func:`fast_exp` and :func:`uniform`). Loops must run
over ``range(array.size)`` of views starting at 0: with an index that might be negative
Numba adds a wrap-around select that stops LLVM from vectorising.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

#: Options of every kernel: compiled once and cached on disk (``NUMBA_CACHE_DIR``);
#: float division without Python's zero check (which blocks vectorisation); ``contract``
#: lets LLVM fuse ``a*b + c`` into one FMA (changes results by at most 1 ulp).
JIT = dict(cache=True, error_model="numpy", fastmath={"contract"})

# ---------------------------------------------------------------- bit casts


@intrinsic
def f64_bits(typingctx, x):
    """The IEEE-754 bit pattern of a float64, as int64 (a free register move)."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return sig, codegen


@intrinsic
def bits_f64(typingctx, x):
    """The float64 whose IEEE-754 bit pattern is the int64 ``x``."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return sig, codegen


@intrinsic
def ubits_f64(typingctx, x):
    """The float64 whose IEEE-754 bit pattern is the uint64 ``x``."""
    sig = types.float64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return sig, codegen


# --------------------------------------------------------------------- exp

_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238       # ln 2 split in two for an exact range reduction
_LN2_LO = 1.9082149292705877e-10
_ROUND = 6755399441055744.0        # 1.5 * 2**52: adding it rounds to an integer ...
_ROUND_BITS = 0x4338000000000000   # ... whose value sits in the low mantissa bits
_EXP_LIMIT = 708.0
# Pade [6/6] approximant of exp: exp(r) ~ P(r) / P(-r), P(r) = E(r^2) + r O(r^2)
_E1, _E2, _E3 = 5.0 / 44.0, 1.0 / 792.0, 1.0 / 665280.0
_O0, _O1, _O2 = 0.5, 1.0 / 66.0, 1.0 / 15840.0


@njit(inline="always", **JIT)
def _exp_parts(x):
    """``exp(x) = scale * P / Q`` for ``x`` clamped to ``[-708, 708]``.

    ``x = k ln2 + r`` with ``|r| <= ln2/2``; ``exp(r)`` by the Pade [6/6] approximant
    ``P(r)/P(-r)`` (truncation error < 1e-18 on that range, so the result is within
    1-2 ulp); ``scale = 2**k`` built directly in the exponent bits. Branch-free and
    with a short dependency chain, so that loops calling it vectorise well.
    """
    x = x if x > -_EXP_LIMIT else -_EXP_LIMIT
    x = x if x < _EXP_LIMIT else _EXP_LIMIT
    m = x * _LOG2E + _ROUND
    kf = m - _ROUND
    k = f64_bits(m) - _ROUND_BITS
    r = (x - kf * _LN2_HI) - kf * _LN2_LO
    s = r * r
    even = 1.0 + s * (_E1 + s * (_E2 + s * _E3))
    odd = r * (_O0 + s * (_O1 + s * _O2))
    return bits_f64((k + 1023) << 52), even + odd, even - odd


@njit(inline="always", **JIT)
def fast_exp(x):
    """``exp(x)`` to within 2 ulp for ``|x| <= 708`` (see :func:`_exp_parts`)."""
    scale, p, q = _exp_parts(x)
    return scale * (p / q)


@njit(inline="always", **JIT)
def fast_sigmoid(v):
    """``1 / (1 + exp(-v))`` = ``Q / (Q + 2**k P)`` with one division (relative error
    < 1e-15; saturates at 3.3e-308 below ``v = -708``)."""
    scale, p, q = _exp_parts(-v)
    return q / (q + scale * p)


@njit(**JIT)
def fast_exp_array(x, out):
    """Vector form of :func:`fast_exp` (for tests): ``out[i] = exp(x[i])``."""
    for i in range(x.size):
        out[i] = fast_exp(x[i])


@njit(**JIT)
def fast_sigmoid_array(x, out):
    """Vector form of :func:`fast_sigmoid` (for tests)."""
    for i in range(x.size):
        out[i] = fast_sigmoid(x[i])


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


# ------------------------------------------------------------- input spikes


@njit(**JIT)
def _bernoulli_flags(p, s0, s1, flag):
    """``flag[k] = u_k < p[k]`` with ``u_k`` the next number of stream ``k`` (vectorised)."""
    for k in range(p.size):
        flag[k] = uniform(s0, s1, k) < p[k]


@njit(**JIT)
def input_events(x, p_max, n_steps, rng0, rng1, active, p, s0, s1, flag, ptr, ids):
    """Bernoulli spike trains of the input layer for one example, as step-sorted events.

    Input ``i`` spikes in each step independently with probability ``p = p_max * x[i]``
    (``p_max = phi_max * dt``), drawn from its own stream: ``u < p``. Only inputs with
    ``p > 0`` draw (about a fifth of MNIST's pixels), all of them per step in one
    vectorised loop over their streams, gathered for the example.

    Parameters
    ----------
    x : float64 array (n_inputs,)
        Pixel intensities in [0, 1].
    p_max : float
        Spike probability per step of a pixel of intensity 1.
    n_steps : int
        Steps to fill.
    rng0, rng1 : uint64 arrays (n_inputs,)
        State of the input streams (advanced by ``n_steps`` for every input with
        ``p > 0``).
    active, p, s0, s1, flag : arrays (n_inputs,), scratch
        int64, float64, uint64, uint64, uint8.
    ptr : int64 array (n_steps + 1,), output
        Events of step ``t`` are ``ids[ptr[t]:ptr[t + 1]]``.
    ids : int64 array (capacity >= n_inputs * n_steps), output
        Input indices, ascending within each step.

    Returns
    -------
    int
        Number of input spikes.
    """
    m = 0
    for i in range(x.size):
        pi = p_max * x[i]
        if pi > 0.0:
            active[m] = i
            p[m] = pi
            s0[m] = rng0[i]
            s1[m] = rng1[i]
            m += 1
    n = 0
    ptr[0] = 0
    for t in range(n_steps):
        _bernoulli_flags(p[:m], s0[:m], s1[:m], flag[:m])
        for k in range(m):  # branch-free compaction
            ids[n] = active[k]
            n += flag[k]
        ptr[t + 1] = n
    for k in range(m):
        rng0[active[k]] = s0[k]
        rng1[active[k]] = s1[k]
    return n


# ------------------------------------------------------------- JIT cache


def refresh_stale_cache(modules) -> None:
    """Drop Numba's on-disk cache of ``modules`` when any of their sources changed.

    Numba keys a cached function on its own file only: after an edit of a module that
    it calls (and whose machine code it contains), it would load the old code. So the
    sources of every module of the engine are hashed together; when the hash differs
    from the one stored beside the cache, the cache files of all their jitted functions
    are removed (and rebuilt on first use). Errors (read-only folders) are ignored.
    """
    import hashlib
    import os
    from pathlib import Path

    from numba.core.registry import CPUDispatcher

    digest = hashlib.sha256()
    folders: dict[str, set] = {}
    for module in modules:
        digest.update(Path(module.__file__).read_bytes())
        stem = Path(module.__file__).stem
        for f in vars(module).values():
            cache = getattr(f, "_cache", None) if isinstance(f, CPUDispatcher) else None
            if cache is not None and hasattr(cache, "_cache_path"):
                folders.setdefault(cache._cache_path, set()).add(stem)
    stamp = digest.hexdigest()
    for folder, stems in folders.items():
        stamp_file = Path(folder) / "dendrinet-engine-sources.sha256"
        try:
            if stamp_file.read_text().strip() == stamp:
                continue
        except OSError:
            pass
        try:  # every cache file of these modules, also those of renamed/moved functions
            for stem in stems:
                for old in Path(folder).glob(stem + ".*"):
                    if old.suffix in (".nbi", ".nbc"):
                        os.remove(old)
            Path(folder).mkdir(parents=True, exist_ok=True)
            stamp_file.write_text(stamp + "\n")
        except OSError:
            pass
