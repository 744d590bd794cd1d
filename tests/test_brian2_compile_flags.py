"""dendrinet.backends.brian2.compile_flags: Brian2 compiles dendrinet's networks with
portable flags, in a cache folder of their own, and the user's preferences come back."""
import os

import pytest

b2 = pytest.importorskip("brian2")

from dendrinet.backends.brian2.compile_flags import PORTABLE_GCC_ARGS, brian2_codegen, cache_dir


def test_flags_leave_out_what_makes_numbers_depend_on_the_machine():
    assert "-march=native" in b2.prefs["codegen.cpp.extra_compile_args_gcc"]  # Brian2's own
    assert not any(flag.startswith("-march") or flag == "-ffast-math"
                   for flag in PORTABLE_GCC_ARGS)
    assert "-ffp-contract=off" in PORTABLE_GCC_ARGS


def test_the_context_sets_target_flags_and_cache_and_restores_the_users_preferences(tmp_path):
    b2.prefs["codegen.target"] = "numpy"
    b2.prefs["codegen.runtime.cython.cache_dir"] = str(tmp_path)
    user_flags = list(b2.prefs["codegen.cpp.extra_compile_args_gcc"])
    try:
        with brian2_codegen("cython"):
            assert b2.prefs["codegen.target"] == "cython"
            assert b2.prefs["codegen.cpp.extra_compile_args_gcc"] == PORTABLE_GCC_ARGS
            assert b2.prefs["codegen.runtime.cython.cache_dir"] == cache_dir()
        with pytest.raises(RuntimeError):
            with brian2_codegen("cython"):
                raise RuntimeError("a failed run")
        assert b2.prefs["codegen.target"] == "numpy"
        assert b2.prefs["codegen.runtime.cython.cache_dir"] == str(tmp_path)
        assert b2.prefs["codegen.cpp.extra_compile_args_gcc"] == user_flags
    finally:
        b2.prefs["codegen.target"] = "auto"
        b2.prefs["codegen.runtime.cython.cache_dir"] = None


def test_the_cache_folder_sits_beside_brian2s_own_and_does_not_depend_on_the_users():
    from brian2.codegen.runtime.cython_rt.extension_manager import get_cython_cache_dir

    own = get_cython_cache_dir()
    assert os.path.dirname(cache_dir()) == os.path.dirname(own) and cache_dir() != own
    b2.prefs["codegen.runtime.cython.cache_dir"] = "/somewhere/else"
    try:
        assert os.path.dirname(cache_dir()) == os.path.dirname(own)
    finally:
        b2.prefs["codegen.runtime.cython.cache_dir"] = None
