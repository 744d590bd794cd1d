"""The weights a run is tested with: their running mean over the ends of epochs
(``[learning] average_weights_from``; dendrinet.learning.weight_average)."""
import dataclasses

import numpy as np
import pytest

from dendrinet.config import ConfigError, load_model
from dendrinet.learning.weight_average import WeightAverage
from dendrinet.model.weights import Parameters
from dendrinet.training.estimator import SegregatedDendriteClassifier
from dendrinet.training.evaluation import evaluate_run
from dendrinet.training.run_folder import CHECKPOINT, Run, read_checkpoint
from dendrinet.training.trainer import train

# a small network, whose first epoch is still at chance (warned): what is tested here
# is which weights are tested and kept, not how well they learn
pytestmark = pytest.mark.filterwarnings("ignore::dendrinet.training.epochs.LearningStalledWarning")
SMALL = dict(protocol="quick", dataset="digits", n_train=400, n_test=100, seed=3,
             progress=False, n_spike_samples=0)


def params_like(rng, fixed):
    return Parameters([rng.normal(size=(4, 3)), rng.normal(size=(3, 2))],
                      [rng.normal(size=3), rng.normal(size=2)], [fixed.copy()],
                      [np.zeros((2, 3))])


def test_the_mean_is_the_arithmetic_mean_from_its_first_epoch_and_fixed_values_stay_exact():
    rng = np.random.default_rng(0)
    fixed = rng.normal(size=(2, 3))  # a parameter learning never changes (feedback)
    snapshots = [params_like(rng, fixed) for _ in range(6)]
    avg = WeightAverage(start=3)
    for epoch, p in enumerate(snapshots, start=1):
        tested = avg.after_epoch(p, epoch)
        if epoch < 3:
            assert tested is p  # the current weights, untouched
            continue
        expected = np.mean([s.W[0] for s in snapshots[2:epoch]], axis=0)
        np.testing.assert_allclose(tested.W[0], expected, rtol=0, atol=1e-14)
        np.testing.assert_allclose(tested.b[1], np.mean([s.b[1] for s in snapshots[2:epoch]],
                                                        axis=0), rtol=0, atol=1e-14)
        np.testing.assert_array_equal(tested.Y[0], fixed)  # bit for bit
    assert avg.count == 4 and snapshots[2].W[0] is not avg.mean.W[0]  # a copy, not a view
    off = WeightAverage(0)
    assert off.after_epoch(snapshots[0], 5) is snapshots[0] and off.to_arrays() == {}
    again = WeightAverage.from_arrays(3, avg.to_arrays(), "ck")
    assert again.count == 4
    np.testing.assert_array_equal(again.mean.W[1], avg.mean.W[1])


