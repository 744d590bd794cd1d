"""A model's learning rule as a first-class function of the plasticity kernels.

The hidden layers' rule (``[learning] rule``) is a Numba function ``rule(layer, e)``
(:mod:`dendrinet.learning.rules`): one of the shipped rules, or a function in the user's
own file. The kernels (:func:`dendrinet.learning.plasticity.learn_flat`) are compiled
once and call the rule through the :data:`~dendrinet.learning.plasticity.Rule` record, as
a first-class function (:class:`dendrinet.jit.first_class.Bound`): a new rule compiles
only itself, on every engine.

A user's rule file is Python code, executed here (``dendrinet.learning.rule_files`` decides which
files may run and announces each once).
"""
from __future__ import annotations

import hashlib
import importlib.util
import sys

from dendrinet.config import ModelConfig
from dendrinet.errors import DendrinetError

#: The shipped rules by the name a model file gives them.
SHIPPED_RULES = {"segregated-dendrite": "segregated_dendrite",
                 "noise-feedback": "noise_feedback",
                 "direct-feedback-alignment": "direct_feedback_alignment",
                 "burstprop": "burstprop",
                 "burstprop-mean-field": "burstprop_mean_field"}
_bound: dict = {}


def rule_function(model: ModelConfig):
    """The Numba function of ``model``'s hidden-layer rule (a user's file is loaded,
    announced and checked once per process)."""
    rule = model.learning.rule
    if rule in SHIPPED_RULES:
        from dendrinet.learning import rules

        return getattr(rules, SHIPPED_RULES[rule])
    path, name = rule.rsplit(":", 1)
    function = load_user_rule(path, name)
    if (path, name) not in _checked:
        from dendrinet.model.equations import extra_state_variables

        check_rule_compiles(function, rule, model.hidden, model.n_outputs,
                            n_x=len(extra_state_variables(model, "hidden")))
        _checked.add((path, name))
    return function


_checked: set = set()


def rule_signature():
    """The Numba signature every rule is compiled for: ``void(HiddenLayer, float64[::1])``
    (``X_f``, ``X_t``: 2-D views of any layout, columns of the engine's unit arrays)."""
    import numpy as np
    from numba import typeof, types

    from dendrinet.learning.rules import HiddenLayer

    a = np.zeros(1)
    view = np.zeros((2, 4))[:, ::2]  # not contiguous: Numba's layout "A"
    layer = HiddenLayer(0, a, a, a, a, a, a, np.zeros((1, 1)), 0.0, 0.0, np.uint64(0), view,
                        view)
    return types.void(typeof(layer), types.float64[::1])


def bound_rule(model: ModelConfig):
    """``model``'s rule as a first-class function (for the ``Rule`` record)."""
    from dendrinet.jit.first_class import Bound

    function = rule_function(model)
    if function not in _bound:
        try:
            _bound[function] = Bound(function, rule_signature())
        except Exception as exc:  # Numba's typing errors of a rule that passed the check
            first = " ".join(str(exc).strip().splitlines()[:3])
            raise DendrinetError(f"learning rule {model.learning.rule} does not compile as "
                                 f"rule(layer, e): {type(exc).__name__}: {first[:400]}"
                                 ) from None
    return _bound[function]


def as_rule(rule):
    """A rule as a Numba function (plain Python functions are compiled with ``njit``,
    once per function)."""
    from numba import njit
    from numba.core.registry import CPUDispatcher

    if isinstance(rule, CPUDispatcher):
        return rule
    if rule not in _jitted:
        _jitted[rule] = njit(rule)
    return _jitted[rule]


_jitted: dict = {}


