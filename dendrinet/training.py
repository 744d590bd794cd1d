"""Training runs: run folders, epochs, atomic checkpoints, ``--resume``, reading runs back.

:func:`train` trains a model on a data set with one of the engines and writes a run
folder (layout in ``docs/design.md``)::

    runs/NAME/summary.json      per-epoch errors and timings, machine, status
    runs/NAME/config/           exact copies of the model and protocol files
    runs/NAME/weights/          epoch_000.npz (initial) ... epoch_NNN.npz
    runs/NAME/history.npz       per-training-example learning history
    runs/NAME/predictions.npz   test predictions of the last epoch
    runs/NAME/spikes.h5         spike trains of a sample of test presentations
    runs/NAME/checkpoint.npz    everything needed to continue after the last epoch

After every epoch the checkpoint is replaced atomically, so a run killed at any
moment continues with ``resume=True`` from its last finished epoch and reaches
bit-for-bit the weights and errors of an uninterrupted run with the same seed.

:class:`Run` opens a run folder for analysis; :func:`evaluate_run` re-evaluates the
weights of any epoch on a test set.

Random streams. One seed fixes everything: the initial parameters and the example
order come from two children of ``numpy.random.SeedSequence(seed)``; the training
engine gets ``seed`` itself for its spikes and phase jitter; each test evaluation
runs on a fresh engine seeded with :func:`evaluation_seed` ``(seed, epoch)``.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import platform
import shutil
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from dendrinet._atomic import write_json_atomic
from dendrinet.config import (MODELS_DIR, PROTOCOLS_DIR, ModelConfig, ProtocolConfig,
                              load_model, load_protocol, model_to_toml, protocol_to_toml)
from dendrinet.errors import ConfigError, DendrinetError, RunError
from dendrinet.schedule import PHASE_NAMES
from dendrinet.weights import Parameters, initial_parameters, save_npz_atomic

__all__ = [
    "ENGINES", "EpochResult", "RunSummary", "Run", "train", "evaluate_run", "make_engine",
    "evaluation_seed", "model_to_toml", "protocol_to_toml", "machine_info",
]

#: Engine names accepted by :func:`train` (``"brian2"`` needs the Brian2 engine module;
#: ``"fast-double"`` is the fast engine with float64 input sums, ``input_precision="double"``).
ENGINES = ("fast", "fast-double", "brian2")

SUMMARY = "summary.json"
CHECKPOINT = "checkpoint.npz"
HISTORY = "history.npz"
PREDICTIONS = "predictions.npz"
SPIKES = "spikes.h5"
CONFIG_DIR = "config"
WEIGHTS_DIR = "weights"
SUMMARY_FORMAT = 1


# ----------------------------------------------------------------- results


@dataclass(frozen=True)
class EpochResult:
    """Errors and timings of one training epoch.

    Attributes
    ----------
    epoch : int
        Epoch number, from 1.
    train_error : float
        Fraction of training examples misclassified in their forward phase during the
        epoch (while learning), in [0, 1].
    test_error : float
        Fraction of test examples misclassified after the epoch, in [0, 1].
    ms_per_train_example, ms_per_test_example : float
        Wall-clock time per training / test example, ms.
    seconds : float
        Wall-clock time of the whole epoch (training, test, writing files), s.
    """

    epoch: int
    train_error: float
    test_error: float
    ms_per_train_example: float
    ms_per_test_example: float
    seconds: float

    @classmethod
    def from_dict(cls, d: dict) -> "EpochResult":
        return cls(int(d["epoch"]), float(d["train_error"]), float(d["test_error"]),
                   float(d["ms_per_train_example"]), float(d["ms_per_test_example"]),
                   float(d["seconds"]))


@dataclass(frozen=True)
class RunSummary:
    """What ``summary.json`` says about a run.

    Attributes
    ----------
    path : Path
        The run folder.
    model, protocol : str
        Names of the model and protocol.
    dataset : str
        Data set name; ``n_train``, ``n_test`` examples were used.
    seed : int
    engine : str
    status : str
        ``"running"`` until the last epoch and the spike sample are written, then
        ``"finished"``.
    epochs_planned : int
    epochs : tuple of EpochResult
        One entry per finished epoch.
    """

    path: Path
    model: str
    protocol: str
    dataset: str
    n_train: int
    n_test: int
    seed: int
    engine: str
    status: str
    epochs_planned: int
    epochs: tuple[EpochResult, ...]

    @property
    def epochs_done(self) -> int:
        return len(self.epochs)

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    @property
    def train_errors(self) -> np.ndarray:
        """Training error per epoch (fractions), shape ``(epochs_done,)``."""
        return np.array([e.train_error for e in self.epochs])

    @property
    def test_errors(self) -> np.ndarray:
        """Test error per epoch (fractions), shape ``(epochs_done,)``."""
        return np.array([e.test_error for e in self.epochs])

    @property
    def final_test_error(self) -> float:
        """Test error after the last finished epoch (NaN before the first)."""
        return self.epochs[-1].test_error if self.epochs else math.nan

    @classmethod
    def from_dict(cls, d: dict, path: Path) -> "RunSummary":
        ds = d["dataset"]
        return cls(Path(path), str(d["model"]), str(d["protocol"]), str(ds["name"]),
                   int(ds["n_train"]), int(ds["n_test"]), int(d["seed"]), str(d["engine"]),
                   str(d["status"]), int(d["epochs_planned"]),
                   tuple(EpochResult.from_dict(e) for e in d["epochs"]))


# ------------------------------------------------------------------ helpers


def machine_info() -> dict:
    """CPU model, core counts, operating system and Python of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    return {"cpu": cpu, "cores": os.cpu_count(), "usable_cores": usable,
            "platform": platform.platform(), "python": platform.python_version(),
            "hostname": platform.node()}


