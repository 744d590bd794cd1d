"""The engine interface: what every simulation backend provides.

An engine trains and tests one network (a :class:`~dendrinet.config.ModelConfig` under a
:class:`~dendrinet.config.ProtocolConfig`, with :class:`~dendrinet.weights.Parameters`
that it updates in place). Training runs, the estimator, the benchmarks and
``dendrinet simulate`` use engines only through this interface and the registry
:func:`dendrinet.backends.make_engine`; the backends live in :mod:`dendrinet.backends`.

:mod:`dendrinet.engine.checks` holds the input checks every engine applies, and
:mod:`dendrinet.engine.results` the results they return, in one vocabulary.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from dendrinet.engine.results import SimulationResult

__all__ = ["Engine"]


@runtime_checkable
class Engine(Protocol):
    """The methods and attributes of a simulation engine.

    Attributes
    ----------
    name : str
        Registry name (``"fast"``, ``"fast-double"``, ``"brian2"``).
    model, protocol, params, seed
        What it was built with; ``params`` changes as it learns.
    epochs_done : int
        Number of :meth:`train_epoch` calls so far (selects the phase jitter).
    """

    name: str
    epochs_done: int

    def train_epoch(self, X: np.ndarray, y: np.ndarray, order: np.ndarray | None = None,
                    progress: Callable[[int, int], None] | None = None,
                    sample_every: int = 100) -> dict[str, np.ndarray]:
        """One pass over the rows ``order`` of ``X`` (pixels in [0, 1]), learning after
        each example; the per-example history (``dendrinet.engine.results``)."""

    def evaluate(self, X: np.ndarray, y: np.ndarray | None = None,
                 progress: Callable[[int, int | None], None] | None = None) -> dict:
        """Test presentations of every row of ``X``: ``pred``, ``mean_V`` (and
        ``correct``, ``error`` with ``y``)."""

    def present(self, X: np.ndarray, schedule) -> SimulationResult:
        """Present any :class:`~dendrinet.schedule.Schedule` (forward, target, test
        phases) with the current parameters, no learning: spikes, traces and phase
        averages (:class:`~dendrinet.engine.results.SimulationResult`)."""

    def record_spikes(self, X: np.ndarray, example_ids, labels=None) -> dict:
        """Spike trains ``(times_ms, ids)`` per population of test presentations of
        the rows ``example_ids``, with ``presentations`` and ``mean_V``."""

    def get_state(self) -> dict[str, np.ndarray]:
        """Everything needed to continue training bit for bit (besides ``params``)."""

    def set_state(self, state: dict) -> None:
        """Restore a :meth:`get_state` dictionary."""
