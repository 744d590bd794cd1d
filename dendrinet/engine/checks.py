"""Validation of what both engines take (constructor arguments, images, labels, example
indices, callbacks, saved states): one clear :class:`~dendrinet.errors.DendrinetError`
per problem."""
from __future__ import annotations

import numpy as np

from dendrinet.config import ModelConfig, ProtocolConfig
from dendrinet.datasets.encoding import max_spike_probability, validate_images
from dendrinet.errors import DendrinetError


def check_labels(y, n: int, n_out: int, what: str = "y") -> np.ndarray:
    """``n`` integer class labels in ``[0, n_out)`` (whole floats accepted), as int64."""
    try:
        labels = np.asarray(y)
    except Exception:  # noqa: BLE001 - anything numpy cannot take is bad input
        raise DendrinetError(f"{what}: expected an array of integer labels") from None
    if labels.shape != (n,):
        raise DendrinetError(f"{what}: expected {n} labels (one per example), got shape "
                             f"{labels.shape}")
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise DendrinetError(f"{what}: labels must be whole numbers")
    elif labels.dtype.kind not in "iub":
        raise DendrinetError(f"{what}: labels must be integers, got dtype {labels.dtype}")
    labels = labels.astype(np.int64)
    if n and (labels.min() < 0 or labels.max() >= n_out):
        raise DendrinetError(f"{what}: labels must be in [0, {n_out}) for {n_out} output "
                             f"neurons, found {labels.min()}..{labels.max()}")
    return labels


def check_indices(idx, n: int, what: str) -> np.ndarray:
    """A 1-D array of example indices into ``n`` examples, as int64."""
    try:
        arr = np.asarray(idx)
    except Exception:  # noqa: BLE001
        raise DendrinetError(f"{what}: expected an array of example indices") from None
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise DendrinetError(f"{what}: expected a 1-D array of integer example indices")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise DendrinetError(f"{what}: indices must be in [0, {n}), found "
                             f"{arr.min()}..{arr.max()}")
    return arr


def check_callback(progress) -> None:
    """``progress`` is None or callable."""
    if progress is not None and not callable(progress):
        raise DendrinetError("progress must be a callable progress(n_done, n_correct) or None")


def check_engine_args(model, protocol, seed) -> None:
    """What every engine's constructor takes: a model, a protocol, a 64-bit seed, and
    a time step at which Bernoulli spiking is possible (``phi_max dt <= 1``)."""
    if not isinstance(model, ModelConfig):
        raise DendrinetError(f"model must be a ModelConfig, got {type(model).__name__}")
    if not isinstance(protocol, ProtocolConfig):
        raise DendrinetError(f"protocol must be a ProtocolConfig, got "
                             f"{type(protocol).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or \
            not 0 <= seed < 2**64:
        raise DendrinetError(f"seed must be a non-negative integer, got {seed!r}")
    max_spike_probability(model.neuron.phi_max, protocol.dt)


def check_training_args(X, y, order, progress, sample_every, n_inputs: int, n_outputs: int):
    """The arguments of ``train_epoch``; returns ``X`` (validated images), ``y`` (int64)
    and ``order`` (int64, default ``0 .. n-1``)."""
    X = validate_images(X, n_inputs, "X")
    y = check_labels(y, X.shape[0], n_outputs)
    order = np.arange(X.shape[0]) if order is None else check_indices(order, X.shape[0],
                                                                        "order")
    check_callback(progress)
    if isinstance(sample_every, bool) or not isinstance(sample_every, (int, np.integer)) \
            or sample_every < 1:
        raise DendrinetError(f"sample_every must be a positive integer, got {sample_every!r}")
    return X, y, order


def check_state_identity(state: dict, sizes: np.ndarray, seed: int) -> None:
    """An engine state belongs to an engine with these layer sizes and this seed."""
    state_sizes = np.asarray(state["layer_sizes"])
    if not np.array_equal(state_sizes, sizes):
        raise DendrinetError(f"engine state is for layer sizes {state_sizes.tolist()}, this "
                             f"engine has {sizes.tolist()}")
    if int(np.asarray(state["seed"])) != seed:
        raise DendrinetError(f"engine state was made with seed {int(state['seed'])}, this "
                             f"engine has seed {seed}")


def check_parameters(model, params, n_inputs: int | None = None) -> tuple[int, ...]:
    """``params`` is a valid :class:`~dendrinet.model.weights.Parameters` with the layer sizes
    of ``model`` (and ``n_inputs`` inputs, if given); returns the layer sizes."""
    from dendrinet.model.weights import Parameters

    if not isinstance(params, Parameters):
        raise DendrinetError(f"params must be a dendrinet.model.weights.Parameters, got "
                             f"{type(params).__name__}")
    params.validate("parameters")
    sizes = tuple(int(s) for s in params.layer_sizes)
    expected = tuple(model.layer_sizes(sizes[0] if n_inputs is None else n_inputs))
    if sizes != expected:
        raise DendrinetError(f"parameters have layer sizes {sizes}, but model {model.name!r} "
                             f"needs {expected} (hidden {list(model.hidden)}, "
                             f"{model.n_outputs} outputs)")
    return sizes
