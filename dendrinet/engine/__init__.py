"""The engine interface: what every simulation backend provides.

An engine trains and tests one network (a :class:`~dendrinet.config.ModelConfig` under a
:class:`~dendrinet.config.ProtocolConfig`, with :class:`~dendrinet.model.weights.Parameters`
that it updates in place). Training runs, the estimator, the benchmarks and
``dendrinet simulate`` use engines only through this interface and the registry
:func:`dendrinet.backends.make_engine`; the backends live in :mod:`dendrinet.backends`.
Every registered engine implements every method below with the same parameters
(tests/test_engine_interface.py), so that no caller needs to know which engine it has.

:mod:`dendrinet.engine.checks` holds the input checks every engine applies, and
:mod:`dendrinet.engine.results` the results they return, in one vocabulary.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol, runtime_checkable

import numpy as np

from dendrinet.errors import DendrinetError
from dendrinet.config.limits import check_memory, trace_bytes

if TYPE_CHECKING:
    from dendrinet.engine.results import SimulationResult
    from dendrinet.config.schedule import Schedule

__all__ = ["Engine", "COMPILE_STAGES", "check_compile_stage", "check_present_options",
           "check_present_memory"]

#: What :meth:`Engine.compile_note` can be asked about: training (with its test
#: presentations) or :meth:`Engine.present`.
COMPILE_STAGES = ("train", "present")


@runtime_checkable
class Engine(Protocol):
    """The methods and attributes of a simulation engine.

    Attributes
    ----------
    name : str
        Registry name (``"fast"``, ``"brian2"``, ...).
    model, protocol, params, seed
        What it was built with; ``params`` changes as it learns.
    epochs_done : int
        Number of :meth:`train_epoch` calls so far (selects the phase jitter).
    n_inputs : int
        Inputs per example (pixels).
    """

    name: str
    epochs_done: int

    @property
    def n_inputs(self) -> int:
        """Inputs per example (the width of ``X``)."""

    def describe(self) -> str:
        """A few words naming the engine and its settings for the user, e.g.
        ``"fast engine (Numba)"`` or ``"Brian2 numpy"``."""

    def settings(self) -> dict[str, Any]:
        """The settings that shaped its results beyond its name and seed (JSON values,
        recorded with them, e.g. in a spike store's metadata); empty when the name says
        everything."""

    def compile_note(self, what: str = "train") -> str | None:
        """One line for the user when the first call of ``what`` will compile code
        (minutes on a small machine, cached afterwards), else None.

        Parameters
        ----------
        what : {"train", "present"}
            ``"train"``: :meth:`train_epoch` and :meth:`evaluate`; ``"present"``:
            :meth:`present`.
        """

    def train_epoch(self, X: np.ndarray, y: np.ndarray, order: np.ndarray | None = None,
                    progress: Callable[[int, int], None] | None = None,
                    sample_every: int = 100) -> dict[str, np.ndarray]:
        """One pass over the rows ``order`` of ``X`` (pixels in [0, 1]), learning after
        each example; the per-example history (``dendrinet.engine.results``).
        ``progress(n_done, n_correct)`` is called as examples finish."""

    def evaluate(self, X: np.ndarray, y: np.ndarray | None = None,
                 progress: Callable[[int, int | None], None] | None = None) -> dict:
        """Test presentations of every row of ``X``: ``pred``, ``mean_V`` (and
        ``correct``, ``error`` with ``y``)."""

    def present(self, X: np.ndarray, schedule: Schedule, *, seed: int | None = None,
                progress: Callable[[float, float], None] | None = None
                ) -> SimulationResult:
        """Present any :class:`~dendrinet.config.schedule.Schedule` (forward, target, test
        phases) with the current parameters, no learning.

        Parameters
        ----------
        X : array (n, n_inputs)
            Pixel intensities in [0, 1]; ``schedule.example_id`` indexes its rows.
        schedule : Schedule
            Presentations; ``schedule.dt`` (ms) must be the protocol's.
        seed : int, optional
            Seed of the presentation's random spikes; default derived from the
            engine's seed. The same seed gives the same spikes on the same engine.
        progress : callable, optional
            ``progress(ms_done, ms_total)`` in simulated milliseconds: at the start
            (0), at the end (``ms_total``), and in between where the engine can.

        Returns
        -------
        SimulationResult
            Spikes, traces and phase averages
            (:class:`~dendrinet.engine.results.SimulationResult`).
        """

    def record_spikes(self, X: np.ndarray, example_ids, labels=None) -> dict:
        """Spike trains ``(times_ms, ids)`` per population of test presentations of
        the rows ``example_ids``, with ``presentations`` and ``mean_V``."""

    def get_state(self) -> dict[str, np.ndarray]:
        """Everything needed to continue training bit for bit (besides ``params``)."""

    def set_state(self, state: dict) -> None:
        """Restore a :meth:`get_state` dictionary."""


def check_compile_stage(what) -> str:
    """``what`` of :meth:`Engine.compile_note`, checked (a DendrinetError otherwise)."""
    if what not in COMPILE_STAGES:
        raise DendrinetError(f"compile_note: what must be one of {', '.join(COMPILE_STAGES)}, "
                             f"got {what!r}")
    return what


def check_present_options(seed, progress) -> int | None:
    """The keyword arguments of :meth:`Engine.present`, checked (a DendrinetError
    otherwise): ``seed`` None or an integer in [0, 2**64), ``progress`` None or
    callable. Returns the seed as an int (or None)."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                             or not 0 <= seed < 2**64):
        raise DendrinetError(f"seed must be None or a non-negative integer below 2**64, "
                             f"got {seed!r}")
    if progress is not None and not callable(progress):
        raise DendrinetError("progress must be None or a callable progress(ms_done, ms_total)")
    return None if seed is None else int(seed)


def check_present_memory(n_inputs: int, n_units: int, n_extra: int, schedule: Schedule
                         ) -> None:
    """Refuse, before it starts, a :meth:`Engine.present` whose recording (every spike,
    and the traces of ``n_units`` units with ``n_extra`` own state variables at every
    step: :func:`dendrinet.config.limits.trace_bytes`) would not fit in memory (a
    :class:`~dendrinet.errors.ResourceError`)."""
    steps = int(schedule.total_steps)
    check_memory(trace_bytes(n_inputs, n_units, n_extra, steps),
                 f"recording every spike and trace of {len(schedule)} presentations "
                 f"({steps:,} steps)")
