"""The run folder: what a training run writes, and reading it back.

::

    runs/NAME/.dendrinet-run    the marker, written first: run id and the files the run wrote
    runs/NAME/summary.json      per-epoch errors and timings, machine, status, checksums
    runs/NAME/config/           exact copies of the model and protocol files (and of a
                                user's rule file: :mod:`dendrinet.learning.rule_files`)
    runs/NAME/weights/          epoch_000.npz (initial) ... epoch_NNN.npz
    runs/NAME/history.npz       per-training-example learning history
    runs/NAME/predictions.npz   test predictions of the last epoch
    runs/NAME/spikes.h5         spike trains of a sample of test presentations
    runs/NAME/checkpoint.npz    everything needed to continue after the last epoch
    runs/NAME/.lock             while a process writes the run: its host, pid, start

A new run writes its marker, then ``config/``, then ``weights/epoch_000.npz``, then
``summary.json``, then
per epoch the weights, history, predictions, summary and last the checkpoint (every file
atomically): a folder with a summary holds the whole configuration, and a checkpoint
everything its epoch refers to. A folder with neither is the beginnings of a run killed
before its first record (``folder_state`` ``"unstarted"``), which a new run replaces.

Only what a run wrote is ever touched: a folder is a run's by its marker (or, written by
dendrinet 0.3 before markers, by a ``summary.json`` that reads as a run's), ``--force``
deletes only the files the marker lists (a 0.3 run: the file names 0.3 wrote), no write
follows a symbolic link below the run folder, and every file carries the run's id
(``summary.json``, the marker, the zip comment of each ``.npz``), so that readers refuse
a folder whose files belong to different runs.

:class:`Run` opens a folder for analysis; the functions below write the summary and the
checkpoint (atomically) and check that a folder may be (re)used. Layout details:
``docs/design.md``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import stat
import time
import tomllib
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dendrinet.config import (ModelConfig, ProtocolConfig, config_file, load_model,
                              load_protocol, model_to_toml, protocol_to_toml)
from dendrinet.errors import ConfigError, DendrinetError, RunError
from dendrinet.storage.provenance import library_versions, machine_info
from dendrinet.learning.rule_files import check_run_rule
from dendrinet.learning.weight_average import WeightAverage
from dendrinet.storage.files import (atomic_open, check_no_symlinks, write_json_atomic,
                                     write_text_atomic)
from dendrinet.storage.locks import LOCK_NAME
from dendrinet.model.weights import Parameters

__all__ = [
    "SUMMARY", "CHECKPOINT", "HISTORY", "PREDICTIONS", "SPIKES", "CONFIG_DIR", "WEIGHTS_DIR",
    "EpochResult", "RunSummary", "Run", "StoredRun", "folder_state", "clear_for_new_run",
    "write_summary", "write_checkpoint", "read_checkpoint", "config_and_text",
    "RUN_MARKER", "RunFiles", "run_file", "read_marker", "check_no_links", "npz_run_id",
]

SUMMARY = "summary.json"
CHECKPOINT = "checkpoint.npz"
HISTORY = "history.npz"
PREDICTIONS = "predictions.npz"
SPIKES = "spikes.h5"
CONFIG_DIR = "config"
WEIGHTS_DIR = "weights"
SUMMARY_FORMAT = 1
#: The marker a run writes first into its folder: JSON ``{"format", "run_id",
#: "created", "files"}``, ``files`` being every file the run wrote (relative paths).
RUN_MARKER = ".dendrinet-run"
MARKER_FORMAT = 1
_MARKER_MAX_BYTES = 16 * 2**20
_SUMMARY_MAX_BYTES = 64 * 2**20
_NPZ_COMMENT = "dendrinet run "
_WEIGHT_FILE = re.compile(r"epoch_\d{3,}\.npz")


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


# -------------------------------------------- the marker, its listing, the run id


def _relative(relpath, where) -> str:
    """``relpath`` as a plain relative POSIX path (``config/model.toml``), or RunError."""
    text = str(relpath).replace(os.sep, "/")
    parts = text.split("/")
    if not text or text.startswith("/") or "\\" in text or \
            any(part in ("", ".", "..") for part in parts):
        raise RunError(f"{where}: {relpath!r} is not a plain path inside the run folder")
    return text


def read_marker(out: Path) -> dict | None:
    """The run folder's marker (``.dendrinet-run``), or None where there is none.

    Raises
    ------
    RunError
        A marker that is a link, not a file, too large or not what a run writes (one
        that lists a path outside the folder among them).
    """
    path = Path(out) / RUN_MARKER
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RunError(f"{path}: cannot read the run folder's marker ({exc})") from None
    if not stat.S_ISREG(st.st_mode) or st.st_size > _MARKER_MAX_BYTES:
        raise RunError(f"{path}: the run folder's marker is not a plain file of a run "
                       "(a link, a folder or too large); this folder is left alone")
    marker = read_json(path, "run folder marker")
    files = marker.get("files")
    if marker.get("format") != MARKER_FORMAT or not isinstance(marker.get("run_id"), str) \
            or not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise RunError(f"{path}: the run folder's marker is corrupt (format, run_id or "
                       "files missing); this folder is left alone")
    for rel in files:
        try:
            _relative(rel, path)
        except RunError:
            raise RunError(f"{path}: the run folder's marker lists {rel!r}, not a plain path "
                           "inside the folder; this folder is left alone") from None
    return marker


def _write_marker(out: Path, marker: dict) -> None:
    write_json_atomic(Path(out) / RUN_MARKER, marker, root=out)


def new_marker(out: Path) -> str:
    """Write a fresh marker (a new run id, nothing listed yet); returns the run id."""
    run_id = uuid.uuid4().hex
    _write_marker(out, {"format": MARKER_FORMAT,
                        "what": "a run folder written by dendrinet (do not edit)",
                        "run_id": run_id, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                        "files": []})
    return run_id


def run_file(out: str | os.PathLike, relpath: str) -> Path:
    """The path to write a run's file at, after the checks every writer into a run
    folder needs: ``relpath`` is listed in the folder's marker (so ``--force`` may delete
    it later), its folders exist (created here), and neither it nor a folder between
    the run folder and it is a symbolic link.

    Parameters
    ----------
    out : path
        The run folder (it must hold a marker: a run being written).
    relpath : str
        The file, relative to ``out`` (``"config/my_rule.py"``).

    Returns
    -------
    Path
        ``out / relpath``.

    Raises
    ------
    RunError
        No marker, a link on the way, or ``relpath`` not a plain relative path.
    """
    out = Path(out)
    rel = _relative(relpath, out)
    target = out / rel
    check_no_symlinks(target, out)
    if target.parent != out:
        target.parent.mkdir(parents=True, exist_ok=True)
        check_no_symlinks(target, out)  # nothing slipped in while making the folders
    marker = read_marker(out)
    if marker is None:
        raise RunError(f"{out}: not a run being written (no {RUN_MARKER} marker); "
                       f"nothing is written there")
    if rel not in marker["files"]:
        marker["files"].append(rel)
        _write_marker(out, marker)
    return target


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def save_run_npz(path: Path, arrays: dict, run_id: str | None, root: Path,
                 digest: bool = True) -> str:
    """``np.savez`` atomically, the run id in the archive's zip comment (so the arrays,
    and the digests of their content, are those of a plain ``np.savez``); no link
    followed below ``root``. Returns the file's sha256 (``""`` unless ``digest``)."""
    with atomic_open(path, "w+b", suffix=".tmp.npz", root=root) as fh:
        np.savez(fh, **arrays)
        if run_id:
            fh.seek(0)
            with zipfile.ZipFile(fh, "a") as archive:
                archive.comment = (_NPZ_COMMENT + run_id).encode("ascii")
        if not digest:
            return ""
        fh.flush()
        fh.seek(0)
        return hashlib.file_digest(fh, "sha256").hexdigest()


