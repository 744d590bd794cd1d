"""The neuron model as Brian2 equations, generated from a :class:`~dendrinet.config.ModelConfig`.

Print them to recognise the equations of Guerguiev, Lillicrap & Richards (eLife 2017)::

    >>> from dendrinet.config import load_model
    >>> from dendrinet.model.equations import hidden_equations
    >>> print(hidden_equations(load_model("guerguiev2017-1hidden")))

Units (kept honest for Brian2's unit checker). Potentials are dimensionless (``: 1``),
time constants are in ms, conductances in 1/ms (so ``dV/dt`` has unit 1/second), rates
(``phi``, ``rate``) in Hz. Each presynaptic spike adds ``psp_jump = 1/(tau_L - tau_s)``
(the number of 1/ms, a plain number) to a pair of dimensionless traces ``L`` and ``S``
that decay with ``tau_L`` and ``tau_s``; their difference ``L - S`` is the spike train
filtered by the unit-area kernel ``k(t) = (exp(-t/tau_L) - exp(-t/tau_s)) / (tau_L -
tau_s)``, a rate in 1/ms handled as a number.

Compartments.

* input neuron ``i``: fires at ``rate = phi_max * pixels(example*ms, i)``, where
  ``pixels`` is a 2-D ``TimedArray`` of shape ``(n_examples, n_inputs)`` with
  ``dt = 1 ms`` used as a lookup table (row = example), and ``example`` the current
  example (a linked variable).
* hidden (pyramidal) neuron: basal ``V_b = bL - bS + b``, apical ``V_a = f(V_a_lin)``
  with ``V_a_lin = aL - aS`` (``f`` from ``model.equations.apical``, identity by
  default), soma ``dV/dt = -g_L V + g_B (V_b - V) + g_A (V_a - V)``.
* output neuron: dendrite ``V_b = bL - bS + b``, soma ``dV/dt = -g_L V + g_D (V_b - V)
  + g_E (E_E - V) + g_I (E_I - V)`` with teaching conductances ``g_E = 1/ms`` for the
  target unit and ``g_I = 1/ms`` for the others, during the target phase only
  (``teach = 1``, ``label`` = the target class; both linked variables).
* every neuron fires Bernoulli spikes per step with probability ``phi * dt``,
  ``phi = phi_max * sigmoid(V)`` (``rate * dt`` for inputs), and keeps its own output
  traces ``xL, xS`` (``s = xL - xS``) for the plasticity rules.

Integration: ``exponential_euler``. Every equation is linear in its own variable, with
coefficients that depend only on other variables, which Brian2's exponential Euler holds
at their start-of-step values: the traces are integrated exactly (``L <- L
exp(-dt/tau_L)``) and the soma relaxes exponentially towards ``V_inf = B/g`` over the
step, ``V <- V_inf + (V - V_inf) exp(-g dt)``, which is exact for inputs held over the
step and stable for any ``g dt``. The authors' forward Euler, ``V <- V + dt (B - g V)``,
overshoots and oscillates at ``g dt = 1.7`` (output neurons in the target phase,
``g = g_L + g_D + 1/ms``) and is unstable for ``g dt > 2``.
"""
from __future__ import annotations

import re

from dendrinet.config import ModelConfig, equation_parameter_quantity

#: Brian2 integration method for every group (see the module docstring).
METHOD = "exponential_euler"

#: Spike condition of hidden and output neurons (Bernoulli per step on the updated V).
NEURON_THRESHOLD = "rand() < phi*dt"
#: Spike condition of input neurons.
INPUT_THRESHOLD = "rand() < rate*dt"
#: Run on each spike of any neuron: its own output traces jump (step 4 of the design).
SPIKE_RESET = "xL += psp_jump\nxS += psp_jump"
#: ``on_pre`` of feedforward synapses (basal traces of the postsynaptic neuron).
BASAL_ON_PRE = "bL_post += psp_jump*weight\nbS_post += psp_jump*weight"
#: ``on_pre`` of feedback synapses output -> hidden (apical traces).
APICAL_ON_PRE = "aL_post += psp_jump*weight\naS_post += psp_jump*weight"
#: Synapse model: one dimensionless weight (not ``w``, so that a model may call an
#: adaptation variable of its neurons ``w``).
SYNAPSE_MODEL = "weight : 1"

