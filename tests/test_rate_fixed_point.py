"""Phases at their fixed point (:mod:`dendrinet.backends.rate.fixed_point`): the rate
engine's fast path.

What is asserted: the fixed point of the standard neuron is the closed form of its
equations (hidden and output layers, free and taught); it is the limit of the stepped
mean field (a long phase agrees to 1e-9, also for a generated neuron with an extra state
variable and for apical input to the soma); at the protocol ``guerguiev2017``'s own phase
lengths it differs from stepping by less than the transient it leaves out
(:data:`~dendrinet.backends.rate.engine.TRANSIENT_LIMIT` of a window mean), in the phase
averages and in one example's weight change; training resumes bit for bit; ``auto``
chooses fixed points exactly where the bound allows.
"""
from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from network_helpers import make_schedule, model_variant  # noqa: E402

from dendrinet.backends import make_engine  # noqa: E402
from dendrinet.backends.numba import dynamics  # noqa: E402
from dendrinet.backends.rate import fixed_point as fp  # noqa: E402
from dendrinet.backends.rate import rate_kernels as kernels  # noqa: E402
from dendrinet.backends.rate.engine import (TRANSIENT_LIMIT, RateEngine,  # noqa: E402
                                            choose_phases, transient_share)
from dendrinet.config import load_model, load_protocol  # noqa: E402
from dendrinet.datasets import load_dataset  # noqa: E402
from dendrinet.errors import DendrinetError  # noqa: E402
from dendrinet.model.weights import initial_parameters  # noqa: E402

ADAPTING = dict(hidden_extra="dw/dt = (a_w*V - w)/tau_w : 1", hidden_soma="-w/ms",
                parameters=(("a_w", "0.5"), ("tau_w", "20 ms")))
ALL = (dynamics.ACC_V | dynamics.ACC_S | dynamics.ACC_VA | dynamics.ACC_PHI_ALL
       | dynamics.ACC_X | dynamics.APICAL)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", n_train=200, n_test=100)


def _engine(model, digits, phases="fixed-point", protocol="guerguiev2017", seed=0):
    params = initial_parameters(model, digits.n_inputs, seed)
    return RateEngine(model, load_protocol(protocol), params, seed, phases=phases)


def _trained(model, digits, n=60):
    """An engine after ``n`` examples (weights and state away from their start)."""
    engine = _engine(model, digits, "stepped")
    engine.train_epoch(digits.X_train, digits.y_train, order=np.arange(n))
    return engine


def _copy_state(engine):
    lay = engine.layout
    st = dynamics.make_state(lay.n_inputs, lay.n_units, engine._part.n_extra)
    for name in st._fields:
        getattr(st, name)[...] = getattr(engine._state, name)
    return st


def _phase(engine, x, label, n_steps, settle, teach, how, apical=None):
    """Window means (V, s, phi, Va, X) of one phase from the engine's state, stepped or at
    the fixed point, and the state after it."""
    lay = engine.layout
    apical = engine._apical_train if apical is None else apical
    net, _ = engine._net()
    st = _copy_state(engine)
    scr = engine._scratch()
    acc = dynamics.new_acc(lay.n_inputs, lay.n_units, net.n_x)
    kernels.input_drive(net, x, scr)
    if how == "stepped":
        kernels.transpose_upper(net, scr.WT)
        z8, z3 = np.zeros((1, 1)), np.zeros((1, 1, 1))
        flags = ALL if apical else ALL & ~dynamics.APICAL
        kernels.rate_presentation(net, st, scr, acc, n_steps, settle, teach, label, flags,
                                  z8, z8, z8, z3, 0, 0.0)
    else:
        steady = fp.new_steady_scratch(lay.n_units, engine._part.n_extra)
        fp.steady_presentation(net, st, scr, steady, acc, n_steps, settle, teach, label,
                               apical, fp.FIXED_POINT_TOL, True, False)
    nw = n_steps - settle
    means = {"V": acc.V / nw, "s": acc.s / nw, "phi": acc.phi / nw, "s_in": acc.s_in / nw}
    if apical:
        means["Va"] = acc.Va[:lay.n_hidden_units] / nw
    if net.n_x:
        means["X"] = acc.X / nw
    return means, st, net


# ------------------------------------------------------------------ closed forms


