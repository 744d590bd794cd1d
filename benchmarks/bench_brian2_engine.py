"""Milliseconds per training example of the Brian2 engine (Brian2 network + Numba
plasticity after every example), 784-500-10, runtime device.

Usage::

    python3 benchmarks/bench_brian2_engine.py [--target cython] [--examples 200]
        [--dataset mnist-10k] [--data-dir ../shared/data]

A warm-up epoch of a few examples compiles the generated code first (minutes the first
time with cython, cached afterwards); the timed epoch is reported per example.
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
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--dataset", default="mnist-10k")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)

    from dendrinet.config import load_model, load_protocol
    from dendrinet.datasets import load_dataset
    from dendrinet.backends.brian2.engine import Brian2Engine
    from dendrinet.model.weights import initial_parameters

    model = load_model(args.model)
    protocol = load_protocol(args.protocol)
    data = load_dataset(args.dataset, data_dir=args.data_dir, n_train=args.examples + 10)
    X, y = data.X_train, data.y_train
    params = initial_parameters(model, X.shape[1], np.random.default_rng(1))
    engine = Brian2Engine(model, protocol, params, seed=1, target=args.target)

    t0 = time.perf_counter()
    engine.train_epoch(X, y, order=np.arange(10))
    t_warm = time.perf_counter() - t0
    order = np.arange(10, 10 + args.examples)
    t0 = time.perf_counter()
    hist = engine.train_epoch(X, y, order=order)
    t_run = time.perf_counter() - t0

    sizes = "-".join(str(n) for n in model.layer_sizes(X.shape[1]))
    print(f"Brian2 engine, {sizes}, target {args.target}, protocol {protocol.name}")
    print(f"warm-up epoch (10 examples, build + compilation) {t_warm:.2f} s")
    print(f"timed epoch: {args.examples} examples in {t_run:.2f} s -> "
          f"{1000 * t_run / args.examples:.1f} ms per training example "
          f"(forward + target, learning included); train accuracy "
          f"{100 * hist['correct'].mean():.1f}%")


if __name__ == "__main__":
    main()
