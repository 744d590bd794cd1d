"""Run folders, checkpoints and --resume of dendrinet.training.trainer, on real small runs:
the fast engine, scikit-learn digits (64 pixels, 7 input neurons each: a 448-20-10
network), the quick protocol, 1-2 epochs."""
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

from dendrinet.config import (MODELS_DIR, load_model, load_protocol, model_to_toml,
                              protocol_to_toml)
from dendrinet.datasets import load_dataset
from dendrinet.errors import ConfigError, RunError
from dendrinet.store import SpikeStore
from dendrinet.training.epochs import seed_streams
from dendrinet.training.evaluation import evaluate_run
from dendrinet.training.run_folder import Run
from dendrinet.training.trainer import train
from dendrinet.model.weights import initial_parameters

REPO = Path(__file__).resolve().parents[1]
ENGINE = "fast"
N_TRAIN, N_TEST = 600, 200


@pytest.fixture(scope="module")
def model():
    return dataclasses.replace(load_model("guerguiev2017-1hidden"), hidden=(20,))


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", n_train=N_TRAIN, n_test=N_TEST)


@pytest.fixture(scope="module")
def straight(tmp_path_factory, model, digits):
    """An uninterrupted 2-epoch run, shared by the tests that only read it."""
    out = tmp_path_factory.mktemp("runs") / "straight"
    summary = train(model, "quick", digits, out, epochs=2, seed=3, engine=ENGINE,
                    progress=False, n_spike_samples=5)
    return out, summary


def _assert_same_run(a: Path, b: Path, epochs: int) -> None:
    ra, rb = Run.open(a), Run.open(b)
    for k in range(epochs + 1):
        pa, pb = ra.weights(k), rb.weights(k)
        for name, arr in pa.to_arrays().items():
            assert np.array_equal(arr, pb.to_arrays()[name]), f"epoch {k} {name} differs"
    ha, hb = ra.history(), rb.history()
    assert sorted(ha) == sorted(hb)
    for key in ha:
        assert np.array_equal(ha[key], hb[key]), f"history {key} differs"
    np.testing.assert_array_equal(ra.summary.train_errors, rb.summary.train_errors)
    np.testing.assert_array_equal(ra.summary.test_errors, rb.summary.test_errors)
    np.testing.assert_array_equal(ra.predictions()["mean_V"], rb.predictions()["mean_V"])


# ------------------------------------------------------------------ resume


def test_resume_reaches_the_uninterrupted_run_bit_for_bit(tmp_path, model, digits, straight):
    out = tmp_path / "resumed"
    first = train(model, "quick", digits, out, epochs=1, seed=3, engine=ENGINE,
                  progress=False, n_spike_samples=5)
    assert first.epochs_done == 1
    # the run folder remembers everything: no model/protocol/dataset needed to resume
    resumed = train(resume=True, out_dir=out, epochs=2, dataset=digits, progress=False,
                    n_spike_samples=5)
    assert resumed.epochs_done == 2 and resumed.status == "finished"
    _assert_same_run(straight[0], out, epochs=2)


class _Killed(Exception):
    pass


