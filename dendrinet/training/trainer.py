"""Training runs: train a model on a data set and write a run folder, one atomic
checkpoint per epoch, with ``--resume``.

After every epoch the checkpoint is replaced atomically, so a run killed at any
moment continues with ``resume=True`` from its last finished epoch and reaches
bit-for-bit the weights and errors of an uninterrupted run with the same seed. A run
folder has one writer at a time (:class:`~dendrinet.storage.locks.FolderLock`, taken
before anything is loaded, deleted or written; a killed writer's lock goes with it),
and an operating-system failure (full disk, ...) is one :class:`RunError` naming the
file, with the last checkpoint intact. The folder's layout and :class:`~dendrinet.training.run_folder.Run` (reading it back) are in
:mod:`dendrinet.training.run_folder`; the epoch loop and the random streams in
:mod:`dendrinet.training.epochs`; re-evaluating a run in :mod:`dendrinet.training.evaluation`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from dendrinet.storage.files import WriteError, os_error_text
from dendrinet.config import limits
from dendrinet.backends import ENGINES, make_engine
from dendrinet.backends import engine_name as registered_name
from dendrinet.config import DEFAULT_PROTOCOL, ModelConfig, ProtocolConfig, model_to_toml
from dendrinet.datasets import first_data_dir
from dendrinet.engine.results import population_names
from dendrinet.training.epochs import (History, check_epochs, check_seed, evaluation_seed, seed_streams,
                              timed, train_epochs, warm_up)
from dendrinet.errors import DatasetError, DendrinetError, RunError, StoreError, TrainingError
from dendrinet.storage.locks import LOCK_NAME, FolderLock
from dendrinet.learning.weight_average import WeightAverage
from dendrinet.learning.rule_files import (check_allowed, file_sha256, keep_copy, read_rule,
                                            user_rule_file)
from dendrinet.training.run_folder import (CHECKPOINT, CONFIG_DIR, HISTORY, PREDICTIONS, RUN_MARKER,
                                  SPIKES, SUMMARY, WEIGHTS_DIR, EpochResult, RunFiles,
                                  RunSummary, StoredRun, check_no_links, clear_for_new_run,
                                  config_and_text, dataset_fingerprint, folder_state,
                                  read_checkpoint, read_marker, write_summary)
from dendrinet.config.schedule import PHASE_NAMES
from dendrinet.model.weights import initial_parameters
from dendrinet.datasets.input_coding import InputCoding, fit_input_coding
from dendrinet.datasets.shifts import EpochImages

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


def load_run_dataset(run: Path, info: dict, dataset, data_dir, n_train=None, n_test=None):
    """A data set for work on a run (``--resume``, ``evaluate``, ``simulate --run``).

    For the run's own named data set and no ``data_dir``, the folder the run recorded in
    ``summary.json`` (``dataset.data_dir``) is searched first while it exists, then the
    usual folders (:func:`~dendrinet.datasets.load_dataset`); data that cannot be found
    is one :class:`DatasetError` that names the recorded folder and what to pass.

    Returns
    -------
    (Dataset, path or None)
        The data set, and the folder searched first.
    """
    run_ds = info.get("dataset") or {}
    recorded = run_ds.get("data_dir")
    if data_dir is not None or not isinstance(recorded, str) or not isinstance(dataset, str) \
            or dataset.strip().lower() != str(run_ds.get("name")).strip().lower():
        return resolve_dataset(dataset, data_dir, n_train, n_test), data_dir
    gone = not Path(recorded).is_dir()
    try:
        return resolve_dataset(dataset, None if gone else recorded, n_train, n_test), \
            None if gone else recorded
    except DatasetError as exc:
        raise DatasetError(f"{run}: the run was trained on {dataset!r} from {recorded}"
                           f"{', which is gone' if gone else ''}; {exc}") from None


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
        ``resume=True``: the run's own model is used. A user's rule file
        (``[learning] rule``) runs only when you named it
        (:func:`dendrinet.allow_rule_file`; ``--rule-file``); it is announced on stderr,
        copied into ``config/`` (its SHA-256 in ``summary.json``) and the run trains
        with, and later runs, that copy (:mod:`dendrinet.learning.rule_files`). Its input
        layer is sized to the data (:mod:`dendrinet.datasets.input_coding`), and so is
        its output layer when the data has more classes than the model has outputs.
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
    engine : {"fast", "fast-double", "brian2", "rate"} or engine class, optional
        Simulation engine (default ``"fast"``; ``"rate"``: the mean field, docs/rate_engine.rst).
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
        Delete the files an earlier run in ``out_dir`` wrote (those its marker lists;
        nothing else there) and start again (never while another process writes it). A
        folder that is not a run is refused with or without it.
    data_dir : path, optional
        Folder searched first for data files (see :func:`dendrinet.datasets.load_dataset`).
        For a named data set, ``summary.json`` records it (or ``$DENDRINET_DATA_DIR``),
        and ``resume=True`` and :func:`~dendrinet.training.evaluation.evaluate_run` search it
        again when no ``data_dir`` is given.
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
        ``out_dir`` holds a run and neither ``force`` nor ``resume`` is set, or is not
        a run folder (no marker), or holds a symbolic link where the run writes; the
        writer's lock file was deleted or replaced (it stops before its next epoch's
        files); files of the run being resumed are corrupt or of another run; ``resume``
        on a folder without a run, or with a different model, protocol, data set,
        seed or engine; a corrupt checkpoint; an operating-system failure while
        writing (full disk, read-only file system, permissions: one message naming the
        file and the cause; the last checkpoint stays intact).
    FolderBusyError
        Another process (or another call in this one) is writing ``out_dir``: a run
        folder has one writer, holding :class:`~dendrinet.storage.locks.FolderLock`.
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
        summary = _train_locked(lock, RunRequest(
            model=model, protocol=protocol, dataset=dataset, epochs=epochs, seed=seed,
            engine=engine, resume=resume, progress=progress, n_spike_samples=n_spike_samples,
            force=force, data_dir=data_dir, n_train=n_train, n_test=n_test,
            sample_every=sample_every))
    except BaseException as exc:
        if lock.created:
            _forget_empty_run(out)
        lock.release(remove_if_created=True)  # a folder made here and left empty goes
        if isinstance(exc, (OSError, WriteError, StoreError)):
            raise _write_failure(out, exc) from None
        if isinstance(exc, TrainingError):
            raise _training_failure(out, exc) from None
        raise
    lock.release()
    return summary


def _forget_empty_run(out: Path) -> None:
    """Remove the marker of a run that failed before it wrote any file (a model beyond
    memory, a data set not found), in a folder this call created: the folder then goes
    too, as if the command had never run."""
    try:
        marker = read_marker(out)
        names = {p.name for p in out.iterdir()}
    except (RunError, OSError):
        return
    if marker is not None and not marker.get("files") and names <= {RUN_MARKER, LOCK_NAME}:
        with contextlib.suppress(OSError):
            (out / RUN_MARKER).unlink()


def _training_failure(out: Path, exc: TrainingError) -> TrainingError:
    """The engine's TrainingError (a NaN or infinity), with what the folder still holds:
    the epoch being trained was never written, the last checkpoint is untouched."""
    try:
        epoch = read_checkpoint(out / CHECKPOINT)["epoch"] if (out / CHECKPOINT).is_file() \
            else None
    except RunError:
        epoch = None
    kept = (f"the run's last good checkpoint (epoch {epoch}, "
            f"{WEIGHTS_DIR}/epoch_{epoch:03d}.npz) in {out} is kept" if epoch is not None
            else f"no epoch of {out} was completed")
    return TrainingError(f"{exc}; {kept}")


def _rule_as_run(model: ModelConfig, stored: StoredRun) -> ModelConfig:
    """``model`` naming the run's copy of its rule file when it names a file of the same
    content and function (``--resume --model`` with the original model file)."""
    mine, theirs = user_rule_file(model), user_rule_file(stored.model)
    if mine is None or theirs is None or mine == theirs or mine[1] != theirs[1]:
        return model
    try:
        digest = file_sha256(read_rule(mine[0]))
    except DendrinetError:
        return model  # check_matches names the difference
    if digest != stored.info.get("rule_file", {}).get("sha256"):
        raise RunError(f"{stored.path}: cannot resume: the rule file {mine[0]} is not the one "
                       f"the run was trained with (its copy {theirs[0]} has another sha256); "
                       "leave out --model to continue with the run's own")
    return dataclasses.replace(model, learning=dataclasses.replace(
        model.learning, rule=stored.model.learning.rule))


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


@dataclasses.dataclass(frozen=True)
class RunRequest:
    """The arguments of one :func:`train` call, as given (None: the run's own with
    ``resume``, else the default); see :func:`train` for each."""

    model: ModelConfig | str | os.PathLike | None
    protocol: ProtocolConfig | str | os.PathLike | None
    dataset: object
    epochs: int | None
    seed: int | None
    engine: str | Callable | None
    resume: bool
    progress: bool | str
    n_spike_samples: int
    force: bool
    data_dir: str | os.PathLike | None
    n_train: int | None
    n_test: int | None
    sample_every: int


def _train_locked(lock: FolderLock, request: RunRequest) -> RunSummary:
    """:func:`train` with the folder's lock held."""
    # the request's values, some of which a resumed run's own replace below
    model, protocol, dataset, epochs = (request.model, request.protocol, request.dataset,
                                        request.epochs)
    seed, engine, resume, progress = request.seed, request.engine, request.resume, \
        request.progress
    n_spike_samples, force, data_dir = request.n_spike_samples, request.force, request.data_dir
    n_train, n_test, sample_every = request.n_train, request.n_test, request.sample_every
    out = lock.path
    state = folder_state(out)
    if state in ("run", "unstarted"):
        check_no_links(out)  # before anything there is read, deleted or written
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
    if resume:
        model = _rule_as_run(model, stored)
    check_allowed(model)  # a rule file runs only when the user named it (before any data)
    config_outputs = model.n_outputs
    protocol, protocol_text = config_and_text(
        DEFAULT_PROTOCOL if protocol is None else protocol, "protocol")
    epochs = check_epochs(protocol.epochs if epochs is None else epochs)
    dataset = "mnist-10k" if dataset is None else dataset
    ds, data_dir = load_run_dataset(out, stored.info if stored else {}, dataset, data_dir,
                                    n_train, n_test)
    if not resume and ds.n_classes > model.n_outputs:
        # the output layer is sized to the data, as the input layer is (a resumed run
        # keeps the size it recorded)
        model = dataclasses.replace(model, n_outputs=ds.n_classes)
        model_text = model_to_toml(model)
        if progress:
            print(f"output layer: {ds.n_classes} neurons, one per class of {ds.name} (the "
                  f"model has {config_outputs})", flush=True)
    check_dataset_labels(ds, model)
    # features -> input rates, fitted to the training set; a resumed run codes as it
    # recorded (a run from before codings existed: one neuron per pixel, as it trained)
    coding = InputCoding.from_dict(stored.info.get("input_coding"),
                                   f"{out}/summary.json") if resume else \
        fit_input_coding(model.input, ds.X_train)
    raw_train, raw_shape = ds.X_train, ds.image_shape
    ds = coding.apply_to(ds)
    epoch_examples = EpochImages(raw_train, ds.X_train, raw_shape, protocol.shift_pixels,
                                 coding.apply, seed, f"dataset {ds.name!r}")
    if progress and not coding.is_identity:
        print(f"input coding: {coding.kind} ({coding.reason}); {ds.n_inputs} input neurons",
              flush=True)
    if n_spike_samples:  # the sample is recorded after training: check its size now
        limits.check_memory(limits.recording_bytes(
            model.layer_sizes(ds.n_inputs), protocol, min(int(n_spike_samples), ds.n_test)),
            f"recording the spikes of {min(int(n_spike_samples), ds.n_test)} test "
            "presentations after training (n_spike_samples)")

    rule_file = stored.info.get("rule_file") if stored else None
    if resume:
        stored.check_matches(model, protocol, ds, seed, engine_name)
    else:
        kept = clear_for_new_run(out, state, force)  # and writes the new run's marker
        if kept and progress and state in ("run", "unstarted"):
            print(f"{out}: kept what the earlier run did not write: {', '.join(kept[:5])}"
                  f"{' ...' if len(kept) > 5 else ''}", flush=True)
    files = RunFiles.for_resume(out, stored.info, lock) if resume else RunFiles(out, lock)
    if not resume and user_rule_file(model) is not None:
        # the run keeps (and trains with) its own copy of the rule file, named in its
        # config/model.toml relative to it
        model, model_on_file, rule_file = keep_copy(out, model, files.write_bytes)
        model_text = model_to_toml(model_on_file)

    init_rng, order_rng = seed_streams(seed)
    if resume and (out / CHECKPOINT).is_file():
        ck = read_checkpoint(out / CHECKPOINT)
        if ck["epoch"] > epochs:
            raise RunError(f"{out}: the run already has {ck['epoch']} epochs, more than the "
                           f"{epochs} asked for")
        for line in files.verify_for_resume(stored.info, ck):  # repairs, or refuses
            if progress:
                print(line, flush=True)
        params, done = ck["params"], list(ck["epochs"])
        average = WeightAverage.from_arrays(model.learning.average_weights_from,
                                            ck["average"], str(out / CHECKPOINT))
        history = History.from_arrays(ck["history"])
        order_rng.bit_generator.state = ck["rng_state"]
        eng = make_engine(engine, model, protocol, params, seed)
        eng.set_state(ck["engine_state"])
    else:
        # a new run, or a resumed run killed before its first checkpoint
        params = initial_parameters(model, ds.n_inputs, init_rng)
        average = WeightAverage(model.learning.average_weights_from)
        history, done = History(), []
        eng = make_engine(engine, model, protocol, params, seed)
        # config, then the initial weights, then the summary: a folder with a summary
        # holds complete copies of both (each file is written atomically)
        files.check_lock("the run's first files")
        if not resume:  # a resumed run keeps its exact copies
            files.write_text(f"{CONFIG_DIR}/model.toml", model_text)
            files.write_text(f"{CONFIG_DIR}/protocol.toml", protocol_text)
        files.save_weights(params, 0)

    created = stored.info.get("created", "") if stored else time.strftime("%Y-%m-%dT%H:%M:%S%z")
    settings = eng.settings() if hasattr(eng, "settings") else {}
    summarize = functools.partial(
        write_summary, out, files=files, model=model, protocol=protocol, ds=ds, seed=seed,
        engine_name=engine_name, epochs_planned=epochs, created=created,
        fingerprint=dataset_fingerprint(ds), data_dir=first_data_dir(dataset, data_dir),
        rule_file=rule_file, input_coding=coding, engine_settings=settings)
    if progress and settings and hasattr(eng, "describe"):
        print(f"engine: {eng.describe()}", flush=True)
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
                                             sample_every=sample_every,
                                             epoch_examples=epoch_examples):
        # the network tested and saved: the current weights, or their running mean
        tested = average.after_epoch(params, epoch)
        # a fresh engine per evaluation: test spikes do not disturb the training stream
        tester = make_engine(engine, model, protocol, tested, evaluation_seed(seed, epoch))
        result, t_test = timed(tester.evaluate, ds.X_test, ds.y_test,
                                bar=(progress is True, ds.n_test, f"test {epoch}/{epochs}", False))
        correct = np.asarray(hist["correct"], dtype=bool)
        y_pred = np.asarray(result["pred"], dtype=np.int64)
        n_test_errors = int(np.count_nonzero(y_pred != ds.y_test))

        # a writer whose lock file was deleted stops here (another may have come in)
        files.check_lock(f"epoch {epoch}" + (f"; its checkpoint of epoch {epoch - 1} is kept"
                                             if epoch > 1 else ""))
        files.save_weights(tested, epoch)
        history.append(epoch, hist)
        files.save_npz(HISTORY, history.arrays())
        files.save_npz(PREDICTIONS, {
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
        files.write_checkpoint(params=params, engine_state=eng.get_state(), rng=order_rng,
                               epoch=epoch, history=history, epochs=done,
                               average=average.to_arrays())
        if progress:
            r = done[-1]
            print(f"epoch {epoch}/{epochs}: train error {100 * r.train_error:6.2f}%  "
                  f"test error {100 * r.test_error:6.2f}% ({n_test_errors} of {ds.n_test})  "
                  f"{r.ms_per_train_example:.3f} ms/train example  "
                  f"{r.ms_per_test_example:.3f} ms/test example  {r.seconds:.1f} s", flush=True)
        t_epoch = time.perf_counter()

    recorder = make_engine(engine, model, protocol, average.tested(params),
                           evaluation_seed(seed, epochs)) if n_spike_samples else None
    if recorder is not None and getattr(recorder, "has_spikes", True):  # a rate engine: none
        record_spike_sample(files.path(SPIKES), recorder, ds, model, protocol, seed, engine_name,
                             int(n_spike_samples))
    return summarize(epochs=done, status="finished")
