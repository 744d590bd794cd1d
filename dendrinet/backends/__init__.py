"""Simulation backends and the one registry through which everything creates engines.

* :mod:`dendrinet.backends.numba` -- the fast engine: the network's discrete-time
  dynamics, spike generation and plasticity kernels compiled with Numba;
* :mod:`dendrinet.backends.brian2` -- the Brian2 equations and network, and an engine
  that trains through them with the Numba plasticity kernels.

Both implement :class:`dendrinet.engine.Engine`.
"""
from __future__ import annotations

import importlib
from typing import Callable

import numpy as np

from dendrinet.config import limits
from dendrinet.errors import DendrinetError

__all__ = ["ENGINES", "make_engine", "engine_name", "engine_class", "engine_options"]

#: Registered engines: name -> (module, class, keyword arguments, what it is).
_REGISTRY = {
    "fast": ("dendrinet.backends.numba.engine", "FastEngine", {},
             "Numba, input spikes summed in float32 (default)"),
    "fast-double": ("dendrinet.backends.numba.engine", "FastEngine",
                    {"input_precision": "double"}, "Numba, float64 throughout (5-7 % slower)"),
    "brian2": ("dendrinet.backends.brian2.engine", "Brian2Engine", {},
               "the Brian2 network (any equations; 30-40x slower)"),
    "rate": ("dendrinet.backends.rate.engine", "RateEngine", {},
             "mean field: spike probabilities instead of spikes, no noise (to explore)"),
}

#: Names of the registered engines.
ENGINES = tuple(_REGISTRY)


def describe_engines() -> dict[str, str]:
    """Engine name -> one-line description (for help texts)."""
    return {name: entry[3] for name, entry in _REGISTRY.items()}


def make_engine(engine: str | Callable, model, protocol, params, seed: int = 0, **options):
    """Create a simulation engine.

    Parameters
    ----------
    engine : {"fast", "fast-double", "brian2", "rate"} or callable
        A registered name, or a callable ``engine(model, protocol, params, seed=seed)``
        returning an object with the :class:`dendrinet.engine.Engine` interface.
    model, protocol : ModelConfig, ProtocolConfig
    params : Parameters
        Trained in place by the engine.
    seed : int
        Seed of the engine's random spikes and phase jitter.
    **options
        Passed to the engine's constructor (e.g. ``target``, ``device`` of the Brian2
        engine).
    """
    if not isinstance(engine, str):
        if callable(engine):
            return engine(model, protocol, params, seed=seed, **options)
        raise DendrinetError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine not in _REGISTRY:
        raise DendrinetError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    _check_resources(engine, model, protocol, params)
    cls = engine_class(engine)
    return cls(model, protocol, params, seed=seed, **{**_REGISTRY[engine][2], **options})


def engine_class(engine: str) -> type:
    """The class of a registered engine (imported on first use)."""
    if engine not in _REGISTRY:
        raise DendrinetError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    module_name, class_name, _, _ = _REGISTRY[engine]
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except ModuleNotFoundError as exc:
        raise DendrinetError(f"the {engine} engine is not available ({exc})") from None


def engine_options(engine: str, **options) -> dict:
    """Those of ``options`` that the registered engine's constructor takes (a command
    offers the options of every engine, e.g. Brian2's ``target`` and ``device``; each
    engine gets its own, without its caller naming engines)."""
    import inspect

    taken = inspect.signature(engine_class(engine)).parameters
    return {key: value for key, value in options.items()
            if key in taken and key not in _REGISTRY[engine][2]}


def _check_resources(engine: str, model, protocol, params) -> None:
    """Refuse, before the engine allocates anything, a protocol with too many steps per
    presentation or an engine whose estimated memory (:func:`dendrinet.config.limits.engine_bytes`)
    exceeds the machine's (:class:`~dendrinet.errors.ResourceError`). Arguments of the
    wrong type are left to the engine's own checks, which name them."""
    from dendrinet.config import ModelConfig, ProtocolConfig

    W = getattr(params, "W", None)
    if not (isinstance(model, ModelConfig) and isinstance(protocol, ProtocolConfig)
            and isinstance(W, (list, tuple)) and W and np.ndim(W[0]) == 2):
        return
    limits.check_presentation_steps(protocol, f"protocol {protocol.name!r}")
    sizes = model.layer_sizes(np.shape(W[0])[0])
    limits.check_memory(limits.engine_bytes(sizes, protocol),
                        f"the {engine} engine of model {model.name!r} "
                        f"({limits.network_text(sizes)}) with protocol {protocol.name!r}")


def engine_name(engine) -> str:
    """The name under which an engine (a registered name or a callable) is recorded."""
    if isinstance(engine, str):
        return engine
    return str(getattr(engine, "name", getattr(engine, "__name__", type(engine).__name__)))
