"""The layered Brian2 network: inputs, any number of hidden layers, outputs, feedback.

One :meth:`DendriticNetwork.run` presents a whole :class:`~dendrinet.config.schedule.Schedule`
(many examples, forward/target/test phases) in a single Brian2 ``run``, so that Brian2
(numpy, cython or C++ standalone) does the work, not a Python loop.

How the schedule reaches the neurons. A one-neuron ``control`` group walks through the
presentations: at the start of every step it advances its presentation counter when the
step reaches the next presentation's first step, and sets flags that the other groups
read as linked variables (``window``, ``last``, ``reset_now``, ``teach``, ``label``,
``example``). The per-presentation facts are 1-D ``TimedArray`` s used as lookup tables
(``dt = 1 ms``, called as ``pres_start(k*ms)``), so memory grows with the number of
presentations, not of steps. The images are a 2-D ``TimedArray`` of shape
``(n_images, n_inputs)`` looked up as ``pixels(example*ms, i)``. All of it works on the
runtime (numpy, cython) and C++ standalone devices (``network_operation`` is not used).

Order within step ``n`` (docs/design.md, "Discrete-time semantics"):

==================== ==============================================================
slot                 what happens
==================== ==============================================================
``start``            control flags; all ``V`` and traces zeroed if a presentation
                     with ``reset`` (a test example) begins at this step
``groups``           state update of every group (exponential Euler, exact traces)
``after_groups``     window accumulation from the updated state (if in the window);
                     trace recording (StateMonitor)
``thresholds``       Bernoulli spikes on the updated ``V``; spike monitors
``after_thresholds`` ``pres_end`` event at a presentation's last step: an
                     ``EventMonitor`` records the window sums
``synapses``         spikes propagate (``psp_jump * weight`` into basal/apical traces)
``resets``           a spiking neuron's own traces ``xL, xS`` jump by ``psp_jump``
==================== ==============================================================

Window sums are running totals over the run (zeroed when a run starts); a presentation's
sums are the difference between the totals recorded at its last step and at the last
step of the previous presentation (identical to zeroing them at every presentation
start, with one code object less per group and step).
"""
from __future__ import annotations

import os
import shutil

import numpy as np

from dendrinet.backends.brian2.compile_flags import brian2_codegen
from dendrinet.model import equations
from dendrinet.config import ModelConfig
from dendrinet.config.expressions import check_equation_lines
from dendrinet.datasets.encoding import max_spike_probability, validate_images
from dendrinet.engine.checks import check_parameters
from dendrinet.engine.results import (SimulationResult, population_kind, population_names,
                                      sigmoid)
from dendrinet.errors import DendrinetError
from dendrinet.config.schedule import TARGET, TEST, Schedule
from dendrinet.storage.files import create_temporary_folder

TARGETS = ("numpy", "cython")
DEVICES = ("runtime", "cpp_standalone")
TRACE_VARIABLES = ("V", "V_b", "V_a")
#: Smallest length of the lookup tables; see :func:`_capacity`.
MIN_TABLE_SIZE = 1024

# Bookkeeping added to every group's physics: links to the control flags, window sums.
_LINKED_FLAGS = """
window : 1 (linked)                 # 1 inside the averaging window
last : 1 (linked)                   # 1 at the last step of a presentation
reset_now : 1 (linked)              # 1 when the state must be zeroed before this step"""
#: Window sums every group accumulates, by population kind (read by the engines).
WINDOW_SUMS = {
    "input": ("sum_s",),
    "hidden": ("sum_V", "sum_Va", "sum_phi", "sum_s"),
    "output": ("sum_V", "sum_phi", "sum_s"),
}
#: Dynamic state of every group, by population kind (what a checkpoint keeps).
STATE_VARIABLES = {
    "input": ("xL", "xS"),
    "hidden": ("V", "bL", "bS", "aL", "aS", "xL", "xS"),
    "output": ("V", "bL", "bS", "xL", "xS"),
}
_ACCUMULATE = {
    "sum_V": "sum_V += window*V",
    "sum_Va": "sum_Va += window*V_a",
    "sum_phi": "sum_phi += window*phi*ms  # rate in 1/ms",
    "sum_s": "sum_s += window*s",
}
_CONTROL_EQUATIONS = """
step : 1          # steps since the start of this run
pres : 1          # current presentation
step0 : 1         # clock step at which this run started
window : 1
last : 1
reset_now : 1
teach : 1
label : 1
example : 1"""
_CONTROL_CODE = """
step = t_in_timesteps - step0
pres += int(step >= pres_start((pres + 1)*ms))
last = int(step == pres_start((pres + 1)*ms) - 1)
window = int(step >= pres_window(pres*ms))
reset_now = int(step == pres_start(pres*ms))*pres_reset(pres*ms)
teach = int(pres_phase(pres*ms) == {TARGET})
label = pres_label(pres*ms)
example = pres_image(pres*ms)""".replace("{TARGET}", str(TARGET))


