"""dendrinet installs anywhere: a built wheel and an editable install work from any folder.

The wheel is built from a copy of the checkout without build isolation (no network),
installed into a fresh virtual environment, and used from a folder outside the checkout.
The fresh environment sees the test environment's dependencies through a ``.pth`` file
that lists their site-packages folder: a folder named in a ``.pth`` file joins
``sys.path``, but its own ``.pth`` files (the editable install of the checkout among
them) are not run, so ``import dendrinet`` can only find the fresh install.
"""
from __future__ import annotations

import configparser
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from dendrinet import resources

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("setup.cfg", "pyproject.toml", "README.md", "MANIFEST.in", "dendrinet", "models",
           "protocols", "data")
SHIPPED_MODELS = list(resources.model_files())
SHIPPED_PROTOCOLS = list(resources.protocol_files())
pytestmark = pytest.mark.filterwarnings("ignore:Setuptools is replacing distutils")


def _listed_packages() -> list[str]:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    return [p.strip() for p in cfg["options"]["packages"].splitlines() if p.strip()]


def test_setup_cfg_lists_every_package():
    """setup.cfg names its packages (the data packages are mapped onto models/,
    protocols/ and data/); a subpackage missing there would be missing from wheels."""
    # the packages setuptools' find_packages would find (folders with an __init__.py);
    # setuptools itself is not imported here: in a process that has already imported
    # distutils (Brian2 compiling Cython code) it swaps distutils and breaks later builds
    found = {".".join(init.parent.relative_to(REPO).parts)
             for init in (REPO / "dendrinet").rglob("__init__.py")
             if "__pycache__" not in init.parts}
    listed = set(_listed_packages())
    assert found - listed == set(), "add these to [options] packages in setup.cfg"
    code = listed - {"dendrinet._models", "dendrinet._protocols", "dendrinet._data"}
    assert code - found == set(), "setup.cfg lists packages that do not exist"


