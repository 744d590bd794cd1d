"""The fast engine's neuron update generated from the Brian2 equations.

1. Edited models (each kind of edit the model files allow) replayed with the spikes the
   Brian2 network drew: every potential, extra state variable and plateau within 1e-6
   of Brian2's, and visibly different from the standard model's (the edit acts).
2. The generator given the standard equations reproduces the hand-written update (to
   rounding), so the hand-written special case gives the same results.
3. Mistakes in equations get one message naming the model file, the equation and the
   fix, before anything is compiled.
"""
import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
from network_helpers import model_variant, train_and_test_schedule

from dendrinet.config import schedule as schedules
from dendrinet.backends.brian2.network import DendriticNetwork
from dendrinet.backends.numba.codegen import ModelEquationError
from dendrinet.backends.numba.engine import replay
from dendrinet.backends.numba import replay as replay_module
from dendrinet.backends.numba.model_part import model_part, neuron_source
from dendrinet.config import ConfigError, load_model, load_protocol
from dendrinet.datasets import load_dataset
from dendrinet.model.weights import initial_parameters

TOLERANCE = 1e-6
PARAMETERS = (("a_w", "0.5"), ("tau_w", "50 ms"))

#: One model per kind of edit (README / docs: "Write your own dendritic neuron").
EDITS = {
    "apical-nonlinearity": dict(equations=dict(apical="2*tanh(V_a_lin/2)"), g_A=0.05),
    "somatic-terms": dict(equations=dict(hidden_soma="0.02*V_a*(2 - V)/ms",
                                         output_soma="-0.05*tanh(V_b)*V/ms")),
    "state-variables": dict(equations=dict(
        hidden_extra="dw/dt = (a_w*V - w)/tau_w : 1", hidden_soma="-w/ms",
        output_extra="dz/dt = (V_b - z)/tau_w : 1", output_soma="0.1*z/ms",
        parameters=PARAMETERS)),
    "conductance-coupling": dict(equations=dict(
        hidden_coupling="g_B*(V_b - V) + g_A*plateau*(E_E - V)",
        hidden_extra="plateau = 1/(1 + exp(-V_a)) : 1"), g_A=0.05),
}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", n_train=20, n_test=10)


def _setup(digits, model, seed=5):
    return train_and_test_schedule(model, digits, seed)


@pytest.mark.parametrize("edit", list(EDITS))
def test_edited_model_replays_brian2_within_tolerance(digits, edit):
    spec = dict(EDITS[edit])
    model = model_variant(hidden=(20,), n_outputs=10, **spec)
    extras = [v for text in (model.equations.hidden_extra, model.equations.output_extra)
              for v in ("w", "z") if text.startswith(f"d{v}/dt")]
    protocol, params, schedule = _setup(digits, model)
    net = DendriticNetwork(model, params, digits.n_inputs, protocol.dt,
                           record_traces=("V", "V_b", "V_a", *extras))
    brian = net.run(schedule, digits.X_train, seed=21)
    assert all(len(brian.spikes[name][0]) > 30 for name in brian.sizes)
    fast = replay(model, params, schedule, brian.spikes)
    compared = 0
    for name in list(brian.sizes)[1:]:
        for var, trace in brian.traces[name].items():
            np.testing.assert_allclose(fast.traces[name][var], trace, rtol=0, atol=TOLERANCE,
                                       err_msg=f"{edit}: {name}.{var}")
            compared += 1
        np.testing.assert_allclose(fast.V_bar[name], brian.V_bar[name], atol=TOLERANCE)
        np.testing.assert_allclose(fast.phi_bar[name], brian.phi_bar[name], atol=TOLERANCE)
        if name != "output":
            np.testing.assert_allclose(fast.alpha[name], brian.alpha[name], atol=TOLERANCE)
        # the window means of the model's own state variables (what rules read as X_f,
        # X_t): Brian2's sums equal the fast engine's, which are the traces' means
        assert set(fast.X_bar.get(name, {})) == set(brian.X_bar.get(name, {}))
        for var, means in fast.X_bar.get(name, {}).items():
            np.testing.assert_allclose(means, brian.X_bar[name][var], rtol=0, atol=TOLERANCE,
                                       err_msg=f"{edit}: {name}.{var} window means")
            for k in range(len(schedule)):
                start = schedule.start[k]
                window = fast.traces[name][var][start + schedule.settle[k]:
                                                start + schedule.n_steps[k]]
                np.testing.assert_allclose(means[k], window.mean(axis=0), rtol=1e-12,
                                           atol=1e-15)
            compared += 1
    # V, V_b, V_a (hidden), V, V_b (output), extras' traces and window means
    assert compared == 3 + 2 + 2 * len(extras)
    # the edit acts: the standard equations, same spikes, give other potentials
    standard = model_variant(hidden=(20,), n_outputs=10,
                             **{k: v for k, v in spec.items() if k != "equations"})
    plain = replay(standard, params, schedule, brian.spikes)
    changed = max(np.abs(plain.traces[name]["V"] - fast.traces[name]["V"]).max()
                  for name in list(brian.sizes)[1:])
    assert changed > 1e-3, edit


