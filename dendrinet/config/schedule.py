"""Presentation schedules: which example and phase occupies each time step.

Both engines (Brian2 network and fast Numba engine) take their phase lengths from
here, so that the same seed gives the same schedule everywhere.

Phase codes: ``FORWARD = 0``, ``TARGET = 1``, ``TEST = 2``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dendrinet.config import ProtocolConfig
from dendrinet.errors import DendrinetError

FORWARD, TARGET, TEST = 0, 1, 2
PHASE_NAMES = ("forward", "target", "test")

#: One row per presentation, as engines report them (``record_spikes``): the example
#: (row of the image set), its label (-1: none), the phase code and its times (ms).
PRESENTATION_DTYPE = np.dtype([("example_id", np.int64), ("label", np.int64),
                               ("phase", np.int64), ("t_start", np.float64),
                               ("t_stop", np.float64)])


def phase_steps(protocol: ProtocolConfig, rng: np.random.Generator, n: int) -> np.ndarray:
    """Lengths, in steps, of ``n`` training phases.

    ``phase_duration/dt + int(wald(jitter_mean, jitter_scale))``: the shifted
    inverse-Gaussian jitter of the paper (about 1.5 steps on average).
    """
    base = protocol.steps(protocol.phase_duration)
    if not protocol.jitter:
        return np.full(n, base, dtype=np.int64)
    return base + rng.wald(protocol.jitter_mean, protocol.jitter_scale, size=n).astype(np.int64)


@dataclass(frozen=True)
class Schedule:
    """A sequence of presentations (one row per phase), in steps of ``dt``.

    Attributes
    ----------
    example_id, label, phase : ndarray of int64
        Dataset index, label (-1 if unknown) and phase code of each presentation.
    start : ndarray of int64
        First step of each presentation (steps since the start of the schedule).
    n_steps : ndarray of int64
        Length of each presentation, steps.
    settle : ndarray of int64
        Steps at the start of each presentation excluded from the averaging window.
    reset : ndarray of bool
        Whether the network state is reset to zero before the presentation.
    dt : float
        Time step, ms.
    """

    example_id: np.ndarray
    label: np.ndarray
    phase: np.ndarray
    start: np.ndarray
    n_steps: np.ndarray
    settle: np.ndarray
    reset: np.ndarray
    dt: float

    def __len__(self) -> int:
        return len(self.phase)

    @property
    def total_steps(self) -> int:
        return int(self.start[-1] + self.n_steps[-1]) if len(self) else 0

    @property
    def t_start(self) -> np.ndarray:
        """Start time of each presentation, ms."""
        return self.start * self.dt

    @property
    def t_stop(self) -> np.ndarray:
        """End time (exclusive) of each presentation, ms."""
        return (self.start + self.n_steps) * self.dt

    def per_step(self) -> dict[str, np.ndarray]:
        """Arrays of length ``total_steps``: ``presentation``, ``example_id``,
        ``label``, ``phase`` and ``window`` (1 inside an averaging window)."""
        pres = np.repeat(np.arange(len(self)), self.n_steps)
        offset = np.arange(self.total_steps) - self.start[pres]
        return {
            "presentation": pres,
            "example_id": self.example_id[pres],
            "label": self.label[pres],
            "phase": self.phase[pres],
            "window": (offset >= self.settle[pres]).astype(np.int8),
        }


def _build(example_id, label, phase, n_steps, settle, reset, dt) -> Schedule:
    n_steps = np.asarray(n_steps, dtype=np.int64)
    start = np.concatenate([[0], np.cumsum(n_steps)[:-1]]).astype(np.int64)
    return Schedule(np.asarray(example_id, dtype=np.int64), np.asarray(label, dtype=np.int64),
                    np.asarray(phase, dtype=np.int64), start, n_steps,
                    np.asarray(settle, dtype=np.int64), np.asarray(reset, dtype=bool), float(dt))


def training_schedule(protocol: ProtocolConfig, example_ids, labels,
                      rng: np.random.Generator) -> Schedule:
    """Forward then target phase for each example, state carried over throughout."""
    example_ids = np.asarray(example_ids, dtype=np.int64)
    n = len(example_ids)
    lengths = phase_steps(protocol, rng, 2 * n)  # forward, target, forward, target, ...
    return _build(np.repeat(example_ids, 2), np.repeat(np.asarray(labels), 2),
                  np.tile([FORWARD, TARGET], n), lengths,
                  np.full(2 * n, protocol.settle_steps), np.zeros(2 * n, bool), protocol.dt)


def test_schedule(protocol: ProtocolConfig, example_ids, labels=None) -> Schedule:
    """One forward presentation of ``test_duration`` per example, state reset before each."""
    example_ids = np.asarray(example_ids, dtype=np.int64)
    n = len(example_ids)
    labels = np.full(n, -1) if labels is None else np.asarray(labels)
    return _build(example_ids, labels, np.full(n, TEST), np.full(n, protocol.test_steps),
                  np.full(n, protocol.test_settle_steps), np.ones(n, bool), protocol.dt)


test_schedule.__test__ = False  # a builder, not a pytest test, when imported by name


def concatenate_schedules(*schedules: Schedule) -> Schedule:
    """One schedule running ``schedules`` back to back (same ``dt``)."""
    if not schedules:
        raise DendrinetError("nothing to concatenate")
    dt = schedules[0].dt
    if any(abs(s.dt - dt) > 1e-12 for s in schedules):
        raise DendrinetError("schedules with different dt cannot be concatenated")
    cat = {f: np.concatenate([getattr(s, f) for s in schedules])
           for f in ("example_id", "label", "phase", "n_steps", "settle", "reset")}
    start = np.concatenate([[0], np.cumsum(cat["n_steps"])[:-1]]).astype(np.int64)
    return Schedule(cat["example_id"], cat["label"], cat["phase"], start, cat["n_steps"],
                    cat["settle"], cat["reset"], dt)
