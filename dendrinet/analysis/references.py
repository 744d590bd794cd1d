"""Non-spiking reference classifiers on the same split as a run: scikit-learn's logistic
regression and a backprop MLP of the network's shape, trained on the same features in
[0, 1] (not on the spiking network's input coding), for the tables that put the spiking
networks beside them."""
from __future__ import annotations

import warnings

import numpy as np

from dendrinet.errors import DendrinetError

__all__ = ["REFERENCES", "logistic_regression_error", "mlp_error", "reference_name"]

#: The reference classifiers a sweep file may name (``references = [...]``).
REFERENCES = ("logistic-regression", "mlp")
#: Iterations of the logistic regression's solver (lbfgs; converged on every set tried).
LOGISTIC_MAX_ITER = 2000


def _check(X_train, y_train, X_test, y_test):
    for name, X, y in (("train", X_train, y_train), ("test", X_test, y_test)):
        if np.ndim(X) != 2 or len(X) != len(y) or not len(X):
            raise DendrinetError(f"reference classifiers: the {name} split needs X of shape "
                                 f"(n, features) and one label per row, got {np.shape(X)} and "
                                 f"{np.shape(y)}")


def logistic_regression_error(X_train, y_train, X_test, y_test) -> float:
    """Test error (fraction) of ``LogisticRegression(max_iter=LOGISTIC_MAX_ITER)``
    (lbfgs, C = 1): deterministic."""
    from sklearn.linear_model import LogisticRegression
    _check(X_train, y_train, X_test, y_test)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = LogisticRegression(max_iter=LOGISTIC_MAX_ITER).fit(X_train, y_train)
    return float(np.mean(clf.predict(X_test) != y_test))


def mlp_error(X_train, y_train, X_test, y_test, hidden: tuple[int, ...], epochs: int,
              seed: int = 0) -> float:
    """Test error (fraction) of ``MLPClassifier(hidden)`` trained by backprop (adam, relu,
    minibatches of 200) for ``epochs`` passes over the training set, seed ``seed``."""
    from sklearn.neural_network import MLPClassifier
    _check(X_train, y_train, X_test, y_test)
    if not hidden:
        raise DendrinetError("an MLP needs at least one hidden layer")
    with warnings.catch_warnings():  # it stops after `epochs`, converged or not
        warnings.simplefilter("ignore")
        clf = MLPClassifier(tuple(int(h) for h in hidden), max_iter=int(epochs),
                            random_state=seed).fit(X_train, y_train)
    return float(np.mean(clf.predict(X_test) != y_test))


def reference_name(kind: str, hidden: tuple[int, ...] = (), epochs: int = 0) -> str:
    """The label of a reference in tables: ``"logistic regression"``, ``"MLP 500-100
    (backprop, 20 epochs)"``."""
    if kind == "logistic-regression":
        return "logistic regression"
    return f"MLP {'-'.join(str(h) for h in hidden)} (backprop, {epochs} epochs)"
