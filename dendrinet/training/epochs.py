"""The epoch loop shared by ``dendrinet train`` and the estimator: seeds, the example
order, progress bars, timing and the per-example history.

Random streams. One seed fixes everything: the initial parameters and the example
order come from two children of ``numpy.random.SeedSequence(seed)``
(:func:`seed_streams`); the training engine gets ``seed`` itself for its spikes and
phase jitter; each test evaluation runs on a fresh engine seeded with
:func:`evaluation_seed` ``(seed, epoch)``.
"""
from __future__ import annotations

import math
import sys
import time
import warnings
from typing import Callable, Iterator

import numpy as np

from dendrinet.errors import DendrinetError, TrainingError

__all__ = ["check_seed", "check_epochs", "seed_streams", "evaluation_seed", "ProgressBar",
           "History", "warm_up", "train_epochs", "timed", "LearningStalledWarning",
           "stalled_message"]


class LearningStalledWarning(UserWarning):
    """The training error of an epoch is still at chance (:func:`stalled_message`)."""


def stalled_message(y, correct, epoch: int) -> str | None:
    """One line saying that training stalled, with what to try, when the training error
    of ``epoch`` is at chance: not below the error of always answering the most
    frequent class by more than two standard errors of that error (binomial, ``n``
    examples). None otherwise.

    Parameters
    ----------
    y : array of int
        Labels of the epoch's examples.
    correct : array of bool
        Whether each forward-phase prediction was right.
    epoch : int
    """
    y = np.asarray(y)
    n = y.size
    if n < 20:  # too few examples to tell
        return None
    chance = 1.0 - np.bincount(y).max() / n
    error = 1.0 - np.count_nonzero(correct) / n
    if error < chance - 2.0 * math.sqrt(max(chance * (1.0 - chance), 1e-12) / n):
        return None
    return (f"training error {100 * error:.1f} % in epoch {epoch} is at chance "
            f"({100 * chance:.1f} %, always the most frequent class): the network is not "
            f"learning. Try [input] coding = \"on-off\" (features standardised and split "
            f"into ON and OFF inputs) if your features vary little around their mean, "
            f"smaller learning rates ([learning] eta, e.g. 10x lower), the model without a "
            f"hidden layer (guerguiev2017-0hidden) first, or more examples per class")


def check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DendrinetError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def check_epochs(epochs) -> int:
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise DendrinetError(f"epochs must be a positive integer, got {epochs!r}")
    return int(epochs)


def seed_streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Generators for the initial parameters and for the example order."""
    init_seq, order_seq = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(init_seq), np.random.default_rng(order_seq)


def evaluation_seed(seed: int, epoch: int) -> int:
    """Engine seed (32 bits) of the test presentations after ``epoch``.

    Each evaluation runs on a fresh engine with this seed, so a test error depends
    only on the weights, the seed and the epoch: it does not disturb the training
    stream, and :func:`evaluate_run` reproduces the recorded error exactly.
    """
    return int(np.random.SeedSequence([seed, epoch, 0x7E57]).generate_state(1)[0])


class ProgressBar:
    """A tqdm bar for one pass over examples, fed by the engines' callbacks."""

    def __init__(self, enabled: bool, total: int, desc: str, with_error: bool):
        self.bar = None
        self.with_error = with_error
        if enabled:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=total, desc=desc, unit="ex", leave=False,
                            dynamic_ncols=True, mininterval=0.5, file=sys.stderr)

    def __call__(self, n_done: int, n_correct: int | None = None) -> None:
        if self.bar is None:
            return
        self.bar.update(max(0, int(n_done) - self.bar.n))
        if self.with_error and n_correct is not None and n_done:
            self.bar.set_postfix_str(f"train error {100 * (1 - n_correct / n_done):.1f}%",
                                     refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class History:
    """Per-example history arrays, accumulated epoch by epoch."""

    def __init__(self):
        self.parts: dict[str, list[np.ndarray]] = {}

    def append(self, epoch: int, hist: dict[str, np.ndarray]) -> None:
        n = len(hist["correct"])
        hist = dict(hist)
        hist["epoch"] = np.full(n, epoch, dtype=np.int64)
        if "sample_position" in hist:  # the sampled plateau vectors get their epoch too
            hist["sample_epoch"] = np.full(len(hist["sample_position"]), epoch, dtype=np.int64)
        for key, value in hist.items():
            self.parts.setdefault(key, []).append(np.asarray(value))

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate(v) for k, v in self.parts.items()}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "History":
        h = cls()
        h.parts = {k: [v] for k, v in arrays.items()}
        return h


