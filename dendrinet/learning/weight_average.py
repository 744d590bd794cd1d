"""The weights a network is tested with: its current weights, or their running mean over
the ends of the last epochs (``[learning] average_weights_from``).

Spike noise makes every plasticity update noisy, so the weights at the end of an epoch
scatter around where learning is heading; their mean over several epochs is closer to
it (stochastic weight averaging: Izmailov et al., UAI 2018; Polyak & Juditsky 1992).
Each synapse averages its own value, so the mean is as local as the rule. Training goes
on from the current weights; the mean is what is tested, saved in ``weights/`` and used
for predictions.
"""
from __future__ import annotations

import numpy as np

from dendrinet.errors import RunError
from dendrinet.model.weights import Parameters

__all__ = ["WeightAverage"]


class WeightAverage:
    """Running mean of a network's parameters at the ends of epochs ``start, start+1, ...``.

    Parameters
    ----------
    start : int
        First epoch (from 1) whose end enters the mean; 0: no averaging (the weights
        tested are the current ones).

    Examples
    --------
    >>> avg = WeightAverage(start=2)
    >>> tested = avg.after_epoch(params, epoch=3)  # doctest: +SKIP
    """

    def __init__(self, start: int = 0):
        self.start = int(start)
        self.count = 0
        self.mean: Parameters | None = None

    @property
    def active(self) -> bool:
        return self.start > 0

    def after_epoch(self, params: Parameters, epoch: int) -> Parameters:
        """The parameters to test after ``epoch`` (from 1), taking ``params`` (the
        current ones, unchanged) into the mean from epoch ``start`` on.

        The mean is updated as ``m += (x - m) / n``: a parameter that does not change
        (fixed feedback, its noise) stays bit for bit what it is."""
        if not self.active or epoch < self.start:
            return params
        self.count += 1
        if self.mean is None:
            self.mean = params.copy()
            return self.mean
        # to_arrays names the arrays themselves (no copies), in one order: updated in place
        for mine, now in zip(self.mean.to_arrays().values(), params.to_arrays().values()):
            mine += (now - mine) / self.count
        return self.mean

    def tested(self, params: Parameters) -> Parameters:
        """The parameters tested now: the mean once an epoch entered it, else ``params``."""
        return params if self.mean is None else self.mean

    # -- checkpoints: a resumed run continues the same mean

    def to_arrays(self) -> dict[str, np.ndarray]:
        """``{"count": n, "mean.W_0": ...}`` (empty when no epoch entered the mean)."""
        if self.mean is None:
            return {}
        out = {f"mean.{k}": v for k, v in self.mean.to_arrays().items()}
        out["count"] = np.array(self.count, dtype=np.int64)
        return out

    @classmethod
    def from_arrays(cls, start: int, arrays: dict, source: str) -> "WeightAverage":
        """The mean a checkpoint recorded (``arrays`` as :meth:`to_arrays` wrote them)."""
        avg = cls(start)
        if not arrays:
            return avg
        try:
            avg.count = int(arrays["count"])
            avg.mean = Parameters.from_arrays(
                {k[len("mean."):]: v for k, v in arrays.items() if k.startswith("mean.")},
                source)
        except (KeyError, ValueError, TypeError) as exc:
            raise RunError(f"{source}: the weight average is corrupt ({exc})") from None
        if avg.count < 1:
            raise RunError(f"{source}: the weight average is corrupt (count {avg.count})")
        return avg