# ------------------------------------------------------------------------ results


# ------------------------------------------------------------------------ network


class DendriticNetwork:
    """A Brian2 network of segregated-dendrite neurons built from a model and parameters.

    Parameters
    ----------
    model : ModelConfig
        Neuron parameters and architecture (any number of hidden layers).
    params : dendrinet.model.weights.Parameters
        ``W[l]`` ``(n_pre, n_post)`` input-major, ``b[l]`` ``(n_post,)``, ``Y[l]``
        ``(n_outputs, n_hidden_l)``; copied into the Synapses (not kept).
    n_inputs : int
        Input layer size (pixels per image).
    dt : float
        Time step, ms (the protocol's ``dt``).
    record_spikes : bool
        Attach a ``SpikeMonitor`` to every population.
    record_averages : bool
        Record the window averages of every presentation (``pres_end`` events and
        ``EventMonitor`` s). Training engines that read the sums themselves switch it off.
    record_traces : sequence of str
        Variables to record every step from hidden and output neurons, any of ``"V"``,
        ``"V_b"``, ``"V_a"`` (``V_a`` only exists in hidden layers), and the model's
        extra state variables (``[equations]`` ``hidden_extra``, ``output_extra``).
    trace_neurons : int or None
        Record traces from the first ``trace_neurons`` neurons of each layer (``None``:
        all).
    target : {"numpy", "cython"}
        Brian2 code generation target on the runtime device.
    device : {"runtime", "cpp_standalone"}
        ``cpp_standalone`` generates, compiles and runs C++ code in ``directory`` (one
        run per network); the device is set back to runtime afterwards.
    directory : str, optional
        Build folder of the standalone device (a new temporary folder by default).

    Raises
    ------
    DendrinetError
        Parameters that do not match the model, unknown target/device/trace variable,
        ``phi_max * dt > 1``, equation terms Brian2 cannot use.
    """

    def __init__(self, model: ModelConfig, params, n_inputs: int, dt: float = 1.0, *,
                 record_spikes: bool = True, record_averages: bool = True, record_traces=(),
                 trace_neurons: int | None = None, target: str = "numpy",
                 device: str = "runtime", directory: str | None = None):
        if target not in TARGETS:
            raise DendrinetError(f"unknown code generation target {target!r}; use one of {TARGETS}")
        if device not in DEVICES:
            raise DendrinetError(f"unknown Brian2 device {device!r}; use one of {DEVICES}")
        record_traces = tuple(record_traces)
        extras = {kind: equations.extra_state_variables(model, kind) for kind in STATE_VARIABLES}
        available = TRACE_VARIABLES + tuple(dict.fromkeys(extras["hidden"] + extras["output"]))
        unknown = sorted(set(record_traces) - set(available))
        if unknown:
            raise DendrinetError(f"cannot record {unknown}; traces available: {available}")
        #: Dynamic state per population kind: the standard variables and the model's own.
        self.state_variables = {kind: STATE_VARIABLES[kind] + extras[kind]
                                + equations.stp_state_variables(model, kind)
                                for kind in STATE_VARIABLES}
        #: Window sums per population kind: the standard ones (:data:`WINDOW_SUMS`) and
        #: ``sum_X`` of each of the model's own state variables ``X`` (for learning rules).
        self.window_sums = {kind: WINDOW_SUMS[kind] + tuple(f"sum_{x}" for x in extras[kind])
                            for kind in WINDOW_SUMS}
        max_spike_probability(model.neuron.phi_max, dt)
        check_parameters(model, params, n_inputs)
        self.model = model
        self.n_inputs = int(n_inputs)
        self.dt = float(dt)
        self.target = target
        self.device = device
        self.names = population_names(model)
        self.sizes = dict(zip(self.names, model.layer_sizes(n_inputs)))
        self.record_averages = bool(record_averages)
        self._runs = 0
        self.steps_done = 0  # clock steps simulated so far
        self._standalone_dir = directory
        self._temporary_dir = device == "cpp_standalone" and directory is None
        if device == "cpp_standalone":
            self._enter_standalone()
        try:
            self._build(params, record_spikes, record_traces, trace_neurons)
        except BaseException:
            _mark_used([getattr(self, "control", None), *getattr(self, "groups", {}).values()])
            if device == "cpp_standalone":
                self._leave_standalone()
            raise

    # ---------------------------------------------------------------- building
    def _enter_standalone(self) -> None:
        import brian2

        if self._standalone_dir is None:
            self._standalone_dir = str(create_temporary_folder(prefix="dendrinet_standalone_"))
        # Brian2's default "make -j" starts one compiler per source file at once (dozens,
        # thrashing a small machine): as many jobs as cores instead
        brian2.prefs.devices.cpp_standalone.extra_make_args_unix = [f"-j{os.cpu_count() or 1}"]
        brian2.set_device("cpp_standalone", directory=self._standalone_dir, build_on_run=True,
                          with_output=False)

    def _leave_standalone(self) -> None:
        import brian2
        from brian2.devices.device import reset_device

        brian2.get_device().reinit()
        reset_device("runtime")
        if self._temporary_dir:  # a build folder we made: its results are read
            shutil.rmtree(self._standalone_dir, ignore_errors=True)

    def _build(self, params, record_spikes, record_traces, trace_neurons) -> None:
        import brian2 as b2

        model = self.model
        self.clock = clock = b2.Clock(dt=self.dt * b2.ms, name="dendrinet_clock")
        self.namespace = equations.namespace(model)

        self.control = b2.NeuronGroup(1, _CONTROL_EQUATIONS, clock=clock, name="control")
        self.control.pres = -1
        self.control.run_regularly(_CONTROL_CODE, when="start", order=-10, name="control_flags")
        self.control.state_updater.active = False  # no differential equations to integrate

        self.groups, self.resetters = {}, {}
        for name in self.names:
            self.groups[name] = self._neuron_group(name, clock)
        for l, name in enumerate(self.names[1:]):
            self.groups[name].b = params.b[l]

        self.feedforward = []
        for l, (pre, post) in enumerate(zip(self.names[:-1], self.names[1:])):
            syn = b2.Synapses(self.groups[pre], self.groups[post], equations.SYNAPSE_MODEL,
                              on_pre=equations.on_pre(model, "input" if l == 0 else
                                                      "feedforward"),
                              clock=clock, name=f"W_{l}")
            _connect_all(syn, params.W[l])
            self.feedforward.append(syn)
        self.feedback = []
        for l, name in enumerate(self.names[1:-1]):
            syn = b2.Synapses(self.groups["output"], self.groups[name], equations.SYNAPSE_MODEL,
                              on_pre=equations.on_pre(model, "feedback"), clock=clock,
                              name=f"Y_{l}")
            _connect_all(syn, params.Y[l])
            self.feedback.append(syn)

        self.spike_monitors = {}
        if record_spikes:
            self.spike_monitors = {name: b2.SpikeMonitor(group, name=f"{name}_spikes")
                                   for name, group in self.groups.items()}
        self.sum_monitors = {}
        if self.record_averages:
            self.sum_monitors = {
                name: b2.EventMonitor(group, "pres_end",
                                      variables=list(self.window_sums[population_kind(name)]),
                                      name=f"{name}_window_sums_monitor")
                for name, group in self.groups.items()}
        self.trace_monitors, self.trace_neurons = {}, {}
        if record_traces:
            for name in self.names[1:]:
                kind = population_kind(name)
                variables = [v for v in record_traces if (v in TRACE_VARIABLES and (
                    v != "V_a" or kind != "output")) or v in self.state_variables[kind]]
                n = self.sizes[name] if trace_neurons is None else min(trace_neurons,
                                                                       self.sizes[name])
                self.trace_neurons[name] = np.arange(n)
                # after the state update: the values that are averaged and thresholded
                self.trace_monitors[name] = b2.StateMonitor(
                    self.groups[name], variables, record=np.arange(n), when="after_groups",
                    order=10, clock=clock, name=f"{name}_traces")
        self.network = b2.Network(self.control, *self.groups.values(), *self.feedforward,
                                  *self.feedback, *self.spike_monitors.values(),
                                  *self.sum_monitors.values(), *self.trace_monitors.values())

    def _neuron_group(self, name: str, clock):
        import brian2 as b2

        kind = population_kind(name)
        physics = {"input": equations.input_equations, "hidden": equations.hidden_equations,
                   "output": equations.output_equations}[kind](self.model)
        physics += equations.stp_equations(self.model, kind)
        reset = "\n".join(code for code in (equations.spike_code(self.model, kind),
                                             equations.stp_spike_code(self.model, kind)) if code)
        units = {line.name: line.unit for line in check_equation_lines(
            getattr(self.model.equations, f"{kind}_extra", ""))}
        sums = "\n".join(f"{s} : {units.get(s[4:], '1')}  # running total over the windows"
                         for s in self.window_sums[kind])
        threshold = equations.threshold(self.model, kind)
        events = {"pres_end": "last > 0.5"} if self.record_averages else None
        try:
            group = b2.NeuronGroup(
                self.sizes[name], physics + _LINKED_FLAGS + "\n" + sums, threshold=threshold,
                reset=reset, method=equations.METHOD,
                events=events,
                clock=clock, name=name)
        except Exception as exc:  # e.g. a user equation term Brian2 cannot parse
            raise DendrinetError(f"cannot build the {name} equations: "
                                 f"{root_cause(exc)}") from None
        links = ["window", "last", "reset_now"]
        links += {"input": ["example"], "hidden": [], "output": ["teach", "label"]}[kind]
        zeros = np.zeros(self.sizes[name], dtype=int)
        for flag in links:
            setattr(group, flag, b2.linked_var(self.control, flag, index=zeros))
        # Zero the state before a reset presentation (switched off for runs without one).
        self.resetters[name] = group.run_regularly(
            "\n".join(f"{v} = {v}*(1 - reset_now)" for v in self.state_variables[kind]),
            when="start", order=0, name=f"{name}_state_reset")
        group.run_regularly("\n".join(_ACCUMULATE.get(s, f"{s} += window*{s[4:]}")
                                      for s in self.window_sums[kind]),
                            when="after_groups", order=0, name=f"{name}_window_sums")
        return group

    # ---------------------------------------------------------------- parameters
    def get_parameters(self) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """Current ``W``, ``b`` and ``Y`` read back from Brian2 (runtime device).

        Returns
        -------
        W, b, Y : lists of ndarray
            Copies, in the layouts of :class:`~dendrinet.model.weights.Parameters`.
        """
        W = [np.array(s.weight[:]).reshape(self.sizes[self.names[l]], self.sizes[self.names[l + 1]])
             for l, s in enumerate(self.feedforward)]
        b = [np.array(self.groups[n].b[:]) for n in self.names[1:]]
        Y = [np.array(s.weight[:]).reshape(self.sizes["output"], self.sizes[self.names[l + 1]])
             for l, s in enumerate(self.feedback)]
        return W, b, Y

    def set_parameters(self, params) -> None:
        """Copy new weights and biases into the Synapses and groups (between runs)."""
        check_parameters(self.model, params, self.n_inputs)
        for l, syn in enumerate(self.feedforward):
            syn.weight[:] = np.ascontiguousarray(params.W[l]).ravel()
        for l, syn in enumerate(self.feedback):
            syn.weight[:] = np.ascontiguousarray(params.Y[l]).ravel()
        for l, name in enumerate(self.names[1:]):
            self.groups[name].b[:] = params.b[l]

    # ---------------------------------------------------------------- running
    def prepare(self, schedule: Schedule, images) -> None:
        """Load a schedule and images for the next ``network.run`` (done by :meth:`run`;
        public for engines that drive ``self.network`` themselves)."""
        images = validate_images(images, self.n_inputs)
        self._check_schedule(schedule, images.shape[0])
        self.namespace.update(_lookup_tables(schedule, images))
        self.control.step0 = self.steps_done
        self.control.pres = -1
        for name, group in self.groups.items():
            for var in self.window_sums[population_kind(name)]:
                setattr(group, var, 0.0)
        has_reset = bool(schedule.reset.any())
        for resetter in self.resetters.values():
            resetter.active = has_reset

    def run(self, schedule: Schedule, images, seed: int | None = None,
            report: str | None = None) -> SimulationResult:
        """Present a schedule in one Brian2 ``run`` and collect the results.

        Parameters
        ----------
        schedule : Schedule
            Presentations; ``schedule.example_id`` indexes the rows of ``images``;
            ``schedule.dt`` must equal the network's ``dt``.
        images : array_like, shape (n_images, n_inputs)
            Pixel intensities in [0, 1].
        seed : int, optional
            Seeds Brian2's random numbers (``brian2.seed``, which also seeds numpy's
            global generator).
        report : str, optional
            Brian2 progress report (``"text"``, ``"stdout"``); none by default.

        Returns
        -------
        SimulationResult
            Spikes, per-presentation averages and traces of this run (times from the
            start of the run).
        """
        import brian2 as b2

        if self.device == "cpp_standalone" and self._runs:
            raise DendrinetError("a cpp_standalone network runs once; build a new one")
        self.prepare(schedule, images)
        if seed is not None:
            b2.seed(int(seed))
        t_offset = self.steps_done * self.dt
        try:
            with brian2_codegen(self.target):
                self.network.run(schedule.total_steps * self.dt * b2.ms,
                                 namespace=self.namespace, report=report)
        except Exception as exc:
            _mark_used(self.network.objects)
            if self.device == "cpp_standalone":
                self._leave_standalone()
            raise DendrinetError(f"Brian2 cannot simulate the network: {root_cause(exc)}") \
                from exc
        self._runs += 1
        try:
            result = self._collect(schedule, t_offset)
        finally:
            if self.device == "cpp_standalone":
                self._leave_standalone()
        self.steps_done += schedule.total_steps
        return result

    def _check_schedule(self, schedule: Schedule, n_images: int) -> None:
        if len(schedule) == 0:
            raise DendrinetError("the schedule has no presentations")
        if abs(schedule.dt - self.dt) > 1e-12:
            raise DendrinetError(f"schedule dt = {schedule.dt} ms but the network was built "
                                 f"with dt = {self.dt} ms")
        if schedule.example_id.min() < 0 or schedule.example_id.max() >= n_images:
            raise DendrinetError(f"schedule refers to example {schedule.example_id.max()} but "
                                 f"only {n_images} image(s) were given")
        if np.any(schedule.n_steps <= 0):
            raise DendrinetError("every presentation must last at least one step")
        if np.any(schedule.settle >= schedule.n_steps):
            raise DendrinetError("every presentation needs a non-empty averaging window "
                                 "(settle < length)")
        labels = schedule.label[schedule.phase == TARGET]
        if labels.size and (labels.min() < 0 or labels.max() >= self.model.n_outputs):
            raise DendrinetError(f"target-phase labels must be in [0, {self.model.n_outputs}), "
                                 f"got {labels.min()}..{labels.max()}")

    def _times_to_steps(self, times_s) -> np.ndarray:
        return np.round(np.asarray(times_s) * 1000.0 / self.dt).astype(np.int64) - self.steps_done

    def _collect(self, schedule: Schedule, t_offset: float) -> SimulationResult:
        result = SimulationResult(schedule=schedule, t_offset=t_offset, sizes=dict(self.sizes),
                                  spikes={})
        for name, monitor in self.spike_monitors.items():
            steps = self._times_to_steps(monitor.t_[:])
            keep = steps >= 0
            result.spikes[name] = (steps[keep] * self.dt,
                                   np.asarray(monitor.i[:], dtype=np.int64)[keep])
        n_window = (schedule.n_steps - schedule.settle).astype(np.float64)[:, None]
        last_steps = schedule.start + schedule.n_steps - 1
        for name, monitor in self.sum_monitors.items():
            steps = self._times_to_steps(monitor.t_[:])
            ids = np.asarray(monitor.i[:], dtype=np.int64)
            keep = steps >= 0
            pres = np.searchsorted(last_steps, steps[keep])
            if keep.sum() != len(schedule) * self.sizes[name] or \
                    not np.array_equal(last_steps[np.minimum(pres, len(schedule) - 1)], steps[keep]):
                raise DendrinetError(f"internal error: presentation-end events of {name} do "
                                     f"not match the schedule")
            means = {}
            for var in self.window_sums[population_kind(name)]:
                totals = np.zeros((len(schedule) + 1, self.sizes[name]))
                totals[pres + 1, ids[keep]] = np.asarray(getattr(monitor, var)[:])[keep]
                means[var] = np.diff(totals, axis=0) / n_window
            result.s_bar[name] = means["sum_s"]
            if "sum_V" in means:
                result.V_bar[name] = means["sum_V"]
                result.phi_bar[name] = means["sum_phi"]
            if "sum_Va" in means:
                result.alpha[name] = sigmoid(means["sum_Va"])
            extras = {var[4:]: means[var] for var in means if var not in WINDOW_SUMS["hidden"]}
            if extras:
                result.X_bar[name] = extras
        for name, monitor in self.trace_monitors.items():
            keep = self._times_to_steps(monitor.t_[:]) >= 0
            result.traces[name] = {var: np.asarray(getattr(monitor, var)[:]).T[keep]
                                   for var in monitor.record_variables}
            result.trace_neurons[name] = self.trace_neurons[name]
        return result


