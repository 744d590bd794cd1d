"""The layered Brian2 network: weights, schedule, resets, averages, statistics, devices.

Most tests use the numpy code generation target (no compilation); one runs on cython and
one on the C++ standalone device.
"""
import shutil

import numpy as np
import pytest
from network_helpers import (filtered_trains, make_parameters, make_schedule, model_variant,
                             sigmoid)

from dendrinet.errors import DendrinetError
from dendrinet.backends.brian2.network import DendriticNetwork, build_network
from dendrinet.config.schedule import concatenate_schedules
from dendrinet.config import schedule as schedules
from dendrinet.config.schedule import FORWARD, TARGET, TEST

N_IN = 6


# ---------------------------------------------------------------- a reference replay


def _segments(schedule):
    """First step of each stretch of state between resets (a reset zeroes everything)."""
    starts = [0] + [int(s) for s, r in zip(schedule.start, schedule.reset) if r and s > 0]
    return starts + [schedule.total_steps]


def _reference_trains(result, name):
    """``xL - xS`` of a population after every step's update, from its recorded spikes."""
    n_steps, n = result.schedule.total_steps, result.sizes[name]
    times, ids = result.spikes[name]
    steps = np.round(times / result.schedule.dt).astype(int)
    out = np.zeros((n_steps, n))
    bounds = _segments(result.schedule)
    n_model = result.model_neuron
    for a, z in zip(bounds[:-1], bounds[1:]):
        inside = (steps >= a) & (steps < z)
        out[a:z] = filtered_trains(steps[inside] - a, ids[inside], n, z - a,
                                   result.schedule.dt, n_model.tau_L, n_model.tau_s)
    return out


def _reference_soma(V_b, V_inf_and_g, schedule):
    """Exponential-Euler soma driven by the start-of-step dendritic potentials."""
    dt = schedule.dt
    resets = set(_segments(schedule)[:-1])
    V = np.zeros(V_b.shape[1])
    out = np.zeros_like(V_b)
    for n in range(V_b.shape[0]):
        if n in resets:
            V = np.zeros_like(V)
            start_of_step = None
        V_inf, g = V_inf_and_g(n, start_of_step)
        V = V_inf + (V - V_inf) * np.exp(-g * dt)
        out[n] = V
        start_of_step = n
    return out


@pytest.fixture(scope="module")
def replay_run():
    """A 6-5-4-3 network over forward, target, a reset test and a forward presentation."""
    model = model_variant(hidden=(5, 4), n_outputs=3, g_A=0.05)
    rng = np.random.default_rng(7)
    params = make_parameters(model, N_IN, W=0.3, b=0.5, Y=0.2, rng=rng, scale=3.0)
    images = rng.uniform(0, 1, size=(2, N_IN))
    schedule = make_schedule([FORWARD, TARGET, TEST, FORWARD], [30, 30, 40, 25],
                             settle=[10, 10, 12, 5], labels=[2, 2, -1, 1],
                             examples=[0, 0, 1, 0], reset=[False, False, True, False])
    net = DendriticNetwork(model, params, N_IN, schedule.dt, record_traces=("V", "V_b", "V_a"))
    result = net.run(schedule, images, seed=11)
    result.model_neuron = model.neuron
    return model, params, schedule, result


def test_dendrites_and_somata_follow_the_recorded_spikes(replay_run):
    """Every compartment, recomputed in numpy from the recorded spikes with the discrete
    semantics of docs/design.md, equals the recorded traces (two hidden layers)."""
    model, params, schedule, result = replay_run
    n = model.neuron
    s = {name: _reference_trains(result, name) for name in result.sizes}
    assert all(len(result.spikes[name][0]) > 20 for name in result.sizes)  # enough activity
    phase_of_step = schedule.phase[np.repeat(np.arange(len(schedule)), schedule.n_steps)]
    label_of_step = schedule.label[np.repeat(np.arange(len(schedule)), schedule.n_steps)]
    names = list(result.sizes)
    for l, name in enumerate(names[1:]):
        traces = result.traces[name]
        V_b = params.b[l] + s[names[l]] @ params.W[l]
        np.testing.assert_allclose(traces["V_b"], V_b, atol=1e-9)
        if name == "output":
            def V_inf_and_g(step, prev, V_b=V_b):
                dend = V_b[prev] if prev is not None else params.b[l]
                teach = phase_of_step[step] == TARGET
                g_E = np.where(np.arange(len(dend)) == label_of_step[step], 1.0, 0.0) * teach
                g_I = (1.0 - g_E) * teach
                g = n.g_L + n.g_D + g_E + g_I
                return (n.g_D * dend + g_E * n.E_E + g_I * n.E_I) / g, g
        else:
            V_a = s["output"] @ params.Y[l]
            np.testing.assert_allclose(traces["V_a"], V_a, atol=1e-9)

            def V_inf_and_g(step, prev, V_b=V_b, V_a=V_a, l=l):
                dend = V_b[prev] if prev is not None else params.b[l]
                api = V_a[prev] if prev is not None else 0.0
                g = n.g_L + n.g_B + 0.05
                return (n.g_B * dend + 0.05 * api) / g, g
        np.testing.assert_allclose(traces["V"], _reference_soma(V_b, V_inf_and_g, schedule),
                                   atol=1e-9)


