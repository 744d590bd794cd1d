"""Shifted training images (dendrinet.datasets.shifts, the protocol's [train] shift_pixels):
the arithmetic of a shift, the distribution of the shifts, their stream, the refusals,
and what the engines receive in a run (dendrinet.train and the estimator)."""
import dataclasses
import math

import numpy as np
import pytest

from dendrinet.config import load_model, load_protocol
from dendrinet.datasets import load_dataset
from dendrinet.datasets.input_coding import fit_input_coding
from dendrinet.datasets.shifts import (EpochImages, check_shiftable, shift_rng,
                                       shifted_images)
from dendrinet.errors import ConfigError, DatasetError, DendrinetError
from dendrinet.training.estimator import SegregatedDendriteClassifier
from dendrinet.training.run_folder import Run
from dendrinet.training.trainer import train

# these runs are too short to learn: their stall warnings are expected
pytestmark = pytest.mark.filterwarnings("ignore::dendrinet.training.epochs.LearningStalledWarning")


def _moved_by(original, moved, max_shift):
    """Every ``(dr, dc)`` for which ``moved[r, c] = original[r + dr, c + dc]`` (0 outside),
    found by trying each: an independent reading of what a shift is."""
    rows, cols = original.shape
    found = []
    for dr in range(-max_shift, max_shift + 1):
        for dc in range(-max_shift, max_shift + 1):
            expected = np.zeros_like(original)
            for r in range(rows):
                for c in range(cols):
                    if 0 <= r + dr < rows and 0 <= c + dc < cols:
                        expected[r, c] = original[r + dr, c + dc]
            if np.array_equal(moved, expected):
                found.append((dr, dc))
    return found


def test_each_image_is_moved_by_the_drawn_whole_pixels_with_zeros_entering():
    rng = np.random.default_rng(0)
    X = rng.uniform(0.1, 1.0, (60, 5 * 7))  # no zero pixel: every shift is distinguishable
    out = shifted_images(X, (5, 7), 2, np.random.default_rng(11))
    draws = np.random.default_rng(11)
    d_row, d_col = draws.integers(-2, 3, 60), draws.integers(-2, 3, 60)
    for i in range(60):
        assert _moved_by(X[i].reshape(5, 7), out[i].reshape(5, 7), 2) == [(d_row[i], d_col[i])]
    assert out.shape == X.shape and X.min() > 0  # the input is not touched


def test_shifts_are_uniform_over_the_positions_and_keep_an_inner_image_whole():
    n, s = 9000, 1
    X = np.zeros((n, 6, 6))
    X[:, 2:4, 2:4] = np.arange(1, 5).reshape(2, 2)  # inside a border of 2 >= s pixels
    out = shifted_images(X.reshape(n, 36), (6, 6), s, np.random.default_rng(5)).reshape(n, 6, 6)
    # the mass of an image whose border is wider than the shift moves without loss
    np.testing.assert_array_equal(out.sum(axis=(1, 2)), X.sum(axis=(1, 2)))
    # where the pixel of value 1 landed: its offset from (2, 2) is minus the shift
    r, c = np.nonzero(out == 1)[1:]
    counts = np.bincount((r - 2 + s) * 3 + (c - 2 + s), minlength=9)
    p = 1 / 9
    assert np.all(np.abs(counts - n * p) < 5 * math.sqrt(n * p * (1 - p))), counts


def test_the_shifts_of_an_epoch_come_from_their_own_stream():
    X = np.random.default_rng(1).uniform(size=(200, 16))
    a = shifted_images(X, (4, 4), 1, shift_rng(3, 2))
    np.testing.assert_array_equal(a, shifted_images(X, (4, 4), 1, shift_rng(3, 2)))
    assert not np.array_equal(a, shifted_images(X, (4, 4), 1, shift_rng(3, 1)))
    assert not np.array_equal(a, shifted_images(X, (4, 4), 1, shift_rng(4, 2)))


def test_without_shifts_every_epoch_gets_the_coded_examples_themselves():
    X = np.ones((3, 4))
    epochs = EpochImages(X, X * 0.5, (2, 2), 0, lambda v: v * 0.5, seed=0)
    assert epochs(1) is epochs.coded and epochs(7) is epochs.coded


@pytest.mark.parametrize("shape, shift, match", [
    ((1, 40), 1, r"40 features in a row \(image shape 1 x 40\), not images"),
    ((8, 8), 8, r"out of their frame: use fewer pixels than the shorter side"),
])
def test_shifts_that_cannot_apply_are_refused_in_one_message(shape, shift, match):
    with pytest.raises(DatasetError, match=match):
        check_shiftable(shape, shift, "the data")


@pytest.mark.parametrize("value, match", [(-1, "whole number of pixels >= 0"),
                                          (1.5, "whole number of pixels"), (10**6, "whole number")])
def test_the_protocol_refuses_bad_shift_pixels(tmp_path, value, match):
    path = tmp_path / "p.toml"
    path.write_text(f'extends = "quick"\n[protocol]\nname = "p"\n[train]\nshift_pixels = {value}\n',
                    encoding="utf-8")
    with pytest.raises(ConfigError, match=match):
        load_protocol(path)


