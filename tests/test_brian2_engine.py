"""The Brian2 engine's own behaviour (its equivalence with the fast kernels is in
test_equivalence.py)."""
import os
import subprocess
import sys

CODE = """
from dendrinet.backends import make_engine
from dendrinet.config import load_model, load_protocol
from dendrinet.model.weights import initial_parameters
m = load_model('guerguiev2017-0hidden')
p = load_protocol('quick')
for target in ('numpy', 'cython'):
    e = make_engine('brian2', m, p, initial_parameters(m, 64, 0), 0, target=target)
    print(target, e.compile_note())
"""


def test_compile_note_says_when_brian2_will_compile(tmp_path):
    """With an empty home folder (no compiled extensions yet) both targets announce a
    compilation; with this machine's cache the numpy target does not, if the cache holds
    compiled extensions."""
    empty = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                           check=True, env={**os.environ, "HOME": str(tmp_path)}).stdout
    lines = dict(line.split(" ", 1) for line in empty.strip().splitlines())
    assert "first use on this machine" in lines["numpy"]
    assert "generates and compiles" in lines["cython"]
    from pathlib import Path

    from brian2.codegen.runtime.cython_rt.extension_manager import get_cython_cache_dir
    if any(Path(get_cython_cache_dir()).glob("*.so")):
        here = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                              check=True).stdout
        assert "numpy None" in here


# Equations the fast engine's generator refuses (the time t, a V_a that draws random
# numbers, the neuron's own spike traces xL, xS): Brian2 simulates them, and its learner
# needs only the rule.
BRIAN2_ONLY = {
    "time": 'hidden_soma = "0.1*sin(2*pi*10*Hz*t)/ms"',
    "noisy apical": 'apical = "V_a_lin + kick"\n'
                    'hidden_extra = "kick = 0.5*(rand() - 0.5) : 1 (constant over dt)"',
    "own spike trace": 'hidden_soma = "-0.1*(xL - xS)/ms"',
}


def _brian2_only_model(tmp_path, name, line):
    from dendrinet.config import load_model

    path = tmp_path / "m.toml"
    path.write_text(f'extends = "guerguiev2017-1hidden"\n[model]\nname = "b2-{name.replace(" ", "-")}"'
                    f'\n[network]\nhidden = [5]\n[equations]\n{line}\n', encoding="utf-8")
    return load_model(path)


def test_models_only_brian2_can_run_train_on_the_brian2_engine(tmp_path):
    """Every model simulate runs also trains on --engine brian2: the fast engine cannot
    generate these equations, and the Brian2 engine's learner never asks it to; the
    weights change and the test predictions are those of the recorded mean potentials."""
    import numpy as np
    import pytest

    from dendrinet.backends.numba.codegen import ModelEquationError
    from dendrinet.backends.numba.model_part import model_part
    from dendrinet.datasets import load_dataset
    from dendrinet.training.run_folder import Run
    from dendrinet.training.trainer import train

    small = load_dataset("digits", n_train=20, n_test=10)
    for name, line in BRIAN2_ONLY.items():
        model = _brian2_only_model(tmp_path, name, line)
        with pytest.raises(ModelEquationError):
            model_part(model)  # the fast engine's neuron part: not generatable
        out = tmp_path / name.replace(" ", "-")
        summary = train(model, "quick", small, out, epochs=1, engine="brian2", seed=1,
                        progress=False, n_spike_samples=0)
        run = Run.open(out)
        assert summary.epochs_done == 1 and run.summary.engine == "brian2"
        assert not np.array_equal(run.weights(1).W[0], run.weights(0).W[0]), name
        predictions = run.predictions()
        np.testing.assert_array_equal(predictions["y_pred"],
                                      predictions["mean_V"].argmax(axis=1))


def test_the_estimator_trains_a_brian2_only_model(tmp_path):
    """SegregatedDendriteClassifier(engine="brian2") fits a model the fast engine cannot
    generate (it used to raise from the generator): its weights move away from the
    initial ones drawn with the same seed, and score is the accuracy of predict."""
    import numpy as np

    from dendrinet.datasets import load_dataset
    from dendrinet.training.estimator import SegregatedDendriteClassifier
    from dendrinet.model.weights import initial_parameters

    small = load_dataset("digits", n_train=20, n_test=10)
    model = _brian2_only_model(tmp_path, "time", BRIAN2_ONLY["time"])
    clf = SegregatedDendriteClassifier(model=model, protocol="quick", engine="brian2",
                                       epochs=1, seed=0)
    clf.fit(small.X_train, small.y_train)
    initial = initial_parameters(clf.model_, small.n_inputs, 0)
    assert clf.history_["epoch"].size == 20  # one record per training example
    assert not np.array_equal(clf.params_.W[0], initial.W[0])
    predictions = clf.predict(small.X_test)
    assert clf.score(small.X_test, small.y_test) == np.mean(predictions == small.y_test)
