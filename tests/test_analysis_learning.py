"""Training analyses on a small real run: every number traced back to the run's files."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import quantities as pq  # noqa: E402

from dendrinet.analysis.learning import (  # noqa: E402
    backprop_angles, confusion_matrix, format_percent, learning_curves, losses, per_class_error,
    running_mean,
)
from dendrinet.analysis.learning_plots import (  # noqa: E402
    EPOCH_BOUNDARY_LABEL, TRAIN_ERROR_LABEL, plot_backprop_angle, plot_confusion_matrix,
    plot_learning_curves, plot_losses,
)
from dendrinet.analysis.run_data import hidden_layers, open_run  # noqa: E402
from dendrinet.errors import DendrinetError, RunError  # noqa: E402
from small_run import EPOCHS, summary_json, unfinished_copy  # noqa: E402


pytestmark = pytest.mark.usefixtures("close_figures")  # run_dir comes from conftest.py


def _history(run_dir):
    with np.load(run_dir / "history.npz") as data:
        return {k: data[k] for k in data.files}


def test_learning_curves_equal_summary_json(run_dir):
    info = summary_json(run_dir)
    curves = learning_curves(run_dir)
    assert curves.name == run_dir.name
    np.testing.assert_array_equal(curves.epoch, np.arange(1, EPOCHS + 1))
    assert curves.test_error.units == pq.percent
    np.testing.assert_allclose(curves.test_error.magnitude,
                               [100 * e["test_error"] for e in info["epochs"]], rtol=1e-12)
    np.testing.assert_allclose(curves.train_error.magnitude,
                               [100 * e["train_error"] for e in info["epochs"]], rtol=1e-12)
    np.testing.assert_allclose(curves.ms_per_train_example.magnitude,
                               [e["ms_per_train_example"] for e in info["epochs"]])


def test_confusion_matrix_counts_the_test_set_and_matches_the_test_error(run_dir):
    info = summary_json(run_dir)
    confusion = confusion_matrix(run_dir)
    assert confusion.shape == (10, 10)
    assert confusion.sum() == info["dataset"]["n_test"]
    assert np.trace(confusion) / confusion.sum() == pytest.approx(
        1 - info["final_test_error"], abs=1e-12)
    with np.load(run_dir / "predictions.npz") as p:
        y_true, y_pred = p["y_true"], p["y_pred"]
    np.testing.assert_array_equal(confusion.sum(axis=1), np.bincount(y_true, minlength=10))
    np.testing.assert_array_equal(confusion.sum(axis=0), np.bincount(y_pred, minlength=10))


def test_per_class_error_weighted_by_class_size_is_the_test_error(run_dir):
    info = summary_json(run_dir)
    confusion = confusion_matrix(run_dir)
    errors = per_class_error(confusion)
    assert errors.units == pq.percent
    sizes = confusion.sum(axis=1)
    assert np.average(errors.magnitude, weights=sizes) == pytest.approx(
        100 * info["final_test_error"], rel=1e-12)


def test_confusion_matrix_of_labels_and_its_errors():
    confusion = confusion_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 0, 2]),
                                 n_classes=4)
    expected = np.zeros((4, 4), int)
    for t, p in [(0, 0), (0, 1), (1, 1), (2, 2), (2, 0), (2, 2)]:
        expected[t, p] += 1
    np.testing.assert_array_equal(confusion, expected)
    errors = per_class_error(confusion).magnitude
    np.testing.assert_allclose(errors[:3], [50.0, 0.0, 100.0 / 3])
    assert np.isnan(errors[3])  # class without examples
    with pytest.raises(DendrinetError, match="differ in length"):
        confusion_matrix(np.array([0, 1]), np.array([0]))
    with pytest.raises(DendrinetError, match="non-negative"):
        confusion_matrix(np.array([0, -1]), np.array([0, 0]))
    with pytest.raises(DendrinetError, match="n_classes is 2"):
        confusion_matrix(np.array([0, 2]), np.array([0, 0]), n_classes=2)
    with pytest.raises(DendrinetError, match="pass y_pred"):
        confusion_matrix(np.array([0, 1]))


def test_losses_per_epoch_are_the_means_of_the_history(run_dir):
    history = _history(run_dir)
    result = losses(run_dir)
    assert set(result.per_example) == {"output", "hidden_0"}
    np.testing.assert_array_equal(result.epochs, np.arange(1, EPOCHS + 1))
    for name, key in (("output", "loss_out"), ("hidden_0", "loss_hidden_0")):
        np.testing.assert_array_equal(result.per_example[name], history[key])
        for i, epoch in enumerate(result.epochs):
            values = history[key][history["epoch"] == epoch]
            assert result.per_epoch[name][i] == pytest.approx(np.nanmean(values), rel=1e-12)


def test_backprop_angles_and_running_mean(run_dir):
    history = _history(run_dir)
    angles = backprop_angles(run_dir, layer=0, window=50)
    assert angles.angle.units == pq.deg
    np.testing.assert_array_equal(angles.angle.magnitude, history["angle_0"])
    finite = angles.angle.magnitude[np.isfinite(angles.angle.magnitude)]
    assert finite.size > 0 and finite.min() >= 0 and finite.max() <= 180
    for i, epoch in enumerate(angles.epochs):
        assert angles.epoch_mean.magnitude[i] == pytest.approx(
            np.nanmean(history["angle_0"][history["epoch"] == epoch]), rel=1e-12)
    k = 200  # any index: the trailing mean of the last 50 finite angles
    window = history["angle_0"][k - 49:k + 1]
    assert angles.running_mean.magnitude[k] == pytest.approx(np.nanmean(window), rel=1e-12)
    with pytest.raises(DendrinetError, match=r"hidden layer must be an integer in \[0, 1\)"):
        backprop_angles(run_dir, layer=1)


def test_running_mean_skips_nan_and_shortens_at_the_start():
    values = np.array([0.0, 10.0, np.nan, 20.0, 30.0])
    np.testing.assert_allclose(running_mean(values, 2), [0.0, 5.0, 10.0, 20.0, 25.0])
    np.testing.assert_allclose(running_mean(values, 1)[[0, 1, 3]], [0.0, 10.0, 20.0])
    assert np.isnan(running_mean(values, 1)[2])
    with pytest.raises(DendrinetError, match="window"):
        running_mean(values, 0)


def test_format_percent_matches_summary_formatting():
    assert format_percent(0.0312) == "3.12%"
    assert format_percent(0.5) == "50.00%"
    assert format_percent(float("nan")) == "n/a"


def test_unfinished_and_missing_runs(run_dir, tmp_path):
    unfinished = unfinished_copy(run_dir, tmp_path / "unfinished")
    with pytest.raises(RunError, match="unfinished"):
        open_run(unfinished, allow_unfinished=False)
    assert hidden_layers(open_run(unfinished)) == 1  # analyses accept it by default
    with pytest.raises(RunError, match="not found"):
        learning_curves(tmp_path / "nowhere")
    with pytest.raises(DendrinetError, match="run folder or a Run"):
        learning_curves(42)


def test_plots_draw_the_analysed_numbers(run_dir):
    curves = learning_curves(run_dir)
    other = learning_curves(run_dir)
    ax = plot_learning_curves([curves, other])
    assert len(ax.lines) == 4  # test and train line per run
    np.testing.assert_allclose(ax.lines[0].get_ydata(), curves.test_error.magnitude)
    np.testing.assert_allclose(ax.lines[1].get_ydata(), curves.train_error.magnitude)
    assert "(%)" in ax.get_ylabel()

    angles = backprop_angles(run_dir)
    ax = plot_backprop_angle(angles)
    np.testing.assert_allclose(ax.lines[1].get_ydata(), angles.running_mean.magnitude)
    assert "(deg)" in ax.get_ylabel()

    result = losses(run_dir)
    ax = plot_losses(result)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), result.per_epoch["output"])

    confusion = confusion_matrix(run_dir)
    ax = plot_confusion_matrix(confusion)
    image = ax.images[0].get_array()
    rows = confusion.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(image, 100 * confusion / rows)
    texts = {(t.get_position()): t.get_text() for t in ax.texts}
    i, j = np.unravel_index(np.argmax(confusion), confusion.shape)
    assert texts[(j, i)] == f"{100 * confusion[i, j] / rows[i, 0]:.0f}"


def test_learning_curves_say_the_training_error_is_scored_online(run_dir):
    curves = learning_curves(run_dir)
    assert (curves.model, curves.dataset) == ("guerguiev2017-1hidden", "digits")
    ax = plot_learning_curves(curves)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        f"{run_dir.name}: test error",
        f"{run_dir.name}: training error (online, during learning)"]
    assert TRAIN_ERROR_LABEL == "training error (online, during learning)"
    ax = plot_learning_curves([curves, curves], show_train=False, labels=["a", "b"])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a: test error",
                                                                  "b: test error"]
    with pytest.raises(DendrinetError, match="1 labels for 2"):
        plot_learning_curves([curves, curves], labels=["a"])


def test_backprop_angle_legend_names_the_epoch_boundaries(run_dir):
    angles = backprop_angles(run_dir)
    ax = plot_backprop_angle(angles)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert EPOCH_BOUNDARY_LABEL == "epoch boundaries"
    assert legend == ["single examples", "running mean (100 examples)", "90 deg (orthogonal)",
                      "epoch boundaries"]
    dotted = [line for line in ax.lines if line.get_linestyle() == ":"]
    starts = np.flatnonzero(np.diff(angles.epoch)) + 1  # first example of epochs 2, 3, ...
    assert len(starts) == EPOCHS - 1
    np.testing.assert_array_equal([line.get_xdata()[0] for line in dotted], starts)
    # one legend entry for all of them
    assert [line.get_label() for line in dotted if not line.get_label().startswith("_")] \
        == [EPOCH_BOUNDARY_LABEL]


def _cell_texts(ax, n):
    texts = {tuple(int(v) for v in t.get_position()): t.get_text() for t in ax.texts}
    assert len(ax.texts) == n * n  # every cell written, none blank
    return np.array([[texts[(j, i)] for j in range(n)] for i in range(n)])


def test_confusion_matrix_annotates_every_cell_and_zero_means_no_example(run_dir):
    confusion = confusion_matrix(run_dir)
    texts = _cell_texts(plot_confusion_matrix(confusion), 10)
    assert (texts[confusion == 0] == "0").all()
    assert "0" not in texts[confusion > 0]
    # rounding: 1 of 300 is "<1", 299 of 300 is ">99", never "0" or "100"
    counts = np.array([[299, 1, 0], [0, 3, 0], [150, 0, 150]])
    texts = _cell_texts(plot_confusion_matrix(counts), 3)
    assert texts.tolist() == [[">99", "<1", "0"], ["0", "100", "0"], ["50", "0", "50"]]
    texts = _cell_texts(plot_confusion_matrix(counts, normalise=False), 3)
    assert texts.tolist() == [["299", "1", "0"], ["0", "3", "0"], ["150", "0", "150"]]
