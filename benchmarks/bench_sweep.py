"""Throughput of ``dendrinet sweep``: four runs on a local Dask cluster of two
single-threaded workers, against the same four runs trained one after another in one
process (as ``dendrinet train`` would: Numba's default threads for the test
presentations; ``--sequential-threads 1`` gives them the workers' one thread). Both
start warm (Numba's cache loaded, the workers started); the time to start the cluster
and warm its workers is printed apart. Prints the wall-clock times, their ratio and the
load average. Target: a ratio of at least 1.8 on an otherwise idle 2-core machine.

    python benchmarks/bench_sweep.py                      # mnist-10k (shared data) or digits
    python benchmarks/bench_sweep.py --dataset digits --epochs 3
    python benchmarks/bench_sweep.py --sequential-threads 2 1   # both baselines

The runs: 784-500-10 (``guerguiev2017-1hidden``), the paper's timing (``paper-timing``),
seeds 0-3, ``--epochs`` epochs of ``--n-train`` training and ``--n-test`` test examples (the
sequential runs about 35 s in all on one idle core of the project's machine).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"


def sweep_file(folder: Path, dataset: str, data_dir, epochs: int, n_train: int,
               n_test: int) -> Path:
    path = folder / "bench.toml"
    path.write_text(
        "[sweep]\nmodels = [\"guerguiev2017-1hidden\"]\n"
        f"datasets = [\"{dataset}\"]\nseeds = [0, 1, 2, 3]\nepochs = {epochs}\n"
        f"n_train = {n_train}\nn_test = {n_test}\n"
        + (f"data_dir = \"{data_dir}\"\n" if data_dir else ""), encoding="utf-8")
    return path


def warm_up(spec, folder: str) -> None:
    """Load the data set and Numba's cache: a tiny run of ``spec``'s model."""
    from dendrinet.training.trainer import train

    train(spec.model, spec.protocol, spec.dataset, folder, epochs=1, seed=spec.seed,
          progress=False, data_dir=spec.data_dir, n_train=50, n_test=20, n_spike_samples=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_mnist = (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file()
    parser.add_argument("--dataset", default="mnist-10k" if default_mnist else "digits")
    parser.add_argument("--data-dir", default=str(SHARED_MNIST) if default_mnist else None)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--n-train", type=int, default=8000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sequential-threads", type=int, nargs="+", default=None,
                        help="Numba threads of the runs one after another; several values "
                             "time the sequential runs once each (default: Numba's default, "
                             "as dendrinet train uses)")
    args = parser.parse_args()

    import numba
    import numpy as np

    if any(not 1 <= k <= numba.config.NUMBA_NUM_THREADS for k in args.sequential_threads or []):
        parser.error(f"--sequential-threads: each value must be between 1 and "
                     f"{numba.config.NUMBA_NUM_THREADS} (Numba's thread pool on this machine)")

    from dendrinet.training.run_folder import Run
    from dendrinet.sweep import load_sweep, run_sweep
    from dendrinet.training.trainer import train

    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        tmp = Path(tmp)
        n_train = args.n_train if args.dataset != "digits" else min(args.n_train, 1437)
        n_test = args.n_test if args.dataset != "digits" else min(args.n_test, 360)
        sweep = load_sweep(sweep_file(tmp, args.dataset, args.data_dir, args.epochs, n_train,
                                      n_test))
        print(f"4 runs: {sweep.runs[0].model.name}, {args.dataset} ({n_train} train, "
              f"{n_test} test), {args.epochs} epochs, seeds 0-3")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

        warm_up(sweep.runs[0], str(tmp / "warmup"))
        t_seq = {}
        for threads in args.sequential_threads or [numba.get_num_threads()]:
            numba.set_num_threads(threads)  # the test presentations' threads
            t0 = time.perf_counter()
            for spec in sweep.runs:
                train(spec.model, spec.protocol, spec.dataset,
                      tmp / f"sequential-{threads}" / spec.run_id, epochs=spec.epochs,
                      seed=spec.seed, progress=False, data_dir=spec.data_dir,
                      n_train=spec.n_train, n_test=spec.n_test)
            t_seq[threads] = time.perf_counter() - t0
            print(f"one after another, {threads} Numba thread(s): {t_seq[threads]:.1f} s")

        from distributed import Client, LocalCluster
        t0 = time.perf_counter()
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          host="127.0.0.1", dashboard_address="127.0.0.1:0") as cluster, \
                Client(cluster) as client:
            client.run(lambda: warm_up(sweep.runs[0], str(tmp / f"warm-{os.getpid()}")))
            print(f"starting {args.workers} workers and warming them: "
                  f"{time.perf_counter() - t0:.1f} s")
            t0 = time.perf_counter()
            outcome = run_sweep(sweep, tmp / "sweep", scheduler=cluster.scheduler_address,
                                progress=False, log=lambda line: None)
            t_dask = time.perf_counter() - t0
        assert outcome.ok and len(outcome.finished) == 4, outcome.failed
        print(f"dendrinet sweep on {args.workers} local workers: {t_dask:.1f} s")
        for threads, t in t_seq.items():
            print(f"ratio against the runs one after another on {threads} Numba thread(s): "
                  f"{t / t_dask:.2f}x")
        for name, folder in [*((f"one after another, {k} thread(s)", tmp / f"sequential-{k}")
                               for k in t_seq), ("on the workers", tmp / "sweep" / "runs")]:
            runs = [Run.open(folder / spec.run_id).summary for spec in sweep.runs]
            epochs = [e for r in runs for e in r.epochs]
            print(f"  {name}: per epoch {np.mean([e.seconds for e in epochs]):.2f} s, "
                  f"{np.mean([e.ms_per_train_example for e in epochs]):.3f} ms per training "
                  f"example, {np.mean([e.ms_per_test_example for e in epochs]):.3f} ms per "
                  f"test example")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
              f"({os.cpu_count()} cores)")


if __name__ == "__main__":  # the local cluster's worker processes import this module
    main()
