"""Milliseconds per training example (forward + target phase, ~103 ms simulated) of the
Brian2 network, 784-500-10, runtime device.

Usage::

    python3 benchmarks/bench_brian2_network.py [--target cython] [--examples 50]
        [--dataset mnist-10k] [--data-dir ../shared/data]

The first run with ``--target cython`` compiles the generated code (minutes, cached
in ~/.cython); the timed run follows a short warm-up run, so compilation and
code-object creation are reported separately from the per-example time.
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="guerguiev2017-1hidden")
    parser.add_argument("--protocol", default="paper-timing")
    parser.add_argument("--target", default="cython", choices=("numpy", "cython"))
    parser.add_argument("--examples", type=int, default=50)
    parser.add_argument("--dataset", default="mnist-10k")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--record", choices=("all", "none"), default="all",
                        help="all: spike monitors and window averages (default); none: "
                             "neither (the configuration the Brian2 engine trains with)")
    args = parser.parse_args(argv)

    from dendrinet.config import load_model, load_protocol
    from dendrinet.datasets import load_dataset
    from dendrinet.errors import DendrinetError
    from dendrinet.backends.brian2.network import DendriticNetwork
    from dendrinet.config.schedule import training_schedule
    from dendrinet.model.weights import initial_parameters

    model = load_model(args.model)
    protocol = load_protocol(args.protocol)
    try:
        data = load_dataset(args.dataset, data_dir=args.data_dir, n_train=args.examples + 5)
        X, y = data.X_train, data.y_train
    except DendrinetError as exc:  # no MNIST here: random images of the same size
        print(f"({args.dataset} unavailable: {exc}; using random 784-pixel images)")
        rng = np.random.default_rng(0)
        X = rng.random((args.examples + 5, 784)) * (rng.random((args.examples + 5, 784)) < 0.2)
        y = rng.integers(0, 10, args.examples + 5)
    rng = np.random.default_rng(1)
    params = initial_parameters(model, X.shape[1], rng)

    t0 = time.perf_counter()
    record = args.record == "all"
    net = DendriticNetwork(model, params, X.shape[1], protocol.dt, target=args.target,
                           record_spikes=record, record_averages=record)
    t_build = time.perf_counter() - t0

    warm = training_schedule(protocol, np.arange(5), y[:5], rng)
    t0 = time.perf_counter()
    net.run(warm, X, seed=1)
    t_warm = time.perf_counter() - t0

    ids = np.arange(5, 5 + args.examples)
    schedule = training_schedule(protocol, ids, y[ids], rng)
    t0 = time.perf_counter()
    result = net.run(schedule, X, seed=2)
    t_run = time.perf_counter() - t0

    sizes = "-".join(str(n) for n in result.sizes.values())
    steps = schedule.total_steps
    print(f"network {sizes}, target {args.target}, recording {args.record}, "
          f"{args.examples} examples, {steps * protocol.dt / args.examples:.1f} ms simulated "
          f"per example")
    print(f"build {t_build:.2f} s; warm-up run (5 examples, includes compilation) {t_warm:.2f} s")
    print(f"timed run {t_run:.2f} s -> {1000 * t_run / args.examples:.1f} ms per training example "
          f"({1e6 * t_run / steps:.0f} us per step)")
    if record:
        for name in result.sizes:
            print(f"  {name:9s} mean rate {result.mean_rate(name):7.2f} Hz")


if __name__ == "__main__":
    main()