def load_user_rule(path: str, name: str):
    """The Numba function ``name`` of the user's file ``path`` (plain Python functions are
    compiled with ``numba.njit``).

    The file is Python code, executed here, and only when its content was allowed by
    the user (:func:`dendrinet.learning.rule_files.allow`; otherwise one
    :class:`DendrinetError`): the first time a process executes a content, one line on
    stderr names the file and its SHA-256 (:func:`dendrinet.learning.rule_files.announce`).
    The bytes hashed are the bytes executed."""
    from numba.core.registry import CPUDispatcher

    from dendrinet.learning.rule_files import (announce, file_sha256, read_rule,
                                                 require_allowed)

    source = read_rule(path)
    digest = file_sha256(source)
    require_allowed(path, digest)
    key = hashlib.sha256(f"{path}:{digest}".encode()).hexdigest()[:12]
    module_name = f"dendrinet_user_rule_{key}"
    try:
        if module_name in sys.modules:
            module = sys.modules[module_name]
        else:
            announce(path, digest)
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            exec(compile(source, str(path), "exec"), module.__dict__)  # what import would do
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise DendrinetError(f"learning rule file {path} cannot be imported: "
                             f"{type(exc).__name__}: {exc}") from None
    rule = getattr(module, name, None)
    if rule is None:
        raise DendrinetError(f"learning rule file {path} has no function {name!r}")
    if not isinstance(rule, CPUDispatcher) and not callable(rule):
        raise DendrinetError(f"learning rule {path}:{name} is not a function")
    return as_rule(rule)


def check_rule_compiles(rule, where: str, hidden=(3,), n_outputs: int = 2,
                        n_inputs: int = 784, n_x: int = 0) -> None:
    """Run ``rule`` once per hidden layer, on arrays of the layers' shapes, compiled with
    Numba's bounds checking, and check that it writes finite errors: a mistake is
    reported here, in one line, not deep inside the engine's compilation, and a rule
    that indexes past the end of an array is an error, not a segmentation fault.

    Training then runs the rule as the user compiled it (no bounds checks, full speed).
    Functions the rule calls are checked as they were compiled.

    Parameters
    ----------
    rule : Numba dispatcher or function
        ``rule(layer, e)`` (see :mod:`dendrinet.learning.rules`).
    where : str
        ``"file.py:function"``, for the messages.
    hidden, n_outputs, n_inputs : int
        Layer sizes (the model's; the inputs of the data set are not known yet: 784).
    n_x : int
        The model's extra hidden state variables (rows of ``X_f``, ``X_t``).
    """
    import numpy as np

    from dendrinet.learning.rules import HiddenLayer

    checked = _bounds_checked(rule)
    sizes = (int(n_inputs), *(int(n) for n in hidden), int(n_outputs))
    for l, n in enumerate(sizes[1:-1]):
        layer = HiddenLayer(l, np.zeros(n), np.full(n, 0.4), np.full(n, 0.6),
                            np.full(sizes[l], 0.05), np.full(n, 0.05),
                            np.linspace(0.01, -0.01, n_outputs), np.ones((n_outputs, n)), 0.2,
                            0.8, np.uint64(12345 + l), np.full((n_x, n), 0.3),
                            np.full((n_x, n), 0.7))
        e = np.full(n, np.nan)
        try:
            checked(layer, e)
        except IndexError as exc:
            raise DendrinetError(f"learning rule {where} writes or reads outside an array "
                                 f"(hidden layer {l}, {n} units: e has shape {e.shape}; X_f and "
                                 f"X_t have {n_x} rows, one per state variable of the model's "
                                 f"[equations] hidden_extra): IndexError: {exc}") from None
        except Exception as exc:  # Numba's typing errors, the rule's own exceptions
            first = " ".join(str(exc).strip().splitlines()[:3])
            raise DendrinetError(f"learning rule {where} does not compile or run as "
                                 f"rule(layer, e) (see dendrinet.learning.rules): "
                                 f"{type(exc).__name__}: {first[:400]}") from None
        if not np.all(np.isfinite(e)):
            raise DendrinetError(f"learning rule {where} left non-finite values in e (it must "
                                 f"write every unit's error)")


def _bounds_checked(rule):
    """``rule`` compiled again with ``boundscheck=True`` (an index out of range raises
    IndexError instead of reading or writing memory it does not own)."""
    from numba import njit

    function = getattr(rule, "py_func", rule)
    options = dict(getattr(rule, "targetoptions", {}))
    for key in ("cache", "boundscheck", "nopython"):
        options.pop(key, None)
    return njit(boundscheck=True, **options)(function)