_OUTPUT_TRACES = """\
dxL/dt = -xL/tau_L : 1              # own spike train, slow trace
dxS/dt = -xS/tau_s : 1              # own spike train, fast trace
s = xL - xS : 1                     # filtered own spike train (1/ms, as a number)"""

_BASAL_TRACES = """\
dbL/dt = -bL/tau_L : 1              # basal input, slow trace
dbS/dt = -bS/tau_s : 1              # basal input, fast trace"""


def _extra(term: str) -> str:
    term = term.strip()
    return f" + ({term})" if term else ""


def input_equations(model: ModelConfig) -> str:
    """Brian2 equations of the input layer (one neuron per pixel).

    Needs in its namespace: ``phi_max`` (Hz), ``tau_L``, ``tau_s`` (ms) and the
    ``pixels`` TimedArray; ``example`` is a linked variable (the row of ``pixels``).
    """
    return f"""\
# input neuron i: Bernoulli-per-step spikes at phi_max * (intensity of pixel i)
rate = phi_max*pixels(example*ms, i) : Hz
{_OUTPUT_TRACES}
example : 1 (linked)                # row of the pixel table being presented"""


def _lines(text: str) -> str:
    """User equation lines, dedented, each on its own line (empty: nothing)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return "".join("\n" + line for line in lines)


def hidden_equations(model: ModelConfig) -> str:
    """Brian2 equations of a hidden layer of pyramidal neurons (basal, soma, apical).

    From ``model.equations`` (:class:`~dendrinet.config.EquationTerms`): ``apical``
    sets ``V_a`` as a function of ``V_a_lin``, ``hidden_coupling`` is the dendrites'
    drive of the soma, a non-empty ``hidden_soma`` (unit 1/ms) is added to ``dV/dt``
    and ``hidden_extra`` adds equation lines (state variables, subexpressions).
    """
    terms = model.equations
    apical = terms.apical.strip() or "V_a_lin"
    return f"""\
# hidden pyramidal neuron: soma V, basal dendrite V_b, apical dendrite V_a
dV/dt = -g_L*V + {terms.hidden_coupling.strip()}{_extra(terms.hidden_soma)} : 1
V_b = bL - bS + b : 1               # basal potential: filtered input spikes + bias
V_a_lin = aL - aS : 1               # linear sum of filtered feedback spikes
V_a = {apical} : 1                  # apical potential
phi = phi_max/(1 + exp(-V)) : Hz    # firing rate, phi_max * sigmoid(V)
{_BASAL_TRACES}
daL/dt = -aL/tau_L : 1              # apical (feedback) input, slow trace
daS/dt = -aS/tau_s : 1              # apical (feedback) input, fast trace
{_OUTPUT_TRACES}
b : 1 (constant)                    # bias{_lines(terms.hidden_extra)}"""


def output_equations(model: ModelConfig) -> str:
    """Brian2 equations of the output layer (dendrite, soma, teaching conductances).

    ``teach`` (1 in the target phase, else 0) and ``label`` (the target class) are
    linked variables; ``model.equations.output_coupling`` is the dendrite's drive of the
    soma, a non-empty ``output_soma`` (unit 1/ms) is added to ``dV/dt`` and
    ``output_extra`` adds equation lines.
    """
    terms = model.equations
    return f"""\
# output neuron: soma V, dendrite V_b, teaching conductances g_E, g_I (target phase)
dV/dt = -g_L*V + {terms.output_coupling.strip()} + g_E*(E_E - V) + g_I*(E_I - V){_extra(terms.output_soma)} : 1
V_b = bL - bS + b : 1               # dendritic potential: filtered input spikes + bias
g_E = g_T*teach*int(i == label) : Hz        # excitatory teaching input of the target unit
g_I = g_T*teach*(1 - int(i == label)) : Hz  # inhibitory teaching input of the others
phi = phi_max/(1 + exp(-V)) : Hz    # firing rate, phi_max * sigmoid(V)
{_BASAL_TRACES}
{_OUTPUT_TRACES}
b : 1 (constant)                    # bias
teach : 1 (linked)                  # 1 during the target phase, else 0
label : 1 (linked)                  # target class of the current example{_lines(terms.output_extra)}"""