def _versions() -> dict:
    from dendrinet.store import library_versions
    versions = library_versions()
    try:
        import importlib.metadata
        versions["numba"] = importlib.metadata.version("numba")
    except Exception:  # numba is a dependency; metadata can still be missing
        pass
    return versions


def make_engine(engine: str | Callable, model: ModelConfig, protocol: ProtocolConfig,
                params: Parameters, seed: int = 0):
    """Create a simulation engine.

    Parameters
    ----------
    engine : {"fast", "fast-double", "brian2"} or callable
        ``"fast"``: the Numba engine; ``"fast-double"``: the same with the input spikes
        summed in float64 (``input_precision="double"``, 5-7 % slower);
        ``"brian2"``: the Brian2 network. A callable is
        called as ``engine(model, protocol, params, seed=seed)`` (an engine class
        with the interface of :class:`dendrinet.engine.fast.FastEngine`).
    model, protocol : ModelConfig, ProtocolConfig
    params : Parameters
        Trained in place by the engine.
    seed : int
        Seed of the engine's random spikes and phase jitter.
    """
    if not isinstance(engine, str):
        if callable(engine):
            return engine(model, protocol, params, seed=seed)
        raise DendrinetError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine in ("fast", "fast-double"):
        try:
            from dendrinet.engine.fast import FastEngine as cls
        except ModuleNotFoundError as exc:
            raise DendrinetError(f"the fast engine is not available ({exc})") from None
        if engine == "fast-double":
            return cls(model, protocol, params, seed=seed, input_precision="double")
    elif engine == "brian2":
        try:
            from dendrinet.engine.brian2_engine import Brian2Engine as cls
        except ModuleNotFoundError as exc:
            raise DendrinetError(f"the brian2 engine is not available ({exc})") from None
    else:
        raise DendrinetError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    return cls(model, protocol, params, seed=seed)


def _engine_name(engine) -> str:
    if isinstance(engine, str):
        return engine
    return str(getattr(engine, "name", getattr(engine, "__name__", type(engine).__name__)))


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DendrinetError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _check_epochs(epochs) -> int:
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise DendrinetError(f"epochs must be a positive integer, got {epochs!r}")
    return int(epochs)


def _seed_streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
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


