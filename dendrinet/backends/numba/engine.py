"""The fast engine: the discrete-time network of docs/design.md in Numba.

It integrates exactly the equations of the Brian2 network (:mod:`dendrinet.backends.brian2.network`):
same step order, exact trace decays, exponential-Euler somata, Bernoulli spikes,
weights that change only between examples. It is fast because

* whole chunks of examples (256) run inside one Numba call, learning included;
* input spikes are drawn per step only for the inputs that can spike (about a fifth
  of MNIST's pixels), in one vectorised loop over their streams, and propagated
  event by event: the weight rows of one step's spikes are summed once (in float32
  by default, ``input_precision``) into the postsynaptic traces;
* a unit's sigmoid is evaluated only when its uniform number is below ``phi_max dt``
  (the only case in which it can spike): the same spikes for a fifth of the work;
* the per-neuron, per-step update vectorises (SIMD): one random stream per neuron
  (xoroshiro128+), a branch-free ``exp``/sigmoid accurate to 1e-15, no branches in
  the loops (:mod:`~dendrinet.jit.numerics`,
  :mod:`~dendrinet.jit.random_streams`, :mod:`~dendrinet.backends.numba.dynamics`);
* with fixed feedback weights and no apical conductance (``g_A = 0``, the paper's
  default) the apical potential is obtained from the output layer's own traces
  instead of 2 x n_hidden apical traces (``dynamics.run_presentation``, Notes);
* traces below 1e-30 are set to zero every 32 steps (no denormals; the weight rows of
  long-silent inputs are skipped by learning), 14 orders of magnitude below the
  precision of any potential;
* test examples are independent (state reset) and run in parallel on every core.

Random streams. ``seed`` fixes everything: the per-neuron and input streams of
training (carried across epochs, part of :meth:`FastEngine.get_state`), the phase
jitter (``numpy`` generator seeded with ``[seed, epoch]``, through
:func:`dendrinet.config.schedule.training_schedule`), and the test streams, which are seeded per
example from ``(seed, row of X)``: evaluating the same images with the same parameters
gives the same result, whatever the number of threads, and :meth:`FastEngine.record_spikes`
shows exactly the spikes of :meth:`FastEngine.evaluate`.

:func:`replay` runs the same step with given spike trains for every population (for
comparisons with Brian2); the engine's own spikes replayed through it reproduce its
training to rounding (tests/test_numba_engine.py).

Compilation. The kernels are compiled on first use (about a minute) and cached on disk
(``__pycache__`` next to the sources, or ``NUMBA_CACHE_DIR``); the first engine a process
creates drops that cache if any engine source changed since it was written
(:func:`~dendrinet.backends.numba.model_part.refresh_engine_cache`). A training run
compiles the kernels of :meth:`FastEngine.present` and :meth:`FastEngine.record_spikes`
too (:meth:`FastEngine.precompile`), so that a model compiles once.

Any model. The kernels are compiled once for every model: they reach a model's neuron
update and its hidden layers' learning rule only as first-class functions, and its
parameter values as data (:mod:`~dendrinet.backends.numba.model_part`, the one boundary).
A model with its own equations compiles only its neuron part, generated from its Brian2
equations (:mod:`~dendrinet.backends.numba.codegen`; seconds, once per equation variant,
whatever its values); a rule of its own compiles only itself
(:mod:`dendrinet.learning.rule_part`). Such models keep explicit apical traces.
"""
from __future__ import annotations


import numba
import numpy as np

from dendrinet.backends.numba.engine_state import (apical_traces, check_kernel_parameters,
                                                   chunk_arrays, restore_state, saved_state,
                                                   training_phases)
