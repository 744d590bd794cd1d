"""A scikit-learn estimator around the segregated-dendrite network.

>>> from sklearn.datasets import load_digits
>>> from dendrinet.training.estimator import SegregatedDendriteClassifier
>>> X, y = load_digits(return_X_y=True)
>>> clf = SegregatedDendriteClassifier(hidden=100, epochs=3).fit(X[:1400] / 16, y[:1400])
>>> clf.score(X[1400:] / 16, y[1400:])  # doctest: +SKIP

Training runs in memory (no run folder; use :func:`dendrinet.training.trainer.train` for
that). With the same seed, model, protocol and data, :meth:`fit` reaches exactly the
parameters :func:`~dendrinet.training.trainer.train` writes for the same epoch.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import time
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted

from dendrinet.config import (DEFAULT_PROTOCOL, ModelConfig, ProtocolConfig, load_model,
                              load_protocol)
from dendrinet.errors import ConfigError, DendrinetError
from dendrinet.backends import make_engine
from dendrinet.training.epochs import (History, ProgressBar, check_epochs, check_seed, evaluation_seed,
                              seed_streams, train_epochs)
from dendrinet.model.weights import initial_parameters
from dendrinet.learning.weight_average import WeightAverage
from dendrinet.datasets.input_coding import InputCoding, fit_input_coding
from dendrinet.datasets.shifts import EpochImages

__all__ = ["SegregatedDendriteClassifier"]


class NotNumbersError(DendrinetError, TypeError):
    """``X`` holds values that are not numbers at all (a :class:`DendrinetError`, and a
    ``TypeError`` as scikit-learn expects of a wrong type)."""


def _is_complex(a) -> bool:
    """Whether ``a`` (array-like) holds complex numbers (as a complex array, or
    complex Python numbers in a list)."""
    dtype = getattr(a, "dtype", None)
    if dtype is None:
        try:
            dtype = np.asarray(a).dtype
        except (TypeError, ValueError):
            return False
    return np.dtype(dtype).kind == "c"


class SegregatedDendriteClassifier(ClassifierMixin, BaseEstimator):
    """Spiking network of pyramidal neurons with segregated dendrites (Guerguiev,
    Lillicrap & Richards, eLife 2017), trained with its local learning rules.

    Parameters
    ----------
    model : str, path or ModelConfig, default "guerguiev2017-1hidden"
        Network model: a name in ``models/``, a model file, or a
        :class:`~dendrinet.config.ModelConfig`. Its number of output neurons is
        replaced by the number of classes seen in :meth:`fit`.
    protocol : str, path or ProtocolConfig, default "paper-timing"
        Presentation protocol (phase lengths, test duration): a name in
        ``protocols/``, a protocol file or a :class:`~dendrinet.config.ProtocolConfig`.
    epochs : int, default 10
        Number of passes over the training data.
    hidden : int, sequence of int or None, default None
        Hidden layer sizes, bottom to top, replacing the model's (an int is one hidden
        layer; ``()`` is no hidden layer). If the number of layers changes, give
        ``eta`` too.
    eta : float, sequence of float or None, default None
        Learning rates (dimensionless), one per weight layer bottom to top (hidden
        layers, then output), or one float for all layers. ``None`` keeps the model's.
    seed : int, default 0
        Seed of the initial weights, the example order, the spikes and the phase
        jitter. Prediction uses a fresh engine seeded from it, so :meth:`predict` is
        deterministic.
    engine : {"fast", "fast-double", "brian2", "rate"}, default "fast"
        Simulation engine (``"rate"``: the mean field, no spikes; to explore settings).
    verbose : bool, default False
        Show a progress bar and one line per epoch on stderr/stdout.
    image_shape : (int, int) or None, default None
        Rows and columns of the images that ``X``'s rows hold (row-major), for a protocol
        that shifts the training images (``[train] shift_pixels``,
        :mod:`dendrinet.datasets.shifts`). ``None``: square images when the number of
        features is a square number. Unused without shifts.

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
        Class labels, sorted; output neuron ``k`` stands for ``classes_[k]``.
    n_features_in_ : int
        Number of input features (pixels) seen in :meth:`fit`.
    input_coding_ : InputCoding
        How features become input rates (the model's ``[input]`` table, fitted to the
        training set; :mod:`dendrinet.datasets.input_coding`).
    model_ : ModelConfig
        The model actually trained (hidden sizes, learning rates, outputs applied).
    protocol_ : ProtocolConfig
    params_ : Parameters
        Trained weights and biases.
    history_ : dict of ndarray
        Per-training-example history of all epochs (``epoch``, ``example_id``,
        ``label`` (class index), ``correct``, losses, plateau differences, angles; see
        ``docs/design.md``).
    train_errors_ : ndarray, shape (epochs,)
        Fraction of training examples misclassified during each epoch.
    fit_seconds_ : float
        Wall-clock duration of :meth:`fit`, s.
    """

    def __init__(self, model="guerguiev2017-1hidden", protocol=DEFAULT_PROTOCOL, epochs=10,
                 hidden=None, eta=None, seed=0, engine="fast", verbose=False,
                 image_shape=None):
        self.model = model
        self.protocol = protocol
        self.epochs = epochs
        self.hidden = hidden
        self.eta = eta
        self.seed = seed
        self.engine = engine
        self.verbose = verbose
        self.image_shape = image_shape

    # ------------------------------------------------------------ validation
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # pixel intensities in [0, 1]: negative values are refused (so are values > 1,
        # which no tag expresses)
        tags.input_tags.positive_only = True
        return tags

    def _validate_X(self, X, fitted: bool) -> np.ndarray:
        if hasattr(X, "toarray") and not isinstance(X, np.ndarray):
            raise DendrinetError("X is a sparse matrix; pass a dense array of pixel "
                                 "intensities in [0, 1]")
        if _is_complex(X):
            raise DendrinetError("Complex data not supported: X holds complex numbers; pass "
                                 "real pixel intensities in [0, 1]")
        try:
            X = np.asarray(X, dtype=np.float64)
        except TypeError as exc:  # values that are no numbers at all (dicts, ...)
            raise NotNumbersError(f"X must be numeric pixel intensities ({exc})") from None
        except ValueError as exc:
            raise DendrinetError(f"X must be numeric pixel intensities ({exc})") from None
        if X.ndim != 2:
            raise DendrinetError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}; "
                                 "Reshape your data either using array.reshape(-1, 1) if it "
                                 "has a single feature or array.reshape(1, -1) if it is a "
                                 "single sample")
        for n, what in ((X.shape[0], "sample"), (X.shape[1], "feature")):
            if n == 0:
                raise DendrinetError(f"X has 0 {what}(s) (shape={X.shape}) while a minimum "
                                     "of 1 is required.")
        if not np.isfinite(X).all():
            raise DendrinetError("X contains NaN or infinity; pixel intensities must be finite")
        lo, hi = float(X.min()), float(X.max())
        if lo < 0.0 or hi > 1.0:
            raise DendrinetError(f"{'Negative values in data: ' if lo < 0 else ''}X values lie "
                                 f"in [{lo:g}, {hi:g}]; scale pixels to [0, 1] (they set "
                                 "input rates as a fraction of the maximum rate)")
        if fitted and X.shape[1] != self.n_features_in_:
            raise DendrinetError(f"X has {X.shape[1]} features, but {type(self).__name__} is "
                                 f"expecting {self.n_features_in_} features as input (it was "
                                 f"fitted with {self.n_features_in_})")
        return np.ascontiguousarray(X)

    def _build_model(self, n_classes: int) -> tuple[ModelConfig, ProtocolConfig]:
        model = self.model if isinstance(self.model, ModelConfig) else load_model(self.model)
        protocol = self.protocol if isinstance(self.protocol, ProtocolConfig) else \
            load_protocol(self.protocol)
        hidden = model.hidden
        if self.hidden is not None:
            if isinstance(self.hidden, numbers.Integral) and not isinstance(self.hidden, bool):
                hidden = (int(self.hidden),)
            else:
                try:
                    hidden = tuple(self.hidden)
                except TypeError:
                    hidden = None
                if hidden is None or any(isinstance(h, bool) or not isinstance(h, numbers.Integral)
                                         for h in hidden):
                    raise ConfigError(f"hidden must be an int or a sequence of ints, got "
                                      f"{self.hidden!r}")
                hidden = tuple(int(h) for h in hidden)
            if any(h < 1 for h in hidden):
                raise ConfigError(f"hidden layer sizes must be positive, got {self.hidden!r}")
        n_layers = len(hidden) + 1
        eta = model.learning.eta
        if self.eta is not None:
            if isinstance(self.eta, numbers.Real) and not isinstance(self.eta, bool):
                eta = (float(self.eta),) * n_layers
            else:
                try:
                    eta = tuple(float(e) for e in self.eta)
                except (TypeError, ValueError):
                    raise ConfigError(f"eta must be a number or a sequence of numbers, got "
                                      f"{self.eta!r}") from None
            if any(not np.isfinite(e) or e < 0 for e in eta):
                raise ConfigError(f"learning rates must be finite and non-negative, got {eta}")
        if len(eta) != n_layers:
            raise ConfigError(f"{len(eta)} learning rate(s) {eta} for a network with {n_layers} "
                              f"weight layer(s) (hidden={hidden}); pass eta with one rate per "
                              "layer, or one number for all")
        learning = dataclasses.replace(model.learning, eta=tuple(eta))
        model = dataclasses.replace(model, hidden=hidden, n_outputs=n_classes, learning=learning)
        return model, protocol

    # ------------------------------------------------------------------- API
    def fit(self, X, y):
        """Train the network on labelled examples.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Pixel intensities in [0, 1] (dimensionless; an input neuron fires at
            ``X * phi_max``).
        y : array_like, shape (n_samples,)
            Class labels (any sortable values, at least two classes).

        Returns
        -------
        self
        """
        if y is None:
            raise DendrinetError(f"{type(self).__name__} requires y to be passed, but the "
                                 "target y is None")
        if _is_complex(X) or _is_complex(y):
            raise DendrinetError(f"Complex data not supported: {'X' if _is_complex(X) else 'y'} "
                                 "holds complex numbers; pass real pixel intensities in "
                                 "[0, 1] and class labels")
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn("A column-vector y was passed when a 1d array was expected. Please "
                          "change the shape of y to (n_samples, ), for example using ravel().",
                          DataConversionWarning, stacklevel=2)
            y = y.ravel()
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise DendrinetError("y contains NaN or infinity")
        # a regression target is named as such, before any complaint about X
        kind = type_of_target(y) if y.ndim == 1 and y.size else "binary"
        if kind not in ("binary", "multiclass"):
            raise DendrinetError(f"Unknown label type: {kind!r}; y must hold class labels "
                                 "(a classifier cannot learn a continuous or multi-output "
                                 "target)")
        X = self._validate_X(X, fitted=False)
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise DendrinetError(f"y must be 1-D with one label per row of X ({X.shape[0]}), "
                                 f"got shape {y.shape}")
        classes, y_index = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise DendrinetError(f"y must hold at least two classes, got 1 class: "
                                 f"{classes.tolist()}")
        epochs = check_epochs(self.epochs)
        seed = check_seed(self.seed)
        model, protocol = self._build_model(len(classes))
        y_index = y_index.astype(np.int64)

        t_start = time.perf_counter()
        coding = fit_input_coding(model.input, X)
        rates = coding.apply(X)
        if self.verbose and not coding.is_identity:
            print(f"input coding: {coding.kind} ({coding.reason})", flush=True)
        init_rng, order_rng = seed_streams(seed)
        params = initial_parameters(model, rates.shape[1], init_rng)
        engine = make_engine(self.engine, model, protocol, params, seed)
        average = WeightAverage(model.learning.average_weights_from)
        history, errors = History(), []
        epoch_examples = EpochImages(X, rates, self._image_shape(X.shape[1], protocol),
                                     protocol.shift_pixels, coding.apply, seed, "X")
        for epoch, hist, _ in train_epochs(engine, protocol, rates, y_index, order_rng, 1, epochs,
                                           progress=bool(self.verbose),
                                           epoch_examples=epoch_examples):
            average.after_epoch(params, epoch)
            history.append(epoch, hist)
            errors.append(1.0 - float(np.mean(hist["correct"])))
            if self.verbose:
                print(f"epoch {epoch}/{epochs}: train error {100 * errors[-1]:.2f}%", flush=True)

        self.classes_ = classes
        self.n_features_in_ = int(X.shape[1])
        self.input_coding_ = coding
        self.model_ = model
        self.protocol_ = protocol
        self.params_ = average.tested(params)  # the running mean, where the model asks for it
        self.history_ = history.arrays()
        self.train_errors_ = np.array(errors)
        self.fit_seconds_ = time.perf_counter() - t_start
        return self

    def _image_shape(self, n_features: int, protocol) -> tuple[int, int]:
        """``image_shape``, checked against ``X``; square by default. ``(1, n)`` (not
        images) when neither applies and the protocol shifts nothing."""
        if self.image_shape is not None:
            shape = tuple(self.image_shape)
            if (len(shape) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0
                                           for v in shape)
                    or shape[0] * shape[1] != n_features):
                raise DendrinetError(f"image_shape must be two positive integers whose product "
                                     f"is the number of features ({n_features}), got "
                                     f"{self.image_shape!r}")
            return int(shape[0]), int(shape[1])
        side = math.isqrt(n_features)
        if side * side == n_features:
            return side, side
        if protocol.shift_pixels:
            raise DendrinetError(f"the protocol shifts the training images ([train] "
                                 f"shift_pixels = {protocol.shift_pixels}) and X's "
                                 f"{n_features} features are not a square image: give "
                                 f"image_shape=(rows, columns)")
        return 1, n_features

    def _evaluate(self, X) -> dict:
        check_is_fitted(self, "params_")
        X = self.input_coding_.apply(self._validate_X(X, fitted=True))
        # the engine seed of a training run's last evaluation: predictions on a run's
        # test set equal its predictions.npz
        seed = evaluation_seed(check_seed(self.seed), len(self.train_errors_))
        engine = make_engine(self.engine, self.model_, self.protocol_, self.params_.copy(), seed)
        bar = ProgressBar(self.verbose, len(X), "predict", with_error=False)
        try:
            return engine.evaluate(X, None, progress=bar)
        finally:
            bar.close()

    def decision_function(self, X) -> np.ndarray:
        """Mean somatic potential of each output neuron over the test window.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Pixel intensities in [0, 1].

        Returns
        -------
        ndarray, shape (n_samples, n_classes), or (n_samples,) for two classes
            Dimensionless potentials; column ``k`` belongs to ``classes_[k]``; the
            prediction is the column with the largest value. For two classes (the
            scikit-learn convention for binary problems) the difference
            ``V_1 - V_0``: positive values predict ``classes_[1]``.
        """
        mean_V = np.asarray(self._evaluate(X)["mean_V"], dtype=np.float64)
        return mean_V[:, 1] - mean_V[:, 0] if mean_V.shape[1] == 2 else mean_V

    def predict(self, X) -> np.ndarray:
        """Predicted class of each example (argmax of :meth:`decision_function`).

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Pixel intensities in [0, 1].

        Returns
        -------
        ndarray, shape (n_samples,)
            Labels from ``classes_``.
        """
        pred = np.asarray(self._evaluate(X)["pred"], dtype=np.int64)
        return self.classes_[pred]

    def score(self, X, y, sample_weight=None) -> float:
        """Fraction of examples classified correctly (accuracy), in [0, 1].

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Pixel intensities in [0, 1].
        y : array_like, shape (n_samples,)
            True labels.
        sample_weight : array_like, shape (n_samples,), optional
            Weights of the examples.
        """
        return super().score(X, y, sample_weight=sample_weight)

    # ------------------------------------------------------- trained networks
    @classmethod
    def from_run(cls, run, epoch: int | None = None) -> "SegregatedDendriteClassifier":
        """A fitted classifier holding the weights of one epoch of a training run.

        Parameters
        ----------
        run : Run or path
            A run folder written by :func:`dendrinet.training.trainer.train` (``dendrinet
            train``); an unfinished run gives its finished epochs.
        epoch : int, optional
            Epoch whose weights are used (0 = the initial weights; default the last
            finished epoch).

        Returns
        -------
        SegregatedDendriteClassifier
            Fitted: ``model_``, ``protocol_`` from the run's ``config/``, ``params_``
            the epoch's weights, ``classes_ = arange(n_outputs)`` (the run's labels are
            class indices), ``n_features_in_`` the run's input size, ``train_errors_``
            and ``history_`` of epochs ``1 .. epoch``, ``fit_seconds_`` their recorded
            duration. The parameters (``model``, ``protocol``, ``epochs`` = the epoch
            (at least 1), ``seed``, ``engine``) are the run's, so :meth:`predict` on the run's test
            set after its last epoch reproduces its ``predictions.npz`` exactly, and
            ``clone(clf).fit`` on its training set retrains the same network.

        Raises
        ------
        RunError
            Missing or corrupt run folder, an epoch the run does not have, a model
            naming a rule file that is not the run's own unchanged copy (a run's rule
            copy runs, and is announced on stderr, when the classifier first predicts).
        """
        from dendrinet.training.run_folder import Run

        if not isinstance(run, Run):
            run = Run.open(run, allow_unfinished=True)
        s = run.summary
        if epoch is None:
            epoch = s.epochs_done
        params = run.weights(epoch)  # checks the epoch
        epoch = int(epoch)
        model, protocol = run.model, run.protocol
        clf = cls(model=model, protocol=protocol, epochs=max(epoch, 1), seed=s.seed,
                  engine=s.engine)
        clf.model_ = model
        clf.protocol_ = protocol
        clf.params_ = params
        clf.classes_ = np.arange(model.n_outputs)
        clf.input_coding_ = InputCoding.from_dict(run.info.get("input_coding"),
                                                  f"{run.path}/summary.json")
        clf.n_features_in_ = clf.input_coding_.n_features(int(params.layer_sizes[0]))
        # the evaluation seed depends on the number of epochs trained (_evaluate)
        clf.train_errors_ = s.train_errors[:epoch]
        clf.fit_seconds_ = float(sum(e.seconds for e in s.epochs[:epoch]))
        clf.history_ = _history_until(run.history() if epoch else {}, epoch)
        return clf


def _history_until(history: dict, epoch: int) -> dict:
    """The rows of a run's history (all epochs) that belong to epochs ``1 .. epoch``:
    per-example arrays by ``epoch``, the sampled plateau vectors by ``sample_epoch``."""
    if not history:
        return {}
    keep = np.asarray(history["epoch"]) <= epoch
    keep_sample = (np.asarray(history["sample_epoch"]) <= epoch
                   if "sample_epoch" in history else None)
    out = {}
    for key, value in history.items():
        sampled = key.startswith(("sample_", "alpha_f_", "alpha_t_"))
        mask = keep_sample if sampled else keep
        out[key] = value[mask] if mask is not None and len(value) == len(mask) else value
    return out
