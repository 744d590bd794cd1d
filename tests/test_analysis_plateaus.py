"""Plateau-potential distributions: exact pooling, and consistency with the history."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from dendrinet.analysis.learning_plots import (  # noqa: E402
    plot_plateau_differences, plot_plateau_histograms,
)
from dendrinet.analysis.plateaus import (  # noqa: E402
    plateau_distributions, pooled_epoch_statistics,
)
from dendrinet.errors import DendrinetError  # noqa: E402
from small_run import EPOCHS, N_HIDDEN, SAMPLE_EVERY, summary_json  # noqa: E402


pytestmark = pytest.mark.usefixtures("close_figures")  # run_dir comes from conftest.py


def test_pooled_statistics_equal_those_of_all_values():
    rng = np.random.default_rng(2)
    vectors = rng.normal(0.1, 0.3, size=(90, 17))  # 90 examples, 17 neurons
    epoch = np.repeat([1, 2, 3], 30)
    epochs, mean, sd = pooled_epoch_statistics(epoch, vectors.mean(axis=1), vectors.std(axis=1))
    np.testing.assert_array_equal(epochs, [1, 2, 3])
    for i, e in enumerate(epochs):
        values = vectors[epoch == e]
        assert mean[i] == pytest.approx(values.mean(), rel=1e-12)
        assert sd[i] == pytest.approx(values.std(), rel=1e-10)


def test_sampled_vectors_and_epochs_of_the_real_run(run_dir):
    info = summary_json(run_dir)
    n_train = info["dataset"]["n_train"]
    plateaus = plateau_distributions(run_dir, 0)
    per_epoch = -(-n_train // SAMPLE_EVERY)
    assert plateaus.alpha_f.shape == (EPOCHS * per_epoch, N_HIDDEN)
    assert plateaus.alpha_t.shape == plateaus.alpha_f.shape
    np.testing.assert_array_equal(plateaus.sample_epoch, np.repeat(np.arange(1, EPOCHS + 1),
                                                                   per_epoch))
    for alpha in (plateaus.alpha_f, plateaus.alpha_t):  # sigmoid of a potential
        assert alpha.min() >= 0 and alpha.max() <= 1
    np.testing.assert_array_equal(plateaus.difference, plateaus.alpha_t - plateaus.alpha_f)
    assert plateaus.diff_mean.shape == (EPOCHS * n_train,)
    assert (plateaus.diff_sd >= 0).all()


def test_sampled_vectors_agree_with_the_per_example_mean_and_sd(run_dir):
    info = summary_json(run_dir)
    n_train = info["dataset"]["n_train"]
    plateaus = plateau_distributions(run_dir, 0)
    with np.load(run_dir / "history.npz") as data:
        position = data["sample_position"]
    rows = (plateaus.sample_epoch - 1) * n_train + position
    difference = plateaus.difference
    np.testing.assert_allclose(difference.mean(axis=1), plateaus.diff_mean[rows],
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(difference.std(axis=1), plateaus.diff_sd[rows],
                               rtol=1e-9, atol=1e-12)


def test_epoch_statistics_pool_the_history(run_dir):
    plateaus = plateau_distributions(run_dir, 0)
    epochs, mean, sd = pooled_epoch_statistics(plateaus.epoch, plateaus.diff_mean,
                                               plateaus.diff_sd)
    np.testing.assert_array_equal(plateaus.epochs, epochs)
    np.testing.assert_allclose(plateaus.epoch_diff_mean, mean)
    np.testing.assert_allclose(plateaus.epoch_diff_sd, sd)


def test_plots_show_the_sampled_values(run_dir):
    plateaus = plateau_distributions(run_dir, 0)
    ax = plot_plateau_histograms(plateaus)
    last = plateaus.samples_of_epoch(EPOCHS)
    edges = np.linspace(0, 1, 41)
    for patch, values in zip(ax.patches, (plateaus.alpha_f[last], plateaus.alpha_t[last])):
        density, _ = np.histogram(values, edges, density=True)
        # the filled step outline reaches exactly the bin densities
        assert patch.get_xy()[:, 1].max() == pytest.approx(density.max())
        assert np.sum(density) / 40 == pytest.approx(1.0)
    assert f"epoch {EPOCHS}: {int(last.sum())} sampled examples" == ax.get_title()
    assert "(dimensionless)" in ax.get_xlabel()

    ax = plot_plateau_differences(plateaus)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [f"epoch {e} (s.d. {plateaus.epoch_diff_sd[e - 1]:.3g})"
                      for e in (1, EPOCHS)]
    with pytest.raises(DendrinetError, match="sampled epochs"):
        plot_plateau_differences(plateaus, epochs=[EPOCHS + 5])


def test_bad_layer_is_refused(run_dir):
    with pytest.raises(DendrinetError, match="hidden layer"):
        plateau_distributions(run_dir, 3)
    with pytest.raises(DendrinetError, match="hidden layer"):
        plateau_distributions(run_dir, -1)
