"""Model and protocol files (TOML) parsed into validated, frozen dataclasses.

This module is the single source of truth for parameters: the Brian2 equations
(:mod:`dendrinet.backends.brian2.equations`), the Brian2 network, the fast Numba engine and the
plasticity kernels all read a :class:`ModelConfig` and a :class:`ProtocolConfig`.

Units. Potentials are dimensionless, as in Guerguiev et al. (2017). Every dimensional
parameter is written in the file with its unit (``"3 ms"``, ``"0.1 /ms"``,
``"200 Hz"``) and stored here as a plain float in a canonical unit: **ms** for times
and **1/ms** for rates and conductances. :meth:`NeuronParams.brian2_namespace`
turns them back into Brian2 quantities.

Errors. An unknown key, a missing unit, a wrong unit or an impossible value raises
:class:`~dendrinet.errors.ConfigError` with a message naming the file and the key.

Names and inheritance. :func:`load_model` and :func:`load_protocol` take a file path or
the name of a shipped file (``dendrinet models`` and ``dendrinet protocols`` list them;
:mod:`dendrinet.resources` finds them). A file may start with
``extends = "guerguiev2017-1hidden"`` (a shipped name, or a path, relative paths being
relative to the extending file): the base file is read first (itself possibly
extending another) and the extending file's tables are merged over it key by key, so a
variant states only what differs. ``name`` and ``description`` are not inherited.
The dataclass defaults below are the values of the shipped base model
``guerguiev2017-1hidden`` and base protocol ``paper-timing``, so a table a file omits
gets the tuned values.
"""
from __future__ import annotations

import functools
import json
import math
import numbers
import re
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from dendrinet import limits, resources
from dendrinet.equation_units import check_equation_dimensions
from dendrinet.errors import ConfigError
from dendrinet.expressions import (
    ExpressionError,
    check_equation_lines,
    check_expression,
    check_identifier,
)
from dendrinet.units import UnitSyntaxError, brian2_units, parse_quantity, parse_unit


def __getattr__(name: str):
    # MODELS_DIR / PROTOCOLS_DIR: the folders of the shipped files, looked up on use
    if name == "MODELS_DIR":
        return resources.models_dir()
    if name == "PROTOCOLS_DIR":
        return resources.protocols_dir()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Unit tables: factor to the canonical unit (ms, or 1/ms), by spelling. Values are read
# by the grammar of dendrinet.units (the one of [equations.parameters] too, no eval); a
# spelling matches every text of the same unit ("/ms", "1/ms", "ms^-1", "1 / ms").
_TIME_UNITS = {"ms": 1.0, "s": 1000.0, "us": 1e-3, "second": 1000.0}
_RATE_UNITS = {
    "/ms": 1.0, "1/ms": 1.0, "ms^-1": 1.0, "kHz": 1.0,
    "Hz": 1e-3, "/s": 1e-3, "1/s": 1e-3, "s^-1": 1e-3,
}


@functools.cache
def _by_powers(units: tuple[tuple[str, float], ...]) -> dict:
    """A unit table keyed by each spelling's ``(name, power)`` pairs."""
    return {parse_unit(text).powers(): factor for text, factor in units}


def _quantity(value: Any, units: dict[str, float], kind: str, where: str) -> float:
    """Parse ``"3 ms"`` into a float in the canonical unit of ``units`` (the number times
    the unit's factor, so ``"3 ms"`` is exactly 3.0 and ``"0.1 /ms"`` exactly 0.1)."""
    if isinstance(value, bool) or not isinstance(value, str):
        example = "'3 ms'" if kind == "time" else "'0.1 /ms' or '200 Hz'"
        raise ConfigError(f"{where}: a {kind} needs a unit, e.g. {example} (got {value!r})")
    try:
        quantity = parse_quantity(value)
    except UnitSyntaxError as exc:
        raise ConfigError(f"{where}: cannot read {value!r} as a {kind} with a unit ({exc})"
                          ) from None
    if quantity.unit is None:
        raise ConfigError(f"{where}: cannot read {value!r} as a {kind} with a unit")
    factor = _by_powers(tuple(units.items())).get(quantity.unit.powers())
    if factor is None:
        unit = quantity.unit.text.replace(" ", "")
        raise ConfigError(
            f"{where}: unit {unit!r} is not a {kind} unit (use one of {', '.join(units)})"
        )
    return quantity.number * factor


#: Longest name or description of a model or protocol.
_MAX_LABEL = 1000


def _label(value: Any, where: str, lines: bool = False) -> str:
    """A name (one line) or description (lines) of printable text: shown in messages,
    reports and terminals (no control characters, such as terminal escapes), and never
    written into code."""
    if isinstance(value, (dict, list)):
        raise ConfigError(f"{where}: expected text, got {type(value).__name__}")
    text = str(value)
    parts = text.split("\n") if lines else [text]
    if not all(part.replace("\t", " ").isprintable() for part in parts) \
            or len(text) > _MAX_LABEL:
        raise ConfigError(f"{where}: expected printable text without control characters "
                          f"(at most {_MAX_LABEL} characters), got {text[:60]!r}")
    return text


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{where}: must be finite, got {value!r}")
    return float(value)


def _check_keys(table: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )


