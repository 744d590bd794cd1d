"""Numba functions passed to compiled kernels as values (first-class functions).

A kernel that receives a function as an argument of type ``numba.types.FunctionType``
is compiled once for that *signature*, whatever function it is later given: it calls
it through a pointer. This is the boundary between the engine, compiled once per
installation, and a model's own part (its neuron update and learning rule), compiled
on its own in seconds. The pointer is the address of the function's C-callable wrapper,
which Numba compiles (and caches) with every ``@njit`` function.

A call through a pointer is not inlined: the engine makes a few per layer and step, each
running a loop over the layer's units, so the cost is a few nanoseconds per call.
"""
from __future__ import annotations

from numba import types
from numba.core.types import WrapperAddressProtocol


class Bound(WrapperAddressProtocol):
    """``dispatcher`` compiled for ``signature``, as a value Numba types as
    ``FunctionType(signature)``.

    Parameters
    ----------
    dispatcher : numba dispatcher (an ``@njit`` function)
    signature : numba Signature, e.g. ``types.void(types.float64[::1])``
        The exact argument types the kernels pass.
    """

    def __init__(self, dispatcher, signature):
        dispatcher.compile(signature.args)  # loads from Numba's cache when it can
        result = dispatcher.get_compile_result(signature)
        self._address = result.library.get_pointer_to_function(
            result.fndesc.llvm_cfunc_wrapper_name)
        self._signature = signature
        self.dispatcher = dispatcher

    def __wrapper_address__(self) -> int:
        return self._address

    def signature(self):
        return self._signature

    def __repr__(self) -> str:
        return f"Bound({getattr(self.dispatcher, '__name__', self.dispatcher)}, {self._signature})"


def function_type(signature) -> types.FunctionType:
    """The Numba type of a :class:`Bound` with ``signature`` (for building the types of
    records that hold such functions)."""
    return types.FunctionType(signature)
