"""Defaults on a user's own data (issue 21, item 4): ``dendrinet train --dataset my.npz``
with the shipped models and no tuning, beside scikit-learn's logistic regression and a
backprop MLP of the same shape on the same split.

Data sets (made reproducibly here, as a user would hand them over: one ``.npz`` with
features scaled to [0, 1] together by one global min-max):

- ``digits``: scikit-learn's 8x8 digits (the shipped split);
- ``mnist``, ``fashion``: the first 10,000 training and 2,000 test images of MNIST and
  Fashion-MNIST (``--data-dir``, default ``../shared/data``);
- ``noisy40``: 40 noisy features, 10 classes (the issue's "user's own data");
- ``few8x20``: 8 features, 20 classes;
- ``corr60``: 60 correlated features (30 mixed by a random matrix, plus noise), 5 classes;
- ``unbal20``: 20 features, 6 classes of 50, 20, 12, 10, 5 and 3 %.

Every data set runs with the same command: ``dendrinet train --model M --dataset F
--epochs E --seed S`` (default protocol), M = ``guerguiev2017-0hidden`` and
``guerguiev2017-1hidden``.

    python benchmarks/user_data.py --out bench-user           # everything, 2 processes
    python benchmarks/user_data.py --sets noisy40 digits --epochs 20
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # the references share the cores with runs
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SETS = ("digits", "mnist", "fashion", "noisy40", "few8x20", "corr60", "unbal20")
MODELS = ("guerguiev2017-0hidden", "guerguiev2017-1hidden")
MLP_HIDDEN = 500
MLP_EPOCHS = 200  # sklearn's default max_iter: the MLP converges on every set


def _scaled(X: np.ndarray) -> np.ndarray:
    """One global min-max to [0, 1], as a user would do it."""
    return (X - X.min()) / (X.max() - X.min())


def _synthetic(name: str):
    """(X, y, n_train) of one made data set."""
    from sklearn.datasets import make_classification
    if name == "noisy40":
        X, y = make_classification(n_samples=6000, n_features=40, n_informative=12,
                                   n_redundant=8, n_classes=10, n_clusters_per_class=2,
                                   class_sep=1.0, flip_y=0.05, random_state=1)
        return X, y, 4000
    if name == "few8x20":
        X, y = make_classification(n_samples=8000, n_features=8, n_informative=6,
                                   n_redundant=2, n_classes=20, n_clusters_per_class=1,
                                   class_sep=1.5, random_state=2)
        return X, y, 6000
    if name == "corr60":
        X, y = make_classification(n_samples=6000, n_features=30, n_informative=10,
                                   n_redundant=5, n_classes=5, n_clusters_per_class=2,
                                   class_sep=1.0, random_state=4)
        rng = np.random.default_rng(3)
        X = X @ rng.normal(size=(30, 60)) + 0.5 * rng.normal(size=(6000, 60))
        return X, y, 4500
    if name == "unbal20":
        X, y = make_classification(n_samples=6000, n_features=20, n_informative=8,
                                   n_redundant=4, n_classes=6, n_clusters_per_class=2,
                                   weights=[0.5, 0.2, 0.12, 0.1, 0.05, 0.03], class_sep=1.2,
                                   random_state=5)
        return X, y, 4500
    raise ValueError(name)


def make_set(name: str, folder: Path, data_dir: Path) -> Path:
    """Write data set ``name`` as ``folder/name.npz`` (once); returns its path."""
    path = folder / f"{name}.npz"
    if path.is_file():
        return path
    from dendrinet.datasets import load_dataset
    if name in ("digits", "mnist", "fashion"):
        shipped = {"digits": ("digits", None, None, None),
                   "mnist": ("mnist", data_dir / "mnist-full", 10_000, 2_000),
                   "fashion": ("fashion-mnist", data_dir / "fashion-mnist", 10_000, 2_000)}
        dname, ddir, n_train, n_test = shipped[name]
        ds = load_dataset(dname, data_dir=ddir, n_train=n_train, n_test=n_test)
        arrays = dict(X_train=ds.X_train, y_train=ds.y_train, X_test=ds.X_test,
                      y_test=ds.y_test)
    else:
        X, y, n_train = _synthetic(name)
        X = _scaled(X)
        arrays = dict(X_train=X[:n_train], y_train=y[:n_train], X_test=X[n_train:],
                      y_test=y[n_train:])
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def references(path: Path) -> dict:
    """Test errors (%) of logistic regression and a 500-unit MLP (adam, 200 iterations,
    seed 0) on the same split and the same [0, 1] features
    (:mod:`dendrinet.analysis.references`)."""
    from dendrinet.analysis.references import logistic_regression_error, mlp_error
    d = np.load(path)
    data = (d["X_train"], d["y_train"], d["X_test"], d["y_test"])
    return {"logistic regression": 100 * logistic_regression_error(*data),
            "MLP": 100 * mlp_error(*data, (MLP_HIDDEN,), MLP_EPOCHS),
            "shape": [int(d["X_train"].shape[0]), int(d["X_test"].shape[0]),
                      int(d["X_train"].shape[1]), int(max(d["y_train"].max(),
                                                          d["y_test"].max()) + 1)]}


def dendrinet_run(path: Path, model: str, epochs: int, seed: int, out: Path) -> dict:
    """One ``dendrinet train`` with defaults; its final test error (%) and input coding."""
    run = out / f"{path.stem}-{model}-s{seed}"
    summary = run / "summary.json"
    if summary.is_file():  # a finished run of this command is kept
        info = json.loads(summary.read_text())
        if info["status"] == "finished" and len(info["epochs"]) == epochs:
            return _result(info, stalled=None, seconds=None)
    cmd = [sys.executable, "-m", "dendrinet.cli", "train", "--model", model, "--dataset",
           str(path), "--epochs", str(epochs), "--seed", str(seed), "--out", str(run),
           "--force", "--quiet", "--spike-samples", "0"]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return _result(json.loads(summary.read_text()), stalled="warning:" in proc.stderr,
                   seconds=time.perf_counter() - t)


def _result(info: dict, stalled, seconds) -> dict:
    coding = info.get("input_coding") or {}
    return {"test error": 100 * info["final_test_error"],
            "test errors": [100 * e["test_error"] for e in info["epochs"]],
            "coding": f"{coding.get('coding', 'intensity')} x{coding.get('copies', 1)}",
            "inputs": info["layer_sizes"][0], "stalled warning": stalled, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=Path("bench-user-data"))
    args = parser.parse_args()

    paths = {name: make_set(name, args.out / "data", args.data_dir) for name in args.sets}
    refs = {name: references(p) for name, p in paths.items()}
    jobs = [(name, model, seed) for name in args.sets for model in args.models
            for seed in args.seeds]
    with concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
        futures = {job: pool.submit(dendrinet_run, paths[job[0]], job[1], args.epochs, job[2],
                                    args.out / "runs") for job in jobs}
        results = {job: f.result() for job, f in futures.items()}

    print(f"\n{args.epochs} epochs, seeds {args.seeds}; test error %, mean over seeds\n")
    print("| data set | train/test/features/classes | logistic regression | MLP (500) | "
          + " | ".join(args.models) + " | input coding |")
    print("|---|---|---|---|" + "---|" * len(args.models) + "---|")
    table = {}
    for name in args.sets:
        r = refs[name]
        row = {m: float(np.mean([results[(name, m, s)]["test error"] for s in args.seeds]))
               for m in args.models}
        table[name] = {"references": r, "dendrinet": row,
                       "runs": {f"{m} s{s}": results[(name, m, s)] for m in args.models
                                for s in args.seeds}}
        coding = results[(name, args.models[0], args.seeds[0])]["coding"]
        print(f"| {name} | {'/'.join(str(v) for v in r['shape'])} | "
              f"{r['logistic regression']:.2f} | {r['MLP']:.2f} | "
              + " | ".join(f"{row[m]:.2f}" for m in args.models) + f" | {coding} |")
    (args.out / "user_data.json").write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