# ------------------------------------------------------------------------ helpers


def root_cause(exc: BaseException) -> str:
    """The innermost message of a chain of Brian2 exceptions, with a hint for the usual
    mistake in user equation terms."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    message = f"{type(exc).__name__}: {exc}".strip()
    if "UnsupportedEquations" in type(exc).__name__ or "exponential_euler" in message:
        message += (" (exponential Euler needs every dV/dt linear in V: extra soma terms "
                    "may depend on V only linearly)")
    return message


def _mark_used(objects) -> None:
    """Mark Brian2 objects as belonging to a network, so that a failed build or run
    does not add a warning per object when they are garbage collected."""
    for obj in objects:
        if obj is None:
            continue
        if getattr(obj, "_network", 0) is None:
            obj._network = -1
        _mark_used(getattr(obj, "contained_objects", ()))


def _capacity(n: int) -> int:
    """Length of a lookup table holding ``n`` rows: a power of two, at least
    ``MIN_TABLE_SIZE``. Brian2's cython and C++ code embeds the table length, so equal
    lengths let compiled code be reused from run to run (and from process to process)."""
    return max(MIN_TABLE_SIZE, 1 << max(int(n) - 1, 1).bit_length())


def _connect_all(syn, weights: np.ndarray) -> None:
    """All-to-all connections with weights from an input-major ``(n_pre, n_post)`` matrix.

    Explicit ``(i, j)`` arrays fix the synapse order ourselves (pre-major, like the
    matrix) on every device, so ``weight`` is ``weights.ravel()``.
    """
    n_pre, n_post = weights.shape
    syn.connect(i=np.repeat(np.arange(n_pre, dtype=np.int32), n_post),
                j=np.tile(np.arange(n_post, dtype=np.int32), n_pre))
    syn.weight = np.ascontiguousarray(weights, dtype=np.float64).ravel()


def _lookup_tables(schedule: Schedule, images: np.ndarray) -> dict:
    """The per-presentation ``TimedArray`` lookup tables and the pixel table."""
    from brian2 import TimedArray, ms

    n = len(schedule)
    size = _capacity(n + 1)
    used, image_row = np.unique(schedule.example_id, return_inverse=True)

    def table(values, fill):
        out = np.full(size, fill, dtype=np.float64)
        out[:len(values)] = values
        return out

    end = schedule.total_steps
    # The sentinel after the last presentation is never reached within the run.
    starts = table(np.append(schedule.start, end), end + 1)
    pixels = np.zeros((_capacity(len(used)), images.shape[1]))
    pixels[:len(used)] = images[used]
    tables = {
        "pres_start": starts,
        "pres_window": table(schedule.start + schedule.settle, end + 1),
        "pres_reset": table(schedule.reset.astype(np.float64), 0.0),
        "pres_phase": table(schedule.phase, TEST),
        "pres_label": table(schedule.label, -1.0),
        "pres_image": table(image_row, 0.0),
    }
    out = {name: TimedArray(values, dt=1 * ms, name=f"dendrinet_{name}")
           for name, values in tables.items()}
    out["pixels"] = TimedArray(pixels, dt=1 * ms, name="dendrinet_pixels")
    return out


def build_network(model: ModelConfig, params, images, schedule: Schedule, *,
                  record_traces=(), trace_neurons: int | None = None, target: str = "numpy",
                  device: str = "runtime", directory: str | None = None,
                  seed: int | None = None) -> SimulationResult:
    """Build a network, present ``schedule`` once and return the result.

    Shorthand for ``DendriticNetwork(...).run(schedule, images, seed)``; see
    :class:`DendriticNetwork` for the parameters.
    """
    images = validate_images(images)
    net = DendriticNetwork(model, params, images.shape[1], schedule.dt,
                           record_traces=record_traces, trace_neurons=trace_neurons,
                           target=target, device=device, directory=directory)
    return net.run(schedule, images, seed=seed)


__all__ = ["DendriticNetwork", "SimulationResult", "build_network",
           "TRACE_VARIABLES", "WINDOW_SUMS", "STATE_VARIABLES", "root_cause"]
