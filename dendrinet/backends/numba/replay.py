"""Replay: the fast engine's step with given spike trains for every population.

The Brian2 network and the fast engine draw different random numbers, so their spikes
differ; with the spikes of one run imposed on the other, every potential, trace and
phase average must agree (to rounding). :func:`replay` runs
:func:`dendrinet.backends.numba.dynamics.run_presentation` (the one implementation of the step)
with the spikes read instead of drawn, records the per-step traces, and optionally
applies the plasticity after every target phase exactly as training does.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from dendrinet.backends.numba.dynamics import (ACC_PHI_ALL, ACC_S, ACC_V, ACC_VA, ACC_X, APICAL,
                                               TRACES, Presentation, Rows, Traces, make_net,
                                               make_state, new_acc,
                                               new_means, new_scratch, reset_acc, reset_state,
                                               run_presentation, store_means)
from dendrinet.learning.layout import FlatLayout
from dendrinet.jit.numerics import JIT, sigmoid
from dendrinet.learning.plasticity import (Example, learn, make_rule, new_example,
                                           new_updates)
from dendrinet.backends.numba.model_part import model_part
from dendrinet.config import ModelConfig
from dendrinet.engine.results import PhaseAverages, n_stats, population_names, stat_names
from dendrinet.engine.results import sigmoid as sigmoid_array
from dendrinet.errors import DendrinetError
from dendrinet.config.schedule import FORWARD, TARGET, Schedule
from dendrinet.model.weights import Parameters


@dataclass(kw_only=True)
class ReplayResult(PhaseAverages):
    """What :func:`replay` computed: the :class:`~dendrinet.engine.results.PhaseAverages`
    of every presentation, with ``traces`` of ``V``, ``V_b`` (and ``V_a`` for hidden
    layers) after the state update of every step (Brian2 ``StateMonitor`` in the
    ``after_groups`` slot), and

    Attributes
    ----------
    params : Parameters
        The parameters at the end (changed only with ``learn=True``).
    records : dict of str -> ndarray
        With ``learn=True``: per learning example (target presentation) the statistics
        of :func:`dendrinet.learning.plasticity.learn_flat` and ``presentation``
        (its index).
    """

    params: Parameters | None = None
    records: dict = field(default_factory=dict)


@njit(**JIT)
def _replay_run(net, st, scr, acc, ev_ptr, ev_ids, start, n_steps, settle, phase, label,
                reset, given, tr_V, tr_Vb, tr_Va, tr_X, means, learn_after, rule, ex, upd, records,
                rec_pres):
    L = net.sizes.size - 1
    n_hid = net.uo[L - 1]
    no_rec = np.zeros((1, 1), np.uint8)
    flags = ACC_V | ACC_S | ACC_PHI_ALL | ACC_VA | ACC_X | APICAL | TRACES
    n_learn = 0
    for k in range(start.size):
        if reset[k]:
            reset_state(st)
        reset_acc(acc)
        run_presentation(net, st, scr, acc,
                         Presentation(ev_ptr, ev_ids, start[k], n_steps[k], settle[k],
                                      phase[k] == TARGET, label[k], flags),
                         Rows(given, start[k]), Rows(no_rec, 0),
                         Traces(tr_V, tr_Vb, tr_Va, tr_X, start[k]))
        store_means(acc, n_steps[k] - settle[k], means, k)
        if learn_after and k > 0 and phase[k] == TARGET and phase[k - 1] == FORWARD:
            for j in range(n_hid):
                ex.alpha_f[j] = sigmoid(means.Va[k - 1, j])
                ex.alpha_t[j] = sigmoid(means.Va[k, j])
            ex.key[0] = k
            learn(net, rule, Example(means.V[k - 1], ex.alpha_f, ex.alpha_t, means.phi[k],
                                     means.s_in[k - 1], means.s[k - 1], ex.key,
                                     means.X[k - 1], means.X[k]), upd)
            for c in range(upd.stats.size):
                records[n_learn, c] = upd.stats[c]
            rec_pres[n_learn] = k
            n_learn += 1
    return n_learn


def _dense_spikes(spikes, name: str, n: int, n_steps: int, dt: float) -> np.ndarray:
    """A (n_steps, n) 0/1 matrix from ``(times_ms, ids)`` or from a dense array."""
    value = spikes[name]
    if isinstance(value, tuple) and len(value) == 2:
        times = np.asarray(value[0], dtype=np.float64)
        ids = np.asarray(value[1])
        if times.shape != ids.shape or times.ndim != 1:
            raise DendrinetError(f"spikes[{name!r}]: times and ids must be 1-D arrays of the "
                                 f"same length")
        if not np.all(np.isfinite(times)):
            raise DendrinetError(f"spikes[{name!r}]: spike times must be finite")
        steps = np.round(times / dt).astype(np.int64)
        if np.any(np.abs(steps * dt - times) > 1e-6 * dt):
            raise DendrinetError(f"spikes[{name!r}]: spike times must be multiples of dt = "
                                 f"{dt} ms")
        if ids.size and (ids.dtype.kind not in "iu" or ids.min() < 0 or ids.max() >= n):
            raise DendrinetError(f"spikes[{name!r}]: neuron ids must be integers in [0, {n})")
        if steps.size and (steps.min() < 0 or steps.max() >= n_steps):
            raise DendrinetError(f"spikes[{name!r}]: spike times must lie in [0, "
                                 f"{n_steps * dt}) ms, the schedule's duration")
        dense = np.zeros((n_steps, n), np.uint8)
        np.add.at(dense, (steps, ids.astype(np.int64)), 1)
        if dense.size and dense.max() > 1:
            raise DendrinetError(f"spikes[{name!r}]: a neuron spikes twice in one step "
                                 f"(Bernoulli spikes allow at most one)")
        return dense
    arr = np.asarray(value)
    if arr.shape != (n_steps, n):
        raise DendrinetError(f"spikes[{name!r}]: expected (times_ms, ids) or an array of shape "
                             f"{(n_steps, n)}, got shape {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        raise DendrinetError(f"spikes[{name!r}]: a dense spike array must hold 0 or 1")
    return arr.astype(np.uint8)


def replay(model: ModelConfig, params: Parameters, schedule: Schedule, spikes: dict, *,
           learn: bool = False, input_precision: str = "double") -> ReplayResult:
    """Run the network's equations over ``schedule`` with the given spike trains.

    Any model: its neuron part and rule reach the step as first-class functions
    (:mod:`~dendrinet.backends.numba.model_part`).

    Parameters
    ----------
    model : ModelConfig
        Any model the fast engine runs (edited equations through their generated neuron
        part, :mod:`~dendrinet.backends.numba.model_part`).
    params : Parameters
        Not modified (a copy is learned with ``learn=True``).
    schedule : Schedule
        Presentations (phases, labels, windows, resets) and ``dt``; the state starts
        at zero.
    spikes : dict
        For ``"input"``, ``"hidden_<l>"``, ``"output"``: ``(times_ms, ids)`` (times from
        the start of the schedule, multiples of ``dt``; e.g. ``SimulationResult.spikes``)
        or a 0/1 array of shape ``(schedule.total_steps, n)``.
    learn : bool
        Apply the plasticity after every target phase that follows a forward phase
        (as training does).
    input_precision : {"double", "single"}
        Sums of the input weight rows in float64 (default) or as the engine's default
        training does (``FastEngine(input_precision="single")``).

    Returns
    -------
    ReplayResult
    """
    if not isinstance(schedule, Schedule):
        raise DendrinetError("schedule must be a dendrinet.config.schedule.Schedule")
    if input_precision not in ("single", "double"):
        raise DendrinetError(f"input_precision must be 'single' or 'double', got "
                             f"{input_precision!r}")
    params = params.copy()
    params.validate("parameters")
    layout = FlatLayout.from_sizes(params.layer_sizes)
    L = layout.n_layers
    names = list(population_names(model))
    if not isinstance(spikes, dict) or set(names) - set(spikes):
        raise DendrinetError(f"spikes must be a dict with the populations {names}")
    T = int(schedule.total_steps)
    dt = float(schedule.dt)
    dense = {name: _dense_spikes(spikes, name, int(n), T, dt)
             for name, n in zip(names, layout.sizes)}
    steps, ids = np.nonzero(dense["input"])
    ev_ptr = np.concatenate([[0], np.cumsum(np.bincount(steps, minlength=T))]).astype(np.int64)
    ev_ids = ids.astype(np.int64)
    given = np.ascontiguousarray(np.concatenate([dense[n] for n in names[1:]], axis=1))

    W, b, Y, Yn = layout.pack(params)
    part = model_part(model)
    if part.random:
        raise DendrinetError(
            f"model {model.name!r}: its equations draw random numbers (rand(), randn()); a "
            "replay imposes given spikes and draws none, so it cannot reproduce them")
    net = make_net(layout, W, b, Y, model, dt, part,
                   single_inputs=input_precision == "single")
    n_in, n_units = layout.n_inputs, layout.n_units
    st = make_state(n_in, n_units, part.n_extra)
    scr = new_scratch(n_in, n_units, L, model.n_outputs, net.W_in)
    acc = new_acc(n_in, n_units, net.n_x)
    n_pres = len(schedule)
    tr = [np.zeros((T, n_units)) for _ in range(3)]
    tr.append(np.zeros((T, net.n_x, n_units)))
    means = new_means(n_pres, n_in, n_units, net.n_x)
    records = np.zeros((max(n_pres, 1), n_stats(L - 1)))
    rec_pres = np.zeros(max(n_pres, 1), np.int64)
    n_learn = _replay_run(net, st, scr, acc, ev_ptr, ev_ids, schedule.start, schedule.n_steps,
                          schedule.settle, schedule.phase, schedule.label,
                          schedule.reset.astype(np.bool_), given, tr[0], tr[1], tr[2], tr[3],
                          means, bool(learn),
                          make_rule(model, Yn), new_example(n_in, n_units, net.n_x),
                          new_updates(layout.sizes),
                          records, rec_pres)
    layout.unpack_into(params, W, b, Y)

    result = ReplayResult(sizes={n: int(s) for n, s in zip(names, layout.sizes)}, params=params)
    fill_phase_averages(result, layout, means, tr, T, part.extra_state)
    if learn:
        result.records = {name: records[:n_learn, c].copy()
                          for c, name in enumerate(stat_names(L - 1))}
        result.records["presentation"] = rec_pres[:n_learn].copy()
    return result


def fill_phase_averages(result: PhaseAverages, layout: FlatLayout, means, traces,
                        n_steps: int, extra_state=None) -> PhaseAverages:
    """Split the flat window means (:data:`~dendrinet.backends.numba.dynamics.Means`) and
    traces ``(V, V_b, V_a[, X])`` (first ``n_steps`` rows) into ``result``'s populations
    (its ``sizes``); plateaus ``alpha = sigmoid(mean V_a)`` for hidden layers. With
    ``extra_state`` (``{"hidden": names, "output": names}``, the rows of ``X``) the
    traces and window means (``X_bar``) of the extra state variables are added under
    their names."""
    names = list(result.sizes)
    result.s_bar["input"] = means.s_in
    for l, name in enumerate(names[1:]):
        part = slice(layout.uo[l], layout.uo[l + 1])
        result.V_bar[name] = means.V[:, part]
        result.phi_bar[name] = means.phi[:, part]
        result.s_bar[name] = means.s[:, part]
        result.traces[name] = {"V": traces[0][:n_steps, part], "V_b": traces[1][:n_steps, part]}
        if name != "output":
            result.alpha[name] = sigmoid_array(means.Va[:, part])
            result.traces[name]["V_a"] = traces[2][:n_steps, part]
        extras = (extra_state or {}).get("output" if name == "output" else "hidden", ())
        for r, var in enumerate(extras):
            result.traces[name][var] = traces[3][:n_steps, r, part]
        if extras:
            result.X_bar[name] = {var: means.X[:, r, part] for r, var in enumerate(extras)}
    return result
