"""Speed of the fast engine: ms per training example (one core) and per test example
(every core) on MNIST input, the paper's timing (paper-timing), after JIT warm-up; plus the
JIT compile time with an empty cache ("cold") and with the on-disk cache ("warm").

    python benchmarks/bench_engine.py                 # 784-500-10 and 784-500-100-10
    python benchmarks/bench_engine.py --train 4000 --test 2000 --repeat 5

Training runs on one core (``numba.set_num_threads(1)``; training is sequential anyway),
test presentations on all cores (``numba.prange`` over examples). Times are wall-clock;
the table shows the best of ``--repeat`` runs and the median, and the best thread CPU
time of training (it excludes time the thread was preempted: the machine may be shared;
its load average is printed). MNIST images are the first training images of the
mnist-10k split (mean intensity 0.13, about 20 input spikes per ms).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # no BLAS threads spinning beside us

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
MODELS = ("guerguiev2017-1hidden", "guerguiev2017-2hidden")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_mnist(data_dir: str | None):
    """mnist-10k, or MNIST-like synthetic images when ``data_dir`` is "synthetic"."""
    if data_dir == "synthetic":
        return synthetic_mnist()
    from dendrinet.datasets import load_dataset
    return load_dataset("mnist-10k", data_dir=data_dir, download=False)


def synthetic_mnist(n_train: int = 8000, n_test: int = 2000, seed: int = 0):
    """Images with MNIST's input statistics for machines without the data: 150 of the
    central 20 x 20 pixels per image at intensities U(0.3, 1) (mean intensity 0.124,
    19% pixels on; MNIST: 0.13, 19%), random labels."""
    import numpy as np

    from dendrinet.datasets import Dataset
    rng = np.random.default_rng(seed)
    centre = (np.arange(4, 24)[:, None] * 28 + np.arange(4, 24)[None, :]).ravel()
    X = np.zeros((n_train + n_test, 784))
    for row in X:
        row[rng.choice(centre, 150, replace=False)] = rng.uniform(0.3, 1.0, 150)
    y = rng.integers(0, 10, n_train + n_test)
    return Dataset("synthetic-mnist", X[:n_train], y[:n_train], X[n_train:], y[n_train:],
                   (28, 28))


def make_engine(name: str, n_inputs: int, seed: int = 0, input_precision: str = "single"):
    import dendrinet
    if (Path(dendrinet.__file__).parent / "backends").is_dir():
        from dendrinet.backends import make_engine as registry
    else:  # a checkout from before the engine registry (A/B comparisons)
        from dendrinet.training import make_engine as registry
    from dendrinet.config import load_model, load_protocol
    try:
        from dendrinet.model.weights import initial_parameters
    except ImportError:  # a checkout from before the subpackages (A/B comparisons)
        from dendrinet.weights import initial_parameters
    model = load_model(name)
    params = initial_parameters(model, n_inputs, seed)
    engine = "fast" if input_precision == "single" else "fast-double"
    return registry(engine, model, load_protocol("paper-timing"), params, seed)


def compile_probe(data_dir: str | None) -> dict:
    """First-call times (JIT compile or cache load) of training and testing."""
    ds = load_mnist(data_dir)
    t0 = time.perf_counter()
    engine = make_engine(MODELS[0], ds.n_inputs)
    engine.train_epoch(ds.X_train[:2], ds.y_train[:2])
    t1 = time.perf_counter()
    engine.evaluate(ds.X_test[:2])
    t2 = time.perf_counter()
    return {"train_first_call_s": t1 - t0, "test_first_call_s": t2 - t1}


def compile_times(data_dir: str | None) -> dict:
    """Run :func:`compile_probe` in fresh processes: empty cache, then warm cache."""
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        code = ("import json, sys; sys.path.insert(0, %r); "
                "from bench_engine import compile_probe; "
                "print(json.dumps(compile_probe(%r)))" % (str(REPO / "benchmarks"), data_dir))
        for label in ("cold", "warm"):
            res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                 text=True, cwd=REPO, check=True)
            out[label] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def time_model(name: str, ds, n_train: int, n_test: int, repeat: int,
               input_precision: str = "single") -> dict:
    import numba
    import numpy as np
    engine = make_engine(name, ds.n_inputs, input_precision=input_precision)
    threads = numba.config.NUMBA_NUM_THREADS
    numba.set_num_threads(1)
    engine.train_epoch(ds.X_train[:50], ds.y_train[:50])  # warm-up (JIT, caches)
    train, train_cpu = [], []
    for r in range(repeat):
        order = (np.arange(n_train) + r * n_train) % ds.n_train
        t0, c0 = time.perf_counter(), time.thread_time()
        engine.train_epoch(ds.X_train, ds.y_train, order=order)
        train.append(1000 * (time.perf_counter() - t0) / n_train)
        train_cpu.append(1000 * (time.thread_time() - c0) / n_train)
    numba.set_num_threads(threads)
    engine.evaluate(ds.X_test[:20])
    test = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        engine.evaluate(ds.X_test[:n_test])
        test.append(1000 * (time.perf_counter() - t0) / n_test)
    return {"model": name, "sizes": [int(s) for s in engine.layout.sizes], "threads_test": threads,
            "train_ms_best": min(train), "train_ms_median": float(np.median(train)),
            "train_cpu_ms_best": min(train_cpu),
            "test_ms_best": min(test), "test_ms_median": float(np.median(test))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=2000, help="training examples per run")
    parser.add_argument("--test", type=int, default=1000, help="test examples per run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data" / "mnist"),
                        help='folder with the MNIST t10k files, or "synthetic"')
    parser.add_argument("--no-compile", action="store_true", help="skip the compile timing")
    parser.add_argument("--input-precision", choices=("single", "double"), default="single",
                        help="FastEngine input_precision (default single)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)

    import numba
    ds = load_mnist(args.data_dir)
    spikes_per_ms = 0.2 * ds.X_train[:args.train].mean() * ds.n_inputs
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; numba {numba.__version__}, "
          f"threads {numba.config.NUMBA_NUM_THREADS}; load average {os.getloadavg()[0]:.2f}")
    print(f"input: {ds.name}, mean intensity {ds.X_train[:args.train].mean():.3f} "
          f"({spikes_per_ms:.1f} input spikes per ms); protocol paper-timing; input sums "
          f"in {args.input_precision} precision")
    results = {"cpu": cpu_model(), "cores": os.cpu_count(), "load_average": os.getloadavg()}
    if not args.no_compile:
        results["compile"] = compile_times(args.data_dir)
        c = results["compile"]
        print(f"JIT: cold cache {c['cold']['train_first_call_s']:.1f} s (train) + "
              f"{c['cold']['test_first_call_s']:.1f} s (test); warm cache "
              f"{c['warm']['train_first_call_s']:.2f} s + {c['warm']['test_first_call_s']:.2f} s")
    print(f"\n{'network':<18}{'train ms/ex (1 core)':>30}{'test ms/ex (all cores)':>26}")
    print(f"{'':<18}{'best':>10}{'median':>10}{'cpu':>10}{'best':>13}{'median':>13}")
    results["models"] = []
    for name in args.models:
        r = time_model(name, ds, args.train, args.test, args.repeat, args.input_precision)
        results["models"].append(r)
        label = "-".join(str(s) for s in r["sizes"])
        print(f"{label:<18}{r['train_ms_best']:>10.3f}{r['train_ms_median']:>10.3f}"
              f"{r['train_cpu_ms_best']:>10.3f}{r['test_ms_best']:>13.3f}"
              f"{r['test_ms_median']:>13.3f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
