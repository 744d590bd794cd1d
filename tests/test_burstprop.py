"""Burst-dependent plasticity: the shipped model ``payeur2021-burstprop`` (its burst
neuron, a model file) and the shipped rule ``burstprop``
(:func:`dendrinet.learning.rules.burstprop`)."""
import dataclasses

import numpy as np
import pytest
from network_helpers import make_schedule, model_variant

from dendrinet.config import ConfigError, load_model, load_protocol
from dendrinet.config import schedule as schedules
from dendrinet.datasets import load_dataset
from dendrinet.learning.rules import EVENT_GAP_MS, HiddenLayer, burstprop, burstprop_mean_field
from dendrinet.model.weights import initial_parameters

MODEL = "payeur2021-burstprop"


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_the_rule_is_the_burst_rate_minus_the_forward_phases_expectation():
    """``e = k_B (B_t - alpha_f E_t)``, ``E_t``, ``B_t`` the first two rows of ``X_t``
    in Hz and ``e`` in 1/ms; the forward phase's own events and bursts do not enter."""
    rng = np.random.default_rng(0)
    n = 7
    X_t = rng.uniform(0, 80, (5, n))
    layer = HiddenLayer(index=0, V_f=rng.normal(size=n), alpha_f=rng.uniform(size=n),
                        alpha_t=rng.uniform(size=n), s_pre=rng.uniform(0, 0.1, 4),
                        s_f=rng.uniform(0, 0.1, n), e_out=rng.normal(0, 0.01, 3),
                        Y=rng.normal(size=(3, n)), phi_max=0.2, k_B=0.6 / 0.7,
                        key=np.uint64(1), X_f=rng.uniform(0, 80, (5, n)), X_t=X_t)
    e = np.full(n, np.nan)
    burstprop(layer, e)
    np.testing.assert_allclose(e, 0.6 / 0.7 * (X_t[1] - layer.alpha_f * X_t[0]) / 1000,
                               rtol=1e-12)
    e_other = np.full(n, np.nan)
    burstprop(layer._replace(X_f=layer.X_f * 3, V_f=layer.V_f + 1), e_other)
    np.testing.assert_array_equal(e_other, e)
    # no change of the burst probability (B_t = alpha_f E_t): no error
    burstprop(layer._replace(X_t=np.vstack([X_t[0], layer.alpha_f * X_t[0], X_t[2:]])), e)
    np.testing.assert_allclose(e, 0, atol=1e-15)


def _decisions(result, dt, n_steps):
    """Events (spikes 16 ms or more after the previous one, away from the ends) of a
    presentation's hidden neurons: the burst probability ``sig(V_a)`` at each and whether
    it scheduled a second spike (``countdown`` positive one step later)."""
    from dendrinet.analysis.bursts import IN_BURST, spike_kinds

    times, ids = result.spikes["hidden_0"]
    kinds = spike_kinds(times, ids)
    events = (kinds != IN_BURST) & (times >= 16.0) & (times < (n_steps - 16) * dt)
    steps = np.round(times[events] / dt).astype(int)
    traces = result.traces["hidden_0"]
    p = _sig(traces["V_a"][steps, ids[events]])
    return p, traces["countdown"][steps + 1, ids[events]] > 0


def _bursting_parameters(model, digits):
    """No input weights, bias -4.5 (about 4 spikes/s from the draw), feedback x 3."""
    params = initial_parameters(model, digits.n_inputs, np.random.default_rng(1))
    params.W[0][:] = 0.0
    params.b[0][:] = -4.5
    params.Y[0][:] *= 3.0
    return params


def test_brian2_runs_the_same_burst_neuron(digits):
    """Brian2 from the same model file: each event schedules a second spike with
    probability ``sig(V_a)`` (the share of events that did within 5 standard errors of
    the mean of ``sig(V_a)`` over them; 100 units, 5 s)."""
    from dendrinet.backends.brian2.network import DendriticNetwork

    model = model_variant(hidden=(100,), n_outputs=10, base=MODEL)
    protocol = load_protocol("paper-timing")
    params = _bursting_parameters(model, digits)
    n_steps = 5000
    schedule = make_schedule([schedules.TEST], n_steps, 0, examples=[3], reset=[True])
    net = DendriticNetwork(model, params, digits.n_inputs, protocol.dt,
                           record_traces=("V_a", "countdown"))
    p, scheduled = _decisions(net.run(schedule, digits.X_train, seed=5), protocol.dt,
                              n_steps)
    assert p.size > 1000 and np.std(p) > 0.1, (p.size, np.std(p))
    se = np.sqrt(np.mean(p * (1 - p)) / p.size)
    assert abs(scheduled.mean() - p.mean()) < 5 * se, (scheduled.mean(), p.mean(), se)


