"""The files dendrinet ships: model files, protocol files and the dataset manifest.

The repository keeps them in its top-level folders ``models/``, ``protocols/`` and
``data/``. An installed package (``pip install .``, a wheel) carries them as package
data under the names ``dendrinet._models``, ``dendrinet._protocols`` and
``dendrinet._data`` (``setup.cfg`` maps these package names onto the three folders),
and they are read through :mod:`importlib.resources`.

Those names are folders without ``__init__.py``, which an editable install
(``pip install -e .``) or a checkout put on ``sys.path`` does not make importable;
then the folders of the source checkout that :mod:`dendrinet` is imported from are
used. Either way the files seen are the ones that belong to the code that runs.
"""
from __future__ import annotations

import importlib.resources
from importlib.resources.abc import Traversable
from pathlib import Path

from dendrinet.errors import DendrinetError

__all__ = ["checkout_root", "dataset_manifest", "dataset_manifest_file", "model_files",
           "models_dir", "protocol_files", "protocols_dir"]

# folder in the repository -> package name it is installed under
_PACKAGES = {"models": "dendrinet._models", "protocols": "dendrinet._protocols",
             "data": "dendrinet._data"}
_MANIFEST = "manifest.toml"


def checkout_root() -> Path | None:
    """The source checkout :mod:`dendrinet` is imported from (the folder holding
    ``setup.cfg``, ``dendrinet/`` and ``models/``), or None for an installed package."""
    root = Path(__file__).resolve().parent.parent
    if (root / "setup.cfg").is_file() and (root / "models").is_dir():
        return root
    return None


def _folder(name: str) -> Traversable:
    """The shipped folder ``name`` (``models``, ``protocols`` or ``data``)."""
    package = _PACKAGES[name]
    try:
        folder = importlib.resources.files(package)
    except ModuleNotFoundError:  # editable install or plain checkout: no such package
        folder = None
    if folder is not None and folder.is_dir():
        return folder
    root = checkout_root()
    if root is not None and (root / name).is_dir():
        return root / name
    raise DendrinetError(
        f"dendrinet's shipped {name} files are missing: neither the package data {package} "
        f"nor a source checkout's {name}/ folder was found; reinstall dendrinet")


def models_dir() -> Traversable:
    """The folder of the shipped model files (a :class:`pathlib.Path` in a checkout or
    an ordinary install; treat it as a :class:`~importlib.resources.abc.Traversable`)."""
    return _folder("models")


def protocols_dir() -> Traversable:
    """The folder of the shipped protocol files (see :func:`models_dir`)."""
    return _folder("protocols")


def _toml_files(folder: Traversable) -> dict[str, Traversable]:
    files = {f.name.removesuffix(".toml"): f for f in folder.iterdir()
             if f.name.endswith(".toml") and f.is_file()}
    return dict(sorted(files.items()))


def model_files() -> dict[str, Traversable]:
    """Shipped model files by name (file name without ``.toml``), sorted by name."""
    return _toml_files(models_dir())


def protocol_files() -> dict[str, Traversable]:
    """Shipped protocol files by name (file name without ``.toml``), sorted by name."""
    return _toml_files(protocols_dir())


def dataset_manifest_file() -> Traversable:
    """The shipped dataset manifest, ``data/manifest.toml``."""
    return _folder("data") / _MANIFEST


def dataset_manifest() -> str:
    """The text of the shipped dataset manifest (see :mod:`dendrinet.datasets`)."""
    return dataset_manifest_file().read_text(encoding="utf-8")