@pytest.mark.parametrize("value", [-1, 1.5, "2", True])
def test_bad_values_are_refused_with_the_key(tmp_path, value):
    path = tmp_path / "m.toml"
    text = f'"{value}"' if isinstance(value, str) else str(value).lower()
    path.write_text(f'extends = "guerguiev2017-1hidden"\n[learning]\n'
                    f'average_weights_from = {text}\n')
    with pytest.raises(ConfigError, match=r"\[learning\]\.average_weights_from: expected "
                                          r"(an epoch number >= 0|an integer)") as info:
        load_model(path)
    assert "\n" not in str(info.value)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same network trained 3 epochs with the current weights tested, with the mean
    from epoch 2 tested, and the latter in two calls (2 epochs, then resumed to 3)."""
    base = tmp_path_factory.mktemp("average")
    model = dataclasses.replace(load_model("guerguiev2017-1hidden"), hidden=(30,))
    averaged = dataclasses.replace(model, learning=dataclasses.replace(
        model.learning, average_weights_from=2))
    train(model, out_dir=base / "plain", epochs=3, **SMALL)
    train(averaged, out_dir=base / "avg", epochs=3, **SMALL)
    train(averaged, out_dir=base / "resumed", epochs=2, **SMALL)
    train(out_dir=base / "resumed", resume=True, epochs=3, progress=False, n_spike_samples=0)
    return base, averaged


def test_a_run_tests_and_saves_the_mean_and_trains_on_as_without_it(runs):
    base, _ = runs
    plain, avg = Run.open(base / "plain"), Run.open(base / "avg")
    # training itself is unchanged: the checkpoint holds the current weights
    current = read_checkpoint(base / "avg" / CHECKPOINT)["params"]
    for name, value in plain.weights(3).to_arrays().items():
        np.testing.assert_array_equal(current.to_arrays()[name], value)
    np.testing.assert_array_equal(plain.summary.train_errors, avg.summary.train_errors)
    # epoch 1 is before the mean starts; epochs 2 and 3 are the mean of the ends of 2..e
    np.testing.assert_array_equal(avg.weights(1).W[0], plain.weights(1).W[0])
    np.testing.assert_array_equal(avg.weights(2).W[0], plain.weights(2).W[0])
    w2, w3 = plain.weights(2), plain.weights(3)
    for l in range(2):
        np.testing.assert_allclose(avg.weights(3).W[l], (w2.W[l] + w3.W[l]) / 2, rtol=0,
                                   atol=1e-13)
        np.testing.assert_allclose(avg.weights(3).b[l], (w2.b[l] + w3.b[l]) / 2, rtol=0,
                                   atol=1e-13)
    assert not np.array_equal(avg.weights(3).W[0], w3.W[0])
    # what was tested is what was saved: evaluating the saved epoch gives its predictions
    result = evaluate_run(base / "avg")
    np.testing.assert_array_equal(result["y_pred"], avg.predictions()["y_pred"])
    assert result["error"] == avg.summary.test_errors[-1]



def test_evaluating_a_plain_run_with_the_mean_gives_what_the_averaging_run_recorded(runs):
    """``evaluate_run(..., average_from=k)`` (``dendrinet evaluate --average-from``) on a
    run trained without the mean reproduces the averaging run's test, bit for bit."""
    from dendrinet.errors import RunError

    base, _ = runs
    avg = Run.open(base / "avg")
    result = evaluate_run(base / "plain", average_from=2)
    np.testing.assert_array_equal(result["y_pred"], avg.predictions()["y_pred"])
    assert result["error"] == avg.summary.test_errors[-1]
    with pytest.raises(RunError, match=r"averaged its weights already \(average_weights_from"
                                       r" = 2\): its weight files hold the mean"):
        evaluate_run(base / "avg", average_from=2)

def test_a_resumed_run_continues_the_same_mean_bit_for_bit(runs):
    base, _ = runs
    a, b = Run.open(base / "avg"), Run.open(base / "resumed")
    for epoch in (2, 3):
        for name, value in a.weights(epoch).to_arrays().items():
            np.testing.assert_array_equal(b.weights(epoch).to_arrays()[name], value)
    np.testing.assert_array_equal(a.summary.test_errors, b.summary.test_errors)


def test_the_weight_file_of_the_checkpoint_epoch_is_rewritten_as_the_mean(runs, tmp_path):
    import shutil

    base, _ = runs
    run = shutil.copytree(base / "avg", tmp_path / "avg")
    (run / "weights" / "epoch_003.npz").unlink()
    train(out_dir=run, resume=True, epochs=3, progress=False, n_spike_samples=0)
    np.testing.assert_array_equal(Run.open(run).weights(3).W[0],
                                  Run.open(base / "avg").weights(3).W[0])


def test_the_estimator_predicts_with_the_mean(runs):
    from dendrinet.datasets import load_dataset

    base, averaged = runs
    data = load_dataset("digits", n_train=SMALL["n_train"], n_test=SMALL["n_test"])
    clf = SegregatedDendriteClassifier(model=averaged, protocol="quick", epochs=3,
                                       seed=SMALL["seed"]).fit(data.X_train, data.y_train)
    np.testing.assert_array_equal(clf.params_.W[0], Run.open(base / "avg").weights(3).W[0])