def test_window_averages_and_plateaus(replay_run):
    """(f) alpha = sigmoid(mean of the recorded V_a over the window); V_bar, phi_bar and
    s_bar are the window means of V, phi_max sigmoid(V) and the filtered spike trains."""
    model, params, schedule, result = replay_run
    s = {name: _reference_trains(result, name) for name in result.sizes}
    for p in range(len(schedule)):
        window = slice(schedule.start[p] + schedule.settle[p], schedule.start[p] + schedule.n_steps[p])
        for name in result.sizes:
            np.testing.assert_allclose(result.s_bar[name][p], s[name][window].mean(0), atol=1e-9)
            if name == "input":
                continue
            V = result.traces[name]["V"][window]
            np.testing.assert_allclose(result.V_bar[name][p], V.mean(0), atol=1e-12)
            np.testing.assert_allclose(result.phi_bar[name][p],
                                       (model.neuron.phi_max * sigmoid(V)).mean(0), atol=1e-12)
            if name != "output":
                V_a = result.traces[name]["V_a"][window]
                np.testing.assert_allclose(result.alpha[name][p], sigmoid(V_a.mean(0)),
                                           atol=1e-12)
    # the teaching signal separates the plateaus of the forward and target phases
    assert np.abs(result.alpha["hidden_0"][1] - result.alpha["hidden_0"][0]).max() > 1e-3


def test_reset_before_a_test_presentation(replay_run):
    """(g) At the first step of the (reset) test presentation every V equals the one-step
    update from zero; the forward -> target boundary keeps the state."""
    model, params, schedule, result = replay_run
    n, dt = model.neuron, schedule.dt
    first_test, first_target = schedule.start[2], schedule.start[1]
    g = n.g_L + n.g_B + 0.05
    for l, name in enumerate(["hidden_0", "hidden_1"]):
        traces = result.traces[name]
        fresh = n.g_B * params.b[l] / g * (1 - np.exp(-g * dt))  # V_b = b, V_a = f(0) = 0
        np.testing.assert_allclose(traces["V"][first_test], fresh, atol=1e-12)
        np.testing.assert_allclose(traces["V_b"][first_test], params.b[l], atol=1e-15)
        np.testing.assert_allclose(traces["V_a"][first_test], 0.0, atol=1e-15)
        assert np.abs(traces["V"][first_target] - fresh).max() > 1e-3
    g_out = n.g_L + n.g_D
    fresh_out = n.g_D * params.b[-1] / g_out * (1 - np.exp(-g_out * dt))
    np.testing.assert_allclose(result.traces["output"]["V"][first_test], fresh_out, atol=1e-12)


def test_prediction_and_rates_helpers(replay_run):
    model, params, schedule, result = replay_run
    np.testing.assert_array_equal(result.predictions(), np.argmax(result.V_bar["output"], 1))
    times, ids = result.spikes["hidden_0"]
    rates = result.rates("hidden_0")
    assert rates.shape == (4, 5)
    inside = (times >= schedule.t_start[1]) & (times < schedule.t_stop[1])
    assert rates[1].sum() == pytest.approx(inside.sum() / 30.0 * 1000.0)
    assert result.mean_rate("hidden_0") == pytest.approx(len(times) / (5 * 125.0) * 1000.0)


def test_write_store_round_trip(replay_run, tmp_path):
    from dendrinet.store import SpikeStore

    model, params, schedule, result = replay_run
    path = tmp_path / "run.h5"
    result.write_store(path, {"model": model.name, "seed": 11})
    with SpikeStore(path) as store:
        assert store.populations == ["hidden_0", "hidden_1", "input", "output"] or \
            sorted(store.populations) == sorted(result.sizes)
        for name in result.sizes:
            times, ids = store.spikes(name)
            np.testing.assert_array_equal(times, result.spikes[name][0])
            np.testing.assert_array_equal(ids, result.spikes[name][1])
            assert store.n_nodes(name) == result.sizes[name]
        rows = store.presentations
        np.testing.assert_array_equal(rows["phase"], ["forward", "target", "test", "forward"])
        np.testing.assert_array_equal(rows["t_start"], [0, 30, 60, 100])
        np.testing.assert_array_equal(rows["t_stop"], [30, 60, 100, 125])
        np.testing.assert_array_equal(rows["label"], [2, 2, -1, 1])
        assert store.metadata["seed"] == 11
        assert store.t_stop == 125.0


