"""The results of a sweep folder: ``results.csv``, ``summary.md`` and the learning curves.

Everything is computed from ``DIR/sweep.json`` (the runs and their swept values) and
the runs' own ``summary.json`` files, so ``dendrinet report DIR`` works on a sweep
folder at any time, also while the sweep runs or after it was killed.
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dendrinet.storage.files import atomic_open, write_json_atomic, write_text_atomic
from dendrinet.config import DEFAULT_PROTOCOL
from dendrinet.errors import ConfigError, RunError
from dendrinet.training.run_folder import SUMMARY, Run

__all__ = ["SWEEP_JSON", "SWEEP_COPY", "RUNS_DIR", "RESULTS_CSV", "SUMMARY_MD", "FIGURE",
           "SweepReport", "is_sweep_folder", "read_sweep_info", "write_sweep_info",
           "results_rows", "configurations", "write_sweep_report", "parameter_text"]

SWEEP_JSON = "sweep.json"
SWEEP_COPY = "sweep.toml"
RUNS_DIR = "runs"
RESULTS_CSV = "results.csv"
SUMMARY_MD = "summary.md"
FIGURE = "learning_curves.png"
REFERENCES_JSON = "references.json"
SWEEP_FORMAT = 1

#: Published test errors (%) of the paper's networks on full MNIST after 60 epochs
#: (Guerguiev, Lillicrap & Richards, eLife 2017), shown beside a sweep's configurations
#: of the same model on ``mnist``.
PUBLISHED = {"guerguiev2017-0hidden": 8.3, "guerguiev2017-1hidden": 4.1,
             "guerguiev2017-2hidden": 3.2, "guerguiev2017-sparse": 3.7,
             "guerguiev2017-symmetric": 3.6}

#: Columns of results.csv before and after the swept parameters.
RUN_COLUMNS = ("model", "protocol", "dataset")
EPOCH_COLUMNS = ("seed", "epoch", "train_error", "test_error", "ms_per_train_example",
                 "ms_per_test_example", "seconds", "status", "run")


@dataclass
class SweepReport:
    """What :func:`write_sweep_report` wrote.

    Attributes
    ----------
    out_dir : Path
    summary : Path
        ``summary.md``.
    results : Path
        ``results.csv``.
    figures : list of Path
        The learning-curve figure (absent when no run has finished an epoch).
    """

    out_dir: Path
    summary: Path
    results: Path
    figures: list[Path] = field(default_factory=list)


def is_sweep_folder(path) -> bool:
    """Whether ``path`` is a folder written by ``dendrinet sweep``."""
    return (Path(path) / SWEEP_JSON).is_file()


def write_sweep_info(sweep_dir: Path, sweep, failures: dict[str, str] | None = None) -> None:
    """Write ``sweep.json``: the sweep's runs, their swept values and, after an
    invocation, the runs that failed with their messages."""
    write_json_atomic(sweep_dir / SWEEP_JSON, {
        "format": SWEEP_FORMAT, "sweep_file": str(sweep.source),
        "parameters": list(sweep.parameters),
        "runs": [r.settings(sweep.parameters) for r in sweep.runs],
        "references": list(sweep.references),
        "failures": dict(failures or {})})


def read_sweep_info(sweep_dir) -> dict:
    path = Path(sweep_dir) / SWEEP_JSON
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(info, dict) or not isinstance(info.get("runs"), list):
            raise ValueError("no list of runs")
    except FileNotFoundError:
        raise RunError(f"{sweep_dir}: not a sweep folder (no {SWEEP_JSON})") from None
    except (OSError, ValueError) as exc:
        raise RunError(f"{path}: corrupt or unreadable ({exc})") from None
    return info


def parameter_text(value) -> str:
    """A swept value as written in results.csv and summary.md (canonical units)."""
    if isinstance(value, list):
        return "[" + ", ".join(parameter_text(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def _run_summaries(sweep_dir: Path, info: dict) -> dict[str, Run | None]:
    out = {}
    for run in info["runs"]:
        folder = sweep_dir / RUNS_DIR / run["run"]
        try:
            out[run["run"]] = Run.open(folder, allow_unfinished=True) \
                if (folder / SUMMARY).is_file() else None
        except RunError:
            out[run["run"]] = None
    return out


def results_rows(sweep_dir, info: dict | None = None, runs: dict | None = None
                 ) -> tuple[list[str], list[dict]]:
    """(columns, rows) of ``results.csv``: one row per run and finished epoch."""
    sweep_dir = Path(sweep_dir)
    info = read_sweep_info(sweep_dir) if info is None else info
    columns = [*RUN_COLUMNS, *info["parameters"], *EPOCH_COLUMNS]
    rows = []
    runs = _run_summaries(sweep_dir, info) if runs is None else runs
    for spec in info["runs"]:
        run = runs[spec["run"]]
        if run is None:
            continue
        base = {"model": spec["model"], "protocol": spec["protocol"],
                "dataset": spec["dataset"], "seed": spec["seed"], "run": spec["run"],
                "status": run.summary.status}
        base.update({p: parameter_text(spec["parameters"][p]) for p in info["parameters"]})
        for e in run.summary.epochs:
            rows.append({**base, "epoch": e.epoch, "train_error": e.train_error,
                         "test_error": e.test_error,
                         "ms_per_train_example": e.ms_per_train_example,
                         "ms_per_test_example": e.ms_per_test_example,
                         "seconds": e.seconds})
    return columns, rows


@dataclass
class Configuration:
    """The runs of one configuration (everything but the seed).

    Attributes
    ----------
    label : str
    settings : dict
        model, protocol, dataset, epochs and the swept values.
    runs : list of str
        All its runs; ``finished`` those that finished all their epochs.
    final_test_errors, final_train_errors : list of float
        Of the finished runs, in the order of ``finished``.
    test_curves, train_curves : list of numpy.ndarray
        Per-epoch errors of every run that has finished an epoch.
    """

    label: str
    settings: dict
    runs: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    final_test_errors: list[float] = field(default_factory=list)
    final_train_errors: list[float] = field(default_factory=list)
    ms_per_train_example: list[float] = field(default_factory=list)
    test_curves: list[np.ndarray] = field(default_factory=list)
    train_curves: list[np.ndarray] = field(default_factory=list)

    @staticmethod
    def mean_sd(values) -> tuple[float, float]:
        """Mean and sample standard deviation (n - 1; NaN for fewer than 2 values)."""
        a = np.asarray(values, dtype=float)
        if a.size == 0:
            return math.nan, math.nan
        return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else math.nan


def configurations(sweep_dir, info: dict | None = None, runs: dict | None = None
                   ) -> list[Configuration]:
    """The sweep's configurations, in the order of their first run."""
    sweep_dir = Path(sweep_dir)
    info = read_sweep_info(sweep_dir) if info is None else info
    runs = _run_summaries(sweep_dir, info) if runs is None else runs
    out: dict[str, Configuration] = {}
    for spec in info["runs"]:
        settings = {k: spec.get(k) for k in ("model", "protocol", "dataset", "epochs",
                                             "n_train", "n_test", "engine")}
        settings.update({p: parameter_text(v) for p, v in spec["parameters"].items()})
        key = json.dumps(settings, sort_keys=True)
        if key not in out:
            label = " ".join([spec["model"]] + ([spec["protocol"]] if spec["protocol"] !=
                                                DEFAULT_PROTOCOL else [])
                             + [spec["dataset"]] + [f"{p.rsplit('.', 1)[-1]}={v}" for p, v in
                                                    settings.items() if p in spec["parameters"]])
            out[key] = Configuration(label, settings)
        config = out[key]
        config.runs.append(spec["run"])
        run = runs[spec["run"]]
        if run is None or not run.summary.epochs:
            continue
        s = run.summary
        config.test_curves.append(s.test_errors)
        config.train_curves.append(s.train_errors)
        if s.finished and s.epochs_done == spec["epochs"]:
            config.finished.append(spec["run"])
            config.final_test_errors.append(s.final_test_error)
            config.final_train_errors.append(float(s.train_errors[-1]))
            config.ms_per_train_example.append(
                float(np.mean([e.ms_per_train_example for e in s.epochs])))
    _distinct_labels(list(out.values()))
    return list(out.values())