def npz_run_id(path: Path) -> str | None:
    """The run id in an ``.npz`` file's zip comment (None: none, or unreadable)."""
    try:
        with zipfile.ZipFile(path) as archive:
            comment = archive.comment.decode("ascii", "replace")
    except (OSError, zipfile.BadZipFile, ValueError):
        return None
    return comment[len(_NPZ_COMMENT):] if comment.startswith(_NPZ_COMMENT) else None


def _legacy_listing(out: Path) -> list[str]:
    """What a dendrinet 0.3 run (no marker) wrote: its files, by the names 0.3 used."""
    names = [n for n in (SUMMARY, CHECKPOINT, HISTORY, PREDICTIONS, SPIKES)
             if os.path.lexists(out / n)]
    names += [f"{CONFIG_DIR}/{n}" for n in ("model.toml", "protocol.toml")
              if os.path.lexists(out / CONFIG_DIR / n)]
    weights = out / WEIGHTS_DIR
    if weights.is_dir() and not weights.is_symlink():
        names += sorted(f"{WEIGHTS_DIR}/{p.name}" for p in weights.iterdir()
                        if _WEIGHT_FILE.fullmatch(p.name))
    return names


def _reads_as_summary(out: Path) -> bool:
    """Whether ``out/summary.json`` is a plain file that reads as a dendrinet run's
    summary (how a dendrinet 0.3 run folder, which has no marker, is recognised)."""
    path = out / SUMMARY
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > _SUMMARY_MAX_BYTES:
            return False
        info = read_json(path, "run summary")
        summary = RunSummary.from_dict(info, out)
    except (OSError, RunError, KeyError, TypeError, ValueError, AttributeError):
        return False
    return info.get("format") == SUMMARY_FORMAT and summary.status in ("running", "finished") \
        and isinstance(info.get("layer_sizes"), list)


