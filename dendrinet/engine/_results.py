"""What both engines return: the per-example training history and test predictions."""
from __future__ import annotations

import math

import numpy as np

from dendrinet.plasticity import stat_names


def sample_buffers(n: int, sample_every: int, n_hidden_units: int):
    """Plateau vectors of every ``sample_every``-th of ``n`` examples (forward, target)
    and their positions in the epoch: ``samples_f, samples_t, sample_rows``."""
    n_samples = -(-n // sample_every)
    return (np.zeros((n_samples, n_hidden_units)), np.zeros((n_samples, n_hidden_units)),
            np.zeros(n_samples, np.int64))


def training_history(epoch: int, order, y, records, uo, samples_f, samples_t,
                     sample_rows) -> dict[str, np.ndarray]:
    """The dictionary ``train_epoch`` returns (see ``FastEngine.train_epoch``) from the
    per-example ``records`` (correct, then :func:`dendrinet.plasticity.stat_names`) and
    the plateau samples; ``uo`` are the layers' unit offsets."""
    n = order.size
    n_hidden_layers = len(uo) - 2
    hist = {"epoch": np.full(n, epoch, np.int64), "example_id": order.copy(),
            "label": y[order], "correct": records[:, 0] > 0.5}
    for c, name in enumerate(stat_names(n_hidden_layers)):
        hist[name] = records[:, 1 + c].copy()
    for l in range(n_hidden_layers):
        lo, hi = uo[l], uo[l + 1]
        hist[f"alpha_f_{l}"] = samples_f[:, lo:hi].copy()
        hist[f"alpha_t_{l}"] = samples_t[:, lo:hi].copy()
    hist["sample_position"] = sample_rows.copy()
    hist["sample_example_id"] = order[sample_rows] if n else sample_rows.copy()
    return hist


def predictions(mean_V: np.ndarray, labels) -> dict:
    """``pred`` (argmax of the mean output potentials ``mean_V``) and ``mean_V``; with
    ``labels`` also ``correct`` and ``error`` (NaN for no examples)."""
    out = {"pred": mean_V.argmax(axis=1).astype(np.int64), "mean_V": mean_V}
    if labels is not None:
        out["correct"] = out["pred"] == labels
        out["error"] = float(1.0 - out["correct"].mean()) if mean_V.shape[0] else math.nan
    return out
