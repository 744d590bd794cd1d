"""The Brian2 network and the fast Numba engine implement the same discrete-time model.

1. Replay: the spikes the Brian2 network drew (numpy target) are imposed on the fast
   engine's step (:func:`dendrinet.backends.numba.engine.replay`); every compartment potential
   (V, V_b, V_a at every step) and every phase average must agree to 1e-6, with the
   input rows summed in float64 and in float32 (the engine's default for training).
2. Statistics: both engines draw their own spikes for the same test presentations;
   the per-presentation layer rates must agree within a paired 4-sigma bound.
"""
import numpy as np
import pytest
from network_helpers import (brian2_train_and_test, brian2_training_and_replay, model_variant,
                             state_rule_error, state_rule_model)

from dendrinet.config import schedule as schedules
from dendrinet.config import load_protocol
from dendrinet.datasets import load_dataset
from dendrinet.backends.numba.engine import FastEngine
from dendrinet.backends.numba.engine import replay
from dendrinet.backends.brian2.network import DendriticNetwork
from dendrinet.model.weights import initial_parameters

TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", n_train=40, n_test=40)


@pytest.mark.parametrize("hidden", [(30,), (20, 15)], ids=["64-30-10", "64-20-15-10"])
def test_replayed_spikes_give_identical_potentials(digits, hidden):
    """Forward + target presentation of one example, then a (reset) test presentation."""
    model = model_variant(hidden=hidden, n_outputs=10, g_A=0.05)
    params, schedule, brian = brian2_train_and_test(model, digits)
    assert all(len(brian.spikes[name][0]) > 50 for name in brian.sizes)
    for precision in ("double", "single"):
        fast = replay(model, params, schedule, brian.spikes, input_precision=precision)
        for name in list(brian.sizes)[1:]:
            for var, trace in brian.traces[name].items():
                np.testing.assert_allclose(fast.traces[name][var], trace, rtol=0,
                                           atol=TOLERANCE, err_msg=f"{precision} {name}.{var}")
            np.testing.assert_allclose(fast.V_bar[name], brian.V_bar[name], atol=TOLERANCE)
            np.testing.assert_allclose(fast.phi_bar[name], brian.phi_bar[name], atol=TOLERANCE)
            if name != "output":
                np.testing.assert_allclose(fast.alpha[name], brian.alpha[name], atol=TOLERANCE)
        for name in brian.sizes:
            if name in fast.s_bar:
                np.testing.assert_allclose(fast.s_bar[name], brian.s_bar[name], atol=TOLERANCE)
    # the target phase moved the plateaus: the comparison is not between constants
    assert np.abs(brian.alpha["hidden_0"][1] - brian.alpha["hidden_0"][0]).mean() > 0.01