def _engine_killed_in_epoch(kill_at_call: int):
    """The real engine, interrupted in the middle of its ``kill_at_call``-th epoch
    (after it has trained part of the epoch and changed weights and state)."""
    from dendrinet.backends.numba.engine import FastEngine

    class Interrupted(FastEngine):
        calls = 0

        def train_epoch(self, X, y, order=None, progress=None, sample_every=100):
            if order is not None and len(order) == 1:  # train()'s warm-up: not an epoch
                return super().train_epoch(X, y, order=order, progress=progress,
                                           sample_every=sample_every)
            Interrupted.calls += 1
            if Interrupted.calls == kill_at_call:
                half = order[: len(order) // 2]
                super().train_epoch(X, y, order=half, progress=progress,
                                    sample_every=sample_every)
                raise _Killed()
            return super().train_epoch(X, y, order=order, progress=progress,
                                       sample_every=sample_every)
    Interrupted.name = ENGINE
    return Interrupted


def test_run_killed_mid_epoch_resumes_to_the_same_weights(tmp_path, model, digits, straight):
    out = tmp_path / "killed"
    with pytest.raises(_Killed):
        train(model, "quick", digits, out, epochs=2, seed=3,
              engine=_engine_killed_in_epoch(2), progress=False, n_spike_samples=5)
    run = Run.open(out, allow_unfinished=True)
    assert (run.summary.status, run.summary.epochs_done) == ("running", 1)
    with pytest.raises(RunError, match="unfinished"):
        Run.open(out)
    train(model, "quick", digits, out, epochs=2, seed=3, engine=ENGINE, resume=True,
          progress=False, n_spike_samples=5)
    _assert_same_run(straight[0], out, epochs=2)


def test_sigkilled_process_resumes_to_the_same_weights(tmp_path, model, digits, straight):
    """A real ``kill -9`` of a training process after its first checkpoint."""
    out = tmp_path / "sigkill"
    script = (
        "import dataclasses, sys\n"
        "from dendrinet.config import load_model\n"
        "from dendrinet.datasets import load_dataset\n"
        "from dendrinet.training.trainer import train\n"
        "m = dataclasses.replace(load_model('guerguiev2017-1hidden'), hidden=(20,))\n"
        f"ds = load_dataset('digits', n_train={N_TRAIN}, n_test={N_TEST})\n"
        f"train(m, 'quick', ds, sys.argv[1], epochs=50, seed=3, engine={ENGINE!r},\n"
        "      progress=False, n_spike_samples=5)\n")
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", script, str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoint.npz").exists():
            if proc.poll() is not None:
                pytest.fail(f"training process died: {proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("no checkpoint after 120 s")
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done = Run.open(out, allow_unfinished=True).summary.epochs_done
    assert 1 <= done < 50
    # continue the killed 50-epoch run for one more epoch; compare with a straight run
    train(resume=True, out_dir=out, epochs=done + 1, dataset=digits, progress=False,
          n_spike_samples=5)
    reference = tmp_path / "reference"
    train(model, "quick", digits, reference, epochs=done + 1, seed=3, engine=ENGINE,
          progress=False, n_spike_samples=5)
    _assert_same_run(reference, out, epochs=done + 1)
    if done + 1 >= 2:
        for name, arr in Run.open(straight[0]).weights(2).to_arrays().items():
            assert np.array_equal(arr, Run.open(out).weights(2).to_arrays()[name])


def test_resume_extends_a_finished_run(tmp_path, model, digits, straight):
    out = tmp_path / "extend"
    train(model, "quick", digits, out, epochs=1, seed=3, engine=ENGINE, progress=False,
          n_spike_samples=0)
    assert Run.open(out).summary.finished
    summary = train(resume=True, out_dir=out, epochs=2, dataset=digits, progress=False,
                    n_spike_samples=0)
    assert summary.epochs_done == 2 and summary.epochs_planned == 2
    _assert_same_run(straight[0], out, epochs=2)


def test_resume_refuses_a_different_model_protocol_seed_or_dataset(tmp_path, model, digits):
    out = tmp_path / "run"
    train(model, "quick", digits, out, epochs=1, seed=3, engine=ENGINE, progress=False,
          n_spike_samples=0)
    other_model = dataclasses.replace(model, hidden=(21,))
    with pytest.raises(RunError, match=r"model differs in hidden \(\(20,\) vs \(21,\)\)"):
        train(other_model, "quick", digits, out, epochs=2, seed=3, resume=True, progress=False)
    with pytest.raises(RunError, match="protocol differs"):
        train(model, "paper-timing", digits, out, epochs=2, seed=3, resume=True,
              progress=False)
    with pytest.raises(RunError, match="seed 4 is not the run's 3"):
        train(model, "quick", digits, out, epochs=2, seed=4, resume=True, progress=False)
    smaller = load_dataset("digits", n_train=N_TRAIN - 1, n_test=N_TEST)
    with pytest.raises(RunError, match="dataset"):
        train(model, "quick", smaller, out, epochs=2, seed=3, resume=True, progress=False)
    with pytest.raises(RunError, match="engine"):
        train(model, "quick", digits, out, epochs=2, seed=3, engine="fast-double", resume=True,
              progress=False)
    # nothing was changed by the refusals
    assert Run.open(out).summary.epochs_done == 1


def test_resume_accepts_a_renamed_protocol_with_the_same_values(tmp_path, model, digits,
                                                                 straight):
    """A protocol's name and description label it without changing a number (shipped
    protocols were renamed in dendrinet 0.3): a run begun under the old name resumes under
    the new one to the uninterrupted run's weights; a changed value is still refused."""
    out = tmp_path / "renamed"
    old = dataclasses.replace(load_protocol("quick"), name="old-quick", description="before")
    train(model, old, digits, out, epochs=1, seed=3, engine=ENGINE, progress=False,
          n_spike_samples=0)
    with pytest.raises(RunError, match=r"protocol differs in settle \(10.0 vs 12.0\)"):
        train(model, dataclasses.replace(old, settle=12.0), digits, out, epochs=2, seed=3,
              resume=True, progress=False)
    train(model, "quick", digits, out, epochs=2, seed=3, resume=True, progress=False,
          n_spike_samples=0)
    _assert_same_run(straight[0], out, epochs=2)


def test_resume_without_a_run_is_refused(tmp_path):
    with pytest.raises(RunError, match="nothing to resume"):
        train(resume=True, out_dir=tmp_path / "absent", progress=False)


def test_fast_double_engine_agrees_with_fast_to_rounding(model, digits):
    """engine="fast-double": the same streams with the input rows summed in float64;
    after learning 30 examples its weights agree with the default (float32 sums)
    engine's within 1e-6, and differ (the precision really is another one)."""
    from dendrinet.backends import make_engine
    protocol = load_protocol("quick")
    weights = {}
    for name, precision in (("fast", "single"), ("fast-double", "double")):
        params = initial_parameters(model, digits.n_inputs, seed_streams(1)[0])
        engine = make_engine(name, model, protocol, params, seed=2)
        assert engine.input_precision == precision
        engine.train_epoch(digits.X_train[:30], digits.y_train[:30])
        weights[name] = params.W
    diff = max(np.abs(a - b).max() for a, b in zip(weights["fast"], weights["fast-double"]))
    assert 0 < diff < 1e-6


# ------------------------------------------------------------- run folders


def test_summary_errors_equal_errors_recomputed_from_files(straight, digits):
    out, summary = straight
    run = Run.open(out)
    assert run.summary == summary
    pred = run.predictions()
    np.testing.assert_array_equal(pred["y_true"], digits.y_test)
    assert int(pred["epoch"]) == 2
    assert summary.final_test_error == np.mean(pred["y_pred"] != pred["y_true"])
    assert pred["mean_V"].shape == (N_TEST, 10)
    np.testing.assert_array_equal(pred["y_pred"], np.argmax(pred["mean_V"], axis=1))
    hist = run.history()
    assert len(hist["epoch"]) == 2 * N_TRAIN
    for k, record in enumerate(summary.epochs, start=1):
        assert record.epoch == k
        in_epoch = hist["epoch"] == k
        assert record.train_error == 1 - np.mean(hist["correct"][in_epoch])
        # every training example seen exactly once per epoch, labels consistent
        np.testing.assert_array_equal(np.sort(hist["example_id"][in_epoch]), np.arange(N_TRAIN))
        np.testing.assert_array_equal(hist["label"][in_epoch],
                                      digits.y_train[hist["example_id"][in_epoch]])
        assert record.ms_per_train_example > 0 and record.ms_per_test_example > 0
    info = json.loads((out / "summary.json").read_text())
    assert info["final_test_error"] == summary.final_test_error
    assert info["dataset"] == {**info["dataset"], "name": "digits", "n_train": N_TRAIN,
                               "n_test": N_TEST, "n_inputs": 448}
    assert info["layer_sizes"] == [448, 20, 10]
    assert info["machine"]["cores"] == os.cpu_count()


def test_the_network_learns_the_digits(tmp_path, model):
    """3 epochs of the 448-20-10 network with the paper's timing on the 1437 digits: the
    test error falls far below chance (90 %); with 360 test examples its s.d. near
    90 % is 1.6 %, so 75 % is 9 s.d. below chance. (The quick protocol's 10 ms windows
    are too short for the hidden layer to learn in a few epochs.)"""
    summary = train(model, "paper-timing", "digits", tmp_path / "run", epochs=3, seed=0,
                    engine=ENGINE, progress=False, n_spike_samples=0)
    assert summary.test_errors[-1] < 0.75
    assert summary.train_errors[-1] < summary.train_errors[0] - 0.05


def test_the_test_duration_changes_no_trained_weight(tmp_path, model, digits, straight):
    """Tests run on their own engine, seeded by (seed, epoch): a protocol that differs only
    in its test presentations trains the same weights, bit for bit, and re-evaluating a
    run's weights with longer tests gives what a run with that protocol records (how the
    table's runs were re-tested at 1000 ms, BENCHMARKS.md "Test presentations")."""
    out, _ = straight
    quick = load_protocol("quick")
    longer = dataclasses.replace(quick, test_duration=4 * quick.test_duration)
    other = tmp_path / "long-tests"
    summary = train(model, longer, digits, other, epochs=2, seed=3, engine=ENGINE,
                    progress=False, n_spike_samples=0)
    ra, rb = Run.open(out), Run.open(other)
    for k in range(3):
        for name, arr in ra.weights(k).to_arrays().items():
            assert np.array_equal(arr, rb.weights(k).to_arrays()[name]), (k, name)
    np.testing.assert_array_equal(ra.summary.train_errors, summary.train_errors)
    # the test itself did change: its potentials are averaged over 4x the time
    assert not np.array_equal(ra.predictions()["mean_V"], rb.predictions()["mean_V"])
    # the procedure of BENCHMARKS.md: a copy of the short-test run with the longer test
    # duration written into its protocol file is evaluated as the long-test run recorded
    copy = tmp_path / "re-tested"
    shutil.copytree(out, copy)
    (copy / "config" / "protocol.toml").write_text(protocol_to_toml(longer))
    again = evaluate_run(copy)
    assert again["error"] == summary.test_errors[-1]
    np.testing.assert_array_equal(again["mean_V"], rb.predictions()["mean_V"])


def test_weight_files_one_per_epoch_with_the_layer_shapes(straight, model):
    out, _ = straight
    run = Run.open(out)
    assert run.weight_epochs == [0, 1, 2]
    assert sorted(p.name for p in (out / "weights").iterdir()) == \
        ["epoch_000.npz", "epoch_001.npz", "epoch_002.npz"]
    for k in range(3):
        p = run.weights(k)
        assert [w.shape for w in p.W] == [(448, 20), (20, 10)]
        assert [b.shape for b in p.b] == [(20,), (10,)]
        assert [y.shape for y in p.Y] == [(10, 20)]
    # epoch 0 holds exactly the initial parameters of the seed
    init = initial_parameters(model, 448, seed_streams(3)[0])
    for name, arr in init.to_arrays().items():
        np.testing.assert_array_equal(run.weights(0).to_arrays()[name], arr)
    # learning changed every trained layer; random feedback Y stays fixed
    assert not np.array_equal(run.weights(2).W[0], run.weights(0).W[0])
    assert not np.array_equal(run.weights(2).W[1], run.weights(0).W[1])
    np.testing.assert_array_equal(run.weights(2).Y[0], run.weights(0).Y[0])
    with pytest.raises(RunError, match="no epoch 3"):
        run.weights(3)


def test_config_copies_and_toml_round_trips(tmp_path, straight, model, digits):
    out, _ = straight
    assert load_model(out / "config" / "model.toml") == model
    # a file that extends another is kept as a self-contained copy (quick extends the
    # paper-timing protocol): the run folder never depends on other files
    copy = (out / "config" / "protocol.toml").read_text()
    assert "extends" not in copy
    assert load_protocol(out / "config" / "protocol.toml") == load_protocol("quick")
    named = tmp_path / "named"
    train("guerguiev2017-0hidden", "quick", digits, named, epochs=1, engine=ENGINE,
          progress=False, n_spike_samples=0)
    assert "extends" not in (named / "config" / "model.toml").read_text()
    assert load_model(named / "config" / "model.toml") == load_model("guerguiev2017-0hidden")
    # a file without extends is copied byte for byte, comments included
    own = tmp_path / "own.toml"
    own.write_text("# my model\n" + (MODELS_DIR / "guerguiev2017-1hidden.toml").read_text()
                   .replace("hidden = [500]", "hidden = [12]"))
    mine = tmp_path / "mine"
    train(own, "quick", digits, mine, epochs=1, engine=ENGINE, progress=False,
          n_spike_samples=0)
    assert (mine / "config" / "model.toml").read_bytes() == own.read_bytes()
    # models built in code are written as TOML that reads back to the same config
    for path in sorted(MODELS_DIR.glob("*.toml")):
        m = load_model(path)
        (tmp_path / "m.toml").write_text(model_to_toml(m))
        assert load_model(tmp_path / "m.toml") == m, path.name
    for name in ("paper-timing", "guerguiev2017", "quick"):
        p = load_protocol(name)
        (tmp_path / "p.toml").write_text(protocol_to_toml(p))
        assert load_protocol(tmp_path / "p.toml") == p


def test_spike_sample_holds_every_layer(straight):
    out, _ = straight
    with SpikeStore(out / "spikes.h5") as store:
        assert store.populations == ["hidden_0", "input", "output"]
        assert [store.n_nodes(p) for p in ("input", "hidden_0", "output")] == [448, 20, 10]
        pres = store.presentations
        np.testing.assert_array_equal(pres["example_id"], np.arange(5))
        assert store.metadata["seed"] == 3
        assert store.metadata["model"]["hidden"] == [20]
        # hidden neurons fire at up to 200 Hz: a 60 ms test window holds spikes
        assert store.n_spikes("hidden_0") > 0 and store.n_spikes("input") > 0
        times, _ = store.spikes("output")
        assert times.size == 0 or times.max() <= store.t_stop


def test_existing_run_needs_force_and_foreign_folders_are_kept(tmp_path, model, digits):
    out = tmp_path / "run"
    first = train(model, "quick", digits, out, epochs=1, seed=1, engine=ENGINE,
                  progress=False, n_spike_samples=0)
    with pytest.raises(RunError, match="already exists.*--force"):
        train(model, "quick", digits, out, epochs=1, seed=2, engine=ENGINE, progress=False)
    assert Run.open(out).summary == first  # untouched
    second = train(model, "quick", digits, out, epochs=1, seed=2, engine=ENGINE,
                   progress=False, n_spike_samples=0, force=True)
    assert second.seed == 2
    assert not np.array_equal(Run.open(out).weights(0).W[0],
                              initial_parameters(model, 448, seed_streams(1)[0]).W[0])
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(RunError, match="not a dendrinet run folder"):
        train(model, "quick", digits, foreign, epochs=1, force=True, progress=False)
    assert (foreign / "notes.txt").read_text() == "mine"


def test_run_open_rejects_missing_and_corrupt_folders(tmp_path, straight):
    with pytest.raises(RunError, match="run folder not found"):
        Run.open(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match="not a run folder"):
        Run.open(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "summary.json").write_text('{"model": "x", "epo')
    with pytest.raises(RunError, match="corrupt"):
        Run.open(bad)
    (bad / "summary.json").write_text('{"model": "x"}')
    with pytest.raises(RunError, match="corrupt summary"):
        Run.open(bad)
    # a truncated checkpoint makes --resume fail with one clear error
    copy = tmp_path / "copy"
    shutil.copytree(straight[0], copy)
    data = (copy / "checkpoint.npz").read_bytes()
    (copy / "checkpoint.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(RunError, match="checkpoint"):
        train(resume=True, out_dir=copy, epochs=3, progress=False)


def test_bad_arguments_raise_clear_errors(tmp_path, model, digits):
    with pytest.raises(ConfigError, match="not found"):
        train("no-such-model", "quick", digits, tmp_path / "a", progress=False)
    with pytest.raises(ValueError, match="unknown engine 'gpu'"):
        train(model, "quick", digits, tmp_path / "b", engine="gpu", progress=False)
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        train(model, "quick", digits, tmp_path / "c", epochs=0, progress=False)
    huge = dataclasses.replace(model, input=dataclasses.replace(model.input,
                                                                min_inputs=10**12))
    with pytest.raises(ValueError, match=r"coding 600 examples for 1,000,000,000,000 input "
                                         r"neurons \(intensity, 15625000000 per coded "
                                         r"feature\) needs about"):
        train(huge, "quick", digits, tmp_path / "d", progress=False)
    assert not any((tmp_path / n).exists() for n in "abcd")


def test_evaluate_run_per_class_errors_add_up(straight, digits):
    out, summary = straight
    result = evaluate_run(out)
    assert result["epoch"] == 2
    assert result["error"] == np.mean(result["y_pred"] != digits.y_test)
    np.testing.assert_array_equal(result["class_counts"], np.bincount(digits.y_test, minlength=10))
    total = np.nansum(result["per_class_error"] * result["class_counts"])
    assert round(total) == result["n_errors"]
    # the default seed is the one used during training: same predictions, same error
    recorded = Run.open(out).predictions()
    np.testing.assert_array_equal(result["y_pred"], recorded["y_pred"])
    np.testing.assert_array_equal(result["mean_V"], recorded["mean_V"])
    assert result["error"] == summary.final_test_error
    # another spike sample: near, not necessarily equal, to the recorded error; two
    # error estimates on 200 examples differ by < 15 % (> 4 s.d. of the difference)
    other = evaluate_run(out, seed=12345)
    assert abs(other["error"] - summary.final_test_error) < 0.15
    assert evaluate_run(out, epoch=1)["error"] == summary.test_errors[0]
    initial = evaluate_run(out, epoch=0)
    assert initial["error"] > result["error"]


def test_brian2_engine_resumes_bit_for_bit(tmp_path, model):
    """The Brian2 engine behind the same run folder: 1 + 1 epochs equal 2 epochs."""
    pytest.importorskip("brian2")
    small = load_dataset("digits", n_train=20, n_test=10)
    tiny = dataclasses.replace(model, hidden=(5,))
    kw = dict(engine="brian2", progress=False, n_spike_samples=0, seed=1)
    train(tiny, "quick", small, tmp_path / "a", epochs=2, **kw)
    train(tiny, "quick", small, tmp_path / "b", epochs=1, **kw)
    train(tiny, "quick", small, tmp_path / "b", epochs=2, resume=True, **kw)
    _assert_same_run(tmp_path / "a", tmp_path / "b", epochs=2)
    run = Run.open(tmp_path / "a")
    assert run.summary.engine == "brian2"
    assert run.summary.final_test_error == np.mean(run.predictions()["y_pred"] != small.y_test)
    assert not np.array_equal(run.weights(2).W[1], run.weights(0).W[1])


# ------------------------------------------- one writer, killed beginnings


def test_a_folder_killed_before_its_summary_starts_anew(tmp_path, model, digits, straight):
    """Killed right after its marker and config/ were written (no summary, no
    checkpoint): a plain train starts it again without --force, and so does resume with a
    model; resume without one says there is nothing to resume. Temporary files are
    removed."""
    from dendrinet.training.run_folder import new_marker, run_file

    def killed_beginnings(out):
        out.mkdir(parents=True)
        new_marker(out)  # a run writes its marker first
        shutil.copy(straight[0] / "config" / "model.toml", run_file(out, "config/model.toml"))
        (out / "config" / "protocol.toml.k2j3a9x1.tmp").write_text("half")
        (out / "weights").mkdir()
        (out / ".lock").write_text('{"pid": 999999999, "host": "gone"}')  # stale
        return out

    a = killed_beginnings(tmp_path / "a")
    with pytest.raises(RunError, match="nothing to resume .only the beginnings of a run "
                                       "killed before its first record"):
        train(resume=True, out_dir=a, epochs=2, dataset=digits, progress=False)
    train(model, "quick", digits, a, epochs=2, seed=3, engine=ENGINE, progress=False,
          n_spike_samples=5)
    _assert_same_run(straight[0], a, epochs=2)
    b = killed_beginnings(tmp_path / "b")
    train(model, "quick", digits, b, epochs=2, seed=3, engine=ENGINE, resume=True,
          progress=False, n_spike_samples=5)
    _assert_same_run(straight[0], b, epochs=2)
    for out in (a, b):
        assert sorted(p.name for p in out.iterdir()) == sorted(
            p.name for p in straight[0].iterdir())
        assert not list(out.rglob("*.tmp"))


def test_the_next_writer_removes_temporaries_of_killed_writes(tmp_path, digits, straight):
    out = tmp_path / "copy"
    shutil.copytree(straight[0], out)
    leftovers = [out / "summary.json.a8d7f2k1.tmp", out / "checkpoint.npz.zz81ka0q.tmp.npz",
                 out / "weights" / "epoch_002.npz.x1y2z3w4.tmp.npz", out / "spikes.h5.tmp",
                 out / ".spikes.h5.tmp.0a1b2c3d.tmp", out / "config" / "model.toml.q1w2e3r4.tmp"]
    for p in leftovers:
        p.write_bytes(b"partial")
    (out / "notes.txt").write_text("kept")
    summary = train(resume=True, out_dir=out, epochs=2, dataset=digits, progress=False)
    assert summary.finished
    assert not any(p.exists() for p in leftovers)
    assert (out / "notes.txt").read_text() == "kept"
    _assert_same_run(straight[0], out, epochs=2)


def test_a_held_folder_is_refused_and_force_deletes_nothing(tmp_path, model, digits, straight):
    from dendrinet.storage.locks import FolderBusyError, FolderLock

    out = tmp_path / "held"
    shutil.copytree(straight[0], out)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    with FolderLock(out, what="run folder"):
        for kwargs in ({"force": True}, {"resume": True}, {}):
            with pytest.raises(FolderBusyError, match=f"in use by pid {os.getpid()} on host"):
                train(model, "quick", digits, out, epochs=2, seed=4, engine=ENGINE,
                      progress=False, **kwargs)
        assert sorted(p.relative_to(out) for p in out.rglob("*")) == sorted(
            before + [Path(".lock")])
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    # released: --force now replaces the run
    assert train(model, "quick", digits, out, epochs=1, seed=4, engine=ENGINE,
                 progress=False, n_spike_samples=0, force=True).seed == 4


def test_run_files_are_readable_as_the_umask_allows(tmp_path, model, digits):
    old = os.umask(0o027)
    try:
        train(model, "quick", digits, tmp_path / "run", epochs=1, seed=1, engine=ENGINE,
              progress=False, n_spike_samples=2)
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "run").rglob("*") if p.is_file()]
    assert len(files) >= 9
    for p in files:
        assert p.stat().st_mode & 0o777 == 0o640, p