def check_no_links(out: Path) -> None:
    """Refuse a run folder holding a symbolic link where the run writes or deletes: its
    marker, its files (listed or by name), ``config/``, ``weights/`` and their entries.

    Raises
    ------
    RunError
        One line naming the link.
    """
    out = Path(out)
    names = [RUN_MARKER, SUMMARY, CHECKPOINT, HISTORY, PREDICTIONS, SPIKES, CONFIG_DIR,
             WEIGHTS_DIR]
    for name in names:
        check_no_symlinks(out / name, out)
    marker = read_marker(out)
    for rel in marker["files"] if marker else []:
        check_no_symlinks(out / rel, out)
    for folder in (CONFIG_DIR, WEIGHTS_DIR):
        if (out / folder).is_dir():
            for entry in (out / folder).iterdir():
                check_no_symlinks(entry, out)


def check_same_run(out: Path, info: dict) -> None:
    """Refuse a folder whose files carry different run ids (a second writer came in,
    or files were copied from another run). Files without an id (written by dendrinet
    0.3) are not compared.

    Raises
    ------
    RunError
        Naming the files that belong to another run than ``summary.json``.
    """
    out = Path(out)
    ids = {SUMMARY: info.get("run_id") if isinstance(info.get("run_id"), str) else None}
    marker = read_marker(out)
    if marker is not None:
        ids[RUN_MARKER] = marker["run_id"]
    for name in (CHECKPOINT, HISTORY, PREDICTIONS):
        if (out / name).is_file():
            ids[name] = npz_run_id(out / name)
    weights = out / WEIGHTS_DIR
    if weights.is_dir():
        for p in sorted(weights.glob("epoch_*.npz")):
            ids[f"{WEIGHTS_DIR}/{p.name}"] = npz_run_id(p)
    known = {name: i for name, i in ids.items() if i is not None}
    if len(set(known.values())) <= 1:
        return
    ref_name = SUMMARY if ids[SUMMARY] else RUN_MARKER
    ref = known[ref_name]
    other = [name for name, i in known.items() if i != ref]
    listed = ", ".join(other[:4]) + (f" and {len(other) - 4} more" if len(other) > 4 else "")
    raise RunError(f"{out}: its files belong to different runs: {listed} "
                   f"{'is' if len(other) == 1 else 'are'} not from the run of {ref_name} "
                   f"(run id {ref[:8]}); another writer wrote here, or files were copied "
                   "in: the folder cannot be trusted, train the run again")


