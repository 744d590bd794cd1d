"""Brian2's code generation settings while dendrinet runs a network: the target, and C++
compiler flags that give the same numbers on every x86-64 machine.

Brian2 compiles its cython and C++ code with ``-O3 -ffast-math -march=native`` by
default. ``-march=native`` uses every vector unit of the machine that compiles (AVX-512
where there is one) and ``-ffast-math`` lets the compiler reorder sums for them, so the
same seeded run gave different weights on two AMD EPYC machines of the same cloud, one
with AVX-512 and one without (the reproducibility digest of the Brian2 engine,
``tests/test_reproducibility.py``). dendrinet compiles without both, and without fused
multiply-adds (``-ffp-contract=off``): the generated code is then baseline x86-64 and
rounds the same everywhere. Its extensions go to their own cache folder, because Brian2's
cache key does not include the flags (a module compiled with other flags would be
reused).
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterator

__all__ = ["PORTABLE_GCC_ARGS", "cache_dir", "brian2_codegen"]

#: gcc flags of every Brian2 compilation dendrinet makes (runtime cython and standalone).
PORTABLE_GCC_ARGS = ["-w", "-O3", "-fno-fast-math", "-ffp-contract=off", "-std=c++11"]


def cache_dir() -> str:
    """The folder of dendrinet's compiled Brian2 extensions: beside Brian2's own
    (``~/.cython/brian_extensions``), named for the flags."""
    from brian2.codegen.runtime.cython_rt.extension_manager import get_cython_cache_dir
    from brian2 import prefs

    saved = prefs.codegen.runtime.cython.cache_dir
    prefs.codegen.runtime.cython.cache_dir = None  # Brian2's default location
    try:
        base = get_cython_cache_dir()
    finally:
        prefs.codegen.runtime.cython.cache_dir = saved
    return os.path.join(os.path.dirname(base), "brian_extensions_dendrinet_portable")


@contextlib.contextmanager
def brian2_codegen(target: str) -> Iterator[None]:
    """Run Brian2 with ``target`` and dendrinet's compiler flags and cache folder; the
    user's preferences are restored afterwards."""
    from brian2 import prefs

    names = ("codegen.target", "codegen.cpp.extra_compile_args_gcc",
             "codegen.runtime.cython.cache_dir")
    saved = {name: prefs[name] for name in names}
    prefs["codegen.target"] = target
    prefs["codegen.cpp.extra_compile_args_gcc"] = list(PORTABLE_GCC_ARGS)
    prefs["codegen.runtime.cython.cache_dir"] = cache_dir()
    try:
        yield
    finally:
        for name, value in saved.items():
            prefs[name] = value