def namespace(model: ModelConfig) -> dict:
    """Constants the equations refer to, as Brian2 quantities.

    ``phi_max`` (Hz), ``tau_L``, ``tau_s`` (ms), ``g_L, g_B, g_A, g_D, g_T`` (1/ms),
    ``E_E``, ``E_I`` and ``psp_jump`` (numbers), and the model's own
    ``[equations.parameters]`` with their units.
    """
    ns = model.neuron.brian2_namespace()
    ns.update(extra_parameters(model))
    return ns


def extra_parameters(model: ModelConfig) -> dict:
    """``[equations.parameters]`` of ``model`` as Brian2 quantities (``"100 ms"`` ->
    ``100*ms``), read by the unit grammar of :mod:`dendrinet.config.units` (never ``eval``): the
    number times the unit computed from Brian2's unit objects. A value that is not a
    number with Brian2 units raises :class:`~dendrinet.errors.ConfigError` naming the
    model file (a model read from a file was checked when it was read; this covers
    models built in code)."""
    where = f"{model.source or model.name} [equations.parameters]"
    out = {}
    for name, text in model.equations.parameters:
        out[name] = equation_parameter_quantity(text, f"{where}.{name}")
    return out


def extra_state_variables(model: ModelConfig, kind: str) -> tuple[str, ...]:
    """The state variables (differential equations) that ``model``'s ``hidden_extra`` /
    ``output_extra`` lines add to population ``kind`` ("hidden", "output"; none for
    "input"), in the order written."""
    if kind not in ("hidden", "output"):
        return ()
    text = getattr(model.equations, f"{kind}_extra")
    return tuple(m.group(1) for m in re.finditer(r"^\s*d([A-Za-z_][A-Za-z0-9_]*)\s*/\s*dt\s*=",
                                                  text, re.MULTILINE))


def threshold(model: ModelConfig, kind: str) -> str:
    """The spike condition of a neuron of ``kind``: the random draw
    (:data:`NEURON_THRESHOLD`, :data:`INPUT_THRESHOLD`) or the model's own
    ``[equations]`` ``hidden_spike_condition`` / ``output_spike_condition``."""
    if kind not in ("hidden", "output"):
        return INPUT_THRESHOLD
    condition = getattr(model.equations, f"{kind}_spike_condition").strip()
    return f"({NEURON_THRESHOLD}) or ({condition})" if condition else NEURON_THRESHOLD


def spike_code(model: ModelConfig, kind: str) -> str:
    """What a neuron of ``kind`` ("input", "hidden", "output") runs when it spikes: its
    own traces jump (:data:`SPIKE_RESET`), then the model's ``[equations]``
    ``hidden_on_spike`` / ``output_on_spike`` statements, in the order written."""
    if kind not in ("hidden", "output"):
        return SPIKE_RESET
    user = [line.split("#", 1)[0].strip()
            for line in getattr(model.equations, f"{kind}_on_spike").splitlines()]
    return "\n".join([SPIKE_RESET, *(line for line in user if line)])


# ------------------------------------------------------------ short-term plasticity
# Tsodyks-Markram synapses ([synapses], config.SynapseParams), their state held by the
# presynaptic neuron (all its synapses of a projection share it) as deviations from rest,
# so that zero is rest (a reset zeroes it like every other state variable):
# stp_dx = 1 - x (resources used), stp_du = u - U (facilitation).

#: The projection whose presynaptic neurons are of each population kind.
STP_PROJECTION = {"hidden": "feedforward", "output": "feedback"}


def _stp(model: ModelConfig, kind: str):
    which = STP_PROJECTION.get(kind)
    return model.synapses.projection(which) if which else None


def stp_state_variables(model: ModelConfig, kind: str) -> tuple[str, ...]:
    """The short-term-plasticity state of population ``kind``'s outgoing projection
    (``stp_dx`` with depression, ``stp_du`` with facilitation; none without)."""
    stp = _stp(model, kind)
    if stp is None:
        return ()
    _, tau_D, tau_F = stp
    return tuple(v for v, tau in (("stp_dx", tau_D), ("stp_du", tau_F)) if tau > 0)


