"""Only what dendrinet wrote is touched (issue 19, item 3) and --resume verifies the
files it builds on (item 5): the run folder's marker and listing, --force, links inside a
run folder, a writer whose lock file was deleted, folders mixing two runs' files, and a
corrupt last epoch. Tiny real runs: digits (40 training, 20 test examples), a 64-8-10
network, the quick protocol, the fast engine."""
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from dendrinet.storage.files import write_json_atomic, write_text_atomic
from dendrinet.config import load_model
from dendrinet.datasets import load_dataset
from dendrinet.errors import RunError
from dendrinet.training.evaluation import evaluate_run
from dendrinet.storage.locks import FolderLock, LockLostError
from dendrinet.training.run_folder import (RUN_MARKER, Run, RunFiles, folder_state, read_checkpoint,
                                  read_marker)
from dendrinet.training.trainer import train

KW = dict(engine="fast", progress=False, n_spike_samples=0)
REPO = Path(__file__).resolve().parents[1]
# the tiny runs here train from chance: their one-line stall warning is not what these
# tests look at (tests/test_epochs.py does)
ENV = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           PYTHONWARNINGS="ignore::UserWarning")

# a writer in a process of its own: argv = run folder, digits .npz; a DendrinetError is
# printed as one line with exit status 2, as the command line does
WRITER = """
import dataclasses, sys
import numpy as np
from dendrinet.config import load_model
from dendrinet.datasets import Dataset
from dendrinet.errors import DendrinetError
from dendrinet.training.trainer import train
d = np.load(sys.argv[2])
ds = Dataset("digits", d["X_train"], d["y_train"], d["X_test"], d["y_test"], (8, 8))
model = dataclasses.replace(load_model("guerguiev2017-1hidden"), hidden=(8,))
try:
    train(model, "quick", ds, sys.argv[1], epochs=20, seed=7, progress=False,
          n_spike_samples=0)
except DendrinetError as exc:
    print(exc, file=sys.stderr)
    sys.exit(2)
"""


@pytest.fixture(scope="module")
def model():
    return dataclasses.replace(load_model("guerguiev2017-1hidden"), hidden=(8,))


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", n_train=40, n_test=20)


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory, model, digits):
    """A finished 1-epoch run with a spike sample, copied by the tests that change it."""
    out = tmp_path_factory.mktemp("runs") / "one"
    train(model, "quick", digits, out, epochs=1, seed=1, engine="fast", progress=False,
          n_spike_samples=2)
    return out


def _copy(run: Path, target: Path) -> Path:
    shutil.copytree(run, target, symlinks=True)
    return target


