"""SegregatedDendriteClassifier: scikit-learn conventions and agreement with
dendrinet.training, on scikit-learn digits with a 64-20-10 network (quick protocol)."""
import dataclasses

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError

from dendrinet.config import load_model
from dendrinet.datasets import load_dataset
from dendrinet.errors import ConfigError, DendrinetError
from dendrinet.estimator import SegregatedDendriteClassifier
from dendrinet.run_folder import Run
from dendrinet.training import train

N_TRAIN, N_TEST = 500, 150


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", n_train=N_TRAIN, n_test=N_TEST)


@pytest.fixture(scope="module")
def fitted(digits):
    clf = SegregatedDendriteClassifier(protocol="quick", hidden=20, epochs=2, seed=5)
    return clf.fit(digits.X_train, digits.y_train)


def test_score_is_the_accuracy_of_predict(fitted, digits):
    pred = fitted.predict(digits.X_test)
    assert pred.shape == (N_TEST,)
    assert fitted.score(digits.X_test, digits.y_test) == np.mean(pred == digits.y_test)


def test_the_classifier_learns():
    """5 quick epochs of a 64-10 network on the 1437 digits: accuracy on the 360 test
    digits far above chance (10 %; s.d. 1.6 %, so 50 % is 25 s.d. above)."""
    X, y = load_digits(return_X_y=True)
    clf = SegregatedDendriteClassifier(model="guerguiev2017-0hidden", protocol="quick",
                                       epochs=5, seed=0)
    clf.fit(X[:1437] / 16, y[:1437])
    assert clf.score(X[1437:] / 16, y[1437:]) > 0.5
    assert clf.train_errors_[-1] < clf.train_errors_[0] - 0.1


def test_predict_is_deterministic_and_is_the_argmax_of_decision_function(fitted, digits):
    scores = fitted.decision_function(digits.X_test)
    assert scores.shape == (N_TEST, 10)
    np.testing.assert_array_equal(fitted.classes_[np.argmax(scores, axis=1)],
                                  fitted.predict(digits.X_test))
    np.testing.assert_array_equal(fitted.predict(digits.X_test), fitted.predict(digits.X_test))
    np.testing.assert_array_equal(scores, fitted.decision_function(digits.X_test))


def test_fit_reaches_exactly_the_weights_of_a_training_run(tmp_path, fitted, digits):
    model = dataclasses.replace(load_model("guerguiev2017-1hidden"), hidden=(20,))
    train(model, "quick", digits, tmp_path / "run", epochs=2, seed=5, progress=False,
          n_spike_samples=0)
    run = Run.open(tmp_path / "run")
    for name, arr in run.weights(2).to_arrays().items():
        np.testing.assert_array_equal(fitted.params_.to_arrays()[name], arr, err_msg=name)
    np.testing.assert_array_equal(fitted.train_errors_, run.summary.train_errors)
    # prediction uses the seed of the run's last evaluation: the same test predictions
    recorded = run.predictions()
    np.testing.assert_array_equal(fitted.predict(digits.X_test), recorded["y_pred"])
    np.testing.assert_array_equal(fitted.decision_function(digits.X_test), recorded["mean_V"])
    assert fitted.score(digits.X_test, digits.y_test) == \
        pytest.approx(1 - run.summary.final_test_error, abs=1e-12)
    for key, arr in run.history().items():
        np.testing.assert_array_equal(fitted.history_[key], arr, err_msg=key)


def test_fitted_attributes(fitted, digits):
    np.testing.assert_array_equal(fitted.classes_, np.arange(10))
    assert fitted.n_features_in_ == 64
    assert fitted.model_.hidden == (20,) and fitted.model_.n_outputs == 10
    assert [w.shape for w in fitted.params_.W] == [(64, 20), (20, 10)]
    assert fitted.train_errors_.shape == (2,)
    for k in (1, 2):
        in_epoch = fitted.history_["epoch"] == k
        assert in_epoch.sum() == N_TRAIN
        assert fitted.train_errors_[k - 1] == 1 - np.mean(fitted.history_["correct"][in_epoch])


