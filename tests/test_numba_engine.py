"""The fast Numba engine: analytic responses, spike statistics, equality with the
replay of its own spikes, reproducibility, resume, input validation and a learning
check. Small networks (64 inputs, 30 hidden units, 10 outputs)."""
import dataclasses
import math

import numba
import numpy as np
import pytest

from dendrinet.config import load_model, load_protocol
from dendrinet.datasets import load_dataset
from dendrinet.engine.results import population_names
from dendrinet.backends.numba.engine import FastEngine, spikes_from_matrix
from dendrinet.backends.numba.input_spikes import input_events
from dendrinet.jit.numerics import fast_exp_array, sigmoid_array
from dendrinet.jit.random_streams import seed_streams
from dendrinet.backends.numba.engine import replay
from dendrinet.errors import DendrinetError
from dendrinet.config import schedule as schedules
from dendrinet.config.schedule import TARGET, test_schedule, training_schedule
from dendrinet.model.weights import initial_parameters

N_IN = 64


def small_model(hidden=(30,), mode="random", g_A=0.0, **learning):
    base = load_model("guerguiev2017-1hidden")
    eta = learning.pop("eta", tuple([0.2] * (len(hidden) + 1)))
    return dataclasses.replace(
        base, hidden=tuple(hidden),
        neuron=dataclasses.replace(base.neuron, g_A=g_A),
        init=dataclasses.replace(base.init, V_avg=1.0, V_sd=1.0),
        feedback=dataclasses.replace(base.feedback, mode=mode),
        learning=dataclasses.replace(base.learning, eta=eta, **learning))


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def protocol():
    return load_protocol("paper-timing")


def no_spikes(model, n_steps):
    names = ["input"] + [f"hidden_{l}" for l in range(len(model.hidden))] + ["output"]
    return {name: (np.zeros(0), np.zeros(0, np.int64)) for name in names}


# ------------------------------------------------------------------ kernels


def test_fast_exp_and_sigmoid_are_accurate_to_a_few_ulp():
    x = np.linspace(-700.0, 700.0, 200001)
    out = np.empty_like(x)
    fast_exp_array(x, out)
    assert np.max(np.abs(out / np.exp(x) - 1.0)) < 2e-15
    v = np.linspace(-40.0, 40.0, 200001)
    sigmoid_array(v, out)
    assert np.max(np.abs(out / (1.0 / (1.0 + np.exp(-v))) - 1.0)) < 2e-15


def test_input_events_are_independent_bernoulli_per_step():
    """Counts per input within 4 sigma of the binomial mean; spikes in consecutive steps
    of one input, and in the same step of two inputs, as often as independence
    predicts (p^2, p p'); at most one spike per step; silent pixels never draw."""
    p_max, n_steps = 0.2, 20000
    x = np.array([0.0, 0.05, 0.25, 0.5, 1.0, 0.5])
    n_in = x.size
    s0, s1 = np.zeros(n_in, np.uint64), np.zeros(n_in, np.uint64)
    seed_streams(np.uint64(123), s0, s1)
    silent = (s0[0], s1[0])
    scratch = (np.zeros(n_in, np.int64), np.zeros(n_in), np.zeros(n_in, np.uint64),
               np.zeros(n_in, np.uint64), np.zeros(n_in, np.uint8))
    ptr, ids = np.zeros(n_steps + 1, np.int64), np.zeros(n_in * n_steps + 1, np.int64)
    n = input_events(x, p_max, n_steps, s0, s1, *scratch, ptr, ids)
    dense = np.zeros((n_steps, n_in), int)
    steps = np.repeat(np.arange(n_steps), np.diff(ptr))
    np.add.at(dense, (steps, ids[:n]), 1)
    assert dense.max() <= 1 and n == dense.sum() == ptr[-1]
    assert all(np.all(np.diff(ids[ptr[t]:ptr[t + 1]]) > 0) for t in range(100))
    assert (s0[0], s1[0]) == silent
    for i, xi in enumerate(x):
        p = p_max * xi
        count = dense[:, i].sum()
        assert abs(count - n_steps * p) <= 4 * math.sqrt(n_steps * p * (1 - p)) + 1e-9
        pairs = np.sum(dense[1:, i] * dense[:-1, i])
        q = p * p
        assert abs(pairs - (n_steps - 1) * q) <= 4 * math.sqrt(n_steps * q * (1 - q)) + 1e-9
    both = np.sum(dense[:, 3] * dense[:, 5])
    q = (p_max * 0.5) ** 2
    assert abs(both - n_steps * q) <= 4 * math.sqrt(n_steps * q * (1 - q))