from dendrinet.backends.numba.input_spikes import new_events
from dendrinet.backends.numba.jit_cache import is_cached
from dendrinet.learning.layout import FlatLayout
from dendrinet.jit.random_streams import derive_key, seed_streams
from dendrinet.backends.numba.replay import fill_phase_averages
from dendrinet.backends.numba import drivers, dynamics
from dendrinet.backends.numba import replay as replay_module
from dendrinet.backends.numba.model_part import model_part
from dendrinet.learning import plasticity
from dendrinet.config import ModelConfig, ProtocolConfig
from dendrinet.datasets.encoding import validate_images
from dendrinet.engine import check_compile_stage, check_present_memory, check_present_options
from dendrinet.engine.checks import (check_callback, check_engine_args, check_indices,
                                     check_labels, check_training_args)
from dendrinet.engine.results import (SimulationResult, n_stats, population_names, predictions,
                                      sample_buffers, training_history)
from dendrinet.engine.finite import check_test_potentials, check_training_chunk
from dendrinet.errors import DendrinetError
from dendrinet.config.limits import check_memory, recording_bytes
from dendrinet.config.schedule import PRESENTATION_DTYPE, TARGET, TEST, Schedule
from dendrinet.model.weights import Parameters

__all__ = ["FastEngine", "replay"]


def replay(model: ModelConfig, params: Parameters, schedule: Schedule, spikes: dict, *,
           learn: bool = False, input_precision: str = "double"):
    """:func:`dendrinet.backends.numba.replay.replay`: the given spike trains imposed on
    every population of ``model`` (any model: its own neuron part and rule); returns the
    traces, phase averages and (``learn=True``) learned parameters."""
    return replay_module.replay(model, params, schedule, spikes, learn=learn,
                                input_precision=input_precision)

#: Training examples per Numba call (progress is reported between chunks).
TRAIN_CHUNK = 256
#: Test examples per parallel Numba call.
TEST_CHUNK = 1024
_STATE_FORMAT = 2  # 2: one random stream per input neuron


