"""Flat layout of a layered network for the Numba kernels.

Numba loops are simplest and fastest over a handful of flat arrays with offsets, for
any number of layers. Layer ``l`` (``0 .. n_layers-1``) is the ``l``-th weight layer and
the population it feeds: hidden layer ``l`` for ``l < n_layers - 1``, the output layer
for ``l = n_layers - 1``. Non-input neurons ("units") of all layers are concatenated:

* units of layer ``l``: ``uo[l] .. uo[l+1]`` (``b`` and every per-unit state array),
* ``W[l]`` (input-major, ``(sizes[l], sizes[l+1])``): ``W[wo[l]:wo[l+1]]``,
* ``Y[l]`` (``(n_outputs, sizes[l+1])``, hidden layers only): ``Y[yo[l]:yo[l+1]]``.
"""
from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass

import numpy as np

from dendrinet.model.weights import Parameters


#: Flat parameters with their layout offsets, as the plasticity kernels read them (the
#: engine's ``Net`` carries the same fields).
FlatParams = namedtuple("FlatParams", ["sizes", "uo", "wo", "yo", "W", "b", "Y"])


@dataclass(frozen=True)
class FlatLayout:
    """Offsets of every layer in the flat arrays.

    Attributes
    ----------
    sizes : int64 array (n_layers + 1,)
        Neurons per population, input first.
    uo, wo : int64 arrays (n_layers + 1,)
        Unit and weight offsets.
    yo : int64 array (n_layers,)
        Feedback-weight offsets (``yo[n_layers - 1]`` is the total).
    """

    sizes: np.ndarray
    uo: np.ndarray
    wo: np.ndarray
    yo: np.ndarray

    @classmethod
    def from_sizes(cls, sizes) -> "FlatLayout":
        sizes = np.asarray(sizes, dtype=np.int64)
        n_layers = len(sizes) - 1
        uo = np.concatenate([[0], np.cumsum(sizes[1:])]).astype(np.int64)
        wo = np.concatenate([[0], np.cumsum(sizes[:-1] * sizes[1:])]).astype(np.int64)
        n_out = sizes[-1]
        yo = np.concatenate([[0], np.cumsum(n_out * sizes[1:n_layers])]).astype(np.int64)
        return cls(sizes, uo, wo, yo)

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    @property
    def n_inputs(self) -> int:
        return int(self.sizes[0])

    @property
    def n_units(self) -> int:
        """Hidden plus output neurons."""
        return int(self.uo[-1])

    @property
    def n_hidden_units(self) -> int:
        return int(self.uo[-2])

    def pack(self, params: Parameters) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Copies of ``W``, ``b``, ``Y``, ``Y_noise`` as flat float64 arrays."""
        W = np.concatenate([np.ravel(w) for w in params.W])
        b = np.concatenate([np.ravel(v) for v in params.b])
        n_y = int(self.yo[-1])
        Y = np.concatenate([np.ravel(y) for y in params.Y]) if params.Y else np.zeros(n_y)
        noise = [np.ravel(n) for n in params.Y_noise] if params.Y_noise else []
        Yn = np.concatenate(noise) if len(noise) == len(params.Y) and noise else np.zeros(n_y)
        return tuple(np.ascontiguousarray(a, dtype=np.float64) for a in (W, b, Y, Yn))

    def unpack_into(self, params: Parameters, W: np.ndarray, b: np.ndarray, Y: np.ndarray) -> None:
        """Copy flat arrays back into the (existing) arrays of ``params``, in place."""
        s = self.sizes
        for l in range(self.n_layers):
            params.W[l][...] = W[self.wo[l]:self.wo[l + 1]].reshape(s[l], s[l + 1])
            params.b[l][...] = b[self.uo[l]:self.uo[l + 1]]
        for l in range(self.n_layers - 1):
            params.Y[l][...] = Y[self.yo[l]:self.yo[l + 1]].reshape(s[-1], s[l + 1])

    def layer_units(self, values: np.ndarray, l: int) -> np.ndarray:
        """The part of a per-unit array that belongs to layer ``l``."""
        return values[..., self.uo[l]:self.uo[l + 1]]
