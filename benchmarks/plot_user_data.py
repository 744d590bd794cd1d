"""Learning curves of ``benchmarks/user_data.py`` against the reference classifiers: one
panel per data set, the test error after each epoch of the shipped models, and the
test errors of logistic regression and the MLP as horizontal lines.

    python benchmarks/plot_user_data.py bench-user-data/user_data.json \
        --out docs/figures/beyond_mnist.png
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="user_data.json of benchmarks/user_data.py")
    parser.add_argument("--out", type=Path, required=True, help="figure file (.png, .svg)")
    args = parser.parse_args()
    table = json.loads(args.results.read_text())
    names = list(table)
    cols = 4
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        entry = table[name]
        for label, run in entry["runs"].items():
            errors = run["test errors"]
            ax.plot(range(1, len(errors) + 1), errors, marker=".", ms=3,
                    label=label.replace("guerguiev2017-", "").rsplit(" s", 1)[0])
        refs = entry["references"]
        ax.axhline(refs["logistic regression"], color="k", ls="--", lw=1,
                   label="logistic regression")
        ax.axhline(refs["MLP"], color="k", ls=":", lw=1, label="MLP (backprop)")
        n_train, n_test, n_features, n_classes = refs["shape"]
        ax.set_title(f"{name}: {n_features} features, {n_classes} classes", fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_ylabel("test error (%)", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower right", fontsize=8, frameon=False)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
