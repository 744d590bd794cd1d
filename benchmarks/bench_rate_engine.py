"""Speed of the rate engine against the spiking fast engine: the same network, data,
protocol and machine; ms per training example (one core) and per test example (every
core, and one core), and what a whole epoch of full MNIST (60,000 training and 10,000 test
examples) would take with each. "rate" is the rate engine as ``--engine rate`` runs it
(phases at their fixed points where the protocol allows: ``guerguiev2017`` does),
"rate-stepped" the same engine simulating every step.

    python benchmarks/bench_rate_engine.py                      # 784-500-10, guerguiev2017
    python benchmarks/bench_rate_engine.py --train 500 --test 300 --repeat 3
    python benchmarks/bench_rate_engine.py --models guerguiev2017-2hidden --protocol quick

The engines run interleaved (A, B, A, B, ...) after a warm-up that compiles or loads
their kernels; each run trains on its own examples, in order, from the engine's state
after the runs before (the weights change, so both engines see comparable networks).
Times are wall-clock, best and median of ``--repeat``; the load average is printed (the
machine may be shared). MNIST images are those of mnist-10k (the official t10k files),
or MNIST-like synthetic images (``--data-dir synthetic``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
ENGINES = ("fast", "rate", "rate-stepped")
FULL_TRAIN, FULL_TEST = 60_000, 10_000


def build(engine: str, model_name: str, protocol_name: str, n_inputs: int, seed: int = 0):
    from dendrinet.backends import make_engine
    from dendrinet.config import load_model, load_protocol
    from dendrinet.model.weights import initial_parameters

    model = load_model(model_name)
    options = {"phases": "stepped"} if engine == "rate-stepped" else {}
    return make_engine(engine.split("-")[0], model, load_protocol(protocol_name),
                       initial_parameters(model, n_inputs, seed), seed, **options)


def time_engines(model_name: str, protocol_name: str, ds, n_train: int, n_test: int,
                 repeat: int) -> dict:
    """Per engine: lists of ms per training example (1 thread) and per test example (all
    threads, and 1 thread)."""
    import numba
    import numpy as np

    threads = numba.config.NUMBA_NUM_THREADS
    engines = {name: build(name, model_name, protocol_name, ds.n_inputs) for name in ENGINES}
    times = {name: {"train": [], "test": [], "test_1": []} for name in ENGINES}
    for engine in engines.values():  # warm-up: compile or load the kernels
        engine.train_epoch(ds.X_train[:4], ds.y_train[:4])
        engine.evaluate(ds.X_test[:4])
    errors = {}
    for r in range(repeat):
        order = (np.arange(n_train) + r * n_train) % ds.n_train
        for name, engine in engines.items():
            numba.set_num_threads(1)
            t0 = time.perf_counter()
            engine.train_epoch(ds.X_train, ds.y_train, order=order)
            times[name]["train"].append(1000 * (time.perf_counter() - t0) / n_train)
            t0 = time.perf_counter()
            engine.evaluate(ds.X_test[:n_test])
            times[name]["test_1"].append(1000 * (time.perf_counter() - t0) / n_test)
            numba.set_num_threads(threads)
            t0 = time.perf_counter()
            result = engine.evaluate(ds.X_test[:n_test], ds.y_test[:n_test])
            times[name]["test"].append(1000 * (time.perf_counter() - t0) / n_test)
            errors[name] = result["error"]
    sizes = [int(s) for s in engines["fast"].layout.sizes]
    return {"model": model_name, "sizes": sizes, "protocol": protocol_name,
            "threads": threads, "times_ms": times, "test_error_after": errors}


def summary(times: dict) -> dict:
    """Best and median per quantity; the full-MNIST epoch in seconds (training on one
    core, tests on all cores)."""
    import numpy as np

    out = {}
    for name, t in times.items():
        row = {f"{k}_ms_best": min(v) for k, v in t.items()}
        row.update({f"{k}_ms_median": float(np.median(v)) for k, v in t.items()})
        row["epoch_s"] = (FULL_TRAIN * row["train_ms_median"]
                          + FULL_TEST * row["test_ms_median"]) / 1000
        out[name] = row
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=1000, help="training examples per run")
    parser.add_argument("--test", type=int, default=500, help="test examples per run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["guerguiev2017-1hidden"])
    parser.add_argument("--protocol", default="guerguiev2017")
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data" / "mnist"),
                        help='folder with the MNIST t10k files, or "synthetic"')
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)

    import numba
    from bench_engine import cpu_model, load_mnist

    ds = load_mnist(args.data_dir)
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; numba {numba.__version__}, "
          f"threads {numba.config.NUMBA_NUM_THREADS}; load average {os.getloadavg()[0]:.2f}")
    print(f"input: {ds.name}; protocol {args.protocol}; {args.train} training and "
          f"{args.test} test examples per run, {args.repeat} runs per engine, interleaved")
    results = {"cpu": cpu_model(), "cores": os.cpu_count(), "runs": []}
    header = (f"{'network':<16}{'engine':<13}{'train ms/ex':>12}{'test ms/ex':>12}"
              f"{'test ms/ex':>12}{'epoch s':>12}")
    for name in args.models:
        run = time_engines(name, args.protocol, ds, args.train, args.test, args.repeat)
        run["summary"] = summary(run["times_ms"])
        results["runs"].append(run)
        print(f"\n{header}\n{'':<16}{'':<13}{'(1 core)':>12}{'(all cores)':>12}"
              f"{'(1 core)':>12}{'full MNIST':>12}")
        label = "-".join(str(s) for s in run["sizes"])
        for engine, row in run["summary"].items():
            print(f"{label:<16}{engine:<13}{row['train_ms_median']:>12.3f}"
                  f"{row['test_ms_median']:>12.3f}{row['test_1_ms_median']:>12.3f}"
                  f"{row['epoch_s']:>12.1f}")
        fast = run["summary"]["fast"]
        for other in ENGINES[1:]:
            rate = run["summary"][other]
            ratio = {k: fast[k] / rate[k] for k in ("train_ms_median", "test_ms_median",
                                                     "test_1_ms_median", "epoch_s")}
            run[f"fast_over_{other}"] = ratio
            print(f"fast / {other}: training {ratio['train_ms_median']:.2f}x, test "
                  f"{ratio['test_ms_median']:.2f}x (all cores), "
                  f"{ratio['test_1_ms_median']:.2f}x (1 core), whole epoch "
                  f"{ratio['epoch_s']:.2f}x (medians; load average now "
                  f"{os.getloadavg()[0]:.2f})", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
