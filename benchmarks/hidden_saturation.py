"""How saturated the hidden layers of trained runs are: the firing-rate model of each
run's weights on its test images, per hidden layer and epoch.

The rate model is the network without spikes: input rates ``phi_max * dt * x`` (the mean
of the exact PSP trace of a Poisson input), somatic potentials at their steady state
``V = k_B (W^T r + b)`` of the forward phase (no apical current, ``g_A = 0``), rates
``phi_max * dt * sigmoid(V)`` handed to the next layer. It holds for the shipped models'
standard equations only. Printed per hidden layer:

- silent units: fraction of units with ``sigmoid(V) < 0.01`` on at least 99 % of the images
- at-max units: the same with ``sigmoid(V) > 0.99``
- saturated: fraction of (unit, image) pairs with either
- mean s': the mean of ``sigmoid'(V)``, the factor every hidden weight update carries
  (0.25 at most)

and the rate model's test error. A saturated unit learns almost nothing (its updates are
scaled by ``sigmoid'``) and a silent or at-max unit passes no information upward.

    python benchmarks/hidden_saturation.py RUN [RUN ...] --epochs 0 1 20 \\
        --data-dir ../shared/data/mnist-full
"""
from __future__ import annotations

import argparse

import numpy as np

from dendrinet.datasets import load_dataset
from dendrinet.engine.results import sigmoid
from dendrinet.errors import DendrinetError
from dendrinet.training.run_folder import Run


def rate_model(run: Run, epoch: int, X: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """``sigmoid(V)`` of every hidden layer (images x units), and the output potentials."""
    model, params = run.model, run.weights(epoch)
    n = model.neuron
    if n.g_A != 0:
        raise SystemExit(f"{run.path}: the rate model assumes g_A = 0 (no apical current)")
    rates = n.phi_max * run.protocol.dt * X  # spikes per step = mean PSP trace
    hidden = []
    for i, (W, b) in enumerate(zip(params.W, params.b)):
        last = i == len(params.W) - 1
        V = (n.k_D if last else n.k_B) * (rates @ W + b)
        if last:
            return hidden, V
        s = sigmoid(V)
        hidden.append(s)
        rates = n.phi_max * run.protocol.dt * s
    raise AssertionError("a network has an output layer")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run folders")
    parser.add_argument("--epochs", type=int, nargs="+", default=None,
                        help="epochs to look at (default: 0 and the last)")
    parser.add_argument("--data-dir", default=None, help="folder of the run's data set")
    args = parser.parse_args(argv)
    for path in args.runs:
        run = Run.open(path, allow_unfinished=True)
        s = run.summary
        ds = load_dataset(s.dataset, data_dir=args.data_dir, n_train=1, n_test=s.n_test)
        X = ds.X_test.astype(np.float64)
        print(f"{path}: {s.model}, {ds.n_test} test images")
        for epoch in args.epochs or [0, s.epochs_done]:
            hidden, V_out = rate_model(run, epoch, X)
            error = np.mean(np.argmax(V_out, axis=1) != ds.y_test)
            layers = "; ".join(
                f"hidden {k + 1}: silent {np.mean((h < 0.01).mean(0) >= 0.99):.2f}, at-max "
                f"{np.mean((h > 0.99).mean(0) >= 0.99):.2f}, saturated "
                f"{np.mean((h < 0.01) | (h > 0.99)):.2f}, mean s' {np.mean(h * (1 - h)):.3f}"
                for k, h in enumerate(hidden))
            print(f"  epoch {epoch:2d}: {layers}; rate-model test error {100 * error:.2f} %")


if __name__ == "__main__":
    try:
        main()
    except DendrinetError as exc:  # a missing run, epoch or data set: one line, no traceback
        raise SystemExit(f"hidden_saturation: {exc}") from None
