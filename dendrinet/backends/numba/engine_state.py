"""What the engines built on the flat layout (the fast engine, and the rate engine that
reuses its state and neuron part) share outside the kernels: the checks of the arrays
the kernels update in place, the state a checkpoint saves and restores, and the arrays
a training chunk leaves for the finiteness check."""
from __future__ import annotations

import numpy as np

from dendrinet.backends.numba.dynamics import STATE_FLOATS, STP_STATE
from dendrinet.engine.checks import check_parameters, check_state_identity
from dendrinet.engine.finite import parameter_arrays, per_layer
from dendrinet.errors import DendrinetError

__all__ = ["check_kernel_parameters", "training_phases", "saved_state", "restore_state",
           "chunk_arrays"]


def check_kernel_parameters(model, params) -> tuple[int, ...]:
    """:func:`~dendrinet.engine.checks.check_parameters`, and arrays the kernels can
    update in place; returns the layer sizes."""
    sizes = check_parameters(model, params)
    for name in ("W", "b", "Y"):
        for l, a in enumerate(getattr(params, name)):
            if a.dtype != np.float64 or not a.flags.c_contiguous or not a.flags.writeable:
                raise DendrinetError(f"parameters: {name}_{l} must be a writable, C-contiguous "
                                     f"float64 array (the engine updates it in place)")
    if params.Y_noise and [n.shape for n in params.Y_noise] != [y.shape for y in params.Y]:
        raise DendrinetError("parameters: Y_noise must have the shapes of Y")
    return sizes


def training_phases(protocol, seed: int, epochs_done: int, order, y):
    """The training schedule of an epoch (its phase jitter drawn from ``(seed,
    epochs_done)``: every engine gives the same example the same phases), and the
    forward and target phase lengths (steps) per example."""
    from dendrinet.config.schedule import training_schedule

    rng = np.random.default_rng([seed, epochs_done])
    schedule = training_schedule(protocol, order, y[order], rng)
    return (schedule, np.ascontiguousarray(schedule.n_steps[0::2]),
            np.ascontiguousarray(schedule.n_steps[1::2]))


def apical_traces(model) -> tuple[bool, bool]:
    """Whether training and test presentations keep explicit apical traces, or take the
    projected apical potential (``dynamics.run_presentation``, Notes) where it is exact:
    no apical conductance, feedback weights that never change, feedback synapses without
    short-term plasticity (which transmit a spike's share of ``Y``). Models with their
    own equations keep them (their ``V_a`` may act on the soma); a model that only
    changes the rule keeps the projection."""
    own = not model.equations.is_default
    fixed_Y = model.feedback.mode in ("random", "sparse", "backprop")
    stp_fb = model.synapses.projection("feedback") is not None
    return (own or stp_fb or not (model.neuron.g_A == 0.0 and fixed_Y),
            own or model.neuron.g_A != 0.0)


def saved_state(st, layout, params, apical: bool, epochs_done: int, seed: int) -> dict:
    """Potentials, traces (the apical ones computed where they are not simulated:
    ``apical`` false), extra state variables, epoch count, seed and layer sizes."""
    state = {name: getattr(st, name).copy() for name in STATE_FLOATS}
    if not apical:
        # not simulated: the apical traces are Y^T times the output's own traces
        for l, Y in enumerate(params.Y):
            part = slice(layout.uo[l], layout.uo[l + 1])
            state["aL"][part] = Y.T @ st.xL[layout.n_hidden_units:]
            state["aS"][part] = Y.T @ st.xS[layout.n_hidden_units:]
    if st.X.shape[0]:
        state["X"] = st.X.copy()
    state["epochs_done"] = np.array(epochs_done, np.int64)
    state["seed"] = np.array(seed, np.uint64)
    state["layer_sizes"] = layout.sizes.copy()
    return state


def restore_state(st, state, layout, seed: int, needed: set, what: str, check=None) -> int:
    """Check ``state`` (a dict holding ``needed``, of this network and seed, every
    array of the shape of ``st``'s and finite; then ``check(state)``, the engine's own
    checks) and copy its potentials, traces and extra state variables into ``st``;
    nothing is copied unless everything is right. Returns the epochs done. ``what``: the
    engine, for the messages ("fast-engine")."""
    if not isinstance(state, dict):
        raise DendrinetError(f"engine state must be a dict from the {what}'s get_state()")
    missing = sorted((set(STATE_FLOATS) - set(STP_STATE) | {"epochs_done", "seed",
                                                              "layer_sizes"} | needed)
                     - set(state))
    if missing:
        raise DendrinetError(f"engine state lacks {', '.join(missing)} (not a {what} state?)")
    check_state_identity(state, layout.sizes, seed)
    if check is not None:
        check(state)
    # a state saved before short-term plasticity existed is at rest there
    state = {**{name: np.zeros_like(getattr(st, name)) for name in STP_STATE}, **state}
    arrays = [(name, getattr(st, name)) for name in STATE_FLOATS]
    if st.X.shape[0]:
        arrays.append(("X", st.X))
    for name, target in arrays:
        value = np.asarray(state.get(name, np.zeros(0)), dtype=np.float64)
        if value.shape != target.shape or not np.all(np.isfinite(value)):
            label = "'X' (extra state variables)" if name == "X" else repr(name)
            raise DendrinetError(f"engine state {label}: expected {target.shape} finite "
                                 f"values, got shape {value.shape}")
    for name, target in arrays:
        target[...] = np.asarray(state[name], dtype=np.float64)
    return int(np.asarray(state["epochs_done"]))


def chunk_arrays(layout, st, net, ex, acc, trains: str = "filtered spike trains"):
    """What a training chunk leaves (its last example's potentials and rates, the
    state, the parameters), named for
    :func:`~dendrinet.engine.finite.check_training_chunk`; lazy: an array is looked at
    only when everything before it was finite. ``trains``: what ``s`` is called."""
    L, uo = layout.n_layers, layout.uo
    yield from per_layer("mean apical potential V_a (target phase, last example)",
                         acc.Va, uo, L, range(L - 1))
    yield from per_layer("mean somatic potential V (forward phase, last example)",
                         ex.V_f, uo, L)
    yield from per_layer("mean rate phi (target phase, last example)", acc.phi, uo, L)
    yield from per_layer(f"{trains} s (forward phase, last example)", ex.s_units, uo, L)
    for name in STATE_FLOATS:
        value = getattr(st, name)
        if value.size == layout.n_inputs and name.startswith("xin"):
            yield f"input trace {name}", value
        else:
            yield from per_layer(f"state variable {name}", value, uo, L)
    if st.X.size:
        yield "the model's extra state variables", st.X
    yield from parameter_arrays(layout, net.W, net.b, net.Y)
