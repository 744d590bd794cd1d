"""Accuracy and speed of training: 0, 1 and 2 hidden layers on mnist-10k.

Runs ``dendrinet train`` (a subprocess per model, as a user would) and prints, then
writes as markdown, the test error of every epoch and the time per example::

    python3 benchmarks/bench_accuracy.py                      # 10 epochs, mnist-10k
    python3 benchmarks/bench_accuracy.py --epochs 2 --n-train 2000 --n-test 500
    python3 benchmarks/bench_accuracy.py --report docs/accuracy.md

mnist-10k is the official MNIST test file split 8000 train / 2000 test (see
``dendrinet.datasets``); with 2000 test examples a test error near 5 % has a standard
deviation of 0.5 % (binomial). Run folders go to ``--out-dir`` (default
``runs/bench_accuracy``); a killed benchmark continues with ``--resume``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODELS = ("guerguiev2017-0hidden", "guerguiev2017-1hidden", "guerguiev2017-2hidden")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), help="models to train")
    p.add_argument("--protocol", default="paper-timing")
    p.add_argument("--dataset", default="mnist-10k")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--engine", default="fast")
    p.add_argument("--n-train", type=int)
    p.add_argument("--n-test", type=int)
    p.add_argument("--data-dir")
    p.add_argument("--out-dir", default=str(REPO / "runs" / "bench_accuracy"))
    p.add_argument("--resume", action="store_true", help="continue unfinished runs")
    p.add_argument("--report", help="markdown file to write (default OUT_DIR/accuracy.md)")
    return p.parse_args(argv)


def run_model(model: str, args, out: Path) -> float:
    cmd = [sys.executable, "-m", "dendrinet.cli", "train", "--model", model,
           "--protocol", args.protocol, "--dataset", args.dataset, "--epochs", str(args.epochs),
           "--seed", str(args.seed), "--engine", args.engine, "--out", str(out), "--quiet"]
    for flag, value in (("--n-train", args.n_train), ("--n-test", args.n_test),
                        ("--data-dir", args.data_dir)):
        if value is not None:
            cmd += [flag, str(value)]
    summary = out / "summary.json"
    if summary.is_file():
        status = json.loads(summary.read_text()).get("status")
        cmd.append("--resume" if args.resume and status == "running" else "--force")
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    print(f"$ {' '.join(cmd[2:])}", flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=REPO)
    return time.perf_counter() - t0


def markdown(results: dict[str, dict], wall: dict[str, float], args) -> str:
    first = next(iter(results.values()))
    machine = first["machine"]
    ds = first["dataset"]
    lines = [
        f"# Training accuracy and speed ({args.dataset}, protocol {args.protocol})",
        "",
        f"Command: `python3 benchmarks/bench_accuracy.py --epochs {args.epochs}"
        + (f" --n-train {args.n_train}" if args.n_train else "")
        + (f" --n-test {args.n_test}" if args.n_test else "") + "`  ",
        f"Data: {ds['name']}, {ds['n_train']} training and {ds['n_test']} test examples; "
        f"seed {args.seed}; engine {args.engine}.  ",
        f"Machine: {machine['cpu']}, {machine['usable_cores']} usable cores; "
        f"dendrinet {first['versions'].get('dendrinet')}, numba "
        f"{first['versions'].get('numba', '?')}, Python {machine['python']}.",
        "",
        "## Test error (%) after each epoch",
        "",
        "| epoch | " + " | ".join(results) + " |",
        "|---:|" + "---:|" * len(results),
    ]
    n_epochs = max(len(r["epochs"]) for r in results.values())
    for k in range(n_epochs):
        cells = []
        for r in results.values():
            e = r["epochs"][k] if k < len(r["epochs"]) else None
            cells.append(f"{100 * e['test_error']:.2f}" if e else "")
        lines.append(f"| {k + 1} | " + " | ".join(cells) + " |")
    lines += ["", "## Training error (%) during each epoch", "",
              "| epoch | " + " | ".join(results) + " |", "|---:|" + "---:|" * len(results)]
    for k in range(n_epochs):
        cells = [f"{100 * r['epochs'][k]['train_error']:.2f}" if k < len(r["epochs"]) else ""
                 for r in results.values()]
        lines.append(f"| {k + 1} | " + " | ".join(cells) + " |")
    lines += ["", "## Speed", "",
              "| model | layers | ms per training example | ms per test example | "
              "s per epoch | total wall s |",
              "|---|---|---:|---:|---:|---:|"]
    for name, r in results.items():
        ep = r["epochs"]
        later = ep[1:] or ep  # epoch 1 includes compilation
        mean = lambda key: sum(e[key] for e in later) / len(later)  # noqa: E731
        lines.append(f"| {name} | {'-'.join(map(str, r['layer_sizes']))} | "
                     f"{mean('ms_per_train_example'):.3f} | {mean('ms_per_test_example'):.3f} | "
                     f"{mean('seconds'):.1f} | {wall[name]:.0f} |")
    lines += ["", "Speed columns average epochs 2 onwards (epoch 1 includes JIT compilation "
              "when the Numba cache is cold). A training example is a forward and a target "
              "phase (about 2 x 51.5 ms of simulated time with the paper's timing); a test "
              "example is one 250 ms presentation.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    out_dir = Path(args.out_dir)
    results, wall = {}, {}
    for model in args.models:
        out = out_dir / model
        wall[model] = run_model(model, args, out)
        results[model] = json.loads((out / "summary.json").read_text())
    text = markdown(results, wall, args)
    print()
    print(text)
    report = Path(args.report) if args.report else out_dir / "accuracy.md"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(text)
    print(f"written: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