# ---------------------------------------------------------------- structure


def test_weights_are_copied_input_major():
    model = model_variant(hidden=(4,), n_outputs=3)
    params = make_parameters(model, 5, rng=np.random.default_rng(1))
    net = DendriticNetwork(model, params, 5)
    for l, syn in enumerate(net.feedforward):
        i, j = np.asarray(syn.i[:]), np.asarray(syn.j[:])
        np.testing.assert_array_equal(np.asarray(syn.weight[:]), params.W[l][i, j])
    i, j = np.asarray(net.feedback[0].i[:]), np.asarray(net.feedback[0].j[:])
    np.testing.assert_array_equal(np.asarray(net.feedback[0].weight[:]), params.Y[0][i, j])
    W, b, Y = net.get_parameters()
    for got, want in zip(W + b + Y, params.W + params.b + params.Y):
        np.testing.assert_array_equal(got, want)


def test_input_rates_follow_the_intensities():
    """(c) An input of intensity x fires in a fraction phi_max x dt of the steps
    (4-sigma binomial bound); black pixels never fire."""
    levels = np.array([0.0, 0.1, 0.5, 1.0])
    per_level, n_steps = 100, 500
    images = np.repeat(levels, per_level)[None, :]
    model = model_variant(hidden=(1,), n_outputs=2)
    params = make_parameters(model, images.shape[1])
    result = build_network(model, params, images, make_schedule([FORWARD], [n_steps], 0),
                           seed=5)
    _, ids = result.spikes["input"]
    counts = np.bincount(ids // per_level, minlength=len(levels))
    p = model.neuron.phi_max * levels * 1.0
    trials = per_level * n_steps
    assert counts[0] == 0
    assert np.all(np.abs(counts - trials * p) <= 4 * np.sqrt(trials * p * (1 - p)))


def test_target_phase_drives_the_output_rates():
    """(d) No hidden layer, W = 0, b = 0.5: in the target phase the target unit fires at
    phi_max sigmoid(V_inf), V_inf = (g_D b + E_E)/(g_L + g_D + g_E); the others fall
    silent (V_inf with E_I), both within 4-sigma binomial bounds."""
    model = model_variant(hidden=(), n_outputs=10, base="guerguiev2017-0hidden")
    n = model.neuron
    params = make_parameters(model, 4, W=0.0, b=0.5)
    n_steps, settle, label = 1200, 30, 3
    result = build_network(model, params, np.zeros((1, 4)),
                           make_schedule([TARGET], [n_steps], settle, labels=label), seed=2)
    g = n.g_L + n.g_D + model.neuron.g_T
    V_target, V_other = (n.g_D * 0.5 + n.E_E) / g, (n.g_D * 0.5 + n.E_I) / g
    np.testing.assert_allclose(result.V_bar["output"][0, label], V_target, atol=1e-9)
    others = np.arange(10) != label
    np.testing.assert_allclose(result.V_bar["output"][0, others], V_other, atol=1e-9)

    times, ids = result.spikes["output"]
    in_window = times >= settle
    counts = np.bincount(ids[in_window], minlength=10)
    trials = n_steps - settle
    p_target = n.phi_max * sigmoid(V_target)
    assert abs(counts[label] - trials * p_target) <= 4 * np.sqrt(trials * p_target * (1 - p_target))
    p_other = n.phi_max * sigmoid(V_other)
    n_other = trials * 9
    assert abs(counts[others].sum() - n_other * p_other) <= 4 * np.sqrt(n_other * p_other)
    assert counts[others].max() / trials < 0.01 < counts[label] / trials  # spikes per ms


def test_any_number_of_hidden_layers_and_real_schedules():
    """Three hidden layers, the protocol's own schedules: every layer spikes, feedback
    reaches every hidden layer, plateau shapes follow the schedule."""
    from dendrinet.config import load_protocol

    protocol = load_protocol("quick")
    model = model_variant(hidden=(6, 5, 4), n_outputs=3)
    rng = np.random.default_rng(3)
    params = make_parameters(model, N_IN, W=0.5, b=0.5, Y=0.5, rng=rng, scale=2.0)
    images = rng.uniform(size=(3, N_IN))
    schedule = concatenate_schedules(
        schedules.training_schedule(protocol, [0, 1], [0, 2], rng),
        schedules.test_schedule(protocol, [2]))
    result = build_network(model, params, images, schedule, record_traces=("V_a",), seed=4)
    assert list(result.sizes) == ["input", "hidden_0", "hidden_1", "hidden_2", "output"]
    for name in result.sizes:
        assert len(result.spikes[name][0]) > 0, name
    for l in range(3):
        assert result.alpha[f"hidden_{l}"].shape == (5, model.hidden[l])
        assert np.abs(result.traces[f"hidden_{l}"]["V_a"]).max() > 0.1
    np.testing.assert_array_equal(result.schedule.phase, [FORWARD, TARGET, FORWARD, TARGET, TEST])


def test_consecutive_runs_continue_the_state():
    """Two runs of one network equal one run of the concatenated schedule (same spikes
    when no randomness is involved: W = 0 and constant input)."""
    model = model_variant(hidden=(2,), n_outputs=2)
    params = make_parameters(model, 2, W=0.0, b=1.0)
    first = make_schedule([FORWARD], [15], 5)
    second = make_schedule([TARGET], [15], 5, labels=1)
    net = DendriticNetwork(model, params, 2, record_traces=("V",))
    net.run(first, np.zeros((1, 2)))
    part = net.run(second, np.zeros((1, 2)))
    whole = build_network(model, params, np.zeros((1, 2)), concatenate_schedules(first, second),
                          record_traces=("V",))
    np.testing.assert_allclose(part.traces["output"]["V"], whole.traces["output"]["V"][15:],
                               atol=1e-14)
    np.testing.assert_allclose(part.V_bar["output"][0], whole.V_bar["output"][1], atol=1e-14)
    assert part.t_offset == 15.0


# ---------------------------------------------------------------- input validation


@pytest.mark.parametrize("change, message", [
    (lambda p: p.W.__setitem__(0, np.zeros((3, 4))), "layer sizes"),
    (lambda p: p.b[0].__setitem__(0, np.nan), "NaN"),
])
def test_bad_parameters_are_reported(change, message):
    model = model_variant(hidden=(4,), n_outputs=2)
    params = make_parameters(model, 5)
    change(params)
    with pytest.raises(DendrinetError, match=message):
        DendriticNetwork(model, params, 5)


def test_bad_runs_are_reported():
    model = model_variant(hidden=(2,), n_outputs=2)
    params = make_parameters(model, 3)
    with pytest.raises(DendrinetError, match="target"):
        DendriticNetwork(model, params, 3, target="fortran")
    with pytest.raises(DendrinetError, match="traces available"):
        DendriticNetwork(model, params, 3, record_traces=("W",))
    net = DendriticNetwork(model, params, 3)
    with pytest.raises(DendrinetError, match="labels"):
        net.run(make_schedule([TARGET], [10], 2, labels=5), np.zeros((1, 3)))
    with pytest.raises(DendrinetError, match="example 1"):
        net.run(make_schedule([FORWARD], [10], 2, examples=1), np.zeros((1, 3)))
    with pytest.raises(DendrinetError, match="NaN"):
        net.run(make_schedule([FORWARD], [10], 2), np.full((1, 3), np.nan))
    with pytest.raises(DendrinetError, match="3 pixels|input neurons"):
        net.run(make_schedule([FORWARD], [10], 2), np.zeros((1, 4)))
    fast = model_variant(hidden=(2,), n_outputs=2, phi_max=2.0)
    with pytest.raises(DendrinetError, match="phi_max"):
        DendriticNetwork(fast, params, 3)


# ---------------------------------------------------------------- other devices


def _device_check_setup():
    """phi_max = 1/ms: white pixels fire every step, black never; W = 0 into the output
    and Y = 0 keep the somata deterministic."""
    model = model_variant(hidden=(3,), n_outputs=2, phi_max=1.0)
    params = make_parameters(model, 4, W=0.5, b=0.3, Y=0.0)
    params.W[1][:] = 0.0
    images = np.array([[1, 0, 0, 1], [0, 1, 1, 0]], dtype=float)
    schedule = make_schedule([FORWARD, TARGET, TEST], [12, 12, 16], settle=4,
                             labels=[1, 1, -1], examples=[0, 0, 1], reset=[False, False, True])
    return model, params, images, schedule


def _check_device_result(model, params, images, schedule, result):
    times, ids = result.spikes["input"]
    steps = np.round(times).astype(int)
    pres = np.searchsorted(schedule.start, steps, side="right") - 1
    lit = images[schedule.example_id[pres], ids]
    assert np.all(lit == 1.0)  # only white pixels fire ...
    assert len(times) == sum(int(images[e].sum()) * k
                             for e, k in zip(schedule.example_id, schedule.n_steps))  # ... always
    n = model.neuron
    g = n.g_L + n.g_D
    V = result.traces["output"]["V"][:, 0]
    expected = []
    v = 0.0
    for step in range(schedule.total_steps):
        p = np.searchsorted(schedule.start, step, side="right") - 1
        if schedule.reset[p] and step == schedule.start[p]:
            v = 0.0
        teach = schedule.phase[p] == TARGET
        gg = g + (1.0 if teach else 0.0)
        v_inf = (n.g_D * 0.3 + (n.E_I if teach else 0.0)) / gg  # unit 0 is not the label
        v = v_inf + (v - v_inf) * np.exp(-gg)
        expected.append(v)
    np.testing.assert_allclose(V, expected, atol=1e-12)
    for p in range(len(schedule)):
        window = slice(schedule.start[p] + schedule.settle[p],
                       schedule.start[p] + schedule.n_steps[p])
        assert result.V_bar["output"][p, 0] == pytest.approx(np.mean(expected[window]), abs=1e-12)


needs_compiler = pytest.mark.skipif(
    not (shutil.which("g++") or shutil.which("c++")), reason="no C++ compiler")


@needs_compiler
def test_cython_target_matches_numpy():
    """The cython target runs the same code: analytic checks, and the same random stream
    as numpy under the same seed (Brian2 draws both from one Mersenne twister)."""
    pytest.importorskip("Cython")
    model, params, images, schedule = _device_check_setup()
    runs = {target: build_network(model, params, images, schedule, record_traces=("V",),
                                  target=target, seed=9) for target in ("numpy", "cython")}
    _check_device_result(model, params, images, schedule, runs["cython"])
    for name in runs["numpy"].sizes:
        for a, b in zip(runs["numpy"].spikes[name], runs["cython"].spikes[name]):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(runs["cython"].alpha["hidden_0"], runs["numpy"].alpha["hidden_0"],
                               atol=1e-12)


@needs_compiler
def test_cpp_standalone_device(tmp_path):
    """The same network as C++ standalone code (TimedArray lookups, linked flags,
    run_regularly and EventMonitor all work there); the device is reset afterwards."""
    import brian2

    model, params, images, schedule = _device_check_setup()
    flags = brian2.prefs.codegen.cpp.extra_compile_args_gcc
    brian2.prefs.codegen.cpp.extra_compile_args_gcc = ["-w", "-O0"]  # compile fast
    try:
        result = build_network(model, params, images, schedule, record_traces=("V",),
                               device="cpp_standalone", directory=str(tmp_path / "build"),
                               seed=9)
    finally:
        brian2.prefs.codegen.cpp.extra_compile_args_gcc = flags
    assert brian2.get_device().__class__.__name__ == "RuntimeDevice"
    _check_device_result(model, params, images, schedule, result)
    runtime = build_network(model, params, images, schedule, record_traces=("V",), seed=9)
    np.testing.assert_allclose(result.V_bar["hidden_0"], runtime.V_bar["hidden_0"], atol=1e-9)
    for name in result.sizes:
        np.testing.assert_array_equal(result.spikes[name][1], runtime.spikes[name][1])


# ---------------------------------------------------------------- the command line


def test_simulate_command_writes_a_store(tmp_path, capsys):
    from dendrinet.cli import main
    from dendrinet.store import SpikeStore

    out = tmp_path / "sim.h5"
    rc = main(["simulate", "--model", "guerguiev2017-2hidden", "--protocol", "quick",
               "--index", "3", "--n-examples", "2", "--seed", "1", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "448-500-100-10" in text and "alpha 1" in text
    with SpikeStore(out) as store:
        rows = store.presentations
        np.testing.assert_array_equal(rows["example_id"], [3, 3, 4, 4])
        np.testing.assert_array_equal(rows["phase"], ["forward", "target"] * 2)
        assert sorted(store.populations) == ["hidden_0", "hidden_1", "input", "output"]
        assert store.metadata["seed"] == 1 and store.metadata["engine"] == "brian2"
        assert store.n_spikes("hidden_1") > 0
    assert main(["simulate", "--index", "100000"]) == 2
    assert "has 1437 examples" in capsys.readouterr().err