def test_the_transient_share_of_one_layer_is_its_geometric_sum():
    """One layer, an instantaneous soma and short kernel (``E = dS = 0``): ``V_b`` at
    step ``t >= 1`` is ``1 - dL^(t-1)`` (the input arrives one step late), so the window
    mean of the deviation is ``dL^(settle-1) (1 - dL^n) / ((1 - dL) n)``."""
    d, settle, n = 0.8, 5, 7
    expected = d ** (settle - 1) * (1 - d ** n) / ((1 - d) * n)
    assert fp.transient_share(1, d, 0.0, 0.0, 0.0, settle, n) == pytest.approx(expected)
    assert fp.transient_share(1, d, 0.0, 0.0, 0.0, 5, 0) == math.inf
    # more layers, a slower soma: more transient left
    shares = [fp.transient_share(k, 0.9, 0.7, 0.5, 0.5, 30, 20) for k in (1, 2, 3)]
    assert shares[0] < shares[1] < shares[2] < 1
    assert fp.transient_share(1, 0.9, 0.7, 0.8, 0.8, 30, 20) > shares[0]


@pytest.mark.parametrize("teach", [False, True])
def test_the_standard_neurons_fixed_point_is_the_closed_form(digits, teach):
    """Traces at ``J c d / (1 - d)``, so ``V_b = J c (1/(1 - dL) - 1/(1 - dS)) + b``;
    hidden soma ``g_B / g V_b``; output ``g_D / g V_b`` plus the teaching drive (taught)
    with ``c = W^T p`` and ``p = p_max sig(V)`` of the layer below."""
    model = model_variant(hidden=(12, 7), n_outputs=10)
    engine = _trained(model, digits)
    label = 3
    _, st, net = _phase(engine, digits.X_train[100], label, 300, 250, teach, "fixed-point")
    J, dL, dS = net.J, net.dL, net.dS
    p = net.p_max * digits.X_train[100]
    V_hand = []
    for l, (W, b) in enumerate(zip(engine.params.W, engine.params.b)):
        V_b = J * (W.T @ p) * (1 / (1 - dL) - 1 / (1 - dS)) + b
        if l < len(engine.params.W) - 1:
            V = net.cB * V_b
        elif teach:
            drive = np.where(np.arange(V_b.size) == label, net.drive_E, net.drive_I)
            V = net.cD_teach * V_b + drive
        else:
            V = net.cD_free * V_b
        V_hand.append(V)
        p = net.p_max / (1 + np.exp(-V))
    np.testing.assert_allclose(st.V, np.concatenate(V_hand), rtol=0, atol=1e-9)


@pytest.mark.parametrize("case", ["standard", "no-hidden", "apical-soma", "adapting"])
def test_the_fixed_point_is_the_limit_of_stepping(digits, case):
    """A phase of 3000 steps, its window the last 500: the stepped window means equal the
    fixed point's to 1e-9 (the standard neuron; ``g_A = 0.05``, where the apical input
    acts on the soma and the layers are swept; a generated neuron with an adaptation
    variable, iterated with extrapolation), and so does the state left after it."""
    if case == "standard":
        model = model_variant(hidden=(12, 7), n_outputs=10)
    elif case == "no-hidden":
        model = model_variant(hidden=(), n_outputs=10)
    elif case == "apical-soma":
        model = model_variant(hidden=(12, 7), n_outputs=10, g_A=0.05)
    else:
        model = model_variant(hidden=(12,), n_outputs=10, equations=ADAPTING)
    engine = _trained(model, digits)
    assert engine._apical_train == (case in ("apical-soma", "adapting"))
    for teach in (False, True):
        a, st_a, _ = _phase(engine, digits.X_train[101], 5, 3000, 2500, teach, "stepped")
        b, st_b, _ = _phase(engine, digits.X_train[101], 5, 3000, 2500, teach, "fixed-point")
        for name in a:
            scale = max(1.0, np.abs(a[name]).max())
            assert np.abs(a[name] - b[name]).max() < 1e-9 * scale, name
        for name in ("V", "bL", "bS", "xL", "xS", "xinL", "xinS", "X"):
            x, y = getattr(st_a, name), getattr(st_b, name)
            if not x.size:
                continue
            assert np.abs(x - y).max() < 1e-9 * max(1.0, np.abs(x).max()), name
        if case == "apical-soma":
            assert np.abs(st_a.aL - st_b.aL).max() < 1e-9 * np.abs(st_a.aL).max()
    if case == "adapting":
        assert np.abs(st_b.X).max() > 1e-3  # the extra variable took part
        assert np.abs(b["X"]).max() > 1e-3  # and its window means were compared


