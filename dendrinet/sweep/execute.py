"""Running a sweep's runs on Dask, each an ordinary run folder, none lost.

* Every run is one Dask task, :func:`execute_run`, which calls
  :func:`dendrinet.training.trainer.train` on ``DIR/runs/<run id>/`` with ``resume=True`` as
  soon as that folder holds a run. A worker that dies mid-run (killed, out of
  memory, node lost) makes the scheduler run the task again on another worker (up to
  Dask's ``distributed.scheduler.allowed-failures``, 3 by default); it continues from
  the last epoch checkpoint and ends bit for bit where an uninterrupted run would.
  Exceptions other than dendrinet's own (bad input, which would fail again) are
  retried ``retries`` times.
* The sweep command holds ``DIR/.lock`` (:class:`~dendrinet.storage.locks.FolderLock`)
  while it lives: a second sweep on the same folder stops at once. A task holds
  ``DIR/locks/<run id>.lock`` while it trains its run, so a task still running on a
  worker after its sweep command was killed and the same run submitted again by the
  restarted command never write one folder at the same time: the second waits, then
  finds the run finished (``train``'s own lock on the run folder would refuse it).
* A sweep started again with the same arguments skips the finished runs (their
  summary says finished with all epochs) and resumes the others.
* Progress: the client polls the runs' ``summary.json`` files (rewritten atomically
  after every epoch), which works for any cluster whose workers see the sweep folder
  on a shared file system -- the runs' folders have to be there anyway.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from dendrinet.brian2_import import import_brian2
from dendrinet.storage.files import write_text_atomic
from dendrinet.errors import ConfigError, DendrinetError, RunError
from dendrinet.learning.rule_files import allow, allowed, check_allowed
from dendrinet.storage.locks import FolderLock
from dendrinet.training.run_folder import SUMMARY, folder_state
from dendrinet.sweep.results import (
    RUNS_DIR,
    SWEEP_COPY,
    SWEEP_JSON,
    SweepReport,
    write_sweep_info,
    write_sweep_report,
)
from dendrinet.sweep.spec import RunSpec, Sweep

__all__ = ["LOCKS_DIR", "SweepOutcome", "check_sweep_folder", "execute_run", "run_sweep",
           "run_state", "sweep_folder_lock"]

LOCKS_DIR = "locks"


@dataclass
class SweepOutcome:
    """What one invocation of :func:`run_sweep` did.

    Attributes
    ----------
    out_dir : Path
    runs : int
        Number of runs in the sweep.
    skipped : list of str
        Runs already finished before this invocation (not submitted).
    finished : list of str
        Runs that finished in this invocation.
    failed : dict
        Run id -> error message.
    report : SweepReport or None
    """

    out_dir: Path
    runs: int
    skipped: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    report: SweepReport | None = None

    @property
    def ok(self) -> bool:
        return not self.failed


# ----------------------------------------------------------- the sweep folder


def sweep_folder_lock(out_dir: Path) -> FolderLock:
    """The lock held on the sweep folder for the life of a sweep command (``DIR/.lock``),
    so that two sweeps cannot share one folder: the second stops at once, naming the
    first (:class:`~dendrinet.storage.locks.FolderBusyError`)."""
    return FolderLock(out_dir, what="sweep folder")


def check_sweep_folder(out_dir: Path) -> None:
    """Check that ``out_dir`` is absent, empty or a sweep folder: nothing is ever
    written into a foreign folder."""
    if out_dir.exists() and not out_dir.is_dir():
        raise RunError(f"{out_dir}: exists and is not a folder")
    if out_dir.is_dir() and not (out_dir / SWEEP_JSON).is_file():
        foreign = sorted(p.name for p in out_dir.iterdir() if not p.name.startswith("."))
        if foreign:
            raise RunError(f"{out_dir}: exists and is not a sweep folder (no {SWEEP_JSON}; "
                           f"holds {', '.join(foreign[:3])}); choose another --out")


def run_state(spec: RunSpec, runs_dir: Path) -> tuple[str, int]:
    """(``"new"`` | ``"partial"`` | ``"finished"``, epochs done) of a run's folder."""
    try:
        info = json.loads((Path(runs_dir) / spec.run_id / SUMMARY).read_text(encoding="utf-8"))
        done = len(info["epochs"])
    except FileNotFoundError:
        return "new", 0
    except (OSError, ValueError, KeyError, TypeError):
        return "partial", 0
    if info.get("status") == "finished" and done == spec.epochs:
        return "finished", done
    return "partial", done