def test_generator_reproduces_the_hand_written_standard_update(digits):
    """Same spike trains through the hand-written kernels and through code generated from
    the standard equations: equal to rounding (1e-12), learning included."""
    model = model_variant(hidden=(20,), n_outputs=10, g_A=0.05)
    protocol, params, schedule = _setup(digits, model, seed=9)
    rng = np.random.default_rng(2)
    T = int(schedule.total_steps)
    spikes = {name: (rng.random((T, n)) < p).astype(np.uint8)
              for name, n, p in zip(["input", "hidden_0", "output"], (64, 20, 10),
                                    (0.05, 0.04, 0.05))}
    generated = model_part(model, generate=True)
    assert generated.generated and "_new_V" in (generated.folder / "neuron.py").read_text()
    a = replay(model, params, schedule, spikes, learn=True)
    standard = replay_module.model_part
    try:  # the same replay, through the generated neuron part
        replay_module.model_part = lambda m: generated
        b = replay(model, params, schedule, spikes, learn=True)
    finally:
        replay_module.model_part = standard
    for name in ("hidden_0", "output"):
        for var in a.traces[name]:
            np.testing.assert_allclose(b.traces[name][var], a.traces[name][var], rtol=0,
                                       atol=1e-12, err_msg=f"{name}.{var}")
    for l in range(2):
        np.testing.assert_allclose(b.params.W[l], a.params.W[l], rtol=0, atol=1e-12)
        assert np.abs(a.params.W[l] - params.W[l]).max() > 1e-6  # it learned


def test_generated_module_is_cached_under_a_hash_of_the_equations(tmp_path, monkeypatch):
    monkeypatch.setenv("DENDRINET_CACHE", str(tmp_path))
    one = model_variant(hidden=(5,), equations=dict(apical="tanh(V_a_lin)"))
    two = model_variant(hidden=(5,), equations=dict(apical="tanh(2*V_a_lin)"))
    first, again, other = model_part(one), model_part(one), model_part(two)
    assert first is again and first.folder == again.folder
    assert other.folder != first.folder
    assert sorted(p.name for p in tmp_path.joinpath("generated").iterdir()) == sorted(
        [first.folder.name, other.folder.name])
    assert "tanh(aL - aS)" in (first.folder / "neuron.py").read_text()
    # the module holds the neuron part only: the engine's kernels are not copied
    assert sorted(p.name for p in first.folder.glob("*.py")) == ["__init__.py", "neuron.py"]
    # the model's name is recorded as data beside the code (dendrinet cache lists it)
    info = json.loads((first.folder / "dendrinet-package.json").read_text())
    assert info["model"] == one.name


def test_parameters_are_read_at_run_time_in_SI_units():
    model = model_variant(hidden=(5,), equations=dict(
        hidden_extra="dw/dt = (a_w*V - w)/tau_w : 1", hidden_soma="-w/ms",
        parameters=PARAMETERS))
    text = neuron_source(model)
    assert "EXTRA_STATE = {'hidden': ('w',), 'output': ()}" in text
    names = ("E_E", "E_I", "a_w", "g_A", "g_B", "g_D", "g_L", "g_T", "tau_w")
    assert f"PARAMETERS = {names!r}" in text
    # no value in the source: another value gives the same text (the same machine code)
    for value in ("0.5", "0.8", "1e-3"):
        other = dataclasses.replace(model, equations=dataclasses.replace(
            model.equations, parameters=(("a_w", value), ("tau_w", "50 ms"))))
        assert neuron_source(other) == text
    assert "0.5" not in text.split("PARAMETERS")[1] and "700" not in text
    # the values, in SI units: 1/tau_w = 20 /s, g_L + g_B + g_A = 700 /s, a_w = 0.5
    values = dict(zip(names, model_part(model).parameter_values(model)))
    assert values["a_w"] == 0.5 and values["tau_w"] == 0.05
    assert values["g_L"] + values["g_B"] + values["g_A"] == pytest.approx(700.0)
    # parameter-only terms are computed once per call, before the loop over units
    update = text.split("def update_hidden(")[1].split("def ")[0]
    before_loop, loop = update.split("for j__ in range")
    assert "exp(" in before_loop and "tau_w" in before_loop