def test_a_dataset_given_as_a_path_object_trains_and_is_recorded(tmp_path, model, digits):
    data = tmp_path / "mine.npz"
    np.savez(data, X_train=digits.X_train[:60], y_train=digits.y_train[:60],
             X_test=digits.X_test[:20], y_test=digits.y_test[:20])
    summary = train(model, "quick", data, tmp_path / "run", epochs=1, engine=ENGINE,
                    progress=False, n_spike_samples=0)
    assert summary.dataset == str(data.resolve())
    assert (summary.n_train, summary.n_test) == (60, 20)
    with pytest.raises(Exception, match="a name, a path or a Dataset"):
        train(model, "quick", 3.5, tmp_path / "bad", epochs=1, progress=False)


def test_the_output_layer_is_sized_to_more_classes_than_the_model_has(tmp_path, capsys):
    """12 classes and a 10-output model: 12 output neurons, in the copy of the model the
    run keeps (so --resume and evaluate agree); a model with more outputs than classes
    keeps its own."""
    rng = np.random.default_rng(0)
    X, y = rng.random((130, 30)), np.arange(130) % 12
    data = tmp_path / "twelve.npz"
    np.savez(data, X_train=X[:100], y_train=y[:100], X_test=X[100:], y_test=y[100:])
    model = load_model("guerguiev2017-0hidden")
    summary = train(model, "quick", data, tmp_path / "run", epochs=1, progress="lines",
                    n_spike_samples=0)
    assert "output layer: 12 neurons, one per class" in capsys.readouterr().out
    assert summary.final_test_error == np.mean(
        Run.open(tmp_path / "run").predictions()["y_pred"] != y[100:])
    run = Run.open(tmp_path / "run")
    assert run.model.n_outputs == 12 and run.weights(1).W[0].shape[1] == 12
    assert run.info["layer_sizes"] == [420, 12]  # 30 features x ceil(400 / 30) neurons
    resumed = train(resume=True, out_dir=tmp_path / "run", epochs=2, progress=False,
                    n_spike_samples=0)
    assert resumed.epochs_done == 2
    assert Run.open(tmp_path / "run").weights(2).W[0].shape[1] == 12
    wide = dataclasses.replace(model, n_outputs=15)
    train(wide, "quick", data, tmp_path / "wide", epochs=1, progress=False, n_spike_samples=0)
    assert Run.open(tmp_path / "wide").model.n_outputs == 15