def warm_up(new_engine, X, y, *, verbose: bool = True) -> float:
    """Compile (or load from Numba's and Brian2's caches) everything training and testing
    run, on a throwaway engine, so that no epoch's timing includes compilation.

    Parameters
    ----------
    new_engine : callable
        ``new_engine()`` returns a fresh engine on a copy of the parameters (the
        engine that trains is not touched: results stay bit-identical).
    X, y : arrays
        Examples; one is trained and one tested.
    verbose : bool
        Print the engine's note (``compile_note()``) when it will compile.

    Returns
    -------
    float
        Seconds spent (compilation, or loading the caches).

    Raises
    ------
    TrainingError
        The trial example went non-finite (the message says it was this trial run).
    """
    engine = new_engine()
    note = getattr(engine, "compile_note", lambda: None)()
    if note and verbose:
        print(note, flush=True)
    t0 = time.perf_counter()
    try:
        engine.train_epoch(X[:1], y[:1], order=np.zeros(1, np.int64), sample_every=1)
        engine.evaluate(X[:1])
        # engines with compiled kernels for their other methods compile those now, so
        # that a model compiles once (train, then simulate, loads from the cache)
        precompile = getattr(engine, "precompile", None)
        if precompile is not None:
            precompile(X[:1])
    except TrainingError as exc:  # it is no epoch: say what it was
        where = getattr(exc, "where", None)
        trial = "the trial run on training example 0 (before epoch 1)"
        raise TrainingError(str(exc).replace(where, trial, 1) if where else
                            f"{trial}: {exc}") from None
    return time.perf_counter() - t0


def train_epochs(engine, protocol, X, y, order_rng: np.random.Generator, first: int,
                 last: int, *, progress: bool = True, sample_every: int = 100,
                 epoch_examples: Callable[[int], np.ndarray] | None = None
                 ) -> Iterator[tuple[int, dict, float]]:
    """Train ``engine`` for epochs ``first .. last``; yield ``(epoch, history of the
    epoch, seconds of training)`` after each.

    The example order of each epoch is ``order_rng.permutation(n)`` (or ``0 .. n-1``
    when the protocol does not shuffle); ``epoch_examples(epoch)``, when given, replaces
    ``X`` for that epoch (shifted images: :class:`dendrinet.datasets.shifts.EpochImages`);
    ``progress`` shows a bar per epoch with the running training error. The first epoch whose training error is still at chance
    warns once (:class:`LearningStalledWarning`, :func:`stalled_message`).
    """
    warned = False
    for epoch in range(first, last + 1):
        order = order_rng.permutation(len(X)) if protocol.shuffle else np.arange(len(X))
        X_epoch = X if epoch_examples is None else epoch_examples(epoch)
        hist, seconds = timed(engine.train_epoch, X_epoch, y, order=order, sample_every=sample_every,
                              bar=(progress, len(X), f"epoch {epoch}/{last}", True))
        message = None if warned or "label" not in hist else \
            stalled_message(hist["label"], hist["correct"], epoch)
        if message:  # once per run: the first epoch that is still at chance
            warnings.warn(message, LearningStalledWarning, stacklevel=2)
            warned = True
        yield epoch, hist, seconds


def timed(method, *args, bar, **kwargs):
    """``method(*args, progress=<bar>, **kwargs)`` and its wall-clock duration (s);
    ``bar`` is ``(enabled, total, description, with_error)`` of a :class:`ProgressBar`."""
    progress_bar = ProgressBar(*bar)
    try:
        t0 = time.perf_counter()
        result = method(*args, progress=progress_bar, **kwargs)
        return result, time.perf_counter() - t0
    finally:
        progress_bar.close()