def stp_equations(model: ModelConfig, kind: str) -> str:
    """Equation lines of the short-term-plasticity state of population ``kind`` (its
    time constants written as numbers in ms; empty without)."""
    stp = _stp(model, kind)
    if stp is None:
        return ""
    _, tau_D, tau_F = stp
    lines = []
    if tau_D > 0:
        lines.append(f"dstp_dx/dt = -stp_dx/({tau_D!r}*ms) : 1  # resources used, 1 - x")
    if tau_F > 0:
        lines.append(f"dstp_du/dt = -stp_du/({tau_F!r}*ms) : 1  # facilitation, u - U")
    return "\n" + "\n".join(lines)


def _stp_terms(model: ModelConfig, kind: str, suffix: str = "") -> tuple[str, str]:
    """``(u, x)`` of population ``kind``'s synapses as expressions."""
    U, tau_D, tau_F = _stp(model, kind)
    u = f"({U!r} + stp_du{suffix})" if tau_F > 0 else repr(U)
    x = f"(1 - stp_dx{suffix})" if tau_D > 0 else "1"
    return u, x


def stp_spike_code(model: ModelConfig, kind: str) -> str:
    """What a spike of a population ``kind`` neuron does to its synapses' state, after
    they transmitted (Brian2's reset slot): ``x <- x (1 - u)``, ``u <- u + U (1 - u)``."""
    stp = _stp(model, kind)
    if stp is None:
        return ""
    U, tau_D, tau_F = stp
    u, x = _stp_terms(model, kind)
    lines = []
    if tau_D > 0:
        lines.append(f"stp_dx = 1 - {x}*(1 - {u})")
    if tau_F > 0:
        lines.append(f"stp_du = stp_du + {U!r}*(1 - {u})")
    return "\n".join(lines)


def on_pre(model: ModelConfig, projection: str) -> str:
    """``on_pre`` of the ``"feedforward"`` (from a hidden layer; ``"input"``: from the
    inputs) or ``"feedback"`` synapses: each spike adds ``psp_jump * weight`` to the
    postsynaptic traces, times ``u x / U`` where the projection has short-term
    plasticity."""
    base = APICAL_ON_PRE if projection == "feedback" else BASAL_ON_PRE
    kind = {which: kind for kind, which in STP_PROJECTION.items()}.get(projection)
    if kind is None or _stp(model, kind) is None:
        return base
    return base.replace("psp_jump*weight", f"psp_jump*weight*{stp_efficacy(model, kind)}")


def stp_efficacy(model: ModelConfig, kind: str) -> str:
    """What a spike of a population ``kind`` neuron transmits, as a share of its weight:
    ``u x / U`` (``x`` alone without facilitation, ``u / U`` without depression)."""
    U, tau_D, tau_F = _stp(model, kind)
    u, x = _stp_terms(model, kind, "_pre")
    if tau_F == 0:
        return x
    return f"{u}/{U!r}" if tau_D == 0 else f"{u}*{x}/{U!r}"


def all_equations(model: ModelConfig) -> str:
    """Every group's equations as one printable text, with the spike rules."""
    return "\n\n".join([
        "## input layer\n" + input_equations(model)
        + f"\n# threshold: {INPUT_THRESHOLD}\n# on spike: {SPIKE_RESET.replace(chr(10), '; ')}",
        "## hidden layers\n" + hidden_equations(model)
        + f"\n# threshold: {threshold(model, 'hidden')}\n# on spike: "
        + spike_code(model, "hidden").replace("\n", "; "),
        "## output layer\n" + output_equations(model)
        + f"\n# threshold: {threshold(model, 'output')}\n# on spike: "
        + spike_code(model, "output").replace("\n", "; "),
        "## synapses\n# feedforward weight = W[l][i, j], on_pre: "
        + BASAL_ON_PRE.replace("\n", "; ")
        + ("" if _stp(model, "hidden") is None else
           "\n# from hidden layers (short-term plasticity), on_pre: "
           + on_pre(model, "feedforward").replace("\n", "; ")
           + stp_equations(model, "hidden").replace("\n", "\n#   ")
           + "\n#   on spike: " + stp_spike_code(model, "hidden").replace("\n", "; "))
        + "\n# feedback (output -> hidden l) weight = Y[l][k, j], on_pre: "
        + on_pre(model, "feedback").replace("\n", "; ")
        + ("" if _stp(model, "output") is None else
           stp_equations(model, "output").replace("\n", "\n#   ")
           + "\n#   on spike: " + stp_spike_code(model, "output").replace("\n", "; ")),
        f"## integration: {METHOD}",
    ])
