"""Where the files of a named data set are looked for (``data_dir``,
``$DENDRINET_DATA_DIR``, the cache folder, the manifest's fallback folders), and the
download into the cache when none holds them."""
from __future__ import annotations

import os
from pathlib import Path

from dendrinet import resources
from dendrinet.datasets import fetch
from dendrinet.datasets.registry import reads_data_files
from dendrinet.errors import DatasetError

# The source checkout dendrinet runs from, or None when it is installed: relative
# fallback folders of the manifest are relative to it (and skipped without one).
REPO_ROOT = resources.checkout_root()
DATA_DIR_ENV = "DENDRINET_DATA_DIR"
CACHE_ENV = "DENDRINET_CACHE"


def env_data_dir() -> str | None:
    """``$DENDRINET_DATA_DIR``, None when unset or blank."""
    return os.environ.get(DATA_DIR_ENV, "").strip() or None


def first_data_dir(dataset, data_dir) -> str | None:
    """The absolute folder a named data set of idx files is looked for first
    (``data_dir``, else ``$DENDRINET_DATA_DIR``; :func:`load_dataset`), as a run's
    ``summary.json`` records it; None for other data (digits, a user's file, a Dataset)
    or the default search alone."""
    if not isinstance(dataset, str) or not reads_data_files(dataset):
        return None
    base = data_dir if data_dir is not None else env_data_dir()
    return str(Path(base).expanduser().resolve()) if base is not None else None


def default_cache_dir() -> Path:
    """Folder where downloaded data sets are kept (outside git).

    Returns
    -------
    pathlib.Path
        ``$DENDRINET_CACHE`` if set, else ``~/.cache/dendrinet``.
    """
    env = os.environ.get(CACHE_ENV, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "dendrinet"


# ------------------------------------------------------------------ file search


def candidate_dirs(spec: dict, data_dir) -> list[Path]:
    """Folders to search, in order (see :mod:`dendrinet.datasets`)."""
    subdir = spec["subdir"]
    dirs: list[Path] = []
    for base, origin in ((data_dir, "data_dir"),
                         (env_data_dir(), f"${DATA_DIR_ENV}")):
        if base is None:
            continue
        base = Path(base).expanduser()
        if not base.is_dir():
            raise DatasetError(f"{origin} {base} is not an existing folder")
        dirs += [base, base / subdir]
    dirs.append(default_cache_dir() / subdir)
    for fallback in spec.get("fallback_dirs", []):
        fallback = Path(fallback).expanduser()
        if fallback.is_absolute():
            dirs.append(fallback.resolve())
        elif REPO_ROOT is not None:
            dirs.append((Path(REPO_ROOT) / fallback).resolve())
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def find_in_dir(folder: Path, file_spec: dict) -> Path | None:
    """The .gz archive or, failing that, the raw idx file in ``folder``."""
    gz_name = file_spec["name"]
    for candidate in (folder / gz_name, folder / gz_name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def locate_files(name, parent_name, parent, file_specs, data_dir, download) -> dict[str, Path]:
    """The files of a named data set by role: from the first folder holding all of them,
    else downloaded into the cache (``download``); a DatasetError lists the folders searched."""
    dirs = candidate_dirs(parent, data_dir)
    report = []
    for folder in dirs:
        found = {role: find_in_dir(folder, fs) for role, fs in file_specs.items()}
        if all(found.values()):
            return found
        if not folder.is_dir():
            report.append(f"{folder} (no such folder)")
        else:
            lacking = [file_specs[r]["name"] for r, p in found.items() if p is None]
            report.append(f"{folder} (lacks {', '.join(lacking)})")

    wanted = ", ".join(fs["name"] for fs in file_specs.values())
    where = "; ".join(report)
    advice = (f"pass --data-dir DIR (data_dir=DIR) or set {DATA_DIR_ENV} to a folder "
              "holding these files (.gz or uncompressed)")
    urls = parent.get("urls", [])
    if not download or not urls:
        reason = "Downloading was not requested (download=False)" if urls else \
            "This dataset has no download mirror"
        raise DatasetError(
            f"dataset {name!r}: files not found: {wanted}. Looked in: {where}. "
            f"{reason}. To fix: {advice}"
            + (", or load with download=True on a machine with internet access." if urls else "."))

    target = default_cache_dir() / parent["subdir"]
    try:
        found = {}
        for role, fs in file_specs.items():
            found[role] = find_in_dir(target, fs) or fetch.download(fs, target, urls, parent_name)
        return found
    except fetch.DownloadFailed as exc:
        raise DatasetError(
            f"dataset {name!r}: files not found: {wanted}. Looked in: {where}. "
            f"Download into {target} failed: {exc}. To fix: {advice}, or connect to the "
            "internet and try again.") from None
