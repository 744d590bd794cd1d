"""How a training run learned: learning curves, losses, angle to backprop, confusion.

Every function takes a :class:`dendrinet.training.run_folder.Run` or the path of a run folder
(layout in ``docs/design.md``; opened by :mod:`~dendrinet.analysis.run_data`) and reads
only the file it needs through ``Run``: ``summary.json`` for the learning curves,
``history.npz`` for losses and angles, ``predictions.npz`` for the confusion matrix.
Errors come back in percent (``pq.percent``), angles in degrees (``pq.deg``).

>>> curves = learning_curves("runs/1hidden")               # doctest: +SKIP
>>> curves.test_error[-1]                                   # doctest: +SKIP
array(3.1) * %
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import quantities as pq

from dendrinet.analysis.run_data import (
    check_hidden_layer, epoch_means, hidden_layers, history_column, open_run, read_history,
)
from dendrinet.errors import DendrinetError, RunError

__all__ = [
    "LearningCurves", "learning_curves", "LossHistory", "losses",
    "AngleHistory", "backprop_angles", "running_mean", "confusion_matrix", "per_class_error",
    "format_percent",
]


def format_percent(fraction: float, digits: int = 2) -> str:
    """An error fraction written as a percentage, e.g. ``0.0312 -> "3.12%"``.

    The report and its tests use this one function, so a number in ``summary.md``
    can be compared with ``summary.json`` character for character.
    """
    if fraction is None or not np.isfinite(fraction):
        return "n/a"
    return f"{100.0 * float(fraction):.{digits}f}%"


# ------------------------------------------------------------------ curves
@dataclass(frozen=True)
class LearningCurves:
    """Train and test error per epoch of one run.

    Attributes
    ----------
    name : str
        The run folder's name (used as the plot label).
    epoch : ndarray of int, shape (n_epochs,)
        Epoch numbers, from 1.
    train_error, test_error : pq.Quantity, shape (n_epochs,), percent
        Training error scored online during the epoch (forward-phase predictions
        while the weights were still learning, so it mixes the epoch's weights) and
        test error of the weights at the end of the epoch.
    ms_per_train_example : pq.Quantity, shape (n_epochs,), ms
        Wall-clock training time per example.
    model, dataset : str
        The run's model and data set names ("" when unknown).
    """

    name: str
    epoch: np.ndarray
    train_error: pq.Quantity
    test_error: pq.Quantity
    ms_per_train_example: pq.Quantity
    model: str = ""
    dataset: str = ""


def learning_curves(run) -> LearningCurves:
    """Learning curves from ``summary.json``.

    Parameters
    ----------
    run : Run or path
        The run (an unfinished run gives its finished epochs).

    Returns
    -------
    LearningCurves
        Errors in percent, equal to ``100 *`` the fractions in ``summary.json``.
    """
    run = open_run(run)
    epochs = run.summary.epochs
    if not epochs:
        raise RunError(f"{run.path}: the run has no finished epoch yet")
    return LearningCurves(
        name=run.path.name,
        epoch=np.array([e.epoch for e in epochs], dtype=np.int64),
        train_error=pq.Quantity([100.0 * e.train_error for e in epochs], pq.percent),
        test_error=pq.Quantity([100.0 * e.test_error for e in epochs], pq.percent),
        ms_per_train_example=pq.Quantity([e.ms_per_train_example for e in epochs], pq.ms),
        model=str(run.summary.model or ""), dataset=str(run.summary.dataset or ""))


# ------------------------------------------------------------------ losses
@dataclass(frozen=True)
class LossHistory:
    """Loss of every layer for every training example, and its mean per epoch.

    Attributes
    ----------
    epoch : ndarray of int, shape (n_examples,)
        Epoch of each training example (all epochs concatenated, in training order).
    per_example : dict of str -> ndarray, shape (n_examples,)
        ``"output"`` and ``"hidden_<l>"``: the engine's loss of that layer
        (dimensionless; squared rate or plateau differences).
    epochs : ndarray of int, shape (n_epochs,)
    per_epoch : dict of str -> ndarray, shape (n_epochs,)
        Mean of ``per_example`` over each epoch (NaN values ignored).
    """

    epoch: np.ndarray
    per_example: dict
    epochs: np.ndarray
    per_epoch: dict


def losses(run) -> LossHistory:
    """Loss per layer over training, from ``history.npz``.

    Parameters
    ----------
    run : Run or path

    Returns
    -------
    LossHistory
    """
    run = open_run(run)
    history = read_history(run)
    epoch = np.asarray(history["epoch"], dtype=np.int64)
    names = {"output": "loss_out"}
    names.update({f"hidden_{l}": f"loss_hidden_{l}" for l in range(hidden_layers(run))})
    per_example = {name: history_column(run, history, key) for name, key in names.items()}
    per_epoch = {}
    epochs = np.unique(epoch)
    for name, values in per_example.items():
        epochs, per_epoch[name] = epoch_means(epoch, values)
    return LossHistory(epoch, per_example, epochs, per_epoch)


# ------------------------------------------------------------------ angles
def running_mean(values, window: int) -> np.ndarray:
    """Trailing mean over the last ``window`` finite values up to each index.

    Parameters
    ----------
    values : array_like, shape (n,)
        May contain NaN (skipped: an example whose update is zero has no angle).
    window : int
        Number of examples averaged (fewer at the start).

    Returns
    -------
    ndarray, shape (n,)
        NaN where the window holds no finite value.
    """
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise DendrinetError(f"window must be a positive integer, got {window!r}")
    values = np.asarray(values, dtype=np.float64)
    valid = np.isfinite(values)
    sums = np.concatenate([[0.0], np.cumsum(np.where(valid, values, 0.0))])
    counts = np.concatenate([[0], np.cumsum(valid)])
    hi = np.arange(1, values.size + 1)
    lo = np.maximum(hi - int(window), 0)
    n = counts[hi] - counts[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (sums[hi] - sums[lo]) / np.maximum(n, 1), np.nan)


@dataclass(frozen=True)
class AngleHistory:
    """Angle between the hidden-layer update and backprop's, per training example.

    Attributes
    ----------
    layer : int
        Hidden layer.
    epoch : ndarray of int, shape (n_examples,)
    angle : pq.Quantity, shape (n_examples,), deg
        In [0, 180]; NaN where either update is zero.
    running_mean : pq.Quantity, shape (n_examples,), deg
        Trailing mean over ``window`` examples.
    window : int
    epochs : ndarray of int, shape (n_epochs,)
    epoch_mean : pq.Quantity, shape (n_epochs,), deg
    """

    layer: int
    epoch: np.ndarray
    angle: pq.Quantity
    running_mean: pq.Quantity
    window: int
    epochs: np.ndarray
    epoch_mean: pq.Quantity


def backprop_angles(run, layer: int = 0, window: int = 100) -> AngleHistory:
    """Angle between the rule's hidden update and backprop's, over training.

    Parameters
    ----------
    run : Run or path
    layer : int
        Hidden layer (0 = the lowest).
    window : int
        Examples in the running mean.

    Returns
    -------
    AngleHistory
        Angles in degrees; 90 deg means no alignment, below 90 the rule descends the
        loss on average.
    """
    run = open_run(run)
    layer = check_hidden_layer(run, layer)
    history = read_history(run)
    angle = history_column(run, history, f"angle_{layer}")
    epoch = np.asarray(history["epoch"], dtype=np.int64)
    epochs, means = epoch_means(epoch, angle)
    return AngleHistory(layer, epoch, pq.Quantity(angle, pq.deg),
                        pq.Quantity(running_mean(angle, window), pq.deg), int(window),
                        epochs, pq.Quantity(means, pq.deg))


# --------------------------------------------------------------- confusion
def _labels(values, name: str) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 1:
        raise DendrinetError(f"{name} must be a 1-D array of class labels, "
                             f"got shape {values.shape}")
    if values.size and not np.issubdtype(values.dtype, np.integer):
        if not (np.issubdtype(values.dtype, np.floating) and np.isfinite(values).all()
                and (values == np.round(values)).all()):
            raise DendrinetError(f"{name} must be integer class labels, got dtype {values.dtype}")
    values = values.astype(np.int64)
    if values.size and values.min() < 0:
        raise DendrinetError(f"{name} must be non-negative class labels, got {values.min()}")
    return values


def confusion_matrix(run_or_y_true, y_pred=None, *, n_classes: int | None = None) -> np.ndarray:
    """Counts of test examples by true class (rows) and predicted class (columns).

    Parameters
    ----------
    run_or_y_true : Run, path or array of int
        A run (its ``predictions.npz``: the last evaluated epoch), or the true labels.
    y_pred : array of int, optional
        Predicted labels; required with true labels, refused with a run.
    n_classes : int, optional
        Number of classes (default: the run's output layer, or the largest label + 1).

    Returns
    -------
    ndarray of int64, shape (n_classes, n_classes)
        ``C[i, j]`` = number of examples of class ``i`` predicted as ``j``; the sum is
        the number of test examples and ``trace / sum`` the accuracy.
    """
    if isinstance(run_or_y_true, np.ndarray) or isinstance(run_or_y_true, (list, tuple)):
        if y_pred is None:
            raise DendrinetError("pass y_pred together with y_true")
        y_true = _labels(run_or_y_true, "y_true")
    else:
        if y_pred is not None:
            raise DendrinetError("y_pred is read from the run; do not pass it with a run")
        run = open_run(run_or_y_true)
        predictions = run.predictions()
        for key in ("y_true", "y_pred"):
            if key not in predictions:
                raise RunError(f"{run.path}: predictions have no {key!r} array")
        y_true, y_pred = predictions["y_true"], predictions["y_pred"]
        y_true = _labels(y_true, "y_true")
        if n_classes is None:
            sizes = run.info.get("layer_sizes")
            n_classes = int(sizes[-1]) if sizes else None
    y_pred = _labels(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise DendrinetError(f"y_true and y_pred differ in length ({y_true.size} vs {y_pred.size})")
    largest = int(max(y_true.max(initial=-1), y_pred.max(initial=-1))) + 1
    if n_classes is None:
        n_classes = largest
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) \
            or n_classes < 1:
        raise DendrinetError(f"n_classes must be a positive integer, got {n_classes!r}")
    if largest > n_classes:
        raise DendrinetError(f"labels go up to {largest - 1} but n_classes is {n_classes}")
    flat = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes).astype(np.int64)


def per_class_error(confusion) -> pq.Quantity:
    """Error of each true class from a confusion matrix.

    Parameters
    ----------
    confusion : array, shape (n_classes, n_classes)
        Rows are true classes (see :func:`confusion_matrix`).

    Returns
    -------
    pq.Quantity, shape (n_classes,), percent
        ``100 * (1 - C[i, i] / sum_j C[i, j])``; NaN for classes without examples.
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise DendrinetError(f"confusion must be a square matrix, got shape {confusion.shape}")
    totals = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        error = np.where(totals > 0, 100.0 * (1.0 - np.diag(confusion) / totals), np.nan)
    return pq.Quantity(error, pq.percent)
