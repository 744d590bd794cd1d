"""Training through the Brian2 network, with the fast engine's plasticity kernels.

:class:`Brian2Engine` has the public interface of
:class:`dendrinet.backends.numba.engine.FastEngine` (``train_epoch``, ``evaluate``,
``record_spikes``, ``get_state``/``set_state``, ``params``, ``epochs_done``), so that
``dendrinet train --engine brian2`` can use it, and it runs any model, including
custom equation terms the fast engine refuses.

How an epoch runs. The whole epoch (forward + target phase per example) is one Brian2
``run`` of a :class:`~dendrinet.backends.brian2.network.DendriticNetwork` on the runtime device. A
``network_operation`` at the end of every step does nothing except at the last step of
a presentation: there it reads the window sums straight from the groups' state arrays
(after the step's accumulation) and zeroes them; after a target phase it calls
:func:`dendrinet.learning.plasticity.learn_flat` (the kernel the fast engine uses, with
the model's learning rule) on flat copies
of the parameters and writes the new weights and biases into the Synapses' and groups'
arrays, in place, before the next step. Weights therefore change between examples only,
as docs/design.md requires.

Randomness. Brian2 is seeded at the start of every epoch with a seed derived from
``(seed, epoch)``, and the phase jitter comes from ``numpy.random.default_rng([seed,
epoch])`` as in the fast engine, so an epoch resumed from :meth:`get_state` is drawn as
it would have been without the interruption. Spikes differ from the fast engine's (other
random streams); the potentials given the same spikes agree to rounding
(tests/test_equivalence.py).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from dendrinet.backends.brian2.compile_flags import brian2_codegen, cache_dir
from dendrinet.model.equations import extra_state_variables, stp_state_variables
from dendrinet.backends.brian2.network import (DEVICES, STATE_VARIABLES, TARGETS,
                                               TRACE_VARIABLES, DendriticNetwork,
                                               root_cause)
from dendrinet.learning.layout import FlatLayout, FlatParams
from dendrinet.learning import plasticity
from dendrinet.config import ModelConfig, ProtocolConfig
from dendrinet.datasets.encoding import validate_images
from dendrinet.engine import check_compile_stage, check_present_memory, check_present_options
from dendrinet.engine.checks import (check_callback, check_engine_args, check_indices,
                                     check_labels, check_parameters, check_state_identity,
                                     check_training_args)
from dendrinet.engine.finite import (check_test_potentials, check_training_chunk,
                                     parameter_arrays)
from dendrinet.engine.results import (SimulationResult, n_stats, population_kind, population_names, predictions,
                                      sample_buffers, sigmoid, training_history)
from dendrinet.errors import DendrinetError
from dendrinet.config.schedule import (FORWARD, PRESENTATION_DTYPE, TARGET, TEST, test_schedule,
                                training_schedule)
from dendrinet.model.weights import Parameters

__all__ = ["Brian2Engine"]

_STATE_FORMAT = 1


def _derived_seed(seed: int, stream: int, epoch: int) -> int:
    """A Brian2 seed (< 2**32) for one stream (training, test) and epoch."""
    return int(np.random.SeedSequence([seed, stream, epoch]).generate_state(1)[0])


class Brian2Engine:
    """Trains and tests a segregated-dendrite network simulated by Brian2.

    Parameters
    ----------
    model : ModelConfig
        Any model (custom ``[equations]`` terms included).
    protocol : ProtocolConfig
        Phase lengths, windows and ``dt`` (ms).
    params : Parameters
        Trained in place (``W``, ``b``; ``Y`` in the symmetric and learned modes); copied
        into Brian2 at the start of every epoch and back at its end.
    seed : int
        Seed of the spikes and phase jitter (non-negative).
    target : {"cython", "numpy"}
        Brian2 code generation target. ``cython`` compiles once per network shape
        (minutes the first time, cached afterwards) and then runs several times faster.
    device : {"runtime", "cpp_standalone"}
        Brian2 device of :meth:`present` (training always runs on the runtime device).

    Attributes
    ----------
    params : Parameters
    epochs_done : int
    """

    name = "brian2"

    def __init__(self, model: ModelConfig, protocol: ProtocolConfig, params: Parameters,
                 seed: int = 0, target: str = "cython", device: str = "runtime"):
        check_engine_args(model, protocol, seed)
        if target not in TARGETS:
            raise DendrinetError(f"target must be 'cython' or 'numpy', got {target!r}")
        if device not in DEVICES:
            raise DendrinetError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
        sizes = check_parameters(model, params)
        self.model = model
        self.protocol = protocol
        self.params = params
        self.seed = int(seed)
        self.target = target
        self.device = device
        self.layout = FlatLayout.from_sizes(sizes)
        self.names = population_names(model)
        self.epochs_done = 0
        self._net: DendriticNetwork | None = None  # training network, built on first use
        self._pending_state: dict | None = None

    @property
    def n_inputs(self) -> int:
        return self.layout.n_inputs

    def describe(self) -> str:
        """:meth:`dendrinet.engine.Engine.describe`: Brian2 and its code generation
        target (runtime device) or its device."""
        return f"Brian2 {self.target if self.device == 'runtime' else self.device}"

    def settings(self) -> dict:
        """:meth:`dendrinet.engine.Engine.settings`: the code generation target and the
        device."""
        return {"brian2_target": self.target, "brian2_device": self.device}

    def compile_note(self, what: str = "train") -> str | None:
        """A line for the user when Brian2 will compile code: always with the cython
        target (the network's code, once per network shape) and for :meth:`present` on
        the cpp_standalone device, and with the numpy target when Brian2's cache of
        compiled helper extensions is still empty (first use on this machine).

        Parameters
        ----------
        what : {"train", "present"}
            Training and test, or :meth:`present` (which runs on ``device``).
        """
        if check_compile_stage(what) == "present" and self.device == "cpp_standalone":
            return ("Brian2 generates and compiles the network as a C++ program "
                    "(cpp_standalone; a minute or more, every time)")
        if self.target == "cython":
            return ("Brian2 generates and compiles the network's code (cython; about a "
                    "minute the first time, cached afterwards under the home folder)")
        try:
            cached = any(Path(cache_dir()).glob("*.so"))
        except Exception:  # noqa: BLE001 - a guess for a message only
            cached = True
        if cached:
            return None
        return ("Brian2 compiles its helper extensions on its first use on this machine "
                "(up to a minute, once)")

    # ------------------------------------------------------------ helpers
    def _new_network(self, **options) -> DendriticNetwork:
        return DendriticNetwork(self.model, self.params, self.n_inputs, self.protocol.dt,
                                target=self.target, **options)

    def _arrays(self, net: DendriticNetwork, variables) -> dict:
        """Direct references to the state arrays of the groups (runtime device)."""
        return {(name, var): net.groups[name].variables[var].get_value()
                for name in self.names for var in variables(name)}

    def _run(self, net: DendriticNetwork, schedule, X, seed: int, operation) -> None:
        import brian2 as b2

        net.prepare(schedule, X)
        b2.seed(seed)
        op = b2.NetworkOperation(operation, when="end", clock=net.clock,
                                 name="dendrinet_engine_step")
        net.network.add(op)
        try:
            with brian2_codegen(self.target):
                net.network.run(schedule.total_steps * self.protocol.dt * b2.ms,
                                namespace=net.namespace)
        except Exception as exc:
            raise DendrinetError(f"Brian2 cannot simulate the network: {root_cause(exc)}") \
                from exc
        finally:
            net.network.remove(op)
        net.steps_done += schedule.total_steps

    # ------------------------------------------------------------ training
    def train_epoch(self, X, y, order=None, progress=None, sample_every: int = 100
                    ) -> dict[str, np.ndarray]:
        """One pass over the examples ``order`` (rows of ``X``), learning after each.

        Same parameters and returned history as
        :meth:`dendrinet.backends.numba.engine.FastEngine.train_epoch`.
        """
        X, y, order = check_training_args(X, y, order, progress, sample_every, self.n_inputs,
                                          self.model.n_outputs)
        layout = self.layout
        L = layout.n_layers
        n = order.size
        epoch = self.epochs_done
        schedule = training_schedule(self.protocol, order, y[order],
                                     np.random.default_rng([self.seed, epoch]))
        records = np.zeros((n, 1 + n_stats(L - 1)))
        samples_f, samples_t, sample_rows = sample_buffers(n, sample_every,
                                                           layout.n_hidden_units)
        if n:
            if self._net is None:
                self._net = self._new_network(record_spikes=False, record_averages=False)
                if self._pending_state is not None:
                    self._load_state(self._pending_state)
                    self._pending_state = None
            learner = _Learner(self, self._net, schedule, records, samples_f, samples_t,
                               sample_rows, sample_every, progress)
            self._net.set_parameters(self.params)
            self._run(self._net, schedule, X, _derived_seed(self.seed, 1, epoch), learner.step)
            learner.finish()
            # a NaN or infinity stops training (records name the example)
            check_training_chunk(records, order, 0, n, epoch + 1, L - 1,
                                 parameter_arrays(layout, learner.W, learner.b, learner.Y))
            layout.unpack_into(self.params, learner.W, learner.b, learner.Y)
        self.epochs_done += 1
        return training_history(self.epochs_done, order, y, records, layout.uo, samples_f,
                                samples_t, sample_rows)

    # ---------------------------------------------------------------- test
    def evaluate(self, X, y=None, progress=None) -> dict:
        """Test presentations (state reset, ``test_duration``) of every row of ``X``.

        Same parameters and result as :meth:`dendrinet.backends.numba.engine.FastEngine.evaluate`
        (``pred``, ``mean_V``; with ``y`` also ``correct`` and ``error``). Runs on a
        separate network: the training state is untouched.
        """

        X = validate_images(X, self.n_inputs, "X")
        labels = None if y is None else check_labels(y, X.shape[0], self.model.n_outputs)
        check_callback(progress)
        n = X.shape[0]
        mean_V = np.zeros((n, self.model.n_outputs))
        if n:
            net = self._new_network(record_spikes=False, record_averages=False)
            schedule = test_schedule(self.protocol, np.arange(n))
            sum_V = net.groups["output"].variables["sum_V"].get_value()
            n_window = schedule.n_steps - schedule.settle
            ends = schedule.start + schedule.n_steps - 1
            counter = {"step": 0, "k": 0, "correct": 0}

            def step():
                s = counter["step"]
                counter["step"] = s + 1
                k = counter["k"]
                if k >= n or s != ends[k]:
                    return
                mean_V[k] = sum_V / n_window[k]
                sum_V[:] = 0.0
                counter["k"] = k + 1
                if labels is not None and np.argmax(mean_V[k]) == labels[k]:
                    counter["correct"] += 1
                if progress is not None and (k + 1) % 100 == 0:
                    progress(k + 1, None if labels is None else counter["correct"])

            self._run(net, schedule, X, _derived_seed(self.seed, 2, 0), step)
            if progress is not None:
                progress(n, None if labels is None else counter["correct"])
        check_test_potentials(mean_V, 0, n)
        return predictions(mean_V, labels)

    def present(self, X, schedule, *, seed: int | None = None,
                progress=None) -> SimulationResult:
        """Present a schedule to a fresh Brian2 network with the current parameters (no
        learning): spikes, phase averages and the traces of every unit.

        Parameters
        ----------
        X : array (n, n_inputs)
            Pixel intensities in [0, 1]; ``schedule.example_id`` indexes its rows.
        schedule : Schedule
        seed : int, optional
            Brian2 seed (default: derived from the engine's seed); seeds of 2**32 and
            above, which Brian2 does not take, are hashed to 32 bits.
        progress : callable, optional
            ``progress(ms_done, ms_total)``: Brian2's progress report of the simulated
            time (every 10 s of computing on the runtime device; at the start and end
            on the cpp_standalone device, where the simulation is one C++ program).
        """
        X = validate_images(X, self.n_inputs, "X")
        seed = check_present_options(seed, progress)
        check_indices(schedule.example_id, X.shape[0], "schedule.example_id")
        check_present_memory(self.n_inputs, self.layout.n_units,
                             len(extra_state_variables(self.model, "hidden")), schedule)
        net = DendriticNetwork(self.model, self.params, self.n_inputs, self.protocol.dt,
                               record_traces=TRACE_VARIABLES, target=self.target,
                               device=self.device)
        if seed is None or seed >= 2**32:
            seed = _derived_seed(self.seed if seed is None else seed, 4, 0)
        total = float(schedule.total_steps * schedule.dt)
        report = None
        if progress is not None and self.device == "runtime":
            def report(elapsed, completed, start, duration):  # Brian2's report callback
                progress(float(completed) * total, total)
        elif progress is not None:
            progress(0.0, total)
        result = net.run(schedule, X, seed=seed, report=report)
        if progress is not None and report is None:
            progress(total, total)
        return result

    def record_spikes(self, X, example_ids, labels=None) -> dict:
        """Spike trains of every layer during test presentations of some rows of ``X``.

        Same result as :meth:`dendrinet.backends.numba.engine.FastEngine.record_spikes`:
        ``"input"``, ``"hidden_<l>"``, ``"output"`` as ``(times_ms, ids)``,
        ``"presentations"`` (structured array) and ``"mean_V"``.
        """

        X = validate_images(X, self.n_inputs, "X")
        ids = check_indices(example_ids, X.shape[0], "example_ids")
        lab = np.full(ids.size, -1, np.int64) if labels is None else \
            check_labels(labels, ids.size, self.model.n_outputs, "labels")
        pres = np.zeros(ids.size, dtype=PRESENTATION_DTYPE)
        out = {name: (np.zeros(0), np.zeros(0, np.int64)) for name in self.names}
        out["mean_V"] = np.zeros((ids.size, self.model.n_outputs))
        if ids.size:
            schedule = test_schedule(self.protocol, ids, lab)
            net = self._new_network()
            result = net.run(schedule, X, seed=_derived_seed(self.seed, 3, 0))
            out.update(result.spikes)
            out["mean_V"] = result.V_bar["output"]
            pres["t_start"], pres["t_stop"] = schedule.t_start, schedule.t_stop
        pres["example_id"], pres["label"], pres["phase"] = ids, lab, TEST
        out["presentations"] = pres
        return out

    # --------------------------------------------------------------- state
    def get_state(self) -> dict[str, np.ndarray]:
        """Potentials and traces of the training network, epoch count and seed."""
        state = {"epochs_done": np.array(self.epochs_done, np.int64),
                 "seed": np.array(self.seed, np.int64),
                 "layer_sizes": self.layout.sizes.copy(),
                 "format": np.array(_STATE_FORMAT, np.int64)}
        if self._net is not None:
            arrays = self._arrays(self._net, lambda name: self._net.state_variables[population_kind(name)])
            for (name, var), value in arrays.items():
                state[f"{name}.{var}"] = value.copy()
        elif self._pending_state is not None:
            state.update({k: v for k, v in self._pending_state.items() if "." in k})
        return state

    def set_state(self, state: dict) -> None:
        """Restore a :meth:`get_state` dictionary (validated)."""
        if not isinstance(state, dict) or not {"epochs_done", "seed", "layer_sizes"} <= set(state):
            raise DendrinetError("engine state must be a dict from Brian2Engine.get_state()")
        check_state_identity(state, self.layout.sizes, self.seed)
        for key, value in state.items():
            if "." not in key:
                continue
            name, var = key.split(".", 1)
            kind = population_kind(name) if name in self.names else None
            known = (STATE_VARIABLES[kind] + extra_state_variables(self.model, kind)
                     + stp_state_variables(self.model, kind)) if kind else ()
            if var not in known:
                raise DendrinetError(f"engine state has an unknown entry {key!r}")
            value = np.asarray(value, dtype=np.float64)
            n = int(self.layout.sizes[self.names.index(name)])
            if value.shape != (n,) or not np.all(np.isfinite(value)):
                raise DendrinetError(f"engine state {key!r}: expected {n} finite values")
        self.epochs_done = int(np.asarray(state["epochs_done"]))
        if self._net is None:
            self._pending_state = dict(state)
        else:
            self._load_state(state)

    def _load_state(self, state: dict) -> None:
        arrays = self._arrays(self._net, lambda name: self._net.state_variables[population_kind(name)])
        for (name, var), array in arrays.items():
            key = f"{name}.{var}"
            if key in state:
                array[:] = np.asarray(state[key], dtype=np.float64)


class _Learner:
    """The per-step callback of a training epoch: phase averages and plasticity."""

    def __init__(self, engine: Brian2Engine, net: DendriticNetwork, schedule, records,
                 samples_f, samples_t, sample_rows, sample_every, progress):
        model, layout = engine.model, engine.layout
        self.layout = layout
        self.names = engine.names
        self.schedule = schedule
        self.ends = schedule.start + schedule.n_steps - 1
        self.n_window = schedule.n_steps - schedule.settle
        self.records, self.samples_f, self.samples_t = records, samples_f, samples_t
        self.sample_rows, self.sample_every, self.progress = sample_rows, sample_every, progress
        self.sums = engine._arrays(net, lambda name: net.window_sums[population_kind(name)])
        self.extras = {name: extra_state_variables(model, population_kind(name))
                       for name in self.names[1:]}
        W, b, Y, Y_noise = layout.pack(engine.params)
        self.flat = FlatParams(layout.sizes, layout.uo, layout.wo, layout.yo, W, b, Y)
        self.W, self.b, self.Y = W, b, Y
        # the Brian2 arrays the new parameters are written into
        self.w_arrays = [s.variables["weight"].get_value() for s in net.feedforward]
        self.y_arrays = [s.variables["weight"].get_value() for s in net.feedback]
        self.b_arrays = [net.groups[name].variables["b"].get_value() for name in self.names[1:]]
        self.writes_Y = model.feedback.mode in ("symmetric", "noisy_symmetric", "learned")
        # the learning package alone (the model's rule; Brian2 simulates the neurons), so
        # any equation Brian2 runs also trains
        self.plasticity = plasticity
        self.rule = self.plasticity.make_rule(model, Y_noise, engine.epochs_done)
        n_x = max((len(x) for x in self.extras.values()), default=0)
        self.ex = self.plasticity.new_example(layout.n_inputs, layout.n_units, n_x)
        self.V_f, self.alpha_f, self.alpha_t = self.ex.V_f, self.ex.alpha_f, self.ex.alpha_t
        self.phi_t, self.s_units, self.s_in = self.ex.phi_t, self.ex.s_units, self.ex.s_in
        self.upd = self.plasticity.new_updates(layout.sizes)
        self.n_steps_seen = 0
        self.k = 0  # next presentation to finish
        self.n_correct = 0
        self.n_samples = 0

    def _units(self, out, var, n_window, transform=None, layers=None):
        """Copy a window mean of every (or the given) layer's ``var`` into a unit array."""
        for l, name in enumerate(self.names[1:]):
            if layers is not None and l not in layers:
                continue
            key = (name, var)
            if key in self.sums:
                values = self.sums[key] / n_window
                out[self.layout.uo[l]:self.layout.uo[l + 1]] = \
                    values if transform is None else transform(values)

    def _extra_means(self, out, n_window) -> None:
        """Window means of the model's own state variables into ``out`` (rows in the
        order of each kind's equations, as the fast engine's ``X``)."""
        for l, name in enumerate(self.names[1:]):
            lo, hi = self.layout.uo[l], self.layout.uo[l + 1]
            for r, var in enumerate(self.extras[name]):
                out[r, lo:hi] = self.sums[(name, f"sum_{var}")] / n_window

    def step(self) -> None:
        step = self.n_steps_seen
        self.n_steps_seen = step + 1
        k = self.k
        if k >= len(self.ends) or step != self.ends[k]:
            return
        nw = float(self.n_window[k])
        phase = self.schedule.phase[k]
        L = self.layout.n_layers
        if phase == FORWARD:
            self._units(self.V_f, "sum_V", nw)
            self._units(self.s_units, "sum_s", nw)
            self._units(self.alpha_f, "sum_Va", nw, sigmoid)
            self.s_in[:] = self.sums[("input", "sum_s")] / nw
            self._extra_means(self.ex.X_f, nw)
        elif phase == TARGET:
            self._units(self.alpha_t, "sum_Va", nw, sigmoid)
            self._units(self.phi_t, "sum_phi", nw, layers=(L - 1,))
            self._extra_means(self.ex.X_t, nw)
            self._learn(k // 2)
        for array in self.sums.values():
            array[:] = 0.0
        self.k = k + 1

    def _learn(self, q: int) -> None:
        lo = self.layout.uo[-2]
        self.ex.key[0] = q  # a number unique to the example (rules that draw noise)
        self.plasticity.learn_flat(self.flat, self.rule, self.ex, self.upd)
        label = self.schedule.label[2 * q]
        correct = int(np.argmax(self.V_f[lo:]) == label)
        self.n_correct += correct
        self.records[q, 0] = correct
        self.records[q, 1:] = self.upd.stats
        if q % self.sample_every == 0:
            hid = self.layout.n_hidden_units
            self.samples_f[self.n_samples] = self.alpha_f[:hid]
            self.samples_t[self.n_samples] = self.alpha_t[:hid]
            self.sample_rows[self.n_samples] = q
            self.n_samples += 1
        wo, uo, yo = self.layout.wo, self.layout.uo, self.layout.yo
        for l, array in enumerate(self.w_arrays):
            array[:] = self.W[wo[l]:wo[l + 1]]
        for l, array in enumerate(self.b_arrays):
            array[:] = self.b[uo[l]:uo[l + 1]]
        if self.writes_Y:
            for l, array in enumerate(self.y_arrays):
                array[:] = self.Y[yo[l]:yo[l + 1]]
        if self.progress is not None and (q + 1) % 50 == 0:
            self.progress(q + 1, self.n_correct)

    def finish(self) -> None:
        if self.k != len(self.ends):
            raise DendrinetError(f"internal error: {self.k} of {len(self.ends)} presentations "
                                 f"were completed by the Brian2 run")
        n = len(self.ends) // 2
        if self.progress is not None and n % 50:
            self.progress(n, self.n_correct)
