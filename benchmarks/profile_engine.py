"""Where the time of a training example goes (fast engine, 784-500-10, one core).

Times, per training example, the whole ``train_epoch`` and its parts called one by one
(input events, forward and target presentations, plasticity), then each per-step
kernel in isolation on arrays of the real sizes, scaled by the steps per example. The
parts should add up to the whole; the kernels show what a step costs.

    python benchmarks/profile_engine.py [--data-dir synthetic]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))


def best_time(fn, n: int, repeat: int = 5) -> float:
    """Best thread-CPU seconds per call over ``repeat`` batches of ``n`` calls."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.thread_time()
        for _ in range(n):
            fn()
        best = min(best, (time.thread_time() - t0) / n)
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="guerguiev2017-1hidden")
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data" / "mnist"))
    args = parser.parse_args(argv)

    import numba
    import numpy as np
    from numba import njit

    from bench_engine import load_mnist, make_engine
    from dendrinet.backends.numba import drivers as LP
    from dendrinet.backends.numba import dynamics as S
    from dendrinet.backends.numba.input_spikes import new_events
    from dendrinet.learning.plasticity import (learn_flat, make_rule, new_example,
                                                     new_updates)

    numba.set_num_threads(1)
    ds = load_mnist(args.data_dir)
    engine = make_engine(args.model, ds.n_inputs)
    engine.train_epoch(ds.X_train[:500], ds.y_train[:500])  # warm-up, realistic state
    n = 500
    t0 = time.thread_time()
    engine.train_epoch(ds.X_train[500:500 + n], ds.y_train[500:500 + n])
    whole = (time.thread_time() - t0) / n
    print(f"train_epoch: {1e3 * whole:.3f} ms per example")

    net, Yn = engine._net()
    lay = engine.layout
    # learning rates of 1e-300: the kernel's full work, weights (practically) unchanged
    rule = make_rule(engine.model, Yn)
    rule = rule._replace(eta=rule.eta * 1e-300, train_hidden=True, eta_Y=0.0)
    ex, upd = new_example(lay.n_inputs, lay.n_units, net.n_x), new_updates(lay.sizes)
    st = engine._state
    scr = S.new_scratch(lay.n_inputs, lay.n_units, lay.n_layers, lay.sizes[-1], net.W_in)
    acc = S.new_acc(lay.n_inputs, lay.n_units, net.n_x)
    ev = new_events(lay.n_inputs, 200)
    no8, nof = np.zeros((1, 1), np.uint8), np.zeros((1, 1))
    none, no_traces = S.Rows(no8, 0), S.Traces(nof, nof, nof, np.zeros((1, 1, 1)), 0)
    base = S.DRAW | S.ACC_VA | (S.APICAL if engine._apical_train else 0)
    settle, nf, nt = 30, 51, 52
    X = ds.X_train
    parts = {"input events": 0.0, "forward phase": 0.0, "target phase": 0.0, "plasticity": 0.0}
    spikes = 0
    for q in range(-1, n):  # q = -1: compile the signatures of this loop
        if q == 0:
            parts = dict.fromkeys(parts, 0.0)
            spikes = 0
        c0 = time.thread_time()
        spikes += LP._input_events(X[max(q, 0)], net.p_max, nf + nt, st, ev)
        c1 = time.thread_time()
        S.reset_acc(acc)
        S.run_presentation(net, st, scr, acc,
                           S.Presentation(ev.ptr, ev.ids, 0, nf, settle, False, 0,
                                          base | S.ACC_V | S.ACC_S), none, none, no_traces)
        c2 = time.thread_time()
        S.reset_acc(acc)
        S.run_presentation(net, st, scr, acc,
                           S.Presentation(ev.ptr, ev.ids, nf, nt, settle, True, 0, base),
                           none, none, no_traces)
        c3 = time.thread_time()
        learn_flat(net, rule, ex, upd)
        c4 = time.thread_time()
        for name, dt in zip(parts, (c1 - c0, c2 - c1, c3 - c2, c4 - c3)):
            parts[name] += dt / n
    for name, t in parts.items():
        print(f"  {name:<16}{1e3 * t:8.3f} ms")
    print(f"  {'sum':<16}{1e3 * sum(parts.values()):8.3f} ms   "
          f"({spikes / n / (nf + nt):.1f} input spikes per step)")
    s_nz = np.where(st.xinL != 0, 0.01, 0.0)
    W0 = net.W[:lay.sizes[0] * lay.sizes[1]].reshape(lay.sizes[0], lay.sizes[1])
    e = np.full(lay.sizes[1], 1e-3)
    from dendrinet.learning.plasticity import apply_update
    t_upd = best_time(lambda: apply_update(W0, net.b[:lay.sizes[1]], s_nz, e, 1e-300), 200)
    print(f"  (W_0 update alone, {np.count_nonzero(s_nz)} live rows: {1e3 * t_upd:.3f} ms)")

    # per-step kernels on arrays of the real sizes
    steps = nf + nt
    n_h, n_u, n_in = lay.sizes[1], lay.n_units, lay.n_inputs
    rng = np.random.default_rng(0)
    arr = [rng.random(n_u) for _ in range(8)]
    s0 = np.asarray(st.s0).copy()
    s1 = np.asarray(st.s1).copy()
    spk = (rng.random(n_u) < 0.15).astype(np.uint8)
    idx = np.zeros(n_u + 1, np.int64)
    rows = np.sort(rng.choice(n_in, 19, replace=False)).astype(np.int64)
    hid_rows = np.sort(rng.choice(n_h, int(spk[:n_h].sum()), replace=False)).astype(np.int64)
    W = net.W
    W1 = W[lay.wo[1]:lay.wo[2]]
    c = np.zeros(n_u)

    def loop(f):
        @njit
        def run(k, *a):
            for _ in range(k):
                f(*a)
        return run

    kernels = {
        # decay factors 1: repeated calls must not drive the values into denormals
        "soma (hidden)": (S._soma_basal, (arr[0][:n_h], arr[1][:n_h], arr[2][:n_h],
                                          np.zeros(n_h), arr[3][:n_h], 0.14, 0.5, 0.8, 1.0,
                                          1.0)),
        "decay xL, xS": (S._decay_jump, (arr[4], arr[5], spk.copy(), 0.0, 1.0, 1.0)),
        "draw + compact": (S._draw, (arr[6] * 0.0, s0, s1, 0.2, spk.copy(), scr, lay.uo,
                                     idx, np.zeros(lay.n_layers + 1, np.int64))),
        "input rows (19)": (S._add_rows, (net.W_in, n_h, rows, scr.c_in)),
        "hidden rows": (S._add_rows, (W1, lay.sizes[2], hid_rows, c[n_h:])),
    }
    print(f"\nper-step kernels (x {steps} steps per example):")
    total = 0.0
    for name, (f, a) in kernels.items():
        run = loop(f)
        t = best_time(lambda: run(1000, *a), 5) / 1000
        total += t * steps
        print(f"  {name:<18}{1e6 * t:8.3f} us/step  {1e3 * t * steps:7.3f} ms/example")
    print(f"  {'sum':<18}{'':>16}{1e3 * total:7.3f} ms/example")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