def _check_data_dirs(sweep: Sweep, runs) -> None:
    missing = sorted({r.data_dir for r in runs if r.data_dir and not Path(r.data_dir).is_dir()})
    if missing:
        raise ConfigError(f"{sweep.source.name}: data_dir {missing[0]} does not exist (a "
                          f"relative data_dir is relative to the sweep file's folder)")


# ----------------------------------------------------------------- one run


@contextlib.contextmanager
def _run_lock(path: Path):
    """An exclusive lock on ``path`` (waits while another process holds it; released
    when the holder exits or dies). File systems without locks: no lock."""
    from dendrinet.storage.locks import try_lock

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        try_lock(fh.fileno(), wait=True, unsupported_ok=True)
        yield


def _in_dask_worker() -> str | None:
    try:
        from distributed import get_worker
        return get_worker().address
    except (ImportError, ValueError):
        return None


def execute_run(spec: RunSpec, runs_dir: str, allowed_rules: tuple[str, ...] = ()) -> dict:
    """Train one run of a sweep into ``runs_dir/<run id>`` (the Dask task).

    A folder that holds a run is continued with ``train(..., resume=True)``: from its
    last checkpoint, or from the start when it was killed before its first one. Inside
    a Dask worker the run's Numba kernels use one thread (the runs are the parallelism).

    Returns
    -------
    dict
        ``run``, ``status`` (``"finished"`` or ``"failed"``), ``error`` (for a failed
        run: the message of the :class:`~dendrinet.errors.DendrinetError`),
        ``resumed_at`` (epochs recorded before), ``epochs``, ``final_test_error``,
        ``seconds``, ``host``, ``worker``.

    ``allowed_rules``: the SHA-256 digests of the rule files the sweep's user allowed
    (:func:`dendrinet.learning.rule_files.allow`), allowed in the worker too.
    """
    from dendrinet.training.trainer import train

    t0 = time.perf_counter()
    runs = Path(runs_dir)
    worker = _in_dask_worker()
    out = {"run": spec.run_id, "host": platform.node(), "worker": worker}
    if not runs.is_dir():
        return {**out, "status": "failed",
                "error": f"{runs} not found on {platform.node()}: the workers need the sweep "
                         f"folder on a shared file system, at the same path"}
    if worker is not None:
        import numba
        numba.set_num_threads(1)
        import_brian2()  # tasks run off the main thread, where Brian2's import would fail
    allow(digests=allowed_rules)
    folder = runs / spec.run_id
    # waits while another task of this run still trains (see the module docstring);
    # train's own lock on the folder would refuse at once instead
    with _run_lock(runs.parent / LOCKS_DIR / f"{spec.run_id}.lock"):
        # a killed run continues from its checkpoint; one killed before its first
        # checkpoint starts again (train does both with resume=True)
        resume = folder_state(folder) in ("run", "unstarted")
        before = run_state(spec, runs)[1] if resume else 0
        try:
            summary = train(spec.model, spec.protocol, spec.dataset, folder, epochs=spec.epochs,
                            seed=spec.seed, engine=spec.engine, resume=resume, progress=False,
                            data_dir=spec.data_dir, n_train=spec.n_train, n_test=spec.n_test)
        except DendrinetError as exc:  # bad input: trying again would fail again
            return {**out, "status": "failed", "error": str(exc)}
    return {**out, "status": "finished", "resumed_at": before, "epochs": summary.epochs_done,
            "final_test_error": summary.final_test_error,
            "seconds": time.perf_counter() - t0}


# ------------------------------------------------------------------- Dask


def _connect(scheduler, scheduler_file, workers):
    """(client, cluster or None) for an existing scheduler or a new local cluster."""
    from distributed import Client, LocalCluster

    if scheduler or scheduler_file:
        where = scheduler or f"the scheduler file {scheduler_file}"
        if scheduler_file and not Path(scheduler_file).is_file():
            raise DendrinetError(f"scheduler file {scheduler_file} not found")
        try:
            return Client(scheduler, scheduler_file=scheduler_file, timeout="30s"), None
        except (OSError, TimeoutError, ValueError) as exc:
            raise DendrinetError(f"cannot reach the Dask scheduler at {where} ({exc})") \
                from None
    if workers is None:
        try:
            workers = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            workers = os.cpu_count() or 1
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address="127.0.0.1:8787")
    try:
        return Client(cluster), cluster
    except BaseException:
        cluster.close()
        raise


