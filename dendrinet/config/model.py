"""The model dataclasses: neurons, initialisation, feedback, learning, equations, network.

Every key of a model file is declared here once, on the field it fills
(:func:`~dendrinet.config.fields.setting`): table, key, unit, check, default, help. The
defaults are the values of the shipped base model ``guerguiev2017-1hidden``, so a table a
file omits gets the tuned values. Checks across fields are each class's ``check``.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from dendrinet.config.fields import (
    Bounds,
    TableParams,
    declared,
    document_settings,
    read_number,
    setting,
    table_where,
)
from dendrinet.config.equation_units import check_equation_dimensions
from dendrinet.errors import ConfigError
from dendrinet.config.expressions import (
    ExpressionError,
    check_equation_lines,
    check_expression,
    check_identifier,
    check_statements,
)
from dendrinet.config.units import UnitSyntaxError, brian2_units, parse_quantity, parse_unit

__all__ = ["EquationTerms", "FEEDBACK_MODES", "FeedbackParams", "HIDDEN_COUPLING", "INPUT_CODINGS",
           "InitParams", "InputParams",
           "LEARNING_RULES", "LearningParams", "MODEL_SETTINGS", "MODEL_TABLES", "ModelConfig",
           "NeuronParams", "OUTPUT_COUPLING", "RULE_PATH", "RULE_VARIABLES", "SynapseParams",
           "check_equations",
           "check_layers", "check_rule_variables", "check_synapse_names",
           "equation_parameter_quantity", "equation_parameter_value", "equation_parameters",
           "is_standard"]

_NOT_NEGATIVE = Bounds(0, reason="a conductance cannot be negative")


@document_settings
@dataclass(frozen=True)
class NeuronParams(TableParams):
    """Compartment parameters of the pyramidal (hidden) and output neurons (``[neuron]``).

    The PSP kernel is ``k(t) = (exp(-t/tau_L) - exp(-t/tau_s)) / (tau_L - tau_s)``; it
    has unit area, so a filtered spike train is a rate in 1/ms (a plain number).
    """

    TABLE = "neuron"

    phi_max: float = setting(0.2, "Maximum firing rate (0.2 /ms = 200 Hz).", unit="rate",
                             bounds=Bounds(0, low_open=True,
                                           reason="the maximum rate must be positive"))
    tau_s: float = setting(3.0, "Rise time constant of the PSP kernel.", unit="time",
                           bounds=Bounds(0, low_open=True,
                                         reason="time constants must be positive"))
    tau_L: float = setting(10.0, "Decay time constant of the PSP kernel.", unit="time",
                           bounds=Bounds(0, low_open=True,
                                         reason="time constants must be positive"))
    g_L: float = setting(0.1, "Leak conductance.", unit="rate",
                         bounds=Bounds(0, low_open=True,
                                       reason="the leak conductance must be positive"))
    g_B: float = setting(0.6, "Basal-to-soma conductance.", unit="rate", bounds=_NOT_NEGATIVE)
    g_A: float = setting(0.0, "Apical-to-soma conductance of hidden neurons (paper variants: "
                              "0.05, 0.6 /ms).", unit="rate", bounds=_NOT_NEGATIVE)
    g_D: float = setting(0.6, "Dendrite-to-soma conductance of output neurons.", unit="rate",
                         bounds=_NOT_NEGATIVE)
    E_E: float = setting(8.0, "Excitatory reversal potential of the teaching input "
                              "(dimensionless).")
    E_I: float = setting(-8.0, "Inhibitory reversal potential of the teaching input "
                               "(dimensionless).")
    g_T: float = setting(1.0, "Conductance of the teaching input onto output somata during "
                              "the target phase.", unit="rate",
                         bounds=Bounds(0, low_open=True,
                                       reason="the teaching conductance must be positive"))

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
        for s in declared(type(self)):
            value = getattr(self, s.name)
            ns[s.name] = value if s.unit is None else \
                (value * ms if s.unit == "time" else value / ms)
        ns["phi_max"] = self.phi_max * 1000.0 * Hz
        ns["psp_jump"] = self.psp_jump  # a number: filtered trains are rates in 1/ms
        return ns

    def check(self, where: str) -> None:
        if self.tau_s >= self.tau_L:
            raise ConfigError(f"{where}.tau_s: must be shorter than tau_L "
                              f"({self.tau_s} ms >= {self.tau_L} ms)")
        if self.E_I >= self.E_E:
            raise ConfigError(f"{where}.E_I: must be below E_E")


_SD = Bounds(0, reason="standard deviations cannot be negative")


@document_settings
@dataclass(frozen=True)
class InitParams(TableParams):
    """Weight initialisation targets (dimensionless potentials; ``[init]``).

    Feedforward weights are drawn so that, for inputs firing at ``nu * phi_max``,
    basal potentials start with mean ``V_avg`` and standard deviation ``V_sd``
    across neurons; biases are normal(``b_avg``, ``b_sd``). Feedback weights ``Y``
    are drawn with the statistics of the feedforward weights of the layer above
    the hidden layer they feed (positive mean), as in the authors' code.
    """

    TABLE = "init"

    V_avg: float = setting(1.0, "Target mean (across neurons) of the initial basal "
                                "potentials.")
    V_sd: float = setting(1.0, "Target standard deviation (across neurons) of the initial "
                               "basal potentials.", bounds=_SD)
    b_avg: float = setting(0.8, "Mean of the initial biases.")
    b_sd: float = setting(0.001, "Standard deviation of the initial biases.", bounds=_SD)
    nu: float = setting(0.25, "Assumed mean input activity, as a fraction of phi_max.",
                        bounds=Bounds(0, 1, low_open=True, reason="the mean input activity "
                                                                  "must be in (0, 1]"))


FEEDBACK_MODES = ("random", "sparse", "symmetric", "noisy_symmetric", "learned", "backprop")


@document_settings
@dataclass(frozen=True)
class FeedbackParams(TableParams):
    """How hidden layers receive feedback from the output layer (``[feedback]``).

    ``mode`` is one of ``random`` (fixed random ``Y``, the default), ``sparse``
    (``sparsity`` of ``Y`` zeroed, the rest multiplied by ``sparse_scale``),
    ``symmetric`` (``Y`` follows ``W^T``, products of transposes for lower layers),
    ``noisy_symmetric`` (symmetric plus normal noise of s.d. ``noise_sd``), ``learned``
    (``Y`` is itself trained with learning rate ``eta_Y``) and ``backprop`` (hidden
    updates use the exact backpropagated error through ``W^T``, for comparison).
    """

    TABLE = "feedback"

    mode: str = setting("random", "The feedback variant (above).", kind="choice",
                        choices=FEEDBACK_MODES)
    sparsity: float = setting(0.8, "Fraction of Y set to zero in sparse mode.",
                              bounds=Bounds(0, 1, high_open=True))
    sparse_scale: float = setting(5.0, "Factor of the remaining entries of Y in sparse mode.")
    noise_sd: float = setting(0.05, "Standard deviation of the fixed noise added to W^T in "
                                    "noisy_symmetric mode (dimensionless).",
                              bounds=Bounds(0, reason="cannot be negative"))
    eta_Y: float = setting(0.01, "Learning rate of Y in learned mode (dimensionless).",
                           bounds=Bounds(0, reason="cannot be negative"))


#: The learning rules shipped with dendrinet (``[learning] rule``).
LEARNING_RULES = ("segregated-dendrite", "noise-feedback", "direct-feedback-alignment",
                  "burstprop", "burstprop-mean-field")
#: The hidden state variables a shipped rule reads (rows of ``X_f`` / ``X_t``, in this
#: order, first in ``[equations] hidden_extra``) and the unit each must be declared in.
RULE_VARIABLES = {"burstprop": (("E", "Hz", "event rate"), ("B", "Hz", "burst rate"))}
#: The slopes of the output layer's update (``[learning] output_slope``).
OUTPUT_SLOPES = ("sigmoid", "constant")
#: A user's rule: ``file.py:function``.
RULE_PATH = re.compile(r"^(.+\.py):([A-Za-z_][A-Za-z0-9_]*)$")


def _rule(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or not (raw in LEARNING_RULES or RULE_PATH.match(raw)):
        raise ConfigError(
            f"{where}: {raw!r} is neither a shipped rule ({', '.join(LEARNING_RULES)}) "
            f"nor a user rule written as \"file.py:function\"")
    return raw


@document_settings
@dataclass(frozen=True)
class LearningParams(TableParams):
    """Plasticity parameters (``[learning]``)."""

    TABLE = "learning"

    eta: tuple[float, ...] = setting(
        (0.4, 0.1), "Learning rate per weight layer, bottom to top (one per hidden layer, "
                    "then the output layer).", kind="numbers",
        bounds=Bounds(0, reason="learning rates cannot be negative"))
    eta_decay: float = setting(
        1.0, "Factor applied to the rates eta once per epoch: epoch e (from 0) learns with "
             "eta * eta_decay**e; 1 keeps them constant, as in the paper; 0 learns in the "
             "first epoch only.",
        bounds=Bounds(0, 1, reason="expected a factor per epoch between 0 and 1"),
        omit_default=True)
    output_slope: str = setting(
        "sigmoid", "Slope in the output layer's update: sigmoid (the paper's: the error times "
        "sig'(V_f), the gradient of the squared rate error) or constant (sig'(0) = 1/4 for "
        "every unit: the gradient of the cross-entropy of rates; a unit pushed far below "
        "threshold, whose sig'(V_f) is near 0, keeps learning from its teacher instead of "
        "staying silent).", kind="choice", choices=OUTPUT_SLOPES, omit_default=True)
    average_weights_from: int = setting(
        0, "First epoch (from 1) whose end enters a running mean of the weights: from then "
           "on the network tested, saved and used for predictions is that mean (each "
           "synapse averages its own weight; stochastic weight averaging), while training "
           "goes on from the current weights. 0: the current weights, as in the paper.",
        kind="integer", bounds=Bounds(0, reason="expected an epoch number >= 0 (0: off)"),
        omit_default=True)
    P_hidden: float | None = setting(
        None, "Update scaling of hidden layers; not set: the paper's 20 / phi_max (phi_max in "
              "spikes per ms).", bounds=Bounds(0, low_open=True))
    P_output: float | None = setting(
        None, "Update scaling of the output layer; not set: the paper's 20 / phi_max**2.",
        bounds=Bounds(0, low_open=True))
    train_hidden: bool = setting(True, "false trains only the output layer (the \"shallow\" "
                                       "comparison model).", kind="bool")
    rule: str = setting(
        "segregated-dendrite", "The hidden layers' learning rule: segregated-dendrite (the "
        "paper's, with the feedback modes of [feedback]), another shipped rule "
        "(noise-feedback, direct-feedback-alignment, burstprop, burstprop-mean-field) or a "
        "user's Numba function \"my_rules.py:my_rule\" (path relative to the model file; "
        "stored resolved).",
        kind="rule", parse=_rule)


#: How a data set's features become input rates ([input] coding).
INPUT_CODINGS = ("auto", "intensity", "on-off")


@document_settings
@dataclass(frozen=True)
class InputParams(TableParams):
    """How the features of a data set become the rates of the input neurons
    (``[input]``; :mod:`dendrinet.datasets.input_coding`).

    ``intensity``: input neuron ``i`` fires at ``x_i * phi_max`` (the paper's pixels).
    ``on-off``: each feature is standardised with the training set's mean and standard
    deviation and split into an ON neuron (firing for values above the mean) and an OFF
    neuron (below it), each at ``min(|z| / clip_sd, 1) * phi_max``; twice the inputs.
    ``auto``: on-off when the features vary across examples by less than half their mean
    value (their information rides on a constant rate whose Poisson noise hides it, as in
    tabular data scaled to [0, 1]), intensity otherwise (images: MNIST, Fashion-MNIST,
    the digits). Few features are given several input neurons each (``min_inputs``): MNIST
    keeps one per pixel, the 64 pixels of the digits get 7 each.
    """

    TABLE = "input"

    coding: str = setting("auto", "How features become input rates (above).", kind="choice",
                          choices=INPUT_CODINGS, omit_default=True)
    clip_sd: float = setting(3.0, "on-off coding: standard deviations from the mean at which "
                                  "an ON or OFF neuron reaches phi_max.",
                             bounds=Bounds(0, low_open=True,
                                           reason="expected a positive number of standard "
                                                  "deviations"),
                             omit_default=True)
    min_inputs: int = setting(400, "Fewest input neurons: each coded feature drives "
                                   "ceil(min_inputs / coded features) neurons with "
                                   "independent Poisson spikes at its rate (a population "
                                   "code, whose noise averages out); 1 gives one neuron "
                                   "per coded feature.", kind="integer",
                              bounds=Bounds(1, reason="expected an integer >= 1"),
                              omit_default=True)


_TAU = Bounds(0, reason="a time constant cannot be negative (0: none)")
_USE = Bounds(0, 1, low_open=True, reason="a utilisation is a fraction in (0, 1]")


def _stp_help(projection: str) -> dict:
    """The help texts of one projection's three short-term-plasticity keys."""
    return {
        "U": f"Utilisation at rest of the {projection} synapses (Tsodyks-Markram U): the share "
             f"of their resources a spike releases from rest; facilitation raises it toward 1.",
        "tau_D": f"Recovery time of the {projection} synapses' resources (depression); "
                 f"0: they recover within a step (no depression).",
        "tau_F": f"Decay time of the {projection} synapses' facilitation (utilisation back "
                 f"to U); 0: no facilitation.",
    }


_FF, _FB = _stp_help("feedforward"), _stp_help("feedback")


@document_settings
@dataclass(frozen=True)
class SynapseParams(TableParams):
    """Short-term plasticity of the projections from units (``[synapses]``).

    Tsodyks & Markram's synapse, with the state of each presynaptic unit shared by all
    its synapses of a projection: resources ``x`` (1 at rest) recover with ``tau_D``,
    utilisation ``u`` (``U`` at rest) relaxes back to ``U`` with ``tau_F``. A spike
    transmits ``weight * u x / U`` (a spike from rest transmits its weight, so weights
    keep their meaning), then ``x <- x (1 - u)`` and ``u <- u + U (1 - u)``. Depression
    (``tau_D > 0``) makes the later spikes of a burst transmit less, facilitation
    (``tau_F > 0``, small ``U``) more: Payeur et al. (2021) route events up with the one
    and bursts down with the other. ``feedforward``: from each hidden layer to the layer
    above (the inputs' Poisson spikes pass unchanged); ``feedback``: from the output
    layer to the apical dendrites. With both time constants 0 (the default) a projection
    has no short-term plasticity. Before each test example ``x`` and ``u`` are at rest.
    """

    TABLE = "synapses"

    feedforward_U: float = setting(0.5, _FF["U"], bounds=_USE, omit_default=True)
    feedforward_tau_D: float = setting(0.0, _FF["tau_D"], unit="time", bounds=_TAU,
                                       omit_default=True)
    feedforward_tau_F: float = setting(0.0, _FF["tau_F"], unit="time", bounds=_TAU,
                                       omit_default=True)
    feedback_U: float = setting(0.5, _FB["U"], bounds=_USE, omit_default=True)
    feedback_tau_D: float = setting(0.0, _FB["tau_D"], unit="time", bounds=_TAU,
                                    omit_default=True)
    feedback_tau_F: float = setting(0.0, _FB["tau_F"], unit="time", bounds=_TAU,
                                    omit_default=True)

    def projection(self, which: str) -> tuple[float, float, float] | None:
        """``(U, tau_D, tau_F)`` (ms) of the ``"feedforward"`` or ``"feedback"``
        projection, or None where it has no short-term plasticity."""
        U, tau_D, tau_F = (getattr(self, f"{which}_{k}") for k in ("U", "tau_D", "tau_F"))
        return (U, tau_D, tau_F) if (tau_D > 0 or tau_F > 0) else None

    @property
    def is_static(self) -> bool:
        """No projection has short-term plasticity."""
        return self.projection("feedforward") is None and self.projection("feedback") is None


#: Standard coupling of the hidden soma to its dendrites (current-based, 1/ms).
HIDDEN_COUPLING = "g_B*(V_b - V) + g_A*(V_a - V)"
#: Standard coupling of the output soma to its dendrite (1/ms).
OUTPUT_COUPLING = "g_D*(V_b - V)"
#: Names the neuron equations define (a parameter may not take them).
_EQUATION_NAMES = {"psp_jump", "dt", "t", "i", "N", "V", "V_b", "V_a", "V_a_lin", "phi", "b",
                   "teach", "label", "stp_dx", "stp_du"}


def _equation_text(required: str | None, lines):
    """The reader of one ``[equations]`` entry: text checked as data
    (:mod:`dendrinet.config.expressions`), before Brian2, SymPy or the code generator see it;
    ``required``: the default of an entry that may not be empty."""
    def read(raw: Any, where: str) -> str:
        if not isinstance(raw, str):
            raise ConfigError(f"{where}: expected an equation string")
        if not raw.strip():
            if required is not None:
                raise ConfigError(f"{where}: cannot be empty (its default is {required!r})")
            return raw
        try:
            {True: check_equation_lines, False: check_expression,
             "statements": check_statements}[lines](raw)
        except ExpressionError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        return raw
    return read


def _parameters(raw: Any, where: str) -> tuple[tuple[str, str], ...]:
    # where: "m.toml [equations].parameters" -> "m.toml [equations.parameters]"
    return equation_parameters(raw, where.replace("].parameters", ".parameters]"))


def _expression(default: str, help: str, required: bool = False):  # noqa: A002
    return setting(default, help, kind="expression",
                   parse=_equation_text(default if required else None, False))


def _lines(help: str):  # noqa: A002
    return setting("", help, kind="equation lines", parse=_equation_text(None, True))


def _statements(help: str):  # noqa: A002
    return setting("", help, kind="statements", parse=_equation_text(None, "statements"))


@document_settings
@dataclass(frozen=True)
class EquationTerms(TableParams):
    """The user's part of the neuron equations (``[equations]`` of a model file).

    Every entry is Brian2 equation text (dimensionless potentials, time constants in
    ms, conductances in 1/ms). :mod:`dendrinet.model.equations` assembles the
    full equations from them; Brian2 checks names and units, and the fast engine
    compiles its per-step update from the same equations
    (:mod:`dendrinet.backends.numba.codegen`). Empty means "no change".

    The text is data: :meth:`from_table` checks it when the file is read, before Brian2,
    SymPy or the code generator see it -- expressions over names, numbers, operators and
    Brian2's functions only (:mod:`dendrinet.config.expressions`), units and parameter values
    by one grammar (:mod:`dendrinet.config.units`), never ``eval``; :func:`load_model` then
    checks the dimensions of every entry (:mod:`dendrinet.config.equation_units`).
    """

    TABLE = "equations"

    apical: str = _expression("V_a_lin", "The apical potential V_a as a function of the "
                              "linear apical sum V_a_lin (e.g. \"2*tanh(V_a_lin/2)\").",
                              required=True)
    hidden_coupling: str = _expression(
        HIDDEN_COUPLING, "How the dendrites drive the hidden soma, unit 1/ms (conductance-"
        "based apical input: \"g_B*(V_b - V) + g_A*plateau*(E_A - V)\").", required=True)
    output_coupling: str = _expression(OUTPUT_COUPLING, "How the dendrite drives the output "
                                       "soma, unit 1/ms.", required=True)
    hidden_soma: str = _expression("", "Extra terms of dV/dt of hidden somata, unit 1/ms "
                                   "(write ... / ms).")
    output_soma: str = _expression("", "Extra terms of dV/dt of output somata, unit 1/ms "
                                   "(write ... / ms).")
    hidden_extra: str = _lines("Extra equation lines of hidden neurons: new state variables "
                               "(\"dw/dt = (a_w*V - w)/tau_w : 1\", starting at 0) and "
                               "subexpressions (\"plateau = 1/(1 + exp(-V_a)) : 1\").")
    output_extra: str = _lines("Extra equation lines of output neurons (as hidden_extra).")
    hidden_on_spike: str = _statements(
        "Run when a hidden neuron spikes, one statement per line: V or a state variable of "
        "hidden_extra assigned or changed (\"E += 1\", \"since = 0*ms\"), reading V, V_a, "
        "those variables, parameters, rand(); Brian2's reset code, after the step's window "
        "sums.")
    output_on_spike: str = _statements("Run when an output neuron spikes (as hidden_on_spike).")
    hidden_spike_condition: str = _expression(
        "", "A condition under which a hidden neuron also spikes in a step, besides its "
        "random draw (\"countdown <= 0*ms and countdown > -dt\"): read after the step's "
        "update, like Brian2's threshold.")
    output_spike_condition: str = _expression(
        "", "A condition under which an output neuron also spikes (as hidden_spike_condition).")
    parameters: tuple[tuple[str, str], ...] = setting(
        (), "New parameters, name = a number or a quantity with Brian2 units (\"100 ms\", "
            "\"0.05 /ms\"), stored as sorted (name, value text) pairs.", kind="parameters",
        parse=_parameters)

    @property
    def is_default(self) -> bool:
        return self == EquationTerms()


def equation_parameters(table: Any, where: str) -> tuple[tuple[str, str], ...]:
    """``[equations.parameters]`` as sorted ``(name, value text)`` pairs, checked for
    names and values: a number, or a number and a unit of Brian2's (``"100 ms"``) read by
    the grammar of :mod:`dendrinet.config.units` (:func:`check_equations` then checks their
    dimensions where the equations use them, :mod:`dendrinet.config.equation_units`)."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table of name = value (e.g. tau_w = \"100 ms\")")
    reserved = {s.name for s in declared(NeuronParams)} | _EQUATION_NAMES
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
            text = repr(read_number(raw, f"{where}.{name}"))
        pairs.append((name, text))
    return tuple(sorted(pairs))


def equation_parameter_value(text: str, where: str):
    """``text`` (``"100 ms"``, ``"0.05 /ms"``, ``"2 mV"``, ``"0.5"``) read by the unit
    grammar, its unit names checked against Brian2's units; the parsed
    :class:`~dendrinet.config.units.Quantity`."""
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


@document_settings
@dataclass(frozen=True)
class ModelConfig:
    """A whole network model: neurons, architecture, initialisation, learning.

    ``neuron``, ``init``, ``feedback``, ``learning`` and ``equations`` hold the tables of
    the same names (:class:`NeuronParams`, ...); ``source`` says where the model was read
    from (for messages), and is not part of the model's identity.
    """

    name: str = setting(help="The model's name (dendrinet models lists the shipped ones).",
                        kind="text",
                        table="model", swept=False)
    description: str = setting("", "One line on what the model is.", kind="lines",
                               table="model", swept=False)
    hidden: tuple[int, ...] = setting(
        (500,), "Hidden layer sizes, bottom to top (empty for no hidden layer).",
        kind="integers", table="network",
        bounds=Bounds(0, low_open=True, reason="expected a list of positive integers"))
    n_outputs: int = setting(10, "Number of output neurons (classes).", kind="integer",
                             table="network",
                             bounds=Bounds(2, reason="expected an integer >= 2"))
    neuron: NeuronParams = field(default_factory=NeuronParams)
    init: InitParams = field(default_factory=InitParams)
    feedback: FeedbackParams = field(default_factory=FeedbackParams)
    learning: LearningParams = field(default_factory=LearningParams)
    equations: EquationTerms = field(default_factory=EquationTerms)
    input: InputParams = field(default_factory=InputParams)
    synapses: SynapseParams = field(default_factory=SynapseParams)
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


#: The tables of a model file, in file order: table -> the dataclass of that table
#: (``None``: fields of :class:`ModelConfig` itself).
MODEL_TABLES = {"model": None, "network": None, "neuron": NeuronParams, "init": InitParams,
                "feedback": FeedbackParams, "learning": LearningParams,
                "equations": EquationTerms, "input": InputParams, "synapses": SynapseParams}
#: Every key of a model file, declared once (:func:`~dendrinet.config.fields.setting`),
#: in file order; paths ``name``, ``hidden``, ``neuron.g_A``, ...
MODEL_SETTINGS = declared(ModelConfig) + tuple(
    s for table, cls in MODEL_TABLES.items() if cls is not None
    for s in declared(cls, f"{table}."))


def check_equations(model: ModelConfig, where: str) -> None:
    """The dimensions of ``model``'s ``[equations]`` (text already checked as data),
    each mismatch a ConfigError naming the entry or line (:mod:`dendrinet.config.equation_units`)."""
    if not model.equations.is_default:  # standard models do not pay Brian2's import
        table = table_where(where, "equations.parameters")
        parameters = {name: (text, equation_parameter_quantity(text, f"{table}.{name}"))
                      for name, text in model.equations.parameters}
        check_equation_dimensions(model.equations, model.neuron.brian2_namespace(),
                                  parameters, where)


def check_layers(model: ModelConfig, where: str) -> None:
    """One learning rate per weight layer."""
    if len(model.learning.eta) != model.n_layers:
        raise ConfigError(
            f"{table_where(where, 'learning')}.eta: {len(model.learning.eta)} learning rate(s) "
            f"given, but the network has {model.n_layers} weight layer(s) "
            f"({len(model.hidden)} hidden + output)"
        )


def check_rule_variables(model: ModelConfig, where: str) -> None:
    """The state variables a shipped rule reads (:data:`RULE_VARIABLES`) are the first
    ones of ``[equations] hidden_extra``, in order, with their units."""
    needed = RULE_VARIABLES.get(model.learning.rule)
    if not needed:
        return
    declared = {line.name: line.unit for line in check_equation_lines(
        model.equations.hidden_extra) if line.kind == "differential"}
    names = tuple(declared)[:len(needed)]
    if names != tuple(name for name, _, _ in needed):
        problem = f"its first state variables are {', '.join(names) or 'none'}"
    else:
        problem = next((f"{name} is declared in {declared[name]!r}" for name, unit, _ in needed
                        if not _has_dimensions(declared[name], unit)), None)
    if problem:
        wanted = ", ".join(f"d{n}/dt = ... : {unit} ({what})" for n, unit, what in needed)
        raise ConfigError(
            f"{table_where(where, 'learning')}.rule: {model.learning.rule!r} reads the "
            f"hidden neurons' {', '.join(w for _, _, w in needed)} as the first state "
            f"variables of [equations] hidden_extra, in this order: {wanted}; {problem} "
            f"(the model payeur2021-burstprop declares them)")


def check_synapse_names(model: ModelConfig, where: str) -> None:
    """The names of the synapses' short-term-plasticity state (``stp_dx``, ``stp_du``)
    are not the model's own state variables."""
    for kind in ("hidden", "output"):
        text = getattr(model.equations, f"{kind}_extra")
        taken = [line.name for line in check_equation_lines(text)
                 if line.name in ("stp_dx", "stp_du")] if text.strip() else []
        if taken:
            raise ConfigError(
                f"{table_where(where, 'equations')}.{kind}_extra: {taken[0]!r} is the name "
                f"of the synapses' short-term-plasticity state ([synapses]); choose another")


def _has_dimensions(text: str, unit: str) -> bool:
    """Whether the unit ``text`` has the dimensions of ``unit`` (Brian2's unit names)."""
    table = brian2_units()
    try:
        return parse_unit(text).evaluate(table).dim == table[unit].dim
    except (UnitSyntaxError, KeyError, AttributeError):
        return False


def is_standard(model: ModelConfig) -> bool:
    """Whether ``model`` has the standard equations and the paper's learning rule (the
    fast engine's hand-written kernels run it; others get code generated for them)."""
    return model.equations.is_default and model.learning.rule == LEARNING_RULES[0]
