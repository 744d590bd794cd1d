"""Paper-style figure panels of trained runs (after Guerguiev, Lillicrap & Richards 2017).

Usage::

    python examples/paper_figures.py RUN_DIR [MORE_RUN_DIRS ...] --out figs/

Writes, for the first run (learning curves overlay every run given, ordered by number
of hidden layers and titled with their data set; a warning says when the runs were
trained on different data sets, and the legend then names each run's):

- ``learning_curves.png``    test and (online) training error per epoch of every run
  (paper Fig. 5)
- ``plateau_differences.png`` alpha_t - alpha_f of the top hidden layer, first vs last
  epoch, and its s.d. over training (paper Fig. 4)
- ``angle_to_backprop.png``  angle between the hidden update and backprop's (Fig. 4)
- ``receptive_fields.png``   first-layer receptive fields (Fig. 5)
- ``paper_figure.png``       the four panels A-D in one figure; B-D name the model, D
  the layer and epoch of the fields

Train the runs first, e.g.::

    dendrinet train --model guerguiev2017-1hidden --dataset mnist-10k --epochs 10 \\
        --out runs/1hidden
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from dendrinet.analysis import learning_plots as tp  # noqa: E402
from dendrinet.analysis.learned_weights import (  # noqa: E402
    receptive_field_grid, receptive_fields,
)
from dendrinet.analysis.learning import backprop_angles, learning_curves, running_mean  # noqa: E402
from dendrinet.analysis.plateaus import plateau_distributions  # noqa: E402
from dendrinet.analysis.run_data import hidden_layers, open_run  # noqa: E402
from dendrinet.errors import DendrinetError  # noqa: E402


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def _model(run) -> str:
    """The run's model name (its folder name when the summary has none)."""
    return str(run.summary.model or run.path.name)


# ----------------------------------------------------------------- panels
def order_runs(runs: list) -> list:
    """Runs ordered by number of hidden layers (0, 1, 2, ...), then by folder name."""
    return sorted(runs, key=lambda run: (hidden_layers(run), run.path.name))


def curve_labels(curves: list) -> tuple[list[str], str]:
    """Legend label of each run and the panel title naming the data set.

    One data set: the labels are the run names and the title names the data set
    (``"data set: digits"``). Runs on different data sets: each label names its run's
    data set (``"1hidden on mnist-10k"``), the title says so, and a :class:`UserWarning` is issued, since their
    errors are not comparable.
    """
    datasets = list(dict.fromkeys(c.dataset or "unknown data set" for c in curves))
    if len(datasets) == 1:
        return [c.name for c in curves], f"data set: {datasets[0]}"
    warnings.warn("the runs were trained on different data sets (" + ", ".join(
        f"{c.name}: {c.dataset or 'unknown'}" for c in curves) + "); their test errors are "
        "not comparable", UserWarning, stacklevel=2)
    return ([f"{c.name} on {c.dataset or 'unknown data set'}" for c in curves],
            "data sets differ (see legend)")


def learning_curves_panel(curves: list, ax, *, show_train: bool = False) -> None:
    """Error per epoch of every run (in the order given), titled with the data set."""
    labels, title = curve_labels(curves)
    tp.plot_learning_curves(curves, ax=ax, show_train=show_train, labels=labels)
    ax.set_title(title, fontsize="medium")


def plateau_differences_panel(plateaus, model: str, ax) -> None:
    """alpha_t - alpha_f of one hidden layer in the first and last epoch."""
    tp.plot_plateau_differences(plateaus, ax=ax)
    ax.set_title(f"{model}: plateau differences, hidden layer {plateaus.layer}",
                 fontsize="medium")


def plateau_sd_panel(plateaus, model: str, ax) -> None:
    """s.d. over neurons of alpha_t - alpha_f per example, running mean, over training."""
    x = np.arange(plateaus.diff_sd.size)
    ax.plot(x, plateaus.diff_sd, ".", ms=1.5, color="0.7", alpha=0.5, rasterized=True)
    ax.plot(x, running_mean(plateaus.diff_sd, 100), color="tab:purple",
            label="running mean (100 examples)")
    ax.set_xlabel("training example (all epochs)")
    ax.set_ylabel(r"s.d. of $\alpha^t - \alpha^f$ over neurons (dimensionless)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"{model}: spread of plateau differences, hidden layer {plateaus.layer}",
                 fontsize="medium")
    ax.legend(fontsize="small")


def backprop_angle_panel(angles, model: str, ax) -> None:
    """Angle between the hidden update and backprop's over training."""
    tp.plot_backprop_angle(angles, ax=ax)
    ax.set_title(f"{model}: angle to backprop, hidden layer {angles.layer}",
                 fontsize="medium")