def _distinct_labels(configs: list[Configuration]) -> None:
    """Add the settings that tell apart configurations with the same label."""
    by_label: dict[str, list[Configuration]] = {}
    for c in configs:
        by_label.setdefault(c.label, []).append(c)
    for same in by_label.values():
        if len(same) > 1:
            varying = [k for k in same[0].settings
                       if len({str(c.settings.get(k)) for c in same}) > 1]
            for c in same:
                c.label += " " + " ".join(f"{k}={c.settings.get(k)}" for k in varying)


def _percent(value: float) -> str:
    return "–" if math.isnan(value) else f"{100 * value:.2f}"


def _write_csv(path: Path, columns, rows) -> None:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})


def _summary_md(info: dict, configs: list[Configuration], figure: str | None,
                runs: dict[str, Run | None], references=()) -> str:
    n_runs = len(info["runs"])
    n_finished = sum(len(c.finished) for c in configs)
    lines = [f"# Sweep `{Path(info.get('sweep_file', '')).name}`", "",
             f"{n_runs} runs, {n_finished} finished. Final test error: mean ± s.d. over "
             f"seeds (n − 1 denominator) of the finished runs' test error after their last "
             f"epoch. Per-epoch numbers of every run: `{RESULTS_CSV}`.", "",
             "| configuration | epochs | seeds finished | final test error (%) | "
             "final train error (%) | ms per training example |",
             "|---|---:|---:|---:|---:|---:|"]
    published = [PUBLISHED.get(c.settings["model"]) if c.settings["dataset"] == "mnist"
                 else None for c in configs]
    show_paper = any(p is not None for p in published)  # the paper's networks, its data
    if show_paper:
        lines[-2] += " paper, 60 epochs (%) |"
        lines[-1] += "---:|"
    for c, paper in zip(configs, published):
        mean, sd = c.mean_sd(c.final_test_errors)
        tr_mean, tr_sd = c.mean_sd(c.final_train_errors)
        ms = np.mean(c.ms_per_train_example) if c.ms_per_train_example else math.nan
        test = _percent(mean) if math.isnan(sd) else f"{_percent(mean)} ± {_percent(sd)}"
        train = _percent(tr_mean) if math.isnan(tr_sd) else \
            f"{_percent(tr_mean)} ± {_percent(tr_sd)}"
        lines.append(f"| {c.label} | {c.settings['epochs']} | {len(c.finished)} of "
                     f"{len(c.runs)} | {test} | {train} | "
                     f"{'–' if math.isnan(ms) else f'{ms:.3f}'} |")
        if show_paper:
            lines[-1] += " – |" if paper is None else f" {paper:.1f} |"
    timings = _protocol_timings(info, runs)
    if timings:
        lines += ["", "Protocols (a name's meaning changed in 0.3; these are the runs' values):",
                  ""] + [f"- `{name}`: {timing}" for name, timing in timings]
    failures = info.get("failures") or {}
    unfinished = [r["run"] for r in info["runs"]
                  if not any(r["run"] in c.finished for c in configs)]
    if unfinished:
        lines += ["", "## Runs not finished", ""]
        for name in unfinished:
            run = runs.get(name)
            state = "not started" if run is None else \
                f"{run.summary.status}, {run.summary.epochs_done} of " \
                f"{run.summary.epochs_planned} epochs"
            message = f": {failures[name]}" if name in failures else ""
            lines.append(f"- `{name}` ({state}){message}")
    if references:
        lines += ["", "## Non-spiking references on the same splits", "",
                  "scikit-learn, trained on the same features in [0, 1] (not on the spiking "
                  "networks' input coding), seed 0; an MLP per hidden-layer shape of the "
                  "sweep's networks, for as many epochs as the runs. Cached in "
                  f"`{REFERENCES_JSON}`.", "",
                  "| data set | classifier | test error (%) |", "|---|---|---:|"]
        lines += [f"| {data} | {name} | {_percent(error)} |" for data, name, error in references]
    if figure:
        lines += ["", "## Learning curves", "",
                  "Mean ± s.d. over seeds (band) of the test and training error per epoch.",
                  "", f"![learning curves]({figure})"]
    return "\n".join(lines) + "\n"


