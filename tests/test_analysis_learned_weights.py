"""Receptive fields, weight statistics and W-Y^T alignment: analytic cases and the
weight files of a small real run."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import quantities as pq  # noqa: E402

from dendrinet.analysis.learned_weights import (  # noqa: E402
    alignment_angle, feedback_alignment, receptive_field_grid, receptive_fields,
    weight_statistics,
)
from dendrinet.analysis.learning_plots import (  # noqa: E402
    plot_feedback_alignment, plot_receptive_fields, plot_weight_statistics,
)
from dendrinet.errors import DendrinetError  # noqa: E402
from small_run import EPOCHS, N_HIDDEN  # noqa: E402


pytestmark = pytest.mark.usefixtures("close_figures")  # run_dir comes from conftest.py


def _weights(run_dir, epoch):
    with np.load(run_dir / "weights" / f"epoch_{epoch:03d}.npz") as data:
        return {k: data[k] for k in data.files}


# ------------------------------------------------------------------ alignment
def test_alignment_angle_of_constructed_pairs():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(30, 10))
    assert alignment_angle(W, W.T).magnitude == pytest.approx(0.0, abs=1e-5)
    assert alignment_angle(W, 3.5 * W.T).magnitude == pytest.approx(0.0, abs=1e-5)
    assert alignment_angle(W, -W.T).magnitude == pytest.approx(180.0, abs=1e-5)
    assert alignment_angle(W, W.T).units == pq.deg
    # orthogonal: disjoint supports
    A = np.zeros((4, 2))
    A[0, 0] = 1.0
    B = np.zeros((2, 4))
    B[1, 3] = 2.0
    assert alignment_angle(A, B).magnitude == pytest.approx(90.0)
    # 60 degrees: cos = <a, b> / (|a| |b|) = 1/2
    a = np.array([[1.0], [0.0]])
    b = np.array([[0.5, np.sqrt(3) / 2]])
    assert alignment_angle(a, b).magnitude == pytest.approx(60.0)


def test_alignment_angle_rejects_bad_pairs():
    with pytest.raises(DendrinetError, match="shape of W transposed"):
        alignment_angle(np.ones((3, 2)), np.ones((3, 2)))
    with pytest.raises(DendrinetError, match="all zeros"):
        alignment_angle(np.zeros((3, 2)), np.ones((2, 3)))
    with pytest.raises(DendrinetError, match="NaN"):
        alignment_angle(np.full((3, 2), np.nan), np.ones((2, 3)))


def test_feedback_alignment_of_the_run_equals_the_weight_files(run_dir):
    alignment = feedback_alignment(run_dir)
    np.testing.assert_array_equal(alignment.epochs, np.arange(EPOCHS + 1))
    assert list(alignment.angle) == [0]
    for epoch in (0, EPOCHS):
        w = _weights(run_dir, epoch)
        W, Y = w["W_1"], w["Y_0"]
        cosine = np.sum(W * Y.T) / np.linalg.norm(W) / np.linalg.norm(Y)
        assert alignment.angle[0].magnitude[epoch] == pytest.approx(
            np.degrees(np.arccos(cosine)), rel=1e-12)
    ax = plot_feedback_alignment(alignment)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), alignment.angle[0].magnitude)
    assert "(deg)" in ax.get_ylabel()


# ----------------------------------------------------------- receptive fields
def test_receptive_fields_are_the_reshaped_first_layer_weights(run_dir):
    # the digits' 64 pixels drive 7 input neurons each (dendrinet.datasets.input_coding):
    # a pixel's field is the sum of its neurons' weights
    W0 = _weights(run_dir, EPOCHS)["W_0"]
    assert W0.shape[0] == 448
    fields = receptive_fields(run_dir)
    assert fields.shape == (N_HIDDEN, 8, 8)  # digits are 8x8 images
    for k in (0, 7, N_HIDDEN - 1):
        np.testing.assert_allclose(fields[k], W0[:, k].reshape(64, 7).sum(axis=1).reshape(8, 8),
                                   rtol=1e-15, atol=0)
    assert fields[0, 3, 5] == W0[7 * 29:7 * 30, 0].sum()
    initial = receptive_fields(run_dir, epoch=0, units=[3, 1])
    W0_initial = _weights(run_dir, 0)["W_0"].reshape(64, 7, -1).sum(axis=1)
    np.testing.assert_array_equal(initial[0], W0_initial[:, 3].reshape(8, 8))
    np.testing.assert_array_equal(initial[1], W0_initial[:, 1].reshape(8, 8))
    assert receptive_fields(run_dir, units=5).shape == (5, 8, 8)


def test_receptive_fields_of_a_matrix_and_bad_input():
    W = np.arange(12.0).reshape(6, 2)
    fields = receptive_fields(W, image_shape=(2, 3))
    np.testing.assert_array_equal(fields[1], [[1, 3, 5], [7, 9, 11]])
    with pytest.raises(DendrinetError, match="6 inputs but images of shape 2x2"):
        receptive_fields(W, image_shape=(2, 2))
    with pytest.raises(DendrinetError, match="image_shape is required"):
        receptive_fields(W)
    with pytest.raises(DendrinetError, match=r"indices in \[0, 2\)"):
        receptive_fields(W, image_shape=(2, 3), units=[5])


def test_receptive_field_grid_shape_and_tiles():
    rng = np.random.default_rng(1)
    fields = rng.normal(size=(N_HIDDEN, 8, 8))
    grid = receptive_field_grid(fields, n_cols=6, pad=1)
    assert grid.shape == (5 * 9 - 1, 6 * 9 - 1)
    np.testing.assert_array_equal(grid[0:8, 0:8], fields[0])
    np.testing.assert_array_equal(grid[9:17, 18:26], fields[8])  # row 1, column 2
    assert np.isnan(grid[8, :]).all() and np.isnan(grid[:, 8]).all()
    assert np.count_nonzero(~np.isnan(grid)) == fields.size
    grid = receptive_field_grid(fields[:7], pad=0)  # 3 columns, 3 rows, 2 tiles empty
    assert grid.shape == (24, 24)
    assert np.isnan(grid[16:, 8:]).all()


def test_receptive_field_figure_shows_the_centred_grid(run_dir):
    fields = receptive_fields(run_dir, units=9)
    fig = plot_receptive_fields(fields, n_cols=3)
    shown = np.ma.filled(fig.axes[0].images[0].get_array(), np.nan)
    centred = fields - fields.mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(shown, receptive_field_grid(centred, 3), equal_nan=True)
    low, high = fig.axes[0].images[0].get_clim()
    assert low == -high == -np.nanmax(np.abs(shown))  # zero-centred colour scale



def test_fields_of_features_without_an_image_are_one_matrix():
    """A table's columns (fields of height 1) are drawn as a neuron x feature matrix,
    each row minus its mean, not as a grid of one-pixel strips."""
    weights = np.random.default_rng(0).normal(size=(40, 12))  # 40 features, 12 neurons
    fields = receptive_fields(weights, image_shape=(1, 40))
    fig = plot_receptive_fields(fields)
    ax = fig.axes[0]
    shown = np.asarray(ax.images[0].get_array())
    np.testing.assert_allclose(shown, weights.T - weights.T.mean(axis=1, keepdims=True))
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("feature", "neuron")

# ---------------------------------------------------------------- statistics
def test_weight_statistics_per_epoch(run_dir):
    stats = weight_statistics(run_dir)
    np.testing.assert_array_equal(stats.epochs, np.arange(EPOCHS + 1))
    assert set(stats.names) == {"W_0", "W_1", "b_0", "b_1", "Y_0"}
    for epoch in range(EPOCHS + 1):
        w = _weights(run_dir, epoch)
        for name in ("W_0", "b_1", "Y_0"):
            assert stats.mean[name][epoch] == pytest.approx(w[name].mean(), rel=1e-12)
            assert stats.sd[name][epoch] == pytest.approx(w[name].std(), rel=1e-12)
            assert stats.norm[name][epoch] == pytest.approx(np.linalg.norm(w[name]), rel=1e-12)
    # random feedback is fixed: its statistics do not change; learning moves W
    assert np.ptp(stats.norm["Y_0"]) == 0
    assert stats.norm["W_0"][-1] != stats.norm["W_0"][0]
    ax = plot_weight_statistics(stats, statistic="sd")
    assert [line.get_label() for line in ax.lines] == ["W_0", "W_1", "Y_0"]
    np.testing.assert_allclose(ax.lines[2].get_ydata(), stats.sd["Y_0"])
    with pytest.raises(DendrinetError, match="statistic"):
        plot_weight_statistics(stats, statistic="median")
    with pytest.raises(DendrinetError, match="no parameter array 'W_9'"):
        weight_statistics(run_dir, names=["W_9"])
