"""The folder of generated neuron parts (:mod:`~dendrinet.backends.numba.model_part`): what
it holds, and keeping it under a bound, least recently used out.

Each equation variant gets a package ``dendrinet_generated_<hash>`` in :func:`cache_root`
(its generated module, and the machine code Numba caches beside it: well under 1 MB;
dendrinet 0.3 wrote whole engine copies of 8-14 MB under the same pattern, listed and
removed alike). Only folders that dendrinet wrote are ever listed or removed: a
name of that pattern with the ``__init__.py`` text dendrinet writes. Beside the code, as
data, ``dendrinet-package.json`` records the model that created the package, and the
modification time of ``last-used`` is when a process last loaded it.

After writing a new package, the folder is trimmed to ``$DENDRINET_CACHE_MAX`` (default
1 GB; ``"500 MB"``, ``"2GiB"`` or a number of bytes): least recently used packages are
removed first, never one this process loaded, nor one loaded in the last hour (another
process may be running it). ``dendrinet cache`` lists and clears the folder.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from dendrinet.errors import DendrinetError
from dendrinet.storage.files import rename

PREFIX = "dendrinet_generated_"
#: The whole text of a generated package's ``__init__.py`` (its mark: nothing else is touched).
#: The text that marks a package as dendrinet's (unchanged since 0.3, so that the old
#: packages are recognised and removed too).
INIT_TEXT = '"""A dendrinet engine compiled for a model (generated; safe to delete)."""\n'
INFO_FILE = "dendrinet-package.json"
STAMP_FILE = "last-used"
MAX_ENV = "DENDRINET_CACHE_MAX"
DEFAULT_MAX_BYTES = 10**9
#: A package loaded this recently (seconds) may be in use by another process: kept.
IN_USE_SECONDS = 3600.0

_NAME = re.compile(rf"^{PREFIX}[0-9a-f]{{20}}$")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?(?:e\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


@dataclass(frozen=True)
class Package:
    """One generated package of the cache folder.

    Attributes
    ----------
    path : Path
    model : str or None
        Name of the model that created it (None for packages of older versions).
    size : int
        Bytes on disk (sources and Numba's machine code).
    last_used : float
        When a process last loaded it (seconds since the epoch).
    """
    path: Path
    model: str | None
    size: int
    last_used: float


def cache_root() -> Path:
    """Folder of the generated packages: ``generated/`` in dendrinet's cache folder
    (``$DENDRINET_CACHE``, else ``~/.cache/dendrinet``, as for downloaded data)."""
    from dendrinet.datasets import default_cache_dir

    return default_cache_dir() / "generated"


def max_bytes() -> int:
    """The bound of the folder in bytes: ``$DENDRINET_CACHE_MAX`` or 1 GB.

    Raises
    ------
    DendrinetError
        The variable is not a size (``"500 MB"``, ``"2 GiB"``, ``"1e9"``).
    """
    text = os.environ.get(MAX_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    match = _SIZE.match(text)
    if match is None or match.group(2).lower() not in _UNITS:
        raise DendrinetError(f"{MAX_ENV}={text!r} is not a size: give bytes or a number with "
                             f"a unit, e.g. 500MB, 2GB, 1GiB")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def is_package(path: Path) -> bool:
    """Whether ``path`` is a package dendrinet generated (its name and its mark)."""
    if not _NAME.match(path.name) or path.is_symlink() or not path.is_dir():
        return False
    try:
        with open(path / "__init__.py", encoding="utf-8") as f:
            return f.read(len(INIT_TEXT) + 1) == INIT_TEXT
    except (OSError, UnicodeDecodeError):
        return False


def write_info(folder: Path, model_name: str) -> None:
    """Record, as data beside the code, the model that created the package in ``folder``
    (a folder not yet renamed into place), and mark it used now."""
    (folder / INFO_FILE).write_text(json.dumps({"model": model_name,
                                                "created": time.time()}) + "\n")
    (folder / STAMP_FILE).write_bytes(b"")


def mark_used(folder: Path) -> None:
    """Set the package's last use to now (errors, e.g. a read-only cache, are ignored)."""
    stamp = folder / STAMP_FILE
    try:
        stamp.touch()
    except OSError:
        pass


def _size(folder: Path) -> int:
    total = 0
    for parent, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(parent, name)).st_size
            except OSError:  # removed meanwhile
                pass
    return total


def _describe(folder: Path) -> Package:
    try:
        model = json.loads((folder / INFO_FILE).read_text()).get("model")
        model = model if isinstance(model, str) else None
    except (OSError, ValueError, AttributeError):
        model = None
    last_used = 0.0
    for name in (STAMP_FILE, "__init__.py"):  # packages of older versions: their writing
        try:
            last_used = (folder / name).stat().st_mtime
            break
        except OSError:
            pass
    return Package(folder, model, _size(folder), last_used)


def packages(root: Path | None = None) -> list[Package]:
    """The generated packages in ``root`` (default :func:`cache_root`), least recently
    used first. Anything else in the folder is left out."""
    root = cache_root() if root is None else Path(root)
    try:
        entries = list(root.iterdir())
    except OSError:  # no cache yet
        return []
    found = [_describe(p) for p in entries if is_package(p)]
    return sorted(found, key=lambda p: (p.last_used, p.path.name))


def remove(package: Package) -> bool:
    """Remove a package: renamed out of the way first (so that no process finds half of
    it, and one that needs it writes it anew), then deleted. False if it was gone."""
    folder = package.path
    if not is_package(folder):
        return False
    trash = folder.with_name(f".tmp-removed-{folder.name}-{os.getpid()}")
    try:
        rename(folder, trash)
    except FileNotFoundError:
        return False
    shutil.rmtree(trash, ignore_errors=True)
    return True


def trim(keep=(), root: Path | None = None, bound: int | None = None,
         now: float | None = None) -> list[Package]:
    """Remove least recently used packages until the folder holds at most ``bound``
    bytes (default :func:`max_bytes`).

    Never removed: the folders in ``keep`` (the packages this process loaded) and
    packages loaded in the last :data:`IN_USE_SECONDS`; the folder may then stay above
    the bound. Returns the packages removed.
    """
    bound = max_bytes() if bound is None else bound
    now = time.time() if now is None else now
    found = packages(root)
    total = sum(p.size for p in found)
    keep = {Path(k).resolve() for k in keep}
    removed = []
    for package in found:  # oldest first
        if total <= bound:
            break
        if package.path.resolve() in keep or now - package.last_used < IN_USE_SECONDS:
            continue
        if remove(package):
            removed.append(package)
        total -= package.size
    return removed