@pytest.mark.parametrize("p_max", [0.2, 1.0])
def test_unit_spikes_equal_the_plain_bernoulli_test(p_max):
    """The draw evaluates the sigmoid only for units with u < p_max; its spikes must be
    those of u < p_max sig(V) tested for every unit (same numbers from the same
    streams), and the per-layer spike lists those of the spike vector."""
    from dendrinet.backends.numba.dynamics import _draw, _uniforms, new_scratch
    rng = np.random.default_rng(3)
    uo = np.array([0, 300, 420, 430])
    n = int(uo[-1])
    s0, s1 = np.zeros(n, np.uint64), np.zeros(n, np.uint64)
    seed_streams(np.uint64(77), s0, s1)
    scr = new_scratch(5, n, 3, 10, np.zeros(5 * 300))
    idx, cnt, spk = np.zeros(n + 6, np.int64), np.zeros(4, np.int64), np.zeros(n, np.uint8)
    total = 0
    for step in range(50):
        V = rng.normal(0.0, 4.0, n)
        V[:5] = [-800.0, -40.0, 0.0, 40.0, 800.0]
        r0, r1 = s0.copy(), s1.copy()
        u, flag = np.zeros(n), np.zeros(n, np.uint8)
        _uniforms(r0, r1, 2.0, u, flag)  # the same numbers, all of them
        expected = u < p_max / (1.0 + np.exp(-np.clip(V, -700, 700)))
        _draw(V, s0, s1, p_max, spk, scr, uo, idx, cnt)
        np.testing.assert_array_equal(spk.astype(bool), expected)
        np.testing.assert_array_equal(s0, r0)  # every stream advanced by one number
        for l in range(3):
            np.testing.assert_array_equal(idx[cnt[l]:cnt[l + 1]],
                                          np.flatnonzero(expected[uo[l]:uo[l + 1]]))
        total += expected.sum()
    assert total > 1000  # spikes were tested, not only silence


# ---------------------------------------------------------- analytic checks


def test_soma_relaxes_to_the_analytic_steady_state(digits, protocol):
    """No spikes: V_b = b, V_a = 0, so hidden V -> g_B b / g and, in the target phase,
    output V -> (g_D b + g_T E) / g with E = E_E for the label and E_I otherwise; from
    V = 0 exponential Euler gives exactly V_inf (1 - exp(-g dt)^(n + 1)) after n + 1 steps."""
    model = small_model(g_A=0.05)
    params = initial_parameters(model, N_IN, 0)
    sched = training_schedule(dataclasses.replace(protocol, jitter=False), [0], [3],
                              np.random.default_rng(0))
    res = replay(model, params, sched, no_spikes(model, sched.total_steps))
    nrn = model.neuron
    g_hid = nrn.g_L + nrn.g_B + nrn.g_A
    steps = np.arange(sched.n_steps[0]) + 1.0
    V_hidden = res.traces["hidden_0"]["V"][:sched.n_steps[0]]
    expected = np.outer(1 - np.exp(-g_hid * steps), nrn.g_B * params.b[0] / g_hid)
    np.testing.assert_allclose(V_hidden, expected, rtol=1e-12, atol=1e-12)
    # target phase: the steady state (after 52 steps the transient is e^-88)
    g_t = nrn.g_L + nrn.g_D + 1.0
    drive = np.full(10, nrn.E_I)
    drive[3] = nrn.E_E
    V_out_end = res.traces["output"]["V"][-1]
    np.testing.assert_allclose(V_out_end, (nrn.g_D * params.b[1] + drive) / g_t, rtol=1e-12)
    # the window average of the forward phase: g_D b / (g_L + g_D) to e^-21
    np.testing.assert_allclose(res.V_bar["output"][0], nrn.k_D * params.b[1], rtol=1e-9)