def _tree(folder: Path) -> dict:
    """Every entry below ``folder`` -> its bytes (files), its target (links) or None."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        out[rel] = os.readlink(p) if p.is_symlink() else \
            (p.read_bytes() if p.is_file() else None)
    return out


# ------------------------------------------ a folder that is not a run is never touched


@pytest.mark.parametrize("force", [False, True])
def test_a_folder_holding_only_config_settings_is_refused_and_untouched(tmp_path, model,
                                                                         digits, force):
    out = tmp_path / "project"
    (out / "config").mkdir(parents=True)
    (out / "config" / "settings.yaml").write_text("precious: true\n")
    before = _tree(out)
    with pytest.raises(RunError, match=r"exists and is not a dendrinet run folder \(no "
                                       r"\.dendrinet-run marker\); choose another"):
        train(model, "quick", digits, out, epochs=1, force=force, **KW)
    assert _tree(out) == before  # not even a lock file went in


def test_a_summary_beside_a_users_code_is_not_a_run_even_with_force(tmp_path, model, digits):
    out = tmp_path / "project"
    (out / "src").mkdir(parents=True)
    (out / "src" / "main.py").write_text("print('mine')\n")
    (out / "notes.txt").write_text("my notes\n")
    (out / "summary.json").write_text(json.dumps({"model": "mine", "epochs": [1, 2]}))
    (out / "config").mkdir()
    before = _tree(out)
    assert folder_state(out) == "other"
    for kwargs in ({"force": True}, {}, {"resume": True}):
        with pytest.raises(RunError, match="not a dendrinet run folder"):
            train(model, "quick", digits, out, epochs=1, **KW, **kwargs)
    assert _tree(out) == before


def test_force_deletes_only_the_files_the_run_wrote(tmp_path, model, digits, one_epoch,
                                                    capsys):
    out = _copy(one_epoch, tmp_path / "run")
    (out / "notes.txt").write_text("my notes\n")
    (out / "weights" / "README").write_text("what these are\n")
    (out / "mine").mkdir()
    old_id = read_marker(out)["run_id"]
    train(model, "quick", digits, out, epochs=1, seed=2, force=True, engine="fast",
          progress="lines", n_spike_samples=0)
    assert "kept what the earlier run did not write: mine, notes.txt" in capsys.readouterr().out
    assert (out / "notes.txt").read_text() == "my notes\n"
    assert (out / "weights" / "README").read_text() == "what these are\n"
    assert (out / "mine").is_dir()
    assert not (out / "spikes.h5").exists()  # the earlier run's, not written by this one
    marker = read_marker(out)
    assert marker["run_id"] != old_id
    assert set(marker["files"]) == {str(p.relative_to(out)) for p in out.rglob("*")
                                    if p.is_file()} - {"notes.txt", "weights/README",
                                                       RUN_MARKER}
    assert Run.open(out).summary.seed == 2


def test_a_run_of_dendrinet_0_3_without_marker_is_read_resumed_and_replaced(
        tmp_path, model, digits, one_epoch):
    """0.3 wrote no marker and no run ids: its folder is recognised by a summary that reads
    as a run's; --force deletes the file names 0.3 wrote, nothing else."""
    out = _copy(one_epoch, tmp_path / "old")
    (out / RUN_MARKER).unlink()
    info = json.loads((out / "summary.json").read_text())
    for key in ("run_id", "checksums", "checkpoint"):
        del info[key]
    (out / "summary.json").write_text(json.dumps(info))
    for npz in out.rglob("*.npz"):  # 0.3 wrote plain np.savez files
        with zipfile.ZipFile(npz, "a") as archive:
            archive.comment = b""
    assert folder_state(out) == "run"
    assert evaluate_run(out)["epoch"] == 1
    resumed = _copy(out, tmp_path / "resumed")
    assert train(resume=True, out_dir=resumed, epochs=2, dataset=digits, **KW).epochs_done == 2
    assert read_marker(resumed)["run_id"] == Run.open(resumed).info["run_id"]
    (out / "notes.txt").write_text("mine")
    train(model, "quick", digits, out, epochs=1, seed=5, force=True, **KW)
    assert (out / "notes.txt").read_text() == "mine"
    assert Run.open(out).summary.seed == 5


def test_a_marker_listing_a_path_outside_the_folder_deletes_nothing(tmp_path, model, digits,
                                                                    one_epoch):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = _copy(one_epoch, tmp_path / "crafted")
    marker = read_marker(out)
    marker["files"].append("../victim.txt")
    (out / RUN_MARKER).write_text(json.dumps(marker))
    before = _tree(out)
    assert folder_state(out) == "other"
    with pytest.raises(RunError, match="marker.*left alone"):
        train(model, "quick", digits, out, epochs=1, force=True, **KW)
    assert victim.read_text() == "keep me" and _tree(out) == before


# ---------------------------------------------------------- no write follows a link


def test_a_linked_spike_store_is_refused_on_resume_and_its_file_kept(tmp_path, digits,
                                                                     one_epoch):
    out = _copy(one_epoch, tmp_path / "run")
    text = tmp_path / "thesis.txt"
    text.write_text("chapter 1\n")
    (out / "spikes.h5").unlink()
    (out / "spikes.h5").symlink_to(text)
    with pytest.raises(RunError, match=r"spikes\.h5: is a symbolic link inside"):
        train(resume=True, out_dir=out, epochs=2, dataset=digits, progress=False,
              n_spike_samples=2)
    assert text.read_text() == "chapter 1\n"
    assert read_checkpoint(out / "checkpoint.npz")["epoch"] == 1


@pytest.mark.parametrize("force", [False, True])
def test_a_linked_weights_folder_is_refused_and_nothing_lands_outside(tmp_path, model, digits,
                                                                      one_epoch, force):
    out = _copy(one_epoch, tmp_path / "run")
    elsewhere = tmp_path / "elsewhere"
    shutil.move(out / "weights", elsewhere)
    (out / "weights").symlink_to(elsewhere, target_is_directory=True)
    before = _tree(elsewhere)
    kwargs = {"force": True, "model": model, "protocol": "quick"} if force else \
        {"resume": True}
    with pytest.raises(RunError, match=r"weights: is a symbolic link inside"):
        train(out_dir=out, epochs=2, dataset=digits, **KW, **kwargs)
    assert _tree(elsewhere) == before