class RunFiles:
    """Every file a run writes into its folder goes through here: listed in the marker
    first (:func:`run_file`), written atomically without following a link, with the
    run id in it and its sha256 kept for ``summary.json``; before each epoch's files,
    the writer checks that it still holds the folder's lock.

    Parameters
    ----------
    out : Path
        The run folder (with its marker).
    lock : FolderLock, optional
        The writer's lock (:meth:`check_lock`).

    Attributes
    ----------
    run_id : str
    checksums : dict of str -> str
        sha256 of each weight file written (or verified), by relative path.
    checkpoint : dict or None
        ``{"epoch", "sha256"}`` of the checkpoint now on disk.
    """

    def __init__(self, out: Path, lock=None):
        self.out = Path(out)
        self.lock = lock
        marker = read_marker(self.out)
        if marker is None:
            raise RunError(f"{self.out}: no {RUN_MARKER} marker: not a run being written")
        self.run_id: str = marker["run_id"]
        self.checksums: dict[str, str] = {}
        self.checkpoint: dict | None = None

    @classmethod
    def for_resume(cls, out: Path, info: dict, lock=None) -> "RunFiles":
        """The files of a run to continue; a dendrinet 0.3 run (no marker) gets one,
        listing what 0.3 wrote, and a run id (its old files have none)."""
        out = Path(out)
        if read_marker(out) is None:
            files = _legacy_listing(out)
            run_id = info.get("run_id") if isinstance(info.get("run_id"), str) else None
            new_marker(out)
            marker = read_marker(out)
            marker["files"] = files
            if run_id:
                marker["run_id"] = run_id
            _write_marker(out, marker)
        return cls(out, lock)

    def path(self, relpath: str) -> Path:
        """:func:`run_file` of this run, once :meth:`check_lock` has passed."""
        self.check_lock(str(relpath))
        return run_file(self.out, relpath)

    def check_lock(self, next_step: str) -> None:
        """Stop (:class:`~dendrinet.storage.locks.LockLostError`) if the writer's lock
        file was removed or replaced: another writer may be in the folder."""
        if self.lock is not None:
            self.lock.check_held(next_step)

    def write_text(self, relpath: str, text: str) -> None:
        write_text_atomic(self.path(relpath), text, root=self.out)

    def write_bytes(self, relpath: str, data: bytes) -> None:
        with atomic_open(self.path(relpath), "wb", root=self.out) as fh:
            fh.write(data)

    def save_npz(self, relpath: str, arrays: dict, digest: bool = False) -> str:
        """Write an ``.npz`` of the run; returns its sha256 if ``digest``."""
        return save_run_npz(self.path(relpath), arrays, self.run_id, self.out, digest)

    def save_weights(self, params: Parameters, epoch: int) -> None:
        rel = f"{WEIGHTS_DIR}/epoch_{int(epoch):03d}.npz"
        self.checksums[rel] = self.save_npz(rel, params.to_arrays(), digest=True)

    def write_checkpoint(self, **kwargs) -> None:
        """:func:`write_checkpoint` into the run's ``checkpoint.npz``."""
        sha = write_checkpoint(self.path(CHECKPOINT), run_id=self.run_id, root=self.out,
                               **kwargs)
        self.checkpoint = {"epoch": int(kwargs["epoch"]), "sha256": sha}

    def summary_fields(self) -> dict:
        """What ``summary.json`` records of the files: run id, weight checksums, and the
        checkpoint on disk when the summary is written (the checkpoint of an epoch
        follows its summary, so a summary names the previous epoch's until the last)."""
        return {"run_id": self.run_id, "checksums": dict(sorted(self.checksums.items())),
                "checkpoint": self.checkpoint}

    def verify_for_resume(self, info: dict, ck: dict) -> list[str]:
        """Check the files a resumed run builds on, against ``summary.json``: the run
        ids, the checkpoint (its sha256 where the summary recorded it for the same
        epoch) and the weight files up to the checkpoint's epoch (their sha256, or for
        files without a recorded one, that they load). The checkpoint's own epoch is
        rewritten from the checkpoint when its file is missing or corrupt; an earlier
        one cannot be, and is refused.

        Returns
        -------
        list of str
            A line per file repaired.

        Raises
        ------
        RunError
            Files of different runs, a checkpoint that is not the recorded one, or a
            missing or corrupt weight file of an earlier epoch.
        """
        check_same_run(self.out, info)
        epoch = int(ck["epoch"])
        ck_path = self.out / CHECKPOINT
        sha = _file_sha256(ck_path)
        recorded = info.get("checkpoint")
        if isinstance(recorded, dict) and recorded.get("epoch") == epoch and \
                recorded.get("sha256") != sha:
            raise RunError(f"{ck_path}: is not the checkpoint of epoch {epoch} that "
                           f"{SUMMARY} recorded (its sha256 differs); the run cannot "
                           f"continue from it: restore it, or start again with --force")
        self.checkpoint = {"epoch": epoch, "sha256": sha}
        recorded_sums = info.get("checksums") if isinstance(info.get("checksums"), dict) \
            else {}
        repaired = []
        for k in range(epoch + 1):
            rel = f"{WEIGHTS_DIR}/epoch_{k:03d}.npz"
            problem = self._weight_file_problem(rel, recorded_sums.get(rel))
            if problem is None:
                continue
            if k != epoch:
                raise RunError(f"{self.out / rel}: the weights of epoch {k} are {problem}; "
                               f"only the last epoch's can be rewritten from the checkpoint "
                               f"(epoch {epoch}): restore the file, or start the run again "
                               "with --force")
            # the epoch's tested weights: the running mean where the run averages them
            average = WeightAverage.from_arrays(1, ck.get("average", {}),
                                                str(self.out / CHECKPOINT))
            self.save_weights(average.tested(ck["params"]), k)
            repaired.append(f"{self.out / rel}: was {problem}; rewritten from the "
                            f"checkpoint of epoch {epoch} (the same weights)")
        return repaired

    def _weight_file_problem(self, rel: str, recorded: str | None) -> str | None:
        path = self.out / rel
        if not path.is_file():
            return "missing"
        sha = _file_sha256(path)
        if isinstance(recorded, str):
            if sha != recorded:
                return f"corrupt (sha256 differs from the one {SUMMARY} records)"
        else:  # written before checksums: it must load at least
            try:
                Parameters.from_arrays(load_npz(path, "weight file"), str(path))
            except DendrinetError:
                return "corrupt (unreadable)"
        self.checksums[rel] = sha
        return None