def reference_rows(sweep_dir: Path, info: dict, runs: dict[str, Run | None]
                   ) -> list[tuple[str, str, float]]:
    """(data set, classifier, test error as a fraction) of the references the sweep file
    asked for (``references``), one group per data split of its runs: the logistic
    regression, and an MLP per hidden-layer shape of the runs that have a folder,
    trained for the runs' largest number of epochs. Each figure is computed once and
    kept in ``DIR/references.json`` (a value there that is no fraction is computed
    again)."""
    from dendrinet.analysis.references import (REFERENCES, logistic_regression_error,
                                               mlp_error, reference_name)
    from dendrinet.datasets import load_dataset

    kinds = [k for k in info.get("references") or [] if k in REFERENCES]
    if not kinds:
        return []
    groups: dict[tuple, dict] = {}
    for spec in info["runs"]:
        key = (spec["dataset"], spec.get("data_dir"), spec.get("n_train"), spec.get("n_test"))
        group = groups.setdefault(key, {"hidden": [], "epochs": 0})
        group["epochs"] = max(group["epochs"], int(spec["epochs"]))
        run = runs.get(spec["run"])
        try:
            hidden = tuple(run.model.hidden) if run is not None else ()
        except (RunError, ConfigError):  # a damaged folder is reported elsewhere
            hidden = ()
        if hidden and hidden not in group["hidden"]:
            group["hidden"].append(hidden)
    path = Path(sweep_dir) / REFERENCES_JSON
    try:
        cache = json.loads(path.read_text(encoding="utf-8"))
        cache = cache if isinstance(cache, dict) else {}
    except (OSError, ValueError):
        cache = {}
    rows = []
    for (dataset, data_dir, n_train, n_test), group in groups.items():
        label = dataset if n_train is None and n_test is None else \
            f"{dataset} ({n_train or 'all'} train / {n_test or 'all'} test)"
        todo = ([("logistic-regression", ())] if "logistic-regression" in kinds else []) + \
            ([("mlp", h) for h in group["hidden"]] if "mlp" in kinds else [])
        data = None
        for kind, hidden in todo:
            key = json.dumps([dataset, data_dir, n_train, n_test, kind, list(hidden),
                              group["epochs"]])
            error = cache.get(key)
            if isinstance(error, bool) or not isinstance(error, (int, float)) \
                    or not 0 <= error <= 1:
                if data is None:
                    ds = load_dataset(dataset, data_dir=data_dir, n_train=n_train,
                                      n_test=n_test)
                    data = (ds.X_train, ds.y_train, ds.X_test, ds.y_test)
                error = logistic_regression_error(*data) if kind == "logistic-regression" \
                    else mlp_error(*data, hidden, group["epochs"])
                cache[key] = error
                write_json_atomic(path, cache)
            rows.append((label, reference_name(kind, hidden, group["epochs"]), float(error)))
    return rows


