"""Training and testing stop with one error when a number goes non-finite
(dendrinet.engine.finite): the error names the variable, the layer, the epoch and the
example, and a run folder keeps its last good checkpoint, from which ``resume`` goes on."""
import json

import numpy as np
import pytest

from dendrinet.backends.numba.engine import FastEngine
from dendrinet.config import load_model, load_protocol
from dendrinet.datasets import load_dataset
from dendrinet.engine.finite import check_test_potentials, check_training_chunk, per_layer
from dendrinet.errors import DendrinetError, TrainingError
from dendrinet.training.run_folder import read_checkpoint
from dendrinet.training.trainer import train
from dendrinet.model.weights import initial_parameters


def _records(n=512, n_hidden_layers=1):
    return np.random.default_rng(0).uniform(0, 1, (n, 1 + 1 + 4 * n_hidden_layers))


def test_a_non_finite_record_names_its_variable_layer_epoch_and_example():
    records, order = _records(), np.arange(512)[::-1].copy()
    records[263, 2] = np.nan  # loss_hidden_0 of position 263 (data set index 248)
    records[300, 1] = np.inf
    check_training_chunk(records, order, 0, 256, 3, 1)  # the chunk before is fine
    with pytest.raises(TrainingError) as info:
        check_training_chunk(records, order, 256, 512, 3, 1)
    message = str(info.value)
    assert message.startswith("training went non-finite in epoch 3, example 263 of the epoch "
                              "(data set index 248): loss_hidden_0: plateau potentials alpha")
    assert "of hidden layer 0 is nan" in message and "\n" not in message
    assert isinstance(info.value, DendrinetError)


def test_undefined_angles_are_not_errors_but_arrays_are_checked_after_the_chunk():
    records, order = _records(), np.arange(512)
    records[:, 3] = np.nan  # angle_0: NaN when an error vector is zero (a saturated layer)
    W = np.ones(30)
    W[25] = -np.inf
    offsets = np.array([0, 20, 30])
    arrays = per_layer("weights W", W, offsets, 2)
    assert [name for name, _ in arrays] == ["weights W of hidden layer 0",
                                            "weights W of output layer"]
    with pytest.raises(TrainingError, match=r"in epoch 1, example 511 of the epoch \(data set "
                                            r"index 511\): weights W of output layer holds 1 "
                                            r"NaN or infinite value\(s\) after it, so in one "
                                            r"of the examples 256-511 of the epoch \(checked "
                                            r"once per 256 examples\)"):
        check_training_chunk(records, order, 256, 512, 1, 1, arrays)
    huge = np.full(4, 1e308)  # finite, though its sum overflows
    check_training_chunk(records, order, 256, 512, 1, 1, [("huge weights", huge)])


def test_non_finite_test_potentials_are_an_error():
    mean_V = np.zeros((10, 3))
    check_test_potentials(mean_V, 0, 10)
    mean_V[6, 1] = np.nan
    with pytest.raises(TrainingError, match="mean potential V of the output layer is not "
                                            "finite for test example 6"):
        check_test_potentials(mean_V, 5, 10)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _small_model(tmp_path, hidden=5, extra=""):
    path = tmp_path / "small.toml"
    path.write_text(f'extends = "guerguiev2017-1hidden"\n[model]\nname = "small"\n'
                    f'[network]\nhidden = [{hidden}]\n{extra}')
    return load_model(path)


def _poison_the_engine(monkeypatch, unit: int, when=lambda engine: True):
    """Make the engine's packed biases NaN at ``unit`` (parameters given to an engine
    must be finite: this is a NaN born while it runs)."""
    original = FastEngine._net

    def poisoned(self):
        net, Yn = original(self)
        if when(self):
            net.b[unit] = np.nan
        return net, Yn

    monkeypatch.setattr(FastEngine, "_net", poisoned)


