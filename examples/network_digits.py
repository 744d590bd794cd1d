"""Present a few 8x8 digits to a 64-500-10 Brian2 network and print rates per layer.
=================================================================================

The network has its initial (untrained) weights. Each digit is shown with the training
schedule of the paper-timing protocol (forward phase, then target phase with the
label's teaching input): the output layer follows the teaching signal in the target
phase, and the hidden layer's plateau potentials change with it.

Usage::

    python3 examples/network_digits.py [--n-examples 3] [--seed 0] [--target numpy|cython]
"""
from __future__ import annotations

import argparse

import numpy as np


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-examples", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", choices=("numpy", "cython"), default="numpy")
    args = parser.parse_args(argv)

    from dendrinet.config import load_model, load_protocol
    from dendrinet.datasets import load_dataset
    from dendrinet.backends.brian2.network import build_network
    from dendrinet.config.schedule import PHASE_NAMES, training_schedule
    from dendrinet.model.weights import initial_parameters

    model = load_model("guerguiev2017-1hidden")  # 500 hidden neurons, 10 outputs
    protocol = load_protocol("paper-timing")
    digits = load_dataset("digits")
    rng = np.random.default_rng(args.seed)
    params = initial_parameters(model, digits.n_inputs, rng)
    ids = np.arange(args.n_examples)
    schedule = training_schedule(protocol, ids, digits.y_train[ids], rng)
    result = build_network(model, params, digits.X_train, schedule, target=args.target,
                           seed=args.seed)

    sizes = "-".join(str(n) for n in result.sizes.values())
    print(f"{sizes} network, {len(ids)} digits, {result.duration:g} ms simulated")
    print(f"{'digit':>5} {'phase':>7} {'input Hz':>9} {'hidden Hz':>10} {'output Hz':>10} "
          f"{'label unit Hz':>14} {'mean alpha':>11} {'argmax V':>9}")
    for p in range(len(schedule)):
        label = schedule.label[p]
        out_rates = result.rates("output")[p]
        print(f"{label:>5} {PHASE_NAMES[schedule.phase[p]]:>7} "
              f"{result.rates('input')[p].mean():>9.1f} {result.rates('hidden_0')[p].mean():>10.1f} "
              f"{out_rates.mean():>10.1f} {out_rates[label]:>14.1f} "
              f"{result.alpha['hidden_0'][p].mean():>11.3f} {result.predictions()[p]:>9}")
    change = np.abs(result.alpha["hidden_0"][1::2] - result.alpha["hidden_0"][0::2]).mean()
    print(f"mean |alpha_target - alpha_forward| per hidden neuron: {change:.3f}")


if __name__ == "__main__":
    main()