def test_independent_spikes_give_the_same_rates(digits):
    """Same test images, each engine with its own random spikes: the paired differences
    of the per-presentation mean rates (independent presentations, state reset) have
    mean zero within 4 standard errors, for every layer."""
    model = model_variant(hidden=(30,), n_outputs=10)
    protocol = load_protocol("quick")
    params = initial_parameters(model, digits.n_inputs, np.random.default_rng(8))
    ids = np.arange(30)
    labels = digits.y_test[ids]
    schedule = schedules.test_schedule(protocol, ids, labels)
    net = DendriticNetwork(model, params, digits.n_inputs, protocol.dt)
    brian = net.run(schedule, digits.X_test, seed=4)
    fast = FastEngine(model, protocol, params.copy(), seed=4).record_spikes(
        digits.X_test, ids, labels)

    T = protocol.test_duration
    for name, n in brian.sizes.items():
        brian_rates = brian.rates(name).mean(axis=1)  # Hz, per presentation
        times, _ = fast[name]
        fast_rates = np.bincount((times // T).astype(int), minlength=len(ids)) / (n * T) * 1000
        diff = brian_rates - fast_rates
        bound = 4 * diff.std(ddof=1) / np.sqrt(len(diff))
        assert abs(diff.mean()) <= bound, (name, diff.mean(), bound)
        assert brian_rates.mean() > 5.0  # both engines really spike


# ---------------------------------------------------------------- the Brian2 engine


def _engine_setup(digits):
    from dendrinet.backends.brian2.engine import Brian2Engine

    model = model_variant(hidden=(20,), n_outputs=10)
    protocol = load_protocol("quick")
    params = initial_parameters(model, digits.n_inputs, np.random.default_rng(2))
    return Brian2Engine, model, protocol, params


def test_brian2_engine_learns_like_the_fast_kernels(digits):
    """Training through Brian2 (plasticity written into the Synapses between examples)
    equals the fast engine's replay with learning, given the spikes Brian2 drew:
    same weights, biases and per-example statistics."""
    _, model, protocol, params = _engine_setup(digits)
    initial = params.copy()
    order = np.array([5, 1, 7, 2, 9, 0])
    _, hist, fast = brian2_training_and_replay(model, protocol, params, digits, order)

    assert np.abs(params.W[0] - initial.W[0]).max() > 1e-3  # learning happened
    for got, want in zip(params.W + params.b, fast.params.W + fast.params.b):
        np.testing.assert_allclose(got, want, rtol=0, atol=TOLERANCE)
    for name, values in fast.records.items():
        if name in hist:
            np.testing.assert_allclose(hist[name], values, rtol=0, atol=TOLERANCE, err_msg=name)
    np.testing.assert_array_equal(hist["example_id"], order)
    assert hist["alpha_f_0"].shape == (3, 20)
    np.testing.assert_array_equal(hist["sample_position"], [0, 2, 4])


def test_brian2_engine_resumes_from_its_state(digits):
    """Epoch 2 after get_state/set_state in a new engine equals epoch 2 of an engine
    that was never interrupted; evaluation does not touch the training state."""
    Brian2Engine, model, protocol, params = _engine_setup(digits)
    X, y, order = digits.X_train, digits.y_train, np.arange(4)
    straight = Brian2Engine(model, protocol, params.copy(), seed=5, target="numpy")
    straight.train_epoch(X, y, order=order)
    before = straight.get_state()
    result = straight.evaluate(digits.X_test[:3], digits.y_test[:3])
    after = straight.get_state()
    for key in before:
        np.testing.assert_array_equal(before[key], after[key])
    assert result["mean_V"].shape == (3, 10)
    assert result["error"] == pytest.approx(np.mean(result["pred"] != digits.y_test[:3]))

    resumed = Brian2Engine(model, protocol, straight.params.copy(), seed=5, target="numpy")
    resumed.set_state(before)
    straight.train_epoch(X, y, order=order)
    resumed.train_epoch(X, y, order=order)
    assert resumed.epochs_done == straight.epochs_done == 2
    for got, want in zip(resumed.params.W, straight.params.W):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(Exception, match="seed"):
        Brian2Engine(model, protocol, params.copy(), seed=6, target="numpy").set_state(before)


def test_brian2_engine_records_test_spikes(digits):
    Brian2Engine, model, protocol, params = _engine_setup(digits)
    engine = Brian2Engine(model, protocol, params, seed=1, target="numpy")
    record = engine.record_spikes(digits.X_test, [3, 4], labels=digits.y_test[[3, 4]])
    T = protocol.test_duration
    np.testing.assert_array_equal(record["presentations"]["t_start"], [0, T])
    np.testing.assert_array_equal(record["presentations"]["example_id"], [3, 4])
    for name in ("input", "hidden_0", "output"):
        times, ids = record[name]
        assert len(times) > 0 and times.max() < 2 * T and np.all(np.diff(times) >= 0)
    assert record["mean_V"].shape == (2, 10)


def test_rules_read_the_models_own_state_variables_alike_on_both_engines(digits, tmp_path):
    """A rule that reads the window means of a model's own state variable (``X_f``,
    ``X_t``) trains Brian2 exactly as the fast kernels' replay of Brian2's spikes, and its
    update is the one the equations give: ``W_0 += eta P_hid outer(s_in, e)`` with
    ``e = 0.5 (w_t - w_f) + 0.05 w_f`` from the window means of ``w``."""
    from dendrinet.learning.plasticity import make_rule

    model = state_rule_model(tmp_path)
    protocol = load_protocol("quick")
    initial = initial_parameters(model, digits.n_inputs, np.random.default_rng(2))
    params = initial.copy()
    _, _, fast = brian2_training_and_replay(model, protocol, params, digits, np.array([5]))
    for got, want in zip(params.W + params.b, fast.params.W + fast.params.b):
        np.testing.assert_allclose(got, want, rtol=0, atol=TOLERANCE)
    # the update from the equations, with the replay's window means of w
    w_f, w_t = fast.X_bar["hidden_0"]["w"]
    assert np.abs(w_f).max() > 1e-3 and np.abs(w_t - w_f).max() > 1e-5  # w takes part
    rule = make_rule(model, np.zeros(1))
    expected = rule.eta[0] * rule.P_hid * np.outer(fast.s_bar["input"][0],
                                                   state_rule_error(w_f, w_t))
    assert np.abs(expected).max() > 1e-5
    np.testing.assert_allclose(params.W[0] - initial.W[0], expected, rtol=1e-9, atol=1e-15)
