"""Fault injection for run folders and spike-store outputs (issue #11, "nothing lost,
no traceback"): ``train`` and ``simulate`` processes killed with SIGKILL at fixed-seed
random moments, two writers of one run folder, ``--force`` against a running writer, a
full disk (a file size limit, RLIMIT_FSIZE, with SIGXFSZ ignored: writes fail with
EFBIG), read-only folders and paths under a regular file.

The processes are real ``python`` subprocesses. To keep them short they get the digits
from an ``.npz`` file instead of importing scikit-learn (4 s per process): the training
script calls :func:`dendrinet.training.trainer.train`, the command-line script runs
``dendrinet.cli.main`` with ``dendrinet.datasets.load_dataset`` serving that file.
"""
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dendrinet.cli import main
from dendrinet.config import load_model
from dendrinet.datasets import load_dataset
from dendrinet.training.epochs import seed_streams
from dendrinet.training.evaluation import evaluate_run
from dendrinet.training.run_folder import Run
from dendrinet.store import SpikeStore
from dendrinet.training.trainer import train
from dendrinet.model.weights import initial_parameters

REPO = Path(__file__).resolve().parents[1]
N_TRAIN, N_TEST, HIDDEN, EPOCHS, SEED, SPIKES = 300, 100, 8, 2, 3, 3
# the tiny runs here train from chance: their one-line stall warning is not what these
# tests look at (tests/test_epochs.py does)
ENV = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           PYTHONWARNINGS="ignore::UserWarning")

# train(...) in a process of its own: argv = run folder, digits .npz, seed, epochs
TRAIN_SCRIPT = f"""
import dataclasses, sys
import numpy as np
from dendrinet.config import load_model
from dendrinet.datasets import Dataset
from dendrinet.training.trainer import train
d = np.load(sys.argv[2])
ds = Dataset("digits", d["X_train"], d["y_train"], d["X_test"], d["y_test"], (8, 8))
model = dataclasses.replace(load_model("guerguiev2017-1hidden"), hidden=({HIDDEN},))
train(model, "quick", ds, sys.argv[1], epochs=int(sys.argv[4]), seed=int(sys.argv[3]),
      progress=False, n_spike_samples={SPIKES}, resume=True)
import time
print(time.monotonic(), flush=True)  # done: what follows is the interpreter's exit
"""

# the dendrinet command: argv = digits .npz, file size limit in bytes (0: none), arguments
CLI_SCRIPT = """
import resource, signal, sys
import numpy as np
import dendrinet.datasets
from dendrinet.datasets import Dataset
d = np.load(sys.argv[1])
def load_dataset(name, data_dir=None, n_train=None, n_test=None):
    assert name == "digits", name
    return Dataset("digits", d["X_train"][:n_train], d["y_train"][:n_train],
                   d["X_test"][:n_test], d["y_test"][:n_test], (8, 8))
dendrinet.datasets.load_dataset = load_dataset
if int(sys.argv[2]):
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail: EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE,
                       (int(sys.argv[2]), resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
from dendrinet.cli import main
sys.exit(main(sys.argv[3:]))
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The digits as .npz and the tiny model as a file."""
    folder = tmp_path_factory.mktemp("inputs")
    ds = load_dataset("digits", n_train=N_TRAIN, n_test=N_TEST)
    np.savez(folder / "digits.npz", X_train=ds.X_train, y_train=ds.y_train, X_test=ds.X_test,
             y_test=ds.y_test)
    text = (REPO / "models" / "guerguiev2017-1hidden.toml").read_text(encoding="utf-8")
    assert "hidden = [500]" in text
    (folder / "tiny.toml").write_text(text.replace("hidden = [500]", f"hidden = [{HIDDEN}]"),
                                      encoding="utf-8")
    return {"digits": folder / "digits.npz", "model": folder / "tiny.toml", "ds": ds}