def test_a_run_from_before_input_codings_resumes_with_one_neuron_per_pixel(tmp_path, model,
                                                                             digits):
    """A dendrinet 0.3 run (64 inputs for the digits, no [input] table, no input_coding in
    summary.json) resumes as it trained, not with today's 7 neurons per pixel, and ends as
    the same run trained without a break."""
    from dendrinet.config import InputParams
    pinned = dataclasses.replace(model, input=InputParams(coding="intensity", min_inputs=1))
    straight = tmp_path / "straight"
    train(pinned, "quick", digits, straight, epochs=2, seed=4, progress=False,
          n_spike_samples=0)
    old = tmp_path / "old"
    train(pinned, "quick", digits, old, epochs=1, seed=4, progress=False, n_spike_samples=0)
    model_toml = old / "config" / "model.toml"
    text = model_toml.read_text()
    assert "[input]" in text
    model_toml.write_text(text.split("[input]")[0])  # as 0.3 wrote it
    info = json.loads((old / "summary.json").read_text())
    del info["input_coding"]
    (old / "summary.json").write_text(json.dumps(info))
    resumed = train(resume=True, out_dir=old, epochs=2, dataset=digits, progress=False,
                    n_spike_samples=0)
    assert resumed.epochs_done == 2
    assert Run.open(old).weights(2).W[0].shape[0] == 64
    _assert_same_run(straight, old, epochs=2)
