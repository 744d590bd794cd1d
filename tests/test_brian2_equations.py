"""The Brian2 equations against analytic solutions (numpy code generation target)."""
import numpy as np
import pytest
from network_helpers import kernel, make_parameters, make_schedule, model_variant

from dendrinet.model import equations
from dendrinet.config import load_model
from dendrinet.backends.brian2.network import DendriticNetwork
from dendrinet.config.schedule import FORWARD, TARGET


def test_equations_have_honest_units():
    from brian2 import Equations, Hz
    from brian2.units.fundamentalunits import DIMENSIONLESS

    model = load_model("guerguiev2017-2hidden")
    hidden = Equations(equations.hidden_equations(model))
    output = Equations(equations.output_equations(model))
    inputs = Equations(equations.input_equations(model))
    assert set(hidden.diff_eq_names) == {"V", "bL", "bS", "aL", "aS", "xL", "xS"}
    assert set(output.diff_eq_names) == {"V", "bL", "bS", "xL", "xS"}
    assert set(inputs.diff_eq_names) == {"xL", "xS"}
    for name in ("V", "V_b", "V_a", "V_a_lin", "bL", "s", "b"):
        assert hidden[name].dim is DIMENSIONLESS, name
    assert hidden["phi"].dim == Hz.dim and output["phi"].dim == Hz.dim
    assert output["g_E"].dim == Hz.dim and inputs["rate"].dim == Hz.dim
    ns = equations.namespace(model)
    assert float(ns["phi_max"]) == pytest.approx(200.0)  # Hz
    assert float(ns["g_B"]) == pytest.approx(600.0)       # 0.6 /ms in 1/s
    assert ns["psp_jump"] == pytest.approx(1 / 7)


def test_user_terms_appear_in_the_equations():
    model = model_variant(equations={"apical": "2*tanh(V_a_lin/2)", "hidden_soma": "0.1/ms",
                                     "output_soma": "-0.2/ms"})
    hidden, output = equations.hidden_equations(model), equations.output_equations(model)
    assert "V_a = 2*tanh(V_a_lin/2) : 1" in hidden
    assert "+ (0.1/ms) : 1" in hidden and "+ (-0.2/ms) : 1" in output


def _run(model, params, n_inputs, schedule, images=None, traces=("V", "V_b", "V_a"), seed=3):
    images = np.zeros((1, n_inputs)) if images is None else images
    net = DendriticNetwork(model, params, n_inputs, schedule.dt, record_traces=traces)
    return net.run(schedule, images, seed=seed)


def test_steady_state_with_basal_and_apical_input():
    """(a) Constant V_b = b and V_a = 1.5: V -> (g_B V_b + g_A V_a)/(g_L + g_B + g_A);
    a user soma term c adds c/g."""
    n = model_variant(hidden=(2,)).neuron
    g_A, V_b, V_a = 0.05, 2.0, 1.5
    for soma_term, extra in (("", 0.0), ("0.1/ms", 0.1)):
        model = model_variant(hidden=(2,), g_A=g_A,
                              equations={"apical": "V_a_lin + 1.5", "hidden_soma": soma_term})
        params = make_parameters(model, 3, W=0.0, b=V_b, Y=0.0)
        result = _run(model, params, 3, make_schedule([FORWARD], [80], settle=50))
        expected = (n.g_B * V_b + g_A * V_a + extra) / (n.g_L + n.g_B + g_A)
        traces = result.traces["hidden_0"]
        np.testing.assert_allclose(traces["V_a"], V_a, atol=1e-12)
        np.testing.assert_allclose(traces["V"][-1], expected, atol=1e-6)
        np.testing.assert_allclose(result.V_bar["hidden_0"][0], expected, atol=1e-6)


def test_exponential_euler_matches_the_step_response():
    """(e) From V = 0 under constant input, V after step n is V_inf (1 - exp(-g (n+1) dt));
    the target phase switches the output's conductance and V relaxes monotonically to the
    new V_inf (forward Euler at g dt = 1.7 would alternate around it)."""
    model = model_variant(hidden=(2,), n_outputs=2)
    n = model.neuron
    b_hid, b_out, n_fwd, n_tgt = 1.3, 0.7, 20, 30
    params = make_parameters(model, 2, W=0.0, b=b_hid, Y=0.0)
    params.b[-1][:] = b_out
    schedule = make_schedule([FORWARD, TARGET], [n_fwd, n_tgt], settle=5, labels=1)
    result = _run(model, params, 2, schedule, traces=("V",))
    steps = np.arange(n_fwd + n_tgt)

    g = n.g_L + n.g_B
    hidden_expected = n.g_B * b_hid / g * (1 - np.exp(-g * (steps + 1) * 1.0))
    np.testing.assert_allclose(result.traces["hidden_0"]["V"],
                               np.repeat(hidden_expected[:, None], 2, 1), atol=1e-12)

    V_out = result.traces["output"]["V"]
    g1 = n.g_L + n.g_D
    fwd = n.g_D * b_out / g1 * (1 - np.exp(-g1 * (steps[:n_fwd] + 1)))
    g2 = g1 + model.neuron.g_T
    later = steps[n_fwd:] - n_fwd + 1
    for unit, E in ((1, n.E_E), (0, n.E_I)):
        V_inf = (n.g_D * b_out + E) / g2
        expected = np.concatenate([fwd, V_inf + (fwd[-1] - V_inf) * np.exp(-g2 * later)])
        np.testing.assert_allclose(V_out[:, unit], expected, atol=1e-12)
        gap = V_out[n_fwd:, unit] - V_inf
        assert np.all(np.sign(gap[:10]) == np.sign(gap[0]))  # no overshoot
    assert g2 * schedule.dt > 1.5  # the regime where forward Euler oscillates


