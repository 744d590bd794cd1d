"""Small builders shared by the Brian2 network tests (schedules, parameters, kernels)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from dendrinet.config import load_model
from dendrinet.config.schedule import Schedule
from dendrinet.model.weights import Parameters


def model_variant(hidden=(3,), n_outputs=2, base="guerguiev2017-1hidden", equations=None,
                  **neuron):
    """A model with other layer sizes, neuron parameters or equation terms."""
    model = load_model(base)
    changes = {"hidden": tuple(hidden), "n_outputs": n_outputs,
               "neuron": dataclasses.replace(model.neuron, **neuron)}
    if equations:
        changes["equations"] = dataclasses.replace(model.equations, **equations)
    changes["learning"] = dataclasses.replace(model.learning, eta=(0.1,) * (len(hidden) + 1))
    return dataclasses.replace(model, **changes)


def make_schedule(phases, n_steps, settle, labels=None, examples=None, reset=None, dt=1.0):
    """A Schedule from per-presentation lists (phase codes, lengths, settle steps, ...)."""
    n = len(phases)
    n_steps = np.broadcast_to(np.asarray(n_steps, dtype=np.int64), (n,)).copy()
    start = np.concatenate([[0], np.cumsum(n_steps)[:-1]]).astype(np.int64)

    def column(values, default, dtype):
        values = default if values is None else values
        return np.broadcast_to(np.asarray(values, dtype=dtype), (n,)).copy()

    return Schedule(column(examples, 0, np.int64), column(labels, -1, np.int64),
                    np.asarray(phases, dtype=np.int64), start, n_steps,
                    column(settle, 0, np.int64), column(reset, False, bool), float(dt))


def make_parameters(model, n_inputs, W=0.0, b=0.0, Y=0.0, rng=None, scale=1.0):
    """Parameters filled with constants, or uniform random values if ``rng`` is given."""
    sizes = model.layer_sizes(n_inputs)

    def fill(shape, value):
        if rng is not None:
            return scale * rng.uniform(-1.0, 1.0, size=shape) + value
        return np.full(shape, float(value))

    Ws = [fill((sizes[l], sizes[l + 1]), W) for l in range(len(sizes) - 1)]
    bs = [fill((sizes[l + 1],), b) for l in range(len(sizes) - 1)]
    Ys = [fill((sizes[-1], sizes[l + 1]), Y) for l in range(len(sizes) - 2)]
    return Parameters(Ws, bs, Ys)


def kernel(t, tau_L, tau_s):
    """The unit-area PSP kernel k(t), 1/ms (zero for t < 0)."""
    t = np.asarray(t, dtype=np.float64)
    k = (np.exp(-t / tau_L) - np.exp(-t / tau_s)) / (tau_L - tau_s)
    return np.where(t >= 0, k, 0.0)


def filtered_trains(spike_steps, spike_ids, n_neurons, n_steps, dt, tau_L, tau_s):
    """``xL - xS`` after each step's update, from spike steps: ``sum_{m < n} k((n-m) dt)``."""
    out = np.zeros((n_steps, n_neurons))
    steps = np.arange(n_steps)
    for m, i in zip(np.asarray(spike_steps, dtype=np.int64), spike_ids):
        out[:, i] += kernel((steps - m) * dt, tau_L, tau_s) * (steps > m)
    return out


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x)))


#: A learning rule that reads only the model's own state variable ``w`` of
#: :func:`state_rule_model` (an adaptation variable): its change between the phases and
#: its forward-phase level (:func:`state_rule_error`).
STATE_RULE = """from numba import njit


@njit
def adaptation_rule(layer, e):
    for j in range(layer.V_f.size):
        e[j] = 0.5 * (layer.X_t[0, j] - layer.X_f[0, j]) + 0.05 * layer.X_f[0, j]
"""


def state_rule_error(w_f, w_t):
    """The error :data:`STATE_RULE` computes from the window means of ``w``."""
    return 0.5 * (w_t - w_f) + 0.05 * w_f


def state_rule_model(folder, hidden=(20,)):
    """A model with an adaptation variable ``w`` in its hidden neurons, trained by
    :data:`STATE_RULE` (written into ``folder`` and allowed to run)."""
    from dendrinet.learning.rule_files import allow

    path = Path(folder) / "state_rule.py"
    path.write_text(STATE_RULE)
    allow(path)
    model = model_variant(hidden=hidden, n_outputs=10, equations=dict(
        hidden_extra="dw/dt = (a_w*V - w)/tau_w : 1", hidden_soma="-w/ms",
        parameters=(("a_w", "0.5"), ("tau_w", "20 ms"))))
    return dataclasses.replace(model, learning=dataclasses.replace(
        model.learning, rule=f"{path}:adaptation_rule"))


def train_and_test_schedule(model, dataset, seed=5):
    """One example's forward and target phases, then a (reset) test presentation of
    another (protocol paper-timing), with initial parameters:
    ``(protocol, params, schedule)``."""
    from dendrinet.config import load_protocol
    from dendrinet.config import schedule as schedules
    from dendrinet.config.schedule import concatenate_schedules
    from dendrinet.model.weights import initial_parameters

    protocol = load_protocol("paper-timing")
    rng = np.random.default_rng(seed)
    params = initial_parameters(model, dataset.n_inputs, rng)
    schedule = concatenate_schedules(
        schedules.training_schedule(protocol, [3], dataset.y_train[[3]], rng),
        schedules.test_schedule(protocol, [4], dataset.y_train[[4]]))
    return protocol, params, schedule


def brian2_train_and_test(model, dataset, seed=5, brian_seed=21):
    """:func:`train_and_test_schedule` run through the Brian2 network (traces of V, V_b,
    V_a recorded): ``(params, schedule, result)``."""
    from dendrinet.backends.brian2.network import DendriticNetwork

    protocol, params, schedule = train_and_test_schedule(model, dataset, seed)
    net = DendriticNetwork(model, params, dataset.n_inputs, protocol.dt,
                           record_traces=("V", "V_b", "V_a"))
    return params, schedule, net.run(schedule, dataset.X_train, seed=brian_seed)


def brian2_training_and_replay(model, protocol, params, dataset, order, seed=3):
    """Train ``params`` (in place) for one epoch over ``order`` through the Brian2 engine
    (numpy target), then replay the spikes it drew through the fast engine's kernels with
    learning, from a copy of the initial ``params``: ``(engine, history, replay)``."""
    from dendrinet.backends.brian2.engine import Brian2Engine
    from dendrinet.backends.numba.engine import replay
    from dendrinet.config import schedule as schedules

    initial = params.copy()
    engine = Brian2Engine(model, protocol, params, seed=seed, target="numpy")
    engine._net = engine._new_network(record_spikes=True, record_averages=False)
    hist = engine.train_epoch(dataset.X_train, dataset.y_train, order=order, sample_every=2)
    spikes = {name: (np.round(mon.t_[:] * 1000.0 / protocol.dt) * protocol.dt,
                     np.asarray(mon.i[:])) for name, mon in engine._net.spike_monitors.items()}
    schedule = schedules.training_schedule(protocol, order, dataset.y_train[order],
                                           np.random.default_rng([seed, 0]))
    return engine, hist, replay(model, initial, schedule, spikes, learn=True)