def test_work_on_parameters_alone_is_done_before_the_loop():
    """With values read at run time SymPy cannot fold them: the generator collects the
    terms of sums and takes every parameter-only expression out of the loop, so the
    standard equations cost per unit what the hand-written update does."""
    text = neuron_source(load_model("guerguiev2017-1hidden"), generate=True)
    update = text.split("def update_hidden(")[1].split("def ")[0]
    before_loop, loop = update.split("for j__ in range")
    assert "exp(dt*(-g_A - g_B - g_L))" in before_loop
    assert "g_B*(b + bL - bS)" in loop  # one product, not g_B*b + g_B*bL - g_B*bS
    body = [line for line in loop.splitlines() if "_cse" in line or "_new_" in line]
    assert not any("exp(" in line or "g_L" in line for line in body), body


def test_a_value_change_compiles_nothing_and_changes_the_dynamics(digits):
    """Two models that differ in one parameter value run the same compiled functions
    (nothing is compiled for the second), and the value acts: another trajectory."""
    base = model_variant(hidden=(20,), n_outputs=10, equations=dict(
        hidden_extra="dw/dt = (a_w*V - w)/tau_w : 1", hidden_soma="-w/ms",
        parameters=PARAMETERS))
    strong = dataclasses.replace(base, equations=dataclasses.replace(
        base.equations, parameters=(("a_w", "3.0"), ("tau_w", "50 ms"))))
    protocol, params, schedule = _setup(digits, base)
    rng = np.random.default_rng(4)
    T = int(schedule.total_steps)
    spikes = {name: (rng.random((T, n)) < 0.05).astype(np.uint8)
              for name, n in zip(["input", "hidden_0", "output"], (64, 20, 10))}
    a = replay(base, params, schedule, spikes)
    part = model_part(base)
    compiled = {f: len(getattr(part.module, f).signatures)
                for f in ("update_hidden", "update_output", "add_apical", "apical_row")}
    from dendrinet.backends.numba import drivers, dynamics
    kernels = {f: len(f.signatures) for f in (dynamics.run_presentation, replay_module._replay_run)}
    b = replay(strong, params, schedule, spikes)
    assert model_part(strong) is part
    assert {f: len(getattr(part.module, f).signatures) for f in compiled} == compiled
    assert {f: len(f.signatures) for f in kernels} == kernels
    # a_w = 3 drives w harder: w and V differ
    assert np.abs(b.traces["hidden_0"]["w"] - a.traces["hidden_0"]["w"]).max() > 1e-3
    assert np.abs(b.traces["hidden_0"]["V"] - a.traces["hidden_0"]["V"]).max() > 1e-3
    del drivers


