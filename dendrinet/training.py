"""Training runs: train a model on a data set and write a run folder, one atomic
checkpoint per epoch, with ``--resume``.

After every epoch the checkpoint is replaced atomically, so a run killed at any
moment continues with ``resume=True`` from its last finished epoch and reaches
bit-for-bit the weights and errors of an uninterrupted run with the same seed. The
folder's layout and :class:`~dendrinet.run_folder.Run` (reading it back) are in
:mod:`dendrinet.run_folder`; the epoch loop and the random streams in
:mod:`dendrinet.epochs`; re-evaluating a run in :mod:`dendrinet.evaluation`.
"""
from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from dendrinet.backends import ENGINES, make_engine
from dendrinet.backends import engine_name as registered_name
from dendrinet.config import ModelConfig, ProtocolConfig
from dendrinet.engine.results import population_names
from dendrinet.epochs import (History, check_epochs, check_seed, evaluation_seed, seed_streams,
                              timed, train_epochs)
from dendrinet.errors import DendrinetError, RunError
from dendrinet.run_folder import (CHECKPOINT, CONFIG_DIR, HISTORY, PREDICTIONS, SPIKES,
                                  WEIGHTS_DIR, EpochResult, RunSummary, StoredRun,
                                  clear_for_new_run, config_and_text, folder_state,
                                  read_checkpoint, write_checkpoint, write_summary)
from dendrinet.schedule import PHASE_NAMES
from dendrinet.weights import initial_parameters, save_npz_atomic

__all__ = ["train", "resolve_dataset", "check_dataset_labels", "record_spike_sample"]


def resolve_dataset(dataset, data_dir, n_train, n_test):
    from dendrinet.datasets import Dataset, load_dataset
    if isinstance(dataset, Dataset):
        if n_train is not None or n_test is not None:
            raise DendrinetError("n_train/n_test apply to a dataset name, not a Dataset object")
        return dataset
    if not isinstance(dataset, str):
        raise DendrinetError(f"dataset must be a name or a Dataset, got {dataset!r}")
    return load_dataset(dataset, data_dir=data_dir, n_train=n_train, n_test=n_test)


def check_dataset_labels(ds, model: ModelConfig) -> None:
    for split, y in (("train", ds.y_train), ("test", ds.y_test)):
        if len(y) and (y.min() < 0 or y.max() >= model.n_outputs):
            raise DendrinetError(f"dataset {ds.name!r} has {split} labels in "
                                 f"{y.min()}..{y.max()}, but model {model.name!r} has "
                                 f"{model.n_outputs} output neurons")


def record_spike_sample(path: Path, engine, ds, model, protocol, seed, engine_name,
                         n_samples: int) -> None:
    """Spike trains of the first ``n_samples`` test presentations, all layers."""
    from dendrinet.store import SpikeStore
    ids = np.arange(min(n_samples, ds.n_test))
    record = engine.record_spikes(ds.X_test, ids, labels=ds.y_test[ids])
    sizes = model.layer_sizes(ds.n_inputs)
    names = population_names(model)
    tmp = path.with_name(path.name + ".tmp")
    with SpikeStore(tmp, "w", dt=protocol.dt) as store:
        store.set_metadata({"model": model.to_dict(), "protocol": protocol.to_dict(),
                            "seed": seed, "engine": engine_name, "dataset": ds.name,
                            "content": f"{len(ids)} test presentations"})
        for name, n in zip(names, sizes):
            store.add_population(name, int(n))
            times, node_ids = record[name]
            store.append_spikes(name, times, node_ids)
        pres = record["presentations"]
        phase = np.asarray(pres["phase"])
        if phase.dtype.kind in "iu":  # engines may give schedule phase codes
            phase = np.array(PHASE_NAMES)[phase]
        store.append_presentations(pres["example_id"], pres["label"], phase,
                                   pres["t_start"], pres["t_stop"])
        t_stop = float(np.max(pres["t_stop"], initial=0.0))
        if t_stop > 0:
            store.set_t_stop(t_stop)
    os.replace(tmp, path)