class FastEngine:
    """Trains and tests a segregated-dendrite network with the Numba kernels.

    Parameters
    ----------
    model : ModelConfig
        Any model: the standard equations and rule run on hand-written kernels, others
        on code generated from the model's Brian2 equations and learning rule
        (:mod:`~dendrinet.backends.numba.model_part`; compiled once, cached on disk).
    protocol : ProtocolConfig
        Phase lengths, windows, ``dt`` (ms).
    params : Parameters
        Trained in place (``W``, ``b``; ``Y`` in the symmetric and learned modes).
    seed : int
        Seed of every random stream of the engine (non-negative).
    input_precision : {"single", "double"}
        Precision of the input-spike propagation (the step's most expensive part):
        "single" (default) sums the weight rows of each step's input spikes in float32
        from a float32 copy of the first weight matrix (relative error about 1e-7 of
        that step's input; everything else, and learning, in float64); "double" sums
        in float64, like :func:`replay`, for bit-level comparisons.

    Attributes
    ----------
    params : Parameters
    epochs_done : int
        Number of :meth:`train_epoch` calls so far (it selects the phase jitter).
    """

    name = "fast"

    def __init__(self, model: ModelConfig, protocol: ProtocolConfig, params: Parameters,
                 seed: int = 0, input_precision: str = "single"):
        check_engine_args(model, protocol, seed)
        # the model's neuron part: hand-written, or generated from its equations
        # (dendrinet.backends.numba.model_part; the kernels are the same for every model)
        self._part = model_part(model)
        sizes = check_kernel_parameters(model, params)
        if input_precision not in ("single", "double"):
            raise DendrinetError(f"input_precision must be 'single' or 'double', got "
                                 f"{input_precision!r}")
        self.input_precision = input_precision
        self.model = model
        self.protocol = protocol
        self.params = params
        self.seed = int(seed)
        self.layout = FlatLayout.from_sizes(sizes)
        self._key = np.uint64(self.seed)
        self._state = dynamics.make_state(self.layout.n_inputs, self.layout.n_units,
                                          self._part.n_extra)
        # numba returns uint64 results as Python ints: wrap them again
        train_key = np.uint64(derive_key(self._key, np.uint64(1)))
        seed_streams(train_key, self._state.s0, self._state.s1)
        seed_streams(np.uint64(derive_key(train_key, np.uint64(1))), self._state.rin0,
                     self._state.rin1)
        self._test_key = np.uint64(derive_key(self._key, np.uint64(2)))
        self.epochs_done = 0
        self._apical_train, self._apical_test = apical_traces(model)

    # ------------------------------------------------------------- helpers
    @property
    def n_inputs(self) -> int:
        return self.layout.n_inputs

    def describe(self) -> str:
        """:meth:`dendrinet.engine.Engine.describe`."""
        return f"{'fast' if self.input_precision == 'single' else 'fast-double'} engine (Numba)"

    def settings(self) -> dict:
        """:meth:`dendrinet.engine.Engine.settings`: none beyond the name (``fast`` or
        ``fast-double`` says the input precision)."""
        return {}

    def compile_note(self, what: str = "train") -> str | None:
        """A line for the user when the first calls of ``what`` ("train": training and
        test; "present": :meth:`present`) will compile the kernels (no on-disk cache
        yet), else None."""
        d = drivers
        # training compiles everything (precompile): a model compiles once
        kernels = (d.present_schedule,) if check_compile_stage(what) == "present" else \
            (d.train_chunk, d.evaluate_examples, d.record_examples, d.present_schedule)
        if not is_cached(*kernels):
            return ("compiling the fast engine's kernels (once per installation, for every "
                    "model: about two minutes on a small machine; cached afterwards)")
        return self._part.compile_note(self.model.name)

    def precompile(self, X) -> None:
        """Compile (or load from the cache) the kernels that training and testing do not
        run, those of :meth:`present` and :meth:`record_spikes`, by presenting the first
        row of ``X`` once to each: ``dendrinet train`` then ``dendrinet simulate`` of a
        model compile once (:func:`dendrinet.training.epochs.warm_up` calls it on a throwaway
        engine; neither call changes an engine's state)."""
        from dendrinet.config.schedule import test_schedule

        self.present(X[:1], test_schedule(self.protocol, [0]))
        self.record_spikes(X[:1], [0])

    def _net(self):
        check_kernel_parameters(self.model, self.params)  # the caller may have replaced arrays
        W, b, Y, Yn = self.layout.pack(self.params)
        net = dynamics.make_net(self.layout, W, b, Y, self.model, self.protocol.dt, self._part,
                                single_inputs=self.input_precision == "single")
        return net, Yn

    # ------------------------------------------------------------ training
    def train_epoch(self, X, y, order=None, progress=None, sample_every: int = 100
                    ) -> dict[str, np.ndarray]:
        """One pass over the examples ``order`` (rows of ``X``), learning after each.

        Parameters
        ----------
        X : array (n, n_inputs)
            Pixel intensities in [0, 1].
        y : array of int (n,)
            Labels in ``[0, n_outputs)``.
        order : array of int, optional
            Rows of ``X`` in presentation order (the caller shuffles); default
            ``0 .. n-1``. May repeat or omit rows.
        progress : callable, optional
            ``progress(n_done, n_correct)``, called after every chunk of examples.
        sample_every : int
            Keep the full plateau vectors of every ``sample_every``-th example.

        Returns
        -------
        dict of str -> ndarray
            Per example (in presentation order): ``epoch``, ``example_id``, ``label``,
            ``correct`` (forward-phase prediction, bool), ``loss_out``, and per hidden
            layer ``loss_hidden_<l>``, ``angle_<l>`` (degrees), ``alpha_diff_mean_<l>``,
            ``alpha_diff_sd_<l>``; the sampled ``alpha_f_<l>``, ``alpha_t_<l>``
            (n_samples, n_hidden_l) with ``sample_position`` (position in this epoch)
            and ``sample_example_id``.
        """
        return self._train(X, y, order, progress, sample_every, record=False)[0]

    def _train(self, X, y, order, progress, sample_every, record: bool):
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
        learner = drivers.Learner(rule, ex, upd)
        n_in, n_units = layout.n_inputs, layout.n_units
        scr = dynamics.new_scratch(n_in, n_units, layout.n_layers, self.model.n_outputs,
                                        net.W_in)
        acc = dynamics.new_acc(n_in, n_units, net.n_x)
        ev = new_events(n_in, int((n_fwd + n_tgt).max()) if n else 1)
        records = np.zeros((n, 1 + n_stats(n_hidden_layers)))
        samples_f, samples_t, sample_rows = sample_buffers(n, sample_every,
                                                           layout.n_hidden_units)
        total_steps = int(schedule.total_steps)
        rec = np.zeros((total_steps if record else 1, n_in + n_units), np.uint8)
        done, k, row = 0, 0, 0
        while done < n:
            stop = min(n, done + TRAIN_CHUNK)
            chunk = drivers.Chunk(X, y, order[done:stop], n_fwd[done:stop], n_tgt[done:stop],
                                  settle, done, self._apical_train)
            out = drivers.ChunkOutput(records[done:stop], samples_f[k:], samples_t[k:],
                                      sample_rows[k:], sample_every)
            ks, row = drivers.train_chunk(net, self._state, scr, acc, ev, learner, chunk, out,
                                          record, dynamics.Rows(rec, row))
            k += ks
            # once per chunk, outside the compiled loop: a NaN or infinity stops training
            check_training_chunk(records, order, done, stop, self.epochs_done + 1,
                                 n_hidden_layers, self._chunk_arrays(net, ex, acc))
            done = stop
            if progress is not None:
                progress(done, int(records[:done, 0].sum()))
        layout.unpack_into(self.params, net.W, net.b, net.Y)
        self.epochs_done += 1
        hist = training_history(self.epochs_done, order, y, records, layout.uo, samples_f,
                                samples_t, sample_rows)
        return hist, schedule, rec

    def _chunk_arrays(self, net, ex, acc):
        return chunk_arrays(self.layout, self._state, net, ex, acc)

    # ---------------------------------------------------------------- test
    def evaluate(self, X, y=None, progress=None) -> dict:
        """Test presentations (state reset, ``test_duration``) of every row of ``X``, on
        every core.

        Parameters
        ----------
        X : array (n, n_inputs)
            Pixel intensities in [0, 1].
        y : array of int (n,), optional
            Labels; adds ``correct`` and ``error`` to the result.
        progress : callable, optional
            ``progress(n_done, n_correct)`` (``n_correct`` is None without ``y``).

        Returns
        -------
        dict
            ``pred`` (int64, argmax of the mean output potential), ``mean_V`` (n, n_out),
            mean output somatic potential over the window; with ``y`` also ``correct``
            (bool) and ``error`` (fraction).
        """
        X = validate_images(X, self.n_inputs, "X")
        labels = None if y is None else check_labels(y, X.shape[0], self.model.n_outputs)
        check_callback(progress)
        n = X.shape[0]
        net, _ = self._net()
        steps, settle = self.protocol.test_steps, self.protocol.test_settle_steps
        mean_V = np.zeros((n, self.model.n_outputs))
        positions = np.arange(n, dtype=np.int64)
        threads = numba.get_num_threads()
        done, n_correct = 0, 0
        while done < n:
            stop = min(n, done + TEST_CHUNK)
            blocks = min(stop - done, 4 * threads)
            drivers.evaluate_examples(net, X[done:stop], positions[done:stop], self._test_key, steps,
                              settle, mean_V[done:stop], blocks, self._apical_test)
            check_test_potentials(mean_V, done, stop)
            if labels is not None:
                n_correct += int(np.count_nonzero(
                    mean_V[done:stop].argmax(axis=1) == labels[done:stop]))
            done = stop
            if progress is not None:
                progress(done, None if labels is None else n_correct)
        return predictions(mean_V, labels)

    def present(self, X, schedule: Schedule, *, seed: int | None = None,
                progress=None) -> SimulationResult:
        """Present a schedule to the network with the current parameters (no learning):
        every spike, the traces of every unit and the phase averages.

        The state starts at zero and is reset where the schedule says; the random
        streams are a stream of their own (derived from ``seed``), so training and
        evaluation are not disturbed.

        Parameters
        ----------
        X : array (n, n_inputs)
            Pixel intensities in [0, 1]; ``schedule.example_id`` indexes its rows.
        schedule : Schedule
            Presentations (forward, target with the label's teaching input, test);
            ``schedule.dt`` must be the protocol's.
        seed : int, optional
            Seed of the presentation's streams (default the engine's ``seed``: an
            engine built with seed ``s`` presents as ``seed=s`` does).
        progress : callable, optional
            ``progress(ms_done, ms_total)``, called before and after the simulation
            (one compiled call).

        Returns
        -------
        SimulationResult
        """
        X = validate_images(X, self.n_inputs, "X")
        seed = check_present_options(seed, progress)
        key = self._key if seed is None else np.uint64(seed)
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
        key = np.uint64(derive_key(key, np.uint64(3)))
        seed_streams(key, st.s0, st.s1)
        seed_streams(np.uint64(derive_key(key, np.uint64(1))), st.rin0, st.rin1)
        T, n_pres = int(schedule.total_steps), len(schedule)
        check_present_memory(n_in, n_units, net.n_x, schedule)
        if progress is not None:
            progress(0.0, T * schedule.dt)
        rec = np.zeros((max(T, 1), n_in + n_units), np.uint8)
        tr = [np.zeros((max(T, 1), n_units)) for _ in range(3)]
        tr.append(np.zeros((max(T, 1), net.n_x, n_units)))
        means = dynamics.new_means(n_pres, n_in, n_units, net.n_x)
        ev = new_events(n_in, int(schedule.n_steps.max()) if n_pres else 1)
        scr = dynamics.new_scratch(n_in, n_units, lay.n_layers, self.model.n_outputs, net.W_in)
        drivers.present_schedule(
            net, st, scr, dynamics.new_acc(n_in, n_units, net.n_x), ev, X,
            schedule.example_id, schedule.n_steps, schedule.settle, schedule.phase == TARGET,
            np.maximum(schedule.label, 0), schedule.reset.astype(np.bool_), rec, tr[0], tr[1],
            tr[2], tr[3], means)
        if progress is not None:
            progress(T * schedule.dt, T * schedule.dt)
        names = population_names(self.model)
        result = SimulationResult(sizes={n: int(s) for n, s in zip(names, lay.sizes)},
                                  schedule=schedule, t_offset=0.0,
                                  spikes=spikes_from_matrix(rec[:T], lay, schedule.dt, names))
        for l, name in enumerate(names[1:]):
            result.trace_neurons[name] = np.arange(int(lay.sizes[l + 1]))
        return fill_phase_averages(result, lay, means, tr, T, self._part.extra_state)

    def record_spikes(self, X, example_ids, labels=None) -> dict:
        """Spike trains of every layer during test presentations of some rows of ``X``.

        The spikes are those :meth:`evaluate` draws for the same rows (same streams).
        Presentations are laid end to end: presentation ``k`` covers
        ``[k T, (k + 1) T)`` ms, ``T = test_duration``.

        Parameters
        ----------
        X : array (n, n_inputs)
            The image set; ``example_ids`` index its rows.
        example_ids : array of int
            Rows to present, in order.
        labels : array of int, optional
            Their labels (stored with the presentations; -1 if not given).

        Returns
        -------
        dict
            ``"input"``, ``"hidden_<l>"``, ``"output"``: ``(times_ms, ids)`` arrays in time
            order; ``"presentations"``: structured array with fields ``example_id``,
            ``label``, ``phase`` (:data:`dendrinet.config.schedule.TEST`), ``t_start``,
            ``t_stop`` (ms); ``"mean_V"`` (n, n_out) as in :meth:`evaluate`.
        """
        X = validate_images(X, self.n_inputs, "X")
        ids = check_indices(example_ids, X.shape[0], "example_ids")
        lab = np.full(ids.size, -1, np.int64) if labels is None else \
            check_labels(labels, ids.size, self.model.n_outputs, "labels")
        net, _ = self._net()
        steps, settle = self.protocol.test_steps, self.protocol.test_settle_steps
        layout = self.layout
        check_memory(recording_bytes(layout.sizes, self.protocol, ids.size),
                     f"recording the spikes of {ids.size} test presentations")
        rec = np.zeros((ids.size * steps, layout.n_inputs + layout.n_units), np.uint8)
        mean_V = np.zeros((ids.size, self.model.n_outputs))
        drivers.record_examples(net, np.ascontiguousarray(X[ids]), ids, self._test_key, steps, settle,
                        mean_V, self._apical_test, rec)
        out = spikes_from_matrix(rec, layout, self.protocol.dt, population_names(self.model))
        dt = self.protocol.dt
        pres = np.zeros(ids.size, dtype=PRESENTATION_DTYPE)
        pres["example_id"] = ids
        pres["label"] = lab
        pres["phase"] = TEST
        pres["t_start"] = np.arange(ids.size) * steps * dt
        pres["t_stop"] = (np.arange(ids.size) + 1) * steps * dt
        out["presentations"] = pres
        out["mean_V"] = mean_V
        return out

    # --------------------------------------------------------------- state
    def get_state(self) -> dict[str, np.ndarray]:
        """Everything needed to continue training bit for bit (with the parameters,
        which are saved separately): potentials, traces, random streams, epoch count."""
        st = self._state
        state = saved_state(st, self.layout, self.params, self._apical_train,
                            self.epochs_done, self.seed)
        state["rng_units"] = np.stack([st.s0, st.s1], axis=1)
        state["rng_input"] = np.stack([st.rin0, st.rin1], axis=1)
        state["format"] = np.array(_STATE_FORMAT, np.int64)
        return state

    def set_state(self, state: dict) -> None:
        """Restore a :meth:`get_state` dictionary (validated: keys, shapes, finite)."""
        st = self._state

        def check_format_and_streams(state):
            fmt = int(np.asarray(state.get("format", 1)))
            if fmt != _STATE_FORMAT:
                raise DendrinetError(
                    f"engine state has format {fmt}, this dendrinet reads format "
                    f"{_STATE_FORMAT} (a checkpoint of an older version: start the run anew)")
            units, inp = np.asarray(state["rng_units"]), np.asarray(state["rng_input"])
            if units.shape != (st.s0.size, 2) or inp.shape != (st.rin0.size, 2):
                raise DendrinetError(
                    f"engine state: random stream arrays have the wrong shape ({units.shape} "
                    f"and {inp.shape}, expected {(st.s0.size, 2)} and {(st.rin0.size, 2)}; a "
                    f"state saved by an older dendrinet cannot be resumed)")

        self.epochs_done = restore_state(st, state, self.layout, self.seed,
                                         {"rng_units", "rng_input"}, "fast-engine",
                                         check_format_and_streams)
        units, inp = np.asarray(state["rng_units"]), np.asarray(state["rng_input"])
        st.s0[...] = units[:, 0].astype(np.uint64)
        st.s1[...] = units[:, 1].astype(np.uint64)
        st.rin0[...] = inp[:, 0].astype(np.uint64)
        st.rin1[...] = inp[:, 1].astype(np.uint64)


def spikes_from_matrix(rec: np.ndarray, layout: FlatLayout, dt: float, names) -> dict:
    """``(times_ms, ids)`` per population from a (steps, inputs + units) 0/1 matrix."""
    bounds = [0, layout.n_inputs] + [layout.n_inputs + int(u) for u in layout.uo[1:]]
    out = {}
    for name, lo, hi in zip(names, bounds[:-1], bounds[1:]):
        steps, ids = np.nonzero(rec[:, lo:hi])
        out[name] = (steps * dt, ids.astype(np.int64))
    return out
