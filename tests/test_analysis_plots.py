"""Spike plots: what is drawn matches the data, axes carry units."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import quantities as pq  # noqa: E402

from dendrinet.analysis import (  # noqa: E402
    isi_histogram, plot_isi_histogram, plot_psth, plot_raster, plot_rate_heatmap, psth,
    rates_by_presentation,
)
from dendrinet.analysis.plots import BOUNDARY_GID, LABEL_TITLE  # noqa: E402
from dendrinet.errors import DendrinetError  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def session():
    """Three examples, forward + target phase of 50 ms each, 12 neurons."""
    rng = np.random.default_rng(5)
    times = np.sort(rng.uniform(0.0, 300.0, 500))
    node_ids = rng.integers(0, 12, times.size)
    starts = np.arange(6) * 50.0
    presentations = {"example_id": np.repeat([0, 1, 2], 2), "label": np.repeat([7, 2, 9], 2),
                     "phase": np.array([b"forward", b"target"] * 3),
                     "t_start": starts, "t_stop": starts + 50.0}
    return times, node_ids, presentations


def test_raster_points_boundaries_and_labels(session):
    times, node_ids, presentations = session
    ax = plot_raster(times, node_ids, presentations)
    offsets = ax.collections[0].get_offsets()
    assert len(offsets) == times.size
    np.testing.assert_array_equal(offsets[:, 0], times)
    np.testing.assert_array_equal(offsets[:, 1], node_ids)
    boundaries = [line for line in ax.lines if line.get_gid() == BOUNDARY_GID]
    assert len(boundaries) == 6
    np.testing.assert_array_equal([line.get_xdata()[0] for line in boundaries],
                                  presentations["t_start"])
    # one class label per example, after a title saying what the numbers are
    assert [t.get_text() for t in ax.texts] == [LABEL_TITLE, "7", "2", "9"]
    assert LABEL_TITLE == "class label:"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["forward", "target"]
    assert "(ms)" in ax.get_xlabel()
    assert ax.get_ylim() == (-0.5, 11.5)


def _visible_ticks(axis) -> np.ndarray:
    low, high = sorted(axis.get_ylim())
    ticks = axis.get_yticks()
    return ticks[(ticks >= low) & (ticks <= high)]


@pytest.mark.parametrize("height", [1.2, 1.6, 3.0, 6.0])
def test_raster_ticks_whole_neuron_indices(height):
    # 10 output neurons in a short panel used to be ticked 0.0, 2.5, 5.0, 7.5
    fig, ax = plt.subplots(figsize=(9, height), layout="constrained")
    plot_raster(np.array([1.0, 2.0, 3.0]), np.array([0, 4, 9]), ax=ax)
    fig.canvas.draw()
    ticks = _visible_ticks(ax)
    assert ticks.size >= 2
    np.testing.assert_array_equal(ticks, np.round(ticks))
    assert ticks.min() >= 0 and ticks.max() <= 9


def test_raster_accepts_seconds_and_draws_into_given_axes():
    _, ax = plt.subplots()
    returned = plot_raster(np.array([0.5, 1.5]) * pq.s, np.array([0, 1]), ax=ax)
    assert returned is ax
    np.testing.assert_allclose(ax.collections[0].get_offsets()[:, 0], [500.0, 1500.0])


def test_rate_heatmap_shape_grouping_and_colorbar(session):
    times, node_ids, presentations = session
    rates = rates_by_presentation((times, node_ids), presentations=presentations, n_nodes=12)
    ax = plot_rate_heatmap(rates, labels=presentations["label"])
    image = ax.images[0].get_array()
    assert image.shape == (6, 12)
    order = np.argsort(presentations["label"], kind="stable")  # 2, 2, 7, 7, 9, 9
    np.testing.assert_array_equal(image, rates.magnitude[order])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["2", "7", "9"]
    colorbar_axes = ax.images[0].colorbar.ax
    assert colorbar_axes.get_ylabel() == "rate (Hz)"
    # Rates in 1/s are the same thing as Hz and are shown unchanged.
    ax2 = plot_rate_heatmap(rates.rescale(1 / pq.s))
    np.testing.assert_allclose(ax2.images[0].get_array(), rates.magnitude)
    assert ax2.get_ylabel() == "presentation"


def test_rate_heatmap_marks_forward_and_target_rows(session):
    times, node_ids, presentations = session
    rates = rates_by_presentation((times, node_ids), presentations=presentations, n_nodes=12)
    ax = plot_rate_heatmap(rates, labels=presentations["label"], phases=presentations["phase"])
    # by label, then phase: 2 fwd, 2 tgt, 7 fwd, 7 tgt, 9 fwd, 9 tgt
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "2 fwd", "2 tgt", "7 fwd", "7 tgt", "9 fwd", "9 tgt"]
    np.testing.assert_array_equal(ax.get_yticks(), np.arange(6))
    np.testing.assert_array_equal(ax.images[0].get_array(), rates.magnitude[[2, 3, 0, 1, 4, 5]])
    assert "fwd = forward" in ax.get_ylabel() and "tgt = target" in ax.get_ylabel()
    separators = [(line.get_ydata()[0], line.get_linestyle()) for line in ax.lines]
    assert separators == [(0.5, ":"), (1.5, "-"), (2.5, ":"), (3.5, "-"), (4.5, ":")]


def test_rate_heatmap_groups_phases_of_many_presentations_per_label():
    labels = np.array([3, 3, 1, 1, 3, 3])
    phases = np.array(["forward", "target"] * 3)
    rates = np.arange(12.0).reshape(6, 2)
    ax = plot_rate_heatmap(rates, labels=labels, phases=phases)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1 fwd", "1 tgt", "3 fwd", "3 tgt"]
    np.testing.assert_array_equal(ax.get_yticks(), [0, 1, 2.5, 4.5])
    np.testing.assert_array_equal(ax.images[0].get_array(), rates[[2, 3, 0, 4, 1, 5]])


def test_rate_heatmap_of_one_phase_ticks_labels_only(session):
    times, node_ids, presentations = session
    rates = rates_by_presentation((times, node_ids), presentations=presentations, n_nodes=12)
    ax = plot_rate_heatmap(rates, labels=presentations["label"], phases=["test"] * 6)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["2", "7", "9"]
    assert ax.get_ylabel() == "presentation, grouped by label"


def test_psth_plot_draws_the_histogram(session):
    times, node_ids, _ = session
    rate, edges = psth((times, node_ids), bin_ms=25.0, t_start=0.0, t_stop=300.0, n_nodes=12)
    ax = plot_psth(rate, edges)
    steps = ax.patches[0]
    np.testing.assert_allclose(steps.get_data().values, rate.magnitude)
    np.testing.assert_allclose(steps.get_data().edges, edges.magnitude)
    assert "(ms)" in ax.get_xlabel() and "(Hz)" in ax.get_ylabel()
    assert ax.get_ylabel().endswith(", 25 ms bins")  # the bin width is on the axis
    # Total spikes are recovered from the drawn rates: rate * n_nodes * bin width (s).
    assert steps.get_data().values.sum() * 12 * 0.025 == pytest.approx(times.size)


def test_isi_histogram_plot(session):
    times, node_ids, _ = session
    counts, edges = isi_histogram((times, node_ids), bin_ms=5.0, max_ms=100.0,
                                  t_start=0.0, t_stop=300.0, n_nodes=12)
    ax = plot_isi_histogram(counts, edges, log=True)
    np.testing.assert_allclose(ax.patches[0].get_data().values, counts.magnitude)
    assert ax.get_yscale() == "log"
    assert "(ms)" in ax.get_xlabel()


@pytest.mark.parametrize("call, message", [
    (lambda: plot_raster(np.array([1.0, np.nan]), np.array([0, 1])), "NaN"),
    (lambda: plot_raster(np.array([1.0]), np.array([0, 1])), "equal length"),
    (lambda: plot_rate_heatmap(np.ones(5)), "2-D"),
    (lambda: plot_rate_heatmap(np.ones((2, 3)), labels=[1, 2, 3]), "one entry per row"),
    (lambda: plot_rate_heatmap(np.ones((2, 3)) * pq.ms), "units"),
    (lambda: plot_rate_heatmap(np.ones((2, 3)), labels=[1, 2], phases=["forward"]),
     "phases must have one entry per row"),
    (lambda: plot_rate_heatmap(np.ones((2, 3)), phases=["forward", "target"]), "pass labels"),
    (lambda: plot_psth(np.ones(3), np.arange(3)), "n_bins"),
])
def test_bad_plot_input_raises_one_clear_error(call, message):
    with pytest.raises(DendrinetError, match=message):
        call()
