"""Numba numerics of the fast engine: bit casts and a vectorisable ``exp`` and sigmoid.

Everything here is scalar code written so that LLVM vectorises the loops that call it
(AVX2 has no vector ``exp`` and no 64-bit integer <-> double conversion, so both are
built from bit manipulations, see :func:`fast_exp` and :func:`uniform`). Loops must run
over ``range(array.size)`` of views starting at 0: with an index that might be negative
Numba adds a wrap-around select that stops LLVM from vectorising.
"""
from __future__ import annotations

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
def exp_parts(x):
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
    """``exp(x)`` to within 2 ulp for ``|x| <= 708`` (see :func:`exp_parts`)."""
    scale, p, q = exp_parts(x)
    return scale * (p / q)


@njit(inline="always", **JIT)
def sigmoid(v):
    """``1 / (1 + exp(-v))`` = ``Q / (Q + 2**k P)`` with one division (relative error
    < 1e-15; saturates at 3.3e-308 below ``v = -708``)."""
    scale, p, q = exp_parts(-v)
    return q / (q + scale * p)


@njit(**JIT)
def fast_exp_array(x, out):
    """Vector form of :func:`fast_exp` (for tests): ``out[i] = exp(x[i])``."""
    for i in range(x.size):
        out[i] = fast_exp(x[i])


@njit(**JIT)
def sigmoid_array(x, out):
    """Vector form of :func:`sigmoid` (for tests)."""
    for i in range(x.size):
        out[i] = sigmoid(x[i])
