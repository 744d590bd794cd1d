"""Matplotlib plots of training runs: learning curves, losses, angle to backprop,
plateau potentials, receptive fields, confusion matrix, weight statistics, feedback
alignment.

Each function draws the result of one analysis (:mod:`dendrinet.analysis.learning`,
:mod:`~dendrinet.analysis.plateaus`, :mod:`~dendrinet.analysis.learned_weights`)
into ``ax`` (a new figure when ``ax`` is None) and returns the Axes; grids return a
Figure. Axis labels carry units. Nothing here calls ``plt.show``.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np

from dendrinet.analysis.learned_weights import receptive_field_grid
from dendrinet.errors import DendrinetError

__all__ = [
    "TRAIN_ERROR_LABEL", "TEST_ERROR_LABEL", "EPOCH_BOUNDARY_LABEL",
    "plot_learning_curves", "plot_losses", "plot_backprop_angle", "plot_plateau_histograms",
    "plot_plateau_differences", "plot_receptive_fields", "plot_confusion_matrix",
    "plot_weight_statistics", "plot_feedback_alignment",
]


def _new_axes(ax, figsize):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _value(q) -> np.ndarray:
    return np.asarray(getattr(q, "magnitude", q), dtype=np.float64)


#: Legend text of the training error: it is scored while the weights learn, so it is
#: not comparable to a test error of fixed weights.
TRAIN_ERROR_LABEL = "training error (online, during learning)"
TEST_ERROR_LABEL = "test error"
#: Legend text of the dotted lines at the first example of each epoch.
EPOCH_BOUNDARY_LABEL = "epoch boundaries"


def plot_learning_curves(curves, ax=None, *, show_train: bool = True, labels=None):
    """Test (solid) and training (dashed) error per epoch, one colour per run.

    Parameters
    ----------
    curves : LearningCurves or list of LearningCurves
        From :func:`dendrinet.analysis.learning.learning_curves`.
    ax : matplotlib Axes, optional
    show_train : bool
        Also draw the training errors. They are scored online, on the forward-phase
        predictions while the weights learn, and the legend says so
        (``TRAIN_ERROR_LABEL``).
    labels : list of str, optional
        Legend name of each run (default the run names).

    Returns
    -------
    matplotlib.axes.Axes
        Legend entries ``"<name>: test error"`` and, with ``show_train``,
        ``"<name>: training error (online, during learning)"``.
    """
    if not isinstance(curves, (list, tuple)):
        curves = [curves]
    if not curves:
        raise DendrinetError("no learning curves to plot")
    if labels is None:
        labels = [c.name for c in curves]
    elif len(labels) != len(curves):
        raise DendrinetError(f"{len(labels)} labels for {len(curves)} learning curves")
    ax = _new_axes(ax, (6, 4))
    for i, (c, name) in enumerate(zip(curves, labels)):
        colour = plt.cm.tab10(i % 10)
        ax.plot(c.epoch, _value(c.test_error), "o-", color=colour,
                label=f"{name}: {TEST_ERROR_LABEL}")
        if show_train:
            ax.plot(c.epoch, _value(c.train_error), "s--", color=colour, alpha=0.7, ms=4,
                    label=f"{name}: {TRAIN_ERROR_LABEL}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("error (%)")
    ax.set_ylim(bottom=0)
    epochs = np.unique(np.concatenate([c.epoch for c in curves]))
    if epochs.size <= 20:
        ax.set_xticks(epochs)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def plot_losses(loss_history, ax=None, *, log: bool = True):
    """Mean loss of every layer per epoch.

    Parameters
    ----------
    loss_history : LossHistory
        From :func:`dendrinet.analysis.learning.losses`.
    ax : matplotlib Axes, optional
    log : bool
        Logarithmic loss axis (used only when every mean is positive).

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _new_axes(ax, (6, 4))
    positive = True
    for name, values in loss_history.per_epoch.items():
        ax.plot(loss_history.epochs, values, "o-", label=name)
        positive &= bool(np.all(values[np.isfinite(values)] > 0))
    if log and positive:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean loss per example (dimensionless)")
    if loss_history.epochs.size <= 20:
        ax.set_xticks(loss_history.epochs)
    ax.grid(alpha=0.3)
    ax.legend(title="layer", fontsize="small")
    return ax