def test_one_input_spike_gives_the_sampled_psp_kernel(protocol):
    """A spike of input 5 at step 10: V_b of every hidden unit is b + W[5, :] k(t) at the
    end of step 10 + m (t = m dt), with k(t) = (exp(-t/tau_L) - exp(-t/tau_s))/(tau_L -
    tau_s); the presynaptic s of input 5 is k itself."""
    model = small_model()
    params = initial_parameters(model, N_IN, 1)
    sched = test_schedule(protocol, [0])
    spikes = no_spikes(model, sched.total_steps)
    spikes["input"] = (np.array([10.0]), np.array([5]))
    res = replay(model, params, sched, spikes)
    nrn = model.neuron
    m = np.arange(sched.total_steps) - 10.0
    k = np.where(m > 0, (np.exp(-m / nrn.tau_L) - np.exp(-m / nrn.tau_s))
                 / (nrn.tau_L - nrn.tau_s), 0.0)
    V_b = res.traces["hidden_0"]["V_b"]
    expected = params.b[0][None, :] + k[:, None] * params.W[0][5][None, :]
    np.testing.assert_allclose(V_b, expected, rtol=0, atol=1e-9)
    assert np.max(np.abs(V_b - params.b[0])) > 1e-3  # the PSP is really there
    window = slice(protocol.test_settle_steps, None)
    assert res.s_bar["input"][0, 5] == pytest.approx(k[window].mean(), rel=1e-12)


# --------------------------------------------------------- fast == replay


@pytest.mark.parametrize("mode, hidden, g_A, precision", [
    ("random", (30,), 0.0, "single"),           # projected apical potential
    ("random", (30,), 0.0, "double"),
    ("random", (30,), 0.05, "single"),          # explicit apical traces acting on the soma
    ("symmetric", (30, 20), 0.0, "single"),
    ("learned", (30,), 0.0, "single"),
    ("backprop", (30, 20), 0.0, "single"),
    ("random", (), 0.0, "single"),
    ("random", (), 0.0, "double"),
])
def test_training_equals_the_replay_of_its_own_spikes(digits, protocol, mode, hidden, g_A,
                                                      precision):
    """Record every spike of 25 training examples, replay them through the reference
    step (explicit traces, plasticity after each target phase, the same input
    precision): parameters, plateau vectors and per-example records agree to 1e-10."""
    model = small_model(hidden, mode, g_A)
    params = initial_parameters(model, N_IN, 2)
    start = params.copy()
    eng = FastEngine(model, protocol, params, seed=5, input_precision=precision)
    hist, sched, rec = eng._train(digits.X_train[:25], digits.y_train[:25], None, None, 4,
                                  record=True)
    spikes = spikes_from_matrix(rec, eng.layout, protocol.dt, population_names(model))
    res = replay(model, start, sched, spikes,
                 learn=True, input_precision=precision)
    moved = max(np.max(np.abs(a - b)) for a, b in zip(params.W, start.W))
    assert moved > 1e-2  # learning happened
    for name in ("W", "b", "Y"):
        for a, b in zip(getattr(params, name), getattr(res.params, name)):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
    for key in res.records:
        if key != "presentation":
            np.testing.assert_allclose(hist[key], res.records[key], rtol=1e-10, atol=1e-10)
    if hidden:
        fwd = sched.phase[res.records["presentation"] - 1] != TARGET
        assert fwd.all()
        rows = res.records["presentation"][hist["sample_position"]] - 1
        np.testing.assert_allclose(hist["alpha_f_0"], res.alpha["hidden_0"][rows], atol=1e-10)


