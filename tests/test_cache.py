"""The caches of compiled code.

1. The folder of generated engines is kept under its bound, least recently used out,
   never touching anything dendrinet did not write nor a package in use;
   ``dendrinet cache`` lists and clears it.
2. Numba's cache of the engine modules is refreshed when a source changed, at the
   first engine a process asks for, not when a module is imported; with Numba's public
   interface only.
3. ``dendrinet train`` then ``dendrinet simulate`` of a model compile once: the second
   process finds every function it runs in Numba's on-disk cache.
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from network_helpers import model_variant

from dendrinet.backends.numba import generated_cache as gc
from dendrinet.cli import main

HOUR = 3600.0
DAY = 86400.0


def _package(root: Path, n: int, size: int, age_s: float, model: str | None = "m") -> Path:
    """A fake generated package: the mark, ``size`` bytes of payload, last used
    ``age_s`` seconds ago."""
    folder = root / f"{gc.PREFIX}{n:020x}"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(gc.INIT_TEXT)
    if model is not None:  # else a package of an older version: no record, no stamp
        gc.write_info(folder, model)
    (folder / "payload.nbc").write_bytes(b"x" * size)
    stamp = folder / (gc.STAMP_FILE if model is not None else "__init__.py")
    t = time.time() - age_s
    os.utime(stamp, (t, t))
    return folder


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DENDRINET_CACHE", str(tmp_path))
    monkeypatch.delenv(gc.MAX_ENV, raising=False)
    root = tmp_path / "generated"
    root.mkdir()
    return root


def _names(root: Path) -> set[str]:
    return {p.name for p in root.iterdir()}


def test_least_recently_used_packages_go_first_down_to_the_bound(cache, monkeypatch):
    monkeypatch.setenv(gc.MAX_ENV, "2500 B")
    old = _package(cache, 1, 1000, 10 * DAY)
    older = _package(cache, 2, 1000, 20 * DAY)
    middle = _package(cache, 3, 1000, 5 * DAY)
    recent = _package(cache, 4, 1000, 2 * DAY)
    sizes = {p.path.name: p.size for p in gc.packages(cache)}
    assert all(s > 1000 for s in sizes.values())  # payload, record and mark
    assert [p.path for p in gc.packages(cache)] == [older, old, middle, recent]
    removed = gc.trim(root=cache)
    assert [p.path for p in removed] == [older, old]  # 4 x ~1000 B -> 2 x ~1000 B
    assert _names(cache) == {middle.name, recent.name}
    assert sum(p.size for p in gc.packages(cache)) <= 2500


def test_packages_in_use_stay_even_above_the_bound(cache, monkeypatch):
    monkeypatch.setenv(gc.MAX_ENV, "0")
    kept = _package(cache, 1, 100, 30 * DAY)  # this process loaded it
    busy = _package(cache, 2, 100, 0.5 * HOUR)  # loaded by another process just now
    stale = _package(cache, 3, 100, 2 * HOUR)
    assert gc.trim(keep=[kept], root=cache)[0].path == stale
    assert _names(cache) == {kept.name, busy.name}


def test_nothing_dendrinet_did_not_write_is_touched(cache, monkeypatch, tmp_path):
    monkeypatch.setenv(gc.MAX_ENV, "0")
    ours = _package(cache, 1, 10, 10 * DAY)
    lookalike = cache / f"{gc.PREFIX}{2:020x}"  # the name, not the mark
    lookalike.mkdir()
    (lookalike / "__init__.py").write_text("# my own code\n")
    (lookalike / "big").write_bytes(b"y" * 5000)
    (cache / f"{gc.PREFIX}{3:020x}").write_text("a file")
    (cache / "notes").mkdir()
    (cache / "notes" / "__init__.py").write_text(gc.INIT_TEXT)  # the mark, not the name
    outside = tmp_path / "elsewhere" / f"{gc.PREFIX}{4:020x}"
    outside.mkdir(parents=True)
    (outside / "__init__.py").write_text(gc.INIT_TEXT)
    (cache / outside.name).symlink_to(outside)  # a link into another folder
    for p in (lookalike, cache / "notes", outside):
        t = time.time() - 100 * DAY
        os.utime(p, (t, t))
    assert [p.path for p in gc.packages(cache)] == [ours]
    assert [p.path for p in gc.trim(root=cache)] == [ours]
    assert _names(cache) == {lookalike.name, f"{gc.PREFIX}{3:020x}", "notes", outside.name}
    assert (lookalike / "big").exists() and (outside / "__init__.py").exists()
    assert main(["cache", "clear", "--all"]) == 0
    assert _names(cache) == {lookalike.name, f"{gc.PREFIX}{3:020x}", "notes", outside.name}


@pytest.mark.parametrize("text, expected", [("", 10**9), ("1GB", 10**9), ("500 MB", 5 * 10**8),
                                            ("2GiB", 2 * 2**30), ("1e6", 10**6), ("0", 0)])
def test_the_bound_is_read_from_the_environment(monkeypatch, text, expected):
    monkeypatch.setenv(gc.MAX_ENV, text)
    assert gc.max_bytes() == expected


def test_a_bad_bound_is_one_line(cache, monkeypatch, capsys):
    monkeypatch.setenv(gc.MAX_ENV, "lots")
    assert main(["cache"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "DENDRINET_CACHE_MAX='lots' is not a size" in err


def test_cache_lists_packages_newest_first_with_the_total(cache, capsys):
    _package(cache, 1, 2_000_000, 3 * DAY, model="apical-tanh")
    _package(cache, 2, 500_000, 1 * DAY, model="my-rule")
    _package(cache, 3, 1000, 9 * DAY, model=None)  # written by an older dendrinet
    assert main(["cache"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["package", "model", "size", "last", "used"]
    assert [line.split()[1] for line in lines[1:4]] == ["my-rule", "apical-tanh", "?"]
    assert "2.0 MB" in lines[2] and "500.1 kB" in lines[1]  # payload and record
    assert lines[4].startswith("3 compiled model part(s) in ")
    assert "2.5 MB of 1.0 GB (DENDRINET_CACHE_MAX" in lines[4]


def test_cache_of_an_empty_folder(cache, capsys):
    assert main(["cache", "list"]) == 0
    assert "no compiled model parts in" in capsys.readouterr().out


def test_clear_older_than_and_all(cache, capsys):
    _package(cache, 1, 10, 40 * DAY)
    young = _package(cache, 2, 10, 2 * DAY)
    assert main(["cache", "clear", "--older-than", "30"]) == 0
    assert "removed 1 compiled model part(s)" in capsys.readouterr().out
    assert _names(cache) == {young.name}
    assert main(["cache", "clear", "--all"]) == 0
    assert _names(cache) == set()


@pytest.mark.parametrize("argv, message", [
    (["cache", "clear"], "needs one of --all or --older-than DAYS"),
    (["cache", "clear", "--all", "--older-than", "3"], "needs one of --all or --older-than"),
    (["cache", "--all"], "--all and --older-than go with 'clear'"),
])
def test_cache_mistakes_are_one_line(cache, capsys, argv, message):
    _package(cache, 1, 10, 40 * DAY)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert len(_names(cache)) == 1


def test_a_new_package_records_its_model_and_trims_the_folder(cache, monkeypatch):
    from dendrinet.backends.numba.model_part import model_part

    monkeypatch.setenv(gc.MAX_ENV, "1 kB")
    old = _package(cache, 1, 5000, 3 * DAY)
    model = model_variant(hidden=(3,), equations=dict(apical="tanh(3*V_a_lin)"))
    kernels = model_part(model)
    assert kernels.folder.parent == cache and not old.exists()
    info = json.loads((kernels.folder / gc.INFO_FILE).read_text())
    assert info["model"] == model.name
    assert [p.path for p in gc.packages(cache)] == [kernels.folder]
    assert time.time() - gc.packages(cache)[0].last_used < 60  # loaded: used now


# --------------------------------------------------------------- Numba's own cache

def test_jit_cache_uses_no_private_numba_attribute():
    import dendrinet.backends.numba.jit_cache as jit_cache

    tree = ast.parse(Path(jit_cache.__file__).read_text())
    names = [node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)]
    names += [node.args[1].value for node in ast.walk(tree)  # getattr(f, "_cache", None)
              if isinstance(node, ast.Call) and getattr(node.func, "id", "") in
              ("getattr", "hasattr") and isinstance(node.args[1], ast.Constant)]
    assert [n for n in names if n.startswith("_") and not n.startswith("__")] == []


def _run(code: str, cwd: Path, env: dict | None = None) -> str:
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True,
                         text=True, env={**os.environ, **(env or {})}, timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_a_changed_callee_in_another_file_is_recompiled_after_a_refresh(tmp_path):
    """Numba alone would load the caller's old machine code (it checks the caller's file
    only); the refresh drops the cache when any of the modules changed."""
    (tmp_path / "callee.py").write_text(
        "from numba import njit\n\n@njit(cache=True)\ndef value():\n    return 1\n")
    (tmp_path / "caller.py").write_text(textwrap.dedent("""\
        from numba import njit
        from callee import value

        @njit(cache=True)
        def twice():
            return 2 * value()
        """))
    script = textwrap.dedent("""\
        import sys
        import callee, caller
        from dendrinet.backends.numba.jit_cache import refresh_once
        if sys.argv[-1] == "refresh":
            refresh_once([callee, caller])
        print(caller.twice())
        """)
    refresh = script.replace("sys.argv[-1]", "'refresh'")
    assert _run(script, tmp_path) == "2"
    assert _run(refresh, tmp_path) == "2"  # the stamp of these sources is written
    # another size too: Python's own .pyc check has a resolution of one second
    (tmp_path / "callee.py").write_text(
        "from numba import njit\n\n@njit(cache=True)\ndef value():\n    return 50\n")
    assert _run(script, tmp_path) == "2"  # Numba alone: the caller's stale machine code
    assert _run(refresh, tmp_path) == "100"


def test_importing_the_engine_deletes_no_cache_file(tmp_path):
    """The refresh happens when an engine is first asked for, not at import: a process
    that only imports (dendrinet models, the docs) leaves every cache file alone."""
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "numba")}  # never the checkout's own cache
    folder = Path(_run("from dendrinet.backends.numba import drivers\n"
                       "from dendrinet.backends.numba.jit_cache import cache_folder\n"
                       "print(cache_folder(drivers.train_chunk))", tmp_path, env))
    assert folder.is_relative_to(tmp_path / "numba")
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / "drivers.dendrinet_probe-1.py00.nbi"  # a file the refresh would drop
    probe.write_bytes(b"")
    from dendrinet.backends.numba.jit_cache import STAMP_FILE

    (folder / STAMP_FILE).write_text("0" * 64 + "\n")  # as if the sources had changed
    _run("import dendrinet.backends.numba.engine, dendrinet.commands.simulate", tmp_path, env)
    assert probe.exists()
    _run("from dendrinet.backends.numba.model_part import model_part\n"
         "from dendrinet.config import load_model\n"
         "model_part(load_model('guerguiev2017-1hidden'))", tmp_path, env)
    assert not probe.exists()  # the first engine asked for refreshed the stale cache


# ------------------------------------------------------- train, then simulate

def _cache_files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns
            for p in root.rglob("*") if p.suffix in (".nbi", ".nbc")}


def test_train_then_simulate_compiles_once(tmp_path):
    """Every function ``simulate --engine fast`` runs is in Numba's on-disk cache after
    ``train`` of the same (edited) model: the second process writes no cache file."""
    model = tmp_path / "tiny.toml"
    model.write_text('extends = "guerguiev2017-1hidden"\n[model]\nname = "tiny-edit"\n'
                     '[network]\nhidden = [3]\n[equations]\napical = "2*tanh(V_a_lin/2.5)"\n')
    env = {"DENDRINET_CACHE": str(tmp_path / "cache")}
    cli = "import sys; from dendrinet.cli import main; sys.exit(main(sys.argv[1:]))"

    def dendrinet(*args):
        out = subprocess.run([sys.executable, "-c", cli, *args], cwd=tmp_path, timeout=900,
                             capture_output=True, text=True, env={**os.environ, **env})
        assert out.returncode == 0, out.stderr
        return out.stdout

    dendrinet("train", "--model", str(model), "--dataset", "digits", "--n-train", "3",
              "--n-test", "2", "--epochs", "1", "--protocol", "quick", "--spike-samples", "0",
              "--quiet", "--out", str(tmp_path / "run"))
    from dendrinet.backends.numba import drivers
    from dendrinet.backends.numba.jit_cache import cache_folder

    generated = tmp_path / "cache" / "generated"
    kernels = cache_folder(drivers.present_schedule)  # the engine's own kernels

    def cache_files():
        return {**_cache_files(generated), **_cache_files(kernels)}

    before = cache_files()
    # the generated folder holds the model's neuron part; the kernels are the package's
    assert any(name.endswith(".nbi") and "update_hidden" in name
               for name in _cache_files(generated))
    assert any(name.endswith(".nbi") and "present_schedule" in name
               for name in _cache_files(kernels))
    text = dendrinet("simulate", "--model", str(model), "--engine", "fast", "--dataset",
                     "digits", "--n-examples", "1")
    assert "compiling" not in text
    assert cache_files() == before  # nothing compiled, nothing rewritten