ERRORS = {
    "unknown name": (dict(hidden_soma="foo*V/ms"), ["'foo'", "[equations.parameters]"]),
    "units": (dict(hidden_soma="0.02*V_a"), ["inconsistent units", "1/ms"]),
    "time": (dict(hidden_soma="0.1*sin(2*pi*10*Hz*t)/ms"), ["time t", "--engine brian2"]),
    "random apical": (dict(apical="V_a_lin + 0.1*randn()"),
                      ["V_a that draws random numbers", "--engine brian2"]),
    "noisy subexpression in V_a": (dict(
        hidden_extra="noise = 0.1*rand() : 1 (constant over dt)", apical="V_a_lin + noise"),
        ["'constant over dt'", "--engine brian2"]),
    "own spike trace": (dict(output_soma="xL/ms"), ["own spike trace", "--engine brian2"]),
    "not integrable": (dict(hidden_extra="dw/dt = -w**2/(10*ms) : 1"),
                       ["exponential Euler", "linear in its own variable"]),
    "syntax": (dict(hidden_extra="dw/dt = (V - w/(10*ms) : 1"), ["cannot read", "hidden_extra"]),
    "redefined variable": (dict(hidden_extra="V_a = 3 : 1"), ["Duplicate", "V_a"]),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_equation_mistakes_get_one_message(case):
    terms, phrases = ERRORS[case]
    model = model_variant(hidden=(5,), equations=terms)
    with pytest.raises(ModelEquationError) as info:
        neuron_source(model)
    message = str(info.value)
    assert message.startswith("guerguiev2017-1hidden.toml")  # names the model file
    for phrase in phrases:
        assert phrase in message, message
    assert "\n" not in message and "Traceback" not in message


def test_bad_parameter_units_and_empty_apical_are_config_errors(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('extends = "guerguiev2017-1hidden"\n[equations]\napical = ""\n')
    with pytest.raises(ConfigError, match="apical: cannot be empty"):
        load_model(path)
    path.write_text('extends = "guerguiev2017-1hidden"\n[equations]\nhidden_soma = "-w/ms"\n'
                    '[equations.parameters]\nw = "3 parsecs"\n')
    with pytest.raises(ConfigError, match=r"bad.toml .*\[equations.parameters\].w"):
        neuron_source(load_model(path))
    path.write_text('extends = "guerguiev2017-1hidden"\n[equations.parameters]\ng_L = 0.3\n')
    with pytest.raises(ConfigError, match="already defined"):
        load_model(path)


def test_cli_reports_an_equation_mistake_in_one_line(tmp_path):
    path = tmp_path / "typo.toml"
    path.write_text('extends = "guerguiev2017-1hidden"\n[equations]\n'
                    'hidden_soma = "0.1*V_aa/ms"\n')
    out = subprocess.run([sys.executable, "-m", "dendrinet.cli", "train", "--model", str(path),
                          "--dataset", "digits", "--epochs", "1", "--out",
                          str(tmp_path / "run")], capture_output=True, text=True)
    assert out.returncode == 2, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "typo.toml" in lines[0] and "'V_aa'" in lines[0], out.stderr
    assert not (tmp_path / "run" / "summary.json").exists()


# ------------------------------------------------------------- random numbers

#: Two noise-driven variables: ``q`` low-pass filters a uniform number drawn once per step
#: (a subexpression "constant over dt", as Brian2 computes it), ``z`` a normal one
#: written in the equation itself.
NOISY = dict(hidden_extra="noise = rand() : 1 (constant over dt)\n"
                          "dq/dt = (noise - q)/tau_q : 1\n"
                          "dz/dt = (0.5*randn() - z)/tau_q : 1",
             parameters=(("tau_q", "20 ms"),))


def _noise_draws(traces, d):
    """The numbers behind ``q`` and ``z``: exponential Euler gives
    ``q' = u + (q - u) d`` and ``z' = 0.5 xi (1 - d) + z d``, so ``u`` and ``xi`` are
    recovered exactly from consecutive steps of the traces."""
    q, z = traces["q"], traces["z"]
    u = (q[1:] - d * q[:-1]) / (1 - d)
    xi = (z[1:] - d * z[:-1]) / (0.5 * (1 - d))
    return u, xi


def test_rand_and_randn_in_the_equations_are_per_unit_and_step_numbers(digits):
    """The fast engine's numbers recovered from the traces (2000 steps, 200 units): ``u``
    uniform on [0, 1) and ``xi`` standard normal (moments within 5 standard errors, a
    Kolmogorov-Smirnov test), independent from step to step and from unit to unit
    (correlations within 5/sqrt(n)); the same seed gives the same numbers, another seed
    others; the spikes are those of the same model without noise (the numbers do not
    consume the spike streams)."""
    from scipy import stats

    from dendrinet.backends.numba.engine import FastEngine
    from network_helpers import make_schedule

    model = model_variant(hidden=(200,), n_outputs=10, equations=NOISY)
    quiet = model_variant(hidden=(200,), n_outputs=10, equations=dict(
        hidden_extra="dq/dt = (0.5 - q)/tau_q : 1\ndz/dt = -z/tau_q : 1",
        parameters=(("tau_q", "20 ms"),)))
    protocol = load_protocol("paper-timing")
    params = initial_parameters(model, digits.n_inputs, np.random.default_rng(1))
    schedule = make_schedule([schedules.TEST], 2000, 0, examples=[3], reset=[True])
    noisy = FastEngine(model, protocol, params.copy(), seed=8)
    a = noisy.present(digits.X_train, schedule)
    d = np.exp(-protocol.dt / 20.0)
    u, xi = _noise_draws(a.traces["hidden_0"], d)
    n = u.size
    assert u.min() >= -1e-9 and u.max() < 1 + 1e-9
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / n)
    assert abs(u.var() - 1 / 12) < 5 * np.sqrt(1 / 180 / n)  # Var of (u - 1/2)^2: 1/180
    assert abs(xi.mean()) < 5 / np.sqrt(n) and abs(xi.var() - 1) < 5 * np.sqrt(2 / n)
    assert stats.kstest(u.ravel(), "uniform").pvalue > 1e-4
    assert stats.kstest(xi.ravel(), "norm").pvalue > 1e-4
    # independent in time (lag 1) and across units (neighbours), and u from xi
    bound = 5 / np.sqrt(n)
    for x, y in ((u[1:], u[:-1]), (u[:, 1:], u[:, :-1]), (xi[1:], xi[:-1]), (u, xi)):
        assert abs(np.corrcoef(x.ravel(), y.ravel())[0, 1]) < bound
    # reproducible, seeded
    again = FastEngine(model, protocol, params.copy(), seed=8).present(digits.X_train, schedule)
    np.testing.assert_array_equal(again.traces["hidden_0"]["q"], a.traces["hidden_0"]["q"])
    other = FastEngine(model, protocol, params.copy(), seed=9).present(digits.X_train, schedule)
    assert np.abs(other.traces["hidden_0"]["q"] - a.traces["hidden_0"]["q"]).max() > 0.1
    # the spike draws are untouched
    plain = FastEngine(quiet, protocol, params.copy(), seed=8).present(digits.X_train, schedule)
    for name in ("hidden_0", "output"):
        np.testing.assert_array_equal(plain.spikes[name][0], a.spikes[name][0])
        np.testing.assert_array_equal(plain.spikes[name][1], a.spikes[name][1])
    assert len(a.spikes["hidden_0"][0]) > 1000


def test_brian2_draws_the_same_kind_of_numbers(digits):
    """Brian2 (numpy target) runs the same equations with its own generator: its
    recovered numbers have the fast engine's distribution (moments within 5 standard
    errors; 600 steps, 100 units), so the two engines integrate the noise alike."""
    model = model_variant(hidden=(100,), n_outputs=10, equations=NOISY)
    protocol = load_protocol("paper-timing")
    params = initial_parameters(model, digits.n_inputs, np.random.default_rng(1))
    schedule = schedules.test_schedule(protocol, [3, 4, 5], digits.y_train[[3, 4, 5]])
    net = DendriticNetwork(model, params, digits.n_inputs, protocol.dt,
                           record_traces=("q", "z"))
    brian = net.run(schedule, digits.X_train, seed=4)
    d = np.exp(-protocol.dt / 20.0)
    # within each presentation (the state is reset between them)
    parts = [_noise_draws({v: brian.traces["hidden_0"][v][s:s + m] for v in ("q", "z")}, d)
             for s, m in zip(schedule.start, schedule.n_steps)]
    u = np.concatenate([p[0] for p in parts])
    xi = np.concatenate([p[1] for p in parts])
    n = u.size
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / n)
    assert abs(u.var() - 1 / 12) < 5 * np.sqrt(1 / 180 / n)
    assert abs(xi.mean()) < 5 / np.sqrt(n) and abs(xi.var() - 1) < 5 * np.sqrt(2 / n)