def test_a_rule_reading_the_models_own_state_trains_as_its_replay(digits, protocol, tmp_path):
    """A rule that reads only the window means of an adaptation variable (``X_f``,
    ``X_t``): training equals the replay of its own spikes to 1e-10, and learns."""
    from network_helpers import state_rule_model

    model = state_rule_model(tmp_path, hidden=(30,))
    params = initial_parameters(model, N_IN, 2)
    start = params.copy()
    eng = FastEngine(model, protocol, params, seed=5)
    _, sched, rec = eng._train(digits.X_train[:10], digits.y_train[:10], None, None, 4,
                               record=True)
    spikes = spikes_from_matrix(rec, eng.layout, protocol.dt, population_names(model))
    res = replay(model, start, sched, spikes, learn=True, input_precision="single")
    assert np.abs(params.W[0] - start.W[0]).max() > 1e-4  # the rule's errors moved W_0
    for a, b in zip(params.W + params.b, res.params.W + res.params.b):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


def test_test_presentations_equal_their_replay(digits, protocol):
    model = small_model((30,))
    params = initial_parameters(model, N_IN, 3)
    eng = FastEngine(model, protocol, params, seed=1)
    ids = np.array([4, 9, 17])
    rec = eng.record_spikes(digits.X_test, ids, labels=digits.y_test[ids])
    sched = test_schedule(protocol, ids, digits.y_test[ids])
    res = replay(model, params, sched, {k: rec[k] for k in ("input", "hidden_0", "output")},
                 input_precision="single")
    np.testing.assert_allclose(res.V_bar["output"], rec["mean_V"], rtol=0, atol=1e-10)
    full = eng.evaluate(digits.X_test[:20])
    np.testing.assert_array_equal(full["mean_V"][ids], rec["mean_V"])
    pres = rec["presentations"]
    np.testing.assert_array_equal(pres["example_id"], ids)
    np.testing.assert_allclose(pres["t_start"], sched.t_start)
    np.testing.assert_allclose(pres["t_stop"], sched.t_stop)
    times, neurons = rec["hidden_0"]
    assert np.all(np.diff(times) >= 0) and neurons.max() < 30


def test_present_equals_the_replay_of_its_own_spikes(digits, protocol):
    """Any schedule (forward, target with teaching, test with reset): the phase averages,
    plateaus and traces of ``present`` are those its own spikes give in the replay, and
    nothing is learned."""
    model = small_model((30,))
    params = initial_parameters(model, N_IN, 4)
    before = params.copy()
    eng = FastEngine(model, protocol, params, seed=2)
    ids = np.array([3, 8])
    rng = np.random.default_rng(5)
    sched = schedules.concatenate_schedules(
        training_schedule(protocol, ids, digits.y_train[ids], rng),
        test_schedule(protocol, ids, digits.y_train[ids]))
    result = eng.present(digits.X_train, sched)
    res = replay(model, params, sched, result.spikes, input_precision="single")
    for name in ("hidden_0", "output"):
        np.testing.assert_allclose(result.V_bar[name], res.V_bar[name], rtol=0, atol=1e-10)
        np.testing.assert_allclose(result.phi_bar[name], res.phi_bar[name], rtol=0, atol=1e-10)
        np.testing.assert_allclose(result.traces[name]["V"], res.traces[name]["V"], rtol=0,
                                   atol=1e-10)
    np.testing.assert_allclose(result.alpha["hidden_0"], res.alpha["hidden_0"], rtol=0,
                               atol=1e-10)
    # the target phase pulls the label's output neuron up (teaching input E_E = 8)
    target = np.flatnonzero(sched.phase == TARGET)
    labels = sched.label[target]
    assert np.all(result.V_bar["output"][target, labels] > 2.0)
    assert all(np.array_equal(a, b) for a, b in zip(params.W, before.W))
    assert sum(len(t) for t, _ in result.spikes.values()) > 100