def test_run_files_refuse_a_link_that_appears_while_the_run_is_written(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    from dendrinet.training.run_folder import new_marker
    new_marker(out)
    files = RunFiles(out)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "config").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(RunError, match="config: is a symbolic link inside"):
        files.write_text("config/model.toml", "x")
    assert list(elsewhere.iterdir()) == []
    assert read_marker(out)["files"] == []


def test_atomic_writes_with_a_root_follow_no_link(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "sub").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(RunError, match="sub: is a symbolic link inside"):
        write_text_atomic(root / "sub" / "a.txt", "x", root=root)
    target = tmp_path / "target.json"
    target.write_text("mine")
    (root / "b.json").symlink_to(target)
    with pytest.raises(RunError, match=r"b\.json: is a symbolic link inside"):
        write_json_atomic(root / "b.json", {"a": 1}, root=root)
    assert list(elsewhere.iterdir()) == [] and target.read_text() == "mine"
    write_json_atomic(root / "c.json", {"a": 1}, root=root)  # a plain file is fine
    assert json.loads((root / "c.json").read_text()) == {"a": 1}


# ----------------------------------------------------------------- the lock


def test_a_lock_file_deleted_under_its_holder_is_noticed_and_the_new_one_kept(tmp_path):
    folder = tmp_path / "f"
    first = FolderLock(folder).acquire()
    first.check_held()
    (folder / ".lock").unlink()
    with pytest.raises(LockLostError, match="lost the lock of .*stopping without writing x"):
        first.check_held("x")
    second = FolderLock(folder).acquire()  # the deleted file no longer excludes anyone
    first.release()
    assert (folder / ".lock").is_file()  # the second holder's file stays
    second.check_held()
    second.release()
    assert not (folder / ".lock").exists()


def test_a_writer_whose_lock_was_deleted_stops_at_its_next_checkpoint(tmp_path, model,
                                                                      digits, monkeypatch):
    """Another process deletes .lock after epoch 1 and takes the folder: the first
    writer writes nothing of epoch 2 and keeps its checkpoint of epoch 1."""
    out = tmp_path / "run"
    intruder = FolderLock(out)
    original = RunFiles.write_checkpoint

    def checkpoint_then_intrude(self, **kwargs):
        original(self, **kwargs)
        if kwargs["epoch"] == 1:
            (out / ".lock").unlink()
            intruder.acquire()

    monkeypatch.setattr(RunFiles, "write_checkpoint", checkpoint_then_intrude)
    try:
        with pytest.raises(RunError, match=r"lost the lock of .*run: \.lock was removed or "
                                           r"replaced; another process may be writing; "
                                           r"stopping without writing epoch 2; its checkpoint "
                                           r"of epoch 1 is kept"):
            train(model, "quick", digits, out, epochs=2, seed=1, **KW)
        assert intruder.held and intruder._owns_lock_file()  # its lock file left alone
    finally:
        intruder.release()
    assert read_checkpoint(out / "checkpoint.npz")["epoch"] == 1
    assert not (out / "weights" / "epoch_002.npz").exists()
    assert Run.open(out, allow_unfinished=True).summary.epochs_done == 1


def test_a_second_writer_let_in_by_deleting_the_lock_stops_the_first(tmp_path, model):
    """Real processes: writer A is stopped (SIGSTOP) while training its first epoch,
    its .lock deleted, and a second writer replaces the run with --force; A, continued,
    stops in one line before writing anything more, and the folder is B's run alone."""
    ds = load_dataset("digits", n_train=300, n_test=100)
    data = tmp_path / "digits.npz"
    np.savez(data, X_train=ds.X_train, y_train=ds.y_train, X_test=ds.X_test, y_test=ds.y_test)
    out = tmp_path / "run"
    a = subprocess.Popen([sys.executable, "-c", WRITER, str(out), str(data)], env=ENV,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "summary.json").exists():  # A's first record, then epoch 1
            assert a.poll() is None and time.monotonic() < deadline, a.stderr.read()
            time.sleep(0.002)
        a.send_signal(signal.SIGSTOP)
        try:
            (out / ".lock").unlink()
            train(model, "quick", ds, out, epochs=1, seed=8, force=True, **KW)
        finally:
            a.send_signal(signal.SIGCONT)
        _, err = a.communicate(timeout=300)
    finally:
        if a.poll() is None:
            a.kill()
    assert a.returncode == 2, err
    assert err.count("\n") == 1 and err.startswith(f"lost the lock of {out}: .lock was "
                                                    "removed or replaced"), err
    run = Run.open(out)  # one run's files only (different run ids would be refused)
    assert run.summary.seed == 8 and run.summary.finished and run.weight_epochs == [0, 1]
    assert sorted(p.name for p in (out / "weights").iterdir()) == ["epoch_000.npz",
                                                                   "epoch_001.npz"]
    assert not (out / ".lock").exists()


