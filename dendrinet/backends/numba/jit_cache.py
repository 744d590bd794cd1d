"""Numba's on-disk cache of the engine's kernels: whether it holds a function, and
keeping it in step with the sources of every engine module.

Only Numba's public interface and facts of the file system are used: a dispatcher's
``stats.cache_path`` (its cache folder: ``__pycache__`` beside the module, or a folder
under ``NUMBA_CACHE_DIR``) and the names Numba gives the files there,
``<file stem>.<qualified name>-<line>.py<major><minor><abiflags>.nbi`` (the index of a
function's compiled signatures) and ``... .<n>.nbc`` (their machine code).
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

#: Beside the cache files: the SHA-256 of the engine sources they were compiled from.
STAMP_FILE = "dendrinet-engine-sources.sha256"
_fresh: set[tuple[str, ...]] = set()  # module sets refreshed in this process


def cache_folder(dispatcher) -> Path | None:
    """The folder of a jitted function's cache files (None without ``cache=True``)."""
    try:
        path = dispatcher.stats.cache_path
    except AttributeError:  # not a dispatcher, or one that does not cache
        return None
    return Path(path) if path else None


def _file_stem(dispatcher) -> str:
    return Path(dispatcher.py_func.__code__.co_filename).stem


def _index_pattern(dispatcher) -> str:
    name = dispatcher.py_func.__qualname__.replace("<", "").replace(">", "")
    return (f"{_file_stem(dispatcher)}.{name}-*.py{sys.version_info[0]}"
            f"{sys.version_info[1]}{getattr(sys, 'abiflags', '')}.nbi")


def is_cached(*dispatchers) -> bool:
    """Whether Numba has an on-disk cache index for each of these jitted functions: then
    their first call loads machine code (about a second) instead of compiling it (about a
    minute for the engine's drivers)."""
    for f in dispatchers:
        folder = cache_folder(f)
        if folder is None or not any(folder.glob(_index_pattern(f))):
            return False
    return True


def _dispatchers(module):
    from numba.core.registry import CPUDispatcher

    return [f for f in vars(module).values() if isinstance(f, CPUDispatcher)
            and f.py_func.__module__ == module.__name__]


def refresh_stale_cache(modules, owned=None) -> None:
    """Drop Numba's on-disk cache of ``modules`` (or of ``owned``, some of them whose
    machine code contains the others') when any of their sources changed.

    Numba keys a cached function on its own file only (its modification time and size;
    Numba's documentation: "cache invalidation fails to recognize changes in symbols
    defined in a different file"): after an edit of a module that it calls (and whose
    machine code it contains), it would load the old code. So the sources of all the
    modules are hashed together; when the hash differs from the one stored beside the
    cache, the cache files of these modules are removed (and rebuilt on first use).
    Errors (read-only folders) are ignored.
    """
    digest = hashlib.sha256()
    folders: dict[Path, set[str]] = {}
    for module in modules:
        digest.update(Path(module.__file__).read_bytes())
    for module in modules if owned is None else owned:
        for f in _dispatchers(module):
            folder = cache_folder(f)
            if folder is not None:
                folders.setdefault(folder, set()).add(_file_stem(f))
    stamp = digest.hexdigest()
    for folder, stems in folders.items():
        stamp_file = folder / STAMP_FILE
        try:
            if stamp_file.read_text().strip() == stamp:
                continue
        except OSError:
            pass
        try:  # every cache file of these modules, also those of renamed/moved functions
            for stem in stems:
                for old in folder.glob(stem + ".*"):
                    if old.suffix in (".nbi", ".nbc"):
                        os.remove(old)
            folder.mkdir(parents=True, exist_ok=True)
            stamp_file.write_text(stamp + "\n")
        except OSError:
            pass


def refresh_once(modules, owned=None) -> None:
    """:func:`refresh_stale_cache` the first time a process asks for these modules (before
    their first compilation), not again: a process never deletes code it already runs."""
    key = tuple(sorted(m.__name__ for m in (modules if owned is None else owned)))
    if key not in _fresh:
        refresh_stale_cache(modules, owned)
        _fresh.add(key)
