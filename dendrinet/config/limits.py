"""Bounds on every size a model, protocol, sweep or data set can ask for, and the memory
estimates checked before the work starts.

A file is data from anyone: a protocol may ask for ``1e12 ms`` presentations, a model
for two hidden layers of 100,000 units, a sweep for a million runs, a data set header
for 784e9 bytes. Each is refused here with one line that names the size, before any
array is allocated or any run starts, instead of a MemoryError, a Numba SystemError or
a machine that swaps for hours.

Two kinds of checks:

* fixed bounds, checked when a file is read (:data:`MAX_STEPS_PER_PRESENTATION`,
  :data:`MAX_UNITS_PER_LAYER`, :data:`MAX_HIDDEN_LAYERS`, :data:`MAX_SWEEP_RUNS`,
  :data:`MAX_RUN_NAME_CHARS`): far beyond anything sensible, they keep arithmetic and
  file names in range whatever the machine;
* memory estimates (:func:`parameter_bytes`, :func:`engine_bytes`), compared with this
  machine's memory (:func:`machine_memory_bytes`) when parameters, engines and data sets
  are created: more than :data:`MEMORY_FRACTION` of it is refused with
  "needs about X GB; this machine has Y GB".

Sizes are in bytes (``int``) and steps of the protocol's ``dt``.
"""
from __future__ import annotations

import hashlib
import math
import os
import sys
from pathlib import Path

from dendrinet.errors import ConfigError, DendrinetError, ResourceError

__all__ = ["MAX_STEPS_PER_PRESENTATION", "MAX_UNITS_PER_LAYER", "MAX_HIDDEN_LAYERS",
           "MAX_SWEEP_RUNS", "MAX_RUN_NAME_CHARS", "MEMORY_FRACTION", "check_memory",
           "recording_bytes", "trace_bytes",
           "check_network_size", "check_presentation_steps", "engine_bytes", "gigabytes",
           "jitter_tail_steps", "machine_memory_bytes", "network_text", "parameter_bytes",
           "shorten_run_name"]

#: Most time steps of one presentation (a training phase with its jitter, or a test
#: presentation). The longest shipped one has 1,000 (1000 ms at dt = 1 ms); 10^6 steps
#: is 1000 s of network time at dt = 1 ms or 10 s at dt = 0.01 ms. One presentation's
#: input events take ``n_inputs * steps * 8`` bytes (6.3 GB for MNIST at 10^6 steps):
#: below this bound the memory estimate of the engine decides.
MAX_STEPS_PER_PRESENTATION = 1_000_000
#: Most units of one hidden or output layer when a model is read (the memory estimate
#: then decides: two layers of 10^5 units already need 80 GB of weights).
MAX_UNITS_PER_LAYER = 1_000_000
#: Most hidden layers of a model.
MAX_HIDDEN_LAYERS = 100
#: Most runs of a sweep without ``allow_large`` (``dendrinet sweep --allow-large``).
MAX_SWEEP_RUNS = 10_000
#: Longest run folder name, in characters (file systems allow 255 bytes; the lock and
#: temporary files a run adds to its name need room too).
MAX_RUN_NAME_CHARS = 120
#: Fraction of the machine's memory that one engine, parameter set or data set may use.
MEMORY_FRACTION = 0.8
#: A phase's jitter exceeds :func:`jitter_tail_steps` with probability below
#: ``exp(-_JITTER_TAIL_LOG)`` (1e-12).
_JITTER_TAIL_LOG = math.log(1e12)


# ------------------------------------------------------------------ machine memory


def _cgroup_limit_bytes() -> int | None:
    """The memory limit of this process's control group (containers), if any."""
    for name in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(name).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:  # "max" or a huge number: no limit
            return int(text)
    return None


