"""The rate engine: the mean-field version of the fast engine's discrete-time network.

Every Bernoulli spike of probability ``p`` is replaced by ``p`` (inputs: ``p_max x``;
units: ``p_max sig(V)``, ``p_max = phi_max dt``; :mod:`.rate_kernels`). It runs the same
model (the neuron part of :mod:`dendrinet.backends.numba.model_part`: standard or
generated equations, extra state variables, parameter values as data), the same
learning (:func:`dendrinet.learning.plasticity.learn`), the same phase schedule and
jitter (:func:`dendrinet.config.schedule.training_schedule`), and writes the same run
folders; it is deterministic (no spike noise). Use it to explore settings quickly, and
confirm with the spiking engine (docs/rate_engine.rst).

Where it is fast: an input's rate is constant during a phase, so the mean field has a
fixed point, and where the protocol's phases are long enough for their averages to be
its values (:func:`choose_phases`; ``guerguiev2017``) each phase is that fixed point,
found with one matrix-vector product per layer (:mod:`.fixed_point`); no random numbers
are drawn; the input traces are a closed form. Stepped phases (short ones, or asked for)
need a dense product ``W^T p`` per step above the first layer, where the spiking engine
adds the rows of the few units that spiked (docs/rate_engine.rst, "Speed"). Loops over
examples: :mod:`dendrinet.backends.rate.drivers`.
"""
from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field

import numba
import numpy as np

from dendrinet.backends.numba import dynamics
from dendrinet.backends.numba.engine_state import (apical_traces, check_kernel_parameters,
                                                   chunk_arrays, restore_state, saved_state,
                                                   training_phases)
from dendrinet.backends.numba.jit_cache import is_cached, refresh_once
from dendrinet.backends.numba.model_part import ENGINE_MODULES, model_part
from dendrinet.backends.numba.replay import fill_phase_averages
from dendrinet.backends.rate import drivers, fixed_point
from dendrinet.backends.rate import rate_kernels as kernels
from dendrinet.config import ModelConfig, ProtocolConfig
from dendrinet.config.schedule import TARGET, Schedule
from dendrinet.datasets.encoding import validate_images
from dendrinet.engine import check_compile_stage, check_present_memory, check_present_options
from dendrinet.engine.checks import (check_callback, check_engine_args, check_indices,
                                     check_labels, check_training_args)
from dendrinet.engine.finite import check_test_potentials, check_training_chunk
from dendrinet.engine.results import (SimulationResult, n_stats, population_names, predictions,
                                      sample_buffers, sigmoid, training_history)
from dendrinet.errors import DendrinetError
from dendrinet.jit.random_streams import derive_key
from dendrinet.learning import plasticity
from dendrinet.learning.layout import FlatLayout
from dendrinet.model.weights import Parameters

__all__ = ["RateEngine", "RateResult", "NO_SPIKES"]

#: Training examples per Numba call (progress and finiteness checks between chunks).
TRAIN_CHUNK = 256
#: Test examples per parallel Numba call.
TEST_CHUNK = 1024
#: Default fixed-point tolerance of test presentations (per step, potentials and traces).
STEADY_TOL = 1e-12
#: What a caller asking the rate engine for spikes is told.
NO_SPIKES = "the rate engine has no spikes; use --engine fast"
#: How presentations may be run: ``"auto"`` (fixed points where the transient they leave
#: out is small, :func:`choose_phases`), ``"fixed-point"`` or ``"stepped"``.
PHASES = ("auto", "fixed-point", "stepped")
#: The largest share of a window mean a left-out transient may hold under ``"auto"``:
#: 2 %, below the mean field's own distance from the spiking network's means (medians of
#: 1-6 % above the first layer, tests/test_rate_engine.py).
TRANSIENT_LIMIT = 0.02
_STATE_FORMAT = 1


def refresh_rate_cache() -> None:
    """Numba's cache of the rate kernels dropped when their source, or that of any
    kernel they contain (the fast engine's modules), changed since it was written (Numba
    checks a function's own file only); once per process, before the first compile."""
    modules = [importlib.import_module(name) for name in ENGINE_MODULES]
    refresh_once([*modules, kernels, fixed_point, drivers],
                 owned=[kernels, fixed_point, drivers])


def _check_settled(n_unsettled: int, what: str) -> None:
    """One clear error when a phase's fixed point was not found (a model whose state does
    not settle under a constant input: it oscillates, or drifts)."""
    if n_unsettled:
        raise DendrinetError(
            f"{what}: {n_unsettled} layer phase(s) reached no fixed point within "
            f"{fixed_point.MIN_MAX_STEPS} steps (the model's state does not settle under a "
            "constant input); run the rate engine with phases=\"stepped\"")


