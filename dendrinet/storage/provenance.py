"""Provenance of results: the machine and the library versions they were computed with."""
from __future__ import annotations

import importlib.metadata
import os
import platform

__all__ = ["machine_info", "library_versions"]


def machine_info() -> dict:
    """CPU model, core counts, operating system and Python of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    return {"cpu": cpu, "cores": os.cpu_count(), "usable_cores": usable,
            "platform": platform.platform(), "python": platform.python_version(),
            "hostname": platform.node()}


def library_versions() -> dict[str, str]:
    """Versions of python, numpy, h5py, HDF5, dendrinet and (if installed) brian2 and
    numba (read from package metadata: importing Brian2 takes seconds)."""
    import h5py
    import numpy as np

    import dendrinet
    versions = {"dendrinet": getattr(dendrinet, "__version__", "unknown"),
                "python": platform.python_version(), "numpy": np.__version__,
                "h5py": h5py.__version__, "hdf5": h5py.version.hdf5_version}
    for package in ("brian2", "numba"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions
