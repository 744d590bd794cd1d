"""Network parameters (feedforward weights, biases, feedback weights): creation,
feedback variants, saving and loading.

Layouts (see docs/design.md): ``W[l]`` has shape ``(n_pre, n_post)`` and is
input-major, so that the outgoing weights of a spiking neuron are contiguous;
``b[l]`` has shape ``(n_post,)``; ``Y[l]`` has shape ``(n_outputs, n_hidden_l)``,
the broadcast feedback from the output layer to hidden layer ``l``. All float64,
dimensionless.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dendrinet.storage.files import atomic_open
from dendrinet.config import ModelConfig
from dendrinet.errors import DendrinetError
from dendrinet.config.limits import check_memory, network_text, parameter_bytes


@dataclass
class Parameters:
    """Weights and biases of a layered network (mutated in place by learning).

    Attributes
    ----------
    W : list of ndarray
        Feedforward weights per layer, ``(n_pre, n_post)``, dimensionless.
    b : list of ndarray
        Biases per layer, ``(n_post,)``, dimensionless potentials.
    Y : list of ndarray
        Feedback weights per hidden layer, ``(n_outputs, n_hidden_l)``.
    Y_noise : list of ndarray
        Fixed noise added to ``W``-derived feedback (``noisy_symmetric``); zeros
        otherwise.
    """

    W: list[np.ndarray]
    b: list[np.ndarray]
    Y: list[np.ndarray]
    Y_noise: list[np.ndarray] = field(default_factory=list)

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        return (self.W[0].shape[0], *(w.shape[1] for w in self.W))

    def copy(self) -> "Parameters":
        return Parameters([w.copy() for w in self.W], [b.copy() for b in self.b],
                          [y.copy() for y in self.Y], [n.copy() for n in self.Y_noise])

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat dictionary ``W_0, b_0, ..., Y_0, ...`` (for ``np.savez``)."""
        out = {}
        for name in ("W", "b", "Y", "Y_noise"):
            for i, a in enumerate(getattr(self, name)):
                out[f"{name}_{i}"] = a
        return out

    @classmethod
    def from_arrays(cls, arrays, source: str = "arrays") -> "Parameters":
        """Inverse of :meth:`to_arrays`; validates shapes."""
        def collect(name):
            out, i = [], 0
            while f"{name}_{i}" in arrays:
                out.append(np.ascontiguousarray(arrays[f"{name}_{i}"], dtype=np.float64))
                i += 1
            return out
        params = cls(collect("W"), collect("b"), collect("Y"), collect("Y_noise"))
        params.validate(source)
        return params

    def validate(self, source: str = "parameters") -> None:
        """Check shapes chain together and values are finite."""
        if not self.W or len(self.W) != len(self.b):
            raise DendrinetError(f"{source}: needs one bias vector per weight matrix")
        for l, (w, b) in enumerate(zip(self.W, self.b)):
            if w.ndim != 2 or b.shape != (w.shape[1],):
                raise DendrinetError(f"{source}: W_{l} {w.shape} and b_{l} {b.shape} do not match")
            if l and w.shape[0] != self.W[l - 1].shape[1]:
                raise DendrinetError(f"{source}: W_{l} has {w.shape[0]} inputs but layer {l} "
                                     f"has {self.W[l - 1].shape[1]} neurons")
            if not (np.isfinite(w).all() and np.isfinite(b).all()):
                raise DendrinetError(f"{source}: W_{l} or b_{l} contains NaN or infinity")
        n_out = self.W[-1].shape[1]
        if len(self.Y) != len(self.W) - 1:
            raise DendrinetError(f"{source}: needs one feedback matrix per hidden layer")
        for l, y in enumerate(self.Y):
            if y.shape != (n_out, self.W[l].shape[1]):
                raise DendrinetError(f"{source}: Y_{l} has shape {y.shape}, expected "
                                     f"{(n_out, self.W[l].shape[1])}")

    def save(self, path: str | Path) -> None:
        """Write an ``.npz`` atomically (temporary file, then rename)."""
        save_npz_atomic(path, self.to_arrays())

    @classmethod
    def load(cls, path: str | Path) -> "Parameters":
        path = Path(path)
        if not path.is_file():
            raise DendrinetError(f"{path}: parameter file not found")
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls.from_arrays(dict(data), str(path))
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            if isinstance(exc, DendrinetError):
                raise
            raise DendrinetError(f"{path}: not a readable parameter file ({exc})") from None


def save_npz_atomic(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` to a temporary file in the same folder, fsync, then rename, so a
    reader (or a killed writer) never sees a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb", suffix=".tmp.npz") as fh:
        np.savez(fh, **arrays)


def _uniform_layer(rng: np.random.Generator, model: ModelConfig, n_pre: int, n_post: int):
    """Weights giving basal potentials of mean ``V_avg`` and s.d. ``V_sd`` when every
    input fires at ``nu * phi_max`` (mean filtered input ``nu * phi_max`` per ms, as the
    kernel has unit area). Uniform with the intended s.d. (the authors' latest code
    drew twice that spread)."""
    init = model.init
    s_mean = init.nu * model.neuron.phi_max
    w_avg = (init.V_avg - init.b_avg) / (n_pre * s_mean)
    w_sd = init.V_sd / (np.sqrt(n_pre) * s_mean)
    return w_avg + np.sqrt(3.0) * w_sd * rng.uniform(-1.0, 1.0, size=(n_pre, n_post))


def symmetric_feedback(W: list[np.ndarray]) -> list[np.ndarray]:
    """``Y_l = (W_{l+1} ... W_out)^T``: the transpose of the product of the weights
    above hidden layer ``l`` (input-major layout), shape ``(n_outputs, n_hidden_l)``."""
    Y, above = [], None
    for l in range(len(W) - 1, 0, -1):
        above = W[l] if above is None else W[l] @ above
        Y.append(np.ascontiguousarray(above.T))
    return Y[::-1]


def refresh_feedback(params: Parameters, model: ModelConfig) -> None:
    """For the symmetric feedback modes, set ``Y`` from the current ``W`` (in place).
    Engines call this after every weight update; other modes are left untouched."""
    if model.feedback.mode in ("symmetric", "noisy_symmetric"):
        for l, y in enumerate(symmetric_feedback(params.W)):
            np.add(y, params.Y_noise[l], out=params.Y[l])


def initial_parameters(model: ModelConfig, n_inputs: int,
                       rng: np.random.Generator | int | None = None) -> Parameters:
    """Draw the initial parameters of ``model`` for ``n_inputs`` input neurons.

    Feedback ``Y_l`` is drawn like a feedforward layer whose fan-in is the number of
    output neurons (positive mean), then changed by the feedback mode: ``sparse``
    zeroes a fraction ``sparsity`` and multiplies the rest by ``sparse_scale``;
    ``symmetric`` and ``noisy_symmetric`` follow ``W^T`` (plus fixed normal noise of
    s.d. ``noise_sd``).
    """
    if isinstance(n_inputs, bool) or not isinstance(n_inputs, (int, np.integer)) or n_inputs < 1:
        raise DendrinetError(f"n_inputs must be a positive integer, got {n_inputs!r}")
    rng = np.random.default_rng(rng)
    sizes = model.layer_sizes(n_inputs)
    check_memory(parameter_bytes(sizes, drawing=True), f"drawing the parameters of model "
                 f"{model.name!r} ({network_text(sizes)})")  # before any layer is drawn
    W = [_uniform_layer(rng, model, sizes[l], sizes[l + 1]) for l in range(len(sizes) - 1)]
    b = [model.init.b_avg + model.init.b_sd * rng.standard_normal(n) for n in sizes[1:]]
    Y = [np.ascontiguousarray(_uniform_layer(rng, model, model.n_outputs, n))
         for n in model.hidden]
    fb = model.feedback
    if fb.mode == "sparse":
        for y in Y:
            y *= (rng.random(y.shape) >= fb.sparsity) * fb.sparse_scale
    noise = [np.zeros_like(y) for y in Y]
    if fb.mode == "noisy_symmetric":
        noise = [fb.noise_sd * rng.standard_normal(y.shape) for y in Y]
    params = Parameters(W, b, Y, noise)
    refresh_feedback(params, model)
    return params
