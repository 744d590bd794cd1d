"""What every engine returns, in one vocabulary: phase averages of presentations, the
per-example training history and test predictions."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from dendrinet.errors import DendrinetError
from dendrinet.config.schedule import PHASE_NAMES, Schedule


def sigmoid(x):
    """Logistic function ``1 / (1 + exp(-x))`` of an array (dimensionless); overflow of
    ``exp`` for very negative ``x`` gives exactly 0, as it should."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def population_names(model) -> tuple[str, ...]:
    """``("input", "hidden_0", ..., "output")``: the populations of ``model`` (a
    :class:`~dendrinet.config.ModelConfig`), bottom to top, as every engine, store and
    analysis names them."""
    return ("input", *(f"hidden_{l}" for l in range(len(model.hidden))), "output")


def population_kind(name: str) -> str:
    """``"input"``, ``"hidden"`` or ``"output"``."""
    return name if name in ("input", "output") else "hidden"


def n_stats(n_hidden_layers: int) -> int:
    """Length of the per-example statistics vector of the learning rule."""
    return 1 + 4 * n_hidden_layers


def stat_names(n_hidden_layers: int) -> list[str]:
    """Names of the entries of the statistics vector, in order (history.npz names)."""
    names = ["loss_out"]
    for l in range(n_hidden_layers):
        names += [f"loss_hidden_{l}", f"angle_{l}", f"alpha_diff_mean_{l}",
                  f"alpha_diff_sd_{l}"]
    return names


@dataclass
class PhaseAverages:
    """Window averages of a sequence of presentations, per population (``"input"``,
    ``"hidden_<l>"``, ..., ``"output"``): what both engines compute for every phase.

    Attributes
    ----------
    sizes : dict of str -> int
        Neurons per population.
    V_bar : dict of str -> ndarray (n_presentations, n)
        Mean somatic potential over each presentation's window (hidden and output).
    alpha : dict of str -> ndarray (n_presentations, n)
        Plateau potential ``sigmoid(mean V_a)`` per presentation (hidden layers).
    phi_bar : dict of str -> ndarray (n_presentations, n)
        Mean rate ``phi_max sigmoid(V)`` over the window, 1/ms (hidden and output).
    s_bar : dict of str -> ndarray (n_presentations, n)
        Mean filtered spike train ``xL - xS`` over the window, 1/ms (every population).
    traces : dict of str -> dict of str -> ndarray (n_steps, n_recorded)
        Recorded variables (``V``, ``V_b``, ``V_a``) per population, after each step's
        state update.
    X_bar : dict of str -> dict of str -> ndarray (n_presentations, n)
        Mean of each of the model's own state variables (``[equations] hidden_extra``,
        ``output_extra``) over each presentation's window, per population and variable,
        in SI units (what a learning rule reads as ``X_f`` / ``X_t``).
    """

    sizes: dict
    V_bar: dict = field(default_factory=dict)
    alpha: dict = field(default_factory=dict)
    phi_bar: dict = field(default_factory=dict)
    s_bar: dict = field(default_factory=dict)
    traces: dict = field(default_factory=dict)
    X_bar: dict = field(default_factory=dict)

    @property
    def populations(self) -> tuple[str, ...]:
        return tuple(self.sizes)