def transient_share(model: ModelConfig, protocol: ProtocolConfig, settle: int,
                    n_window: int) -> float:
    """:func:`~dendrinet.backends.rate.fixed_point.transient_share` for ``model``'s
    layers and standard time constants at ``protocol.dt``."""
    n, dt = model.neuron, protocol.dt
    return fixed_point.transient_share(
        len(model.hidden) + 1, math.exp(-dt / n.tau_L), math.exp(-dt / n.tau_s),
        math.exp(-(n.g_L + n.g_B + n.g_A) * dt), math.exp(-(n.g_L + n.g_D) * dt), settle,
        n_window)


def choose_phases(model: ModelConfig, protocol: ProtocolConfig, phases: str = "auto"
                  ) -> dict:
    """How training and test presentations run: ``{"train": ..., "test": ...}``, each
    ``"fixed-point"`` or ``"stepped"``.

    ``"auto"`` takes the fixed point where the transient it leaves out holds at most
    :data:`TRANSIENT_LIMIT` of a window mean (:func:`transient_share`; training: the
    shortest phase's window; tests: from rest). With the standard neuron, 120 ms phases
    averaged after 90 ms and 1000 ms tests after 30 ms (``guerguiev2017``) are fixed
    points up to two hidden layers; ``paper-timing`` steps. A model with its own
    equations steps (its time constants are its own), unless ``"fixed-point"`` is asked
    for; so does a model whose synapses depress or facilitate (``[synapses]``: their
    state is stepped, never a fixed point)."""
    if phases not in PHASES:
        raise DendrinetError(f"phases must be one of {', '.join(PHASES)}, got {phases!r}")
    if phases == "fixed-point" and not model.synapses.is_static:
        raise DendrinetError(
            f"model {model.name!r}: its synapses have short-term plasticity ([synapses]), "
            "whose state the fixed points leave out; run the rate engine with "
            "phases=\"stepped\" or \"auto\"")
    if phases != "auto":
        return {"train": phases, "test": phases}
    if not (model.equations.is_default and model.synapses.is_static):
        return {"train": "stepped", "test": "stepped"}
    settle = protocol.settle_steps
    shares = {"train": transient_share(model, protocol, settle,
                                       protocol.steps(protocol.phase_duration) - settle),
              "test": transient_share(model, protocol, protocol.test_settle_steps,
                                      protocol.test_steps - protocol.test_settle_steps)}
    return {k: "fixed-point" if share <= TRANSIENT_LIMIT else "stepped"
            for k, share in shares.items()}


@dataclass(kw_only=True)
class RateResult(SimulationResult):
    """What :meth:`RateEngine.present` returns: a
    :class:`~dendrinet.engine.results.SimulationResult` without spikes, whose
    :meth:`rates` are the *expected* spike counts per presentation divided by its
    duration (inputs: ``phi_max x``; units: ``phi_max`` times the mean of ``sig(V)`` over
    every step), Hz. There is no spike store to write.

    Attributes
    ----------
    expected_rates : dict of str -> ndarray (n_presentations, n)
        Those rates per population, Hz.
    """

    expected_rates: dict = field(default_factory=dict)

    def rates(self, population: str) -> np.ndarray:
        """Expected spike count per presentation divided by its duration, Hz."""
        if population not in self.expected_rates:
            raise DendrinetError(f"no population {population!r} (populations: "
                                 f"{', '.join(self.sizes)})")
        return self.expected_rates[population].copy()

    def mean_rate(self, population: str) -> float:
        """Expected mean rate of a population over the whole run, Hz."""
        weights = self.schedule.n_steps.astype(np.float64)
        if not weights.sum():
            return 0.0
        return float((self.rates(population).mean(axis=1) * weights).sum() / weights.sum())

    def write_store(self, path, metadata: dict | None = None, *,
                    overwrite: bool = True) -> None:
        """Always a :class:`~dendrinet.errors.DendrinetError`: no spikes to store."""
        raise DendrinetError(NO_SPIKES)