def test_the_shipped_neuron_bursts_with_the_probability_its_apical_potential_sets(digits):
    """The shipped burst neuron on the fast engine (100 units, 20 s, about 4 spikes/s
    from the draw, random feedback of the output's spikes): an event (a spike 16 ms or
    more after the previous one) schedules a second spike with probability ``sig(V_a)``
    at the event, so

    - the share of events that did is the mean of ``sig(V_a)`` over them,
    - the model's own burst and event rates (the window means of ``B`` and ``E`` the rule
      reads) have that ratio, and
    - the share of events whose next spike follows within 16 ms
      (:func:`dendrinet.analysis.bursts.spike_kinds`) is that of ``p + (1 - p) q``
      (``q``: the chance of a random spike within the 15 steps after an event),

    each within 5 standard errors; V_a varies (its spread over events is checked)."""
    from dendrinet.analysis.bursts import BURST_START, IN_BURST, spike_kinds
    from dendrinet.backends.numba.engine import FastEngine

    model = model_variant(hidden=(100,), n_outputs=10, base=MODEL)
    protocol = load_protocol("paper-timing")
    params = _bursting_parameters(model, digits)
    n_steps = 20000
    schedule = make_schedule([schedules.TEST], n_steps, 0, examples=[3], reset=[True])
    result = FastEngine(model, protocol, params, seed=2).present(digits.X_train, schedule)
    p, scheduled = _decisions(result, protocol.dt, n_steps)
    n_events = p.size
    assert n_events > 4000 and np.std(p) > 0.1, (n_events, np.std(p))
    se = np.sqrt(np.mean(p * (1 - p)) / n_events)
    assert abs(scheduled.mean() - p.mean()) < 5 * se, (scheduled.mean(), p.mean(), se)

    X = result.X_bar["hidden_0"]
    ratio = float(np.sum(X["B"]) / np.sum(X["E"]))
    assert abs(ratio - np.mean(p)) < 5 * se + 2 / n_events, (ratio, np.mean(p), se)

    times, ids = result.spikes["hidden_0"]
    kinds = spike_kinds(times, ids)
    inner = (times >= 16.0) & (times < (n_steps - 16) * protocol.dt)
    assert np.sum((kinds != IN_BURST) & inner) == n_events
    p_step = float(np.mean(result.phi_bar["hidden_0"])) * protocol.dt
    q = 1 - (1 - p_step) ** 15
    share = np.sum((kinds == BURST_START) & inner) / n_events
    expected = np.mean(p + (1 - p) * q)
    assert abs(share - expected) < 5 * se, (share, expected, se)


def test_the_event_and_burst_rates_are_traces_of_the_spikes(digits):
    """``E`` is the trace of the events (spikes 16 ms or more after the previous one),
    each adding ``1/tau_E`` after its step (the code on spikes runs in Brian2's reset
    slot; traces are recorded after the state update): ``E(n) = sum over events m < n
    of d^(n-m) / tau_E`` with ``d = exp(-dt/tau_E)``, to 1e-9 relative; ``B``'s jumps
    are the second spikes of bursts: each follows an event of the same neuron by 5-15 ms."""
    from dendrinet.analysis.bursts import IN_BURST, spike_kinds
    from dendrinet.backends.numba.engine import FastEngine

    model = model_variant(hidden=(30,), n_outputs=10, base=MODEL)
    protocol = load_protocol("paper-timing")
    params = initial_parameters(model, digits.n_inputs, np.random.default_rng(4))
    n_steps = 3000
    schedule = make_schedule([schedules.TEST], n_steps, 0, examples=[5], reset=[True])
    result = FastEngine(model, protocol, params, seed=7).present(digits.X_train, schedule)
    times, ids = result.spikes["hidden_0"]
    kinds = spike_kinds(times, ids)
    # the model's clock starts at 0: a first spike before 16 ms is no event there
    events = (kinds != IN_BURST) & (times >= 16.0)
    tau = 30.0
    d = np.exp(-protocol.dt / tau)
    counts = np.zeros((n_steps, 30))
    np.add.at(counts, (np.round(times[events] / protocol.dt).astype(int), ids[events]), 1.0)
    E = np.zeros_like(counts)
    level = np.zeros(30)
    for n in range(n_steps):
        level = level * d + counts[n] / (tau * 1e-3)
        E[n] = level
    traced = result.traces["hidden_0"]["E"]
    assert events.sum() > 200
    np.testing.assert_allclose(traced[1:], E[:-1] * d, rtol=1e-9, atol=1e-9)
    assert not traced[0].any()

    B = result.traces["hidden_0"]["B"]
    jumps = np.argwhere(B[1:] - B[:-1] * d > 1.0)  # (step of the burst, unit)
    assert len(jumps) > 20
    first = {}
    for t, i in zip(times[events], ids[events]):
        first.setdefault(int(i), []).append(t)
    for step, unit in jumps:
        t_burst = step * protocol.dt
        lags = t_burst - np.asarray(first[int(unit)])
        assert np.any((lags >= 5.0) & (lags <= 15.0)), (t_burst, unit)


