"""Plasticity kernels against a plain numpy transcription of docs/design.md ("Plasticity"),
the backprop angle against hand-computed cases, and the feedback variants."""
import dataclasses
import math

import numpy as np
import pytest

from dendrinet.config import load_model
from dendrinet.errors import DendrinetError
from dendrinet.learning.plasticity import (angle_degrees, apply_update, backprop_error, hidden_error,
                                  learn_example, make_rule, output_error, stat_names)
from dendrinet.model.weights import initial_parameters, symmetric_feedback

RTOL = 1e-12


def sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def make_model(hidden=(7,), mode="random", train_hidden=True, eta=None, eta_Y=0.01):
    base = load_model("guerguiev2017-1hidden")
    eta = eta or tuple(0.1 + 0.05 * l for l in range(len(hidden) + 1))
    return dataclasses.replace(
        base, hidden=tuple(hidden), n_outputs=4,
        feedback=dataclasses.replace(base.feedback, mode=mode, eta_Y=eta_Y),
        learning=dataclasses.replace(base.learning, eta=eta, train_hidden=train_hidden))


def random_example(model, n_in, rng):
    """Phase averages of plausible magnitude for every layer."""
    sizes = model.layer_sizes(n_in)
    V_f = [rng.normal(0.0, 2.0, n) for n in sizes[1:]]
    alpha_f = [rng.uniform(0.01, 0.99, n) for n in sizes[1:-1]]
    alpha_t = [rng.uniform(0.01, 0.99, n) for n in sizes[1:-1]]
    phi_t = rng.uniform(0.0, 0.2, sizes[-1])
    s_f = [rng.uniform(0.0, 0.1, n) for n in sizes[:-1]]
    s_f[0][::3] = 0.0  # silent inputs
    return V_f, alpha_f, alpha_t, phi_t, s_f


def reference_learning(params, model, V_f, alpha_f, alpha_t, phi_t, s_f):
    """docs/design.md, "Plasticity", transcribed with numpy (returns new arrays)."""
    nrn = model.neuron
    pm, k_B, k_D = nrn.phi_max, nrn.k_B, nrn.k_D
    L = len(params.W)
    W = [w.copy() for w in params.W]
    b = [v.copy() for v in params.b]
    Y = [y.copy() for y in params.Y]
    dsig = lambda v: sig(v) * (1 - sig(v))  # noqa: E731
    e_out = (phi_t - pm * sig(V_f[-1])) * k_D * pm * dsig(V_f[-1])
    e = [None] * (L - 1) + [e_out]
    e_bp = [None] * (L - 1) + [e_out]
    for l in range(L - 2, -1, -1):
        e[l] = (alpha_t[l] - alpha_f[l]) * k_B * pm * dsig(V_f[l])
        e_bp[l] = (params.W[l + 1] @ e_bp[l + 1]) * k_B * pm * dsig(V_f[l])
    used = list(e)
    if model.feedback.mode == "backprop":
        used[:L - 1] = e_bp[:L - 1]
    angles = [math.degrees(math.acos(np.clip(
        used[l] @ e_bp[l] / (np.linalg.norm(used[l]) * np.linalg.norm(e_bp[l])), -1, 1)))
        for l in range(L - 1)]
    for l in range(L):
        if l < L - 1 and not model.learning.train_hidden:
            continue
        P = model.P_output if l == L - 1 else model.P_hidden
        W[l] += model.learning.eta[l] * P * np.outer(s_f[l], used[l])
        b[l] += model.learning.eta[l] * P * used[l]
    if model.feedback.mode in ("symmetric", "noisy_symmetric"):
        Y = [y + n for y, n in zip(symmetric_feedback(W), params.Y_noise)]
    elif model.feedback.mode == "learned":
        Y = [y + model.feedback.eta_Y * model.P_output * np.outer(e_out, s_f[l + 1])
             for l, y in enumerate(Y)]
    stats = {"loss_out": float(np.sum((phi_t - pm * sig(V_f[-1])) ** 2))}
    for l in range(L - 1):
        d = alpha_t[l] - alpha_f[l]
        stats.update({f"loss_hidden_{l}": float(d @ d), f"angle_{l}": angles[l],
                      f"alpha_diff_mean_{l}": float(d.mean()),
                      f"alpha_diff_sd_{l}": float(d.std())})
    return W, b, Y, stats, used, e_bp