def test_engines_that_cannot_reproduce_random_numbers_refuse_them(digits):
    from dendrinet.backends import make_engine
    from dendrinet.errors import DendrinetError

    model = model_variant(hidden=(5,), n_outputs=10, equations=NOISY)
    protocol = load_protocol("paper-timing")
    params = initial_parameters(model, digits.n_inputs, np.random.default_rng(1))
    with pytest.raises(DendrinetError, match="rate engine's mean field has no counterpart"):
        make_engine("rate", model, protocol, params, 0)
    schedule = schedules.test_schedule(protocol, [3], digits.y_train[[3]])
    spikes = {name: (np.zeros(0), np.zeros(0, np.int64))
              for name in ("input", "hidden_0", "output")}
    with pytest.raises(DendrinetError, match="cannot reproduce them"):
        replay(model, params, schedule, spikes)


# -------------------------------------------------------------- code on spikes

#: Event traces of the neuron's own spikes: ``E`` jumps by 1 and decays with ``tau_E``,
#: ``since`` is the time since the last spike; an output trace ``z`` jumps by ``V / 2``.
ON_SPIKE = dict(hidden_extra="dE/dt = -E/tau_E : 1\ndsince/dt = 1 : second",
                hidden_on_spike="E += 1\nsince = 0*ms",
                output_extra="dz/dt = -z/tau_E : 1", output_on_spike="z += 0.5*V",
                parameters=(("tau_E", "30 ms"),))