def _start_train(out: Path, digits: Path, seed: int = SEED, epochs: int = EPOCHS):
    return subprocess.Popen([sys.executable, "-c", TRAIN_SCRIPT, str(out), str(digits),
                             str(seed), str(epochs)], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _cli(digits: Path, args, limit: int = 0, **popen):
    return subprocess.Popen([sys.executable, "-c", CLI_SCRIPT, str(digits), str(limit),
                             *map(str, args)], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def _wait_for(path: Path, proc, timeout: float = 120.0) -> float:
    """Poll until ``path`` exists; the time it appeared."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            return time.monotonic()
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{path} did not appear within {timeout} s")
        time.sleep(0.002)
    return time.monotonic()


def _kill_after(proc, delay: float) -> bool:
    """SIGKILL ``proc`` ``delay`` s from now; whether the signal killed it. A process that
    exits between the check and the signal (a kill timed at its very end, on a loaded
    machine) finished instead: its exit status says which."""
    time.sleep(max(delay, 0.0))
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return proc.returncode == -signal.SIGKILL


def _same_run(a: Path, b: Path) -> None:
    """Two finished runs are equal: weights of every epoch, history, errors,
    predictions and the spike sample."""
    ra, rb = Run.open(a), Run.open(b)
    assert ra.weight_epochs == rb.weight_epochs == list(range(EPOCHS + 1))
    for k in ra.weight_epochs:
        wa, wb = ra.weights(k).to_arrays(), rb.weights(k).to_arrays()
        assert sorted(wa) == sorted(wb)
        for name in wa:
            assert np.array_equal(wa[name], wb[name]), f"epoch {k} {name} differs"
    ha, hb = ra.history(), rb.history()
    assert sorted(ha) == sorted(hb)
    for key in ha:
        assert np.array_equal(ha[key], hb[key]), f"history {key} differs"
    assert np.array_equal(ra.summary.train_errors, rb.summary.train_errors)
    assert np.array_equal(ra.summary.test_errors, rb.summary.test_errors)
    assert np.array_equal(ra.predictions()["mean_V"], rb.predictions()["mean_V"])
    with SpikeStore(ra.spikes_path) as sa, SpikeStore(rb.spikes_path) as sb:
        for pop in sa.populations:
            for x, y in zip(sa.spikes(pop), sb.spikes(pop)):
                assert np.array_equal(x, y), f"spikes of {pop} differ"


@pytest.fixture(scope="module")
def reference(tmp_path_factory, files):
    """An uninterrupted training process, and when (s after its start) it created the
    run folder, wrote its first summary (after loading the engine's code) and was done
    (before the interpreter's exit)."""
    out = tmp_path_factory.mktemp("reference") / "run"
    t0 = time.monotonic()
    proc = _start_train(out, files["digits"])
    t_folder = _wait_for(out, proc) - t0
    t_summary = _wait_for(out / "summary.json", proc) - t0
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr.decode()[-3000:]
    t_done = float(stdout.split()[-1]) - t0
    assert 0 < t_folder < t_summary < t_done
    return out, (t_folder, t_summary, t_done)


# ----------------------------------------------------------------- kill -9


def test_training_killed_at_random_moments_resumes_to_the_uninterrupted_run(
        tmp_path, files, reference):
    """8 SIGKILLs of training processes at random moments. Even trials start a new run
    and are killed uniformly over its work (from the creation of its folder to its end:
    the lock, the copies of the configuration, the initial weights, loading the
    engine, the summary, epochs, checkpoints, the spike sample); odd trials resume the
    folder the last kill left and are killed uniformly over their epochs and spike
    sample (timed from their first rewrite of the summary). After every kill, a copy of
    the folder resumes to exactly the uninterrupted run; finally a process resumes
    the killed folder itself."""
    ref, (t_folder, t_summary, t_done) = reference
    rng = np.random.default_rng(20251129)
    model = dataclasses.replace(load_model("guerguiev2017-1hidden"), hidden=(HIDDEN,))
    out = tmp_path / "run"
    kills, states = 0, []
    for trial in range(30):
        summary_file = out / "summary.json"
        fresh = trial % 2 == 0 or (summary_file.exists() and
                                   '"finished"' in summary_file.read_text())
        if fresh and out.exists():
            shutil.rmtree(out)
        before = _inode(summary_file)
        t0 = time.monotonic()
        proc = _start_train(out, files["digits"])
        try:
            if fresh:
                killed = _kill_after(proc, t0 + rng.uniform(t_folder, t_done) - time.monotonic())
            else:
                while _inode(summary_file) in (None, before) and proc.poll() is None:
                    time.sleep(0.0005)
                killed = _kill_after(proc, rng.uniform(0, t_done - t_summary))
        finally:
            if proc.poll() is None:
                proc.kill()
            _, stderr = proc.communicate()
        if not killed:
            assert proc.returncode == 0, stderr.decode()[-3000:]
            continue
        kills += 1
        assert proc.returncode == -signal.SIGKILL
        states.append(("new: " if fresh else "resumed: ") + _state(out))
        # a copy resumes (with the stale lock file and any temporary files inside)
        copy = tmp_path / f"copy{trial}"
        if out.exists():
            shutil.copytree(out, copy)
        summary = train(model, "quick", files["ds"], copy, epochs=EPOCHS, seed=SEED,
                        resume=True, progress=False, n_spike_samples=SPIKES)
        assert summary.finished and summary.epochs_done == EPOCHS
        _same_run(ref, copy)
        assert not list(copy.rglob("*.tmp")) and not list(copy.rglob("*.tmp.npz"))
        assert not (copy / ".lock").exists()
        shutil.rmtree(copy)
        if kills == 8:
            break
    assert kills == 8, f"only {kills} processes were killed before they ended: {states}"
    proc = _start_train(out, files["digits"])
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr.decode()[-3000:]
    _same_run(ref, out)
    print(f"states at the kills: {states}")


def _inode(path: Path):
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


def _state(out: Path) -> str:
    """What a killed training process left: the epoch of its checkpoint, or how far
    it came before its first one."""
    if (out / "checkpoint.npz").exists():
        with np.load(out / "checkpoint.npz") as ck:
            return f"epoch {int(ck['epoch'])}"
    if (out / "summary.json").exists():
        return "summary"
    return "unstarted" if out.exists() else "absent"


def _store_summary(path: Path) -> dict:
    with SpikeStore(path) as store:
        return {"seed": store.metadata["seed"], "t_stop": store.t_stop,
                "presentations": store.n_presentations,
                "spikes": {p: store.n_spikes(p) for p in store.populations}}


def _write_old_store(path: Path) -> None:
    with SpikeStore(path, "w", dt=1.0) as store:
        store.add_population("input", 3)
        store.append_spikes("input", [1.0, 2.0], [0, 2])
        store.set_metadata({"seed": 1})


def test_simulate_killed_at_random_moments_leaves_a_whole_store(tmp_path, files):
    """``simulate --out --force`` over an existing store, killed 4 times at random
    moments (uniform over the process's life, or over its writing of the store, timed
    from the appearance of its temporary file): the target is always the old store or
    the complete new one. A full disk fails in one line and keeps the old store; dead
    writers' temporary files are removed by the next writer."""
    out = tmp_path / "spikes.h5"
    _write_old_store(out)
    old = _store_summary(out)
    args = ["simulate", "--engine", "fast", "--model", files["model"], "--dataset", "digits",
            "--n-examples", "8", "--seed", "2"]

    # an uninterrupted writer of the same store elsewhere: its content and timing
    t0 = time.monotonic()
    first = _cli(files["digits"], [*args, "--out", tmp_path / "new.h5"])
    t_tmp = t_new = None
    while first.poll() is None:
        names = [p.name for p in tmp_path.iterdir()]
        if t_tmp is None and any(n.startswith(".new.h5.") for n in names):
            t_tmp = time.monotonic() - t0
        if t_new is None and "new.h5" in names:
            t_new = time.monotonic() - t0
        time.sleep(0.0005)
    t_end = time.monotonic() - t0
    assert first.wait() == 0, first.stderr.read()
    new = _store_summary(tmp_path / "new.h5")
    assert new["seed"] == 2 and new["presentations"] == 16 and new["spikes"]["input"] > 0
    writing = (t_new or t_end) - (t_tmp or 0.0)

    rng = np.random.default_rng(7)
    outcomes, kills = [], 0
    for trial in range(12):
        t0 = time.monotonic()
        proc = _cli(files["digits"], [*args, "--out", out, "--force"])
        try:
            if trial % 2:  # while it writes
                deadline = t0 + 120
                while not any(p.name.startswith(".spikes.h5.") for p in tmp_path.iterdir()):
                    if proc.poll() is not None or time.monotonic() > deadline:
                        break
                    time.sleep(0.0005)
                killed = _kill_after(proc, rng.uniform(0, writing))
            else:
                killed = _kill_after(proc, t0 + rng.uniform(0, t_end) - time.monotonic())
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        if killed:
            kills += 1
            now = _store_summary(out)  # a readable store at the target, always
            assert now in (old, new), now
            outcomes.append("old" if now == old else "new")
            if now == new:  # start over from the old store
                _write_old_store(out)
        if kills == 4:
            break
    assert kills == 4, outcomes

    # a full disk (file size limit): one line, exit 2, the old store kept
    before = out.read_bytes()
    full = _cli(files["digits"], [*args, "--out", out, "--force"], limit=20_000)
    _, stderr = full.communicate(timeout=300)
    assert full.returncode == 2, stderr
    assert stderr.count("\n") == 1 and stderr.startswith("dendrinet simulate: error: ")
    assert "File too large" in stderr and str(out) in stderr and "Traceback" not in stderr
    assert out.read_bytes() == before
    # no temporary file is left: the last writer removed those of the killed ones
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.h5", "spikes.h5"]
    print(f"target after each kill: {outcomes}")


# -------------------------------------------------------------- one writer


def test_a_second_writer_and_force_are_refused_while_a_run_is_written(tmp_path, files):
    """Run A trains; meanwhile (A is stopped with SIGSTOP so that it surely still holds
    the folder) a second ``train`` with another seed, ``train --force`` and ``train
    --resume`` are refused: exit 2, one line naming A's pid. A then ends intact."""
    out = tmp_path / "run"
    a = _start_train(out, files["digits"], seed=7, epochs=3)
    try:
        _wait_for(out / "summary.json", a)
        a.send_signal(signal.SIGSTOP)
        common = ["--model", files["model"], "--protocol", "quick", "--dataset", "digits",
                  "--n-train", N_TRAIN, "--n-test", N_TEST, "--epochs", 3, "--quiet",
                  "--out", out]
        for argv in (["train", *common, "--seed", "8"],
                     ["train", *common, "--seed", "8", "--force"],
                     ["train", "--out", out, "--resume", "--quiet"]):
            code, err = _main([str(x) for x in argv])
            assert code == 2, err
            assert err.count("\n") == 1 and err.startswith("dendrinet train: error: ")
            assert f"pid {a.pid} on host" in err and "in use" in err, err
            assert (out / "summary.json").is_file() and (out / "config").is_dir()
        assert json.loads((out / ".lock").read_text())["pid"] == a.pid
    finally:
        a.send_signal(signal.SIGCONT)
    assert a.wait(timeout=300) == 0, a.stderr.read().decode()[-3000:]
    run = Run.open(out)
    assert run.summary.seed == 7 and run.summary.epochs_done == 3
    model = dataclasses.replace(load_model("guerguiev2017-1hidden"), hidden=(HIDDEN,))
    initial = initial_parameters(model, 448, seed_streams(7)[0])  # 7 inputs per pixel
    assert np.array_equal(run.weights(0).W[0], initial.W[0])
    # the recorded error is that of the recorded weights
    assert evaluate_run(out, dataset=files["ds"])["error"] == run.summary.final_test_error
    assert not (out / ".lock").exists()


def _main(argv) -> tuple[int, str]:
    """``dendrinet.cli.main`` in this process: exit status and stderr."""
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return code, err.getvalue()


# ------------------------------------------------------------- full disk


def test_full_disk_fails_in_one_line_and_the_run_resumes(tmp_path, files, reference):
    """A resumed run whose epoch-2 files outgrow the file size limit: exit 2, one line
    naming the file, the cause and --resume; the epoch-1 checkpoint is intact, and once
    the limit is gone --resume reaches the uninterrupted run."""
    out = tmp_path / "run"
    model = dataclasses.replace(load_model("guerguiev2017-1hidden"), hidden=(HIDDEN,))
    train(model, "quick", files["ds"], out, epochs=1, seed=SEED, progress=False,
          n_spike_samples=SPIKES)
    checkpoint = (out / "checkpoint.npz").read_bytes()
    proc = _cli(files["digits"], ["train", "--out", out, "--resume", "--epochs", EPOCHS,
                                  "--quiet"], limit=len(checkpoint) + 512)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 2, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dendrinet train: error: cannot write "), \
        stderr
    assert str(out) in lines[0] and "File too large [EFBIG]" in lines[0]
    assert "last checkpoint (epoch 1) is intact" in lines[0] and "--resume" in lines[0]
    assert "Traceback" not in stderr
    assert (out / "checkpoint.npz").read_bytes() == checkpoint
    assert not list(out.rglob("*.tmp")) and not list(out.rglob("*.tmp.npz"))
    summary = train(resume=True, out_dir=out, epochs=EPOCHS, dataset=files["ds"],
                    progress=False, n_spike_samples=SPIKES)
    assert summary.finished
    _same_run(reference[0], out)


# ------------------------------------------------- impossible output paths


def test_outputs_under_a_regular_file_fail_in_one_line_before_any_work(tmp_path, files):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, err = _main(["train", "--model", str(files["model"]), "--dataset", "digits",
                       "--out", str(blocker / "run")])
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"dendrinet train: error: cannot create run folder {blocker}/run")
    assert "Not a directory [ENOTDIR]" in err
    code, err = _main(["simulate", "--engine", "fast", "--out", str(blocker / "s.h5")])
    assert code == 2 and err.count("\n") == 1, err
    assert f"cannot write to the output folder {blocker}: Not a directory" in err
    assert blocker.read_text() == "not a folder"


def test_read_only_folders_fail_in_one_line(tmp_path, files):
    folder = tmp_path / "ro"
    folder.mkdir()
    os.chmod(folder, 0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("this user (root) may write a read-only folder")
        code, err = _main(["train", "--model", str(files["model"]), "--dataset", "digits",
                           "--out", str(folder / "run")])
        assert code == 2 and err.count("\n") == 1, err
        assert f"{folder}/run" in err and "Permission denied" in err
        code, err = _main(["simulate", "--engine", "fast", "--out", str(folder / "s.h5")])
        assert code == 2 and err.count("\n") == 1, err
        assert str(folder) in err and "Permission denied" in err
        assert list(folder.iterdir()) == []
    finally:
        os.chmod(folder, 0o700)


def test_simulate_replaces_only_spike_stores_and_only_with_force(tmp_path, files):
    text = tmp_path / "p.txt"
    text.write_text("precious")
    for extra in ([], ["--force"]):
        code, err = _main(["simulate", "--engine", "fast", "--out", str(text), *extra])
        assert code == 2 and err.count("\n") == 1, err
        assert "not a readable dendrinet spike store" in err and str(text) in err
    assert text.read_text() == "precious"
    store = tmp_path / "s.h5"
    with SpikeStore(store, "w", dt=1.0) as s:
        s.set_metadata({"seed": 99})
    code, err = _main(["simulate", "--engine", "fast", "--out", str(store)])
    assert code == 2 and "a spike store exists there; add --force" in err
    with SpikeStore(store) as s:
        assert s.metadata["seed"] == 99
    code, err = _main(["simulate", "--force"])
    assert code == 2 and "--force applies to --out" in err


# ------------------------------------------------------------ FolderLock


def test_folder_lock_excludes_a_second_holder_and_names_the_first(tmp_path):
    from dendrinet.errors import RunError
    from dendrinet.storage.locks import FolderBusyError, FolderLock

    folder = tmp_path / "a" / "b"
    with pytest.raises(RunError, match="sweep folder missing"):
        FolderLock(folder, create=False, what="sweep folder").acquire()
    first = FolderLock(folder, what="sweep folder").acquire()
    assert first.created and first.held
    holder = json.loads((folder / ".lock").read_text())
    assert holder["pid"] == os.getpid() and holder == first.holder
    with pytest.raises(FolderBusyError, match=rf"b: this sweep folder is in use by pid "
                                              rf"{os.getpid()} on host .* since ") as info:
        FolderLock(folder, what="sweep folder").acquire()
    assert info.value.holder["pid"] == os.getpid()
    # only the holder removes temporary files, and only those of atomic writes
    (folder / "x.json.abc.tmp").write_text("")
    (folder / "sub").mkdir()
    (folder / "sub" / "w.npz.abc.tmp.npz").write_text("")
    (folder / "keep.txt").write_text("")
    with pytest.raises(RunError, match="needs the folder's lock"):
        FolderLock(folder).remove_temporaries()
    removed = first.remove_temporaries(["sub"])
    assert sorted(p.name for p in removed) == ["w.npz.abc.tmp.npz", "x.json.abc.tmp"]
    first.release()
    assert not (folder / ".lock").exists() and (folder / "keep.txt").exists()
    with FolderLock(folder) as again:  # free again; a lock file of a dead holder is no bar
        assert again.held and not again.created
    (folder / ".lock").write_text('{"pid": 999999999, "host": "elsewhere"}')
    with FolderLock(folder) as again:
        assert json.loads((folder / ".lock").read_text())["pid"] == os.getpid()
    # a holder that failed before writing anything removes the folder it made
    fresh = FolderLock(tmp_path / "fresh").acquire()
    fresh.release(remove_if_created=True)
    assert not (tmp_path / "fresh").exists()


def test_folder_lock_of_a_killed_process_is_released(tmp_path):
    from dendrinet.storage.locks import FolderBusyError, FolderLock

    folder = tmp_path / "f"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom dendrinet.storage.locks import "
         "FolderLock\nFolderLock(sys.argv[1]).acquire()\nprint('held', flush=True)\n"
         "time.sleep(60)", str(folder)], env=ENV, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(FolderBusyError, match=f"pid {holder.pid} on host"):
            FolderLock(folder).acquire()
    finally:
        holder.kill()
        holder.wait()
    with FolderLock(folder) as lock:
        assert lock.holder["pid"] == os.getpid()