def train(model: ModelConfig | str | os.PathLike | None = None,
          protocol: ProtocolConfig | str | os.PathLike | None = None,
          dataset=None, out_dir: str | os.PathLike = "runs/run", epochs: int | None = None,
          seed: int | None = None, engine: str | Callable | None = None,
          resume: bool = False, progress: bool | str = True, n_spike_samples: int = 20, *,
          force: bool = False, data_dir: str | os.PathLike | None = None,
          n_train: int | None = None, n_test: int | None = None,
          sample_every: int = 100) -> RunSummary:
    """Train a network and write a run folder, one atomic checkpoint per epoch.

    Parameters
    ----------
    model : ModelConfig, path or name
        The network (a file, or a name in ``models/``). May be omitted with
        ``resume=True``: the run's own model is used.
    protocol : ProtocolConfig, path or name
        Presentation protocol (default ``"guerguiev2017"``, or the run's own with
        ``resume=True``).
    dataset : Dataset or str
        Data (a :class:`~dendrinet.datasets.Dataset`, or a name for
        :func:`~dendrinet.datasets.load_dataset`). Default ``"mnist-10k"``, or the
        run's own with ``resume=True``.
    out_dir : path
        The run folder to create (or to continue with ``resume=True``).
    epochs : int, optional
        Number of epochs (default: the protocol's ``epochs``). With ``resume=True`` a
        larger number extends a run.
    seed : int, optional
        Seed of everything random (default 0).
    engine : {"fast", "fast-double", "brian2"} or engine class, optional
        Simulation engine (default ``"fast"``).
    resume : bool
        Continue the run in ``out_dir`` from its last checkpoint. Arguments that are
        given must match the run's.
    progress : bool or "lines"
        ``True``: a progress bar per epoch (examples/s, running training error) on
        stderr and one line per epoch (errors, ms per example) on stdout;
        ``"lines"``: only the lines; ``False``: silent.
    n_spike_samples : int
        Number of test presentations whose spike trains are written to
        ``spikes.h5`` at the end (0: no spike file).
    force : bool
        Delete an existing run in ``out_dir`` and start again.
    data_dir : path, optional
        Folder searched first for data files (see :func:`dendrinet.datasets.load_dataset`).
    n_train, n_test : int, optional
        Use only the first examples of a named data set.
    sample_every : int
        Every ``sample_every``-th training example, the engine stores the plateau
        vectors in the history.

    Returns
    -------
    RunSummary

    Raises
    ------
    RunError
        ``out_dir`` holds a run and neither ``force`` nor ``resume`` is set; ``resume``
        on a folder without a run, or with a different model, protocol, data set,
        seed or engine; a corrupt checkpoint.
    ConfigError, DatasetError
        Bad model/protocol file or data set.
    """
    out = Path(out_dir)
    state = folder_state(out)
    if progress not in (True, False, "lines"):
        raise DendrinetError(f"progress must be True, False or 'lines', got {progress!r}")
    if not isinstance(n_spike_samples, (int, np.integer)) or isinstance(n_spike_samples, bool) \
            or n_spike_samples < 0:
        raise DendrinetError(f"n_spike_samples must be a non-negative integer, "
                             f"got {n_spike_samples!r}")

    stored = None
    if resume:
        stored = StoredRun.read(out, state)
        # arguments left out are the run's own
        model = stored.model if model is None else model
        protocol = stored.protocol if protocol is None else protocol
        if dataset is None:
            dataset = stored.info["dataset"]["name"]
            n_train = stored.info["dataset"]["n_train"] if n_train is None else n_train
            n_test = stored.info["dataset"]["n_test"] if n_test is None else n_test
        seed = stored.info.get("seed") if seed is None else seed
        engine = stored.info.get("engine") if engine is None else engine
        epochs = stored.info.get("epochs_planned") if epochs is None else epochs
    if model is None:
        raise DendrinetError("no model given (a ModelConfig, a model file or a name in models/)")
    seed = check_seed(0 if seed is None else seed)
    engine = "fast" if engine is None else engine
    if isinstance(engine, str) and engine not in ENGINES:
        raise DendrinetError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    engine_name = registered_name(engine)
    model, model_text = config_and_text(model, "model")
    protocol, protocol_text = config_and_text(
        "guerguiev2017" if protocol is None else protocol, "protocol")
    epochs = check_epochs(protocol.epochs if epochs is None else epochs)
    ds = resolve_dataset("mnist-10k" if dataset is None else dataset, data_dir, n_train, n_test)
    check_dataset_labels(ds, model)

    if resume:
        stored.check_matches(model, protocol, ds, seed, engine_name)
    else:
        clear_for_new_run(out, state, force)

    init_rng, order_rng = seed_streams(seed)
    if resume and (out / CHECKPOINT).is_file():
        ck = read_checkpoint(out / CHECKPOINT)
        if ck["epoch"] > epochs:
            raise RunError(f"{out}: the run already has {ck['epoch']} epochs, more than the "
                           f"{epochs} asked for")
        params, done = ck["params"], list(ck["epochs"])
        history = History.from_arrays(ck["history"])
        order_rng.bit_generator.state = ck["rng_state"]
        eng = make_engine(engine, model, protocol, params, seed)
        eng.set_state(ck["engine_state"])
    else:
        # a new run, or a resumed run killed before its first checkpoint
        params = initial_parameters(model, ds.n_inputs, init_rng)
        history, done = History(), []
        eng = make_engine(engine, model, protocol, params, seed)
        (out / CONFIG_DIR).mkdir(parents=True, exist_ok=True)
        (out / WEIGHTS_DIR).mkdir(exist_ok=True)
        if not resume:  # a resumed run keeps its exact copies
            (out / CONFIG_DIR / "model.toml").write_text(model_text, encoding="utf-8")
            (out / CONFIG_DIR / "protocol.toml").write_text(protocol_text, encoding="utf-8")
        params.save(out / WEIGHTS_DIR / "epoch_000.npz")

    created = stored.info.get("created", "") if stored else time.strftime("%Y-%m-%dT%H:%M:%S%z")
    summarize = functools.partial(
        write_summary, out, model=model, protocol=protocol, ds=ds, seed=seed,
        engine_name=engine_name, epochs_planned=epochs, created=created)
    if stored and stored.info.get("status") == "finished" and len(done) == epochs:
        if progress:
            print(f"{out}: already finished ({epochs} epochs)", flush=True)
        return summarize(epochs=done, status="finished")
    summarize(epochs=done, status="running")

    t_epoch = time.perf_counter()
    for epoch, hist, t_train in train_epochs(eng, protocol, ds.X_train, ds.y_train, order_rng,
                                             len(done) + 1, epochs, progress=progress is True,
                                             sample_every=sample_every):
        # a fresh engine per evaluation: test spikes do not disturb the training stream
        tester = make_engine(engine, model, protocol, params, evaluation_seed(seed, epoch))
        result, t_test = timed(tester.evaluate, ds.X_test, ds.y_test,
                                bar=(progress is True, ds.n_test, f"test {epoch}/{epochs}", False))
        correct = np.asarray(hist["correct"], dtype=bool)
        y_pred = np.asarray(result["pred"], dtype=np.int64)
        n_test_errors = int(np.count_nonzero(y_pred != ds.y_test))

        params.save(out / WEIGHTS_DIR / f"epoch_{epoch:03d}.npz")
        history.append(epoch, hist)
        save_npz_atomic(out / HISTORY, history.arrays())
        save_npz_atomic(out / PREDICTIONS, {
            "y_true": ds.y_test, "y_pred": y_pred,
            "mean_V": np.asarray(result["mean_V"], dtype=np.float64),
            "epoch": np.array(epoch, dtype=np.int64)})
        done.append(EpochResult(
            epoch=epoch, train_error=1.0 - np.count_nonzero(correct) / len(correct),
            test_error=n_test_errors / ds.n_test,
            ms_per_train_example=1000.0 * t_train / ds.n_train,
            ms_per_test_example=1000.0 * t_test / ds.n_test,
            seconds=time.perf_counter() - t_epoch))
        summarize(epochs=done, status="running")
        # the checkpoint comes last: everything it refers to is on disk before it
        write_checkpoint(out / CHECKPOINT, params=params, engine_state=eng.get_state(),
                          rng=order_rng, epoch=epoch, history=history, epochs=done)
        if progress:
            r = done[-1]
            print(f"epoch {epoch}/{epochs}: train error {100 * r.train_error:6.2f}%  "
                  f"test error {100 * r.test_error:6.2f}% ({n_test_errors} of {ds.n_test})  "
                  f"{r.ms_per_train_example:.3f} ms/train example  "
                  f"{r.ms_per_test_example:.3f} ms/test example  {r.seconds:.1f} s", flush=True)
        t_epoch = time.perf_counter()

    if n_spike_samples:
        recorder = make_engine(engine, model, protocol, params, evaluation_seed(seed, epochs))
        record_spike_sample(out / SPIKES, recorder, ds, model, protocol, seed, engine_name,
                             int(n_spike_samples))
    return summarize(epochs=done, status="finished")
