"""Peak memory of lazy analyses of a large spike store.

Writes a store of N spikes (default 50 million: 800 MB as float64 times + int64 ids
in memory) in batches, then, in a fresh Python process per analysis, streams it
through the analysis functions and reports the process's peak resident memory
(``ru_maxrss``) above the baseline after the imports. Lazy analysis keeps the peak
bounded by the chunk size (2 million spikes, 32 MB per block), however large the
store.

Usage::

    python benchmarks/bench_analysis_memory.py [--spikes 50000000] [--dir /tmp]

Prints one line per analysis: seconds, peak RSS above baseline (MB), and the size
of the spikes held in memory for comparison.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
N_NODES = 1000
RATE_HZ = 20.0
BATCH = 2_000_000

ANALYSES = {
    "mean_firing_rate": "statistics.mean_firing_rate(store, 'pop')",
    "psth (10 ms bins)": "statistics.psth(store, 'pop', bin_ms=10.0)",
    "isi_histogram": "statistics.isi_histogram(store, 'pop', bin_ms=1.0, max_ms=500.0)",
    "cv": "statistics.cv(store, 'pop')",
    "fano_factor (100 ms)": "statistics.fano_factor(store, 'pop', bin_ms=100.0)",
    "write_report (store)": "report.write_report(store.path, OUT, n_presentations=4)",
}

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {repo!r})
from dendrinet.store import SpikeStore
from dendrinet.analysis import statistics, report
import matplotlib.pyplot as plt
OUT = {out!r}
store = SpikeStore({path!r}, "r")
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
result = {expr}
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"seconds": seconds, "base_kb": base, "peak_kb": peak}}))
"""


def write_store(path: Path, n_spikes: int, seed: int = 0) -> float:
    """A store with ``n_spikes`` Poisson spikes of N_NODES neurons; returns seconds."""
    sys.path.insert(0, str(REPO))
    from dendrinet.store import SpikeStore

    rng = np.random.default_rng(seed)
    duration_ms = n_spikes / (N_NODES * RATE_HZ / 1000.0)
    t0 = time.perf_counter()
    with SpikeStore(path, "w", dt=1.0) as store:
        store.add_population("pop", N_NODES)
        n_batches = -(-n_spikes // BATCH)
        span = duration_ms / n_batches
        for k in range(n_batches):
            n = min(BATCH, n_spikes - k * BATCH)
            times = np.floor(np.sort(rng.uniform(k * span, (k + 1) * span, n)))
            store.append_spikes("pop", times, rng.integers(0, N_NODES, n))
        starts = np.arange(0.0, duration_ms - 100.0, 100.0)
        store.append_presentations(np.arange(starts.size), np.arange(starts.size) % 10,
                                   "test", starts, starts + 100.0)
    return time.perf_counter() - t0


def measure(path: Path, name: str, expr: str, out_dir: Path) -> dict:
    code = CHILD.format(repo=str(REPO), path=str(path), expr=expr, out=str(out_dir))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spikes", type=int, default=50_000_000)
    parser.add_argument("--dir", default=None, help="folder for the temporary store")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "large.h5"
        seconds = write_store(path, args.spikes)
        in_memory_mb = args.spikes * 16 / 1e6
        print(f"store: {args.spikes:,} spikes of {N_NODES} neurons, "
              f"{os.path.getsize(path) / 1e6:.0f} MB on disk, written in {seconds:.1f} s; "
              f"all spikes in memory would take {in_memory_mb:.0f} MB")
        print(f"{'analysis':24s} {'seconds':>8s} {'peak RSS above baseline (MB)':>30s}")
        for name, expr in ANALYSES.items():
            r = measure(path, name, expr, Path(tmp) / "report")
            extra_mb = (r["peak_kb"] - r["base_kb"]) / 1024
            print(f"{name:24s} {r['seconds']:8.1f} {extra_mb:30.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
