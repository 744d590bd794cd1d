"""Training runs: train a model on a data set and write a run folder, one atomic
checkpoint per epoch, with ``--resume``.

After every epoch the checkpoint is replaced atomically, so a run killed at any
moment continues with ``resume=True`` from its last finished epoch and reaches
bit-for-bit the weights and errors of an uninterrupted run with the same seed. A run
folder has one writer at a time (:class:`~dendrinet.folder_lock.FolderLock`, taken
before anything is loaded, deleted or written; a killed writer's lock goes with it),
and an operating-system failure (full disk, ...) is one :class:`RunError` naming the
file, with the last checkpoint intact. The folder's layout and :class:`~dendrinet.run_folder.Run` (reading it back) are in
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

from dendrinet._atomic import WriteError, os_error_text, write_text_atomic
from dendrinet.backends import ENGINES, make_engine
from dendrinet.backends import engine_name as registered_name
from dendrinet.config import DEFAULT_PROTOCOL, ModelConfig, ProtocolConfig
from dendrinet.engine.results import population_names
from dendrinet.epochs import (History, check_epochs, check_seed, evaluation_seed, seed_streams,
                              timed, train_epochs, warm_up)
from dendrinet.errors import DendrinetError, RunError, StoreError
from dendrinet.folder_lock import FolderLock
from dendrinet.run_folder import (CHECKPOINT, CONFIG_DIR, HISTORY, PREDICTIONS, SPIKES, SUMMARY,
                                  WEIGHTS_DIR, EpochResult, RunSummary, StoredRun,
                                  clear_for_new_run, config_and_text, dataset_fingerprint,
                                  folder_state, read_checkpoint, write_checkpoint,
                                  write_summary)
from dendrinet.schedule import PHASE_NAMES
from dendrinet.weights import initial_parameters, save_npz_atomic

__all__ = ["train", "resolve_dataset", "check_dataset_labels", "record_spike_sample"]


def resolve_dataset(dataset, data_dir, n_train, n_test):
    """A :class:`~dendrinet.datasets.Dataset` from a Dataset, a name or the path of a
    user's ``.npz`` file or idx folder (see :func:`~dendrinet.datasets.load_dataset`)."""
    from dendrinet.datasets import Dataset, load_dataset
    if isinstance(dataset, Dataset):
        if n_train is not None or n_test is not None:
            raise DendrinetError("n_train/n_test apply to a dataset name, not a Dataset object")
        return dataset
    if not isinstance(dataset, (str, os.PathLike)):
        raise DendrinetError(f"dataset must be a name, a path or a Dataset, got {dataset!r}")
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
    from dendrinet.store import write_new_store
    ids = np.arange(min(n_samples, ds.n_test))
    record = engine.record_spikes(ds.X_test, ids, labels=ds.y_test[ids])
    names = population_names(model)
    pres = record["presentations"]
    phase = np.asarray(pres["phase"])
    if phase.dtype.kind in "iu":  # engines may give schedule phase codes
        phase = np.array(PHASE_NAMES)[phase]
    write_new_store(
        path, dt=protocol.dt,
        sizes=dict(zip(names, (int(n) for n in model.layer_sizes(ds.n_inputs)))),
        spikes={name: record[name] for name in names},
        presentations=(pres["example_id"], pres["label"], phase, pres["t_start"],
                       pres["t_stop"]),
        metadata={"model": model.to_dict(), "protocol": protocol.to_dict(), "seed": seed,
                  "engine": engine_name, "dataset": ds.name,
                  "content": f"{len(ids)} test presentations"},
        t_stop=float(np.max(pres["t_stop"], initial=0.0)))


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
        Presentation protocol (default ``"paper-timing"``, or the run's own with
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
        given must match the run's. A run killed before it wrote its summary (or a
        missing folder) is started anew when ``model`` is given.
    progress : bool or "lines"
        ``True``: a progress bar per epoch (examples/s, running training error) on
        stderr and one line per epoch (errors, ms per example) on stdout;
        ``"lines"``: only the lines; ``False``: silent.
    n_spike_samples : int
        Number of test presentations whose spike trains are written to
        ``spikes.h5`` at the end (0: no spike file).
    force : bool
        Delete an existing run in ``out_dir`` and start again (never while another
        process writes it).
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
        seed or engine; a corrupt checkpoint; an operating-system failure while
        writing (full disk, read-only file system, permissions: one message naming the
        file and the cause; the last checkpoint stays intact).
    FolderBusyError
        Another process (or another call in this one) is writing ``out_dir``: a run
        folder has one writer, holding :class:`~dendrinet.folder_lock.FolderLock`.
    ConfigError, DatasetError
        Bad model/protocol file or data set.
    """
    out = Path(out_dir)
    if progress not in (True, False, "lines"):
        raise DendrinetError(f"progress must be True, False or 'lines', got {progress!r}")
    if not isinstance(n_spike_samples, (int, np.integer)) or isinstance(n_spike_samples, bool) \
            or n_spike_samples < 0:
        raise DendrinetError(f"n_spike_samples must be a non-negative integer, "
                             f"got {n_spike_samples!r}")
    try:
        if folder_state(out) == "other":  # checked before the lock file goes in there
            clear_for_new_run(out, "other", force)
    except OSError as exc:
        raise RunError(f"cannot use run folder {os_error_text(exc, out)}") from None
    # one writer per folder, from here to the end; taking the lock also shows that the
    # folder can be written, before any data is loaded or code compiled
    lock = FolderLock(out, what="run folder").acquire()
    try:
        summary = _train_locked(lock, model, protocol, dataset, epochs, seed, engine, resume,
                                progress, n_spike_samples, force, data_dir, n_train,
                                n_test, sample_every)
    except BaseException as exc:
        lock.release(remove_if_created=True)  # a folder made here and left empty goes
        if isinstance(exc, (OSError, WriteError, StoreError)):
            raise _write_failure(out, exc) from None
        raise
    lock.release()
    return summary


def _write_failure(out: Path, exc: Exception) -> RunError:
    """One RunError for an OS failure while writing a run: the file, the cause, and
    what the folder still holds."""
    text = str(exc) if isinstance(exc, DendrinetError) else \
        f"cannot write {os_error_text(exc, out)}"
    try:
        epoch = read_checkpoint(out / CHECKPOINT)["epoch"] if (out / CHECKPOINT).is_file() \
            else None
    except RunError:
        epoch = None
    if epoch is not None:
        text += (f"; the run's last checkpoint (epoch {epoch}) is intact: continue it with "
                 f"'dendrinet train --out {out} --resume' once the cause is fixed")
    elif (out / SUMMARY).is_file():
        text += (f"; no epoch was checkpointed yet: 'dendrinet train --out {out} --resume' "
                 "starts the run again once the cause is fixed")
    elif out.is_dir():
        text += "; start the run again once the cause is fixed"
    error = RunError(text)
    error.errno = getattr(exc, "errno", None)
    return error


def _train_locked(lock: FolderLock, model, protocol, dataset, epochs, seed, engine, resume,
                  progress, n_spike_samples, force, data_dir, n_train, n_test,
                  sample_every) -> RunSummary:
    """:func:`train` with the folder's lock held."""
    out = lock.path
    state = folder_state(out)
    if state in ("run", "unstarted", "empty"):
        lock.remove_temporaries([CONFIG_DIR, WEIGHTS_DIR])  # left by killed writers
    if resume and state in ("absent", "empty", "unstarted") and model is not None:
        # killed before it recorded anything: nothing to continue, all to start
        resume = False
        if progress and state == "unstarted":
            print(f"{out}: the run was killed before its first record; starting it anew",
                  flush=True)

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
        DEFAULT_PROTOCOL if protocol is None else protocol, "protocol")
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
        # config, then the initial weights, then the summary: a folder with a summary
        # holds complete copies of both (each file is written atomically)
        (out / CONFIG_DIR).mkdir(parents=True, exist_ok=True)
        (out / WEIGHTS_DIR).mkdir(exist_ok=True)
        if not resume:  # a resumed run keeps its exact copies
            write_text_atomic(out / CONFIG_DIR / "model.toml", model_text)
            write_text_atomic(out / CONFIG_DIR / "protocol.toml", protocol_text)
        params.save(out / WEIGHTS_DIR / "epoch_000.npz")

    created = stored.info.get("created", "") if stored else time.strftime("%Y-%m-%dT%H:%M:%S%z")
    summarize = functools.partial(
        write_summary, out, model=model, protocol=protocol, ds=ds, seed=seed,
        engine_name=engine_name, epochs_planned=epochs, created=created,
        fingerprint=dataset_fingerprint(ds))
    if stored and stored.info.get("status") == "finished" and len(done) == epochs:
        if progress:
            print(f"{out}: already finished ({epochs} epochs)", flush=True)
        return summarize(epochs=done, status="finished",
                         compile_seconds=stored.info.get("compile_seconds"))
    # compile (or load) the engine's code on a throwaway engine first: no epoch's
    # timing includes compilation
    compile_seconds = warm_up(lambda: make_engine(engine, model, protocol, params.copy(), seed),
                              ds.X_train, ds.y_train, verbose=bool(progress))
    summarize = functools.partial(summarize, compile_seconds=round(compile_seconds, 3))
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
