"""How a data set's features become the rates of the input neurons (a model's
``[input]`` table, :class:`~dendrinet.config.InputParams`).

``intensity``
    Input neuron ``i`` fires at ``x_i * phi_max``: the paper's pixels. It suits images,
    whose information is which pixels are on.
``on-off``
    Each feature is standardised with the training set's mean and standard deviation,
    ``z = (x - mean) / sd``, and split into an ON neuron firing at
    ``min(max(z, 0) / clip_sd, 1) * phi_max`` and an OFF neuron firing at
    ``min(max(-z, 0) / clip_sd, 1) * phi_max`` (the retina's ON and OFF cells). A feature
    at its mean leaves both silent. It suits features whose information is a small
    deviation from a constant value: coded as intensities, their Poisson noise (whose
    variance is the rate) hides the deviation, and the network also has to learn to
    cancel the constant drive.
``auto``
    On-off when the features' standard deviation across the training examples,
    averaged over features, is below :data:`AUTO_SPREAD_RATIO` times their mean value
    averaged over features; intensity otherwise. Measured ratios: MNIST 1.47,
    Fashion-MNIST 0.96, the digits 0.75 (intensity); 40 noisy features scaled to
    [0, 1] together 0.08 (on-off).

A population: when the coded features are fewer than ``min_inputs``, each drives
``copies = ceil(min_inputs / coded features)`` input neurons with independent Poisson
spikes at its rate, so that the spike noise of the summed drive averages out as it does
over MNIST's 784 pixels (measured, no hidden layer, 20 epochs: the digits' test error
13.6 % with one neuron per pixel, 10.3 % with 7; 8 features of 20 classes 43.8 % with 16
on-off inputs, 31.8 % with 400; logistic regression 10.0 and 36.5 %).

The coding is a function of the training set alone (fitted like scikit-learn's
``StandardScaler``), so a resumed run recomputes the same coding; a run records it in
``summary.json`` (``input_coding``) and :func:`InputCoding.from_dict` gives it back for
predictions on new data.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from dendrinet.config.limits import check_memory
from dendrinet.errors import DatasetError, RunError

__all__ = ["AUTO_SPREAD_RATIO", "CONSTANT_SD", "InputCoding", "fit_input_coding", "spread_ratio"]

#: ``auto`` codes on-off below this ratio of spread (s.d. across examples) to mean value.
AUTO_SPREAD_RATIO = 0.5
#: A feature whose s.d. over the training set is below this is constant (its rounding
#: error would otherwise become a full-rate input): both of its neurons stay silent.
CONSTANT_SD = 1e-9


def spread_ratio(X: np.ndarray) -> float:
    """Mean over features of their standard deviation across examples, divided by the
    mean over features of their mean value (dimensionless; ``inf`` for an all-zero X).

    Parameters
    ----------
    X : ndarray, shape (n_examples, n_features)
        Feature values in [0, 1].
    """
    mean = float(np.mean(X))
    spread = float(np.mean(np.std(X, axis=0)))
    return spread / mean if mean > 0 else math.inf


@dataclass(frozen=True, eq=False)
class InputCoding:
    """A fitted coding of features into input rates (fractions of ``phi_max``).

    Attributes
    ----------
    kind : {"intensity", "on-off"}
    reason : str
        Why this coding (one sentence, for the run's summary).
    mean, sd : ndarray or None
        Per-feature mean and standard deviation of the training set (on-off only).
    clip_sd : float
        Standard deviations at which an ON or OFF neuron reaches ``phi_max``.
    copies : int
        Input neurons per coded feature (adjacent columns).
    """

    kind: str
    reason: str
    mean: np.ndarray | None = None
    sd: np.ndarray | None = None
    clip_sd: float = 3.0
    copies: int = 1

    @property
    def is_identity(self) -> bool:
        """One input neuron per feature, firing at the feature's intensity."""
        return self.kind == "intensity" and self.copies == 1

    @property
    def coded_per_feature(self) -> int:
        """Coded features per feature: 2 for on-off (ON and OFF), 1 for intensities."""
        return 2 if self.kind == "on-off" else 1

    def n_inputs(self, n_features: int) -> int:
        """Input neurons for ``n_features`` features."""
        return self.coded_per_feature * n_features * self.copies

    def n_features(self, n_inputs: int) -> int:
        """Features coded by ``n_inputs`` input neurons (inverse of :meth:`n_inputs`)."""
        return n_inputs // (self.coded_per_feature * self.copies)

    def apply(self, X: np.ndarray) -> np.ndarray:
        """Rates (fractions of ``phi_max``, in [0, 1]) of ``X``'s rows: ``X`` itself for
        intensities, ``[ON | OFF]`` (shape ``(n, 2 n_features)``) for on-off; each column
        repeated ``copies`` times. Raises :class:`~dendrinet.errors.ResourceError` before
        coding when the coded rows would not fit in memory."""
        if self.is_identity:
            return X
        n_inputs = self.n_inputs(X.shape[1])
        check_memory(8.0 * n_inputs * X.shape[0] * (2 if self.copies > 1 else 1),
                     f"coding {X.shape[0]:,} examples for {n_inputs:,} input neurons "
                     f"({self.kind}, {self.copies} per coded feature)")
        coded = self._coded(X)
        return coded if self.copies == 1 else np.repeat(coded, self.copies, axis=1)

    def _coded(self, X: np.ndarray) -> np.ndarray:
        if self.kind == "intensity":
            return X
        if X.shape[1] != self.mean.shape[0]:
            raise DatasetError(f"{X.shape[1]} features per example, but the input coding was "
                               f"fitted to {self.mean.shape[0]}")
        scale = self.clip_sd * self.sd
        # a feature constant in the training set leaves both of its neurons silent
        z = np.divide(X - self.mean, scale, out=np.zeros(X.shape), where=scale > 0)
        np.clip(z, -1.0, 1.0, out=z)
        return np.ascontiguousarray(np.hstack([np.maximum(z, 0.0), np.maximum(-z, 0.0)]))

    def apply_to(self, ds):
        """The :class:`~dendrinet.datasets.Dataset` ``ds`` with coded features (the same
        object for intensities, one neuron each). An on-off image is shown as the ON image
        above the OFF image, each pixel ``copies`` columns wide."""
        if self.is_identity:
            return ds
        rows, cols = ds.image_shape
        return dataclasses.replace(ds, X_train=self.apply(ds.X_train),
                                   X_test=self.apply(ds.X_test),
                                   image_shape=(rows * self.coded_per_feature,
                                                cols * self.copies))

    def feature_weights(self, W: np.ndarray) -> np.ndarray:
        """Weights from the input neurons, ``(n_inputs, n)``, as weights of the features,
        ``(n_features, n)``: a feature's copies summed, and ON minus OFF (an OFF neuron
        fires for values below the mean)."""
        folded = W if self.copies == 1 else \
            W.reshape(-1, self.copies, W.shape[1]).sum(axis=1)
        if self.kind == "on-off":
            on, off = np.split(folded, 2)
            return on - off
        return folded

    def feature_shape(self, coded_shape) -> tuple[int, int]:
        """The image shape of the features whose coded image has ``coded_shape``
        (inverse of :meth:`apply_to`'s)."""
        rows, cols = (int(v) for v in coded_shape)
        return (rows // self.coded_per_feature, cols // self.copies)

    def to_dict(self) -> dict:
        """For ``summary.json`` (floats written exactly by ``json``)."""
        out = {"coding": self.kind, "reason": self.reason, "copies": self.copies}
        if self.kind == "on-off":
            out.update(clip_sd=self.clip_sd, mean=self.mean.tolist(), sd=self.sd.tolist())
        return out

    @classmethod
    def from_dict(cls, data, where: str) -> "InputCoding":
        """Inverse of :meth:`to_dict`; ``None`` (a run before the coding was recorded) is
        intensity. Bad content is one :class:`RunError` naming ``where``."""
        if data is None:
            return cls("intensity", "recorded before input codings existed")
        try:
            kind, reason = data["coding"], str(data.get("reason", ""))
            copies = data.get("copies", 1)
            if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
                raise ValueError(f"copies must be a positive integer, got {copies!r}")
            if kind == "intensity":
                return cls(kind, reason, copies=copies)
            if kind != "on-off":
                raise ValueError(f"unknown coding {kind!r}")
            mean = np.asarray(data["mean"], dtype=np.float64)
            sd = np.asarray(data["sd"], dtype=np.float64)
            clip_sd = float(data["clip_sd"])
            if mean.ndim != 1 or sd.shape != mean.shape or not mean.size:
                raise ValueError("mean and sd must be lists of one number per feature")
            if not (np.isfinite(mean).all() and np.isfinite(sd).all() and (sd >= 0).all()
                    and math.isfinite(clip_sd) and clip_sd > 0):
                raise ValueError("mean, sd and clip_sd must be finite, sd >= 0, clip_sd > 0")
        except (TypeError, KeyError, ValueError, AttributeError) as exc:
            raise RunError(f"{where}: input_coding is not a valid input coding ({exc})") \
                from None
        return cls(kind, reason, mean, sd, clip_sd, copies)


def fit_input_coding(params, X_train: np.ndarray) -> InputCoding:
    """The coding a model's ``[input]`` table (``params``:
    :class:`~dendrinet.config.InputParams`) gives the training features ``X_train``
    (shape ``(n_examples, n_features)``, values in [0, 1])."""
    n_features = X_train.shape[1]
    kind, ratio = params.coding, spread_ratio(X_train)
    if kind == "auto":
        kind = "on-off" if ratio < AUTO_SPREAD_RATIO else "intensity"
        reason = (f"auto: the features' spread is {ratio:.2f} of their mean "
                  + (f"(below {AUTO_SPREAD_RATIO}), so each is standardised and split "
                     "into ON and OFF inputs" if kind == "on-off" else
                     f"(at least {AUTO_SPREAD_RATIO})"))
    else:
        reason = f"[input] coding = \"{kind}\""
    coded = n_features * (2 if kind == "on-off" else 1)
    copies = -(-params.min_inputs // coded)  # ceil
    if copies > 1:
        reason += (f"; {copies} input neurons per coded feature ({coded * copies} in all, "
                   f"[input] min_inputs = {params.min_inputs})")
    if kind == "intensity":
        return InputCoding("intensity", reason, copies=copies)
    sd = np.std(X_train, axis=0)
    sd[sd < CONSTANT_SD] = 0.0
    return InputCoding("on-off", reason, np.mean(X_train, axis=0), sd, params.clip_sd, copies)