def _table(doc: dict, key: str, where: str) -> dict:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{key}] must be a table")
    return value


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class NeuronParams:
    """Compartment parameters of the pyramidal (hidden) and output neurons.

    Attributes
    ----------
    phi_max : float
        Maximum firing rate, 1/ms (0.2 /ms = 200 Hz).
    tau_s, tau_L : float
        Rise and decay time constants of the PSP kernel
        ``k(t) = (exp(-t/tau_L) - exp(-t/tau_s)) / (tau_L - tau_s)``, ms. The kernel has
        unit area, so a filtered spike train is a rate in 1/ms (a plain number).
    g_L, g_B, g_A, g_D : float
        Leak, basal-to-soma, apical-to-soma (hidden) and dendrite-to-soma (output)
        conductances, 1/ms.
    E_E, E_I : float
        Excitatory and inhibitory reversal potentials of the teaching input
        (dimensionless).
    g_T : float
        Conductance of the teaching input onto output somata during the target phase,
        1/ms.
    """

    phi_max: float = 0.2
    tau_s: float = 3.0
    tau_L: float = 10.0
    g_L: float = 0.1
    g_B: float = 0.6
    g_A: float = 0.0
    g_D: float = 0.6
    E_E: float = 8.0
    E_I: float = -8.0
    g_T: float = 1.0

    _UNITS = {"phi_max": "rate", "tau_s": "time", "tau_L": "time", "g_L": "rate",
              "g_B": "rate", "g_A": "rate", "g_D": "rate", "E_E": None, "E_I": None,
              "g_T": "rate"}

    @property
    def k_B(self) -> float:
        """Basal attenuation ``g_B / (g_L + g_B + g_A)`` (dimensionless)."""
        return self.g_B / (self.g_L + self.g_B + self.g_A)

    @property
    def k_D(self) -> float:
        """Output dendritic attenuation ``g_D / (g_L + g_D)`` (dimensionless)."""
        return self.g_D / (self.g_L + self.g_D)

    @property
    def psp_jump(self) -> float:
        """Jump of each kernel trace per presynaptic spike, ``1/(tau_L - tau_s)``, 1/ms."""
        return 1.0 / (self.tau_L - self.tau_s)

    def brian2_namespace(self) -> dict:
        """The parameters as Brian2 quantities (for equation namespaces)."""
        from brian2 import Hz, ms

        ns = {}
        for name, kind in self._UNITS.items():
            value = getattr(self, name)
            ns[name] = value if kind is None else (value * ms if kind == "time" else value / ms)
        ns["phi_max"] = self.phi_max * 1000.0 * Hz
        ns["psp_jump"] = self.psp_jump  # a number: filtered trains are rates in 1/ms
        return ns

    @classmethod
    def from_table(cls, table: dict, where: str) -> "NeuronParams":
        _check_keys(table, set(cls._UNITS), where)
        values = {}
        for key, raw in table.items():
            kind = cls._UNITS[key]
            here = f"{where}.{key}"
            if kind is None:
                values[key] = _number(raw, here)
            else:
                units = _TIME_UNITS if kind == "time" else _RATE_UNITS
                values[key] = _quantity(raw, units, kind, here)
        params = cls(**values)
        params._validate(where)
        return params

    def _validate(self, where: str) -> None:
        for name in ("g_L", "g_B", "g_A", "g_D"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{where}.{name}: a conductance cannot be negative")
        if self.g_L <= 0:
            raise ConfigError(f"{where}.g_L: the leak conductance must be positive")
        if self.g_T <= 0:
            raise ConfigError(f"{where}.g_T: the teaching conductance must be positive")
        if self.phi_max <= 0:
            raise ConfigError(f"{where}.phi_max: the maximum rate must be positive")
        if self.tau_s <= 0 or self.tau_L <= 0:
            raise ConfigError(f"{where}.tau_s/tau_L: time constants must be positive")
        if self.tau_s >= self.tau_L:
            raise ConfigError(f"{where}.tau_s: must be shorter than tau_L "
                              f"({self.tau_s} ms >= {self.tau_L} ms)")
        if self.E_I >= self.E_E:
            raise ConfigError(f"{where}.E_I: must be below E_E")


@dataclass(frozen=True)
class InitParams:
    """Weight initialisation targets (dimensionless potentials).

    Feedforward weights are drawn so that, for inputs firing at ``nu * phi_max``,
    basal potentials start with mean ``V_avg`` and standard deviation ``V_sd``
    across neurons; biases are normal(``b_avg``, ``b_sd``). Feedback weights ``Y``
    are drawn with the statistics of the feedforward weights of the layer above
    the hidden layer they feed (positive mean), as in the authors' code.

    Attributes
    ----------
    V_avg, V_sd : float
        Target mean and standard deviation (across neurons) of the initial basal
        potentials (dimensionless).
    b_avg, b_sd : float
        Mean and standard deviation of the initial biases (dimensionless potentials).
    nu : float
        Assumed mean input activity, as a fraction of ``phi_max``, in (0, 1].
    """

    V_avg: float = 1.0
    V_sd: float = 1.0
    b_avg: float = 0.8
    b_sd: float = 0.001
    nu: float = 0.25

    @classmethod
    def from_table(cls, table: dict, where: str) -> "InitParams":
        _check_keys(table, {f.name for f in fields(cls)}, where)
        values = {k: _number(v, f"{where}.{k}") for k, v in table.items()}
        params = cls(**values)
        if params.V_sd < 0 or params.b_sd < 0:
            raise ConfigError(f"{where}: standard deviations cannot be negative")
        if not 0 < params.nu <= 1:
            raise ConfigError(f"{where}.nu: the mean input activity must be in (0, 1]")
        return params


FEEDBACK_MODES = ("random", "sparse", "symmetric", "noisy_symmetric", "learned", "backprop")


@dataclass(frozen=True)
class FeedbackParams:
    """How hidden layers receive feedback from the output layer.

    ``mode`` is one of ``random`` (fixed random ``Y``, the default), ``sparse``
    (``sparsity`` of ``Y`` zeroed, the rest multiplied by ``sparse_scale``),
    ``symmetric`` (``Y`` follows ``W^T``, products of transposes for lower layers),
    ``noisy_symmetric`` (symmetric plus normal noise of s.d. ``noise_sd``), ``learned``
    (``Y`` is itself trained with learning rate ``eta_Y``) and ``backprop`` (hidden
    updates use the exact backpropagated error through ``W^T``, for comparison).

    Attributes
    ----------
    mode : str
        The feedback variant (above).
    sparsity : float
        Fraction of ``Y`` set to zero in ``sparse`` mode, in [0, 1).
    sparse_scale : float
        Factor of the remaining entries of ``Y`` in ``sparse`` mode.
    noise_sd : float
        Standard deviation of the fixed noise added to ``W^T`` in ``noisy_symmetric``
        mode (dimensionless).
    eta_Y : float
        Learning rate of ``Y`` in ``learned`` mode (dimensionless).
    """

    mode: str = "random"
    sparsity: float = 0.8
    sparse_scale: float = 5.0
    noise_sd: float = 0.05
    eta_Y: float = 0.01

    @classmethod
    def from_table(cls, table: dict, where: str) -> "FeedbackParams":
        _check_keys(table, {f.name for f in fields(cls)}, where)
        values = dict(table)
        mode = values.get("mode", cls.mode)
        if mode not in FEEDBACK_MODES:
            raise ConfigError(f"{where}.mode: {mode!r} is not one of {', '.join(FEEDBACK_MODES)}")
        for key in ("sparsity", "sparse_scale", "noise_sd", "eta_Y"):
            if key in values:
                values[key] = _number(values[key], f"{where}.{key}")
        params = cls(**values)
        if not 0 <= params.sparsity < 1:
            raise ConfigError(f"{where}.sparsity: must be in [0, 1)")
        if params.noise_sd < 0 or params.eta_Y < 0:
            raise ConfigError(f"{where}: noise_sd and eta_Y cannot be negative")
        return params


@dataclass(frozen=True)
class LearningParams:
    """Plasticity parameters.

    Attributes
    ----------
    eta : tuple of float
        Learning rate per weight layer, bottom to top (one per hidden layer, then the
        output layer).
    eta_decay : float
        Factor applied to the rates ``eta`` once per epoch: epoch ``e`` (counted from
        0) learns with ``eta * eta_decay**e``. 1 (default) keeps the rates constant, as
        in the paper; 0 learns in the first epoch only.
    P_hidden, P_output : float
        Update scalings. Defaults (``None`` in the file) are the paper's
        ``20 / phi_max`` and ``20 / phi_max**2`` with ``phi_max`` in spikes per ms.
    train_hidden : bool
        ``False`` trains only the output layer (the "shallow" comparison model).
    rule : str
        The hidden layers' learning rule: ``"segregated-dendrite"`` (the paper's, with
        the feedback modes of ``[feedback]``), a shipped rule (``"noise-feedback"``,
        ``"direct-feedback-alignment"``; :mod:`dendrinet.backends.numba.rules`) or a
        user's Numba function, ``"my_rules.py:my_rule"`` (path relative to the model
        file; stored resolved).
    """

    eta: tuple[float, ...] = (0.4, 0.1)
    eta_decay: float = 1.0
    P_hidden: float | None = None
    P_output: float | None = None
    train_hidden: bool = True
    rule: str = "segregated-dendrite"

    @classmethod
    def from_table(cls, table: dict, where: str) -> "LearningParams":
        _check_keys(table, {f.name for f in fields(cls)}, where)
        values = dict(table)
        if "eta" in values:
            eta = values["eta"]
            if isinstance(eta, (int, float)) and not isinstance(eta, bool):
                eta = [eta]
            if not isinstance(eta, list) or not eta:
                raise ConfigError(f"{where}.eta: expected a list of learning rates")
            values["eta"] = tuple(_number(e, f"{where}.eta") for e in eta)
            if any(e < 0 for e in values["eta"]):
                raise ConfigError(f"{where}.eta: learning rates cannot be negative")
        if "eta_decay" in values:
            values["eta_decay"] = _number(values["eta_decay"], f"{where}.eta_decay")
            if not 0 <= values["eta_decay"] <= 1:
                raise ConfigError(f"{where}.eta_decay: expected a factor per epoch between 0 "
                                  f"and 1, got {values['eta_decay']!r}")
        for key in ("P_hidden", "P_output"):
            if key in values:
                values[key] = _number(values[key], f"{where}.{key}")
                if values[key] <= 0:
                    raise ConfigError(f"{where}.{key}: must be positive")
        if "train_hidden" in values and not isinstance(values["train_hidden"], bool):
            raise ConfigError(f"{where}.train_hidden: expected true or false")
        if "rule" in values:
            rule = values["rule"]
            if not isinstance(rule, str) or not (rule in LEARNING_RULES or _RULE_PATH.match(rule)):
                raise ConfigError(
                    f"{where}.rule: {rule!r} is neither a shipped rule ({', '.join(LEARNING_RULES)}) "
                    f"nor a user rule written as \"file.py:function\"")
        return cls(**values)


#: The learning rules shipped with dendrinet (``[learning] rule``).
LEARNING_RULES = ("segregated-dendrite", "noise-feedback", "direct-feedback-alignment")
_RULE_PATH = re.compile(r"^(.+\.py):([A-Za-z_][A-Za-z0-9_]*)$")


def _resolve_rule(rule: str, source: Traversable, where: str) -> str:
    """A user rule ``file.py:function`` with ``file.py`` made absolute (relative paths
    are relative to the model file's folder); shipped names unchanged."""
    match = _RULE_PATH.match(rule)
    if match is None:
        return rule
    path = Path(match.group(1)).expanduser()
    if not path.is_absolute():
        if not isinstance(source, Path):
            raise ConfigError(f"{where} [learning].rule: a shipped model cannot name a file "
                              f"relative to itself ({rule!r})")
        path = source.parent / path
    if not path.is_file():
        raise ConfigError(f"{where} [learning].rule: {path} does not exist (the rule "
                          f"{rule!r} names a Python file, relative to the model file)")
    return f"{path.resolve()}:{match.group(2)}"


#: Standard coupling of the hidden soma to its dendrites (current-based, 1/ms).
HIDDEN_COUPLING = "g_B*(V_b - V) + g_A*(V_a - V)"
#: Standard coupling of the output soma to its dendrite (1/ms).
OUTPUT_COUPLING = "g_D*(V_b - V)"


@dataclass(frozen=True)
class EquationTerms:
    """The user's part of the neuron equations (``[equations]`` of a model file).

    Every entry is Brian2 equation text (dimensionless potentials, time constants in
    ms, conductances in 1/ms). :mod:`dendrinet.backends.brian2.equations` assembles the
    full equations from them; Brian2 checks names and units, and the fast engine
    compiles its per-step update from the same equations
    (:mod:`dendrinet.backends.numba.codegen`). Empty means "no change".

    The text is data: :meth:`from_table` checks it when the file is read, before Brian2,
    SymPy or the code generator see it -- expressions over names, numbers, operators and
    Brian2's functions only (:mod:`dendrinet.expressions`), units and parameter values
    by one grammar (:mod:`dendrinet.units`), never ``eval``; :func:`load_model` then
    checks the dimensions of every entry (:mod:`dendrinet.equation_units`).

    Attributes
    ----------
    apical : str
        The apical potential ``V_a`` as a function of the linear apical sum ``V_a_lin``
        (for example ``"2*tanh(V_a_lin/2)"``). Default ``"V_a_lin"``.
    hidden_coupling : str
        How the dendrites drive the hidden soma, unit 1/ms (default
        ``"g_B*(V_b - V) + g_A*(V_a - V)"``; a conductance-based apical input is, say,
        ``"g_B*(V_b - V) + g_A*plateau*(E_A - V)"``).
    output_coupling : str
        How the dendrite drives the output soma, unit 1/ms (default
        ``"g_D*(V_b - V)"``).
    hidden_soma, output_soma : str
        Extra terms (unit 1/ms, write ``... / ms``) added to ``dV/dt`` of hidden and
        output somata.
    hidden_extra, output_extra : str
        Extra equation lines of hidden / output neurons: new state variables with their
        own differential equations (``dw/dt = (a_w*V - w)/tau_w : 1``, starting at 0)
        and subexpressions (``plateau = 1/(1 + exp(-V_a)) : 1``).
    parameters : tuple of (str, str)
        New parameters, ``(name, value)`` with ``value`` a number or a quantity with
        Brian2 units (``"100 ms"``, ``"0.05 /ms"``); from the ``[equations.parameters]``
        table.
    """

    apical: str = "V_a_lin"
    hidden_coupling: str = HIDDEN_COUPLING
    output_coupling: str = OUTPUT_COUPLING
    hidden_soma: str = ""
    output_soma: str = ""
    hidden_extra: str = ""
    output_extra: str = ""
    parameters: tuple[tuple[str, str], ...] = ()

    @property
    def is_default(self) -> bool:
        return self == EquationTerms()

    @classmethod
    def from_table(cls, table: dict, where: str) -> "EquationTerms":
        """Read ``[equations]``: every entry is checked as data here
        (:mod:`dendrinet.expressions`, :mod:`dendrinet.units`), before Brian2, SymPy or
        the code generator see it."""
        _check_keys(table, {f.name for f in fields(cls)}, where)
        values = dict(table)
        for key, value in table.items():
            if key != "parameters" and not isinstance(value, str):
                raise ConfigError(f"{where}.{key}: expected an equation string")
        for key in ("apical", "hidden_coupling", "output_coupling"):
            if key in values and not values[key].strip():
                raise ConfigError(f"{where}.{key}: cannot be empty (its default is "
                                  f"{getattr(cls, key)!r})")
        for key, value in values.items():
            if key == "parameters" or not value.strip():
                continue
            try:
                if key in _EQUATION_LINES:
                    check_equation_lines(value)
                else:
                    check_expression(value)
            except ExpressionError as exc:
                raise ConfigError(f"{where}.{key}: {exc}") from None
        if "parameters" in values:
            values["parameters"] = _equation_parameters(
                values["parameters"], f"{where.removesuffix(']')}.parameters]")
        return cls(**values)


#: Entries of [equations] holding equation lines (the others are one expression each).
_EQUATION_LINES = ("hidden_extra", "output_extra")
#: Names the neuron equations define (a parameter may not take them).
_EQUATION_NAMES = {"psp_jump", "dt", "t", "i", "N", "V", "V_b", "V_a", "V_a_lin", "phi", "b",
                   "teach", "label"}


def _equation_parameters(table: Any, where: str) -> tuple[tuple[str, str], ...]:
    """``[equations.parameters]`` as sorted ``(name, value text)`` pairs, checked for
    names and values: a number, or a number and a unit of Brian2's (``"100 ms"``) read by
    the grammar of :mod:`dendrinet.units` (:func:`load_model` then checks their dimensions
    where the equations use them, :mod:`dendrinet.equation_units`)."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table of name = value (e.g. tau_w = \"100 ms\")")
    reserved = set(NeuronParams._UNITS) | _EQUATION_NAMES
    pairs = []
    for name, raw in table.items():
        try:
            check_identifier(name)
        except ExpressionError:
            raise ConfigError(f"{where}.{name}: not a valid parameter name (letters, digits, "
                              f"single _; starting with a letter)") from None
        if name in reserved:
            raise ConfigError(f"{where}.{name}: {name!r} is already defined by the model; "
                              f"choose another name")
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
            raise ConfigError(f"{where}.{name}: expected a number or a quantity such as "
                              f"\"100 ms\" (got {raw!r})")
        if isinstance(raw, str):
            equation_parameter_value(raw, f"{where}.{name}")
            text = raw.strip()
        else:
            text = repr(_number(raw, f"{where}.{name}"))
        pairs.append((name, text))
    return tuple(sorted(pairs))


def equation_parameter_value(text: str, where: str):
    """``text`` (``"100 ms"``, ``"0.05 /ms"``, ``"2 mV"``, ``"0.5"``) read by the unit
    grammar, its unit names checked against Brian2's units; the parsed
    :class:`~dendrinet.units.Quantity`."""
    try:
        quantity = parse_quantity(text)
    except UnitSyntaxError as exc:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise ConfigError(f"{where}: cannot read {shown!r} as a number with a unit ({exc}; "
                          f"e.g. \"100 ms\", \"0.05 /ms\", \"2 mV\")") from None
    if quantity.unit is not None:
        known = brian2_units()
        unknown = [n for n in quantity.unit.names() if n not in known]
        if unknown:
            raise ConfigError(f"{where}: {unknown[0]!r} in {text!r} is not a Brian2 unit "
                              f"(e.g. ms, second, mV, Hz, metre)")
    return quantity


def equation_parameter_quantity(text: str, where: str):
    """``text`` (``"100 ms"``) as a Brian2 quantity (``100*ms``; a plain number stays a
    float): the number times the unit computed from Brian2's unit objects."""
    quantity = equation_parameter_value(text, where)
    value = quantity.number
    if quantity.unit is not None:
        value = value * quantity.unit.evaluate(brian2_units())
    return value


@dataclass(frozen=True)
class ModelConfig:
    """A whole network model: neurons, architecture, initialisation, learning.

    Attributes
    ----------
    name : str
        The model's name (``dendrinet models`` lists the shipped ones).
    description : str
        One line on what the model is.
    hidden : tuple of int
        Hidden layer sizes, bottom to top (empty for no hidden layer).
    n_outputs : int
        Number of output neurons (classes).
    """

    name: str
    description: str = ""
    hidden: tuple[int, ...] = (500,)
    n_outputs: int = 10
    neuron: NeuronParams = field(default_factory=NeuronParams)
    init: InitParams = field(default_factory=InitParams)
    feedback: FeedbackParams = field(default_factory=FeedbackParams)
    learning: LearningParams = field(default_factory=LearningParams)
    equations: EquationTerms = field(default_factory=EquationTerms)
    #: Where the model was read from (for messages); not part of the model's identity.
    source: str = field(default="", compare=False)

    @property
    def n_layers(self) -> int:
        """Number of weight layers (hidden layers + output layer)."""
        return len(self.hidden) + 1

    def layer_sizes(self, n_inputs: int) -> tuple[int, ...]:
        """Sizes from input to output, e.g. ``(784, 500, 10)``."""
        return (int(n_inputs), *self.hidden, self.n_outputs)

    @property
    def P_hidden(self) -> float:
        return self.learning.P_hidden or 20.0 / self.neuron.phi_max

    @property
    def P_output(self) -> float:
        return self.learning.P_output or 20.0 / self.neuron.phi_max**2

    def to_dict(self) -> dict:
        """Plain dictionary of every parameter (canonical units), for metadata."""
        return asdict(self)


def is_standard(model: ModelConfig) -> bool:
    """Whether ``model`` has the standard equations and the paper's learning rule (the
    fast engine's hand-written kernels run it; others get code generated for them)."""
    return model.equations.is_default and model.learning.rule == LEARNING_RULES[0]


# table -> keys a model file may hold
_MODEL_TABLES = {
    "model": {"name", "description"},
    "network": {"hidden", "n_outputs"},
    "neuron": set(NeuronParams._UNITS),
    "init": {f.name for f in fields(InitParams)},
    "feedback": {f.name for f in fields(FeedbackParams)},
    "learning": {f.name for f in fields(LearningParams)},
    "equations": {f.name for f in fields(EquationTerms)},
}


def load_model(path_or_name: str | Path) -> ModelConfig:
    """Read a model file.

    Parameters
    ----------
    path_or_name : str or Path
        A file path, or the name of a shipped model (``dendrinet models`` lists them).
        The file may extend another (``extends = "guerguiev2017-1hidden"``, see the
        module docstring).

    Returns
    -------
    ModelConfig
    """
    source = config_file(path_or_name, "model")
    doc, where = _read_document(source, "model")
    meta = _table(doc, "model", where)
    network = _table(doc, "network", where)
    hidden = network.get("hidden", list(ModelConfig.hidden))
    if not isinstance(hidden, list) or any(
        isinstance(h, bool) or not isinstance(h, int) or h <= 0 for h in hidden
    ):
        raise ConfigError(f"{where} [network].hidden: expected a list of positive integers")
    n_outputs = network.get("n_outputs", ModelConfig.n_outputs)
    if isinstance(n_outputs, bool) or not isinstance(n_outputs, int) or n_outputs < 2:
        raise ConfigError(f"{where} [network].n_outputs: expected an integer >= 2")
    limits.check_network_size(hidden, n_outputs, where)  # the memory check comes later
    model = ModelConfig(
        name=_label(meta.get("name", Path(source.name).stem), f"{where} [model].name"),
        description=_label(meta.get("description", ""), f"{where} [model].description",
                           lines=True),
        hidden=tuple(hidden),
        n_outputs=n_outputs,
        neuron=NeuronParams.from_table(_table(doc, "neuron", where), f"{where} [neuron]"),
        init=InitParams.from_table(_table(doc, "init", where), f"{where} [init]"),
        feedback=FeedbackParams.from_table(_table(doc, "feedback", where), f"{where} [feedback]"),
        learning=LearningParams.from_table(_table(doc, "learning", where), f"{where} [learning]"),
        equations=EquationTerms.from_table(_table(doc, "equations", where), f"{where} [equations]"),
    )
    if not model.equations.is_default:  # standard models do not pay Brian2's import
        _check_equation_dimensions(model, where)
    rule = _resolve_rule(model.learning.rule, source, where)
    model = replace(model, learning=replace(model.learning, rule=rule), source=where)
    if len(model.learning.eta) != model.n_layers:
        raise ConfigError(
            f"{where} [learning].eta: {len(model.learning.eta)} learning rate(s) given, but the "
            f"network has {model.n_layers} weight layer(s) ({len(model.hidden)} hidden + output)"
        )
    return model


def _check_equation_dimensions(model: ModelConfig, where: str) -> None:
    """The dimensions of ``model``'s ``[equations]`` (text already checked as data),
    each mismatch a ConfigError naming the entry or line (:mod:`dendrinet.equation_units`)."""
    table = f"{where} [equations.parameters]"
    parameters = {name: (text, equation_parameter_quantity(text, f"{table}.{name}"))
                  for name, text in model.equations.parameters}
    check_equation_dimensions(model.equations, model.neuron.brian2_namespace(), parameters,
                              where)


# ------------------------------------------------------------------------ protocol

#: The protocol used when none is given: the paper's timing, fast, but 6 % on full MNIST
#: with exact PSPs (its file says why; ``guerguiev2017`` reproduces the paper's table).
DEFAULT_PROTOCOL = "paper-timing"
#: Shipped protocols renamed in dendrinet 0.3: old name -> (new name, what else changed).
RENAMED_PROTOCOLS = {
    "guerguiev2017-exact-psp": ("guerguiev2017", "with 1000 ms test presentations"),
    "guerguiev2017-long-settle": ("long-settle", "same values"),
}


@dataclass(frozen=True)
class ProtocolConfig:
    """Presentation and training protocol (all times in ms).

    Each training example is a forward phase then a target phase. A phase lasts
    ``phase_duration`` plus ``dt * int(wald(jitter_mean, jitter_scale))`` (a shifted
    inverse-Gaussian jitter; ``jitter = false`` turns it off). Phase averages
    (plateau potentials, mean potentials, rates, filtered inputs) are taken over the
    integration window: every step of the phase from ``settle`` on. A test example
    is one forward presentation of ``test_duration`` with its own ``test_settle``.
    State carries over between training examples and is reset before each test
    example.

    Attributes
    ----------
    name, description : str
        The protocol's name and a one-line description (``dendrinet protocols``).
    dt : float
        Time step, ms.
    phase_duration : float
        Length of a forward or target phase before jitter, ms.
    jitter : bool
        Add the inverse-Gaussian jitter to every phase.
    jitter_mean, jitter_scale : float
        Mean and shape of the inverse-Gaussian (Wald) jitter, in steps.
    settle : float
        Start of the integration window within a training phase, ms.
    test_duration, test_settle : float
        Length of a test presentation and start of its window, ms.
    epochs : int
        Default number of passes over the training set.
    shuffle : bool
        Present the training examples in a new random order every epoch.
    input_spikes : str
        How input spikes are drawn (``"bernoulli"``: ``u < phi_max dt x`` per step).
    """

    name: str = "paper-timing"
    description: str = ""
    dt: float = 1.0
    phase_duration: float = 50.0
    jitter: bool = True
    jitter_mean: float = 2.0
    jitter_scale: float = 1.0
    settle: float = 30.0
    test_duration: float = 250.0
    test_settle: float = 30.0
    epochs: int = 60
    shuffle: bool = True
    input_spikes: str = "bernoulli"

    _TIMES = ("dt", "phase_duration", "settle", "test_duration", "test_settle")

    @property
    def timing(self) -> str:
        """The durations that define the protocol, in words (reports name them beside the
        protocol's name, whose meaning changed in 0.3)."""
        return (f"{self.phase_duration:g} ms phases averaged after {self.settle:g} ms, "
                f"{self.test_duration:g} ms tests")

    def steps(self, duration_ms: float) -> int:
        """Number of time steps in ``duration_ms``."""
        return int(round(duration_ms / self.dt))

    @property
    def settle_steps(self) -> int:
        return self.steps(self.settle)

    @property
    def test_steps(self) -> int:
        return self.steps(self.test_duration)

    @property
    def test_settle_steps(self) -> int:
        return self.steps(self.test_settle)

    def to_dict(self) -> dict:
        return asdict(self)


_PROTOCOL_KEYS = {
    "protocol": {"name", "description", "dt"},
    "train": {"phase_duration", "jitter", "jitter_mean", "jitter_scale", "settle",
              "epochs", "shuffle", "input_spikes"},
    "test": {"duration", "settle"},
}


def load_protocol(path_or_name: str | Path) -> ProtocolConfig:
    """Read a protocol file.

    Parameters
    ----------
    path_or_name : str or Path
        A file path, or the name of a shipped protocol (``dendrinet protocols`` lists
        them). The file may extend another (``extends = "paper-timing"``).

    Returns
    -------
    ProtocolConfig
    """
    source = config_file(path_or_name, "protocol")
    doc, where = _read_document(source, "protocol")
    values: dict[str, Any] = {}
    for section in _PROTOCOL_KEYS:
        table = _table(doc, section, where)
        for key, raw in table.items():
            name = {"duration": "test_duration", "settle": "test_settle"}.get(key, key) \
                if section == "test" else key
            here = f"{where} [{section}].{key}"
            if name in ProtocolConfig._TIMES:
                values[name] = _quantity(raw, _TIME_UNITS, "time", here)
            elif name in ("jitter", "shuffle"):
                if not isinstance(raw, bool):
                    raise ConfigError(f"{here}: expected true or false")
                values[name] = raw
            elif name == "epochs":
                if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
                    raise ConfigError(f"{here}: expected a positive integer")
                values[name] = raw
            elif name == "input_spikes":
                if raw not in ("bernoulli",):
                    raise ConfigError(f"{here}: only 'bernoulli' input spikes are supported")
                values[name] = raw
            elif name in ("jitter_mean", "jitter_scale"):
                values[name] = _number(raw, here)
                if values[name] <= 0:
                    raise ConfigError(f"{here}: must be positive")
            else:
                values[name] = _label(raw, here, lines=name == "description")
    values.setdefault("name", Path(source.name).stem)
    protocol = ProtocolConfig(**values)
    _validate_protocol(protocol, where)
    return protocol


def _validate_protocol(p: ProtocolConfig, where: str) -> None:
    if p.dt <= 0:
        raise ConfigError(f"{where} [protocol].dt: must be positive")
    limits.check_presentation_steps(p, where)  # before anything is sized by steps
    for key in ProtocolConfig._TIMES:
        value = getattr(p, key)
        if value < 0:
            raise ConfigError(f"{where}: {key} cannot be negative")
        if abs(value / p.dt - round(value / p.dt)) > 1e-9:
            raise ConfigError(f"{where}: {key} = {value} ms is not a whole number of dt = {p.dt} ms")
    if p.settle >= p.phase_duration:
        raise ConfigError(f"{where} [train].settle: the settle time must be shorter than the phase "
                          f"({p.settle} ms >= {p.phase_duration} ms), or the window is empty")
    if p.test_settle >= p.test_duration:
        raise ConfigError(f"{where} [test].settle: must be shorter than the test duration")


# --------------------------------------------------------------------- TOML export


def _toml_value(value: Any) -> str:
    """One TOML value: bool, string, integer, float or a (nested) list of them.
    Numpy scalars are accepted (they register as :mod:`numbers` types)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic strings
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))  # repr round-trips every float exactly
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _toml_tables(tables: dict[str, dict]) -> str:
    lines = []
    for name, table in tables.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in table.items()]
        lines.append("")
    return "\n".join(lines)


def model_to_toml(model: ModelConfig) -> str:
    """A model file that :func:`load_model` reads back to ``model`` (equal dataclasses).

    Used for models built in code (for example by the estimator) that have no file.
    Times are written in ms, rates and conductances in 1/ms.

    Parameters
    ----------
    model : ModelConfig
        The model to write.

    Returns
    -------
    str
        The text of a TOML model file.
    """
    neuron = {}
    for name, kind in model.neuron._UNITS.items():
        value = getattr(model.neuron, name)
        neuron[name] = value if kind is None else f"{value!r} {'ms' if kind == 'time' else '/ms'}"
    learning = {"eta": list(model.learning.eta), "train_hidden": model.learning.train_hidden,
                "rule": model.learning.rule}
    if model.learning.eta_decay != 1.0:  # files of constant-rate models stay as they were
        learning["eta_decay"] = model.learning.eta_decay
    for key in ("P_hidden", "P_output"):
        if getattr(model.learning, key) is not None:
            learning[key] = getattr(model.learning, key)
    tables = {
        "model": {"name": model.name, "description": model.description},
        "network": {"hidden": list(model.hidden), "n_outputs": model.n_outputs},
        "neuron": neuron,
        "init": asdict(model.init),
        "feedback": asdict(model.feedback),
        "learning": learning,
        "equations": {k: v for k, v in asdict(model.equations).items() if k != "parameters"},
    }
    if model.equations.parameters:
        tables["equations.parameters"] = dict(model.equations.parameters)
    return "# written by dendrinet.config.model_to_toml\n" + _toml_tables(tables)


def protocol_to_toml(protocol: ProtocolConfig) -> str:
    """A protocol file that :func:`load_protocol` reads back to ``protocol`` (times in
    ms).

    Parameters
    ----------
    protocol : ProtocolConfig
        The protocol to write.

    Returns
    -------
    str
        The text of a TOML protocol file.
    """
    p = protocol
    ms = lambda v: f"{v!r} ms"  # noqa: E731
    tables = {
        "protocol": {"name": p.name, "description": p.description, "dt": ms(p.dt)},
        "train": {"phase_duration": ms(p.phase_duration), "jitter": p.jitter,
                  "jitter_mean": p.jitter_mean, "jitter_scale": p.jitter_scale,
                  "settle": ms(p.settle), "epochs": p.epochs, "shuffle": p.shuffle,
                  "input_spikes": p.input_spikes},
        "test": {"duration": ms(p.test_duration), "settle": ms(p.test_settle)},
    }
    return "# written by dendrinet.config.protocol_to_toml\n" + _toml_tables(tables)


# ----------------------------------------------------------------------- helpers


def _shipped(kind: str) -> dict[str, Traversable]:
    return resources.model_files() if kind == "model" else resources.protocol_files()


def config_file(path_or_name: str | Path, kind: str) -> Traversable:
    """The file :func:`load_model` (``kind="model"``) or :func:`load_protocol`
    (``kind="protocol"``) reads for ``path_or_name``: an existing file, else the shipped
    file of that name. A file that extends another is returned as it is (use
    :func:`model_to_toml` / :func:`protocol_to_toml` of the loaded config for a
    self-contained copy)."""
    path = Path(path_or_name)
    if path.is_file():
        return path
    shipped = _shipped(kind)
    if str(path_or_name) in shipped:
        return shipped[str(path_or_name)]
    available = ", ".join(shipped) or "none"
    old = path.stem if path.suffix == ".toml" else str(path_or_name)  # a name or an old path
    if kind == "protocol" and old in RENAMED_PROTOCOLS:
        new_name, change = RENAMED_PROTOCOLS[old]
        raise ConfigError(f"protocol {str(path_or_name)!r} was renamed {new_name!r} in "
                          f"dendrinet 0.3 ({change}); the protocol called 'guerguiev2017' "
                          f"before is now 'paper-timing'")
    raise ConfigError(f"{kind} file {str(path_or_name)!r} not found (neither a file nor the "
                      f"name of a shipped {kind}; available: {available})")


_OWN_KEYS = ("name", "description")  # of [model] / [protocol]: describe one file, not inherited


def _read_document(source: Traversable, kind: str) -> tuple[dict, str]:
    """(document with every base merged in, ``where`` for messages) of a file."""
    doc, chain = _read_extending(source, kind, ())
    where = source.name
    if len(chain) > 1:
        where += " (extending " + ", ".join(f.name for f in chain[1:]) + ")"
    return doc, where


def _identity(source: Traversable) -> str:
    return str(source.resolve()) if isinstance(source, Path) else str(source)


def _read_extending(source: Traversable, kind: str,
                    seen: tuple[Traversable, ...]) -> tuple[dict, list[Traversable]]:
    """The document of ``source`` merged over its bases, and the files read (``source``
    first). Keys are checked per file, so an unknown key names its own file."""
    if _identity(source) in {_identity(s) for s in seen}:
        first = [_identity(s) for s in seen].index(_identity(source))
        cycle = " -> ".join(str(s) for s in (*seen[first:], source))
        raise ConfigError(f"{seen[-1].name}: 'extends' makes a cycle: {cycle}")
    doc = _read_toml(source)
    where = source.name
    schema = _MODEL_TABLES if kind == "model" else _PROTOCOL_KEYS
    _check_keys(doc, set(schema) | {"extends"}, where)
    for name, allowed in schema.items():
        _check_keys(_table(doc, name, where), allowed, f"{where} [{name}]")
    extends = doc.pop("extends", None)
    if extends is None:
        return doc, [source]
    if not isinstance(extends, str) or not extends.strip():
        raise ConfigError(f"{where}: extends: expected the name of a shipped {kind} or a file "
                          f"path, got {extends!r}")
    base_source = _find_base(extends, source, kind, where)
    base, chain = _read_extending(base_source, kind, (*seen, source))
    for key in _OWN_KEYS:
        base.get(kind, {}).pop(key, None)
    return _merge(base, doc), [source, *chain]


def _find_base(extends: str, source: Traversable, kind: str, where: str) -> Traversable:
    """The file named by ``extends`` in ``source``: a path (relative to ``source``'s
    folder), else a shipped name."""
    candidate = Path(extends).expanduser()
    if not candidate.is_absolute() and isinstance(source, Path):
        candidate = source.parent / candidate
    if (candidate.is_absolute() or isinstance(source, Path)) and candidate.is_file():
        return candidate
    shipped, name = _shipped(kind), extends.removesuffix(".toml")
    if name in shipped:
        return shipped[name]
    raise ConfigError(f"{where}: extends = {extends!r} is neither a file ({candidate}) nor "
                      f"the name of a shipped {kind} (available: {', '.join(shipped)})")


def _merge(base: dict, child: dict) -> dict:
    """``child`` over ``base``: tables merge key by key, other values replace."""
    out = dict(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_toml(source: Traversable) -> dict:
    try:
        return tomllib.loads(source.read_bytes().decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot be read ({exc.strerror})") from None