@dataclass(kw_only=True)
class SimulationResult(PhaseAverages):
    """What an engine's ``present`` (or one
    :meth:`~dendrinet.backends.brian2.network.DendriticNetwork.run`) recorded: the
    :class:`PhaseAverages` of every presentation and

    Attributes
    ----------
    schedule : Schedule
        The presentations that were run (times relative to ``t_offset``).
    t_offset : float
        Network time (ms) at which this run started (0 for the first run).
    spikes : dict of str -> (times_ms, ids)
        Spike times (ms, from the start of this run) and neuron indices per population,
        in time order.
    trace_neurons : dict of str -> ndarray
        Indices of the neurons whose ``traces`` were recorded.
    """

    schedule: Schedule
    t_offset: float
    spikes: dict
    trace_neurons: dict = field(default_factory=dict)

    @property
    def duration(self) -> float:
        """Simulated time of this run, ms."""
        return self.schedule.total_steps * self.schedule.dt

    @property
    def trace_times(self) -> np.ndarray:
        """Times of the trace samples, ms from the start of the run (one per step)."""
        return np.arange(self.schedule.total_steps) * self.schedule.dt

    def _spikes_of(self, population: str):
        if population not in self.spikes:
            raise DendrinetError(f"no spikes of {population!r} were recorded (populations: "
                                 f"{', '.join(self.sizes)}; record_spikes=True records them)")
        return self.spikes[population]

    def rates(self, population: str) -> np.ndarray:
        """Spike counts per presentation divided by its duration, Hz, ``(n_pres, n)``."""
        times, ids = self._spikes_of(population)
        sched = self.schedule
        edges = np.append(sched.t_start, sched.t_stop[-1]) if len(sched) else np.zeros(1)
        pres = np.searchsorted(edges, times, side="right") - 1
        counts = np.zeros((len(sched), self.sizes[population]))
        np.add.at(counts, (pres, ids), 1.0)
        return counts / (sched.n_steps * sched.dt)[:, None] * 1000.0

    def mean_rate(self, population: str) -> float:
        """Mean rate of a population over the whole run, Hz."""
        times, _ = self._spikes_of(population)
        return len(times) / (self.sizes[population] * self.duration) * 1000.0

    def select(self, phase: int) -> np.ndarray:
        """Indices of the presentations of a phase (``FORWARD``, ``TARGET``, ``TEST``)."""
        return np.flatnonzero(self.schedule.phase == phase)

    def predictions(self) -> np.ndarray:
        """Predicted class per presentation: argmax of the output layer's ``V_bar``."""
        if "output" not in self.V_bar:
            raise DendrinetError("no window averages were recorded (record_averages=False)")
        return np.argmax(self.V_bar["output"], axis=1)

    def write_store(self, path, metadata: dict | None = None, *,
                    overwrite: bool = True) -> None:
        """Write spikes and presentations to a :class:`~dendrinet.store.SpikeStore`.

        Populations ``"input"``, ``"hidden_0"``, ..., ``"output"``; one presentation row
        per schedule entry; times in ms from the start of this run.

        The store is written to a temporary file in the same folder and renamed to
        ``path`` when complete: ``path`` holds the old file or the whole new store,
        whenever the writer is killed or fails (full disk, ...). Temporary files that
        killed writers of ``path`` left on this host are removed.

        Parameters
        ----------
        path : str or Path
            HDF5 file to create; its folder must exist.
        metadata : dict, optional
            JSON-serialisable run metadata (model, protocol, seed, ...).
        overwrite : bool
            Replace an existing spike store at ``path``. A file that is not a readable
            spike store is never replaced.

        Raises
        ------
        StoreError
            ``path`` exists (and ``overwrite`` is false, or it is not a spike store), or
            an OS error (full disk, read-only or missing folder, ...), naming the file.
        """
        import os
        from pathlib import Path

        from dendrinet.errors import StoreError
        from dendrinet.store import SpikeStore, write_new_store

        name = str(path)
        target = Path(os.path.realpath(path))  # a symbolic link's file is replaced
        if target.is_dir():
            raise StoreError(f"cannot write spike store {name!r}: it is a folder")
        if target.exists():
            if not overwrite:
                raise StoreError(f"cannot write spike store {name!r}: the file exists")
            try:
                SpikeStore(target, "r").close()
            except StoreError as exc:
                raise StoreError(f"{name!r} is not replaced: it is not a readable spike store "
                                 f"({exc})") from None
        sched = self.schedule
        write_new_store(target, dt=sched.dt, sizes=self.sizes,
                        spikes={pop: self._spikes_of(pop) for pop in self.sizes},
                        presentations=(sched.example_id, sched.label,
                                       [PHASE_NAMES[p] for p in sched.phase], sched.t_start,
                                       sched.t_stop),
                        metadata=metadata, t_stop=self.duration)


def sample_buffers(n: int, sample_every: int, n_hidden_units: int):
    """Plateau vectors of every ``sample_every``-th of ``n`` examples (forward, target)
    and their positions in the epoch: ``samples_f, samples_t, sample_rows``."""
    n_samples = -(-n // sample_every)
    return (np.zeros((n_samples, n_hidden_units)), np.zeros((n_samples, n_hidden_units)),
            np.zeros(n_samples, np.int64))


def training_history(epoch: int, order, y, records, uo, samples_f, samples_t,
                     sample_rows) -> dict[str, np.ndarray]:
    """The dictionary ``train_epoch`` returns (see ``FastEngine.train_epoch``) from the
    per-example ``records`` (correct, then :func:`dendrinet.learning.plasticity.stat_names`) and
    the plateau samples; ``uo`` are the layers' unit offsets."""
    n = order.size
    n_hidden_layers = len(uo) - 2
    hist = {"epoch": np.full(n, epoch, np.int64), "example_id": order.copy(),
            "label": y[order], "correct": records[:, 0] > 0.5}
    for c, name in enumerate(stat_names(n_hidden_layers)):
        hist[name] = records[:, 1 + c].copy()
    for l in range(n_hidden_layers):
        lo, hi = uo[l], uo[l + 1]
        hist[f"alpha_f_{l}"] = samples_f[:, lo:hi].copy()
        hist[f"alpha_t_{l}"] = samples_t[:, lo:hi].copy()
    hist["sample_position"] = sample_rows.copy()
    hist["sample_example_id"] = order[sample_rows] if n else sample_rows.copy()
    return hist


def predictions(mean_V: np.ndarray, labels) -> dict:
    """``pred`` (argmax of the mean output potentials ``mean_V``) and ``mean_V``; with
    ``labels`` also ``correct`` and ``error`` (NaN for no examples)."""
    out = {"pred": mean_V.argmax(axis=1).astype(np.int64), "mean_V": mean_V}
    if labels is not None:
        out["correct"] = out["pred"] == labels
        out["error"] = float(1.0 - out["correct"].mean()) if mean_V.shape[0] else math.nan
    return out
