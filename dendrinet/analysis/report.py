"""A folder of PNG figures and a ``summary.md`` for a run folder or a spike store.

:func:`write_report` looks at what it is given:

- a **run folder** (written by ``dendrinet train``): learning curves, losses,
  angle to backprop and plateau potentials of every hidden layer, receptive fields,
  confusion matrix, weight statistics, feedback alignment, and, when the run has a
  ``spikes.h5``, the spike figures below (file names prefixed ``spikes_``);
- a **spike store** (``.h5``): raster of the first presentations with their phase
  boundaries, rate heatmap per presentation, PSTH and ISI histogram, one panel per
  population.

``summary.md`` is plain Markdown a person reads without Python: final errors, a
per-epoch table, time per training example, per-class errors, mean firing rates
per layer, and links to the figures. Spikes are read chunk by chunk, so a large
store is summarised in bounded memory.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dendrinet.errors import DendrinetError, StoreError
from dendrinet.storage.files import write_text_atomic

__all__ = ["Report", "write_report", "run_report", "store_report", "raster_figure",
           "rate_heatmap_figure", "psth_figure", "isi_figure", "psth_bin_ms"]

#: Presentations shown in the raster and, at most, rows of the rate heatmap.
N_RASTER_PRESENTATIONS = 6
MAX_HEATMAP_ROWS = 200
#: Columns (neurons) of the rate heatmap: a larger population shows its first ones, so
#: the figure never allocates by a store's declared size (rows x neurons floats).
MAX_HEATMAP_NEURONS = 2000
#: Receptive fields drawn (the first hidden units).
N_RECEPTIVE_FIELDS = 49
#: Target number of PSTH bins over the analysed window (the width is rounded, see
#: :func:`psth_bin_ms`).
PSTH_BINS = 200


@dataclass
class Report:
    """What :func:`write_report` wrote.

    Attributes
    ----------
    out_dir : Path
    summary : Path
        ``summary.md``.
    figures : list of Path
        The PNG files, in the order they appear in ``summary.md``.
    """

    out_dir: Path
    summary: Path
    figures: list = field(default_factory=list)


class _Writer:
    """Collects figures (saved and closed at once) and Markdown lines."""

    def __init__(self, out_dir: Path, dpi: int):
        self.out_dir = out_dir
        self.dpi = dpi
        self.figures: list[tuple[Path, str]] = []
        self.lines: list[str] = []

    def save(self, fig, name: str, caption: str) -> None:
        import matplotlib.pyplot as plt

        path = self.out_dir / name
        fig.savefig(path, dpi=self.dpi)
        plt.close(fig)
        self.figures.append((path, caption))

    def figure_section(self, title: str = "Figures") -> None:
        if not self.figures:
            return
        self.lines += ["", f"## {title}", ""]
        for path, caption in self.figures:
            self.lines += [f"### {caption}", "", f"![{caption}]({path.name})", ""]

    def finish(self) -> Report:
        summary = self.out_dir / "summary.md"
        text = "\n".join(self.lines).rstrip() + "\n"
        write_text_atomic(summary, text)
        return Report(self.out_dir, summary, [p for p, _ in self.figures])


def _figure(rows: int = 1, cols: int = 1, size=(6.5, 4.2), **kwargs):
    import matplotlib.pyplot as plt

    return plt.subplots(rows, cols, figsize=size, layout="constrained", squeeze=False, **kwargs)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _fmt(value, digits: int = 3) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{value:.{digits}g}"


def _out_folder(out_dir) -> Path:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DendrinetError(f"--out {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DendrinetError(f"cannot create the report folder {out}: {exc}") from None
    return out


# ---------------------------------------------------------------- entry point
def write_report(source, out_dir, *, populations=None, t_start: float | None = None,
                 t_stop: float | None = None, n_presentations: int = N_RASTER_PRESENTATIONS,
                 dpi: int = 110) -> Report:
    """Write the figures and ``summary.md`` of a run folder or a spike store.

    Parameters
    ----------
    source : str or path-like
        A run folder or a spike store (``.h5``).
    out_dir : str or path-like
        Folder for the report (created; existing files of the same names replaced).
    populations : list of str, optional
        Populations in the spike figures (default all).
    t_start, t_stop : float, optional
        Window (ms) of the spike analyses (default the whole recording).
    n_presentations : int
        Presentations shown in the raster.
    dpi : int
        Resolution of the PNG files.

    Returns
    -------
    Report

    Raises
    ------
    DendrinetError
        Missing path, an unfinished run, an empty store, an unknown population or a
        window outside the recording (one clear message each).
    """
    path = Path(source)
    if not path.exists():
        raise DendrinetError(f"{path} not found (expected a run folder or a spikes .h5 file)")
    if path.is_dir():
        return run_report(path, out_dir, populations=populations, t_start=t_start,
                          t_stop=t_stop, n_presentations=n_presentations, dpi=dpi)
    return store_report(path, out_dir, populations=populations, t_start=t_start,
                        t_stop=t_stop, n_presentations=n_presentations, dpi=dpi)


# ----------------------------------------------------------------- run report
def run_report(run, out_dir, *, populations=None, t_start=None, t_stop=None,
               n_presentations: int = N_RASTER_PRESENTATIONS, dpi: int = 110) -> Report:
    """Report of a finished run folder (see :func:`write_report`)."""
    import matplotlib
    matplotlib.use("Agg", force=False)

    from dendrinet.analysis import learned_weights, learning, learning_plots as tp
    from dendrinet.analysis.plateaus import plateau_distributions
    from dendrinet.analysis.run_data import hidden_layers, open_run

    run = open_run(run, allow_unfinished=False)
    out = _out_folder(out_dir)
    w = _Writer(out, dpi)
    s = run.summary
    n_hidden = hidden_layers(run)
    curves = learning.learning_curves(run)

    fig, ax = _figure()
    tp.plot_learning_curves(curves, ax=ax[0, 0])
    w.save(fig, "learning_curves.png", "Learning curves")

    history = run.history()
    if "loss_out" in history:
        fig, ax = _figure()
        tp.plot_losses(learning.losses(run), ax=ax[0, 0])
        w.save(fig, "losses.png", "Loss per layer")
    for layer in range(n_hidden):
        if f"angle_{layer}" in history:
            fig, ax = _figure(size=(7.5, 4.2))
            tp.plot_backprop_angle(learning.backprop_angles(run, layer), ax=ax[0, 0])
            w.save(fig, f"angle_to_backprop_hidden_{layer}.png",
                   f"Angle to backprop, hidden layer {layer}")
        if f"alpha_f_{layer}" in history:
            plateaus = plateau_distributions(run, layer)
            fig, ax = _figure(1, 2, size=(11, 4.2))
            tp.plot_plateau_histograms(plateaus, ax=ax[0, 0])
            tp.plot_plateau_differences(plateaus, ax=ax[0, 1])
            w.save(fig, f"plateaus_hidden_{layer}.png", f"Plateau potentials, hidden layer {layer}")
    del history

    fields = learned_weights.receptive_fields(run, units=N_RECEPTIVE_FIELDS)
    who = "hidden layer 0" if n_hidden else "output layer"
    fig = tp.plot_receptive_fields(
        fields, title=f"receptive fields of the first {len(fields)} neurons of {who}, "
                      f"epoch {s.epochs_done}")
    w.save(fig, "receptive_fields.png", f"Receptive fields of the {who}")

    confusion = learning.confusion_matrix(run)
    fig, ax = _figure(size=(6.2, 5.2))
    tp.plot_confusion_matrix(confusion, ax=ax[0, 0])
    w.save(fig, "confusion_matrix.png", "Confusion matrix (test set, last epoch)")

    stats = learned_weights.weight_statistics(run)
    fig, ax = _figure(1, 3, size=(14, 4.2))
    for axis, statistic in zip(ax[0], ("mean", "sd", "norm")):
        tp.plot_weight_statistics(stats, ax=axis, statistic=statistic)
    w.save(fig, "weight_statistics.png", "Weight statistics over epochs")

    alignment = None
    if n_hidden:
        alignment = learned_weights.feedback_alignment(run)
        fig, ax = _figure(size=(6, 4.2))
        tp.plot_feedback_alignment(alignment, ax=ax[0, 0])
        w.save(fig, "feedback_alignment.png", "Feedback alignment (W above vs Y^T)")

    rates = None
    if run.spikes_path.is_file():
        from dendrinet.store import SpikeStore
        with SpikeStore(run.spikes_path, "r") as store:
            rates = _spike_figures(w, store, populations, t_start, t_stop, n_presentations,
                                   prefix="spikes_")

    _run_markdown(w, run, curves, confusion, alignment, rates)
    w.figure_section()
    return w.finish()


def steady_state_timing(info: dict, epochs) -> str:
    """The report line on speed: median ms per training and test example over the epochs,
    without compilation. Runs that recorded ``compile_seconds`` (the engine was compiled
    before the first epoch) use every epoch; older runs leave out the first epoch, which
    included the compilation."""
    compile_seconds = info.get("compile_seconds")
    used = list(epochs) if compile_seconds is not None or len(epochs) < 2 else list(epochs)[1:]
    train = float(np.median([e.ms_per_train_example for e in used]))
    test = float(np.median([e.ms_per_test_example for e in used]))
    if compile_seconds is not None:
        note = f"compilation ({compile_seconds:.1f} s, once before the first epoch) excluded"
    elif len(epochs) >= 2:
        note = "epoch 1 left out: it included the compilation"
    else:
        note = "one epoch: it includes any compilation"
    return (f"- time per training example: {train:.3g} ms, per test example {test:.3g} ms "
            f"(median over epochs; {note})")


def _run_markdown(w: _Writer, run, curves, confusion, alignment, rates) -> None:
    from dendrinet.analysis.learning import format_percent, per_class_error

    s = run.summary
    last = s.epochs[-1]
    info = run.info
    w.lines += [
        f"# Run report: {run.path.name}", "",
        f"- model: `{s.model}`, layers {info.get('layer_sizes', '?')}",
        f"- protocol: `{s.protocol}` ({run.protocol.timing}); data set: `{s.dataset}` "
        f"({s.n_train} training, {s.n_test} test examples)",
        f"- engine: `{s.engine}`, seed {s.seed}, {s.epochs_done} epochs, status {s.status}",
        *([f"- input coding: {coding['coding']} ({coding.get('reason', '')})"]
          if isinstance(coding := info.get("input_coding"), dict) and "coding" in coding
          else []),
        f"- machine: {info.get('machine', {}).get('cpu', 'unknown')}", "",
        "## Final errors", "",
        f"- final test error: **{format_percent(s.final_test_error)}** (epoch {last.epoch})",
        f"- final training error: {format_percent(last.train_error)}",
        f"- best test error: {format_percent(float(np.min(s.test_errors)))} (epoch "
        f"{int(np.argmin(s.test_errors)) + 1})",
        steady_state_timing(info, s.epochs), "",
        "## Per epoch", "",
    ]
    w.lines += _table(
        ["epoch", "train error", "test error", "ms / train example", "ms / test example",
         "epoch time (s)"],
        [[str(e.epoch), format_percent(e.train_error), format_percent(e.test_error),
          f"{e.ms_per_train_example:.3g}", f"{e.ms_per_test_example:.3g}", f"{e.seconds:.3g}"]
         for e in s.epochs])
    errors = per_class_error(confusion).magnitude
    totals = confusion.sum(axis=1)
    w.lines += ["", "## Per-class test error (last epoch)", ""]
    w.lines += _table(["class", "test examples", "errors", "error"],
                      [[str(k), str(int(totals[k])), str(int(totals[k] - confusion[k, k])),
                        "n/a" if np.isnan(errors[k]) else f"{errors[k]:.2f}%"]
                       for k in range(len(errors))])
    if alignment is not None:
        w.lines += ["", "## Feedback alignment", ""]
        w.lines += _table(["hidden layer", "initial angle (deg)", "final angle (deg)"],
                          [[str(l), f"{a.magnitude[0]:.1f}", f"{a.magnitude[-1]:.1f}"]
                           for l, a in alignment.angle.items()])
    if rates is not None:
        w.lines += ["", "## Mean firing rates per layer (spikes.h5 sample)", ""]
        w.lines += rates


# --------------------------------------------------------------- store report
def store_report(path, out_dir, *, populations=None, t_start=None, t_stop=None,
                 n_presentations: int = N_RASTER_PRESENTATIONS, dpi: int = 110) -> Report:
    """Report of a spike store (see :func:`write_report`)."""
    import matplotlib
    matplotlib.use("Agg", force=False)

    from dendrinet.store import SpikeStore

    with SpikeStore(path, "r") as store:
        out = _out_folder(out_dir)
        w = _Writer(out, dpi)
        rates = _spike_figures(w, store, populations, t_start, t_stop, n_presentations)
        presentations = store.presentations
        phases, counts = np.unique(presentations["phase"], return_counts=True)
        metadata = store.metadata
        w.lines += [
            f"# Spike store report: {Path(path).name}", "",
            f"- file: `{Path(path)}`",
            f"- recording: {store.t_stop:.1f} ms"
            + (f", time step {store.dt:g} ms" if store.dt else ""),
            f"- presentations: {store.n_presentations}"
            + (" (" + ", ".join(f"{n} {p}" for p, n in zip(phases, counts)) + ")"
               if store.n_presentations else ""),
        ]
        for key in ("content", "engine", "dataset", "seed"):
            if key in metadata:
                w.lines.append(f"- {key}: {metadata[key]}")
        model = metadata.get("model")
        if isinstance(model, dict) and "name" in model:
            w.lines.append(f"- model: `{model['name']}`")
        w.lines += ["", "## Populations", ""] + rates
    w.figure_section()
    return w.finish()


def _layer_order(name: str):
    """Sort key: input, hidden_0, hidden_1, ..., output, then other names."""
    if name == "input":
        return (0, 0, name)
    if name.startswith("hidden_") and name[7:].isdigit():
        return (1, int(name[7:]), name)
    if name == "output":
        return (2, 0, name)
    return (3, 0, name)


def _check_store(store, populations, t_start, t_stop):
    """Validated (populations, t_start, t_stop) of a store; one clear error otherwise."""
    names = sorted(store.populations, key=_layer_order)
    if not names:
        raise StoreError(f"{store.path}: the spike store is empty (no population)")
    if populations is None:
        populations = names
    else:
        populations = list(populations)
        unknown = [p for p in populations if p not in names]
        if unknown:
            raise StoreError(f"{store.path}: no population {unknown[0]!r}; available: {names}")
        if not populations:
            raise DendrinetError("empty selection: no population given")
    if sum(store.n_spikes(p) for p in populations) == 0:
        raise StoreError(f"{store.path}: the spike store is empty (no spikes in "
                         f"{', '.join(populations)})")
    recording = store.t_stop
    start = 0.0 if t_start is None else float(t_start)
    stop = recording if t_stop is None else float(t_stop)
    for name, value in (("t_start", start), ("t_stop", stop)):
        if not math.isfinite(value) or value < 0:
            raise DendrinetError(f"{name} must be a non-negative number of ms, got {value}")
    if start >= recording:
        raise DendrinetError(f"time window [{start:g}, {stop:g}) ms starts after the end "
                             f"of the recording ({recording:g} ms)")
    if stop <= start:
        raise DendrinetError(f"empty time window: t_start {start:g} ms is not before "
                             f"t_stop {stop:g} ms")
    return populations, start, stop


def psth_bin_ms(span_ms: float, dt: float | None = None, n_bins: int = PSTH_BINS) -> float:
    """A round PSTH bin width (ms) giving about ``n_bins`` bins over ``span_ms``.

    The width is the 1-2-5 series value (..., 1, 2, 5, 10, 20, 50, ... ms) nearest to
    ``span_ms / n_bins`` on a log scale, among those that are whole multiples of the
    time step ``dt`` (ms) and not below it; ``dt`` itself when the window is shorter
    than ``n_bins`` steps. An unusual ``dt`` with no round multiple in range falls
    back to the nearest multiple of ``dt``.
    """
    dt = float(dt) if dt else 1.0
    ideal = float(span_ms) / n_bins
    if ideal <= dt:
        return dt
    candidates = [m * 10.0 ** e for e in range(-3, 7) for m in (1, 2, 5)]
    candidates = [c for c in candidates if c >= dt * (1 - 1e-9)
                  and abs(c / dt - round(c / dt)) < 1e-6]
    if not candidates:
        return max(dt, round(ideal / dt) * dt)
    best = min(candidates, key=lambda c: abs(math.log(c / ideal)))
    return float(f"{best:.6g}")


def _first_examples(shown: dict, n_presentations: int):
    """Presentation rows of the first ``n_presentations`` examples (all their phases);
    None when there are none."""
    if not shown["t_start"].size:
        return None
    ids = shown["example_id"]
    examples = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    last_row = examples[n_presentations] if examples.size > n_presentations else ids.size
    return {k: v[:last_row] for k, v in shown.items()}


def raster_figure(store, populations, rows, t_start: float, t_stop: float):
    """Raster of every population in ``[t_start, t_stop)`` ms, one panel each.

    Parameters
    ----------
    store : SpikeStore
    populations : list of str
        Top to bottom.
    rows : dict of arrays or None
        Presentations shown: the top panel shades their phases and writes each
        example's class label above it (see :func:`~dendrinet.analysis.plots.plot_raster`);
        every panel marks their starts.
    t_start, t_stop : float
        Time window (ms).

    Returns
    -------
    matplotlib.figure.Figure
        One Axes per population; y ticks are whole neuron indices.
    """
    from dendrinet.analysis import plots

    n = len(populations)
    sizes = [store.n_nodes(p) for p in populations]
    heights = [max(1.0, min(3.0, math.log10(size + 1))) for size in sizes]
    fig, ax = _figure(n, 1, size=(11, 1.2 + 1.3 * sum(heights)), sharex=True,
                      gridspec_kw={"height_ratios": heights})
    for i, (axis, name) in enumerate(zip(ax[:, 0], populations)):
        times, ids = store.spikes(name, t_start, t_stop)
        plots.plot_raster(times, ids, rows if i == 0 else None, ax=axis,
                          marker_size=2.0 if times.size > 5000 else 4.0)
        if rows is not None and i > 0:
            for t in rows["t_start"]:
                axis.axvline(t, color="0.4", lw=0.7, ls="--")
        axis.set_ylim(-0.5, store.n_nodes(name) - 0.5)
        axis.set_ylabel(f"{name}\nneuron index")
        if i < n - 1:
            axis.set_xlabel("")
    ax[-1, 0].set_xlim(t_start, t_stop)
    return fig


def rate_heatmap_figure(store, populations, rows):
    """Rate of each neuron in each presentation of ``rows``, one panel per population.

    Rows are grouped by class label and, when the presentations hold several phases
    (``dendrinet simulate``: forward and target), by phase within each label, ticked
    e.g. ``"3 fwd"`` and ``"3 tgt"`` (see :func:`~dendrinet.analysis.plots.plot_rate_heatmap`).

    Returns
    -------
    matplotlib.figure.Figure or None
        None when ``rows`` holds no presentation of positive length.
    """
    from dendrinet.analysis import plots, statistics

    if not rows["t_start"].size or not np.all(rows["t_stop"] > rows["t_start"]):
        return None
    n = len(populations)
    fig, ax = _figure(1, n, size=(min(4.5 * n, 18), 5.0))
    for axis, name in zip(ax[0], populations):
        n_nodes = store.n_nodes(name)
        if n_nodes > MAX_HEATMAP_NEURONS:  # the first neurons only, from their spikes
            lo, hi = float(rows["t_start"].min()), float(rows["t_stop"].max())
            times, ids = store.spikes(name, lo, hi, node_ids=np.arange(MAX_HEATMAP_NEURONS))
            rates = statistics.rates_by_presentation(
                (times, ids), presentations=rows, n_nodes=MAX_HEATMAP_NEURONS)
            title = f"{name} (neurons 0-{MAX_HEATMAP_NEURONS - 1} of {n_nodes})"
        else:
            rates = statistics.rates_by_presentation(store, name, presentations=rows)
            title = name
        plots.plot_rate_heatmap(rates, rows["label"], ax=axis, phases=rows.get("phase"))
        axis.set_title(title)
    return fig


def psth_figure(store, populations, t_start: float, t_stop: float, starts_ms=()):
    """Population rate of every population over ``[t_start, t_stop)`` ms, streamed.

    The bins are :func:`psth_bin_ms` wide (a round number of ms); each panel's y label
    states the width. ``starts_ms`` (presentation starts) are marked when there are at
    most 60.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from dendrinet.analysis import plots, statistics

    bin_ms = psth_bin_ms(t_stop - t_start, store.dt)
    n = len(populations)
    fig, ax = _figure(n, 1, size=(11, 1.0 + 1.6 * n), sharex=True)
    for axis, name in zip(ax[:, 0], populations):
        rate, edges = statistics.psth(store, name, bin_ms=bin_ms, t_start=t_start,
                                      t_stop=t_stop)
        plots.plot_psth(rate, edges, ax=axis)
        if 0 < len(starts_ms) <= 60:  # presentation starts, when they stay legible
            for t in starts_ms:
                axis.axvline(t, color="0.3", lw=0.6, ls="--")
        axis.set_ylabel(f"{name} rate (Hz)\n{bin_ms:g} ms bins")
        if axis is not ax[-1, 0]:
            axis.set_xlabel("")
    return fig


