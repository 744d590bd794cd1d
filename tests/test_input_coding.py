"""Input coding (dendrinet.datasets.input_coding): features -> input rates, the ``auto``
rule, its record in a run and its use by every reader of a run."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from dendrinet.config import ConfigError, InputParams, load_model, model_from_document
from dendrinet.datasets import load_dataset
from dendrinet.datasets.input_coding import (AUTO_SPREAD_RATIO, InputCoding, fit_input_coding,
                                             spread_ratio)
from dendrinet.errors import RunError
from dendrinet.training.estimator import SegregatedDendriteClassifier
from dendrinet.training.evaluation import evaluate_run
from dendrinet.training.run_folder import Run
from dendrinet.training.trainer import train


def _tabular(n: int, n_features: int, n_classes: int, offset: float, seed: int):
    """Features at 0.5 plus a class-dependent offset of +-``offset`` and uniform noise of
    half-width 0.1: the information is a small deviation from a constant value."""
    rng = np.random.default_rng(seed)
    signs = np.where(rng.random((n_classes, n_features)) < 0.5, -1.0, 1.0)
    y = rng.integers(0, n_classes, n)
    X = 0.5 + offset * signs[y] + rng.uniform(-0.1, 0.1, (n, n_features))
    return X, y.astype(np.int64)


# ------------------------------------------------------------ the coding itself


def test_on_off_values_are_the_clipped_standardised_deviations():
    X = np.array([[0.0, 0.2, 0.7], [1.0, 0.2, 0.7], [0.5, 0.2, 0.1]])
    coding = fit_input_coding(InputParams(coding="on-off", clip_sd=1.0, min_inputs=1), X)
    mean, sd = X.mean(axis=0), X.std(axis=0)
    assert 0 < sd[1] < 1e-15  # feature 1 is constant, but for rounding
    sd[1] = 0.0
    np.testing.assert_array_equal(coding.mean, mean)
    np.testing.assert_array_equal(coding.sd, sd)
    new = np.array([[0.9, 0.9, 0.0], [0.5, 0.0, 1.0]])
    rates = coding.apply(new)
    assert rates.shape == (2, 6)
    z0 = (0.9 - mean[0]) / sd[0]
    z2 = (0.0 - mean[2]) / sd[2]  # below the mean by more than 1 s.d.: clipped
    assert z2 < -1 < 0 < z0 < 1
    np.testing.assert_allclose(rates[0], [z0, 0.0, 0.0, 0.0, 0.0, 1.0], rtol=0, atol=1e-15)
    # a value at the mean leaves both neurons silent; a constant feature too, whatever
    # the new value
    np.testing.assert_allclose(rates[1, [0, 3, 1, 4]], 0.0, atol=1e-15)
    assert rates[1, 2] == 1.0 and rates[1, 5] == 0.0
    assert coding.n_inputs(3) == 6 and rates.min() >= 0 and rates.max() <= 1


def test_intensity_leaves_the_features_as_they_are():
    X = np.random.default_rng(0).random((5, 4))
    coding = fit_input_coding(InputParams(coding="intensity", min_inputs=4), X)
    assert coding.apply(X) is X and coding.n_inputs(4) == 4 and coding.copies == 1


def test_few_features_drive_a_population_each():
    X = np.random.default_rng(0).random((6, 3))
    coding = fit_input_coding(InputParams(coding="intensity", min_inputs=10), X)
    assert coding.copies == 4 and coding.n_inputs(3) == 12  # ceil(10 / 3)
    rates = coding.apply(X)
    np.testing.assert_array_equal(rates, X[:, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]])
    assert "4 input neurons per coded feature (12 in all" in coding.reason
    on_off = fit_input_coding(InputParams(coding="on-off", min_inputs=10), X)
    assert on_off.copies == 2 and on_off.apply(X).shape == (6, 12)  # ceil(10 / 6)
    np.testing.assert_array_equal(on_off.apply(X)[:, ::2],
                                  fit_input_coding(InputParams(coding="on-off", min_inputs=1),
                                                   X).apply(X))
    digits = load_dataset("digits")
    coded = fit_input_coding(InputParams(), digits.X_train).apply_to(digits)
    assert coded.n_inputs == 448 and coded.image_shape == (8, 56)  # 7 neurons per pixel


def test_spread_ratio_by_hand():
    # two features: values (0, 1) and (0.5, 0.5): s.d. 0.5 and 0, means 0.5 and 0.5
    X = np.array([[0.0, 0.5], [1.0, 0.5]])
    assert spread_ratio(X) == pytest.approx((0.5 + 0.0) / 2 / 0.5)
    assert spread_ratio(np.zeros((3, 2))) == np.inf


def test_auto_codes_images_as_intensities_and_constant_features_on_off():
    digits = load_dataset("digits")
    assert spread_ratio(digits.X_train) > AUTO_SPREAD_RATIO
    assert fit_input_coding(InputParams(), digits.X_train).kind == "intensity"
    X, _ = _tabular(400, 8, 4, 0.05, seed=1)
    assert spread_ratio(X) < AUTO_SPREAD_RATIO
    coding = fit_input_coding(InputParams(), X)
    assert coding.kind == "on-off" and "0.5" in coding.reason
    # the threshold itself: a ratio just above it is coded as intensities
    base = np.array([[0.5 - 0.26], [0.5 + 0.26]])  # s.d. 0.26, mean 0.5: ratio 0.52
    assert fit_input_coding(InputParams(), base).kind == "intensity"
    assert fit_input_coding(InputParams(), base * [[1.0]] * 0 + [[0.4], [0.6]]).kind == "on-off"


def test_coding_round_trips_through_json_exactly():
    X, _ = _tabular(50, 5, 3, 0.05, seed=2)
    coding = fit_input_coding(InputParams(coding="on-off"), X)
    back = InputCoding.from_dict(json.loads(json.dumps(coding.to_dict())), "s.json")
    assert back.kind == "on-off" and back.clip_sd == coding.clip_sd
    assert back.copies == coding.copies == 40  # ceil(400 / 10)
    np.testing.assert_array_equal(back.apply(X), coding.apply(X))
    assert InputCoding.from_dict(None, "s.json").kind == "intensity"  # a 0.3 run


@pytest.mark.parametrize("bad, why", [
    ({"coding": "gray"}, "unknown coding"),
    ({"coding": "on-off", "mean": [0.5], "sd": [0.1]}, "clip_sd"),
    ({"coding": "on-off", "mean": [0.5], "sd": [-0.1], "clip_sd": 3}, "sd >= 0"),
    ({"coding": "on-off", "mean": [0.5, 0.2], "sd": [0.1], "clip_sd": 3}, "one number"),
    ({"coding": "on-off", "mean": ["x"], "sd": [0.1], "clip_sd": 3}, "x"),
    ("on-off", "input coding"),
    ({"coding": "intensity", "copies": 0}, "copies must be a positive integer"),
    ({"coding": "intensity", "copies": 2.0}, "copies must be a positive integer"),
])
def test_a_bad_recorded_coding_is_one_run_error(bad, why):
    with pytest.raises(RunError, match=f"s.json: input_coding is not a valid.*{why}"):
        InputCoding.from_dict(bad, "s.json")


def test_a_model_file_states_its_coding_and_refuses_unknown_ones():
    doc = {"model": {"name": "m"}, "input": {"coding": "on-off", "clip_sd": 2.5,
                                             "min_inputs": 50}}
    model = model_from_document(doc, "m.toml", None)
    assert model.input == InputParams("on-off", 2.5, 50)
    for table, match in (({"coding": "spikes"}, "coding"), ({"clip_sd": 0}, "clip_sd"),
                         ({"min_inputs": 0}, "min_inputs"), ({"min_inputs": 2.5}, "min_inputs"),
                         ({"coding": "auto", "scale": 2}, "scale")):
        with pytest.raises(ConfigError, match=match):  # (min_inputs = 0 below)
            model_from_document({"model": {"name": "m"}, "input": table}, "m.toml", None)


# ------------------------------------------------- learning, runs and estimators


def test_on_off_learns_what_intensities_hide():
    """Four classes in deviations of +-0.05 from 0.5 (noise +-0.1), 3 epochs without a
    hidden layer. Measured (seeds 0, 1): intensity 47.8, 58.5 % test error; on-off 6.3,
    9.3 %; logistic regression 4.0 %. With 400 test examples one figure's s.d. is at
    most 2.5 points, so the bounds are over 3 s.d. from what was measured."""
    X, y = _tabular(2400, 16, 4, 0.05, seed=3)
    errors = {}
    for coding in ("intensity", "on-off"):
        model = dataclasses.replace(load_model("guerguiev2017-0hidden"),
                                    input=InputParams(coding=coding, min_inputs=1))
        clf = SegregatedDendriteClassifier(model=model, epochs=3, seed=0)
        clf.fit(X[:2000], y[:2000])
        errors[coding] = 1.0 - clf.score(X[2000:], y[2000:])
    assert errors["intensity"] > 0.38
    assert errors["on-off"] < 0.16


@pytest.fixture(scope="module")
def tabular_run(tmp_path_factory):
    X, y = _tabular(700, 12, 3, 0.05, seed=4)
    path = tmp_path_factory.mktemp("data") / "tab.npz"
    np.savez(path, X_train=X[:500], y_train=y[:500], X_test=X[500:], y_test=y[500:])
    model = dataclasses.replace(load_model("guerguiev2017-0hidden"), n_outputs=3)
    out = tmp_path_factory.mktemp("runs") / "tab"
    train(model, "quick", str(path), out, epochs=2, seed=1, progress=False,
          n_spike_samples=2)
    return out, path, X, y


def test_a_run_records_its_coding_and_twice_the_inputs(tabular_run):
    out, _, X, _ = tabular_run
    run = Run.open(out)
    coding = run.info["input_coding"]
    assert coding["coding"] == "on-off" and coding["reason"].startswith("auto")
    np.testing.assert_array_equal(coding["mean"], X[:500].mean(axis=0))
    assert coding["copies"] == 17  # ceil(400 / 24)
    assert run.info["layer_sizes"] == [408, 3] and run.info["dataset"]["n_inputs"] == 408
    assert run.weights(2).W[0].shape == (408, 3)


def test_evaluate_and_the_estimator_from_the_run_code_new_data_like_the_run(tabular_run):
    out, path, X, y = tabular_run
    recorded = Run.open(out).predictions()["y_pred"]
    # evaluate re-reads the raw file and codes it with the run's statistics
    again = evaluate_run(out, dataset=str(path))
    np.testing.assert_array_equal(again["y_pred"], recorded)
    clf = SegregatedDendriteClassifier.from_run(out)
    assert clf.n_features_in_ == 12
    np.testing.assert_array_equal(clf.predict(X[500:]), recorded)


def test_resume_recomputes_the_same_coding(tmp_path, tabular_run):
    out, path, _, _ = tabular_run
    model = dataclasses.replace(load_model("guerguiev2017-0hidden"), n_outputs=3)
    part = tmp_path / "part"
    train(model, "quick", str(path), part, epochs=1, seed=1, progress=False,
          n_spike_samples=2)
    train(resume=True, out_dir=part, epochs=2, progress=False, n_spike_samples=2)
    a, b = Run.open(out), Run.open(part)
    for name, arr in a.weights(2).to_arrays().items():
        np.testing.assert_array_equal(arr, b.weights(2).to_arrays()[name])
    assert a.info["input_coding"] == b.info["input_coding"]


def test_the_estimator_codes_fit_and_predict_alike():
    X, y = _tabular(600, 10, 3, 0.05, seed=5)
    clf = SegregatedDendriteClassifier(model="guerguiev2017-0hidden", epochs=1).fit(X, y)
    assert clf.input_coding_.kind == "on-off" and clf.params_.W[0].shape[0] == 400
    assert clf.n_features_in_ == 10
    assert clf.decision_function(X[:5]).shape == (5, 3)


def test_feature_weights_fold_copies_and_on_off_back_onto_the_features():
    X = np.random.default_rng(1).random((20, 3)) * 0.1
    coding = fit_input_coding(InputParams(coding="on-off", min_inputs=12), X)
    assert coding.copies == 2 and coding.n_inputs(3) == 12 and coding.n_features(12) == 3
    W = np.arange(24.0).reshape(12, 2)  # rows: ON 0, 0, 1, 1, 2, 2, then OFF 0, 0, ...
    folded = coding.feature_weights(W)
    # feature 0: ON rows 0, 1 minus OFF rows 6, 7
    np.testing.assert_array_equal(folded[0], W[0] + W[1] - W[6] - W[7])
    np.testing.assert_array_equal(folded, [[-24.0, -24.0]] * 3)
    # the drive of a readout: feature j adds z+ * A_j above its mean and z- * B_j below it
    # (A, B: its ON and OFF neurons' summed weights); the folded weight is A - B, the
    # sum of the two slopes
    x = X.mean(axis=0) + 0.5 * X.std(axis=0) * np.array([1.0, -1.0, 0.3])
    z = (x - coding.mean) / (coding.clip_sd * coding.sd)
    A, B = W[:6].reshape(3, 2, 2).sum(axis=1), W[6:].reshape(3, 2, 2).sum(axis=1)
    np.testing.assert_allclose(coding.apply(x[None])[0] @ W,
                               np.maximum(z, 0) @ A + np.maximum(-z, 0) @ B, rtol=1e-12)
    np.testing.assert_array_equal(folded, A - B)
    assert coding.feature_shape((2, 6)) == (1, 3)