def _expected_rates(X, schedule: Schedule, V_trace: np.ndarray, layout: FlatLayout,
                    names, phi_max: float) -> dict:
    """Expected spike counts per presentation divided by its duration, Hz, per
    population (``V_trace``: V of every unit after every step)."""
    bounds = np.concatenate([[0], np.cumsum(schedule.n_steps)]).astype(np.int64)
    out = {names[0]: 1000.0 * phi_max * X[schedule.example_id]}
    for l, name in enumerate(names[1:]):
        part = V_trace[:, layout.uo[l]:layout.uo[l + 1]]
        rates = np.zeros((len(schedule), part.shape[1]))
        for k in range(len(schedule)):
            if bounds[k + 1] > bounds[k]:
                rates[k] = sigmoid(part[bounds[k]:bounds[k + 1]]).mean(axis=0)
        out[name] = 1000.0 * phi_max * rates
    return out


class RateEngine:
    """Trains and tests a segregated-dendrite network in the mean field (no spikes).

    Parameters
    ----------
    model : ModelConfig
        Any model the fast engine runs (its neuron part and rule).
    protocol : ProtocolConfig
        Phase lengths, windows, ``dt`` (ms); the phase jitter of training is the fast
        engine's (same seed, same epoch: same phase lengths).
    params : Parameters
        Trained in place.
    seed : int
        Seed of the phase jitter and of rules that draw noise (non-negative).
    steady_tol : float
        A test presentation stops once no state variable changes by more than this per
        step (a fixed point: the remaining steps of the window are copies;
        :func:`~dendrinet.backends.rate.rate_kernels.rate_presentation`); 0 simulates
        every step. The error of a mean potential is about ``10 steady_tol``.
    phases : {"auto", "fixed-point", "stepped"}
        ``"fixed-point"``: every presentation replaced by its fixed point (one product
        per layer and phase instead of one per step:
        :mod:`~dendrinet.backends.rate.fixed_point`); it leaves out the transient before
        the window. ``"stepped"``: every step simulated. ``"auto"`` (default): fixed
        points for training and for tests separately, where the transient holds at most
        :data:`TRANSIENT_LIMIT` of a window mean (:func:`choose_phases`: the protocol
        ``guerguiev2017`` trains and tests at fixed points, ``paper-timing`` steps).
        :meth:`present` always steps (it returns every step's traces).
    """

    name = "rate"
    #: No spike trains to record (``dendrinet train`` writes no spike sample for it).
    has_spikes = False

    def __init__(self, model: ModelConfig, protocol: ProtocolConfig, params: Parameters,
                 seed: int = 0, steady_tol: float = STEADY_TOL, phases: str = "auto"):
        check_engine_args(model, protocol, seed)
        self.phases = choose_phases(model, protocol, phases)
        if isinstance(steady_tol, bool) or not isinstance(steady_tol, (int, float)) \
                or not 0.0 <= steady_tol < 1e-3:
            raise DendrinetError(f"steady_tol must be a number in [0, 1e-3), got "
                                 f"{steady_tol!r}")
        self.steady_tol = float(steady_tol)
        self._part = model_part(model)
        if self._part.random or self._part.on_spike or self._part.spike_condition:
            what = ("draw random numbers (rand(), randn())" if self._part.random else
                    "run code on each spike ([equations] hidden_on_spike / output_on_spike)"
                    if self._part.on_spike else
                    "spike on a condition ([equations] hidden_spike_condition / "
                    "output_spike_condition)")
            raise DendrinetError(
                f"model {model.name!r}: its equations {what}, which the rate engine's mean "
                "field has no counterpart for; train it with --engine fast or --engine brian2")
        refresh_rate_cache()
        sizes = check_kernel_parameters(model, params)
        self.model = model
        self.protocol = protocol
        self.params = params
        self.seed = int(seed)
        self.layout = FlatLayout.from_sizes(sizes)
        self._state = dynamics.make_state(self.layout.n_inputs, self.layout.n_units,
                                          self._part.n_extra)
        self._key = np.uint64(derive_key(np.uint64(self.seed), np.uint64(11)))
        self.epochs_done = 0
        self._apical_train, self._apical_test = apical_traces(model)

    @property
    def n_inputs(self) -> int:
        return self.layout.n_inputs

    def describe(self) -> str:
        """:meth:`dendrinet.engine.Engine.describe`."""
        how = ("phases at their fixed points" if set(self.phases.values()) == {"fixed-point"}
               else "every step" if set(self.phases.values()) == {"stepped"}
               else f"training {self.phases['train']}, tests {self.phases['test']}")
        return f"rate engine (mean field, Numba; {how})"

    def settings(self) -> dict:
        """:meth:`dendrinet.engine.Engine.settings`: the fixed-point tolerance of stepped
        tests and how presentations run."""
        return {"steady_tol": self.steady_tol, "phases": dict(self.phases)}

    def compile_note(self, what: str = "train") -> str | None:
        """A line for the user when the first calls of ``what`` will compile the rate
        kernels (no on-disk cache yet), else None."""
        k = kernels
        stage = check_compile_stage(what)
        needed = (k.rate_present_schedule,) if stage == "present" else \
            (drivers.rate_train_chunk, drivers.rate_evaluate, k.rate_present_schedule)
        if not is_cached(*needed):
            return ("compiling the rate engine's kernels (once per installation, for every "
                    "model: a minute or two on a small machine; cached afterwards)")
        return self._part.compile_note(self.model.name)

    def precompile(self, X) -> None:
        """Compile (or load) the kernel of :meth:`present` too (see
        :meth:`dendrinet.backends.numba.engine.FastEngine.precompile`)."""
        from dendrinet.config.schedule import test_schedule

        self.present(X[:1], test_schedule(self.protocol, [0]))

    def _net(self):
        check_kernel_parameters(self.model, self.params)  # the caller may have replaced arrays
        W, b, Y, Yn = self.layout.pack(self.params)
        net = dynamics.make_net(self.layout, W, b, Y, self.model, self.protocol.dt, self._part,
                                single_inputs=False)
        return net, Yn

    def _scratch(self):
        lay = self.layout
        return kernels.new_rate_scratch(lay.n_inputs, lay.n_units, int(lay.sizes[1]),
                                        self.model.n_outputs, int(lay.wo[-1]),
                                        self._part.n_extra)

    # ------------------------------------------------------------ training
    def train_epoch(self, X, y, order=None, progress=None, sample_every: int = 100
                    ) -> dict[str, np.ndarray]:
        """One pass over the examples ``order`` (rows of ``X``), learning after each;
        the history of :meth:`dendrinet.backends.numba.engine.FastEngine.train_epoch`."""
        X, y, order = check_training_args(X, y, order, progress, sample_every, self.n_inputs,
                                          self.model.n_outputs)
        n = order.size
        layout = self.layout
        n_hidden_layers = layout.n_layers - 1
        schedule, n_fwd, n_tgt = training_phases(self.protocol, self.seed, self.epochs_done,
                                                 order, y)
        settle = self.protocol.settle_steps
        net, Yn = self._net()
        rule = plasticity.make_rule(self.model, Yn, self.epochs_done)
        ex = plasticity.new_example(layout.n_inputs, layout.n_units, net.n_x)
        upd = plasticity.new_updates(layout.sizes)
        scr = self._scratch()
        acc = dynamics.new_acc(layout.n_inputs, layout.n_units, net.n_x)
        records = np.zeros((n, 1 + n_stats(n_hidden_layers)))
        samples_f, samples_t, sample_rows = sample_buffers(n, sample_every,
                                                           layout.n_hidden_units)
        key = np.uint64(derive_key(self._key, np.uint64(self.epochs_done)))
        done, k = 0, 0
        steady = self.phases["train"] == "fixed-point"
        fp = fixed_point.new_steady_scratch(layout.n_units, self._part.n_extra)
        while done < n:
            stop = min(n, done + TRAIN_CHUNK)
            k += drivers.rate_train_chunk(
                net, self._state, scr, fp, acc, rule, ex, upd, X, y, order[done:stop],
                n_fwd[done:stop], n_tgt[done:stop], settle, records[done:stop], samples_f[k:],
                samples_t[k:], sample_rows[k:], sample_every, done, self._apical_train, key,
                steady, fixed_point.FIXED_POINT_TOL)
            _check_settled(int(fp.unsettled[0]), f"training (epoch {self.epochs_done + 1})")
            check_training_chunk(records, order, done, stop, self.epochs_done + 1,
                                 n_hidden_layers, self._chunk_arrays(net, ex, acc))
            done = stop
            if progress is not None:
                progress(done, int(records[:done, 0].sum()))
        layout.unpack_into(self.params, net.W, net.b, net.Y)
        self.epochs_done += 1
        return training_history(self.epochs_done, order, y, records, layout.uo, samples_f,
                                samples_t, sample_rows)

    def _chunk_arrays(self, net, ex, acc):
        return chunk_arrays(self.layout, self._state, net, ex, acc, "filtered rates")

    # ---------------------------------------------------------------- test
    def evaluate(self, X, y=None, progress=None) -> dict:
        """Test presentations (state reset, ``test_duration``) of every row of ``X`` in
        the mean field, on every core: ``pred``, ``mean_V`` (and ``correct``, ``error``
        with ``y``), as :meth:`dendrinet.backends.numba.engine.FastEngine.evaluate`."""
        X = validate_images(X, self.n_inputs, "X")
        labels = None if y is None else check_labels(y, X.shape[0], self.model.n_outputs)
        check_callback(progress)
        n = X.shape[0]
        net, _ = self._net()
        steps, settle = self.protocol.test_steps, self.protocol.test_settle_steps
        mean_V = np.zeros((n, self.model.n_outputs))
        threads = numba.get_num_threads()
        done, n_correct = 0, 0
        while done < n:
            stop = min(n, done + TEST_CHUNK)
            blocks = min(stop - done, 4 * threads)
            unsettled = np.zeros(blocks, np.int64)
            drivers.rate_evaluate(net, X[done:stop], steps, settle, mean_V[done:stop], blocks,
                                  self._apical_test, self.phases["test"] == "fixed-point",
                                  fixed_point.FIXED_POINT_TOL, self.steady_tol, unsettled)
            _check_settled(int(unsettled.sum()), "test presentations")
            check_test_potentials(mean_V, done, stop)
            if labels is not None:
                n_correct += int(np.count_nonzero(
                    mean_V[done:stop].argmax(axis=1) == labels[done:stop]))
            done = stop
            if progress is not None:
                progress(done, None if labels is None else n_correct)
        return predictions(mean_V, labels)

    def present(self, X, schedule: Schedule, *, seed: int | None = None,
                progress=None) -> RateResult:
        """Present a schedule in the mean field (no learning): the traces of every unit
        after each step, the phase averages and the expected rates; no spikes
        (:class:`RateResult`). ``seed`` is checked and unused (nothing is random)."""
        X = validate_images(X, self.n_inputs, "X")
        check_present_options(seed, progress)
        if not isinstance(schedule, Schedule):
            raise DendrinetError("schedule must be a dendrinet.config.schedule.Schedule")
        if schedule.dt != self.protocol.dt:
            raise DendrinetError(f"schedule.dt = {schedule.dt} ms is not the protocol's dt = "
                                 f"{self.protocol.dt} ms")
        check_indices(schedule.example_id, X.shape[0], "schedule.example_id")
        lay = self.layout
        n_in, n_units = lay.n_inputs, lay.n_units
        net, _ = self._net()
        st = dynamics.make_state(n_in, n_units, self._part.n_extra)
        T, n_pres = int(schedule.total_steps), len(schedule)
        check_present_memory(n_in, n_units, net.n_x, schedule)
        if progress is not None:
            progress(0.0, T * schedule.dt)
        tr = [np.zeros((max(T, 1), n_units)) for _ in range(3)]
        tr.append(np.zeros((max(T, 1), net.n_x, n_units)))
        means = dynamics.new_means(n_pres, n_in, n_units, net.n_x)
        kernels.rate_present_schedule(
            net, st, self._scratch(), dynamics.new_acc(n_in, n_units, net.n_x), X,
            schedule.example_id, schedule.n_steps, schedule.settle, schedule.phase == TARGET,
            np.maximum(schedule.label, 0), schedule.reset.astype(np.bool_), tr[0], tr[1],
            tr[2], tr[3], means)
        if progress is not None:
            progress(T * schedule.dt, T * schedule.dt)
        names = population_names(self.model)
        result = RateResult(sizes={n: int(s) for n, s in zip(names, lay.sizes)},
                            schedule=schedule, t_offset=0.0, spikes={},
                            expected_rates=_expected_rates(X, schedule, tr[0][:T], lay, names,
                                                           self.model.neuron.phi_max))
        for l, name in enumerate(names[1:]):
            result.trace_neurons[name] = np.arange(int(lay.sizes[l + 1]))
        return fill_phase_averages(result, lay, means, tr, T, self._part.extra_state)

    def record_spikes(self, X, example_ids, labels=None) -> dict:
        """Always a :class:`~dendrinet.errors.DendrinetError`: the mean field has no
        spikes."""
        raise DendrinetError(NO_SPIKES)

    # --------------------------------------------------------------- state
    def get_state(self) -> dict[str, np.ndarray]:
        """Potentials, traces and the epoch count: what continuing training needs."""
        state = saved_state(self._state, self.layout, self.params, self._apical_train,
                            self.epochs_done, self.seed)
        state["rate_format"] = np.array(_STATE_FORMAT, np.int64)
        return state

    def set_state(self, state: dict) -> None:
        """Restore a :meth:`get_state` dictionary (validated: keys, shapes, finite)."""
        self.epochs_done = restore_state(self._state, state, self.layout, self.seed,
                                         {"rate_format"}, "rate-engine")