def machine_memory_bytes() -> int:
    """This machine's physical memory in bytes, or the container's limit if smaller."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX: ask psutil
        import psutil
        total = psutil.virtual_memory().total
    limit = _cgroup_limit_bytes()
    return min(total, limit) if limit else total


def gigabytes(n_bytes: float) -> str:
    """``n_bytes`` in words: ``"12.3 GB"`` (10^9 bytes; two digits below 1 GB)."""
    gb = n_bytes / 1e9
    return f"{gb:.2g} GB" if gb < 1 else f"{gb:,.1f} GB"


def check_memory(n_bytes: float, what: str, error: type[DendrinetError] = ResourceError
                 ) -> None:
    """Refuse ``n_bytes`` above :data:`MEMORY_FRACTION` of :func:`machine_memory_bytes`.

    Parameters
    ----------
    n_bytes : float
        The estimated need, bytes.
    what : str
        What needs it, the start of the message (``"model 'x' (784-500-10) with
        protocol 'y'"``).
    error : DendrinetError subclass
        Raised (:class:`~dendrinet.errors.ResourceError`; data sets raise
        :class:`~dendrinet.errors.DatasetError`).
    """
    total = machine_memory_bytes()
    if n_bytes > MEMORY_FRACTION * total:
        raise error(f"{what} needs about {gigabytes(n_bytes)}; this machine has "
                    f"{gigabytes(total)} (at most {MEMORY_FRACTION:.0%} of it is used)")


# --------------------------------------------------------------------- protocols


def jitter_tail_steps(protocol) -> int:
    """Steps a phase's jitter stays below except with probability 1e-12 (0 without
    jitter).

    The jitter is ``int(wald(mean, scale))`` steps; the inverse-Gaussian tail falls
    like ``exp(-scale x / (2 mean^2))``, so the bound is ``mean + 2 mean^2 / scale *
    ln(1e12)`` (224 steps for the shipped mean 2, scale 1).
    """
    if not protocol.jitter:
        return 0
    mean, scale = protocol.jitter_mean, protocol.jitter_scale
    tail = mean + 2.0 * mean * mean / scale * _JITTER_TAIL_LOG
    return math.ceil(tail) if math.isfinite(tail) else sys.maxsize


def _steps(duration_ms: float, dt: float) -> float:
    return duration_ms / dt  # a float: 1e12 ms / 1e-9 ms must not overflow anything


def check_presentation_steps(protocol, where: str) -> None:
    """Refuse a protocol whose training phase (with its jitter's tail) or test
    presentation has more than :data:`MAX_STEPS_PER_PRESENTATION` steps.

    Raises
    ------
    ConfigError
        Naming the key, its value, the steps and the bound.
    """
    p, most = protocol, MAX_STEPS_PER_PRESENTATION
    tail = jitter_tail_steps(p)
    if tail > most:
        raise ConfigError(
            f"{where} [train].jitter_mean = {p.jitter_mean:g} (jitter_scale = "
            f"{p.jitter_scale:g}) lets a phase's jitter reach {tail:,} steps; at most "
            f"{most:,} steps per presentation")
    for key, duration, extra in (("[train].phase_duration", p.phase_duration, tail),
                                 ("[test].duration", p.test_duration, 0)):
        steps = _steps(duration, p.dt) + extra
        if not steps <= most:  # also NaN
            jitter = f" plus the jitter's tail ({extra:,} steps)" if extra else ""
            count = f"{steps:,.0f}" if math.isfinite(steps) else "infinitely many"
            raise ConfigError(
                f"{where} {key} = {duration:g} ms{jitter} is {count} steps of dt = "
                f"{p.dt:g} ms; at most {most:,} steps per presentation (shorten it or use "
                f"a larger dt)")


# ---------------------------------------------------------------------- networks


def check_network_size(hidden, n_outputs: int, where: str) -> None:
    """Refuse more than :data:`MAX_HIDDEN_LAYERS` hidden layers or a layer of more than
    :data:`MAX_UNITS_PER_LAYER` units (``ConfigError`` naming the key)."""
    if len(hidden) > MAX_HIDDEN_LAYERS:
        raise ConfigError(f"{where} [network].hidden: {len(hidden):,} hidden layers; at most "
                          f"{MAX_HIDDEN_LAYERS}")
    for key, sizes in (("hidden", hidden), ("n_outputs", [n_outputs])):
        big = [n for n in sizes if n > MAX_UNITS_PER_LAYER]
        if big:
            raise ConfigError(f"{where} [network].{key}: a layer of {big[0]:,} units; at "
                              f"most {MAX_UNITS_PER_LAYER:,} units per layer")


def parameter_bytes(sizes, drawing: bool = False) -> int:
    """Bytes of a network's parameters (float64 ``W``, ``b``, ``Y`` and ``Y_noise``,
    :class:`~dendrinet.model.weights.Parameters`) for layer sizes ``(n_inputs, *hidden,
    n_outputs)``; with ``drawing``, plus the largest layer once more (drawing a layer
    needs a temporary of its size, :func:`dendrinet.model.weights.initial_parameters`)."""
    sizes = [int(s) for s in sizes]
    weights = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    feedback = [sizes[-1] * h for h in sizes[1:-1]]
    floats = sum(weights) + sum(sizes[1:]) + 2 * sum(feedback)
    return 8 * (floats + (max(weights + feedback) if drawing else 0))


def _threads() -> int:
    """Threads the engine's test presentations run on (each with its own buffers)."""
    numba = sys.modules.get("numba")
    if numba is not None:
        return int(numba.get_num_threads())
    return os.cpu_count() or 1