def _run(args, cwd, env=None, timeout=300) -> str:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, (f"{' '.join(map(str, args))} failed ({proc.returncode}):\n"
                                  f"{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def _copy_sources(dest: Path) -> Path:
    dest.mkdir()
    for name in SOURCES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        elif src.is_file():
            shutil.copy2(src, dest / name)
    return dest


def _fresh_venv(path: Path) -> tuple[Path, Path]:
    """A venv without pip whose sys.path ends with this environment's site-packages.
    Returns (its python, its site-packages)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=path).strip())
    outer = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "test_environment.pth").write_text("".join(f"{p}\n" for p in outer))
    return python, site


def _pip_install(python: Path, *args) -> None:
    """pip of this environment, run by the fresh interpreter, so that it installs there.
    --ignore-installed: never uninstall the dendrinet it can see in this environment."""
    _run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed",
          "--no-build-isolation", "--disable-pip-version-check", "-q", *args], cwd=python.parent)


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "NUMBA_CACHE_DIR", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _seed_numba_cache(installed: Path) -> None:
    """Copy the checkout's Numba cache next to the installed engine modules, and give
    those (byte-identical) modules the checkout's modification times, which Numba's
    cache index checks. Only a speed-up: a miss just compiles (a minute or two)."""
    checkout = REPO / "dendrinet"
    for cache in checkout.rglob("__pycache__"):
        numba_files = [f for f in cache.iterdir() if f.suffix != ".pyc" and f.is_file()]
        if not numba_files:
            continue
        target = installed / cache.relative_to(checkout)
        target.mkdir(parents=True, exist_ok=True)
        for f in numba_files:
            shutil.copy2(f, target / f.name)
        for source in cache.parent.glob("*.py"):
            twin = target.parent / source.name
            if twin.is_file() and twin.read_bytes() == source.read_bytes():
                st = source.stat()
                os.utime(twin, ns=(st.st_atime_ns, st.st_mtime_ns))


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(source copy, wheel) built without build isolation, or a skip."""
    # metadata, not importlib.util.find_spec: setuptools' distutils shim answers a
    # find_spec("pip") by dropping distutils from sys.modules and disabling itself, which
    # breaks Brian2's later Cython builds in this process ("dist must be a Distribution")
    missing = [m for m in ("setuptools", "wheel", "pip") if not _installed(m)]
    if missing:
        pytest.skip(f"cannot build a wheel offline: {', '.join(missing)} not installed in the "
                    f"test environment (pip install -e '.[test]' installs them)")
    root = tmp_path_factory.mktemp("packaging")
    src = _copy_sources(root / "src")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--no-index", "--disable-pip-version-check", "-q", "-w", root / "dist", src], cwd=root)
    wheels = list((root / "dist").glob("dendrinet-*.whl"))
    assert len(wheels) == 1, wheels
    return src, wheels[0]


def test_wheel_holds_code_models_protocols_and_manifest(built):
    _, wheel = built
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in SHIPPED_MODELS:
        assert f"dendrinet/_models/{name}.toml" in names
    for name in SHIPPED_PROTOCOLS:
        assert f"dendrinet/_protocols/{name}.toml" in names
    assert "dendrinet/_data/manifest.toml" in names
    for package in _listed_packages():
        if not package.startswith("dendrinet._"):
            assert package.replace(".", "/") + "/__init__.py" in names
    assert not [n for n in names if n.split("/")[0] in ("models", "protocols", "data")]


def test_installed_wheel_trains_from_any_folder(built, tmp_path):
    _, wheel = built
    python, site = _fresh_venv(tmp_path / "venv")
    _pip_install(python, wheel)
    _seed_numba_cache(site / "dendrinet")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _clean_env()

    where = json.loads(_run([python, "-c", (
        "import json, dendrinet, dendrinet.resources as r; print(json.dumps(["
        "dendrinet.__file__, str(r.model_files()['guerguiev2017-0hidden']), "
        "str(r.protocol_files()['quick']), str(r.dataset_manifest_file()), "
        "r.checkout_root()]))")], cwd=elsewhere, env=env))
    for path in where[:4]:
        assert Path(path).resolve().is_relative_to(site.resolve()), where
    assert where[4] is None

    script = python.parent / ("dendrinet.exe" if os.name == "nt" else "dendrinet")
    listing = _run([script, "models"], cwd=elsewhere, env=env)
    assert [line.split()[0] for line in listing.splitlines()] == SHIPPED_MODELS

    out = _run([python, "-c", "from dendrinet.config import load_model; "
                "print(load_model('guerguiev2017-2hidden').hidden)"], cwd=elsewhere, env=env)
    assert out.strip() == "(500, 100)"

    _run([script, "train", "--model", "guerguiev2017-0hidden", "--dataset", "digits",
          "--protocol", "quick", "--epochs", "1", "--n-train", "300", "--n-test", "100",
          "--spike-samples", "0", "--quiet", "--out", "runs/0hidden"], cwd=elsewhere, env=env)
    summary = json.loads((elsewhere / "runs" / "0hidden" / "summary.json").read_text())
    error = summary["final_test_error"]
    assert isinstance(error, float) and 0.0 <= error < 0.9, error  # chance: 0.9


def test_editable_install_finds_the_checkout_files(built, tmp_path):
    src, _ = built
    python, site = _fresh_venv(tmp_path / "venv")
    _pip_install(python, "-e", src)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = _run([python, "-c", (
        "import dendrinet, dendrinet.resources as r; from dendrinet.config import load_model; "
        "from dendrinet.datasets import available_datasets; "
        "print(dendrinet.__file__); print(r.models_dir()); print(r.dataset_manifest_file()); "
        "print(load_model('guerguiev2017-2hidden').hidden); print(available_datasets())")],
        cwd=elsewhere, env=_clean_env())
    lines = out.splitlines()
    assert Path(lines[0]).resolve() == (src / "dendrinet" / "__init__.py").resolve()
    assert Path(lines[1]).resolve() == (src / "models").resolve()
    assert Path(lines[2]).resolve() == (src / "data" / "manifest.toml").resolve()
    assert lines[3] == "(500, 100)"
    assert "digits" in lines[4]