class Recorder:
    """Wraps an engine's train_epoch and evaluate to keep what they were given."""

    def __init__(self, monkeypatch):
        import dendrinet.training.trainer as trainer
        import dendrinet.training.estimator as estimator
        self.train_X, self.test_X = [], []
        recorder = self

        def wrap(make):
            def make_recorded(*args, **kwargs):
                engine = make(*args, **kwargs)
                train_epoch, evaluate = engine.train_epoch, engine.evaluate

                def recorded_train(X, *a, **k):
                    recorder.train_X.append(np.array(X))
                    return train_epoch(X, *a, **k)

                def recorded_evaluate(X, *a, **k):
                    recorder.test_X.append(np.array(X))
                    return evaluate(X, *a, **k)
                engine.train_epoch, engine.evaluate = recorded_train, recorded_evaluate
                return engine
            return make_recorded
        monkeypatch.setattr(trainer, "make_engine", wrap(trainer.make_engine))
        monkeypatch.setattr(estimator, "make_engine", wrap(estimator.make_engine))


@pytest.mark.parametrize("coding", ["intensity", "on-off"])
def test_a_run_trains_each_epoch_on_its_shifted_images_and_tests_on_the_originals(
        tmp_path, monkeypatch, coding):
    digits = load_dataset("digits", n_train=200, n_test=50)
    model = dataclasses.replace(load_model("guerguiev2017-1hidden"), hidden=(10,))
    model = dataclasses.replace(model, input=dataclasses.replace(model.input, coding=coding))
    protocol = dataclasses.replace(load_protocol("quick"), shift_pixels=1)
    rec = Recorder(monkeypatch)
    train(model, protocol, digits, tmp_path / "run", epochs=2, seed=4, engine="rate",
          progress=False, n_spike_samples=0)
    code = fit_input_coding(model.input, digits.X_train)
    trained = rec.train_X[-2:]  # the warm-up's one example comes first
    for epoch, X in zip((1, 2), trained):
        expected = code.apply(shifted_images(digits.X_train, (8, 8), 1, shift_rng(4, epoch)))
        np.testing.assert_array_equal(X, expected)
    assert not np.array_equal(trained[0], trained[1])
    coded_test = code.apply(digits.X_test)
    assert all(np.array_equal(X, coded_test) for X in rec.test_X[-2:])


def test_a_resumed_run_draws_the_shifts_of_the_uninterrupted_one(tmp_path):
    digits = load_dataset("digits", n_train=200, n_test=50)
    model = dataclasses.replace(load_model("guerguiev2017-1hidden"), hidden=(10,))
    protocol = dataclasses.replace(load_protocol("quick"), shift_pixels=1)
    common = dict(seed=2, engine="rate", progress=False, n_spike_samples=0)
    train(model, protocol, digits, tmp_path / "straight", epochs=3, **common)
    train(model, protocol, digits, tmp_path / "resumed", epochs=1, **common)
    train(resume=True, out_dir=tmp_path / "resumed", epochs=3, dataset=digits, progress=False)
    a, b = Run.open(tmp_path / "straight"), Run.open(tmp_path / "resumed")
    for name, arr in a.weights(3).to_arrays().items():
        np.testing.assert_array_equal(arr, b.weights(3).to_arrays()[name])
    # and the shifts changed what was learned
    train(model, dataclasses.replace(protocol, shift_pixels=0), digits, tmp_path / "still",
          epochs=3, **common)
    still = Run.open(tmp_path / "still").weights(3).to_arrays()
    assert not np.array_equal(a.weights(3).to_arrays()["W_0"], still["W_0"])


def test_the_estimator_shifts_square_images_and_asks_for_the_shape_of_others(monkeypatch):
    digits = load_dataset("digits", n_train=120, n_test=10)
    protocol = dataclasses.replace(load_protocol("quick"), shift_pixels=1)
    rec = Recorder(monkeypatch)
    clf = SegregatedDendriteClassifier(protocol=protocol, hidden=10, epochs=1, seed=6, engine="rate")
    clf.fit(digits.X_train, digits.y_train)
    expected = shifted_images(digits.X_train, (8, 8), 1, shift_rng(6, 1))
    np.testing.assert_array_equal(rec.train_X[-1], clf.input_coding_.apply(expected))

    X40 = np.random.default_rng(0).uniform(size=(40, 40))
    y40 = np.arange(40) % 2
    with pytest.raises(DendrinetError, match=r"40 features are not a square image: give "
                                             r"image_shape=\(rows, columns\)"):
        SegregatedDendriteClassifier(protocol=protocol, epochs=1, engine="rate").fit(X40, y40)
    with pytest.raises(DendrinetError, match="product is the number of features"):
        SegregatedDendriteClassifier(protocol=protocol, epochs=1, engine="rate",
                            image_shape=(6, 6)).fit(X40, y40)
    clf = SegregatedDendriteClassifier(protocol=protocol, hidden=4, epochs=1, engine="rate",
                              image_shape=(5, 8), seed=1).fit(X40, y40)
    np.testing.assert_array_equal(
        rec.train_X[-1], clf.input_coding_.apply(shifted_images(X40, (5, 8), 1, shift_rng(1, 1))))
