"""Benchmark of the HDF5 spike store: append N spikes in batches, then read a
1-second window and stream every chunk, reporting wall time and peak RSS.

    python3 benchmarks/bench_store.py --n-spikes 1e7
"""

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dendrinet.store import SpikeStore  # noqa: E402


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (MiB; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-spikes", type=float, default=1e7, help="spikes to write (e.g. 1e8)")
    parser.add_argument("--batch", type=float, default=1e6, help="spikes per append call")
    parser.add_argument("--flush-every", type=int, default=1,
                        help="flush after every this many batches (1: each append flushes)")
    parser.add_argument("--n-nodes", type=int, default=1000, help="neurons in the population")
    parser.add_argument("--rate-hz", type=float, default=10.0, help="mean rate per neuron (Hz)")
    parser.add_argument("--chunk-size", type=int, default=1_000_000, help="spikes per read block")
    parser.add_argument("--path", default=None, help="store file (default: a temporary file)")
    args = parser.parse_args()
    n_spikes, batch = int(args.n_spikes), int(args.batch)
    spikes_per_ms = args.n_nodes * args.rate_hz / 1000.0
    path = Path(args.path or tempfile.mkstemp(suffix=".h5")[1])
    rng = np.random.default_rng(0)
    print(f"{n_spikes:.3g} spikes, {args.n_nodes} neurons at {args.rate_hz} Hz "
          f"({n_spikes / spikes_per_ms / 1000:.0f} s simulated), batches of {batch:.3g}, "
          f"flushed every {args.flush_every} batch(es)")

    write_s, last = 0.0, 0.0
    with SpikeStore(path, "w", dt=0.1) as store:
        store.add_population("hidden", args.n_nodes)
        for index, start in enumerate(range(0, n_spikes, batch)):
            k = min(batch, n_spikes - start)
            times = last + np.cumsum(rng.exponential(1.0 / spikes_per_ms, k))
            ids = rng.integers(0, args.n_nodes, k)
            last = float(times[-1])
            tick = time.perf_counter()
            store.append_spikes("hidden", times, ids, flush=(index + 1) % args.flush_every == 0)
            write_s += time.perf_counter() - tick
    size = path.stat().st_size
    print(f"write:   {write_s:7.2f} s  ({n_spikes / write_s / 1e6:.1f} M spikes/s), "
          f"file {size / 2**20:.0f} MiB ({size / n_spikes:.2f} B/spike), "
          f"peak RSS {peak_rss_mib():.0f} MiB")

    tick = time.perf_counter()
    with SpikeStore(path) as store:
        middle = store.t_stop / 2
        times, ids = store.spikes("hidden", middle, middle + 1000.0)
    window_s = time.perf_counter() - tick
    print(f"window:  {window_s * 1000:7.1f} ms for 1 s of spikes ({len(times)} spikes; "
          f"open + bisect + read), peak RSS {peak_rss_mib():.0f} MiB")

    tick, total, checksum = time.perf_counter(), 0, 0
    with SpikeStore(path) as store:
        for times, ids in store.iter_chunks("hidden", args.chunk_size):
            total += len(times)
            checksum += int(ids.sum())
    iterate_s = time.perf_counter() - tick
    assert total == n_spikes
    print(f"iterate: {iterate_s:7.2f} s  ({n_spikes / iterate_s / 1e6:.1f} M spikes/s, "
          f"blocks of {args.chunk_size:.3g}), peak RSS {peak_rss_mib():.0f} MiB")
    if args.path is None:
        os.unlink(path)


if __name__ == "__main__":
    main()
