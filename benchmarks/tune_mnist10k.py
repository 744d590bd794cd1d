"""Learning-rate / initialisation sweep of the fast engine on the mnist-10k split.

Each configuration is a model file plus overrides; every run trains for ``--epochs``
epochs (the paper's timing, paper-timing, shuffled order) and evaluates the 2,000 test
images after each epoch. Runs go to worker processes (one core each) and the results are
appended, one JSON line per run, to ``--out``.

Examples::

    python benchmarks/tune_mnist10k.py --epochs 3 --workers 2 \\
        --grid '{"model": ["guerguiev2017-1hidden"], "eta": [[0.1, 0.1], [0.21, 0.21]],
                 "init": [{"V_avg": 1.0, "V_sd": 1.0}]}'
    python benchmarks/tune_mnist10k.py --epochs 10 --config '{"model": "guerguiev2017-1hidden"}'

Overrides: ``eta`` (list per layer), ``init`` (dict of [init] values), ``feedback``
(dict of [feedback] values), ``seed`` (engine and initialisation seed).
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def build_model(config: dict):
    from dendrinet.config import load_model
    model = load_model(config["model"])
    if "eta" in config:
        model = dataclasses.replace(model, learning=dataclasses.replace(
            model.learning, eta=tuple(float(e) for e in config["eta"])))
    if "init" in config:
        model = dataclasses.replace(model, init=dataclasses.replace(model.init, **config["init"]))
    if "feedback" in config:
        model = dataclasses.replace(model, feedback=dataclasses.replace(model.feedback,
                                                                        **config["feedback"]))
    return model


def run(config: dict, epochs: int, data_dir: str | None) -> dict:
    """Train one configuration; returns the configuration with per-epoch results."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import numba
    import numpy as np

    from dendrinet.config import load_protocol
    from dendrinet.datasets import load_dataset
    from dendrinet.backends.numba.engine import FastEngine
    from dendrinet.model.weights import initial_parameters

    numba.set_num_threads(1)
    ds = load_dataset("mnist-10k", data_dir=data_dir, download=False)
    model = build_model(config)
    protocol = load_protocol(config.get("protocol", "paper-timing"))
    seed = int(config.get("seed", 0))
    params = initial_parameters(model, ds.n_inputs, seed)
    engine = FastEngine(model, protocol, params, seed=seed)
    order_rng = np.random.default_rng([seed, 99])
    result = {"config": config, "test_error": [], "train_error": [], "angle": [],
              "alpha_diff_sd": [], "seconds": []}
    for _ in range(epochs):
        t0 = time.perf_counter()
        hist = engine.train_epoch(ds.X_train, ds.y_train, order=order_rng.permutation(ds.n_train))
        test = engine.evaluate(ds.X_test, ds.y_test)
        result["seconds"].append(round(time.perf_counter() - t0, 2))
        result["test_error"].append(round(float(test["error"]), 5))
        result["train_error"].append(round(float(1 - hist["correct"].mean()), 5))
        n_hidden = len(model.hidden)
        result["angle"].append([round(float(np.nanmean(hist[f"angle_{l}"])), 2)
                                for l in range(n_hidden)])
        result["alpha_diff_sd"].append([round(float(np.mean(hist[f"alpha_diff_sd_{l}"])), 4)
                                        for l in range(n_hidden)])
    return result


def expand(grid: dict) -> list[dict]:
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grid", help="JSON dict: key -> list of values (cartesian product)")
    parser.add_argument("--config", action="append", default=[],
                        help="JSON dict of one configuration (repeatable)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data" / "mnist"))
    parser.add_argument("--out", default=None, help="append JSON lines here")
    args = parser.parse_args(argv)
    configs = [json.loads(c) for c in args.config]
    if args.grid:
        configs += expand(json.loads(args.grid))
    if not configs:
        parser.error("give --grid or --config")
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = [pool.submit(run, c, args.epochs, args.data_dir) for c in configs]
        for fut in futures:
            res = fut.result()
            line = json.dumps(res)
            print(line, flush=True)
            if args.out:
                with open(args.out, "a", encoding="utf-8") as fh:
                    fh.write(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