def fields_title(model: str, n_hidden: int, epoch: int) -> str:
    """What the receptive fields show: model, then layer and epoch (two lines, so that
    the title fits over the square panel)."""
    layer = "hidden layer 0" if n_hidden else "output layer"
    return f"{model}:\nreceptive fields, {layer}, epoch {epoch}"


def fields_panel(fields, ax, title: str) -> None:
    """Receptive fields (each minus its mean) on a shared zero-centred scale."""
    centred = fields - fields.mean(axis=(1, 2), keepdims=True)
    grid = receptive_field_grid(centred, n_cols=int(np.ceil(np.sqrt(len(fields)))))
    limit = float(np.nanmax(np.abs(grid))) or 1.0
    image = ax.imshow(grid, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize="medium")
    ax.figure.colorbar(image, ax=ax, shrink=0.8,
                       label="weight minus its field's mean (dimensionless)")


def _no_hidden_layer(ax) -> None:
    ax.text(0.5, 0.5, "no hidden layer", ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


# ----------------------------------------------------------------- figures
def _analyse(run_dirs, n_fields: int) -> dict:
    runs = [open_run(path, allow_unfinished=False) for path in run_dirs]
    main = runs[0]
    n_hidden = hidden_layers(main)
    top = n_hidden - 1
    epoch = max(main.weight_epochs)
    return {
        "main": main, "model": _model(main), "n_hidden": n_hidden, "epoch": epoch,
        "curves": [learning_curves(run) for run in order_runs(runs)],
        "plateaus": plateau_distributions(main, top) if n_hidden else None,
        "angles": backprop_angles(main, top) if n_hidden else None,
        "fields": receptive_fields(main, epoch=epoch, units=n_fields),
    }


def paper_figure(run_dirs: list, n_fields: int = 25, *, analysed: dict | None = None):
    """The four panels A-D in one figure (not saved).

    A: test error per epoch of every run, ordered by number of hidden layers, titled
    with the data set; B: alpha_t - alpha_f of the first run's top hidden layer, first
    vs last epoch; C: its angle to backprop; D: its receptive fields. B-D name the
    model, D also the layer and epoch.

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.axes[:4]`` are panels A-D (row by row); the colour bar of D follows.
    """
    a = analysed if analysed is not None else _analyse(run_dirs, n_fields)
    fig, axes = plt.subplots(2, 2, figsize=(12, 9), layout="constrained")
    learning_curves_panel(a["curves"], axes[0, 0])
    if a["plateaus"] is not None:
        plateau_differences_panel(a["plateaus"], a["model"], axes[0, 1])
        backprop_angle_panel(a["angles"], a["model"], axes[1, 0])
    else:
        _no_hidden_layer(axes[0, 1])
        _no_hidden_layer(axes[1, 0])
    fields_panel(a["fields"], axes[1, 1], fields_title(a["model"], a["n_hidden"], a["epoch"]))
    for ax, letter in zip(axes.flat, "ABCD"):
        ax.set_title(letter, loc="left", fontweight="bold")
    return fig


def paper_figures(run_dirs: list[str], out_dir: str | Path, n_fields: int = 25) -> list[Path]:
    """Write the paper-style panels of ``run_dirs[0]`` (curves of all runs) to ``out_dir``.

    Parameters
    ----------
    run_dirs : list of path
        Finished run folders; the first one is analysed in detail. A
        :class:`UserWarning` says when they were trained on different data sets.
    out_dir : path
        Folder for the PNG files (created).
    n_fields : int
        Number of receptive fields shown.

    Returns
    -------
    list of Path
        The files written.
    """
    a = _analyse(run_dirs, n_fields)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []

    fig, ax = plt.subplots(figsize=(6.5, 4.5), layout="constrained")
    learning_curves_panel(a["curves"], ax, show_train=True)
    written.append(_save(fig, out / "learning_curves.png"))

    if a["plateaus"] is not None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
        plateau_differences_panel(a["plateaus"], a["model"], axes[0])
        plateau_sd_panel(a["plateaus"], a["model"], axes[1])
        written.append(_save(fig, out / "plateau_differences.png"))
        fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
        backprop_angle_panel(a["angles"], a["model"], ax)
        written.append(_save(fig, out / "angle_to_backprop.png"))

    fig = tp.plot_receptive_fields(
        a["fields"], title=fields_title(a["model"], a["n_hidden"], a["epoch"]))
    written.append(_save(fig, out / "receptive_fields.png"))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # said once, for learning_curves.png
        fig = paper_figure(run_dirs, n_fields, analysed=a)
    written.append(_save(fig, out / "paper_figure.png"))
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                        help="finished run folders (the first is analysed in detail)")
    parser.add_argument("--out", required=True, help="folder for the figures")
    parser.add_argument("--fields", type=int, default=25, help="receptive fields shown")
    args = parser.parse_args(argv)
    try:
        for path in paper_figures(args.run_dirs, args.out, args.fields):
            print(path)
    except DendrinetError as exc:
        print(f"paper_figures: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