def test_code_on_spikes_replays_brian2_and_follows_the_spikes(digits):
    """The model's own code on each spike (Brian2's reset): the fast engine, given the
    spikes Brian2 drew, has Brian2's traces of E, since and z within 1e-6, and E and
    since are what the spikes make them: ``E(n) = sum over the unit's spikes at steps
    m < n of d^(n - m)`` (``d = exp(-dt/tau_E)``) and ``since(n) = (n - m_last) dt``."""
    model = model_variant(hidden=(20,), n_outputs=10, equations=ON_SPIKE)
    protocol, params, schedule = _setup(digits, model)
    net = DendriticNetwork(model, params, digits.n_inputs, protocol.dt,
                           record_traces=("V", "E", "since", "z"))
    brian = net.run(schedule, digits.X_train, seed=21)
    fast = replay(model, params, schedule, brian.spikes)
    for name, variables in (("hidden_0", ("V", "E", "since")), ("output", ("V", "z"))):
        for var in variables:
            np.testing.assert_allclose(fast.traces[name][var], brian.traces[name][var],
                                       rtol=0, atol=TOLERANCE, err_msg=f"{name}.{var}")
    # window means too, in SI units (since: seconds) on both engines
    for var in ("E", "since"):
        np.testing.assert_allclose(fast.X_bar["hidden_0"][var], brian.X_bar["hidden_0"][var],
                                   rtol=0, atol=TOLERANCE, err_msg=var)
    assert 0.005 < brian.X_bar["hidden_0"]["since"].mean() < 1.0
    # E and since from the spikes, by hand, within the training presentations (state kept)
    T = int(schedule.start[2])  # the test presentation resets the state
    steps = np.round(brian.spikes["hidden_0"][0] / protocol.dt).astype(int)
    ids = brian.spikes["hidden_0"][1]
    d = np.exp(-protocol.dt / 30.0)
    E = np.zeros((T, 20))
    since = np.zeros((T, 20))
    for j in range(20):
        own = steps[(ids == j) & (steps < T)]
        n = np.arange(T)[:, None]
        E[:, j] = np.where(n > own, d ** (n - own).astype(float), 0.0).sum(axis=1)
        last = np.maximum.accumulate(np.where(np.isin(np.arange(T), own), np.arange(T), -1))
        previous = np.r_[-1, last[:-1]]  # the last spike before step n
        since[:, j] = np.where(previous >= 0, (np.arange(T) - previous) * protocol.dt * 1e-3,
                               (np.arange(T) + 1) * protocol.dt * 1e-3)
    assert len(own) > 3
    np.testing.assert_allclose(fast.traces["hidden_0"]["E"][:T], E, rtol=0, atol=1e-9)
    np.testing.assert_allclose(fast.traces["hidden_0"]["since"][:T], since, rtol=0, atol=1e-12)


def test_code_on_spikes_mistakes_get_one_message(digits, tmp_path):
    from dendrinet.backends import make_engine
    from dendrinet.errors import DendrinetError

    bad = dict(ON_SPIKE, hidden_on_spike="E += gain")
    with pytest.raises(ModelEquationError, match=r"hidden_on_spike reads 'gain', which is not "
                                                 r"V, V_a, a state variable .* \(E, since\)"):
        neuron_source(model_variant(hidden=(5,), equations=bad))
    model = model_variant(hidden=(5,), n_outputs=10, equations=ON_SPIKE)
    params = initial_parameters(model, digits.n_inputs, np.random.default_rng(1))
    with pytest.raises(DendrinetError, match=r"run code on each spike .* --engine fast"):
        make_engine("rate", model, load_protocol("paper-timing"), params, 0)
    path = tmp_path / "m.toml"
    path.write_text('extends = "guerguiev2017-1hidden"\n[equations]\n'
                    'hidden_extra = "dE/dt = -E/(10*ms) : 1"\nhidden_on_spike = "V_b = 0"\n')
    with pytest.raises(ConfigError, match=r"hidden_on_spike line 'V_b = 0': on a spike a hidden "
                                          r"neuron may change V or its own state variables"):
        load_model(path)