def isi_figure(store, populations, t_start: float, t_stop: float):
    """Pooled inter-spike interval histogram of every population, streamed."""
    from dendrinet.analysis import plots, statistics

    dt = store.dt or 1.0
    n = len(populations)
    fig, ax = _figure(1, n, size=(min(4.2 * n, 18), 3.6))
    for axis, name in zip(ax[0], populations):
        counts, edges = statistics.isi_histogram(store, name, bin_ms=dt, max_ms=100.0,
                                                 t_start=t_start, t_stop=t_stop)
        plots.plot_isi_histogram(counts, edges, ax=axis, log=bool(counts.magnitude.any()))
        axis.set_title(name)
    return fig


def _spike_figures(w: _Writer, store, populations, t_start, t_stop, n_presentations,
                   prefix: str = "") -> list[str]:
    """Raster, rate heatmap, PSTH and ISI figures; returns the Markdown rate table."""
    from dendrinet.analysis import statistics

    populations, start, stop = _check_store(store, populations, t_start, t_stop)
    if isinstance(n_presentations, bool) or not isinstance(n_presentations, (int, np.integer)) \
            or n_presentations < 1:
        raise DendrinetError(f"n_presentations must be a positive integer, got {n_presentations!r}")
    presentations = store.presentations
    inside = (presentations["t_start"] >= start) & (presentations["t_stop"] <= stop)
    shown = {k: v[inside] for k, v in presentations.items()}

    raster_rows = _first_examples(shown, n_presentations)
    if raster_rows is not None:
        r_start, r_stop = float(raster_rows["t_start"][0]), float(raster_rows["t_stop"].max())
    else:
        r_start, r_stop = start, min(stop, start + 500.0)
    w.save(raster_figure(store, populations, raster_rows, r_start, r_stop),
           f"{prefix}raster.png", "Spike raster of the first presentations")

    rate_rows = {k: v[:MAX_HEATMAP_ROWS] for k, v in shown.items()}
    fig = rate_heatmap_figure(store, populations, rate_rows)
    if fig is not None:
        w.save(fig, f"{prefix}rate_heatmap.png",
               f"Firing rate per presentation (first {rate_rows['t_start'].size})")

    w.save(psth_figure(store, populations, start, stop, shown["t_start"]),
           f"{prefix}psth.png", "Population rate (PSTH)")
    w.save(isi_figure(store, populations, start, stop),
           f"{prefix}isi_histogram.png", "Inter-spike interval histograms")

    rows = []
    for name in populations:
        n_spikes, mean_rate = _count_and_rate(statistics, store, name, start, stop, shown)
        rows.append([name, str(store.n_nodes(name)), str(n_spikes), _fmt(mean_rate)])
    where = "inside the presentation windows" if shown["t_start"].size else "over the window"
    return _table(["population", "neurons", "spikes", f"mean rate (Hz, {where})"], rows)


def _count_and_rate(statistics, store, name, start, stop, shown) -> tuple[int, float]:
    """Spikes of a population in ``[start, stop)`` and its mean rate (Hz): over the
    presentation windows when there are (non-overlapping) ones, else over the window.
    One streamed pass, so memory does not grow with the number of presentations."""
    starts, stops = shown["t_start"], shown["t_stop"]
    use_windows = starts.size > 0 and np.all(stops > starts) and \
        np.all(starts[1:] >= stops[:-1])
    n_spikes, in_windows = 0, 0
    for times, _ in statistics.to_source(store, name, t_start=start, t_stop=stop).chunks():
        n_spikes += times.size
        if use_windows:
            index = np.searchsorted(starts, times, side="right") - 1
            valid = index >= 0
            in_windows += int(np.count_nonzero(times[valid] < stops[index[valid]]))
    n_nodes = store.n_nodes(name)
    if use_windows:
        return n_spikes, in_windows / n_nodes / (np.sum(stops - starts) / 1000.0)
    return n_spikes, n_spikes / n_nodes / ((stop - start) / 1000.0)