def test_single_input_spike_gives_the_kernel():
    """(b) One input spike at step 0 (phi_max = 1/ms and a white pixel make it certain):
    the basal potential after step m is b + w k(m dt), peaking on the grid next to
    t* = tau_L tau_s/(tau_L - tau_s) ln(tau_L/tau_s), summing to 1 up to the computed
    discretisation and truncation errors; the soma first feels it one step later."""
    model = model_variant(hidden=(1,), phi_max=1.0)
    n = model.neuron
    tau_L, tau_s, dt, w, b, M = n.tau_L, n.tau_s, 1.0, 1.0, 0.25, 150
    params = make_parameters(model, 1, W=w, b=b, Y=0.0)
    images = np.array([[1.0], [0.0]])  # white pixel for one step, then black
    schedule = make_schedule([FORWARD, FORWARD], [1, M - 1], settle=0, examples=[0, 1])
    result = _run(model, params, 1, schedule, images=images, traces=("V", "V_b"))

    times, ids = result.spikes["input"]
    np.testing.assert_array_equal(times, [0.0])
    np.testing.assert_array_equal(ids, [0])
    response = result.traces["hidden_0"]["V_b"][:, 0] - b
    grid = np.arange(M) * dt
    exact = w * kernel(grid, tau_L, tau_s)
    np.testing.assert_allclose(response, exact, atol=1e-9)

    t_star = tau_L * tau_s / (tau_L - tau_s) * np.log(tau_L / tau_s)
    t_peak = grid[np.argmax(response)]
    assert t_peak in (np.floor(t_star / dt) * dt, np.ceil(t_star / dt) * dt)
    k_max = kernel(t_star, tau_L, tau_s)
    curvature = (1 / tau_L**2 + 1 / tau_s**2) / (tau_L - tau_s)  # bound on |k''|
    assert 0 <= k_max - response.max() <= curvature * dt**2 / 8

    a, c = np.exp(-dt / tau_L), np.exp(-dt / tau_s)
    riemann_sum = dt / (tau_L - tau_s) * (1 / (1 - a) - 1 / (1 - c))  # sum over all m >= 0
    tail = dt / (tau_L - tau_s) * (a**M / (1 - a) - c**M / (1 - c))  # steps m >= M
    area = response.sum() * dt
    assert area == pytest.approx(riemann_sum - tail, abs=1e-9)
    assert abs(area - 1) <= abs(riemann_sum - 1) + tail + 1e-9
    assert abs(riemann_sum - 1) < 0.01  # dt^2/(12 tau_L tau_s) to leading order

    # The soma integrates the basal potential of the start of each step.
    g = n.g_L + n.g_B
    V_b_used = b + np.concatenate([[0.0], response[:-1]])
    V, expected = 0.0, []
    for vb in V_b_used:
        V_inf = n.g_B * vb / g
        V = V_inf + (V - V_inf) * np.exp(-g * dt)
        expected.append(V)
    np.testing.assert_allclose(result.traces["hidden_0"]["V"][:, 0], expected, atol=1e-12)
    no_spike = n.g_B * b / g * (1 - np.exp(-g * dt * np.arange(1, 3)))
    np.testing.assert_allclose(expected[:2], no_spike, atol=1e-15)  # k(0) = 0 at step 1


@pytest.mark.parametrize("terms, message", [
    ({"hidden_soma": "-0.1*V**3/ms"}, "linear in V"),
    ({"apical": "V_a_lim"}, "V_a_lim"),
    ({"apical": "V_a_lin*ms"}, "unit"),
])
def test_bad_user_terms_are_reported(terms, message):
    from dendrinet.errors import DendrinetError

    model = model_variant(hidden=(2,), equations=terms)
    with pytest.raises(DendrinetError, match=message):
        _run(model, make_parameters(model, 2), 2, make_schedule([FORWARD], [5], 1))