def test_at_the_protocols_phase_lengths_it_leaves_out_only_the_transient(digits):
    """guerguiev2017 (120 ms phases, means after 90 ms): fixed point and stepping differ
    by at most the transient share of each window mean's scale, though they do differ
    (the transient is real)."""
    model = model_variant(hidden=(30, 10), n_outputs=10)
    engine = _trained(model, digits)
    share = transient_share(model, engine.protocol, 90, 30)
    assert share < TRANSIENT_LIMIT
    for teach in (False, True):
        a, _, _ = _phase(engine, digits.X_train[102], 2, 120, 90, teach, "stepped")
        b, _, _ = _phase(engine, digits.X_train[102], 2, 120, 90, teach, "fixed-point")
        for name in ("V", "s", "phi"):
            diff = np.abs(a[name] - b[name]).max()
            assert diff < share * np.abs(a[name]).max(), name
        assert np.abs(a["V"] - b["V"]).max() > 1e-9


def test_the_first_layer_at_its_fixed_point_is_the_spiking_expectation(digits):
    """Relation to the spiking engine, same weights: a 120 ms forward phase from rest,
    averaged after 90 ms; the first hidden layer's mean ``V`` at the fixed point is the
    mean of 400 spiking trials within 4 standard errors (it is linear in the input
    spikes; the transient left out holds under 1e-4 of it)."""
    model = model_variant(hidden=(20,), n_outputs=10)
    engine = _engine(model, digits, seed=4)
    schedule = make_schedule([0], 120, 90, examples=[7], reset=[True])
    fast = make_engine("fast", model, load_protocol("guerguiev2017"), engine.params.copy(), 0)
    samples = np.array([fast.present(digits.X_train, schedule, seed=s).V_bar["hidden_0"][0]
                        for s in range(400)])
    means, _, _ = _phase(engine, digits.X_train[7], -1, 120, 90, False, "fixed-point")
    se = samples.std(axis=0, ddof=1) / np.sqrt(len(samples))
    z = np.abs(means["V"][:20] - samples.mean(axis=0)) / se
    assert z.max() < 4.0
    assert np.abs(means["V"][:20]).max() > 10 * se.max()  # the bound is not trivial


def test_one_examples_weight_change_agrees_with_stepping(digits):
    """From the same weights and state, one training example changes every weight matrix
    by the stepped engine's change to within 1 % of its largest entry."""
    model = model_variant(hidden=(30, 10), n_outputs=10)
    start = _trained(model, digits)
    changes = {}
    for how in ("stepped", "fixed-point"):
        engine = _engine(model, digits, how)
        engine.params = start.params.copy()
        engine.set_state(start.get_state())
        before = [W.copy() for W in engine.params.W]
        engine.train_epoch(digits.X_train, digits.y_train, order=np.array([120]))
        changes[how] = [W - W0 for W, W0 in zip(engine.params.W, before)]
    for a, b in zip(changes["stepped"], changes["fixed-point"]):
        assert np.abs(a).max() > 0
        assert np.abs(a - b).max() < 0.01 * np.abs(a).max()


def test_training_resumes_bit_for_bit(digits):
    model = model_variant(hidden=(20,), n_outputs=10)
    straight = _engine(model, digits)
    for _ in range(2):
        straight.train_epoch(digits.X_train, digits.y_train)
    first = _engine(model, digits)
    first.train_epoch(digits.X_train, digits.y_train)
    second = _engine(model, digits)
    second.params = first.params.copy()
    second.set_state(first.get_state())
    second.train_epoch(digits.X_train, digits.y_train)
    for a, b in zip(straight.params.W, second.params.W):
        np.testing.assert_array_equal(a, b)


def test_tests_at_the_fixed_point_predict_as_stepping(digits):
    """1000 ms test presentations (from rest; means after 30 ms): mean output potentials
    within the transient share of their scale of the stepped ones, and the same
    prediction wherever the two highest stepped potentials differ by more than twice the
    largest difference (a barely trained network: near ties are common)."""
    model = model_variant(hidden=(20,), n_outputs=10)
    engine = _trained(model, digits, n=200)
    fixed = _engine(model, digits, "fixed-point")
    fixed.params = engine.params.copy()
    a = engine.evaluate(digits.X_test)
    b = fixed.evaluate(digits.X_test)
    share = transient_share(model, engine.protocol, 30, 970)
    diff = np.abs(a["mean_V"] - b["mean_V"]).max()
    assert diff < share * np.abs(a["mean_V"]).max()
    top = np.sort(a["mean_V"], axis=1)
    clear = top[:, -1] - top[:, -2] > 2 * diff
    assert clear.sum() > 80
    np.testing.assert_array_equal(a["pred"][clear], b["pred"][clear])