def _protocol_timings(info: dict, runs: dict[str, Run | None]) -> list[tuple[str, str]]:
    """Distinct (protocol name, durations) of the runs that have a folder, in run order."""
    seen: dict[tuple[str, str], None] = {}
    for spec in info["runs"]:
        run = runs.get(spec["run"])
        if run is None:
            continue
        try:
            seen[(spec["protocol"], run.protocol.timing)] = None
        except (RunError, ConfigError):  # a damaged folder: its run is reported elsewhere
            continue
    return list(seen)


def _plot(path: Path, configs: list[Configuration], dpi: int) -> bool:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    shown = [c for c in configs if c.test_curves]
    if not shown:
        return False
    fig = Figure(figsize=(11, 4.2))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    colors = [f"C{i % 10}" for i in range(len(shown))]
    for c, color in zip(shown, colors):
        for ax, curves in zip(axes, (c.test_curves, c.train_curves)):
            n = max(len(x) for x in curves)
            stack = np.full((len(curves), n), np.nan)
            for i, x in enumerate(curves):
                stack[i, :len(x)] = x
            epochs = np.arange(1, n + 1)
            count = np.sum(~np.isnan(stack), axis=0)
            mean = 100 * np.nanmean(stack, axis=0)
            sd = 100 * np.array([np.nanstd(col, ddof=1) if k > 1 else 0.0
                                 for col, k in zip(stack.T, count)])
            ax.plot(epochs, mean, color=color, marker="o", ms=3,
                    label=f"{c.label} (n={len(curves)})")
            ax.fill_between(epochs, mean - sd, mean + sd, color=color, alpha=0.2, lw=0)
    for ax, what in zip(axes, ("test error (%)", "training error (%)")):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(what)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=dpi)
    return True


def write_sweep_report(sweep_dir, out_dir=None, *, dpi: int = 110) -> SweepReport:
    """Write ``results.csv``, ``summary.md`` and ``learning_curves.png`` of a sweep folder.

    Parameters
    ----------
    sweep_dir : str or path-like
        A folder written by ``dendrinet sweep`` (it holds ``sweep.json``).
    out_dir : str or path-like, optional
        Where to write them (created; default ``sweep_dir``).
    dpi : int
        Resolution of the figure.

    Returns
    -------
    SweepReport

    Raises
    ------
    RunError
        ``sweep_dir`` is not a sweep folder, or its ``sweep.json`` is corrupt.
    """
    sweep_dir = Path(sweep_dir)
    info = read_sweep_info(sweep_dir)
    out = sweep_dir if out_dir is None else Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs = _run_summaries(sweep_dir, info)
    columns, rows = results_rows(sweep_dir, info, runs)
    _write_csv(out / RESULTS_CSV, columns, rows)
    configs = configurations(sweep_dir, info, runs)
    figures = [out / FIGURE] if _plot(out / FIGURE, configs, dpi) else []
    references = reference_rows(sweep_dir, info, runs)
    write_text_atomic(out / SUMMARY_MD, _summary_md(info, configs, FIGURE if figures else None,
                                                    runs, references))
    return SweepReport(out, out / SUMMARY_MD, out / RESULTS_CSV, figures)

