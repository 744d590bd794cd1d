"""Non-spiking references on the digits split of ``dendrinet demo``: scikit-learn's
logistic regression and a 500-hidden-unit MLP, trained on the same 1,437 training
digits (pixels / 16, as ``load_dataset("digits")``) and tested on the same 360.

    python benchmarks/reference_digits.py              # both, MLP over seeds 0-2
    python benchmarks/reference_digits.py --no-mlp     # the logistic regression only

The logistic regression's figure is the ``REFERENCE`` line that ``dendrinet demo``
prints after its last epoch (``dendrinet/commands/demo.py``); a test recomputes it with
:func:`logistic_regression_error` and compares.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dendrinet.datasets import load_dataset  # noqa: E402

LOGISTIC_MAX_ITER = 5000
MLP_HIDDEN = 500
MLP_MAX_ITER = 500


def logistic_regression_error() -> tuple[float, int, int]:
    """(test error as a fraction, errors, test examples) of
    ``LogisticRegression(max_iter=LOGISTIC_MAX_ITER)`` (lbfgs, default C = 1) on the
    demo's split. Deterministic; about a second."""
    from sklearn.linear_model import LogisticRegression

    ds = load_dataset("digits")
    clf = LogisticRegression(max_iter=LOGISTIC_MAX_ITER).fit(ds.X_train, ds.y_train)
    n_errors = int(np.count_nonzero(clf.predict(ds.X_test) != ds.y_test))
    return n_errors / ds.n_test, n_errors, ds.n_test


def mlp_error(seed: int) -> float:
    """Test error (fraction) of ``MLPClassifier(hidden_layer_sizes=(500,))`` (adam,
    relu, early stopping off) on the demo's split, with ``random_state=seed``."""
    from sklearn.neural_network import MLPClassifier

    ds = load_dataset("digits")
    clf = MLPClassifier(hidden_layer_sizes=(MLP_HIDDEN,), max_iter=MLP_MAX_ITER,
                        random_state=seed).fit(ds.X_train, ds.y_train)
    return float(np.mean(clf.predict(ds.X_test) != ds.y_test))


def reference_line(error: float, n_errors: int, n_test: int) -> str:
    """The line ``dendrinet demo`` prints (its ``REFERENCE`` constant)."""
    return (f"reference: scikit-learn LogisticRegression(max_iter={LOGISTIC_MAX_ITER}) on the "
            f"same split: {100 * error:.2f}% test error ({n_errors} of {n_test})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-mlp", action="store_true", help="skip the MLP")
    parser.add_argument("--seeds", type=int, default=3, help="MLP seeds 0..N-1 (default 3)")
    args = parser.parse_args()
    import sklearn

    t0 = time.perf_counter()
    error, n_errors, n_test = logistic_regression_error()
    print(reference_line(error, n_errors, n_test))
    print(f"  (scikit-learn {sklearn.__version__}, {time.perf_counter() - t0:.1f} s)")
    if not args.no_mlp:
        t0 = time.perf_counter()
        errors = [mlp_error(seed) for seed in range(args.seeds)]
        print(f"scikit-learn MLPClassifier(hidden_layer_sizes=({MLP_HIDDEN},), "
              f"max_iter={MLP_MAX_ITER}), seeds 0-{args.seeds - 1}: "
              + ", ".join(f"{100 * e:.2f}%" for e in errors)
              + f" test error (mean {100 * np.mean(errors):.2f}%; "
                f"{time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