def _read_json(path: Path, what: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise RunError(f"{path}: {what} not found") from None
    except (OSError, ValueError) as exc:
        raise RunError(f"{path}: {what} is corrupt or unreadable ({exc})") from None
    if not isinstance(data, dict):
        raise RunError(f"{path}: {what} is corrupt (not a JSON object)")
    return data


def _load_npz(path: Path, what: str) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise RunError(f"{path}: {what} not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise RunError(f"{path}: {what} is corrupt or unreadable ({exc})") from None


def _dataset_fingerprint(ds) -> str:
    """sha256 of the training and test arrays, to tell data sets apart on resume."""
    h = hashlib.sha256()
    for a in (ds.X_train, ds.y_train, ds.X_test, ds.y_test):
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _config_and_text(spec, kind: str) -> tuple[Any, str]:
    """(config, file text) from a config object, a path or a name in models/ or
    protocols/."""
    if kind == "model":
        config_cls, loader, folder, writer = ModelConfig, load_model, MODELS_DIR, model_to_toml
    else:
        config_cls, loader, folder, writer = (ProtocolConfig, load_protocol, PROTOCOLS_DIR,
                                              protocol_to_toml)
    if isinstance(spec, config_cls):
        return spec, writer(spec)
    if not isinstance(spec, (str, os.PathLike)):
        raise ConfigError(f"{kind} must be a {config_cls.__name__}, a file path or a name, "
                          f"got {spec!r}")
    config = loader(spec)
    path = Path(spec) if Path(spec).is_file() else folder / f"{spec}.toml"
    return config, path.read_text(encoding="utf-8")


def _differences(a, b, prefix: str = "") -> list[str]:
    """Dotted names of the fields where two (nested) config dataclasses differ."""
    out = []
    for f in dataclasses.fields(a):
        va, vb = getattr(a, f.name), getattr(b, f.name)
        if dataclasses.is_dataclass(va) and dataclasses.is_dataclass(vb):
            out += _differences(va, vb, f"{prefix}{f.name}.")
        elif va != vb:
            out.append(f"{prefix}{f.name} ({va!r} vs {vb!r})")
    return out


# -------------------------------------------------------------- run folders


def _folder_state(path: Path) -> str:
    """``"absent"``, ``"empty"``, ``"run"`` (looks like a run folder) or ``"other"``."""
    if not path.exists():
        return "absent"
    if not path.is_dir():
        return "other"
    entries = {p.name for p in path.iterdir()}
    if not entries:
        return "empty"
    if entries & {SUMMARY, CHECKPOINT, CONFIG_DIR}:
        return "run"
    return "other"


class Run:
    """A run folder written by :func:`train`, opened for reading.

    Use :meth:`open`. Files are read when asked for; a missing or corrupt file
    raises :class:`~dendrinet.errors.RunError` naming it.

    Attributes
    ----------
    path : Path
    summary : RunSummary
    info : dict
        The whole ``summary.json`` (machine, versions, dataset fingerprint, ...).
    """

    def __init__(self, path: Path, info: dict):
        self.path = Path(path)
        self.info = info
        try:
            self.summary = RunSummary.from_dict(info, self.path)
        except (KeyError, TypeError, ValueError) as exc:
            raise RunError(f"{self.path / SUMMARY}: corrupt summary (missing or bad "
                           f"field {exc})") from None

    @classmethod
    def open(cls, path: str | os.PathLike, allow_unfinished: bool = False) -> "Run":
        """Open a run folder.

        Parameters
        ----------
        path : str or path-like
            The run folder (``runs/NAME``).
        allow_unfinished : bool
            Also open runs whose status is ``"running"`` (killed or still training).

        Raises
        ------
        RunError
            Missing folder, missing or corrupt ``summary.json``, or an unfinished run
            when ``allow_unfinished`` is false.
        """
        path = Path(path)
        if not path.is_dir():
            raise RunError(f"{path}: run folder not found")
        if not (path / SUMMARY).is_file():
            raise RunError(f"{path}: not a run folder (no {SUMMARY})")
        run = cls(path, _read_json(path / SUMMARY, "run summary"))
        if not allow_unfinished and not run.summary.finished:
            s = run.summary
            raise RunError(f"{path}: run is unfinished ({s.epochs_done} of {s.epochs_planned} "
                           f"epochs, status {s.status!r}); continue it with 'dendrinet train "
                           f"--out {path} --resume'")
        return run

    def __repr__(self) -> str:
        s = self.summary
        return (f"Run({str(self.path)!r}, model={s.model!r}, {s.epochs_done}/"
                f"{s.epochs_planned} epochs, {s.status})")

    @property
    def model(self) -> ModelConfig:
        """The model, read from ``config/model.toml``."""
        path = self.path / CONFIG_DIR / "model.toml"
        if not path.is_file():
            raise RunError(f"{path}: model file of the run not found")
        return load_model(path)

    @property
    def protocol(self) -> ProtocolConfig:
        """The protocol, read from ``config/protocol.toml``."""
        path = self.path / CONFIG_DIR / "protocol.toml"
        if not path.is_file():
            raise RunError(f"{path}: protocol file of the run not found")
        return load_protocol(path)

    @property
    def weight_epochs(self) -> list[int]:
        """Epochs with a weight file (0 = initial parameters), sorted."""
        out = []
        for p in (self.path / WEIGHTS_DIR).glob("epoch_*.npz"):
            try:
                out.append(int(p.stem.split("_", 1)[1]))
            except ValueError:
                continue
        return sorted(e for e in out if e <= self.summary.epochs_done)

    def weights(self, epoch: int | None = None) -> Parameters:
        """Parameters after ``epoch`` (0 = initial; default the last finished epoch)."""
        if epoch is None:
            epoch = self.summary.epochs_done
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or \
                not 0 <= epoch <= self.summary.epochs_done:
            raise RunError(f"{self.path}: no epoch {epoch!r}; this run has epochs "
                           f"0..{self.summary.epochs_done}")
        path = self.path / WEIGHTS_DIR / f"epoch_{int(epoch):03d}.npz"
        if not path.is_file():
            raise RunError(f"{path}: weight file not found")
        try:
            return Parameters.from_arrays(_load_npz(path, "weight file"), str(path))
        except DendrinetError as exc:
            raise RunError(str(exc)) from None

    def history(self) -> dict[str, np.ndarray]:
        """Per-training-example history, all epochs concatenated (``history.npz``)."""
        return _load_npz(self.path / HISTORY, "training history")

    def predictions(self) -> dict[str, np.ndarray]:
        """Test predictions of the last epoch: ``y_true``, ``y_pred``, ``mean_V``
        (mean output potentials, ``(n_test, n_outputs)``) and ``epoch``."""
        return _load_npz(self.path / PREDICTIONS, "predictions")

    @property
    def spikes_path(self) -> Path:
        """The spike store of the sampled test presentations (may be absent)."""
        return self.path / SPIKES


# ----------------------------------------------------------------- training


class _Progress:
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


def _resolve_dataset(dataset, data_dir, n_train, n_test):
    from dendrinet.datasets import Dataset, load_dataset
    if isinstance(dataset, Dataset):
        if n_train is not None or n_test is not None:
            raise DendrinetError("n_train/n_test apply to a dataset name, not a Dataset object")
        return dataset
    if not isinstance(dataset, str):
        raise DendrinetError(f"dataset must be a name or a Dataset, got {dataset!r}")
    return load_dataset(dataset, data_dir=data_dir, n_train=n_train, n_test=n_test)


def _check_labels(ds, model: ModelConfig) -> None:
    for split, y in (("train", ds.y_train), ("test", ds.y_test)):
        if len(y) and (y.min() < 0 or y.max() >= model.n_outputs):
            raise DendrinetError(f"dataset {ds.name!r} has {split} labels in "
                                 f"{y.min()}..{y.max()}, but model {model.name!r} has "
                                 f"{model.n_outputs} output neurons")


class _History:
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
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "_History":
        h = cls()
        h.parts = {k: [v] for k, v in arrays.items()}
        return h


def _summary_dict(*, model, protocol, ds, seed, engine_name, epochs_planned, epochs,
                  status, created) -> dict:
    return {
        "format": SUMMARY_FORMAT,
        "model": model.name,
        "protocol": protocol.name,
        "dataset": {"name": ds.name, "n_train": ds.n_train, "n_test": ds.n_test,
                    "n_inputs": ds.n_inputs, "image_shape": list(ds.image_shape),
                    "sha256": _dataset_fingerprint(ds)},
        "layer_sizes": list(model.layer_sizes(ds.n_inputs)),
        "seed": seed,
        "engine": engine_name,
        "status": status,
        "epochs_planned": epochs_planned,
        "epochs": [dataclasses.asdict(e) for e in epochs],
        "final_test_error": epochs[-1].test_error if epochs else None,
        "created": created,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine_info(),
        "versions": _versions(),
    }


def _write_checkpoint(path: Path, *, params, engine_state, rng, epoch, history, epochs) -> None:
    arrays = {f"param.{k}": v for k, v in params.to_arrays().items()}
    arrays.update({f"engine.{k}": np.asarray(v) for k, v in engine_state.items()})
    arrays.update({f"history.{k}": v for k, v in history.arrays().items()})
    arrays["rng_state"] = np.array(json.dumps(rng.bit_generator.state))
    arrays["epoch"] = np.array(epoch, dtype=np.int64)
    arrays["epochs_json"] = np.array(json.dumps([dataclasses.asdict(e) for e in epochs]))
    save_npz_atomic(path, arrays)


def _read_checkpoint(path: Path) -> dict:
    raw = _load_npz(path, "checkpoint")
    try:
        out = {
            "params": Parameters.from_arrays(
                {k[len("param."):]: v for k, v in raw.items() if k.startswith("param.")},
                str(path)),
            "engine_state": {k[len("engine."):]: v for k, v in raw.items()
                             if k.startswith("engine.")},
            "history": {k[len("history."):]: v for k, v in raw.items()
                        if k.startswith("history.")},
            "rng_state": json.loads(str(raw["rng_state"])),
            "epoch": int(raw["epoch"]),
            "epochs": [EpochResult.from_dict(e) for e in json.loads(str(raw["epochs_json"]))],
        }
    except (KeyError, ValueError, TypeError) as exc:
        raise RunError(f"{path}: checkpoint is corrupt ({exc})") from None
    if len(out["epochs"]) != out["epoch"]:
        raise RunError(f"{path}: checkpoint is corrupt (epoch {out['epoch']} but "
                       f"{len(out['epochs'])} epoch records)")
    return out


def _record_spike_sample(path: Path, engine, ds, model, protocol, seed, engine_name,
                         n_samples: int) -> None:
    """Spike trains of the first ``n_samples`` test presentations, all layers."""
    from dendrinet.store import SpikeStore
    ids = np.arange(min(n_samples, ds.n_test))
    record = engine.record_spikes(ds.X_test, ids, labels=ds.y_test[ids])
    sizes = model.layer_sizes(ds.n_inputs)
    names = ["input"] + [f"hidden_{l}" for l in range(len(model.hidden))] + ["output"]
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
    state = _folder_state(out)
    if progress not in (True, False, "lines"):
        raise DendrinetError(f"progress must be True, False or 'lines', got {progress!r}")
    if not isinstance(n_spike_samples, (int, np.integer)) or isinstance(n_spike_samples, bool) \
            or n_spike_samples < 0:
        raise DendrinetError(f"n_spike_samples must be a non-negative integer, "
                             f"got {n_spike_samples!r}")

    stored = None
    if resume:
        stored = _StoredRun.read(out, state)
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
    seed = _check_seed(0 if seed is None else seed)
    engine = "fast" if engine is None else engine
    if isinstance(engine, str) and engine not in ENGINES:
        raise DendrinetError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    engine_name = _engine_name(engine)
    model, model_text = _config_and_text(model, "model")
    protocol, protocol_text = _config_and_text(
        "guerguiev2017" if protocol is None else protocol, "protocol")
    epochs = _check_epochs(protocol.epochs if epochs is None else epochs)
    ds = _resolve_dataset("mnist-10k" if dataset is None else dataset, data_dir, n_train, n_test)
    _check_labels(ds, model)

    if resume:
        stored.check_matches(model, protocol, ds, seed, engine_name)
    else:
        _clear_for_new_run(out, state, force)

    init_rng, order_rng = _seed_streams(seed)
    if resume and (out / CHECKPOINT).is_file():
        ck = _read_checkpoint(out / CHECKPOINT)
        if ck["epoch"] > epochs:
            raise RunError(f"{out}: the run already has {ck['epoch']} epochs, more than the "
                           f"{epochs} asked for")
        params, done = ck["params"], list(ck["epochs"])
        history = _History.from_arrays(ck["history"])
        order_rng.bit_generator.state = ck["rng_state"]
        eng = make_engine(engine, model, protocol, params, seed)
        eng.set_state(ck["engine_state"])
    else:
        # a new run, or a resumed run killed before its first checkpoint
        params = initial_parameters(model, ds.n_inputs, init_rng)
        history, done = _History(), []
        eng = make_engine(engine, model, protocol, params, seed)
        (out / CONFIG_DIR).mkdir(parents=True, exist_ok=True)
        (out / WEIGHTS_DIR).mkdir(exist_ok=True)
        if not resume:  # a resumed run keeps its exact copies
            (out / CONFIG_DIR / "model.toml").write_text(model_text, encoding="utf-8")
            (out / CONFIG_DIR / "protocol.toml").write_text(protocol_text, encoding="utf-8")
        params.save(out / WEIGHTS_DIR / "epoch_000.npz")

    created = stored.info.get("created", "") if stored else time.strftime("%Y-%m-%dT%H:%M:%S%z")
    write_summary = functools.partial(
        _write_summary, out, model=model, protocol=protocol, ds=ds, seed=seed,
        engine_name=engine_name, epochs_planned=epochs, created=created)
    if stored and stored.info.get("status") == "finished" and len(done) == epochs:
        if progress:
            print(f"{out}: already finished ({epochs} epochs)", flush=True)
        return write_summary(epochs=done, status="finished")
    write_summary(epochs=done, status="running")

    for epoch in range(len(done) + 1, epochs + 1):
        t_epoch = time.perf_counter()
        order = order_rng.permutation(ds.n_train) if protocol.shuffle else \
            np.arange(ds.n_train)
        hist, t_train = _timed(eng.train_epoch, ds.X_train, ds.y_train, order=order,
                               sample_every=sample_every, bar=(progress is True, ds.n_train,
                                                               f"epoch {epoch}/{epochs}", True))
        # a fresh engine per evaluation: test spikes do not disturb the training stream
        tester = make_engine(engine, model, protocol, params, evaluation_seed(seed, epoch))
        result, t_test = _timed(tester.evaluate, ds.X_test, ds.y_test,
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
        write_summary(epochs=done, status="running")
        # the checkpoint comes last: everything it refers to is on disk before it
        _write_checkpoint(out / CHECKPOINT, params=params, engine_state=eng.get_state(),
                          rng=order_rng, epoch=epoch, history=history, epochs=done)
        if progress:
            r = done[-1]
            print(f"epoch {epoch}/{epochs}: train error {100 * r.train_error:6.2f}%  "
                  f"test error {100 * r.test_error:6.2f}% ({n_test_errors} of {ds.n_test})  "
                  f"{r.ms_per_train_example:.3f} ms/train example  "
                  f"{r.ms_per_test_example:.3f} ms/test example  {r.seconds:.1f} s", flush=True)

    if n_spike_samples:
        recorder = make_engine(engine, model, protocol, params, evaluation_seed(seed, epochs))
        _record_spike_sample(out / SPIKES, recorder, ds, model, protocol, seed, engine_name,
                             int(n_spike_samples))
    return write_summary(epochs=done, status="finished")


def _timed(method, *args, bar, **kwargs):
    """``method(*args, progress=<bar>, **kwargs)`` and its wall-clock duration (s)."""
    progress_bar = _Progress(*bar)
    try:
        t0 = time.perf_counter()
        result = method(*args, progress=progress_bar, **kwargs)
        return result, time.perf_counter() - t0
    finally:
        progress_bar.close()


def _write_summary(out: Path, **kwargs) -> RunSummary:
    info = _summary_dict(**kwargs)
    write_json_atomic(out / SUMMARY, info)
    return RunSummary.from_dict(info, out)


def _clear_for_new_run(out: Path, state: str, force: bool) -> None:
    """Make room for a new run in ``out``: only an earlier run is ever deleted, and
    only with ``force``."""
    if state == "run":
        if not force:
            status = "unfinished"
            try:
                info = _read_json(out / SUMMARY, "run summary")
                status = f"{info.get('status')}, {len(info.get('epochs', []))} epochs"
            except RunError:
                pass
            raise RunError(f"{out}: a run already exists there ({status}); use --force to "
                           "overwrite it or --resume to continue it")
        shutil.rmtree(out)
    elif state == "other":
        raise RunError(f"{out}: exists and is not a dendrinet run folder; choose another "
                       "output folder")


@dataclass
class _StoredRun:
    """What a run folder says about itself, read before resuming it."""

    path: Path
    info: dict
    model: ModelConfig
    protocol: ProtocolConfig

    @classmethod
    def read(cls, out: Path, state: str) -> "_StoredRun":
        if state in ("absent", "empty"):
            raise RunError(f"{out}: nothing to resume (no run there); start the run "
                           "without --resume")
        if state == "other":
            raise RunError(f"{out}: not a dendrinet run folder, cannot resume it")
        info = _read_json(out / SUMMARY, "run summary")
        try:
            model = load_model(out / CONFIG_DIR / "model.toml")
            protocol = load_protocol(out / CONFIG_DIR / "protocol.toml")
        except ConfigError as exc:
            raise RunError(f"{out}: cannot resume, the run's configuration is missing or "
                           f"corrupt ({exc})") from None
        return cls(out, info, model, protocol)

    def check_matches(self, model, protocol, ds, seed: int, engine_name: str) -> None:
        """Refuse to continue with anything that would change the results."""
        problems = []
        diff = _differences(self.model, model)
        if diff:
            problems.append(f"model differs in {', '.join(diff[:3])}")
        diff = _differences(self.protocol, protocol)
        if diff:
            problems.append(f"protocol differs in {', '.join(diff[:3])}")
        run_ds = self.info.get("dataset", {})
        if (run_ds.get("name"), run_ds.get("n_train"), run_ds.get("n_test")) != \
                (ds.name, ds.n_train, ds.n_test):
            problems.append(f"dataset {ds.name!r} ({ds.n_train} train, {ds.n_test} test) is not "
                            f"the run's {run_ds.get('name')!r} ({run_ds.get('n_train')} "
                            f"train, {run_ds.get('n_test')} test)")
        elif run_ds.get("sha256") not in (None, _dataset_fingerprint(ds)):
            problems.append(f"dataset {ds.name!r} has different content than when the run began")
        if self.info.get("seed") != seed:
            problems.append(f"seed {seed} is not the run's {self.info.get('seed')}")
        if self.info.get("engine") != engine_name:
            problems.append(f"engine {engine_name!r} is not the run's "
                            f"{self.info.get('engine')!r}")
        if problems:
            raise RunError(f"{self.path}: cannot resume: " + "; ".join(problems))


# --------------------------------------------------------------- evaluation


def evaluate_run(run: Run | str | os.PathLike, epoch: int | None = None, dataset=None, *,
                 data_dir=None, n_test: int | None = None, seed: int | None = None,
                 engine: str | Callable | None = None, progress: bool = False) -> dict:
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
        Folder searched first for data files.
    n_test : int, optional
        Use only the first ``n_test`` test examples of a named data set.
    seed : int, optional
        Engine seed of the test spikes. Default: the one used after ``epoch`` during
        training (:func:`evaluation_seed`), which reproduces the recorded test
        predictions exactly on the run's own test set.
    engine : optional
        Engine (default the run's).
    progress : bool
        Show a progress bar.

    Returns
    -------
    dict
        ``epoch``, ``dataset``, ``y_true``, ``y_pred``, ``mean_V``, ``error``
        (fraction), ``n_errors``, ``per_class_error`` (fraction per class, NaN for
        classes without examples), ``class_counts``.
    """
    if not isinstance(run, Run):
        run = Run.open(run, allow_unfinished=True)
    s = run.summary
    if epoch is None:
        epoch = s.epochs_done
    params = run.weights(epoch)
    model, protocol = run.model, run.protocol
    if dataset is None:
        dataset = s.dataset
        n_test = s.n_test if n_test is None else n_test
    from dendrinet.datasets import Dataset, load_dataset
    if isinstance(dataset, Dataset):
        ds = dataset
    else:
        ds = load_dataset(dataset, data_dir=data_dir, n_train=1, n_test=n_test)
    if ds.n_inputs != params.layer_sizes[0]:
        raise RunError(f"dataset {ds.name!r} has {ds.n_inputs} inputs per example, but the "
                       f"run's network has {params.layer_sizes[0]}")
    _check_labels(ds, model)
    seed = evaluation_seed(s.seed, int(epoch)) if seed is None else _check_seed(seed)
    eng = make_engine(engine or s.engine, model, protocol, params, seed)
    bar = _Progress(progress, ds.n_test, f"evaluate epoch {epoch}", with_error=False)
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
    return {"epoch": int(epoch), "dataset": ds.name, "y_true": ds.y_test, "y_pred": y_pred,
            "mean_V": np.asarray(result["mean_V"]), "error": float(wrong.mean()),
            "n_errors": int(wrong.sum()), "per_class_error": per_class,
            "class_counts": counts}