def test_a_model_naming_the_rule_must_declare_the_rates_it_reads(tmp_path):
    """The rule reads rows 0 and 1 of ``X_t`` as E and B: a model that names it without
    them first, or with another unit, is refused when it is read, with one message."""
    path = tmp_path / "m.toml"
    path.write_text('extends = "guerguiev2017-1hidden"\n[learning]\nrule = "burstprop"\n')
    with pytest.raises(ConfigError, match=r"learning\]\.rule: 'burstprop' reads the hidden "
                                          r"neurons' event rate, burst rate as the first "
                                          r"state variables .*dE/dt = \.\.\. : Hz.*; its "
                                          r"first state variables are none"):
        load_model(path)
    shipped = load_model(MODEL).equations.hidden_extra.strip().splitlines()
    for lines, reason in (([shipped[1], shipped[0], *shipped[2:]],
                           "its first state variables are B, E"),
                          ([shipped[0].replace(": Hz", ": 1"), *shipped[1:]],
                           "E is declared in '1'")):
        counts = "" if "Hz" in lines[0] else 'hidden_on_spike = "E += 1"\n'
        path.write_text('extends = "payeur2021-burstprop"\n[equations]\nhidden_extra = """\n'
                        + "\n".join(lines) + '"""\n' + counts)
        with pytest.raises(ConfigError, match=reason):
            load_model(path)
    assert load_model(MODEL).learning.rule == "burstprop"


# ------------------------------------------------------------ burstprop in expectation


def _layer(rng, n, **kw):
    values = dict(index=0, V_f=rng.normal(size=n), alpha_f=rng.uniform(size=n),
                  alpha_t=rng.uniform(size=n), s_pre=rng.uniform(0, 0.1, 4),
                  s_f=rng.uniform(0, 0.1, n), e_out=rng.normal(0, 0.01, 3),
                  Y=rng.normal(size=(3, n)), phi_max=0.2, k_B=0.6 / 0.7, key=np.uint64(1))
    values.update(kw)
    return HiddenLayer(**values)


def test_the_mean_field_rule_is_the_plateau_difference_times_the_event_rate():
    rng = np.random.default_rng(3)
    layer = _layer(rng, 9)
    e = np.full(9, np.nan)
    burstprop_mean_field(layer, e)
    r = 0.2 * _sig(layer.V_f)
    np.testing.assert_allclose(e, 0.6 / 0.7 * (layer.alpha_t - layer.alpha_f) * r
                               * np.exp(-r * 16.0), rtol=1e-12)
    # it is burstprop's rule with the bursts at their expectation alpha_t E and the
    # events at E(V_f)
    X_t = np.vstack([r * np.exp(-16.0 * r), layer.alpha_t * r * np.exp(-16.0 * r)]) * 1000
    e_burst = np.full(9, np.nan)
    burstprop(layer._replace(X_t=X_t, X_f=X_t), e_burst)
    np.testing.assert_allclose(e, e_burst, rtol=1e-12)


def test_the_rules_event_rate_is_that_of_a_poisson_neuron():
    """A Poisson spike train at rate r (0.01 ms steps, 2000 s) has events, spikes with
    no spike in the 16 ms before them, at the rate the rule uses: within 5 s.e."""
    rng = np.random.default_rng(8)
    assert EVENT_GAP_MS == 16.0
    for r in (0.02, 0.06, 0.15):  # 1/ms: below, near and above the peak at 1/16 ms
        duration = 2.0e6  # ms
        n = rng.poisson(r * duration)
        times = np.sort(rng.uniform(0, duration, n))
        events = np.count_nonzero(np.diff(times) >= EVENT_GAP_MS)
        measured = events / duration
        V = np.log(r / (0.2 - r))  # phi_max sig(V) = r
        e = np.zeros(1)
        burstprop_mean_field(_layer(rng, 1, V_f=np.array([V]), alpha_f=np.zeros(1),
                                    alpha_t=np.ones(1), k_B=1.0), e)
        assert abs(measured - e[0]) < 5 * np.sqrt(e[0] / duration), (r, measured, e[0])


def test_the_mean_field_model_is_its_base_with_the_rule_and_learns_on_the_rate_engine(
        tmp_path):
    from dendrinet.training.trainer import train

    model, base = load_model("payeur2021-burstprop-mean-field"), load_model("guerguiev2017-1hidden")
    assert model.learning == dataclasses.replace(base.learning, rule="burstprop-mean-field")
    assert dataclasses.replace(model, name=base.name, description=base.description,
                               learning=base.learning) == base
    digits = load_dataset("digits")
    errors = {}
    for name in ("payeur2021-burstprop-mean-field", "guerguiev2017-shallow"):
        errors[name] = train(name, "guerguiev2017", digits, tmp_path / name, epochs=6, seed=0,
                             engine="rate", progress=False, n_spike_samples=0).final_test_error
    # the hidden layer it trains beats the same network whose hidden layer stays random
    assert errors["payeur2021-burstprop-mean-field"] < errors["guerguiev2017-shallow"] - 0.02, errors
