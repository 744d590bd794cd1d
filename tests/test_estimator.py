"""SegregatedDendriteClassifier: scikit-learn conventions and agreement with
dendrinet.training.trainer, on scikit-learn digits with a 64-20-10 network (quick protocol)."""
import dataclasses
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError

from dendrinet.config import load_model
from dendrinet.datasets import load_dataset
from dendrinet.errors import ConfigError, DendrinetError
from dendrinet.training.estimator import SegregatedDendriteClassifier
from dendrinet.training.run_folder import Run
from dendrinet.training.trainer import train

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
    assert [w.shape for w in fitted.params_.W] == [(448, 20), (20, 10)]  # 7 input neurons per pixel
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
                      "hidden": 20, "eta": None, "seed": 5, "engine": "fast", "verbose": False,
                      "image_shape": None}
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
    assert [w.shape for w in clf.params_.W] == [(448, 8), (8, 6), (6, 10)]
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


# ------------------------------------------------------------------- from_run


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory, digits):
    """The run that `fitted` reproduces: 448-20-10 (7 input neurons per pixel), quick, 2
    epochs, seed 5."""
    out = tmp_path_factory.mktemp("from_run") / "run"
    model = dataclasses.replace(load_model("guerguiev2017-1hidden"), hidden=(20,))
    train(model, "quick", digits, out, epochs=2, seed=5, progress=False, n_spike_samples=0)
    return Run.open(out)


def test_from_run_predicts_the_runs_recorded_predictions(run_folder, digits, fitted):
    clf = SegregatedDendriteClassifier.from_run(run_folder.path)
    recorded = run_folder.predictions()
    np.testing.assert_array_equal(clf.predict(digits.X_test), recorded["y_pred"])
    np.testing.assert_array_equal(clf.decision_function(digits.X_test), recorded["mean_V"])
    assert clf.score(digits.X_test, digits.y_test) == \
        pytest.approx(1 - run_folder.summary.final_test_error, abs=1e-12)
    # the same fitted state as fit() with the run's settings
    np.testing.assert_array_equal(clf.classes_, np.arange(10))
    assert clf.n_features_in_ == 64 and clf.model_ == run_folder.model
    assert clf.protocol_ == run_folder.protocol
    np.testing.assert_array_equal(clf.train_errors_, fitted.train_errors_)
    for key, arr in fitted.history_.items():
        np.testing.assert_array_equal(clf.history_[key], arr, err_msg=key)
    assert clf.fit_seconds_ == pytest.approx(sum(e.seconds for e in run_folder.summary.epochs))


def test_from_run_takes_any_epoch_and_its_evaluation_seed(run_folder, digits):
    from dendrinet.training.evaluation import evaluate_run
    for epoch in (0, 1):
        clf = SegregatedDendriteClassifier.from_run(run_folder, epoch=epoch)
        for name, arr in run_folder.weights(epoch).to_arrays().items():
            np.testing.assert_array_equal(clf.params_.to_arrays()[name], arr, err_msg=name)
        assert len(clf.train_errors_) == epoch
        np.testing.assert_array_equal(clf.predict(digits.X_test),
                                      evaluate_run(run_folder, epoch=epoch)["y_pred"])
    assert set(np.unique(clf.history_["epoch"])) == {1}
    assert len(clf.history_["epoch"]) == N_TRAIN
    assert set(np.unique(clf.history_["sample_epoch"])) == {1}
    assert len(clf.history_["alpha_f_0"]) == len(clf.history_["sample_epoch"])
    assert SegregatedDendriteClassifier.from_run(run_folder, epoch=0).history_ == {}
    from dendrinet.errors import RunError
    with pytest.raises(RunError, match=r"no epoch 3; this run has epochs 0\.\.2"):
        SegregatedDendriteClassifier.from_run(run_folder, epoch=3)