# -------------------------------------------------------------- run folders


def folder_state(path: Path) -> str:
    """What ``path`` holds, its lock file (``.lock``) and a killed writer's temporary
    marker (``.dendrinet-run.*.tmp``) aside:

    * ``"absent"``; ``"empty"``;
    * ``"unstarted"``: a run's marker (``.dendrinet-run``) but no summary or checkpoint
      yet: the beginnings of a run killed before its first record, which a new run
      replaces (its listed files only);
    * ``"run"``: a run: its marker and a summary or a checkpoint; or, without a marker
      (written by dendrinet 0.3), a ``summary.json`` that reads as a run's summary;
    * ``"other"``: anything else (not a folder, a folder of other files, a corrupt
      marker): never written, never deleted from.
    """
    path = Path(path)
    if not path.exists():
        return "absent"
    if not path.is_dir():
        return "other"
    # the lock, and a marker's temporary file left by a writer killed while writing the
    # marker (the marker is the first file of a run), are not a folder's content
    entries = {p.name for p in path.iterdir()
               if p.name != LOCK_NAME and not (p.name.startswith(RUN_MARKER + ".")
                                               and p.name.endswith(".tmp"))}
    if not entries:
        return "empty"
    try:
        marker = read_marker(path)
    except RunError:
        return "other"
    if marker is not None:
        return "run" if entries & {SUMMARY, CHECKPOINT} else "unstarted"
    return "run" if _reads_as_summary(path) else "other"


