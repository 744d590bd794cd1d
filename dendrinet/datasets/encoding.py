"""Pixel intensities -> input spikes: the images both engines accept and the spike
probability per step they draw with (Bernoulli-per-step Poisson spikes).

Each input neuron stands for one pixel. A pixel of intensity ``x`` in [0, 1] makes its
input neuron fire at ``phi_max * x`` (0.2 /ms = 200 Hz for a white pixel).

Why Bernoulli per step. Spikes are drawn once per time step ``dt``: input neuron ``i``
spikes in step ``n`` if ``u < phi_max * x_i * dt`` with ``u`` uniform in [0, 1). This is
what Brian2's ``PoissonGroup`` and a ``threshold='rand() < rate*dt'`` do, so the Brian2
network and the fast Numba engine draw the same process: at most one spike per neuron
per step, with probability ``rate * dt`` (the authors' code drew Poisson counts, which
can exceed one per step; at 0.2 spikes per step the two differ by about 2 % in the
variance). It requires ``phi_max * dt <= 1``, checked by :func:`max_spike_probability`.
"""
from __future__ import annotations

import numpy as np

from dendrinet.errors import DendrinetError


def validate_images(images, n_inputs: int | None = None, what: str = "images") -> np.ndarray:
    """Check images and return them as a C-contiguous float64 array ``(n_examples, n_inputs)``.

    Parameters
    ----------
    images : array_like
        Pixel intensities (dimensionless, in [0, 1]); shape ``(n_examples, n_inputs)``,
        or ``(n_inputs,)`` for a single image.
    n_inputs : int, optional
        Required number of pixels per image (the network's input layer size).
    what : str
        Name used in error messages.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(n_examples, n_inputs)``.

    Raises
    ------
    DendrinetError
        Not numeric, wrong number of dimensions, empty, wrong number of pixels, NaN or
        infinite values, values below 0 or above 1.
    """
    try:
        array = np.asarray(images, dtype=np.float64)
    except (TypeError, ValueError):
        raise DendrinetError(f"{what}: expected an array of numbers (pixel intensities "
                             f"in [0, 1]), got {type(images).__name__}") from None
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise DendrinetError(f"{what}: expected shape (n_examples, n_inputs) or (n_inputs,), "
                             f"got an array of shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise DendrinetError(f"{what}: empty array of shape {array.shape}")
    if n_inputs is not None and array.shape[1] != n_inputs:
        raise DendrinetError(f"{what}: {array.shape[1]} pixels per image, but the network has "
                             f"{n_inputs} input neurons")
    bad = ~np.isfinite(array)
    if bad.any():
        example, pixel = np.argwhere(bad)[0]
        raise DendrinetError(f"{what}: {int(bad.sum())} value(s) are NaN or infinite "
                             f"(first at example {example}, pixel {pixel})")
    if array.min() < 0:
        example, pixel = np.unravel_index(np.argmin(array), array.shape)
        raise DendrinetError(f"{what}: intensities must be >= 0, found {array.min():g} "
                             f"(example {example}, pixel {pixel}); rescale to [0, 1]")
    if array.max() > 1:
        example, pixel = np.unravel_index(np.argmax(array), array.shape)
        raise DendrinetError(f"{what}: intensities must be <= 1, found {array.max():g} "
                             f"(example {example}, pixel {pixel}); rescale to [0, 1] "
                             f"(e.g. divide 8-bit images by 255)")
    return np.ascontiguousarray(array)


def max_spike_probability(phi_max: float, dt: float) -> float:
    """``phi_max * dt``: the probability of a spike in one step of a neuron at its maximum
    rate (an input neuron of a white pixel; a unit with ``sigmoid(V) = 1``).

    Input neuron ``i`` spikes with probability ``phi_max * dt * x_i`` per step. Both
    engines take the number from here (the Brian2 network checks it; the fast engine
    draws ``u < phi_max dt x_i``).

    Parameters
    ----------
    phi_max : float
        Maximum rate, 1/ms (0.2 for 200 Hz).
    dt : float
        Time step, ms.

    Raises
    ------
    DendrinetError
        ``phi_max`` or ``dt`` not positive, or a probability above 1 (the step is too
        long for Bernoulli spikes).
    """
    if not np.isfinite(phi_max) or phi_max <= 0:
        raise DendrinetError(f"phi_max must be a positive rate in 1/ms, got {phi_max!r}")
    if not np.isfinite(dt) or dt <= 0:
        raise DendrinetError(f"dt must be a positive time step in ms, got {dt!r}")
    p = phi_max * dt
    if p > 1.0:
        raise DendrinetError(f"phi_max * dt = {p:g} > 1: at most one spike per step can be "
                             f"drawn; use a shorter dt (at most {1.0 / phi_max:g} ms)")
    return p