def _epoch_boundaries(ax, epoch: np.ndarray) -> None:
    starts = np.flatnonzero(np.r_[False, epoch[1:] != epoch[:-1]])
    for k, start in enumerate(starts):
        ax.axvline(start, color="0.5", lw=0.8, ls=":",
                   label=EPOCH_BOUNDARY_LABEL if k == 0 else None)


def plot_backprop_angle(angles, ax=None):
    """Angle between the hidden update and backprop's, per example and running mean.

    Parameters
    ----------
    angles : AngleHistory
        From :func:`dendrinet.analysis.learning.backprop_angles`.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Dots: single examples; line: running mean; dashed: 90 deg (orthogonal);
        dotted verticals: epoch starts. The legend names each of them.
    """
    ax = _new_axes(ax, (7, 4))
    angle = _value(angles.angle)
    x = np.arange(angle.size)
    ax.plot(x, angle, ".", ms=1.5, color="0.65", alpha=0.5, rasterized=angle.size > 5000,
            label="single examples")
    ax.plot(x, _value(angles.running_mean), color="tab:red", lw=1.5,
            label=f"running mean ({angles.window} examples)")
    ax.axhline(90.0, color="black", lw=0.8, ls="--", label="90 deg (orthogonal)")
    _epoch_boundaries(ax, np.asarray(angles.epoch))
    ax.set_xlim(0, max(angle.size - 1, 1))
    ax.set_ylim(0, 180)
    ax.set_yticks([0, 45, 90, 135, 180])
    ax.set_xlabel("training example (all epochs)")
    ax.set_ylabel(f"angle to backprop, hidden layer {angles.layer} (deg)")
    ax.legend(fontsize="small", loc="upper right", markerscale=4)
    return ax


def _epoch_choice(plateaus, epochs):
    available = np.unique(plateaus.sample_epoch)
    if available.size == 0:
        raise DendrinetError(f"hidden layer {plateaus.layer}: no sampled plateau vectors")
    if epochs is None:
        epochs = [available[0]] if available.size == 1 else [available[0], available[-1]]
    missing = sorted(set(int(e) for e in epochs) - set(available.tolist()))
    if missing:
        raise DendrinetError(f"no sampled plateau vectors in epoch(s) {missing}; sampled "
                             f"epochs are {available.tolist()}")
    return [int(e) for e in epochs]


def plot_plateau_histograms(plateaus, ax=None, *, epoch: int | None = None, bins: int = 40):
    """Histograms of the forward- and target-phase plateau potentials.

    Parameters
    ----------
    plateaus : PlateauDistributions
        From :func:`dendrinet.analysis.plateaus.plateau_distributions`.
    ax : matplotlib Axes, optional
    epoch : int, optional
        Epoch whose sampled vectors are shown (default the last).
    bins : int

    Returns
    -------
    matplotlib.axes.Axes
    """
    (epoch,) = _epoch_choice(plateaus, None if epoch is None else [epoch])[-1:]
    ax = _new_axes(ax, (6, 4))
    mask = plateaus.samples_of_epoch(epoch)
    edges = np.linspace(0.0, 1.0, bins + 1)
    for values, label, colour in ((plateaus.alpha_f[mask], r"$\alpha^f$ (forward)", "tab:blue"),
                                  (plateaus.alpha_t[mask], r"$\alpha^t$ (target)", "tab:orange")):
        ax.hist(values.ravel(), edges, density=True, histtype="stepfilled", alpha=0.45,
                color=colour, label=label)
    ax.set_xlabel(f"plateau potential, hidden layer {plateaus.layer} (dimensionless)")
    ax.set_ylabel("probability density")
    ax.set_title(f"epoch {epoch}: {int(mask.sum())} sampled examples", fontsize="medium")
    ax.legend(fontsize="small")
    return ax