def not_a_run_reason(path: Path) -> str:
    """Why :func:`folder_state` calls ``path`` ``"other"``, for messages."""
    path = Path(path)
    if not path.is_dir():
        return f"{path}: exists and is not a folder"
    try:
        read_marker(path)
    except RunError as exc:
        return str(exc)
    return (f"{path}: exists and is not a dendrinet run folder (no {RUN_MARKER} marker)")


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
        check_same_run(path, run.info)
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
        model = load_model(path)
        check_run_rule(self.path, model, self.info)  # before anything can import it
        recorded, n_inputs = self.info.get("layer_sizes"), self.info["dataset"].get("n_inputs")
        if isinstance(recorded, list) and isinstance(n_inputs, int) and \
                list(model.layer_sizes(n_inputs)) != recorded:
            raise RunError(f"{self.path}: its files belong to different runs: {CONFIG_DIR}/"
                           f"model.toml is a {list(model.layer_sizes(n_inputs))} network, "
                           f"{SUMMARY} records {recorded}: train the run again")
        return model

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
                  status, created, compile_seconds=None, fingerprint=None, data_dir=None,
                  rule_file=None, input_coding=None, engine_settings=None) -> dict:
    """The content of ``summary.json``. ``compile_seconds``: time the engine spent
    compiling (or loading its compiled code) before the epochs of this training session,
    excluded from every epoch's timings. ``fingerprint``: the data set's
    :func:`dataset_fingerprint`, if the caller has it (it reads every array).
    ``data_dir``: the absolute folder a named data set was looked for first (found again
    by ``--resume`` and ``evaluate``). ``rule_file``: the run's copy of its learning
    rule file (:func:`dendrinet.learning.rule_files.keep_copy`). ``input_coding``: the
    :class:`~dendrinet.datasets.input_coding.InputCoding` that made ``ds``'s features
    input rates (``ds`` is the coded data set). ``engine_settings``: the training
    engine's :meth:`~dendrinet.engine.Engine.settings`, where it has any (the rate
    engine's phases, Brian2's target)."""
    info = {
        "format": SUMMARY_FORMAT,
        "model": model.name,
        "protocol": protocol.name,
        "dataset": {"name": ds.name, "n_train": ds.n_train, "n_test": ds.n_test,
                    "n_inputs": ds.n_inputs, "image_shape": list(ds.image_shape),
                    "sha256": fingerprint or dataset_fingerprint(ds),
                    **({"data_dir": data_dir} if data_dir else {})},
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
    if rule_file:
        info["rule_file"] = rule_file
    if input_coding is not None:
        info["input_coding"] = input_coding.to_dict()
    if engine_settings:
        info["engine_settings"] = engine_settings
    return info


def write_checkpoint(path: Path, *, params, engine_state, rng, epoch, history, epochs,
                     average: dict | None = None, run_id: str | None = None,
                     root: Path | None = None) -> str:
    """Write ``checkpoint.npz`` atomically (no link followed below ``root``, the run id
    in its zip comment); returns its sha256. ``average``: the running mean of the
    weights (:meth:`dendrinet.learning.weight_average.WeightAverage.to_arrays`)."""
    arrays = {f"param.{k}": v for k, v in params.to_arrays().items()}
    arrays.update({f"average.{k}": v for k, v in (average or {}).items()})
    arrays.update({f"engine.{k}": np.asarray(v) for k, v in engine_state.items()})
    arrays.update({f"history.{k}": v for k, v in history.arrays().items()})
    arrays["rng_state"] = np.array(json.dumps(rng.bit_generator.state))
    arrays["epoch"] = np.array(epoch, dtype=np.int64)
    arrays["epochs_json"] = np.array(json.dumps([dataclasses.asdict(e) for e in epochs]))
    return save_run_npz(Path(path), arrays, run_id, Path(root or Path(path).parent))


def read_checkpoint(path: Path) -> dict:
    raw = load_npz(path, "checkpoint")
    try:
        out = {
            "params": Parameters.from_arrays(
                {k[len("param."):]: v for k, v in raw.items() if k.startswith("param.")},
                str(path)),
            "engine_state": {k[len("engine."):]: v for k, v in raw.items()
                             if k.startswith("engine.")},
            "average": {k[len("average."):]: v for k, v in raw.items()
                        if k.startswith("average.")},
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


def write_summary(out: Path, *, files: "RunFiles | None" = None, **kwargs) -> RunSummary:
    """Write ``summary.json`` (:func:`summary_dict`; with ``files``, also the run id and
    checksums of :meth:`RunFiles.summary_fields`)."""
    info = summary_dict(**kwargs)
    if files is not None:
        info.update(files.summary_fields())
        write_json_atomic(files.path(SUMMARY), info, root=out)
    else:
        write_json_atomic(out / SUMMARY, info)
    return RunSummary.from_dict(info, out)


def clear_for_new_run(out: Path, state: str, force: bool) -> list[str]:
    """Make room for a new run in ``out`` (whose lock the caller holds) and write the new
    run's marker, first of all its files.

    Only an earlier run's files are ever deleted, and only with ``force``: those its
    marker lists (a dendrinet 0.3 run's: the names 0.3 wrote), then the folders they were
    in if empty; the beginnings of a run killed before its summary (``"unstarted"``) go
    without ``force``. Anything else stays (a user's notes), and so does the lock file.
    A folder that is not a run (``"other"``) is refused, with or without ``force``.

    Returns
    -------
    list of str
        The entries left in the folder besides the lock and the marker.
    """
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
        raise RunError(f"{not_a_run_reason(out)}; choose another output folder")
    if state in ("run", "unstarted"):
        check_no_links(out)  # nothing is deleted through a link
        marker = read_marker(out)
        listed = marker["files"] if marker is not None else _legacy_listing(out)
        folders = set()
        for rel in listed:
            target = out / rel
            try:
                if not stat.S_ISDIR(os.lstat(target).st_mode):
                    target.unlink()
            except FileNotFoundError:
                pass
            folders.update(Path(rel).parents)
        for folder in sorted(folders - {Path(".")}, key=lambda f: -len(f.parts)):
            try:
                (out / folder).rmdir()  # only if empty
            except OSError:
                pass
    new_marker(out)
    return sorted(p.name for p in out.iterdir() if p.name not in (LOCK_NAME, RUN_MARKER))


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
        check_run_rule(out, model, info)  # before anything can import it
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