def test_a_few_fixed_point_epochs_learn_the_digits():
    digits = load_dataset("digits")
    model = dataclasses.replace(load_model("guerguiev2017-1hidden"), hidden=(50,))
    engine = make_engine("rate", model, load_protocol("guerguiev2017"),
                         initial_parameters(model, digits.n_inputs, 0), 0)
    assert engine.phases == {"train": "fixed-point", "test": "fixed-point"}
    errors = [1 - engine.train_epoch(digits.X_train, digits.y_train)["correct"].mean()
              for _ in range(3)]
    assert errors[-1] < errors[0] - 0.2
    assert engine.evaluate(digits.X_test, digits.y_test)["error"] < 0.2


@pytest.mark.filterwarnings("ignore:training error")
def test_a_run_records_how_its_phases_ran(tmp_path, digits, capsys):
    from dendrinet.training.run_folder import Run
    from dendrinet.training.trainer import train

    model = model_variant(hidden=(10,), n_outputs=10)
    for protocol, how in (("guerguiev2017", "fixed-point"), ("quick", "stepped")):
        out = tmp_path / protocol
        train(model, protocol, digits, out, epochs=1, engine="rate", progress=True,
              n_spike_samples=0)
        settings = Run.open(out).info["engine_settings"]
        assert settings["phases"] == {"train": how, "test": how}
    assert "engine: rate engine (mean field, Numba; phases at their fixed points)" in \
        capsys.readouterr().out


# ----------------------------------------------------------------- the choice


def test_auto_takes_fixed_points_where_the_bound_allows():
    """guerguiev2017 (120 ms phases averaged after 90 ms, 1000 ms tests after 30 ms):
    fixed points up to two hidden layers, tests stepped with three; paper-timing (50 ms
    phases after 30 ms, 250 ms tests) trains stepped, and tests stepped from one hidden
    layer on."""
    g2017, paper = load_protocol("guerguiev2017"), load_protocol("paper-timing")
    for hidden in ((), (500,), (500, 100)):
        model = model_variant(hidden=hidden, n_outputs=10)
        assert choose_phases(model, g2017) == {"train": "fixed-point", "test": "fixed-point"}
        assert transient_share(model, g2017, 90, 30) <= TRANSIENT_LIMIT
        assert choose_phases(model, paper) == {
            "train": "stepped", "test": "stepped" if hidden else "fixed-point"}
        assert transient_share(model, paper, 30, 20) > TRANSIENT_LIMIT
    deep = model_variant(hidden=(50, 50, 50), n_outputs=10)
    assert transient_share(deep, g2017, 30, 970) > TRANSIENT_LIMIT
    assert choose_phases(deep, g2017)["test"] == "stepped"


def test_a_state_that_never_settles_is_one_clear_error(digits):
    """A generated neuron whose extra variable drifts under any constant input has no
    fixed point: training and tests forced to fixed points say so and what to do."""
    drifting = model_variant(hidden=(8,), n_outputs=10, equations=dict(
        hidden_extra="dw/dt = 1/(100*ms) : 1", hidden_soma="-w/ms"))
    engine = _engine(drifting, digits, "fixed-point")
    for call in (lambda: engine.train_epoch(digits.X_train[:2], digits.y_train[:2]),
                 lambda: engine.evaluate(digits.X_test[:3])):
        with pytest.raises(DendrinetError, match=r"reached no fixed point within 5000 steps "
                                                 r".*phases=\"stepped\""):
            call()
    stepped = _engine(drifting, digits, "auto")  # own equations: stepped, no such error
    assert np.isfinite(stepped.evaluate(digits.X_test[:3])["mean_V"]).all()


def test_own_equations_step_unless_told(digits):
    model = model_variant(hidden=(8,), n_outputs=10, equations=ADAPTING)
    protocol = load_protocol("guerguiev2017")
    assert choose_phases(model, protocol) == {"train": "stepped", "test": "stepped"}
    assert choose_phases(model, protocol, "fixed-point")["train"] == "fixed-point"
    engine = _engine(model, digits, "auto")
    assert engine.settings()["phases"] == {"train": "stepped", "test": "stepped"}
    assert "every step" in engine.describe()
    with pytest.raises(DendrinetError, match="phases must be one of auto, fixed-point, "
                                             "stepped, got 'steady'"):
        _engine(model, digits, "steady")