# ------------------------------------------------- readers refuse mixed folders


def test_readers_refuse_a_folder_holding_another_runs_files(tmp_path, model, digits,
                                                            one_epoch):
    other = tmp_path / "other"
    shallow = load_model("guerguiev2017-0hidden")
    train(shallow, "quick", digits, other, epochs=1, seed=9, **KW)
    mixed = _copy(one_epoch, tmp_path / "mixed")
    shutil.copy(other / "weights" / "epoch_001.npz", mixed / "weights" / "epoch_001.npz")
    with pytest.raises(RunError, match=r"belong to different runs: weights/epoch_001\.npz is "
                                       r"not from the run of summary\.json"):
        evaluate_run(mixed)
    with pytest.raises(RunError, match="different runs"):
        Run.open(mixed)
    # the model file of another run: the network does not match the summary
    config = _copy(one_epoch, tmp_path / "config")
    shutil.copy(other / "config" / "model.toml", config / "config" / "model.toml")
    with pytest.raises(RunError, match=r"different runs: config/model\.toml is a \[448, 10\]"):
        evaluate_run(config)
    # and a second writer's summary over the first one's files
    summary = _copy(one_epoch, tmp_path / "summary")
    shutil.copy(other / "summary.json", summary / "summary.json")
    with pytest.raises(RunError, match="different runs"):
        Run.open(summary)


# --------------------------------------------------- --resume verifies its files


def test_a_truncated_last_epoch_is_rewritten_from_the_checkpoint_on_resume(
        tmp_path, digits, one_epoch, capsys):
    for epochs in (1, 2):  # already finished, and extended
        out = _copy(one_epoch, tmp_path / f"run{epochs}")
        path = out / "weights" / "epoch_001.npz"
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        with pytest.raises(RunError, match=r"epoch_001\.npz: weight file is corrupt"):
            Run.open(out).weights(1)
        train(resume=True, out_dir=out, epochs=epochs, dataset=digits, engine="fast",
              progress="lines", n_spike_samples=0)
        assert "epoch_001.npz: was corrupt (sha256 differs" in capsys.readouterr().out
        run = Run.open(out)
        ck = read_checkpoint(one_epoch / "checkpoint.npz")["params"]
        for name, arr in ck.to_arrays().items():
            np.testing.assert_array_equal(run.weights(1).to_arrays()[name], arr)
        assert run.summary.epochs_done == epochs
        info = run.info
        assert set(info["checksums"]) == {f"weights/epoch_{k:03d}.npz"
                                          for k in range(epochs + 1)}


def test_a_corrupt_earlier_epoch_or_checkpoint_is_refused_on_resume(tmp_path, model, digits):
    out = tmp_path / "run"
    train(model, "quick", digits, out, epochs=2, seed=1, **KW)
    copy = _copy(out, tmp_path / "earlier")
    path = copy / "weights" / "epoch_001.npz"
    path.write_bytes(path.read_bytes()[:100])
    before = _tree(copy)
    with pytest.raises(RunError, match=r"epoch_001\.npz: the weights of epoch 1 are corrupt.*"
                                       r"restore the file, or start the run again"):
        train(resume=True, out_dir=copy, epochs=3, dataset=digits, **KW)
    assert _tree(copy) == before
    # a checkpoint that is not the one summary.json recorded for its epoch
    ck = _copy(out, tmp_path / "checkpoint")
    info = json.loads((ck / "summary.json").read_text())
    info["checkpoint"]["sha256"] = "0" * 64
    (ck / "summary.json").write_text(json.dumps(info))
    with pytest.raises(RunError, match=r"checkpoint\.npz: is not the checkpoint of epoch 2"):
        train(resume=True, out_dir=ck, epochs=3, dataset=digits, **KW)


def test_a_folder_holding_only_a_killed_writers_temporary_marker_is_empty(tmp_path):
    """A training process killed while it wrote the marker (a run's first file) leaves
    the lock and ``.dendrinet-run.<hex>.tmp``: a new run may start there. A user's file
    beside them still makes the folder no run of dendrinet's."""
    from dendrinet.training.run_folder import RUN_MARKER, folder_state

    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").write_text("{}")
    (out / f"{RUN_MARKER}.eabfbfb0.tmp").write_text('{"format"')
    assert folder_state(out) == "empty"
    (out / "notes.txt").write_text("mine")
    assert folder_state(out) == "other"