def test_labels_of_any_kind_map_through_classes(digits):
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"])
    y = names[digits.y_train]
    X = digits.X_train
    clf = SegregatedDendriteClassifier(protocol="quick", hidden=20, epochs=1, seed=2).fit(X, y)
    assert list(clf.classes_) == sorted(names)
    ints = SegregatedDendriteClassifier(protocol="quick", hidden=20, epochs=1, seed=2)
    # the same problem with labels renumbered in the sorted order of the names
    rank = np.argsort(np.argsort(names))
    ints.fit(X, rank[digits.y_train])
    np.testing.assert_array_equal(clf.params_.W[1], ints.params_.W[1])
    pred = clf.predict(digits.X_test[:40])
    assert set(pred) <= set(names)
    np.testing.assert_array_equal(pred, clf.classes_[ints.predict(digits.X_test[:40])])


def test_three_classes_get_three_output_neurons(digits):
    keep = digits.y_train < 3
    clf = SegregatedDendriteClassifier(protocol="quick", hidden=10, epochs=1, seed=0)
    clf.fit(digits.X_train[keep], digits.y_train[keep] + 7)
    assert clf.model_.n_outputs == 3 and clf.params_.W[-1].shape == (10, 3)
    np.testing.assert_array_equal(clf.classes_, [7, 8, 9])
    assert clf.decision_function(digits.X_test[:5]).shape == (5, 3)


def test_clone_and_params(fitted):
    params = fitted.get_params()
    assert params == {"model": "guerguiev2017-1hidden", "protocol": "quick", "epochs": 2,
                      "hidden": 20, "eta": None, "seed": 5, "engine": "fast", "verbose": False}
    twin = clone(fitted)
    assert twin.get_params() == params
    assert not hasattr(twin, "params_")
    twin.set_params(hidden=(8, 6), eta=0.1)
    assert twin.hidden == (8, 6) and twin.eta == 0.1 and fitted.hidden == 20
    with pytest.raises(NotFittedError):
        twin.predict(np.zeros((1, 64)))


def test_hidden_and_eta_overrides(digits):
    X, y = digits.X_train[:100], digits.y_train[:100]
    clf = SegregatedDendriteClassifier(protocol="quick", hidden=(8, 6), eta=[0.1, 0.2, 0.05],
                                       epochs=1).fit(X, y)
    assert clf.model_.hidden == (8, 6) and clf.model_.learning.eta == (0.1, 0.2, 0.05)
    assert [w.shape for w in clf.params_.W] == [(64, 8), (8, 6), (6, 10)]
    clf = SegregatedDendriteClassifier(protocol="quick", hidden=(), eta=0.3, epochs=1).fit(X, y)
    assert clf.model_.hidden == () and clf.model_.learning.eta == (0.3,)
    with pytest.raises(ConfigError, match="2 learning rate.*3 weight layer"):
        SegregatedDendriteClassifier(protocol="quick", hidden=(8, 6)).fit(X, y)
    with pytest.raises(ConfigError, match="hidden must be"):
        SegregatedDendriteClassifier(protocol="quick", hidden="big").fit(X, y)


@pytest.mark.parametrize("X, message", [
    (np.full((4, 64), 2.0), r"scale pixels to \[0, 1\]"),
    (np.full((4, 64), -0.5), r"scale pixels to \[0, 1\]"),
    (np.full((4, 64), np.nan), "NaN"),
    (np.zeros(64), "2-D"),
    ([["a"] * 64] * 4, "numeric"),
])
def test_bad_X_is_rejected_at_the_edge(X, message):
    clf = SegregatedDendriteClassifier(protocol="quick", hidden=5, epochs=1)
    with pytest.raises(DendrinetError, match=message):
        clf.fit(X, np.arange(4) % 2)


def test_bad_y_and_feature_counts_are_rejected(fitted, digits):
    clf = SegregatedDendriteClassifier(protocol="quick", hidden=5, epochs=1)
    X = digits.X_train[:10]
    with pytest.raises(DendrinetError, match="at least two classes"):
        clf.fit(X, np.zeros(10))
    with pytest.raises(DendrinetError, match="one label per row"):
        clf.fit(X, np.zeros(9))
    with pytest.raises(DendrinetError, match="epochs must be a positive integer"):
        SegregatedDendriteClassifier(epochs=0).fit(X, np.arange(10))
    with pytest.raises(DendrinetError, match="63 features.*fitted with 64"):
        fitted.predict(np.zeros((3, 63)))