def test_from_run_parameters_retrain_the_same_network(run_folder, digits):
    clf = SegregatedDendriteClassifier.from_run(run_folder)
    params = clf.get_params()
    assert (params["epochs"], params["seed"], params["engine"]) == (2, 5, "fast")
    assert params["model"] == run_folder.model and params["protocol"] == run_folder.protocol
    again = clone(clf).fit(digits.X_train, digits.y_train)
    for name, arr in run_folder.weights(2).to_arrays().items():
        np.testing.assert_array_equal(again.params_.to_arrays()[name], arr, err_msg=name)


# ------------------------------------------------- scikit-learn conventions

def _tiny():
    return SegregatedDendriteClassifier(hidden=4, epochs=1, protocol="quick")


_OUT_OF_DOMAIN = "scale pixels to [0, 1]"
# checks whose data lie outside the documented pixel domain [0, 1] (the positive_only
# tag shifts them to >= 0, but nothing keeps them <= 1); the classifier refuses such X
# by design, so these fail with its domain error, and nothing else
DOMAIN_CHECKS = {
    "check_estimators_overwrite_params": "make_blobs data, up to ~9",
    "check_dont_overwrite_parameters": "3 * uniform(0, 1) data, up to 3",
    "check_estimators_fit_returns_self": "make_blobs data, up to ~9",
    "check_readonly_memmap_input": "make_blobs data, up to ~9",
    "check_n_features_in_after_fitting": "standardised make_blobs data, up to ~5",
    "check_estimators_dtypes": "3 * uniform(0, 1) data (as several dtypes), up to 3",
    "check_pipeline_consistency": "make_blobs data scaled by StandardScaler, up to ~1.4",
    "check_estimators_pickle": "make_blobs data scaled by StandardScaler, up to ~1.4",
    "check_f_contiguous_array_estimator": "3 * uniform(0, 1) data, up to 3",
    "check_classifier_data_not_an_array": "integer points up to 4",
    "check_classifiers_classes": "standardised make_blobs data, up to ~2.7",
    "check_classifiers_train": "standardised make_blobs data, up to ~4.8",
    "check_methods_sample_order_invariance": "3 * uniform(0, 1) data, up to 3",
    "check_methods_subset_invariance": "3 * uniform(0, 1) data, up to 3",
    "check_fit2d_1sample": "3 * uniform(0, 1) data, up to 3 (refused before the "
                           "one-sample message)",
    "check_fit2d_1feature": "3 * uniform(0, 1) data, up to 3 (refused before the "
                            "one-feature message)",
    "check_dict_unchanged": "3 * uniform(0, 1) data, up to 3",
    "check_fit_idempotent": "normal(100, 1) data",
    "check_fit_check_is_fitted": "normal(100, 1) data",
    "check_n_features_in": "normal(100, 1) data",
    "check_fit2d_predict1d": "3 * uniform(0, 1) data, up to 3",
}
# the checks the issue names, and the other input checks: all pass
MUST_PASS = ("check_complex_data", "check_classifiers_regression_target",
             "check_estimators_empty_data_messages", "check_requires_y_none",
             "check_supervised_y_2d", "check_dtype_object", "check_estimators_nan_inf",
             "check_positive_only_tag_during_fit", "check_fit_non_negative",
             "check_supervised_y_no_nan", "check_classifiers_one_label",
             "check_estimators_unfitted")


def _run_checks(estimator) -> tuple[set, dict]:
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(estimator, on_fail=None)
    passed = {r["check_name"] for r in results if r["status"] == "passed"}
    failed = {}
    for r in results:
        if r["status"] == "failed":
            failed.setdefault(r["check_name"], []).append(str(r["exception"]))
    return passed, failed


def test_scikit_learn_estimator_checks_pass_but_for_data_outside_the_pixel_domain():
    passed, failed = _run_checks(_tiny())
    assert set(failed) <= set(DOMAIN_CHECKS), sorted(set(failed) - set(DOMAIN_CHECKS))
    for name, messages in failed.items():
        for message in messages:
            assert _OUT_OF_DOMAIN in message, (name, message)
    for name in MUST_PASS:
        assert name in passed, name
    assert len(passed) >= 25


