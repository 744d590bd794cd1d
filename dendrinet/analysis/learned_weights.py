"""Learned weights of a run over training: receptive fields, statistics per epoch,
feedback alignment.

Weights are read one epoch at a time from ``weights/epoch_NNN.npz`` through
:class:`dendrinet.training.run_folder.Run` (``epoch_000`` holds the initial parameters).
Layouts follow ``docs/design.md``: ``W_l`` is ``(n_pre, n_post)`` (input-major),
``Y_l`` is ``(n_outputs, n_hidden_l)``. Weights are dimensionless.

Feedback alignment: the feedback ``Y_l`` that backprop would use is the transpose of
the product of the feedforward weights above hidden layer ``l``
(:func:`dendrinet.model.weights.symmetric_feedback`; for the top hidden layer simply
``W_out^T``). :func:`alignment_angle` measures the angle between the two.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import quantities as pq

from dendrinet.analysis.run_data import open_run
from dendrinet.datasets.input_coding import InputCoding
from dendrinet.errors import DendrinetError, RunError

__all__ = [
    "receptive_fields", "receptive_field_grid", "WeightStatistics", "weight_statistics",
    "alignment_angle", "FeedbackAlignment", "feedback_alignment",
]


# --------------------------------------------------------- receptive fields
def _image_shape(run) -> tuple[int, int]:
    shape = run.info.get("dataset", {}).get("image_shape")
    if shape is None:  # older summaries: ask the data set registry
        from dendrinet.datasets import load_dataset
        shape = load_dataset(run.summary.dataset, n_train=1, n_test=1).image_shape
    return tuple(int(v) for v in shape)


def receptive_fields(source, *, epoch: int | None = None, image_shape=None, units=None,
                     ) -> np.ndarray:
    """Input weights of first-layer neurons, reshaped to images.

    A run's weights are shown per feature (pixel): the weights of a feature's input
    neurons summed, ON minus OFF for an on-off coding
    (:meth:`~dendrinet.datasets.input_coding.InputCoding.feature_weights`).

    Parameters
    ----------
    source : Run, path, or ndarray of shape (n_inputs, n_units)
        A run (its ``W_0`` after ``epoch``), or a first-layer weight matrix.
    epoch : int, optional
        Epoch of the run's weights (0 = initial; default the last finished epoch).
    image_shape : (int, int), optional
        Image height and width (pixels); default the run's data set. Required with
        a matrix.
    units : int or array of int, optional
        The first ``units`` neurons, or these neuron indices (default all).

    Returns
    -------
    ndarray, shape (n_units, height, width)
        Dimensionless weights; with no hidden layer ``W_0`` feeds the output layer,
        and the fields are those of the output neurons.
    """
    if isinstance(source, np.ndarray):
        weights = np.asarray(source, dtype=np.float64)
        if image_shape is None:
            raise DendrinetError("image_shape is required with a weight matrix")
        if epoch is not None:
            raise DendrinetError("epoch applies to a run, not to a weight matrix")
    else:
        run = open_run(source)
        # in feature space: a feature's input neurons folded into one weight
        coding = InputCoding.from_dict(run.info.get("input_coding"),
                                       f"{run.path}/summary.json")
        weights = coding.feature_weights(run.weights(epoch).W[0])
        image_shape = coding.feature_shape(_image_shape(run)) if image_shape is None \
            else image_shape
    try:
        height, width = (int(v) for v in image_shape)
    except (TypeError, ValueError):
        raise DendrinetError(f"image_shape must be (height, width), got {image_shape!r}") from None
    if weights.ndim != 2:
        raise DendrinetError(f"weights must be a (n_inputs, n_units) matrix, got shape "
                             f"{weights.shape}")
    if weights.shape[0] != height * width:
        raise DendrinetError(f"weights have {weights.shape[0]} inputs but images of shape "
                             f"{height}x{width} have {height * width} pixels")
    if not np.isfinite(weights).all():
        raise DendrinetError("weights contain NaN or infinity")
    n_units = weights.shape[1]
    if units is None:
        index = np.arange(n_units)
    elif np.ndim(units) == 0:
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise DendrinetError(f"units must be a positive integer or indices, got {units!r}")
        index = np.arange(min(int(units), n_units))
    else:
        index = np.asarray(units)
        if index.ndim != 1 or not np.issubdtype(index.dtype, np.integer) or index.size == 0 \
                or index.min() < 0 or index.max() >= n_units:
            raise DendrinetError(f"units must be indices in [0, {n_units})")
    return weights[:, index].T.reshape(index.size, height, width).copy()


def receptive_field_grid(fields, n_cols: int | None = None, pad: int = 1) -> np.ndarray:
    """Tile receptive fields into one image, NaN between tiles.

    Parameters
    ----------
    fields : ndarray, shape (n_units, height, width)
    n_cols : int, optional
        Tiles per row (default ``ceil(sqrt(n_units))``).
    pad : int
        NaN pixels between tiles.

    Returns
    -------
    ndarray, shape (rows * (height + pad) - pad, n_cols * (width + pad) - pad)
        ``rows = ceil(n_units / n_cols)``; unused tiles are NaN.
    """
    fields = np.asarray(fields, dtype=np.float64)
    if fields.ndim != 3 or fields.shape[0] == 0:
        raise DendrinetError(f"fields must be (n_units, height, width) with n_units > 0, got "
                             f"shape {fields.shape}")
    n, height, width = fields.shape
    if n_cols is None:
        n_cols = int(np.ceil(np.sqrt(n)))
    if isinstance(n_cols, bool) or not isinstance(n_cols, (int, np.integer)) or n_cols < 1:
        raise DendrinetError(f"n_cols must be a positive integer, got {n_cols!r}")
    if isinstance(pad, bool) or not isinstance(pad, (int, np.integer)) or pad < 0:
        raise DendrinetError(f"pad must be a non-negative integer, got {pad!r}")
    n_cols = min(int(n_cols), n)
    n_rows = int(np.ceil(n / n_cols))
    grid = np.full((n_rows * (height + pad) - pad, n_cols * (width + pad) - pad), np.nan)
    for k in range(n):
        r, c = divmod(k, n_cols)
        grid[r * (height + pad):r * (height + pad) + height,
             c * (width + pad):c * (width + pad) + width] = fields[k]
    return grid


# --------------------------------------------------------------- statistics
@dataclass(frozen=True)
class WeightStatistics:
    """Summary statistics of every parameter array after every epoch.

    Attributes
    ----------
    epochs : ndarray of int, shape (n_epochs + 1,)
        0 (initial) to the last finished epoch.
    mean, sd, norm : dict of str -> ndarray, shape (n_epochs + 1,)
        Keyed ``"W_0"``, ``"b_0"``, ..., ``"Y_0"``, ...: mean, s.d. and Frobenius
        norm (``sqrt(sum w^2)``) of the array's entries (dimensionless).
    """

    epochs: np.ndarray
    mean: dict
    sd: dict
    norm: dict

    @property
    def names(self) -> list[str]:
        return list(self.mean)


def weight_statistics(run, names=None) -> WeightStatistics:
    """Mean, s.d. and norm of the weights, biases and feedback weights per epoch.

    Parameters
    ----------
    run : Run or path
    names : list of str, optional
        Arrays to follow (``"W_0"``, ``"Y_0"``, ...); default every ``W``, ``b`` and
        ``Y`` array. Reads one epoch's file at a time.

    Returns
    -------
    WeightStatistics
    """
    run = open_run(run)
    epochs = np.array(run.weight_epochs, dtype=np.int64)
    if epochs.size == 0:
        raise RunError(f"{run.path}: no weight files in {run.path / 'weights'}")
    mean, sd, norm = {}, {}, {}
    for i, epoch in enumerate(epochs):
        arrays = run.weights(int(epoch)).to_arrays()
        arrays = {k: v for k, v in arrays.items() if not k.startswith("Y_noise")}
        if names is None:
            names = list(arrays)
        for name in names:
            if name not in arrays:
                raise DendrinetError(f"no parameter array {name!r}; the run has "
                                     f"{sorted(arrays)}")
            values = arrays[name]
            for table, value in ((mean, values.mean()), (sd, values.std()),
                                 (norm, np.sqrt(np.sum(values ** 2)))):
                table.setdefault(name, np.full(epochs.size, np.nan))[i] = value
    return WeightStatistics(epochs, mean, sd, norm)


# ---------------------------------------------------------------- alignment
def alignment_angle(W, Y) -> pq.Quantity:
    """Angle between the feedforward weights ``W`` and the transposed feedback ``Y^T``.

    Parameters
    ----------
    W : ndarray, shape (n_hidden, n_outputs)
        Weights from a hidden layer to the output layer (or the product of the
        weights above a lower hidden layer), input-major.
    Y : ndarray, shape (n_outputs, n_hidden)
        Feedback weights to that hidden layer.

    Returns
    -------
    pq.Quantity, scalar, deg
        ``arccos(<W, Y^T> / (|W| |Y|))`` over all entries: 0 deg when ``Y = c W^T``
        with ``c > 0``, 180 deg when ``c < 0``, near 90 deg for unrelated matrices.
    """
    W = np.asarray(W, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if W.ndim != 2 or Y.ndim != 2 or Y.shape != W.T.shape:
        raise DendrinetError(f"Y must have the shape of W transposed: W {W.shape}, Y {Y.shape}")
    if not (np.isfinite(W).all() and np.isfinite(Y).all()):
        raise DendrinetError("W or Y contains NaN or infinity")
    norms = np.linalg.norm(W) * np.linalg.norm(Y)
    if norms == 0:
        raise DendrinetError("the angle is undefined: W or Y is all zeros")
    cosine = np.clip(np.sum(W * Y.T) / norms, -1.0, 1.0)
    return pq.Quantity(np.degrees(np.arccos(cosine)), pq.deg)


@dataclass(frozen=True)
class FeedbackAlignment:
    """Angle between feedback and backprop's feedback, per epoch and hidden layer.

    Attributes
    ----------
    epochs : ndarray of int, shape (n_epochs + 1,)
    angle : dict of int -> pq.Quantity, shape (n_epochs + 1,), deg
        Per hidden layer ``l``: angle between ``Y_l^T`` and ``W_{l+1} ... W_out``.
    """

    epochs: np.ndarray
    angle: dict


def feedback_alignment(run) -> FeedbackAlignment:
    """W-Y^T alignment of every hidden layer over training (feedback alignment).

    Parameters
    ----------
    run : Run or path

    Returns
    -------
    FeedbackAlignment
        With random fixed feedback the angle starts near 90 deg and falls as the
        forward weights come to align with ``Y^T``.
    """
    from dendrinet.model.weights import symmetric_feedback

    run = open_run(run)
    epochs = np.array(run.weight_epochs, dtype=np.int64)
    if epochs.size == 0:
        raise RunError(f"{run.path}: no weight files in {run.path / 'weights'}")
    angles = {}
    for i, epoch in enumerate(epochs):
        params = run.weights(int(epoch))
        if not params.Y:
            raise DendrinetError(f"{run.path}: the network has no hidden layer, so no feedback "
                                 "weights to align")
        for layer, reference in enumerate(symmetric_feedback(params.W)):
            angle = alignment_angle(reference.T, params.Y[layer]).magnitude
            angles.setdefault(layer, np.full(epochs.size, np.nan))[i] = angle
    return FeedbackAlignment(epochs, {l: pq.Quantity(a, pq.deg) for l, a in angles.items()})