class _Progress:
    """Bars of finished runs and epochs, fed by polling the runs' summaries."""

    def __init__(self, sweep: Sweep, runs_dir: Path, todo, done_epochs: dict, n_skipped: int,
                 enabled: bool, log):
        from tqdm.auto import tqdm

        self.runs_dir, self.log, self.enabled = runs_dir, log, enabled
        self.epochs = dict(done_epochs)
        self.mtimes: dict[str, float] = {}
        self.runs_bar = tqdm(total=len(sweep.runs), initial=n_skipped, unit="run",
                             desc="runs", disable=not enabled, position=0, dynamic_ncols=True)
        self.epochs_bar = tqdm(total=sum(r.epochs for r in sweep.runs),
                               initial=sum(self.epochs.values()), unit="epoch", desc="epochs",
                               disable=not enabled, position=1, dynamic_ncols=True)
        self.tqdm = tqdm

    def _set(self, run_id: str, done: int) -> None:
        delta = done - self.epochs.get(run_id, 0)
        self.epochs[run_id] = done
        if delta:
            self.epochs_bar.update(delta)

    def poll(self, pending) -> None:
        for spec in pending:
            path = self.runs_dir / spec.run_id / SUMMARY
            try:
                mtime = path.stat().st_mtime_ns
                if self.mtimes.get(spec.run_id) == mtime:
                    continue
                self.mtimes[spec.run_id] = mtime
                done = len(json.loads(path.read_text(encoding="utf-8"))["epochs"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            self._set(spec.run_id, done)

    def message(self, text: str) -> None:
        if self.enabled:
            self.tqdm.write(text)
        else:
            self.log(text)

    def finished(self, spec: RunSpec, result: dict) -> None:
        self._set(spec.run_id, result.get("epochs", spec.epochs))
        self.runs_bar.update(1)
        resumed = f", resumed after epoch {result['resumed_at']}" \
            if result.get("resumed_at") else ""
        self.message(f"finished {spec.run_id}: test error "
                     f"{100 * result['final_test_error']:.2f}% after {result['epochs']} "
                     f"epochs ({result['seconds']:.0f} s on {result['host']}{resumed})")

    def failed(self, spec: RunSpec, message: str) -> None:
        self.runs_bar.update(1)
        self.message(f"FAILED {spec.run_id}: {message}")

    def close(self) -> None:
        self.epochs_bar.close()
        self.runs_bar.close()


def _failure_message(future) -> str:
    exc = future.exception()
    if type(exc).__name__ == "KilledWorker":
        return (f"the workers running it died repeatedly ({exc}); out of memory? see the "
                f"worker logs. Starting the sweep again continues it")
    return f"{type(exc).__name__}: {exc}"


def run_sweep(sweep: Sweep, out_dir, *, scheduler: str | None = None,
              scheduler_file: str | None = None, workers: int | None = None,
              retries: int = 2, progress: bool = True, poll: float = 0.5,
              log=print) -> SweepOutcome:
    """Train every run of ``sweep`` into ``out_dir/runs/`` on Dask; write the results.

    Parameters
    ----------
    sweep : Sweep
        From :func:`dendrinet.sweep.load_sweep`.
    out_dir : path
        The sweep folder (created; an existing sweep folder is continued: finished runs
        are skipped, unfinished ones resumed).
    scheduler, scheduler_file : str, optional
        Address (``tcp://HOST:PORT``) or scheduler file of an existing Dask cluster
        whose workers see ``out_dir`` at the same path. Default: a local cluster.
    workers : int, optional
        Worker processes of the local cluster, one thread each (default: the usable
        cores).
    retries : int
        Times a run that raised an unexpected exception is tried again (a dendrinet
        error -- bad input -- is reported at once).
    progress : bool
        Progress bars of runs and epochs on a terminal (stderr); otherwise, and
        always for finished and failed runs, one line per run.
    poll : float
        Seconds between looks at the runs' summaries.
    log : callable
        Receives the lines to print.

    Returns
    -------
    SweepOutcome
    """
    out = Path(out_dir).resolve()
    check_sweep_folder(out)
    runs_dir = out / RUNS_DIR
    # checked before anything is written (again under the lock: the states may change)
    unfinished = [r for r in sweep.runs if run_state(r, runs_dir)[0] != "finished"]
    _check_data_dirs(sweep, unfinished)
    for spec in unfinished:  # a rule file runs only when the user named it: ask once, here
        check_allowed(spec.model)
    with sweep_folder_lock(out) as lock:
        lock.remove_temporaries()  # of atomic writes killed earlier (results.csv, ...)
        states = {r.run_id: run_state(r, runs_dir) for r in sweep.runs}
        outcome = SweepOutcome(out, len(sweep.runs))
        outcome.skipped = [r.run_id for r in sweep.runs if states[r.run_id][0] == "finished"]
        todo = [r for r in sweep.runs if states[r.run_id][0] != "finished"]
        _check_data_dirs(sweep, todo)
        write_sweep_info(out, sweep)  # first: from now on, the folder is a sweep folder
        write_text_atomic(out / SWEEP_COPY, sweep.text)
        runs_dir.mkdir(exist_ok=True)
        (out / LOCKS_DIR).mkdir(exist_ok=True)
        n_partial = sum(states[r.run_id][0] == "partial" for r in todo)
        log(f"{len(sweep.runs)} runs: {len(outcome.skipped)} already finished (skipped), "
            f"{n_partial} to resume, {len(todo) - n_partial} to start")
        if todo:
            _run_on_dask(sweep, todo, out, states, outcome, scheduler=scheduler,
                         scheduler_file=scheduler_file, workers=workers, retries=retries,
                         progress=progress, poll=poll, log=log)
        write_sweep_info(out, sweep, outcome.failed)
        outcome.report = write_sweep_report(out)
    return outcome


def _run_on_dask(sweep, todo, out, states, outcome, *, scheduler, scheduler_file, workers,
                 retries, progress, poll, log) -> None:
    client, cluster = _connect(scheduler, scheduler_file, workers)
    bar = None
    futures = {}
    try:
        info = client.scheduler_info()
        n_workers = len(info.get("workers", {}))
        threads = sum(w.get("nthreads", 0) for w in info.get("workers", {}).values())
        where = "a local cluster" if cluster is not None else f"{client.scheduler.address}"
        log(f"Dask: {where}, {n_workers} workers, {threads} threads" +
            ("" if n_workers else " (waiting for workers to connect)"))
        # a local scheduler serves the dashboard only with bokeh installed
        if "dashboard" in info.get("services", {}) and \
                (cluster is None or importlib.util.find_spec("bokeh")):
            log(f"dashboard: {client.dashboard_link}")
        # keys differ between sweep folders, so sweeps sharing a cluster never share tasks
        tag = hashlib.sha1(str(out).encode()).hexdigest()[:10]
        runs_dir = str(out / RUNS_DIR)
        for spec in todo:
            futures[client.submit(execute_run, spec, runs_dir, allowed(), retries=retries,
                                  pure=False,
                                  key=f"dendrinet-run-{spec.run_id}-{tag}")] = spec
        bar = _Progress(sweep, out / RUNS_DIR, todo,
                        {r.run_id: states[r.run_id][1] for r in sweep.runs}, len(outcome.skipped),
                        progress and sys.stderr.isatty(), log)
        pending = dict(futures)
        while pending:
            time.sleep(poll)
            bar.poll(pending.values())
            for future in [f for f in pending if f.done()]:
                spec = pending.pop(future)
                if future.status == "finished":
                    result = future.result()
                    if result["status"] == "finished":
                        outcome.finished.append(spec.run_id)
                        bar.finished(spec, result)
                        continue
                    message = result["error"]
                else:
                    message = _failure_message(future)
                outcome.failed[spec.run_id] = message
                bar.failed(spec, message)
    finally:
        if bar is not None:
            bar.close()
        unfinished = [f for f in futures if not f.done()]
        if unfinished:  # interrupted: a task still running finishes alone, under its lock
            with contextlib.suppress(Exception):
                client.cancel(unfinished, force=True)
        client.close()
        if cluster is not None:
            cluster.close()
