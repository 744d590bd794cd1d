"""Paper-style figure panels of trained runs (after Guerguiev, Lillicrap & Richards 2017).

Usage::

    python examples/paper_figures.py RUN_DIR [MORE_RUN_DIRS ...] --out figs/

Writes, for the first run (learning curves overlay every run given):

- ``learning_curves.png``    test error per epoch of every run (paper Fig. 5)
- ``plateau_differences.png`` alpha_t - alpha_f of the top hidden layer, first vs last
  epoch, and its s.d. over training (paper Fig. 4)
- ``angle_to_backprop.png``  angle between the hidden update and backprop's (Fig. 4)
- ``receptive_fields.png``   first-layer receptive fields (Fig. 5)
- ``paper_figure.png``       the four panels A-D in one figure

Train the runs first, e.g.::

    dendrinet train --model guerguiev2017-1hidden --dataset mnist-10k --epochs 10 \\
        --out runs/1hidden
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from dendrinet.analysis import training_plots as tp  # noqa: E402
from dendrinet.analysis.plateaus import plateau_distributions  # noqa: E402
from dendrinet.analysis.training import (  # noqa: E402
    backprop_angles, hidden_layers, learning_curves, open_run,
)
from dendrinet.analysis.weights import receptive_field_grid, receptive_fields  # noqa: E402
from dendrinet.errors import DendrinetError  # noqa: E402


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def _plateau_sd_panel(plateaus, ax) -> None:
    """s.d. over neurons of alpha_t - alpha_f per example, running mean, over training."""
    from dendrinet.analysis.training import running_mean

    x = np.arange(plateaus.diff_sd.size)
    ax.plot(x, plateaus.diff_sd, ".", ms=1.5, color="0.7", alpha=0.5, rasterized=True)
    ax.plot(x, running_mean(plateaus.diff_sd, 100), color="tab:purple",
            label="running mean (100 examples)")
    ax.set_xlabel("training example (all epochs)")
    ax.set_ylabel(r"s.d. of $\alpha^t - \alpha^f$ over neurons")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize="small")


def _fields_panel(fields, ax) -> None:
    centred = fields - fields.mean(axis=(1, 2), keepdims=True)
    grid = receptive_field_grid(centred, n_cols=int(np.ceil(np.sqrt(len(fields)))))
    limit = float(np.nanmax(np.abs(grid))) or 1.0
    image = ax.imshow(grid, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.figure.colorbar(image, ax=ax, shrink=0.8, label="weight - field mean")


def paper_figures(run_dirs: list[str], out_dir: str | Path, n_fields: int = 25) -> list[Path]:
    """Write the paper-style panels of ``run_dirs[0]`` (curves of all runs) to ``out_dir``.

    Parameters
    ----------
    run_dirs : list of path
        Finished run folders; the first one is analysed in detail.
    out_dir : path
        Folder for the PNG files (created).
    n_fields : int
        Number of receptive fields shown.

    Returns
    -------
    list of Path
        The files written.
    """
    runs = [open_run(path, allow_unfinished=False) for path in run_dirs]
    main = runs[0]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n_hidden = hidden_layers(main)
    top = n_hidden - 1
    curves = [learning_curves(run) for run in runs]
    plateaus = plateau_distributions(main, top) if n_hidden else None
    angles = backprop_angles(main, top) if n_hidden else None
    fields = receptive_fields(main, units=n_fields)
    written = []

    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    tp.plot_learning_curves(curves, ax=ax)
    written.append(_save(fig, out / "learning_curves.png"))

    if plateaus is not None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
        tp.plot_plateau_differences(plateaus, ax=axes[0])
        _plateau_sd_panel(plateaus, axes[1])
        written.append(_save(fig, out / "plateau_differences.png"))
        fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
        tp.plot_backprop_angle(angles, ax=ax)
        written.append(_save(fig, out / "angle_to_backprop.png"))

    fig = tp.plot_receptive_fields(fields, title=f"{main.path.name}: first {len(fields)} "
                                                 "receptive fields")
    written.append(_save(fig, out / "receptive_fields.png"))

    fig, axes = plt.subplots(2, 2, figsize=(12, 9), layout="constrained")
    tp.plot_learning_curves(curves, ax=axes[0, 0], show_train=False)
    if plateaus is not None:
        tp.plot_plateau_differences(plateaus, ax=axes[0, 1])
        tp.plot_backprop_angle(angles, ax=axes[1, 0])
    else:
        for ax in (axes[0, 1], axes[1, 0]):
            ax.text(0.5, 0.5, "no hidden layer", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set_axis_off()
    _fields_panel(fields, axes[1, 1])
    for ax, letter in zip(axes.flat, "ABCD"):
        ax.set_title(letter, loc="left", fontweight="bold")
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
