"""The one boundary between the fast engine and a model's own part.

The engine's kernels (:mod:`~dendrinet.backends.numba.dynamics`,
:mod:`~dendrinet.backends.numba.drivers`, :mod:`~dendrinet.backends.numba.replay`,
:mod:`dendrinet.learning.plasticity`) are compiled once per installation, for every model.
A model reaches them only through values they receive:

* its **neuron part**, the functions of :data:`NeuronHooks` (the soma update of hidden and
  output units, the apical potential), given as first-class functions
  (:class:`dendrinet.jit.first_class.Bound`) in the ``Net``: the hand-written
  :mod:`~dendrinet.backends.numba.standard_neuron` for the standard equations, or a
  module generated from the model's Brian2 equations
  (:mod:`~dendrinet.backends.numba.codegen`);
* its **parameter values** in :data:`NeuronConstants` (``Net.P``), read at run time: a
  model that differs from another only in values runs the same machine code, and a
  sweep over a value compiles nothing;
* its **learning rule**, a first-class function in the rule record
  (:mod:`dendrinet.learning.rule_part`).

A new equation variant compiles only its neuron part (five small functions, seconds).
The generated module is written to ``generated/`` in dendrinet's cache folder
(``$DENDRINET_CACHE``, else ``~/.cache/dendrinet``), in a folder named by the SHA-256 of
its source, of the numerics it imports and of the Numba and Python versions; Numba
caches its machine code beside it, so each variant compiles once, in the first process
that needs it. Folders are written atomically (a temporary folder renamed) and kept under
``$DENDRINET_CACHE_MAX`` (default 1 GB), least recently used out
(:mod:`~dendrinet.backends.numba.generated_cache`; ``dendrinet cache`` lists and clears
them).

Numba's cache of the package's own kernels (``__pycache__`` beside them, or under
``NUMBA_CACHE_DIR``) is checked against their sources the first time a process asks for a
model part, before anything compiles
(:func:`~dendrinet.backends.numba.jit_cache.refresh_once`).
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import shutil
import sys
from collections import namedtuple
from pathlib import Path

import numpy as np

from dendrinet.backends.numba import generated_cache
from dendrinet.backends.numba.jit_cache import is_cached, refresh_once
from dendrinet.config import ModelConfig
from dendrinet.errors import DendrinetError
from dendrinet.storage.files import create_temporary_folder, rename

#: Constants of the step that the neuron part reads (built by ``run_presentation`` from
#: the ``Net``): the spike's jump (1/ms) and the trace decays per step, ``dt`` in seconds
#: (generated code works in SI units), the standard soma's ``exp(-g dt)``, ``g_B/g``,
#: ``g_A/g``, ``P``, the values of the parameters the generated code reads (SI, in the
#: order of its ``PARAMETERS``), and the units' random streams ``s0``, ``s1`` (the
#: numbers of ``rand()`` / ``randn()`` in the equations are hashes of their state,
#: :func:`dendrinet.jit.random_streams.step_uniform`).
NeuronConstants = namedtuple("NeuronConstants", ["J", "dL", "dS", "dt_s", "E_hid", "cB", "cA",
                                                 "P", "s0", "s1"])

#: The neuron part as the kernels call it. ``*_in`` take the pending input ``c`` in the
#: precision of the input weights (float32 with single-precision inputs): the lowest hidden
#: layer, or the output layer of a network without hidden layers.
NeuronHooks = namedtuple("NeuronHooks", [
    "update_hidden", "update_hidden_in", "update_hidden_projected",
    "update_hidden_projected_in", "update_output", "update_output_in", "add_apical",
    "apical_row", "on_spike_hidden", "on_spike_output", "spike_condition_hidden",
    "spike_condition_output"])

#: The package's modules whose kernels Numba caches (refreshed together when one changes).
ENGINE_MODULES = ("dendrinet.backends.numba.dynamics", "dendrinet.backends.numba.drivers",
                  "dendrinet.backends.numba.replay", "dendrinet.backends.numba.input_spikes",
                  "dendrinet.backends.numba.standard_neuron", "dendrinet.learning.plasticity",
                  "dendrinet.learning.rules", "dendrinet.jit.numerics",
                  "dendrinet.jit.random_streams")
_GENERATED_IMPORTS = ("dendrinet.jit.numerics", "dendrinet.jit.random_streams")
_STANDARD = "dendrinet.backends.numba.standard_neuron"


def _signatures(c_in):
    """The Numba signature of every hook (``c_in``: the dtype of the input pending sum)."""
    from numba import typeof, types

    streams = np.zeros(1, np.uint64)
    k = typeof(NeuronConstants(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, np.zeros(1), streams,
                               streams))
    a = types.float64[::1]
    ci = types.Array(types.float32 if c_in == np.float32 else types.float64, 1, "C")
    X = types.float64[:, ::1]
    i = types.int64
    hidden = lambda c: types.void(k, a, a, a, c, a, a, a, X, i, i)  # noqa: E731
    projected = lambda c: types.void(k, a, a, a, c, a, X, i, i)  # noqa: E731
    output = lambda c: types.void(k, a, a, a, c, a, X, i, i, a, types.float64,  # noqa: E731
                                  types.float64, types.boolean, i)
    apical = types.void(k, a, a, a, a, a, a, a, X, i, i)
    spike = types.void(k, a, a, a, X, types.int64[::1], i)
    condition = types.void(k, a, a, a, X, types.uint8[::1], i)
    return NeuronHooks(hidden(a), hidden(ci), projected(a), projected(ci), output(a),
                       output(ci), apical, apical, spike, spike, condition, condition)


class ModelPart:
    """A model's neuron part: its module of Numba functions, what they need, and the
    functions bound as first-class values.

    Attributes
    ----------
    module : module
        :mod:`~dendrinet.backends.numba.standard_neuron` or a generated module with the
        same functions.
    extra_state : dict
        ``{"hidden": names, "output": names}``: the extra state variables (rows of
        ``State.X``).
    parameters : tuple of str
        The parameters the module reads from ``k.P``, in order.
    generated : bool
    folder : Path or None
        Where the generated module lives (None for the standard part).
    """

    def __init__(self, module, generated: bool, folder: Path | None):
        self.module = module
        self.extra_state = dict(module.EXTRA_STATE)
        self.parameters = tuple(module.PARAMETERS)
        #: The equations draw random numbers (``rand()``, ``randn()``).
        self.random = bool(getattr(module, "RANDOM_NUMBERS", False))
        #: The neurons run code of the model's own on a spike (``hidden_on_spike``, ...).
        self.on_spike = bool(module.ON_SPIKE)
        #: The neurons also spike where a condition of the model's holds.
        self.spike_condition = bool(module.SPIKE_CONDITION)
        self.generated = generated
        self.folder = folder
        self._hooks: dict = {}

    @property
    def n_extra(self) -> int:
        """Rows of ``State.X``."""
        return max(len(self.extra_state["hidden"]), len(self.extra_state["output"]))

    def compile_note(self, model_name: str) -> str | None:
        """A line for the user when the neuron part is not in Numba's cache yet (a
        generated one compiles on first use), else None."""
        m = self.module
        if self.generated and not is_cached(m.update_hidden, m.update_output, m.add_apical,
                                            m.apical_row):
            return (f"compiling the neuron of {model_name!r}, once: the update generated "
                    f"from its equations (seconds; cached in {self.folder})")
        return None

    def parameter_values(self, model: ModelConfig) -> np.ndarray:
        """``k.P`` for ``model`` (SI floats): the values, read at run time."""
        if not self.parameters:
            return np.zeros(0)
        from dendrinet.backends.numba.codegen import parameter_values

        return parameter_values(model, self.parameters)

    def hooks(self, c_in_dtype) -> NeuronHooks:
        """The neuron functions as first-class values, for an input pending sum of
        ``c_in_dtype`` (compiled, or loaded from Numba's cache, on first use)."""
        from dendrinet.jit.first_class import Bound

        key = np.dtype(c_in_dtype).type
        if key not in self._hooks:
            sigs = _signatures(key)
            m = self.module
            functions = NeuronHooks(m.update_hidden, m.update_hidden, m.update_hidden_projected,
                                    m.update_hidden_projected, m.update_output,
                                    m.update_output, m.add_apical, m.apical_row,
                                    m.on_spike_hidden, m.on_spike_output,
                                    m.spike_condition_hidden, m.spike_condition_output)
            self._hooks[key] = NeuronHooks(*(Bound(f, s) for f, s in zip(functions, sigs)))
        return self._hooks[key]


_parts: dict[str, ModelPart] = {}


def cache_root() -> Path:
    """Folder of the generated modules: ``generated/`` in dendrinet's cache folder
    (``$DENDRINET_CACHE``, else ``~/.cache/dendrinet``, as for downloaded data)."""
    return generated_cache.cache_root()


def refresh_engine_cache() -> None:
    """Numba's cache of the package's kernels dropped if any of their sources changed
    since it was written (once per process, before the first compilation;
    :func:`~dendrinet.backends.numba.jit_cache.refresh_stale_cache`)."""
    refresh_once([importlib.import_module(name) for name in ENGINE_MODULES])


def neuron_source(model: ModelConfig, generate: bool = False) -> str:
    """The text of ``model``'s neuron part: generated from its equations, or (standard
    equations, unless ``generate``) the hand-written module's."""
    if model.equations.is_default and not generate:
        return Path(importlib.import_module(_STANDARD).__file__).read_text()
    from dendrinet.backends.numba import codegen

    return codegen.neuron_hooks_source(model)


def model_part(model: ModelConfig, generate: bool = False) -> ModelPart:
    """The neuron part of ``model`` (imported once per process; generated and compiled
    once per equation variant, whatever its parameter values).

    ``generate=True`` generates the neuron update even for the standard equations (the
    tests compare it with the hand-written one).

    Raises
    ------
    ModelEquationError
        The equations cannot be generated (message names the model file and the fix).
    DendrinetError
        The generated module cannot be written.
    """
    refresh_engine_cache()
    if model.equations.is_default and not generate:
        key = "standard"
        if key not in _parts:
            _parts[key] = ModelPart(importlib.import_module(_STANDARD), False, None)
        return _parts[key]
    import numba

    source = neuron_source(model, generate)
    digest = hashlib.sha256(source.encode())
    for name in _GENERATED_IMPORTS:  # the generated code inlines them
        digest.update(Path(importlib.import_module(name).__file__).read_bytes())
    digest.update(numba.__version__.encode() + sys.version.encode())
    key = digest.hexdigest()[:20]
    if key in _parts:
        return _parts[key]
    package = f"{generated_cache.PREFIX}{key}"
    folder = cache_root() / package
    if not (folder / "__init__.py").exists():
        _write_package(folder, source, model)
        # the new module may push the folder over its bound: least recently used out
        generated_cache.trim(keep=[p.folder for p in _parts.values() if p.folder] + [folder],
                             root=folder.parent)
    part = ModelPart(_import_neuron(folder, package), True, folder)
    _parts[key] = part
    return part


def _write_package(folder: Path, source: str, model: ModelConfig) -> None:
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = create_temporary_folder(folder.parent)
    except OSError as exc:
        raise DendrinetError(f"cannot write the compiled model into {folder.parent} "
                             f"({exc.strerror}); set DENDRINET_CACHE to a writable folder"
                             ) from None
    try:
        # fixed text: nothing from the model file (its name included) lands in source;
        # the model's name is data, in a JSON file beside it (dendrinet cache lists it)
        (tmp / "__init__.py").write_text(generated_cache.INIT_TEXT)
        generated_cache.write_info(tmp, model.name)
        (tmp / "neuron.py").write_text(source)
        try:
            rename(tmp, folder)
        except OSError:  # another process was first: its copy is identical
            if not (folder / "__init__.py").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _import_neuron(folder: Path, package: str):
    if str(folder.parent) not in sys.path:  # importable by name (Numba's cache, pickles)
        sys.path.append(str(folder.parent))
    if package not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            package, folder / "__init__.py", submodule_search_locations=[str(folder)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[package] = module
        spec.loader.exec_module(module)
    neuron = importlib.import_module(f"{package}.neuron")
    generated_cache.mark_used(folder)  # the cache's bound removes least recently used first
    return neuron