# ---------------------------------------------------------- spikes on a condition

#: A clock neuron: ``tick`` counts ms since the last spike and the neuron spikes when it
#: passes 9.5, so (its draw silenced by a bias of -40) every 10 steps exactly.
TICKING = dict(hidden_extra="dtick/dt = 1/ms : 1", hidden_on_spike="tick = 0",
               hidden_spike_condition="tick > 9.5")


def test_a_spike_condition_fires_where_it_holds_on_both_engines(digits):
    """Brian2's threshold ``draw or condition`` and the fast engine's spikes agree
    exactly for a deterministic condition: every hidden neuron at steps 9, 19, 29, ...
    (the state update makes tick 1 after the first step), nothing else."""
    from dendrinet.backends.numba.engine import FastEngine
    from network_helpers import make_schedule

    model = model_variant(hidden=(12,), n_outputs=10, equations=TICKING)
    protocol = load_protocol("paper-timing")
    params = initial_parameters(model, digits.n_inputs, np.random.default_rng(1))
    params.b[0][:] = -40.0
    schedule = make_schedule([schedules.TEST], 100, 0, examples=[3], reset=[True])
    fast = FastEngine(model, protocol, params.copy(), seed=2).present(digits.X_train, schedule)
    net = DendriticNetwork(model, params, digits.n_inputs, protocol.dt)
    brian = net.run(schedule, digits.X_train, seed=3)
    expected_steps = np.repeat(np.arange(9, 100, 10), 12)
    expected_ids = np.tile(np.arange(12), 10)
    for result in (fast, brian):
        times, ids = result.spikes["hidden_0"]
        order = np.lexsort((ids, times))
        np.testing.assert_array_equal(np.round(times[order] / protocol.dt), expected_steps)
        np.testing.assert_array_equal(ids[order], expected_ids)


#: Payeur et al.'s (2021) simplified burst neuron in a model file: after an event (a
#: spike at least 16 ms after the last), a second spike 5-15 ms later with probability
#: p_b (the paper: set by the apical dendrite).
BURSTING = dict(
    hidden_extra="dsince/dt = 1 : second\ndcountdown/dt = -1 : second",
    hidden_on_spike="countdown = 5*ms + 10*ms*rand()\n"
                    "countdown = int(since >= 16*ms)*int(rand() < p_b)*(countdown + 1*second)"
                    " - 1*second\nsince = 0*ms",
    hidden_spike_condition="countdown <= 0*ms and countdown > -dt",
    parameters=(("p_b", "1.0"),))


def _burst_share(model, digits):
    """The burst neuron ``model`` on the fast engine (no input weights, bias -4.5: about 4
    spikes/s from the draw; 100 units, 20 s): spikes, their kinds, the share of events
    away from the ends that are bursts, and ``q``, the chance of a random spike within
    the 15 steps after an event (from the measured rate)."""
    from dendrinet.analysis.bursts import BURST_START, IN_BURST, spike_kinds
    from dendrinet.backends.numba.engine import FastEngine
    from network_helpers import make_schedule

    protocol = load_protocol("paper-timing")
    params = initial_parameters(model, digits.n_inputs, np.random.default_rng(1))
    params.W[0][:] = 0.0
    params.b[0][:] = -4.5
    params.Y[0][:] = 0.0  # no feedback: V_a is the apical expression at V_a_lin = 0
    schedule = make_schedule([schedules.TEST], 20000, 0, examples=[3], reset=[True])
    result = FastEngine(model, protocol, params, seed=2).present(digits.X_train, schedule)
    times, ids = result.spikes["hidden_0"]
    kinds = spike_kinds(times, ids)
    # events away from the ends: the first 16 ms (the model's clock starts at 0) and the
    # last 16 ms (a second spike may fall after the end)
    inner = (times >= 16.0) & (times < 20000 * protocol.dt - 16.0)
    n_events = int(np.sum((kinds != IN_BURST) & inner))
    share = np.sum((kinds == BURST_START) & inner) / n_events
    p_step = float(np.mean(result.phi_bar["hidden_0"])) * protocol.dt
    q = 1 - (1 - p_step) ** 15
    assert n_events > 4000
    return times, ids, kinds, share, n_events, q