def assert_close(a, b, what):
    a, b = np.asarray(a), np.asarray(b)
    scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
    err = float(np.max(np.abs(a - b))) if b.size else 0.0
    assert err <= RTOL * scale, f"{what}: max difference {err:g} (scale {scale:g})"


# ------------------------------------------------------------------ kernels


def test_output_error_and_loss_match_the_formula():
    rng = np.random.default_rng(1)
    V, phi = rng.normal(0, 3, 10), rng.uniform(0, 0.2, 10)
    e = np.empty(10)
    loss = output_error(V, phi, 0.2, 6 / 7, e)
    expected = (phi - 0.2 * sig(V)) * (6 / 7) * 0.2 * sig(V) * (1 - sig(V))
    assert_close(e, expected, "e_out")
    assert loss == pytest.approx(np.sum((phi - 0.2 * sig(V)) ** 2), rel=RTOL)


def test_the_constant_output_slope_is_the_slope_at_threshold_and_keeps_silent_units_learning():
    rng = np.random.default_rng(3)
    V, phi = rng.normal(0, 3, 10), rng.uniform(0, 0.2, 10)
    e = np.empty(10)
    loss = output_error(V, phi, 0.2, 6 / 7, e, False)
    assert_close(e, (phi - 0.2 * sig(V)) * (6 / 7) * 0.2 * 0.25, "e_out")
    assert loss == pytest.approx(np.sum((phi - 0.2 * sig(V)) ** 2), rel=RTOL)
    # a unit far below threshold whose teacher drives it to 150 Hz: the paper's slope
    # leaves it almost nothing to learn from, the constant slope the full error
    silent = np.array([-10.0])
    taught = np.array([0.15])
    with_slope, constant = np.empty(1), np.empty(1)
    output_error(silent, taught, 0.2, 6 / 7, with_slope)
    output_error(silent, taught, 0.2, 6 / 7, constant, False)
    assert with_slope[0] / constant[0] == pytest.approx(4 * sig(-10.0) * (1 - sig(-10.0)),
                                                        rel=1e-12)
    assert with_slope[0] < 2e-4 * constant[0]


def test_hidden_error_and_plateau_statistics():
    rng = np.random.default_rng(2)
    V, af, at = rng.normal(0, 2, 50), rng.uniform(size=50), rng.uniform(size=50)
    e = np.empty(50)
    loss, mean, sd = hidden_error(V, af, at, 0.2, 6 / 7, e)
    d = at - af
    assert_close(e, d * (6 / 7) * 0.2 * sig(V) * (1 - sig(V)), "e_hidden")
    assert (loss, mean, sd) == pytest.approx((d @ d, d.mean(), d.std()), rel=1e-12)


def test_backprop_error_is_the_transposed_weights_times_the_error_above():
    rng = np.random.default_rng(3)
    W, e_above, V = rng.normal(size=(30, 10)), rng.normal(size=10), rng.normal(size=30)
    out = np.empty(30)
    backprop_error(W, e_above, V, 0.2, 0.8, out)
    assert_close(out, (W @ e_above) * 0.8 * 0.2 * sig(V) * (1 - sig(V)), "e_bp")


def test_apply_update_is_a_rank_one_update_and_skips_nothing_that_matters():
    rng = np.random.default_rng(4)
    W, b = rng.normal(size=(20, 5)), rng.normal(size=5)
    s, e = rng.uniform(size=20), rng.normal(size=5)
    s[[0, 7]] = 0.0
    W0, b0 = W.copy(), b.copy()
    apply_update(W, b, s, e, 3.5)
    assert_close(W, W0 + 3.5 * np.outer(s, e), "W")
    assert_close(b, b0 + 3.5 * e, "b")
    assert np.array_equal(W[[0, 7]], W0[[0, 7]])  # silent inputs: rows untouched


@pytest.mark.parametrize("a, b, expected", [
    ([1.0, 0.0], [2.0, 0.0], 0.0),            # parallel
    ([1.0, 0.0], [0.0, -3.0], 90.0),          # orthogonal
    ([1.0, 2.0], [-2.0, -4.0], 180.0),        # antiparallel
    ([1.0, 0.0], [1.0, 1.0], 45.0),
    ([1.0, 0.0, 0.0], [1.0, math.sqrt(3.0), 0.0], 60.0),  # cos = 1/2
])
def test_angle_hand_computed(a, b, expected):
    assert angle_degrees(np.array(a), np.array(b)) == pytest.approx(expected, abs=1e-6)