def engine_bytes(sizes, protocol, threads: int | None = None) -> int:
    """Estimated bytes of one engine with its parameters, for layer sizes
    ``(n_inputs, *hidden, n_outputs)``.

    The fast engine (:mod:`dendrinet.backends.numba.engine`) holds the parameters
    (:func:`parameter_bytes`), flat float64 copies of them, a float32 copy of the first
    weight layer and per-unit state; per presentation it fills an input-event buffer of
    ``n_inputs * steps`` int64 and four float64 arrays of ``steps``: one for a
    training example (both phases), one per thread for test presentations.

    Parameters
    ----------
    sizes : sequence of int
    protocol : ProtocolConfig
    threads : int, optional
        Threads of the test presentations (default: Numba's, or the number of cores).
    """
    sizes = [int(s) for s in sizes]
    n_in, n_units = sizes[0], sum(sizes[1:])
    params = parameter_bytes(sizes)
    first = 4 * n_in * sizes[1]
    state = 8 * 40 * n_units + 8 * 16 * n_in  # traces, scratch, streams, updates
    train_steps = 2 * (_steps(protocol.phase_duration, protocol.dt) + jitter_tail_steps(protocol))
    test_steps = _steps(protocol.test_duration, protocol.dt)

    def presentation(steps: float) -> float:
        return 8 * (n_in + 4) * steps + state

    threads = _threads() if threads is None else threads
    total = 2 * params + first + presentation(train_steps) + threads * presentation(test_steps)
    return int(min(total, sys.maxsize))


def recording_bytes(sizes, protocol, n_presentations: int) -> int:
    """Bytes of the spike raster an engine fills to record ``n_presentations`` test
    presentations of a network of layer sizes ``(n_inputs, *hidden, n_outputs)``: one
    byte per neuron and step (``record_spikes``, the spike sample of ``train``)."""
    steps = _steps(protocol.test_duration, protocol.dt)
    return int(min(int(n_presentations) * steps * sum(int(s) for s in sizes), sys.maxsize))


def trace_bytes(n_inputs: int, n_units: int, n_extra: int, total_steps: int) -> int:
    """Bytes of what ``present`` records over ``total_steps`` steps: a spike raster (one
    byte per neuron and step) and float64 traces of every unit (``V``, ``V_b``, ``V_a``
    and the model's ``n_extra`` own state variables) at every step."""
    per_step = int(n_inputs) + int(n_units) + 8 * int(n_units) * (3 + int(n_extra))
    return int(min(int(total_steps) * per_step, sys.maxsize))


def network_text(sizes) -> str:
    """``784-500-10``."""
    return "-".join(str(int(s)) for s in sizes)


# -------------------------------------------------------------------------- sweeps


def shorten_run_name(name: str, most: int = MAX_RUN_NAME_CHARS) -> str:
    """``name`` if it has at most ``most`` characters, else its start, a hash of the
    whole name and its last part (``seed<N>``): the same name on every call, so a
    resumed sweep finds its runs again.

    ``"<start>__h<12 hex digits>__seed3"``; the start is cut so that the result has
    ``most`` characters at most.
    """
    if len(name) <= most:
        return name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]
    head, sep, last = name.rpartition("__")
    tail = f"__h{digest}" + (f"__{last}" if sep and len(last) <= most // 4 else "")
    return name[:max(0, most - len(tail))].rstrip("_") + tail
