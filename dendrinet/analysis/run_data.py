"""Reading a training run for the analyses: the run, its hidden layers, its history.

The analyses of a run (:mod:`~dendrinet.analysis.learning`,
:mod:`~dendrinet.analysis.plateaus`, :mod:`~dendrinet.analysis.learned_weights`) take
a :class:`dendrinet.training.run_folder.Run` or the path of a run folder and read it through the
functions here, so that a missing file, column or layer gives the same message
whichever analysis asked for it.

>>> run = open_run("runs/1hidden")                          # doctest: +SKIP
>>> history = read_history(run)                             # doctest: +SKIP
>>> angles = history_column(run, history, "angle_0")        # doctest: +SKIP
"""
from __future__ import annotations

import os

import numpy as np

from dendrinet.errors import DendrinetError, RunError

__all__ = ["open_run", "hidden_layers", "read_history", "history_column",
           "check_hidden_layer", "epoch_means"]


def open_run(run, allow_unfinished: bool = True):
    """Return ``run`` as a :class:`dendrinet.training.run_folder.Run`.

    Parameters
    ----------
    run : Run, str or path-like
        An open run or a run folder.
    allow_unfinished : bool
        Accept runs whose status is ``"running"`` (their finished epochs are analysed).

    Raises
    ------
    RunError
        Missing folder, missing/corrupt ``summary.json``, or an unfinished run when
        ``allow_unfinished`` is false.
    """
    from dendrinet.training.run_folder import Run

    if isinstance(run, Run):
        if not allow_unfinished and not run.summary.finished:
            return Run.open(run.path, allow_unfinished=False)  # raises the standard message
        return run
    if not isinstance(run, (str, os.PathLike)):
        raise DendrinetError(f"expected a run folder or a Run, got {type(run).__name__}")
    return Run.open(run, allow_unfinished=allow_unfinished)


def hidden_layers(run) -> int:
    """Number of hidden layers of a run (from ``layer_sizes`` in ``summary.json``)."""
    run = open_run(run)
    sizes = run.info.get("layer_sizes")
    if sizes is None:
        return len(run.model.hidden)
    return len(sizes) - 2


def read_history(run) -> dict[str, np.ndarray]:
    """The run's training history (``history.npz``), checked to have an ``epoch`` column.

    Parameters
    ----------
    run : Run
        An open run (see :func:`open_run`).

    Returns
    -------
    dict of str -> ndarray
        One array per history column; ``"epoch"`` gives the epoch of each example.

    Raises
    ------
    RunError
        The history has no ``epoch`` column.
    """
    history = run.history()
    if "epoch" not in history:
        raise RunError(f"{run.path}: training history has no 'epoch' column")
    return history


def history_column(run, history: dict, key: str) -> np.ndarray:
    """Column ``key`` of a history from :func:`read_history`, as float64.

    Raises
    ------
    RunError
        The history has no such column (the message lists those it has).
    """
    if key not in history:
        present = ", ".join(sorted(history))
        raise RunError(f"{run.path}: training history has no {key!r} column (it has {present})")
    return np.asarray(history[key], dtype=np.float64)


def check_hidden_layer(run, layer) -> int:
    """``layer`` as an int, checked to be a hidden layer of ``run`` (0 = the lowest).

    Raises
    ------
    DendrinetError
        ``layer`` is not an integer in ``[0, hidden_layers(run))``, or the network has
        no hidden layer.
    """
    n_hidden = hidden_layers(run)
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) \
            or not 0 <= layer < n_hidden:
        if n_hidden == 0:
            raise DendrinetError(f"{run.path}: the network has no hidden layer, so there is no "
                                 f"hidden layer {layer!r} to analyse")
        raise DendrinetError(f"hidden layer must be an integer in [0, {n_hidden}), got {layer!r}")
    return int(layer)


def epoch_means(epoch: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``values`` over the examples of each epoch, NaN values ignored.

    Parameters
    ----------
    epoch : array of int, shape (n,)
        Epoch of each example.
    values : array, shape (n,)

    Returns
    -------
    epochs : ndarray of int, shape (n_epochs,)
        The distinct epochs, ascending.
    means : ndarray, shape (n_epochs,)
        NaN for an epoch without a finite value.
    """
    epochs, index = np.unique(epoch, return_inverse=True)
    valid = np.isfinite(values)
    sums = np.bincount(index[valid], values[valid], minlength=epochs.size)
    counts = np.bincount(index[valid], minlength=epochs.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return epochs, np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