def test_angle_with_a_zero_vector_is_nan():
    assert math.isnan(angle_degrees(np.zeros(3), np.ones(3)))


# ------------------------------------------------------------- whole update


@pytest.mark.parametrize("mode, hidden, train_hidden", [
    ("random", (7,), True), ("random", (), True), ("random", (7, 5), True),
    ("sparse", (7,), True), ("symmetric", (7,), True), ("symmetric", (7, 5), True),
    ("noisy_symmetric", (7, 5), True), ("learned", (7, 5), True), ("backprop", (7, 5), True),
    ("random", (7, 5), False),
])
def test_learn_example_matches_the_numpy_reference(mode, hidden, train_hidden):
    rng = np.random.default_rng(5)
    model = make_model(hidden, mode, train_hidden)
    params = initial_parameters(model, 12, rng)
    example = random_example(model, 12, rng)
    W, b, Y, stats, used, e_bp = reference_learning(params, model, *example)
    record = learn_example(params, model, *example)
    for l in range(len(W)):
        assert_close(params.W[l], W[l], f"W_{l}")
        assert_close(params.b[l], b[l], f"b_{l}")
        assert_close(record[f"e_{l}"], used[l], f"e_{l}")
    for l in range(len(Y)):
        assert_close(params.Y[l], Y[l], f"Y_{l}")
        assert_close(record[f"e_bp_{l}"], e_bp[l], f"e_bp_{l}")
    assert sorted(stats) == sorted(stat_names(len(hidden)))
    for name, value in stats.items():
        # the reference's acos(cos) is only good to ~1e-6 degrees near 0 and 180
        tol = 1e-5 if name.startswith("angle") else 1e-9
        assert record[name] == pytest.approx(value, rel=1e-9, abs=tol), name


def test_backprop_mode_has_zero_angle_and_applies_the_backprop_error():
    rng = np.random.default_rng(6)
    model = make_model((7, 5), "backprop")
    params = initial_parameters(model, 12, rng)
    W0 = params.W[0].copy()
    example = random_example(model, 12, rng)
    record = learn_example(params, model, *example)
    assert record["angle_0"] == pytest.approx(0.0, abs=1e-6)
    assert record["angle_1"] == pytest.approx(0.0, abs=1e-6)
    step = params.W[0] - W0
    expected = model.learning.eta[0] * model.P_hidden * np.outer(example[4][0], record["e_bp_0"])
    assert_close(step, expected, "backprop step")


@pytest.mark.parametrize("hidden", [(7,), (7, 5)])
def test_symmetric_feedback_stays_the_transpose_after_updates(hidden):
    rng = np.random.default_rng(7)
    model = make_model(hidden, "symmetric")
    params = initial_parameters(model, 12, rng)
    for _ in range(3):
        learn_example(params, model, *random_example(model, 12, rng))
    assert_close(params.Y[-1], params.W[-1].T, "Y_top = W_out^T")
    if len(hidden) == 2:
        assert_close(params.Y[0], (params.W[1] @ params.W[2]).T, "Y_0 = (W_1 W_out)^T")


def test_noisy_symmetric_feedback_keeps_its_fixed_noise():
    rng = np.random.default_rng(8)
    model = make_model((7,), "noisy_symmetric")
    params = initial_parameters(model, 12, rng)
    noise = params.Y_noise[0].copy()
    assert np.std(noise) > 0.02  # noise_sd = 0.05
    learn_example(params, model, *random_example(model, 12, rng))
    assert_close(params.Y[0] - params.W[1].T, noise, "Y - W^T")


@pytest.mark.parametrize("mode", ["random", "sparse", "backprop"])
def test_fixed_feedback_modes_never_change_Y(mode):
    rng = np.random.default_rng(9)
    model = make_model((7, 5), mode)
    params = initial_parameters(model, 12, rng)
    Y0 = [y.copy() for y in params.Y]
    learn_example(params, model, *random_example(model, 12, rng))
    assert all(np.array_equal(a, b) for a, b in zip(params.Y, Y0))
    if mode == "sparse":  # 80% zeroed at initialisation, the rest x5
        assert 0.6 < np.mean(params.Y[0] == 0) < 0.95


