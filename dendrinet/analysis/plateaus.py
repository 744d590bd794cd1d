"""Plateau potentials of the hidden layers over training.

A hidden neuron's plateau potential ``alpha = sigmoid(mean apical potential)`` is
taken at the end of the forward phase (``alpha_f``) and of the target phase
(``alpha_t``); the hidden learning rule moves the basal weights along
``alpha_t - alpha_f``. The training history holds, for every example, the mean and
s.d. over neurons of ``alpha_t - alpha_f`` (``alpha_diff_mean_<l>``,
``alpha_diff_sd_<l>``) and, for every k-th example, the whole vectors
``alpha_f_<l>``, ``alpha_t_<l>`` with their position in the epoch
(``sample_position``). Plateau potentials are dimensionless, in (0, 1).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dendrinet.analysis.run_data import (
    check_hidden_layer, epoch_means, history_column, open_run, read_history,
)
from dendrinet.errors import RunError

__all__ = ["PlateauDistributions", "plateau_distributions", "pooled_epoch_statistics"]

#: History keys that may give the epoch of each sampled plateau vector.
_SAMPLE_EPOCH_KEYS = ("alpha_epoch_{l}", "sample_epoch_{l}", "sample_epoch")


@dataclass(frozen=True)
class PlateauDistributions:
    """Plateau potentials of one hidden layer over training.

    Attributes
    ----------
    layer : int
    alpha_f, alpha_t : ndarray, shape (n_samples, n_units)
        Sampled plateau vectors (dimensionless, in (0, 1)).
    sample_epoch : ndarray of int, shape (n_samples,)
        Epoch of each sampled vector.
    epoch : ndarray of int, shape (n_examples,)
        Epoch of every training example.
    diff_mean, diff_sd : ndarray, shape (n_examples,)
        Mean and s.d. over the layer's neurons of ``alpha_t - alpha_f`` for every
        training example.
    epochs : ndarray of int, shape (n_epochs,)
    epoch_diff_mean, epoch_diff_sd : ndarray, shape (n_epochs,)
        Mean and s.d. of ``alpha_t - alpha_f`` over all neurons and examples of each
        epoch (exactly pooled from the per-example values).
    """

    layer: int
    alpha_f: np.ndarray
    alpha_t: np.ndarray
    sample_epoch: np.ndarray
    epoch: np.ndarray
    diff_mean: np.ndarray
    diff_sd: np.ndarray
    epochs: np.ndarray
    epoch_diff_mean: np.ndarray
    epoch_diff_sd: np.ndarray

    @property
    def difference(self) -> np.ndarray:
        """``alpha_t - alpha_f`` of the sampled vectors, shape (n_samples, n_units)."""
        return self.alpha_t - self.alpha_f

    def samples_of_epoch(self, epoch: int) -> np.ndarray:
        """Boolean mask of the sampled vectors taken during ``epoch``."""
        return self.sample_epoch == epoch


def pooled_epoch_statistics(epoch, means, sds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pool per-example means and s.d.s (over the same number of neurons) per epoch.

    Parameters
    ----------
    epoch : array of int, shape (n,)
    means, sds : array, shape (n,)
        Mean and population s.d. of a quantity over a layer's neurons, per example.

    Returns
    -------
    epochs, pooled_mean, pooled_sd : ndarray, shape (n_epochs,)
        Mean and s.d. over all neurons of all examples of each epoch:
        ``var = mean(sd^2 + mean^2) - pooled_mean^2``.
    """
    epoch = np.asarray(epoch)
    means = np.asarray(means, dtype=np.float64)
    sds = np.asarray(sds, dtype=np.float64)
    epochs, mean = epoch_means(epoch, means)
    _, second = epoch_means(epoch, sds ** 2 + means ** 2)
    return epochs, mean, np.sqrt(np.maximum(second - mean ** 2, 0.0))


def _sample_epochs(run, history: dict, layer: int, n_samples: int,
                   example_epoch: np.ndarray) -> np.ndarray:
    for pattern in _SAMPLE_EPOCH_KEYS:
        key = pattern.format(l=layer)
        if key in history:
            values = np.asarray(history[key], dtype=np.int64)
            if values.shape != (n_samples,):
                raise RunError(f"{run.path}: history {key!r} has {values.size} entries for "
                               f"{n_samples} sampled plateau vectors")
            return values
    epochs = np.unique(example_epoch)
    if "sample_position" in history:
        # position of the sample within its epoch: it restarts with every epoch
        position = np.asarray(history["sample_position"], dtype=np.int64)
        if position.shape == (n_samples,):
            starts = np.r_[True, position[1:] <= position[:-1]] if n_samples else position
            index = np.cumsum(starts) - 1
            if n_samples == 0 or index[-1] == epochs.size - 1:
                return epochs[index]
    # Otherwise every epoch samples the same positions, so the samples split evenly
    # between the epochs in training order.
    if epochs.size and n_samples % epochs.size == 0:
        return np.repeat(epochs, n_samples // epochs.size)
    raise RunError(f"{run.path}: cannot tell the epoch of the {n_samples} sampled plateau "
                   f"vectors of hidden layer {layer} ({epochs.size} epochs)")


def plateau_distributions(run, layer: int = 0) -> PlateauDistributions:
    """Plateau potentials and their target-forward differences over training.

    Parameters
    ----------
    run : Run or path
    layer : int
        Hidden layer (0 = the lowest).

    Returns
    -------
    PlateauDistributions

    Raises
    ------
    DendrinetError
        The network has no such hidden layer, or the history lacks its columns.
    """
    run = open_run(run)
    layer = check_hidden_layer(run, layer)
    history = read_history(run)
    epoch = np.asarray(history["epoch"], dtype=np.int64)
    diff_mean = history_column(run, history, f"alpha_diff_mean_{layer}")
    diff_sd = history_column(run, history, f"alpha_diff_sd_{layer}")
    alpha_f = history_column(run, history, f"alpha_f_{layer}")
    alpha_t = history_column(run, history, f"alpha_t_{layer}")
    if alpha_f.ndim != 2 or alpha_f.shape != alpha_t.shape:
        raise RunError(f"{run.path}: sampled plateau vectors of hidden layer {layer} must be "
                       f"two equal (n_samples, n_units) arrays, got {alpha_f.shape} and "
                       f"{alpha_t.shape}")
    sample_epoch = _sample_epochs(run, history, layer, alpha_f.shape[0], epoch)
    epochs, pooled_mean, pooled_sd = pooled_epoch_statistics(epoch, diff_mean, diff_sd)
    return PlateauDistributions(layer, alpha_f, alpha_t, sample_epoch, epoch, diff_mean,
                                diff_sd, epochs, pooled_mean, pooled_sd)