def plot_plateau_differences(plateaus, ax=None, *, epochs=None, bins: int = 60):
    """Distribution of ``alpha_t - alpha_f`` in chosen epochs (default first and last).

    Parameters
    ----------
    plateaus : PlateauDistributions
    ax : matplotlib Axes, optional
    epochs : list of int, optional
    bins : int

    Returns
    -------
    matplotlib.axes.Axes
        The s.d. over all neurons and examples of each epoch is in the legend.
    """
    epochs = _epoch_choice(plateaus, epochs)
    ax = _new_axes(ax, (6, 4))
    differences = plateaus.difference
    limit = float(np.nanmax(np.abs(differences))) if differences.size else 1.0
    edges = np.linspace(-limit, limit, bins + 1) if limit > 0 else np.linspace(-1, 1, bins + 1)
    sd = dict(zip(plateaus.epochs.tolist(), plateaus.epoch_diff_sd.tolist()))
    for i, epoch in enumerate(epochs):
        values = differences[plateaus.samples_of_epoch(epoch)].ravel()
        ax.hist(values, edges, density=True, histtype="step", lw=1.6,
                color=plt.cm.viridis(i / max(len(epochs) - 1, 1) * 0.85),
                label=f"epoch {epoch} (s.d. {sd.get(epoch, np.nan):.3g})")
    ax.axvline(0.0, color="black", lw=0.7, ls="--")
    ax.set_xlabel(r"$\alpha^t - \alpha^f$, hidden layer " + f"{plateaus.layer} (dimensionless)")
    ax.set_ylabel("probability density")
    ax.legend(fontsize="small")
    return ax


def plot_receptive_fields(fields, *, n_cols: int | None = None, title: str | None = None,
                          cmap: str = "RdBu_r"):
    """Receptive fields as a grid of images with a shared, zero-centred colour scale.

    Parameters
    ----------
    fields : ndarray, shape (n_units, height, width)
        From :func:`dendrinet.analysis.learned_weights.receptive_fields`. Each field is
        shown minus its mean, so that the pattern, not the offset, is visible. Fields of
        height 1 (features that are not an image, e.g. a table's columns) are drawn as one
        matrix, a row per neuron and a column per feature.
    n_cols : int, optional
        Fields per row.
    title : str, optional
    cmap : str
        Diverging colormap.

    Returns
    -------
    matplotlib.figure.Figure
        One image (``fig.axes[0].images[0]``) holding
        :func:`~dendrinet.analysis.learned_weights.receptive_field_grid` (fields of height
        1: the ``(n_units, width)`` matrix).
    """
    fields = np.asarray(fields, dtype=np.float64)
    if fields.ndim != 3:
        raise DendrinetError(f"fields must be (n_units, height, width), got shape {fields.shape}")
    centred = fields - fields.mean(axis=(1, 2), keepdims=True)
    rows = fields.shape[1] == 1  # features without an image: one row per neuron
    grid = centred[:, 0, :] if rows else receptive_field_grid(centred, n_cols)
    limit = float(np.nanmax(np.abs(grid))) or 1.0
    height = 6.0 * grid.shape[0] / grid.shape[1]  # of the image, for a width of 6 inches
    if rows:  # a neuron x feature matrix is stretched to fit: 2.5 to 8.8 inches
        height = max(min(height, 8.0), 1.7)
    fig, ax = plt.subplots(figsize=(6.8, height + 0.8), layout="constrained")
    image = ax.imshow(grid, cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest",
                      aspect="auto" if rows else "equal")
    if rows:
        ax.set_xlabel("feature")
        ax.set_ylabel("neuron")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(image, ax=ax, shrink=0.8, label="weight minus its field's mean (dimensionless)")
    if title:
        ax.set_title(title, fontsize="medium")
    return fig