def test_present_does_not_disturb_the_training_stream(digits, protocol):
    model = small_model((20,))
    runs = []
    for present_first in (False, True):
        params = initial_parameters(model, N_IN, 6)
        eng = FastEngine(model, protocol, params, seed=9)
        if present_first:
            eng.present(digits.X_train, test_schedule(protocol, np.arange(2)))
        eng.train_epoch(digits.X_train[:20], digits.y_train[:20])
        runs.append(params.W[0].copy())
    np.testing.assert_array_equal(runs[0], runs[1])


# ----------------------------------------------------- rates, reproducibility


def test_single_precision_inputs_stay_within_the_rounding_bound(digits, protocol):
    """The same spikes with the input rows summed in float32 and in float64: a step's
    sum of m rows errs by at most (m + 1) 2^-24 sum_i |W_ij| (weights rounded once,
    m - 1 float32 additions, one conversion), so every potential differs by at most
    (m_max + 1) 2^-24 times the basal potential the same spikes give with |W|
    (the error is filtered by the same positive kernels); it is not 0 and below the
    1e-6 of the equivalence with Brian2 (tests/test_equivalence.py)."""
    model = small_model((30,))
    params = initial_parameters(model, N_IN, 4)
    sched = training_schedule(protocol, [0, 1, 2], digits.y_train[:3], np.random.default_rng(1))
    rng = np.random.default_rng(6)
    T = sched.total_steps
    spikes = {"input": (rng.random((T, N_IN)) < 0.1).astype(np.uint8),
              "hidden_0": (rng.random((T, 30)) < 0.05).astype(np.uint8),
              "output": (rng.random((T, 10)) < 0.05).astype(np.uint8)}
    single = replay(model, params, sched, spikes, input_precision="single")
    double = replay(model, params, sched, spikes, input_precision="double")
    envelope_params = params.copy()  # V_b - b with |W|: hidden V_b sees only the inputs
    envelope_params.W[0] = np.abs(params.W[0])
    envelope_params.b[0] = np.zeros_like(params.b[0])
    envelope = replay(model, envelope_params, sched, spikes).traces["hidden_0"]["V_b"]
    m_max = int(spikes["input"].sum(axis=1).max())
    bound = (m_max + 1) * 2.0 ** -24 * np.abs(envelope).max()
    diff = {var: np.abs(single.traces["hidden_0"][var] - double.traces["hidden_0"][var]).max()
            for var in ("V", "V_b")}
    assert 0 < diff["V_b"] <= bound
    assert diff["V"] <= bound
    assert diff["V_b"] < 1e-6  # within the tolerance of the equivalence with Brian2


