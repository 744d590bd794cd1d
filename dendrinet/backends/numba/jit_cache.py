"""Numba's on-disk cache, kept in step with the sources of every engine module."""
from __future__ import annotations

import os


def is_cached(*dispatchers) -> bool:
    """Whether Numba has an on-disk cache index for each of these jitted functions: then
    their first call loads machine code (about a second) instead of compiling it (about a
    minute for the engine's drivers)."""
    for f in dispatchers:
        cache_file = getattr(getattr(f, "_cache", None), "_cache_file", None)
        path = getattr(cache_file, "_index_path", None)
        if path is None or not os.path.exists(path):
            return False
    return True


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
