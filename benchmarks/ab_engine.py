"""Interleaved A/B timing of the fast engine in two checkouts of dendrinet.

Runs ``benchmarks/bench_engine.py`` (this checkout's copy, so both sides are timed by
the same code) alternately against checkout A and checkout B, ``--pairs`` times, and
prints every pair's ratio B/A of ms per training example and their median. Alternating
cancels most of the drift of a shared machine's speed; ``--metric cpu`` (default) compares
the training thread's CPU time, which leaves out the time it waited for a core on a
loaded machine (``wall`` compares wall-clock time).

    git worktree add /tmp/before <commit>
    python benchmarks/ab_engine.py --a /tmp/before --b . --pairs 5
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_once(checkout: Path, model: str, args) -> dict:
    """One bench_engine.py run with ``checkout`` first on the path."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        # dendrinet is imported from the checkout before bench_engine puts its own
        # repository on the path
        code = (f"import sys; sys.path.insert(0, {str(checkout)!r}); import dendrinet; "
                f"assert dendrinet.__file__.startswith({str(checkout)!r}), dendrinet.__file__; "
                f"sys.path.insert(1, {str(HERE)!r}); import bench_engine; "
                f"sys.exit(bench_engine.main({['--no-compile', '--models', model, '--train', str(args.train), '--test', str(args.test), '--repeat', str(args.repeat), '--data-dir', args.data_dir, '--json', out.name]!r}))")
        env = dict(os.environ, PYTHONPATH=str(checkout))
        subprocess.run([sys.executable, "-c", code], env=env, cwd=checkout, check=True,
                       capture_output=True, text=True)
        return json.loads(Path(out.name).read_text())["models"][0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", required=True, type=Path, help="checkout A (the reference)")
    parser.add_argument("--b", required=True, type=Path, help="checkout B (the candidate)")
    parser.add_argument("--models", nargs="+",
                        default=["guerguiev2017-1hidden", "guerguiev2017-2hidden"])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--train", type=int, default=1000)
    parser.add_argument("--test", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--metric", choices=("cpu", "wall"), default="cpu")
    parser.add_argument("--data-dir", default=str(HERE.parents[1] / "shared" / "data" / "mnist"))
    args = parser.parse_args(argv)
    a, b = args.a.resolve(), args.b.resolve()
    for model in args.models:
        ratios, times_a, times_b = [], [], []
        for pair in range(args.pairs):
            ra = run_once(a, model, args)
            rb = run_once(b, model, args)
            key = "train_cpu_ms_best" if args.metric == "cpu" else "train_ms_best"
            times_a.append(ra[key])
            times_b.append(rb[key])
            ratios.append(rb[key] / ra[key])
            print(f"{model} pair {pair + 1}: A {ra[key]:.3f} ms  B {rb[key]:.3f} ms  "
                  f"B/A {ratios[-1]:.3f}  ({args.metric}; wall A {ra['train_ms_best']:.3f}, "
                  f"B {rb['train_ms_best']:.3f})", flush=True)
        print(f"{model} ({args.metric} time, load average {os.getloadavg()[0]:.2f}): "
              f"median A {statistics.median(times_a):.3f} ms, B "
              f"{statistics.median(times_b):.3f} ms per training example; median B/A "
              f"{statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f})",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
