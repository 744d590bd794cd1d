"""Re-evaluating a training run: the weights of any epoch on any test set."""
from __future__ import annotations

import os
from typing import Callable

import numpy as np

from dendrinet.backends import make_engine
from dendrinet.training.epochs import ProgressBar, check_seed, evaluation_seed
from dendrinet.errors import RunError
from dendrinet.training.run_folder import Run
from dendrinet.training.trainer import check_dataset_labels, load_run_dataset
from dendrinet.datasets.input_coding import InputCoding

__all__ = ["evaluate_run"]


def evaluate_run(run: Run | str | os.PathLike, epoch: int | None = None, dataset=None, *,
                 data_dir=None, n_test: int | None = None, seed: int | None = None,
                 engine: str | Callable | None = None, test_duration=None,
                 average_from: int | None = None, progress: bool = False) -> dict:
    """Evaluate the weights of one epoch of a run on a test set.

    Parameters
    ----------
    run : Run or path
        The run (unfinished runs are accepted: their finished epochs are evaluated).
    epoch : int, optional
        Epoch whose weights are used (0 = initial; default the last finished epoch).
    dataset : Dataset or str, optional
        Test data (its test split is used). Default: the run's data set with the
        run's number of test examples.
    data_dir : path, optional
        Folder searched first for data files (default for the run's own named data
        set: the folder it was trained from, recorded in ``summary.json``, if it
        still exists).
    n_test : int, optional
        Use only the first ``n_test`` test examples of a named data set.
    seed : int, optional
        Engine seed of the test spikes. Default: the one used after ``epoch`` during
        training (:func:`evaluation_seed`), which reproduces the recorded test
        predictions exactly on the run's own test set.
    engine : optional
        Engine (default the run's).
    test_duration : str or Quantity, optional
        Presentation time of each test example, e.g. ``"1000 ms"`` (default the run's
        protocol's). Training does not depend on it, so longer presentations re-test the
        same weights with less spike noise.
    average_from : int, optional
        Test the mean of the weights at the ends of epochs ``average_from .. epoch``
        (``[learning] average_weights_from``): for a run trained without averaging, what
        it would have recorded with it. Refused for a run that averaged already (its
        weight files hold the mean).
    progress : bool
        Show a progress bar.

    Returns
    -------
    dict
        ``epoch``, ``averaged`` (first epoch of the mean, or None), ``test_duration``
        (ms), ``dataset``, ``y_true``, ``y_pred``, ``mean_V``, ``error``
        (fraction), ``n_errors``, ``per_class_error`` (fraction per class, NaN for
        classes without examples), ``class_counts``.
    """
    if not isinstance(run, Run):
        run = Run.open(run, allow_unfinished=True)
    s = run.summary
    if epoch is None:
        epoch = s.epochs_done
    model, protocol = run.model, run.protocol
    params = _tested_weights(run, int(epoch), average_from)
    if test_duration is not None:
        protocol = with_test_duration(protocol, test_duration)
    if dataset is None:
        dataset = s.dataset
        n_test = s.n_test if n_test is None else n_test
    from dendrinet.datasets import Dataset
    if isinstance(dataset, Dataset):
        ds = dataset
    else:  # the run's own named data set is looked for where the run found it
        ds, _ = load_run_dataset(run.path, run.info, dataset, data_dir, n_train=1,
                                 n_test=n_test)
    # the run's features -> input rates, with the statistics of its training set
    ds = InputCoding.from_dict(run.info.get("input_coding"),
                               f"{run.path}/summary.json").apply_to(ds)
    if ds.n_inputs != params.layer_sizes[0]:
        raise RunError(f"dataset {ds.name!r} has {ds.n_inputs} inputs per example, but the "
                       f"run's network has {params.layer_sizes[0]}")
    check_dataset_labels(ds, model)
    seed = evaluation_seed(s.seed, int(epoch)) if seed is None else check_seed(seed)
    eng = make_engine(engine or s.engine, model, protocol, params, seed)
    bar = ProgressBar(progress, ds.n_test, f"evaluate epoch {epoch}", with_error=False)
    try:
        result = eng.evaluate(ds.X_test, ds.y_test, progress=bar)
    finally:
        bar.close()
    y_pred = np.asarray(result["pred"], dtype=np.int64)
    wrong = y_pred != ds.y_test
    counts = np.bincount(ds.y_test, minlength=model.n_outputs)
    errors = np.bincount(ds.y_test, weights=wrong, minlength=model.n_outputs)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(counts > 0, errors / np.maximum(counts, 1), np.nan)
    return {"epoch": int(epoch), "averaged": average_from,
            "test_duration": float(protocol.test_duration), "dataset": ds.name, "y_true": ds.y_test, "y_pred": y_pred,
            "mean_V": np.asarray(result["mean_V"]), "error": float(wrong.mean()),
            "n_errors": int(wrong.sum()), "per_class_error": per_class,
            "class_counts": counts}


def with_test_duration(protocol, test_duration):
    """``protocol`` with another test presentation time, read and checked like the
    protocol file's ``[test] duration`` (a time with its unit, within the limits)."""
    import dataclasses

    from dendrinet.config.fields import read_values
    from dendrinet.config.protocol import PROTOCOL_SETTINGS
    from dendrinet.errors import ConfigError

    value = test_duration if isinstance(test_duration, str) else str(test_duration)

    def refused(reason) -> ConfigError:  # the protocol file's table and key mean nothing here
        return ConfigError(f"test duration {value!r}: {str(reason).split(': ', 1)[-1].strip()}")

    setting = next(s for s in PROTOCOL_SETTINGS if s.name == "test_duration")
    try:
        ms = read_values([setting], {setting.key: value}, "[test]")[setting.name]
    except ConfigError as exc:
        raise refused(exc) from None
    if ms <= protocol.test_settle:
        raise refused(f"must be longer than the protocol's test settle time "
                      f"({protocol.test_settle:g} ms), after which the test averages")
    changed = dataclasses.replace(protocol, test_duration=ms)
    try:
        changed.check("")
    except ConfigError as exc:
        raise refused(exc) from None
    return changed


def _tested_weights(run: Run, epoch: int, average_from: int | None):
    """The weights of ``epoch``, or the mean of those of epochs ``average_from..epoch``."""
    if average_from is None:
        return run.weights(epoch)
    from dendrinet.learning.weight_average import WeightAverage

    already = run.model.learning.average_weights_from
    if already:
        raise RunError(f"{run.path} averaged its weights already (average_weights_from = "
                       f"{already}): its weight files hold the mean; evaluate them without "
                       "--average-from")
    if isinstance(average_from, bool) or not 1 <= int(average_from) <= epoch:
        raise RunError(f"the mean must start at an epoch from 1 to the epoch tested "
                       f"({epoch}), not {average_from}")
    average = WeightAverage(int(average_from))
    for k in range(int(average_from), epoch + 1):
        tested = average.after_epoch(run.weights(k), k)
    return tested