@pytest.mark.parametrize("p_b", [0.0, 0.5, 1.0])
def test_a_burst_neuron_in_a_model_file_bursts_with_its_probability(digits, p_b):
    """The burst neuron above on the fast engine: the share of events that are bursts
    (:func:`dendrinet.analysis.bursts.spike_kinds`) is ``p_b + (1 - p_b) q`` within 5
    standard errors; the second spikes of bursts follow their events by 5-15 ms."""
    from dendrinet.analysis.bursts import BURST_START

    model = model_variant(hidden=(100,), n_outputs=10, equations=dict(
        BURSTING, parameters=(("p_b", repr(p_b)),)))
    times, ids, kinds, share, n_events, q = _burst_share(model, digits)
    expected = p_b + (1 - p_b) * q
    se = np.sqrt(max(expected * (1 - expected), 1e-4) / n_events)
    assert abs(share - expected) < 5 * se, (share, expected, se)
    if p_b == 1.0:
        order = np.lexsort((times, ids))
        t, i, k = times[order], ids[order], kinds[order]
        start = np.flatnonzero((k[:-1] == BURST_START) & (i[1:] == i[:-1]))
        gaps = t[start + 1] - t[start]
        assert np.mean((gaps >= 5.0) & (gaps <= 15.0)) > 1 - 2 * q


def test_the_apical_potential_sets_the_burst_probability(digits):
    """The burst probability written as ``1/(1 + exp(-V_a))`` with ``V_a = V_a_lin + a``
    and no feedback: the share of bursts is ``sig(a) + (1 - sig(a)) q`` (5 s.e.)."""
    a = 1.5
    model = model_variant(hidden=(100,), n_outputs=10, equations=dict(
        BURSTING, hidden_on_spike=BURSTING["hidden_on_spike"].replace(
            "rand() < p_b", "rand() < 1/(1 + exp(-V_a))"),
        apical="V_a_lin + a_0", parameters=(("a_0", repr(a)),)))
    _, _, _, share, n_events, q = _burst_share(model, digits)
    p_b = 1 / (1 + np.exp(-a))
    expected = p_b + (1 - p_b) * q
    assert abs(share - expected) < 5 * np.sqrt(expected * (1 - expected) / n_events)


def test_code_on_spikes_and_conditions_read_the_apical_potential(digits):
    """On a spike, ``m += V_a`` reads the apical potential as Brian2's reset does (after
    the step's feedback spikes arrived): the fast replay of Brian2's spikes has its ``m``
    within 1e-6. A condition ``V_a > 0.05`` (the draw silenced) fires exactly where the
    traced ``V_a`` (after the step's update) exceeds 0.05."""
    from dendrinet.backends.numba.engine import FastEngine
    from network_helpers import make_schedule

    model = model_variant(hidden=(20,), n_outputs=10, equations=dict(
        hidden_extra="dm/dt = -m/(30*ms) : 1", hidden_on_spike="m += V_a",
        apical="2*tanh(V_a_lin/2)"))
    protocol, params, schedule = _setup(digits, model)
    net = DendriticNetwork(model, params, digits.n_inputs, protocol.dt,
                           record_traces=("m", "V_a"))
    brian = net.run(schedule, digits.X_train, seed=21)
    fast = replay(model, params, schedule, brian.spikes)
    m = brian.traces["hidden_0"]["m"]
    assert np.abs(m).max() > 1e-3
    np.testing.assert_allclose(fast.traces["hidden_0"]["m"], m, rtol=0, atol=TOLERANCE)

    firing = model_variant(hidden=(20,), n_outputs=10, equations=dict(
        hidden_spike_condition="V_a > 0.05", apical="2*tanh(V_a_lin/2)"))
    params = initial_parameters(firing, digits.n_inputs, np.random.default_rng(1))
    params.b[0][:] = -40.0
    params.Y[0][:] = np.abs(params.Y[0]) * 5  # the output's spikes push V_a up
    one = make_schedule([schedules.TEST], 300, 0, examples=[3], reset=[True])
    result = FastEngine(firing, protocol, params, seed=2).present(digits.X_train, one)
    above = result.traces["hidden_0"]["V_a"] > 0.05
    steps, ids = np.nonzero(above)
    times, spiking = result.spikes["hidden_0"]
    assert 50 < len(times) < above.size
    np.testing.assert_array_equal(np.round(times / protocol.dt).astype(int), steps)
    np.testing.assert_array_equal(spiking, ids)