# in a pipeline that first maps the data into [0, 1] (MinMaxScaler(clip=True)), the
# domain checks above run on the classifier with data it accepts; these fail there:
PIPELINE_CHECKS = {
    # properties of the Pipeline wrapper, not of the classifier
    "check_estimators_overwrite_params": "the pipeline's `steps` parameter holds the "
                                         "classifier, which fit fills with fitted attributes",
    "check_dont_overwrite_parameters": "the same: `steps` changes when its classifier is "
                                       "fitted",
    "check_supervised_y_no_nan": "a Pipeline (module sklearn.*) must use scikit-learn's own "
                                 "wording; the classifier refuses y with NaN or infinity "
                                 "in its own words (and passes this check alone)",
    # documented behaviour of the classifier
    "check_methods_sample_order_invariance": "spiking is random: the test spikes of an "
                                             "example are seeded by (seed, row), so its "
                                             "output depends on its row",
    "check_methods_subset_invariance": "the same: an example's spikes depend on its row",
    "check_classifiers_train": "asks for 83 % training accuracy on 2- and 3-feature blobs "
                               "after one epoch of the 4-neuron test network (2 or 3 "
                               "input neurons): a learning-speed target, not a contract",
}


def test_scikit_learn_checks_on_data_in_the_pixel_domain():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    passed, failed = _run_checks(make_pipeline(MinMaxScaler(clip=True), _tiny()))
    assert set(failed) <= set(PIPELINE_CHECKS), sorted(set(failed) - set(PIPELINE_CHECKS))
    for name in set(DOMAIN_CHECKS) - set(PIPELINE_CHECKS):
        assert name in passed, name


def test_complex_continuous_and_missing_targets_are_refused_clearly(digits):
    clf = _tiny()
    X = digits.X_train[:20]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning: refused, not cast
        with pytest.raises(DendrinetError, match="Complex data not supported: X"):
            clf.fit(X + 0.5j * X, digits.y_train[:20])
        with pytest.raises(DendrinetError, match="Complex data not supported: y"):
            clf.fit(X, digits.y_train[:20] + 1j)
    with pytest.raises(DendrinetError, match="Unknown label type: 'continuous'"):
        clf.fit(X, np.linspace(0, 1, 20))
    with pytest.raises(DendrinetError, match=r"one label per row .* got shape \(20, 2\)"):
        clf.fit(X, np.stack([digits.y_train[:20]] * 2, axis=1))
    with pytest.raises(DendrinetError, match="requires y to be passed"):
        clf.fit(X, None)
    bad = X.astype(object)
    bad[0, 0] = {"a": 1}
    with pytest.raises(TypeError, match="numeric pixel intensities") as info:
        clf.fit(bad, digits.y_train[:20])
    assert isinstance(info.value, DendrinetError)
    with pytest.raises(DendrinetError, match=r"0 feature\(s\) \(shape=\(20, 0\)\)"):
        clf.fit(X[:, :0], digits.y_train[:20])
    assert not hasattr(clf, "params_")


def test_a_column_vector_y_is_accepted_with_a_warning(digits):
    from sklearn.exceptions import DataConversionWarning

    X, y = digits.X_train[:40], digits.y_train[:40]
    flat = _tiny().fit(X, y)
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        column = _tiny().fit(X, y[:, None])
    for a, b in zip(flat.params_.W, column.params_.W):
        np.testing.assert_array_equal(a, b)


def test_binary_decision_function_is_one_score_whose_sign_is_the_prediction(digits):
    keep = np.isin(digits.y_train, [3, 8])
    X, y = digits.X_train[keep][:120], np.where(digits.y_train[keep][:120] == 8, "eight",
                                                  "three")
    clf = SegregatedDendriteClassifier(model="guerguiev2017-1hidden", protocol="quick",
                                       hidden=10, eta=[0.4, 0.1], epochs=2, seed=1).fit(X, y)
    scores = clf.decision_function(X[:30])
    assert scores.shape == (30,)
    np.testing.assert_array_equal(clf.predict(X[:30]),
                                  np.where(scores > 0, clf.classes_[1], clf.classes_[0]))
    assert list(clf.classes_) == ["eight", "three"]
