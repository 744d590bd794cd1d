"""The run folder: what a training run writes, and reading it back.

::

    runs/NAME/summary.json      per-epoch errors and timings, machine, status
    runs/NAME/config/           exact copies of the model and protocol files
    runs/NAME/weights/          epoch_000.npz (initial) ... epoch_NNN.npz
    runs/NAME/history.npz       per-training-example learning history
    runs/NAME/predictions.npz   test predictions of the last epoch
    runs/NAME/spikes.h5         spike trains of a sample of test presentations
    runs/NAME/checkpoint.npz    everything needed to continue after the last epoch
    runs/NAME/.lock             while a process writes the run: its host, pid, start

A new run writes ``config/``, then ``weights/epoch_000.npz``, then ``summary.json``, then
per epoch the weights, history, predictions, summary and last the checkpoint (every file
atomically): a folder with a summary holds the whole configuration, and a checkpoint
everything its epoch refers to. A folder with neither is the beginnings of a run killed
before its first record (``folder_state`` ``"unstarted"``), which a new run replaces.

:class:`Run` opens a folder for analysis; the functions below write the summary and the
checkpoint (atomically) and check that a folder may be (re)used. Layout details:
``docs/design.md``.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
import math
import os
import shutil
import time
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dendrinet._atomic import TEMPORARY_PATTERNS, write_json_atomic
from dendrinet.config import (ModelConfig, ProtocolConfig, config_file, load_model,
                              load_protocol, model_to_toml, protocol_to_toml)
from dendrinet.errors import ConfigError, DendrinetError, RunError
from dendrinet.folder_lock import LOCK_NAME
from dendrinet.provenance import library_versions, machine_info
from dendrinet.weights import Parameters, save_npz_atomic

__all__ = [
    "SUMMARY", "CHECKPOINT", "HISTORY", "PREDICTIONS", "SPIKES", "CONFIG_DIR", "WEIGHTS_DIR",
    "EpochResult", "RunSummary", "Run", "StoredRun", "folder_state", "clear_for_new_run",
    "write_summary", "write_checkpoint", "read_checkpoint", "config_and_text",
]

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


# ------------------------------------------------------------------ readers


def read_json(path: Path, what: str) -> dict:
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


def load_npz(path: Path, what: str) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise RunError(f"{path}: {what} not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise RunError(f"{path}: {what} is corrupt or unreadable ({exc})") from None


def dataset_fingerprint(ds) -> str:
    """sha256 of the training and test arrays, to tell data sets apart on resume."""
    h = hashlib.sha256()
    for a in (ds.X_train, ds.y_train, ds.X_test, ds.y_test):
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def config_and_text(spec, kind: str) -> tuple[Any, str]:
    """(config, file text) from a config object, a path or a shipped name: the text is
    the file itself (comments kept), or a self-contained copy (written from the config)
    where the file extends another or there is no file."""
    if kind == "model":
        config_cls, loader, writer = ModelConfig, load_model, model_to_toml
    else:
        config_cls, loader, writer = ProtocolConfig, load_protocol, protocol_to_toml
    if isinstance(spec, config_cls):
        return spec, writer(spec)
    if not isinstance(spec, (str, os.PathLike)):
        raise ConfigError(f"{kind} must be a {config_cls.__name__}, a file path or a name, "
                          f"got {spec!r}")
    config = loader(spec)
    text = config_file(spec, kind).read_text(encoding="utf-8")
    if "extends" in tomllib.loads(text):
        text = writer(config)
    return config, text


def differences(a, b, prefix: str = "") -> list[str]:
    """Dotted names of the fields where two (nested) config dataclasses differ (fields
    that are not part of their identity, ``compare=False`` such as a model's ``source``,
    do not count)."""
    out = []
    for f in dataclasses.fields(a):
        if not f.compare:
            continue
        va, vb = getattr(a, f.name), getattr(b, f.name)
        if dataclasses.is_dataclass(va) and dataclasses.is_dataclass(vb):
            out += differences(va, vb, f"{prefix}{f.name}.")
        elif va != vb:
            out.append(f"{prefix}{f.name} ({va!r} vs {vb!r})")
    return out


# -------------------------------------------------------------- run folders


def _is_temporary(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in TEMPORARY_PATTERNS)


def folder_state(path: Path) -> str:
    """What ``path`` holds, its lock file (``.lock``) aside:

    * ``"absent"``; ``"empty"``;
    * ``"unstarted"``: the beginnings of a run killed before it wrote its summary
      (only ``config/``, ``weights/`` and temporary files): nothing worth keeping;
    * ``"run"``: a run (a summary or a checkpoint), or a run's folders among other files;
    * ``"other"``: anything else (not a folder, or a folder of other files).
    """
    if not path.exists():
        return "absent"
    if not path.is_dir():
        return "other"
    entries = {p.name for p in path.iterdir()} - {LOCK_NAME}
    if not entries:
        return "empty"
    if entries & {SUMMARY, CHECKPOINT}:
        return "run"
    if entries & {CONFIG_DIR, WEIGHTS_DIR}:
        rest = entries - {CONFIG_DIR, WEIGHTS_DIR}
        return "unstarted" if all(_is_temporary(name) for name in rest) else "run"
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
        run = cls(path, read_json(path / SUMMARY, "run summary"))
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
            return Parameters.from_arrays(load_npz(path, "weight file"), str(path))
        except DendrinetError as exc:
            raise RunError(str(exc)) from None

    def history(self) -> dict[str, np.ndarray]:
        """Per-training-example history, all epochs concatenated (``history.npz``)."""
        return load_npz(self.path / HISTORY, "training history")

    def predictions(self) -> dict[str, np.ndarray]:
        """Test predictions of the last epoch: ``y_true``, ``y_pred``, ``mean_V``
        (mean output potentials, ``(n_test, n_outputs)``) and ``epoch``."""
        return load_npz(self.path / PREDICTIONS, "predictions")

    @property
    def spikes_path(self) -> Path:
        """The spike store of the sampled test presentations (may be absent)."""
        return self.path / SPIKES


# ---------------------------------------------------------- writing a run


def summary_dict(*, model, protocol, ds, seed, engine_name, epochs_planned, epochs,
                  status, created, compile_seconds=None, fingerprint=None) -> dict:
    """The content of ``summary.json``. ``compile_seconds``: time the engine spent
    compiling (or loading its compiled code) before the epochs of this training session,
    excluded from every epoch's timings. ``fingerprint``: the data set's
    :func:`dataset_fingerprint`, if the caller has it (it reads every array)."""
    return {
        "format": SUMMARY_FORMAT,
        "model": model.name,
        "protocol": protocol.name,
        "dataset": {"name": ds.name, "n_train": ds.n_train, "n_test": ds.n_test,
                    "n_inputs": ds.n_inputs, "image_shape": list(ds.image_shape),
                    "sha256": fingerprint or dataset_fingerprint(ds)},
        "layer_sizes": list(model.layer_sizes(ds.n_inputs)),
        "seed": seed,
        "engine": engine_name,
        "status": status,
        "epochs_planned": epochs_planned,
        "epochs": [dataclasses.asdict(e) for e in epochs],
        "final_test_error": epochs[-1].test_error if epochs else None,
        "compile_seconds": compile_seconds,
        "created": created,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine_info(),
        "versions": library_versions(),
    }


def write_checkpoint(path: Path, *, params, engine_state, rng, epoch, history, epochs) -> None:
    arrays = {f"param.{k}": v for k, v in params.to_arrays().items()}
    arrays.update({f"engine.{k}": np.asarray(v) for k, v in engine_state.items()})
    arrays.update({f"history.{k}": v for k, v in history.arrays().items()})
    arrays["rng_state"] = np.array(json.dumps(rng.bit_generator.state))
    arrays["epoch"] = np.array(epoch, dtype=np.int64)
    arrays["epochs_json"] = np.array(json.dumps([dataclasses.asdict(e) for e in epochs]))
    save_npz_atomic(path, arrays)


def read_checkpoint(path: Path) -> dict:
    raw = load_npz(path, "checkpoint")
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


def write_summary(out: Path, **kwargs) -> RunSummary:
    info = summary_dict(**kwargs)
    write_json_atomic(out / SUMMARY, info)
    return RunSummary.from_dict(info, out)


def clear_for_new_run(out: Path, state: str, force: bool) -> None:
    """Make room for a new run in ``out`` (whose lock the caller holds): only an earlier
    run is ever deleted, and only with ``force``; the beginnings of a run killed before
    its summary (``"unstarted"``) go without it. The lock file stays."""
    if state == "run":
        if not force:
            status = "unfinished"
            try:
                info = read_json(out / SUMMARY, "run summary")
                status = f"{info.get('status')}, {len(info.get('epochs', []))} epochs"
            except RunError:
                pass
            raise RunError(f"{out}: a run already exists there ({status}); use --force to "
                           "overwrite it or --resume to continue it")
    elif state == "other":
        raise RunError(f"{out}: exists and is not a dendrinet run folder; choose another "
                       "output folder")
    elif state != "unstarted":
        return
    for entry in out.iterdir():
        if entry.name == LOCK_NAME:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


@dataclass
class StoredRun:
    """What a run folder says about itself, read before resuming it."""

    path: Path
    info: dict
    model: ModelConfig
    protocol: ProtocolConfig

    @classmethod
    def read(cls, out: Path, state: str) -> "StoredRun":
        if state in ("absent", "empty", "unstarted"):
            what = "no run there" if state != "unstarted" else \
                "only the beginnings of a run killed before its first record"
            raise RunError(f"{out}: nothing to resume ({what}); start the run without "
                           "--resume")
        if state == "other":
            raise RunError(f"{out}: not a dendrinet run folder, cannot resume it")
        info = read_json(out / SUMMARY, "run summary")
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
        diff = differences(self.model, model)
        if diff:
            problems.append(f"model differs in {', '.join(diff[:3])}")
        # names and descriptions label a protocol without changing a number (shipped
        # protocols were renamed in dendrinet 0.3, and their runs still resume)
        diff = differences(dataclasses.replace(self.protocol, name=protocol.name,
                                               description=protocol.description), protocol)
        if diff:
            problems.append(f"protocol differs in {', '.join(diff[:3])}")
        run_ds = self.info.get("dataset", {})
        if (run_ds.get("name"), run_ds.get("n_train"), run_ds.get("n_test")) != \
                (ds.name, ds.n_train, ds.n_test):
            problems.append(f"dataset {ds.name!r} ({ds.n_train} train, {ds.n_test} test) is not "
                            f"the run's {run_ds.get('name')!r} ({run_ds.get('n_train')} "
                            f"train, {run_ds.get('n_test')} test)")
        elif run_ds.get("sha256") not in (None, dataset_fingerprint(ds)):
            problems.append(f"dataset {ds.name!r} has different content than when the run began")
        if self.info.get("seed") != seed:
            problems.append(f"seed {seed} is not the run's {self.info.get('seed')}")
        if self.info.get("engine") != engine_name:
            problems.append(f"engine {engine_name!r} is not the run's "
                            f"{self.info.get('engine')!r}")
        if problems:
            raise RunError(f"{self.path}: cannot resume: " + "; ".join(problems))