def test_spike_rates_match_the_bernoulli_probabilities(protocol):
    """Input neuron i of an image with intensity x_i fires at phi_max x_i per step: counts
    over 40 test presentations within 4 sigma of the binomial mean, per intensity."""
    model = small_model()
    params = initial_parameters(model, N_IN, 4)
    eng = FastEngine(model, protocol, params, seed=9)
    levels = np.array([0.0, 0.125, 0.5, 1.0])
    image = np.repeat(levels, N_IN // levels.size)[None, :]
    X = np.repeat(image, 40, axis=0)
    rec = eng.record_spikes(X, np.arange(40))
    times, ids = rec["input"]
    n_trials = 40 * protocol.test_steps * (N_IN // levels.size)
    for k, x in enumerate(levels):
        p = model.neuron.phi_max * protocol.dt * x
        count = np.count_nonzero(image[0, ids] == x)
        assert abs(count - n_trials * p) <= 4 * math.sqrt(n_trials * p * (1 - p)) + 1e-9


def test_same_seed_same_results_other_seed_differs(digits, protocol):
    def run(seed):
        model = small_model()
        params = initial_parameters(model, N_IN, 0)
        eng = FastEngine(model, protocol, params, seed=seed)
        hist = eng.train_epoch(digits.X_train[:60], digits.y_train[:60])
        return params, hist, eng.evaluate(digits.X_test[:30])["mean_V"]

    pa, ha, ma = run(11)
    pb, hb, mb = run(11)
    pc, hc, mc = run(12)
    assert all(np.array_equal(a, b) for a, b in zip(pa.W, pb.W))
    assert np.array_equal(ha["loss_out"], hb["loss_out"]) and np.array_equal(ma, mb)
    assert not np.array_equal(pa.W[0], pc.W[0])
    assert not np.array_equal(ma, mc)


def test_evaluation_does_not_depend_on_the_number_of_threads(digits, protocol):
    model = small_model()
    params = initial_parameters(model, N_IN, 0)
    eng = FastEngine(model, protocol, params, seed=3)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = eng.evaluate(digits.X_test[:40])["mean_V"]
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, eng.evaluate(digits.X_test[:40])["mean_V"])


def test_resume_from_state_is_bit_for_bit(digits, protocol, tmp_path):
    """Train 1 epoch, save parameters + engine state (npz round trip), train a second
    epoch; a new engine restored from the files reaches the same parameters."""
    model = small_model()
    order = np.random.default_rng(0).permutation(120)
    params = initial_parameters(model, N_IN, 0)
    eng = FastEngine(model, protocol, params, seed=7)
    eng.train_epoch(digits.X_train[:120], digits.y_train[:120], order=order)
    np.savez(tmp_path / "state.npz", **eng.get_state())
    params.save(tmp_path / "params.npz")
    hist_a = eng.train_epoch(digits.X_train[:120], digits.y_train[:120], order=order[::-1])

    from dendrinet.model.weights import Parameters
    params_b = Parameters.load(tmp_path / "params.npz")
    eng_b = FastEngine(model, protocol, params_b, seed=7)
    with np.load(tmp_path / "state.npz") as data:
        eng_b.set_state(dict(data))
    hist_b = eng_b.train_epoch(digits.X_train[:120], digits.y_train[:120], order=order[::-1])
    for a, b in zip(params.W + params.b, params_b.W + params_b.b):
        assert np.array_equal(a, b)
    assert np.array_equal(hist_a["loss_out"], hist_b["loss_out"])


# ------------------------------------------------------------------ learning


def test_learns_digits_far_below_chance(digits, protocol):
    """64-30-10 on scikit-learn digits (1437 train / 360 test), 3 epochs.

    Chance is 90 % error; with 360 test examples a chance-level classifier has a
    binomial s.d. of 1.6 %, so an error below 50 % is 25 s.d. below chance: learning
    without doubt. Runs reach 15-35 % (the rule learns slowly on 64-pixel images)."""
    model = small_model(eta=(1.0, 1.0))
    params = initial_parameters(model, N_IN, 0)
    eng = FastEngine(model, protocol, params, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(3):
        hist = eng.train_epoch(digits.X_train, digits.y_train,
                               order=rng.permutation(digits.n_train))
    assert np.isfinite(hist["angle_0"]).mean() > 0.9
    assert eng.evaluate(digits.X_test, digits.y_test)["error"] < 0.5


def test_eta_decay_scales_the_rates_per_epoch(digits, protocol):
    """``eta_decay = 0``: the first epoch learns exactly as with constant rates (factor
    0**0 = 1), the second changes no weight; ``0.5``: epoch 3 learns at eta / 8."""
    from dendrinet.learning.plasticity import make_rule
    order = np.arange(60)
    X, y = digits.X_train[:60], digits.y_train[:60]

    def epochs(decay, n):
        model = small_model(eta_decay=decay)
        params = initial_parameters(model, N_IN, 0)
        eng = FastEngine(model, protocol, params, seed=5)
        out = []
        for _ in range(n):
            eng.train_epoch(X, y, order=order)
            out.append([w.copy() for w in params.W + params.b])
        return out

    constant, stopped = epochs(1.0, 1), epochs(0.0, 2)
    assert all(np.array_equal(a, b) for a, b in zip(constant[0], stopped[0]))
    assert all(np.array_equal(a, b) for a, b in zip(stopped[0], stopped[1]))
    assert not np.array_equal(constant[0][0], initial_parameters(small_model(), N_IN, 0).W[0])
    half = small_model(eta=(0.4, 0.1), eta_decay=0.5)
    assert np.array_equal(make_rule(half, np.zeros(1), 3).eta, [0.05, 0.0125])


# ---------------------------------------------------------------- validation


def test_equations_it_cannot_generate_are_refused_with_a_pointer_to_brian2(protocol):
    """Edited equations run (tests/test_codegen.py); time-dependent ones only on Brian2."""
    base = small_model()
    model = dataclasses.replace(base, equations=dataclasses.replace(
        base.equations, hidden_soma="0.1*sin(2*pi*10*Hz*t)/ms"))
    with pytest.raises(DendrinetError, match=r"the time t .*--engine brian2"):
        FastEngine(model, protocol, initial_parameters(model, N_IN, 0))


@pytest.mark.parametrize("X, y, match", [
    (np.zeros((5, 63)), np.zeros(5, int), "63 pixels"),
    (np.full((5, 64), np.nan), np.zeros(5, int), "NaN"),
    (np.full((5, 64), 2.0), np.zeros(5, int), "<= 1"),
    (np.full((5, 64), -0.1), np.zeros(5, int), ">= 0"),
    (np.zeros((5, 64)), np.array([0, 1, 2, 3, 10]), r"\[0, 10\)"),
    (np.zeros((5, 64)), np.zeros(4, int), "5 labels"),
    (np.zeros((5, 64)), np.full(5, 0.5), "whole numbers"),
])
def test_bad_training_input_is_rejected(protocol, X, y, match):
    model = small_model()
    eng = FastEngine(model, protocol, initial_parameters(model, N_IN, 0))
    with pytest.raises(DendrinetError, match=match):
        eng.train_epoch(X, y)


def test_bad_order_state_and_parameters_are_rejected(protocol):
    model = small_model()
    params = initial_parameters(model, N_IN, 0)
    eng = FastEngine(model, protocol, params)
    with pytest.raises(DendrinetError, match="order"):
        eng.train_epoch(np.zeros((3, 64)), np.zeros(3, int), order=[0, 5])
    with pytest.raises(DendrinetError, match="lacks"):
        eng.set_state({"V": np.zeros(40)})
    state = eng.get_state()
    state["V"] = np.zeros(7)
    with pytest.raises(DendrinetError, match="'V'"):
        eng.set_state(state)
    with pytest.raises(DendrinetError, match="layer sizes"):
        FastEngine(small_model(hidden=(20,)), protocol, params)
    with pytest.raises(DendrinetError, match="example_ids"):
        eng.record_spikes(np.zeros((3, 64)), [3])
    with pytest.raises(DendrinetError, match="input_precision must be 'single' or 'double'"):
        FastEngine(model, protocol, params, input_precision="half")
    with pytest.raises(DendrinetError, match="input_precision"):
        replay(model, params, test_schedule(protocol, [0]), no_spikes(model, 1),
               input_precision="float16")
    old_state = eng.get_state()
    old_state["format"] = np.array(1)
    with pytest.raises(DendrinetError, match="format 1.*start the run anew"):
        eng.set_state(old_state)