def plot_confusion_matrix(confusion, ax=None, *, normalise: bool = True, annotate: bool = True,
                          class_names=None):
    """Confusion matrix, rows normalised to the fraction of each true class.

    Parameters
    ----------
    confusion : array, shape (n_classes, n_classes)
        Counts, rows true classes (see :func:`~dendrinet.analysis.learning.confusion_matrix`).
    ax : matplotlib Axes, optional
    normalise : bool
        Show each row divided by its sum (in percent).
    annotate : bool
        Write the value in every cell (up to 30 classes), zeros included, so a
        blank cell never stands for zero. Percentages are rounded to whole numbers;
        a cell with examples that would round to 0 (or 100) reads ``"<1"``
        (``">99"``), so ``"0"`` always means no example.
    class_names : list of str, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    counts = np.asarray(confusion, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise DendrinetError(f"confusion must be a square matrix, got shape {counts.shape}")
    n = counts.shape[0]
    names = [str(k) for k in range(n)] if class_names is None else [str(c) for c in class_names]
    if len(names) != n:
        raise DendrinetError(f"{len(names)} class names for {n} classes")
    if normalise:
        totals = counts.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(totals > 0, 100.0 * counts / np.maximum(totals, 1), 0.0)
        label, vmax = "examples of the true class (%)", 100.0
    else:
        values, label, vmax = counts, "examples", max(counts.max(), 1.0)
    ax = _new_axes(ax, (6, 5))
    image = ax.imshow(values, cmap="Blues", vmin=0, vmax=vmax, interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, label=label)
    ax.set_xticks(range(n), names)
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if annotate and n <= 30:
        for i in range(n):
            for j in range(n):
                text = (_percent_text(values[i, j], counts[i, j]) if normalise
                        else f"{int(counts[i, j])}")
                ax.text(j, i, text, ha="center", va="center", fontsize=7 if n > 12 else 8,
                        color="white" if values[i, j] > 0.6 * vmax else "black")
    return ax


def _percent_text(percent: float, count: float) -> str:
    """A cell's whole-number percentage; never "0" or "100" unless exactly so."""
    if count > 0 and percent < 0.5:
        return "<1"
    if percent < 100.0 and percent >= 99.5:
        return ">99"
    return f"{percent:.0f}"


def plot_weight_statistics(stats, ax=None, *, statistic: str = "norm", names=None):
    """One statistic of the parameter arrays per epoch (epoch 0 = initial).

    Parameters
    ----------
    stats : WeightStatistics
        From :func:`dendrinet.analysis.learned_weights.weight_statistics`.
    ax : matplotlib Axes, optional
    statistic : {"mean", "sd", "norm"}
    names : list of str, optional
        Arrays to draw (default all ``W`` and ``Y``).

    Returns
    -------
    matplotlib.axes.Axes
    """
    titles = {"mean": "mean", "sd": "s.d.", "norm": "Frobenius norm"}
    if statistic not in titles:
        raise DendrinetError(f"statistic must be one of {sorted(titles)}, got {statistic!r}")
    table = getattr(stats, statistic)
    if names is None:
        names = [n for n in table if n[0] in "WY"]
    ax = _new_axes(ax, (5, 4))
    for name in names:
        if name not in table:
            raise DendrinetError(f"no statistics for {name!r}; available: {sorted(table)}")
        style = "--" if name.startswith("Y") else "-"
        ax.plot(stats.epochs, table[name], style, marker="o", ms=3, label=name)
    ax.set_xlabel("epoch (0 = initial)")
    ax.set_ylabel(f"weight {titles[statistic]} (dimensionless)")
    if stats.epochs.size <= 20:
        ax.set_xticks(stats.epochs)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def plot_feedback_alignment(alignment, ax=None):
    """Angle between each hidden layer's feedback ``Y^T`` and the forward weights above.

    Parameters
    ----------
    alignment : FeedbackAlignment
        From :func:`dendrinet.analysis.learned_weights.feedback_alignment`.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _new_axes(ax, (5, 4))
    for layer, angle in alignment.angle.items():
        ax.plot(alignment.epochs, _value(angle), "o-", label=f"hidden layer {layer}")
    ax.axhline(90.0, color="black", lw=0.8, ls="--")
    ax.set_xlabel("epoch (0 = initial)")
    ax.set_ylabel(r"angle between $Y^T$ and the $W$ above (deg)")
    ax.set_ylim(0, 180)
    ax.set_yticks([0, 45, 90, 135, 180])
    if alignment.epochs.size <= 20:
        ax.set_xticks(alignment.epochs)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax
