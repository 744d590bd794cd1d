"""Training and testing stop loudly when a number goes non-finite.

A NaN or an infinity in a potential, a rate or a weight (``log`` of a negative apical
sum, a rule whose updates overflow, ...) would otherwise train on silently, to chance
accuracy. The engines check their per-example records and their arrays once per chunk
of examples, in Python, outside the compiled loops: one sum per array (a NaN or an
infinity makes the sum non-finite), and the element-wise search only when it is.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from dendrinet.engine.results import stat_names
from dendrinet.errors import TrainingError

__all__ = ["check_training_chunk", "check_test_potentials", "layer_name", "per_layer",
           "parameter_arrays"]

_HINT = ("the equations or the learning rule produce NaN or infinity (e.g. log or sqrt of "
         "a negative value, a division by zero, updates that overflow: learning rates too "
         "large)")
_STAT_MEANING = {"loss_out": "output loss (from the mean potential V and rate phi of the "
                             "output layer)",
                 "loss_hidden": "plateau potentials alpha (sigmoid of the mean apical "
                                "potential V_a)",
                 "alpha_diff_mean": "plateau potentials alpha",
                 "alpha_diff_sd": "plateau potentials alpha"}


def _finite(array: np.ndarray) -> bool:
    # one pass without a temporary; a finite array whose sum overflows is looked at again
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(np.sum(array))) or bool(np.isfinite(array).all())


def layer_name(layer: int, n_layers: int) -> str:
    """``"hidden layer <l>"`` or ``"output layer"`` for weight layer ``layer``."""
    return "output layer" if layer == n_layers - 1 else f"hidden layer {layer}"


def per_layer(what: str, flat: np.ndarray, offsets, n_layers: int,
              layers: Iterable[int] | None = None) -> list[tuple[str, np.ndarray]]:
    """``(description, part)`` of each layer's part ``flat[offsets[l]:offsets[l + 1]]``."""
    layers = range(len(offsets) - 1) if layers is None else layers
    return [(f"{what} of {layer_name(l, n_layers)}", flat[offsets[l]:offsets[l + 1]])
            for l in layers]


def parameter_arrays(layout, W: np.ndarray, b: np.ndarray, Y: np.ndarray
                     ) -> list[tuple[str, np.ndarray]]:
    """The flat parameters ``W``, ``b``, ``Y`` of a
    :class:`~dendrinet.learning.layout.FlatLayout`, per layer, named for
    :func:`check_training_chunk` (every engine checks them after training)."""
    L = layout.n_layers
    return [*per_layer("weights W", W, layout.wo, L),
            *per_layer("biases b", b, layout.uo, L),
            *per_layer("feedback weights Y", Y, layout.yo, L, range(L - 1))]


def _example(order: np.ndarray, position: int) -> str:
    return f"example {position} of the epoch (data set index {int(order[position])})"


def _error(where: str, rest: str) -> TrainingError:
    """``training went non-finite in <where><rest>``; ``where`` is kept as an attribute
    (the warm-up run renames it: it is no epoch)."""
    error = TrainingError(f"training went non-finite in {where}{rest}")
    error.where = where
    return error


def check_training_chunk(records: np.ndarray, order: np.ndarray, lo: int, hi: int,
                         epoch: int, n_hidden_layers: int,
                         arrays: Iterable[tuple[str, np.ndarray]] = ()) -> None:
    """Raise one TrainingError when training examples ``lo .. hi-1`` of an epoch left a
    non-finite number.

    Parameters
    ----------
    records : float64 array (n, 1 + n_stats)
        Per-example records of the epoch (correct, then
        :func:`~dendrinet.engine.results.stat_names`); rows ``lo .. hi-1`` are checked,
        but for the angles (NaN is their value when an error vector is zero). A
        non-finite record names its example exactly.
    order : int array (n,)
        Data set index of each position of the epoch.
    epoch : int
        The epoch (from 1).
    arrays : iterable of (description, array)
        What the engine holds after the chunk (weights, potentials, rates): a
        non-finite one is named with the chunk's examples (it went non-finite in one
        of them, at the latest in the last).
    """
    names = ["correct"] + stat_names(n_hidden_layers)
    checked = [c for c, name in enumerate(names) if not name.startswith("angle_")]
    block = records[lo:hi]
    if not _finite(block[:, checked]):
        bad = ~np.isfinite(block)
        bad[:, [c for c in range(len(names)) if c not in checked]] = False
        row, column = (int(i) for i in np.argwhere(bad)[0])
        position = lo + row
        if column == 0:
            what = "forward-phase prediction"
        else:
            name = names[column]
            stem, _, layer = name.rpartition("_") if name != "loss_out" else (name, "", "")
            what = (f"{name}: {_STAT_MEANING[stem]}"
                    + (f" of hidden layer {layer}" if layer else ""))
        raise _error(f"epoch {epoch}, {_example(order, position)}",
                     f": {what} is {block[row, column]}; {_HINT}")
    for what, array in arrays:
        if not _finite(array):
            count = int(np.count_nonzero(~np.isfinite(array)))
            when = ("" if hi - lo == 1 else
                    f", so in one of the examples {lo}-{hi - 1} of the epoch (checked once "
                    f"per {hi - lo} examples)")
            raise _error(f"epoch {epoch}, {_example(order, hi - 1)}",
                         f": {what} holds {count} NaN or infinite value(s) after it{when}; "
                         f"{_HINT}")


def check_test_potentials(mean_V: np.ndarray, lo: int, hi: int) -> None:
    """Raise one TrainingError when test presentations ``lo .. hi-1`` left a non-finite
    mean output potential (the predictions would be garbage)."""
    block = mean_V[lo:hi]
    if not _finite(block):
        row = int(np.flatnonzero(~np.isfinite(block).all(axis=1))[0])
        raise TrainingError(f"testing went non-finite: the mean potential V of the output "
                            f"layer is not finite for test example {lo + row}; {_HINT}")