def test_the_fast_engine_stops_at_the_first_chunk_that_went_non_finite(tmp_path, digits,
                                                                      monkeypatch):
    model = _small_model(tmp_path)
    params = initial_parameters(model, digits.n_inputs, np.random.default_rng(0))
    before = [w.copy() for w in params.W]
    engine = FastEngine(model, load_protocol("quick"), params, seed=1)
    _poison_the_engine(monkeypatch, 1)  # hidden unit 1
    with pytest.raises(TrainingError, match=r"in epoch 1, example 255 of the epoch \(data set "
                                            r"index \d+\): mean somatic potential V \(forward "
                                            r"phase, last example\) of hidden layer 0 holds 1 "
                                            r"NaN .* examples 0-255 of the epoch"):
        engine.train_epoch(digits.X_train[:300], digits.y_train[:300])
    for old, new in zip(before, params.W):  # parameters are those before the epoch
        np.testing.assert_array_equal(old, new)
    _poison_the_engine(monkeypatch, 5 + 3)  # output unit 3
    with pytest.raises(TrainingError, match="testing went non-finite: the mean potential V of "
                                            "the output layer is not finite for test example 0"):
        engine.evaluate(digits.X_test[:5], digits.y_test[:5])


def test_a_nan_apical_equation_stops_training_with_one_error(tmp_path, digits):
    """``log(V_a_lin)`` is NaN wherever the apical sum is negative: ``train`` stops before
    the first epoch, the engine in the first chunk, each naming V_a and the layer."""
    model = tmp_path / "nan.toml"
    model.write_text('extends = "guerguiev2017-1hidden"\n[model]\nname = "nan-apical"\n'
                     '[network]\nhidden = [4]\n[equations]\napical = "log(V_a_lin)"\n')
    out = tmp_path / "run"
    with pytest.raises(TrainingError) as info:
        train(model, "quick", "digits", out, epochs=2, seed=0, progress=False,
              n_spike_samples=0, n_train=300, n_test=50)
    message = str(info.value)
    assert message.startswith("training went non-finite in the trial run on training example "
                              "0 (before epoch 1): mean apical potential V_a (target phase, "
                              "last example) of hidden layer 0 holds"), message
    assert "log or sqrt of a negative value" in message and "\n" not in message
    assert "no epoch of" in message and not (out / "checkpoint.npz").exists()
    params = initial_parameters(load_model(model), digits.n_inputs, np.random.default_rng(0))
    engine = FastEngine(load_model(model), load_protocol("quick"), params, seed=0)
    with pytest.raises(TrainingError, match=r"in epoch 1, example 255 .* mean apical potential "
                                            r"V_a .* of hidden layer 0 .* examples 0-255"):
        engine.train_epoch(digits.X_train[:300], digits.y_train[:300])


def test_a_run_that_goes_non_finite_keeps_its_last_checkpoint_and_resumes(tmp_path,
                                                                          monkeypatch):
    """Epoch 2 goes NaN (a hidden bias of the engine poisoned): one error naming epoch 2; the
    folder keeps epoch 1 whole, and ``resume`` (without the poison) ends bit for bit
    where an uninterrupted run ends."""
    model = tmp_path / "small.toml"
    model.write_text('extends = "guerguiev2017-1hidden"\n[model]\nname = "small"\n'
                     '[network]\nhidden = [5]\n')
    args = dict(epochs=2, seed=2, progress=False, n_spike_samples=0, n_train=300, n_test=50)
    train(model, "quick", "digits", tmp_path / "reference", **args)

    original = FastEngine._net
    # the run's engine in its second epoch (evaluations run on fresh engines)
    _poison_the_engine(monkeypatch, 2, lambda engine: engine.epochs_done == 1)
    out = tmp_path / "run"
    with pytest.raises(TrainingError) as info:
        train(model, "quick", "digits", out, **args)
    message = str(info.value)
    assert message.startswith("training went non-finite in epoch 2, example 255 of the epoch "
                              "(data set index "), message
    assert "of hidden layer 0" in message and "\n" not in message
    assert message.endswith(f"the run's last good checkpoint (epoch 1, "
                            f"weights/epoch_001.npz) in {out} is kept")
    assert read_checkpoint(out / "checkpoint.npz")["epoch"] == 1
    assert not (out / "weights" / "epoch_002.npz").exists()
    assert json.loads((out / "summary.json").read_text())["status"] == "running"

    monkeypatch.setattr(FastEngine, "_net", original)
    summary = train(None, out_dir=out, resume=True, progress=False, n_spike_samples=0)
    assert summary.status == "finished" and summary.epochs_done == 2
    for name in ("W_0", "W_1", "b_0", "b_1"):
        np.testing.assert_array_equal(np.load(out / "weights" / "epoch_002.npz")[name],
                                      np.load(tmp_path / "reference" / "weights" /
                                              "epoch_002.npz")[name])