def test_learned_feedback_moves_along_the_output_update():
    """For the top hidden layer the learned-feedback step is (eta_Y/eta_out) times the
    transpose of the output layer's step."""
    rng = np.random.default_rng(10)
    model = make_model((7,), "learned", eta=(0.1, 0.2), eta_Y=0.05)
    params = initial_parameters(model, 12, rng)
    W1, Y0 = params.W[1].copy(), params.Y[0].copy()
    learn_example(params, model, *random_example(model, 12, rng))
    assert_close(params.Y[0] - Y0, (0.05 / 0.2) * (params.W[1] - W1).T, "dY vs dW_out^T")


def test_shallow_learning_leaves_hidden_weights_alone():
    rng = np.random.default_rng(11)
    model = make_model((7,), "random", train_hidden=False)
    params = initial_parameters(model, 12, rng)
    W0, b0, W1 = params.W[0].copy(), params.b[0].copy(), params.W[1].copy()
    record = learn_example(params, model, *random_example(model, 12, rng))
    assert np.array_equal(params.W[0], W0) and np.array_equal(params.b[0], b0)
    assert not np.array_equal(params.W[1], W1)
    assert 0.0 <= record["angle_0"] <= 180.0  # still measured


def test_learn_example_rejects_wrong_shapes():
    rng = np.random.default_rng(12)
    model = make_model((7,))
    params = initial_parameters(model, 12, rng)
    V_f, af, at, phi, s = random_example(model, 12, rng)
    with pytest.raises(DendrinetError, match="V_f"):
        learn_example(params, model, [V_f[0][:3], V_f[1]], af, at, phi, s)
    with pytest.raises(DendrinetError, match="expected 2 V_f"):
        learn_example(params, model, V_f[:1], af, at, phi, s)


def test_learn_example_passes_the_state_means_to_the_rule(tmp_path):
    """``X_f``, ``X_t`` reach the rule (the hidden update from them alone, by hand), are
    required when the model has extra state variables, and are checked for shape."""
    from network_helpers import state_rule_error, state_rule_model

    rng = np.random.default_rng(13)
    model = state_rule_model(tmp_path, hidden=(7,))
    params = initial_parameters(model, 12, rng)
    before = params.copy()
    V_f, af, at, phi, s = random_example(model, 12, rng)
    w_f, w_t = rng.normal(0, 0.5, (1, 7)), rng.normal(0, 0.5, (1, 7))
    learn_example(params, model, V_f, af, at, phi, s, X_f=[w_f], X_t=[w_t])
    rule = make_rule(model, np.zeros(1))
    e = state_rule_error(w_f[0], w_t[0])
    np.testing.assert_allclose(params.W[0] - before.W[0],
                               rule.eta[0] * rule.P_hid * np.outer(s[0], e), rtol=1e-12)
    with pytest.raises(DendrinetError, match="give X_f"):
        learn_example(params, model, V_f, af, at, phi, s)
    with pytest.raises(DendrinetError, match=r"X_t\[0\] has shape \(2, 7\)"):
        learn_example(params, model, V_f, af, at, phi, s, X_f=[w_f], X_t=[np.zeros((2, 7))])


def test_the_output_slope_setting_reaches_the_kernels(tmp_path):
    import dataclasses

    from dendrinet.config import load_model
    from dendrinet.datasets import load_dataset
    from dendrinet.learning.plasticity import make_rule
    from dendrinet.training import train
    from dendrinet.training.run_folder import Run

    model = load_model("guerguiev2017-0hidden")
    constant = dataclasses.replace(model, learning=dataclasses.replace(
        model.learning, output_slope="constant"))
    assert make_rule(model, np.zeros(0)).output_sigmoid_slope is True
    assert make_rule(constant, np.zeros(0)).output_sigmoid_slope is False
    data = load_dataset("digits", n_train=40, n_test=10)
    for name, m in (("sigmoid", model), ("constant", constant)):
        train(m, "quick", data, tmp_path / name, epochs=1, seed=0, engine="rate",
              progress=False, n_spike_samples=0)
    a, b = Run.open(tmp_path / "sigmoid"), Run.open(tmp_path / "constant")
    np.testing.assert_array_equal(a.weights(0).W[0], b.weights(0).W[0])
    # every update differs by the factor 4 sig'(V_f) <= 1: the constant slope moves more
    change_a = np.abs(a.weights(1).W[0] - a.weights(0).W[0]).sum()
    change_b = np.abs(b.weights(1).W[0] - b.weights(0).W[0]).sum()
    assert change_b > change_a > 0
