"""The fast engine's neuron update, generated from the model's Brian2 equations.

The equations of a model (:mod:`dendrinet.model.equations`, the one definition
both engines use) go through Brian2's own machinery: ``NeuronGroup`` parses them and
checks their units, and its state updater (the integration method Brian2 uses for the
network, :data:`~dendrinet.model.equations.METHOD`) gives one step of every
differential equation as "abstract code", lines of Python. This module turns those lines
into the Numba functions of :mod:`dendrinet.backends.numba.standard_neuron` (same names and
arguments), as the text of a module that :mod:`dendrinet.backends.numba.model_part`
compiles into the engine:

* the model's parameters (the namespace: ``[neuron]`` and ``[equations.parameters]``)
  are read at run time from ``k.P`` (SI units, in the order of the module's
  ``PARAMETERS``), so a model that differs only in a value runs the same compiled code;
  units written in an equation (``ms``, ``mV``) are numbers in the source. Every
  subexpression of parameters and ``dt`` alone (``exp(-dt*(g_L + g_B + g_A))``) is
  computed once per call, before the loop over units;
* the basal, apical and own traces stay the engine's (exact decays, the pending input
  of the previous step folded in first, as in the hand-written update); the generated
  lines compute the soma and the extra state variables from the start-of-step values,
  exactly as Brian2's generated code does;
* ``V_a`` (window sums, plateaus) is the model's apical expression evaluated on the
  updated state, as Brian2's ``sum_Va += window*V_a``.

Errors (unknown names, inconsistent units, missing variables, constructs this engine
cannot run) raise :class:`ModelEquationError`, naming the model file, the equation and
the fix.
"""
from __future__ import annotations

import ast
import functools
import gc
import keyword
import re

from dendrinet.config import ModelConfig
from dendrinet.errors import DendrinetError

#: Trace variables the engine integrates itself (exactly) in every population.
ENGINE_TRACES = ("bL", "bS", "aL", "aS", "xL", "xS")
#: Names the generated code may not read: the own spike traces are updated after the
#: soma (with the previous step's spikes folded in), time and stochastic differential
#: equations have no counterpart.
_NOT_GENERATED = {
    "xL": "the neuron's own spike trace xL", "xS": "the neuron's own spike trace xS",
    "s": "the neuron's own filtered spike train s", "t": "the time t",
    "xi": "stochastic terms (xi)", "timestep": "timestep()", "t_in_timesteps": "t_in_timesteps",
    "lastspike": "lastspike", "not_refractory": "refractoriness",
}
#: ``rand()`` and ``randn()`` in the equations: each call is one number per unit and step
#: (:func:`dendrinet.jit.random_streams.step_uniform`, ``step_normal``).
_RANDOM_CALL = re.compile(r"\b(randn?)\s*\(\s*\)")
#: Functions the generated module provides (Brian2's default functions).
FUNCTIONS = ("exp", "log", "log10", "sqrt", "sin", "cos", "tan", "sinh", "cosh", "tanh",
             "arcsin", "arccos", "arctan", "abs", "sign", "clip", "int", "floor", "ceil",
             "expm1", "log1p", "exprel")
_PRELUDE = '''\
import math

from numba import njit

from dendrinet.jit.numerics import JIT, exp_parts, fast_exp as exp
from dendrinet.jit.random_streams import step_normal, step_uniform

log, log10, sqrt = math.log, math.log10, math.sqrt
sin, cos, tan = math.sin, math.cos, math.tan
arcsin, arccos, arctan, log1p = math.asin, math.acos, math.atan, math.log1p
floor, ceil = math.floor, math.ceil


# exp and the functions built on it are branch-free (numerics.fast_exp, within 2 ulp),
# so that the loops over units vectorise; math's versions are scalar library calls.
@njit(inline="always", **JIT)
def tanh(x):
    # exp(-2|x|) = s p / q, so tanh(|x|) = (q - s p) / (q + s p): one division
    s, p, q = exp_parts(-2.0 * abs(x))
    r = (q - s * p) / (q + s * p)
    return r if x >= 0.0 else -r


@njit(inline="always", **JIT)
def exp_euler(x, n, d, a):
    # -n/d + (x + n/d) exp(a) with exp(a) = s p / q: one division
    s, p, q = exp_parts(a)
    return (-n * q + (x * d + n) * (s * p)) / (d * q)


@njit(inline="always", **JIT)
def sinh(x):
    return 0.5 * (exp(x) - exp(-x))


@njit(inline="always", **JIT)
def cosh(x):
    return 0.5 * (exp(x) + exp(-x))


@njit(inline="always", **JIT)
def expm1(x):
    return math.expm1(x)


@njit(inline="always", **JIT)
def sign(x):
    return (x > 0.0) - (x < 0.0)


@njit(inline="always", **JIT)
def clip(x, low, high):
    return min(max(x, low), high)


@njit(inline="always", **JIT)
def exprel(x):
    return 1.0 if x == 0.0 else math.expm1(x) / x
'''


class ModelEquationError(DendrinetError):
    """A model's equations cannot be built, checked or compiled for the fast engine."""


def _where(model: ModelConfig) -> str:
    return model.source or f"model {model.name!r}"


def _kind_terms(model: ModelConfig, kind: str) -> str:
    """The user's entries of the ``[equations]`` table for one population, for messages."""
    keys = (("apical", "hidden_coupling", "hidden_soma", "hidden_extra") if kind == "hidden"
            else ("output_coupling", "output_soma", "output_extra"))
    terms = model.equations
    shown = [f"{k} = {getattr(terms, k)!r}" for k in keys
             if getattr(terms, k) != getattr(type(terms), k, "")]
    return "; ".join(shown) if shown else "the standard equations"


@functools.lru_cache(maxsize=16)
def brian2_group(model: ModelConfig, kind: str):
    """A one-neuron Brian2 ``NeuronGroup`` of ``kind``'s equations (linked flags as plain
    parameters), its namespace, and the checked equations; errors as
    :class:`ModelEquationError`."""
    import brian2 as b2
    from brian2.utils.logger import catch_logs

    from dendrinet.model import equations

    text = {"hidden": equations.hidden_equations, "output": equations.output_equations}[kind](model)
    text = text.replace("(linked)", "")  # teach, label: parameters here (values at run time)
    ns = equations.namespace(model)
    where = _where(model)
    error = None
    with catch_logs():  # a group Brian2 failed to build warns when it is collected
        try:
            group = b2.NeuronGroup(1, text, method=equations.METHOD, namespace=ns,
                                   name=f"dendrinet_codegen_{kind}*")
            group._network = "dendrinet.codegen"  # a probe, never run: no "unused" warning
        except Exception as exc:
            error = _message(exc)
        gc.collect()
    if error is not None:
        raise ModelEquationError(
            f"{where}: Brian2 cannot read the {kind} equations ({error}). The entries "
            f"of [equations]: {_kind_terms(model, kind)}. Fix the equation text (syntax "
            f"'dx/dt = ... : unit', 'name = expression : unit').")
    try:
        group.equations.check_units(group, run_namespace={})
    except Exception as exc:
        unknown = re.search(r'identifier "([^"]+)" could not be resolved', str(exc))
        if unknown:
            raise ModelEquationError(
                f"{where}: unknown name {unknown.group(1)!r} in the {kind} equations "
                f"({_kind_terms(model, kind)}): a typo, or a new parameter to declare in "
                f"[equations.parameters] with its unit (name = \"10 ms\")") from None
        raise ModelEquationError(
            f"{where}: the {kind} equations are inconsistent ({_message(exc)}). The entries of "
            f"[equations]: {_kind_terms(model, kind)}. Every term of dV/dt has unit 1/ms "
            f"(write '.../ms' or multiply by a conductance), potentials are dimensionless, "
            f"new parameters are declared in [equations.parameters] with their units."
        ) from None
    return group, ns


def _message(exc: BaseException) -> str:
    text = str(exc.args[0]) if getattr(exc, "args", None) else str(exc)
    text = " ".join(text.strip().strip("'\"").split())
    return text.rstrip(".")


def abstract_code(model: ModelConfig, kind: str) -> list[tuple[str, str]]:
    """Brian2's state update of ``kind``'s equations as ``(target, expression)`` lines."""
    group, _ = brian2_group(model, kind)
    try:
        group.state_updater.update_abstract_code(run_namespace={})
    except Exception as exc:
        raise ModelEquationError(
            f"{_where(model)}: Brian2 cannot integrate the {kind} equations "
            f"({_message(exc)}); entries of [equations]: {_kind_terms(model, kind)}. Both "
            f"engines integrate with exponential Euler, which needs every differential "
            f"equation linear in its own variable, without noise terms (xi).") from None
    lines = []
    for line in group.state_updater.abstract_code.strip().splitlines():
        target, _, expr = line.partition("=")
        lines.append((target.strip(), expr.strip()))
    return lines


def constant_over_dt(model: ModelConfig, kind: str) -> list[tuple[str, str]]:
    """The subexpressions of ``kind``'s equations flagged ``(constant over dt)`` as
    ``(name, expression)`` lines, every other subexpression substituted: Brian2 computes
    them once per step, at its start (its ``SubexpressionUpdater``), and so does the
    generated update, from the start-of-step state. A random number in one is shared by
    every equation that reads it."""
    group, _ = brian2_group(model, kind)
    updaters = [o for o in group.contained_objects
                if type(o).__name__ == "SubexpressionUpdater"]
    if not updaters:
        return []
    updaters[0].update_abstract_code(run_namespace={})
    lines = []
    for line in updaters[0].abstract_code.strip().splitlines():
        target, _, expr = line.partition("=")
        lines.append((target.strip(), _inlined(model, kind, expr.strip())))
    return lines


def _apical_expression(model: ModelConfig) -> str:
    """``V_a`` of the hidden equations with every subexpression substituted."""
    return _inlined(model, "hidden", "V_a")


def _inlined(model: ModelConfig, kind: str, text: str) -> str:
    """``text`` with every (plain) subexpression of ``kind``'s equations substituted."""
    from brian2.parsing.sympytools import str_to_sympy, sympy_to_str

    group, _ = brian2_group(model, kind)
    eqs = group.equations
    subs = {name: str_to_sympy(eqs[name].expr.code) for name in eqs.subexpr_names}
    expr = str_to_sympy(text)
    for _ in range(len(subs) + 1):
        free = {str(s) for s in expr.free_symbols}
        todo = {str_to_sympy(n): subs[n] for n in free if n in subs}
        if not todo:
            break
        expr = expr.subs(todo)
    return sympy_to_str(expr)


def _names(expr: str) -> set[str]:
    tree = ast.parse(expr, mode="eval")
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def _check_generatable(model: ModelConfig, kind: str, names: set[str]) -> None:
    bad = sorted(n for n in names if n in _NOT_GENERATED or n.startswith("xi_"))
    if bad:
        what = ", ".join(_NOT_GENERATED.get(n, "stochastic terms") for n in bad)
        raise ModelEquationError(
            f"{_where(model)}: the fast engine cannot generate {what} in the {kind} equations "
            f"({_kind_terms(model, kind)}); the Brian2 engine runs them: --engine brian2 "
            f"(engine='brian2' in Python)")


def _constants(model: ModelConfig, kind: str, names: set[str], local: set[str]
               ) -> tuple[dict, set]:
    """The units among the names that are neither local variables nor functions (SI
    float values, written into the source), and the parameters (read at run time)."""
    import brian2
    from brian2.units.fundamentalunits import Quantity, Unit

    _, ns = brian2_group(model, kind)
    out, parameters = {}, set()
    for name in sorted(names - local - set(FUNCTIONS)):
        if name in ns:
            parameters.add(name)
            continue
        if isinstance(getattr(brian2, name, None), Unit):
            value = getattr(brian2, name)
        else:
            raise ModelEquationError(f"{_where(model)}: unknown name {name!r} in the {kind} "
                                     f"equations ({_kind_terms(model, kind)}); declare it in "
                                     f"[equations.parameters] with its unit")
        out[name] = float(value) if isinstance(value, (Quantity, Unit)) else float(value)
    return out, parameters


def parameter_values(model: ModelConfig, names: tuple[str, ...]):
    """The values of the parameters ``names`` of ``model`` (SI floats, float64 array):
    what the generated code reads at run time (``k.P``)."""
    import numpy as np

    from dendrinet.model.equations import namespace

    ns = namespace(model)
    return np.array([float(ns[name]) for name in names], dtype=np.float64)


def _substituted(expr: str, temps: dict, consts: dict):
    """``expr`` as SymPy, with earlier temporaries and the constants' values put in."""
    from brian2.parsing.sympytools import str_to_sympy
    from sympy import Float

    e = str_to_sympy(expr)
    e = e.subs({s: temps[s.name] for s in e.free_symbols if s.name in temps})
    return e.subs({s: Float(consts[s.name]) for s in e.free_symbols if s.name in consts})


def _hoisted(exprs: list, constant: set[str], prefix: str):
    """``exprs`` with the work on ``constant`` names alone taken out of the loop over
    units: the terms of every sum collected by their varying factor (``g_B*bL - g_B*bS
    + 2*g_A*x + 80*x`` -> ``g_B*(bL - bS) ...``, ``(2*g_A + 80)*x``), and every largest
    subexpression of constant names (not a plain name or number) replaced by a new
    symbol. Returns the new expressions and the ``(symbol, expression)`` pairs, computed
    once before the loop (with the values folded in the source, SymPy did this
    itself)."""
    from sympy import Add, Mul, Symbol

    found: dict = {}

    def is_constant(e) -> bool:
        return {str(s) for s in e.free_symbols} <= constant

    def hoist(e):
        if e.is_Atom:
            return e
        if e not in found:
            found[e] = Symbol(f"{prefix}{len(found)}")
        return found[e]

    def collected(e):
        if e.is_Atom or is_constant(e):
            return e
        e = e.func(*[collected(a) for a in e.args])
        if not isinstance(e, Add):
            return e
        by_factor: dict = {}
        for term in e.args:  # coefficient (constant factors) times varying factor
            factors = Mul.make_args(term)
            coefficient = Mul(*[f for f in factors if is_constant(f)])
            varying = Mul(*[f for f in factors if not is_constant(f)])
            by_factor[varying] = by_factor.get(varying, 0) + coefficient
        by_coefficient: dict = {}  # one product per coefficient: c*(x + y), not c*x + c*y
        for varying, coefficient in by_factor.items():
            if not coefficient.is_Number and coefficient.could_extract_minus_sign():
                coefficient, varying = -coefficient, -varying  # g*(x - y), not g*x - g*y
            key = coefficient if coefficient.is_Number else hoist(coefficient)
            by_coefficient[key] = by_coefficient.get(key, 0) + varying
        return Add(*[c * v for c, v in by_coefficient.items()])

    def walk(e):
        if e.is_Atom:
            return e
        if is_constant(e):
            return hoist(e)
        if isinstance(e, Mul):  # the constant factors of a product: one hoisted number
            const = [f for f in e.args if is_constant(f) and not f.is_Number]
            if len(const) > 1:
                rest = [walk(f) for f in e.args if not (is_constant(f) and not f.is_Number)]
                return Mul(walk(Mul(*const)), *rest)
        return e.func(*[walk(a) for a in e.args])

    out = [walk(collected(e)) for e in exprs]
    return out, [(symbol, e) for e, symbol in found.items()]


def _population(model: ModelConfig, kind: str, extras: tuple[str, ...]) -> list[str]:
    """Lines computing one step of ``kind``'s soma and extra state variables from the
    start-of-step values (loaded as locals of the same names): Brian2's abstract code with
    the constants' values substituted (SymPy folds them) and common subexpressions taken
    out (``tanh(V_a_lin/2)`` is computed once, not once per term)."""
    from brian2.parsing.sympytools import sympy_to_str
    from sympy import cse, numbered_symbols

    # the engine integrates the traces itself (exact decays); the subexpressions
    # "constant over dt" come first (Brian2 computes them at the start of the step)
    per_step = constant_over_dt(model, kind)
    lines = per_step + [(t, e) for t, e in abstract_code(model, kind)
                        if t.lstrip("_") not in ENGINE_TRACES]
    # every rand() / randn() call: one number per unit and step, a symbol of its own
    # (SymPy would take two calls of rand() for the same number)
    randoms: list[str] = []

    def numbered(match) -> str:
        randoms.append(match.group(1))
        return f"_rnd{len(randoms) - 1}"

    lines = [(t, _RANDOM_CALL.sub(numbered, e)) for t, e in lines]
    state = set(extras) | {"V", "b"} | set(ENGINE_TRACES)
    local = (state | {"dt", "i", "teach", "label"} | {t for t, _ in lines}
             | {f"_rnd{k}" for k in range(len(randoms))})
    names = set().union(*(_names(expr) for _, expr in lines))
    _check_generatable(model, kind, names)
    consts, parameters = _constants(model, kind, names, local)
    temps, outputs = {}, []
    once = {t for t, _ in per_step}
    for target, expr in lines:
        temps[target] = _substituted(expr, temps, consts)
        if not target.startswith("_") and target not in once:
            outputs.append(target)
    # Each output is one expression, or (for exponential Euler with a rate that varies
    # from unit to unit) the parts of x' = -n/d + (x + n/d) exp(a), which exp_euler
    # evaluates with one division instead of two (B/A and the one inside exp).
    parts, layout = [], []
    for t in outputs:
        split = _exponential_euler_parts(temps.get(f"_BA_{t}"), temps[t], parameters)
        layout.append((t, len(parts), split is not None))
        parts += list(split) if split is not None else [temps[t]]
    parts, before = _hoisted(parts, parameters | {"dt"}, "_k")
    shared, reduced = cse(parts, symbols=numbered_symbols("_cse"))
    head = [f"{name} = {sympy_to_str(e)}" for name, e in before]
    body = [f"{name} = {sympy_to_str(e)}" for name, e in shared]
    for t, k, split in layout:
        if split:
            n, d, a = (sympy_to_str(e) for e in reduced[k:k + 3])
            body.append(f"_new_{t} = exp_euler({t}, {n}, {d}, {a})")
        else:
            body.append(f"_new_{t} = {sympy_to_str(reduced[k])}")
    body += [f"{t} = _new_{t}" for t in outputs]  # every new value from start-of-step values
    # the step's random numbers first (uniform k: hash 2k; normal k: hashes 2k, 2k + 1)
    draws = [f"_rnd{k} = step_uniform(s0__, s1__, lo + j__, {2 * k})" if f == "rand" else
             f"_rnd{k} = step_normal(s0__, s1__, lo + j__, {k})"
             for k, f in enumerate(randoms)]
    return head, draws + body, parameters


def _exponential_euler_parts(ba, update, parameters=frozenset()):
    """``(n, d, a)`` if ``update`` is exponential Euler's ``-ba + (x + ba) exp(a)`` with
    ``ba = n/d`` and a rate that depends on more than ``dt`` and the parameters (else
    None: a constant ``exp(a)`` is computed once per call, and the plain form is
    cheaper)."""
    from sympy import exp, fraction, simplify, together

    if ba is None:
        return None
    exps = list(update.atoms(exp))
    constant = {"dt", *parameters}
    if len(exps) != 1 or {str(s) for s in exps[0].args[0].free_symbols} <= constant:
        return None
    a = exps[0].args[0]
    n, d = fraction(together(ba))
    if simplify(update.subs(exps[0], 1) - update.subs(exps[0], 0)
                - (update - update.subs(exps[0], 0)) / exps[0]) != 0:
        return None  # not linear in exp(a)
    return n, d, a


def neuron_hooks_source(model: ModelConfig) -> str:
    """The text of a module with :mod:`~dendrinet.backends.numba.standard_neuron`'s neuron
    functions generated from ``model``'s equations. It holds no parameter value: models
    that differ only in values get the same text (the same compiled code)."""
    from brian2.parsing.sympytools import sympy_to_str

    from dendrinet.model.equations import extra_state_variables

    extra_h = extra_state_variables(model, "hidden")
    extra_o = extra_state_variables(model, "output")
    head_h, body_h, params_h = _population(model, "hidden", extra_h)
    head_o, body_o, params_o = _population(model, "output", extra_o)
    apical = _apical_expression(model)
    apical_names = _names(apical)
    _check_generatable(model, "hidden", apical_names)
    per_step = {t for t, _ in constant_over_dt(model, "hidden")}
    if apical_names & (per_step | {"rand", "randn"}):
        raise ModelEquationError(
            f"{_where(model)}: the fast engine cannot generate a V_a that draws random numbers "
            f"or reads a subexpression 'constant over dt' ({_kind_terms(model, 'hidden')}); "
            f"the Brian2 engine runs it: --engine brian2 (engine='brian2' in Python)")
    const_a, params_a = _constants(model, "hidden", apical_names,
                                   {"V", "b", "bL", "bS", "aL", "aS", *extra_h})
    (apical_expr,), head_a = _hoisted([_substituted(apical, {}, const_a)], params_a | {"dt"},
                                      "_k")
    head_a = [f"{name} = {sympy_to_str(e)}" for name, e in head_a]
    apical = sympy_to_str(apical_expr)
    apical_names = _names(apical)
    spike_h, params_sh = _on_spike_function(model, "hidden", extra_h)
    spike_o, params_so = _on_spike_function(model, "output", extra_o)
    cond_h, params_ch = _spike_condition_function(model, "hidden", extra_h)
    cond_o, params_co = _spike_condition_function(model, "output", extra_o)
    parameters = tuple(sorted(params_h | params_o | params_a | params_sh | params_so
                              | params_ch | params_co))
    for name in (*extra_h, *extra_o, *apical_names, *parameters):
        source_identifier(name)
    index = {name: i for i, name in enumerate(parameters)}
    # the header is fixed text: the model's name and other file text never land in source
    spike_h = spike_h.replace("#LOADS#", "\n    ".join(_loads_of(params_sh, index)))
    spike_o = spike_o.replace("#LOADS#", "\n    ".join(_loads_of(params_so, index)))
    cond_h = cond_h.replace("#LOADS#", "\n    ".join(_loads_of(params_ch, index)))
    cond_o = cond_o.replace("#LOADS#", "\n    ".join(_loads_of(params_co, index)))
    random = any("step_uniform(" in text or "step_normal(" in text
                 for text in ("\n".join(body_h + body_o), spike_h, spike_o, cond_h, cond_o))
    terms = model.equations
    on_spike = bool(terms.hidden_on_spike.strip() or terms.output_on_spike.strip())
    condition = bool(terms.hidden_spike_condition.strip()
                     or terms.output_spike_condition.strip())
    out = [_HEADER, _PRELUDE, f"EXTRA_STATE = {{'hidden': {extra_h!r}, 'output': {extra_o!r}}}",
           f"PARAMETERS = {parameters!r}", f"RANDOM_NUMBERS = {random!r}",
           f"ON_SPIKE = {on_spike!r}", f"SPIKE_CONDITION = {condition!r}"]
    out += ["", "", _update_function("update_hidden", head_h, body_h, extra_h,
                                     _loads_of(params_h, index), hidden=True),
            "", "", _update_function("update_output", head_o, body_o, extra_o,
                                     _loads_of(params_o, index), hidden=False),
            "", "", _PROJECTED, "", "",
            _apical_functions(apical, apical_names, extra_h,
                              _loads_of(params_a, index) + head_a),
            "", "", spike_h, "", "", spike_o, "", "", cond_h, "", "", cond_o]
    source = "\n".join(out) + "\n"
    check_generated_source(source, (*extra_h, *extra_o, *parameters))
    return source


#: Salts of the first random number of on-spike code and of spike conditions: the
#: numbers of the next step's update hash the same stream state with salts from 0
#: (random_streams.step_uniform).
_ON_SPIKE_SALT = 1_000_000
_CONDITION_SALT = 2_000_000
#: The first lines of a spike hook: constants, streams, the parameters' loads (#LOADS#).
_SPIKE_PREAMBLE = ("    dt, P__ = k.dt_s, k.P", "    s0__, s1__ = k.s0, k.s1", "    #LOADS#")


def _spike_code(model: ModelConfig, kind: str, extras, exprs, key: str, salt: int):
    """Expressions of code run per spiking (or tested) unit, which reads ``V``, the
    state variables ``extras``, parameters, ``rand()`` and (hidden units) ``V_a``,
    ``V_a_lin``: their source text, the lines before them (the apical potential from the
    unit's ``aL``, ``aS``; random numbers of the stream of unit ``u__``, hashes from
    ``salt``) and the parameters read."""
    import brian2
    from brian2.parsing.sympytools import sympy_to_str
    from brian2.units.fundamentalunits import Unit

    randoms: list[str] = []

    def numbered(match) -> str:
        randoms.append(match.group(1))
        return f"_rnd{len(randoms) - 1}"

    exprs = [_RANDOM_CALL.sub(numbered, e) for e in exprs]
    apical_names = {"V_a", "V_a_lin"} if kind == "hidden" else set()
    local = {"V", "dt", *extras, *apical_names} | {f"_rnd{k}" for k in range(len(randoms))}
    names = set().union(*(_names(e) for e in exprs))
    _, ns = brian2_group(model, kind)

    def undefined(found, known):  # not known, a function, a parameter or a Brian2 unit
        return sorted(n for n in found - known - set(FUNCTIONS)
                      if n not in ns and not isinstance(getattr(brian2, n, None), Unit))

    unknown = undefined(names, local)
    if unknown:
        raise ModelEquationError(
            f"{_where(model)}: [equations].{key} reads {unknown[0]!r}, which is not "
            f"V{', V_a' if kind == 'hidden' else ''}, a state variable of "
            f"[equations].{kind}_extra ({', '.join(extras) or 'none'}) or a parameter "
            f"(declare new parameters in [equations.parameters] with their units)")
    consts, parameters = _constants(model, kind, names, local)
    texts = [sympy_to_str(_substituted(e, {}, consts)) for e in exprs]
    before = []
    if names & apical_names:
        # the apical potential as the equations define it, from this step's traces
        apical = _apical_expression(model)
        needs = _names(apical)
        known = {"aL", "aS", "V", *extras}
        other = undefined(needs, known)
        if other:
            raise ModelEquationError(
                f"{_where(model)}: [equations].{key} reads V_a, whose expression here "
                f"needs {other[0]!r}; code on spikes and spike conditions may read a V_a "
                f"made of the apical traces, V and the state variables")
        const_a, params_a = _constants(model, "hidden", needs, known)
        parameters = parameters | params_a
        before += ["aL = aL__[j__]", "aS = aS__[j__]", "V_a_lin = aL - aS",
                   f"V_a = {sympy_to_str(_substituted(apical, {}, const_a))}"]
    before += [f"_rnd{k} = step_uniform(s0__, s1__, u__, {salt + 2 * k})" if f == "rand"
               else f"_rnd{k} = step_normal(s0__, s1__, u__, {salt // 2 + k})"
               for k, f in enumerate(randoms)]
    return texts, before, parameters


def _on_spike_function(model: ModelConfig, kind: str, extras) -> tuple[str, set]:
    """``on_spike_<kind>(k, V__, aL__, aS__, X__, ids__, lo)``: the model's ``<kind>_on_spike``
    statements, in order, for each spiking unit ``lo + ids__[n]`` (Brian2's reset code;
    ``V`` and the extra state variables read and written, parameters from ``k.P``, at
    the line ``#LOADS#``), and the parameters it reads."""
    from dendrinet.config.expressions import check_statements

    name = f"on_spike_{kind}"
    top = f"@njit(**JIT)\ndef {name}(k, V__, aL__, aS__, X__, ids__, lo):\n"
    statements = check_statements(getattr(model.equations, f"{kind}_on_spike"))
    if not statements:
        return top + "    return  # nothing to run (never called)", set()
    texts, draws, parameters = _spike_code(model, kind, extras,
                                           [st.expression for st in statements],
                                           f"{kind}_on_spike", _ON_SPIKE_SALT)
    body = [f"{st.target} = {value}" if st.operator == "=" else
            f"{st.target} = {st.target} {st.operator[0]} ({value})"
            for st, value in zip(statements, texts)]
    written = {st.target for st in statements}
    lines = [*_SPIKE_PREAMBLE,
             "    for n__ in range(ids__.size):",
             "        j__ = ids__[n__]",
             "        u__ = lo + j__",
             "        V = V__[j__]"]
    lines += [f"        {x} = X__[{r}, u__]" for r, x in enumerate(extras)]
    lines += ["        " + line for line in draws + body]
    if "V" in written:
        lines.append("        V__[j__] = V")
    lines += [f"        X__[{r}, u__] = {x}" for r, x in enumerate(extras) if x in written]
    return top + "\n".join(lines), parameters


def _spike_condition_function(model: ModelConfig, kind: str, extras) -> tuple[str, set]:
    """``spike_condition_<kind>(k, V__, aL__, aS__, X__, spk__, lo)``: ``spk__[j] = 1`` where the
    model's ``<kind>_spike_condition`` holds (after the step's draw; Brian2's threshold
    ``draw or condition``), and the parameters it reads."""
    name = f"spike_condition_{kind}"
    top = f"@njit(**JIT)\ndef {name}(k, V__, aL__, aS__, X__, spk__, lo):\n"
    condition = getattr(model.equations, f"{kind}_spike_condition").strip()
    if not condition:
        return top + "    return  # no condition (never called)", set()
    (text,), draws, parameters = _spike_code(model, kind, extras, [condition],
                                             f"{kind}_spike_condition", _CONDITION_SALT)
    used = _names(text).union(*(_names(line.partition("=")[2].strip()) for line in draws))
    lines = [*_SPIKE_PREAMBLE,
             "    for j__ in range(V__.size):",
             "        u__ = lo + j__",
             "        V = V__[j__]"]
    lines += [f"        {x} = X__[{r}, u__]" for r, x in enumerate(extras) if x in used]
    lines += ["        " + line for line in draws]
    lines += [f"        if {text}:", "            spk__[j__] = 1"]
    return top + "\n".join(lines), parameters


def _loads_of(parameters, index: dict) -> list[str]:
    """Lines reading the parameters a function uses from ``k.P`` (before its loop)."""
    return [f"{name} = P__[{index[name]}]" for name in sorted(parameters)]


_HEADER = '"""Generated by dendrinet.backends.numba.codegen; do not edit."""'
#: A name the generated source may hold (ASCII; the model reader allows fewer).
_SOURCE_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Modules the generated source imports (those of the prelude).
_SOURCE_IMPORTS = {"math", "numba", "dendrinet.jit.numerics", "dendrinet.jit.random_streams"}


def source_identifier(name: str) -> str:
    """``name`` if it may be written into generated source as an identifier (ASCII
    letters, digits, ``_``; not a keyword), else :class:`ModelEquationError`. Every name
    this module writes passes here or is its own."""
    if not isinstance(name, str) or not _SOURCE_IDENTIFIER.fullmatch(name) \
            or keyword.iskeyword(name):
        raise ModelEquationError(f"refusing to write {name!r} into generated code: not an "
                                 f"identifier")
    return name


@functools.cache
def _fixed_strings() -> frozenset:
    """The string constants of the generator's own text (docstrings, options)."""
    tree = ast.parse("\n".join([_HEADER, _PRELUDE, _PROJECTED, "njit(inline='always')",
                                "{'hidden': (), 'output': ()}"]))
    return frozenset(n.value for n in ast.walk(tree)
                     if isinstance(n, ast.Constant) and isinstance(n.value, str))


def check_generated_source(source: str, extras: tuple[str, ...]) -> None:
    """Check what a generated module holds before it is written: it parses, every
    identifier is :func:`source_identifier`'s, every string is the generator's own or an
    extra state variable's name, and it imports only what the prelude imports. A
    failure is a bug (the model reader checks the equations first), reported as
    :class:`ModelEquationError` rather than written to disk."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ModelEquationError(f"generated code does not parse ({exc.msg}, line "
                                 f"{exc.lineno})") from None
    strings = _fixed_strings() | set(extras)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            source_identifier(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.arg, ast.Attribute, ast.alias)):
            name = {ast.FunctionDef: "name", ast.arg: "arg", ast.Attribute: "attr",
                    ast.alias: "name"}[type(node)]
            source_identifier(getattr(node, name))
        elif isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)) \
                and node.value not in strings:
            raise ModelEquationError(f"refusing to write the string {node.value!r} into "
                                     f"generated code")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                       else [node.module])
            if not set(modules) <= _SOURCE_IMPORTS:
                raise ModelEquationError(f"refusing to import {modules} in generated code")


def _loads(extras, names_used=None) -> list[str]:
    return [f"{x} = {x}__[j__]" for x in extras if names_used is None or x in names_used]


def _rows(extras, only=None) -> list[str]:
    """Contiguous views of the extra state rows (vectorisable loops)."""
    return [f"    {x}__ = X__[{r}, lo:hi]" for r, x in enumerate(extras)
            if only is None or x in only]


def _update_function(name: str, head: list[str], body: list[str], extras, loads,
                     hidden: bool) -> str:
    if hidden:
        top = (f"@njit(**JIT)\ndef {name}(k, V__, bL__, bS__, c__, aL__, aS__, b__, X__, lo, "
               f"hi):\n")
    else:
        top = (f"@njit(**JIT)\ndef {name}(k, V__, bL__, bS__, c__, b__, X__, lo, hi, drive__, "
               f"E__, cD__, teach_, label):\n"
               f"    teach = 1.0 if teach_ else 0.0\n")
    top += "    J__, dL__, dS__, dt, P__ = k.J, k.dL, k.dS, k.dt_s, k.P\n"
    if any(line.startswith("_rnd") for line in body):
        top += "    s0__, s1__ = k.s0, k.s1\n"
    loop = ["    " + line for line in loads + head]
    loop += _rows(extras) + [
            "    for j__ in range(V__.size):",
            "        i = j__",
            "        v__ = J__ * c__[j__]",
            "        bL = bL__[j__] + v__",
            "        bS = bS__[j__] + v__",
            "        c__[j__] = 0.0",
            "        V = V__[j__]",
            "        b = b__[j__]"]
    if hidden:
        loop += ["        aL = aL__[j__]", "        aS = aS__[j__]"]
    loop += ["        " + line for line in _loads(extras)]
    loop += ["        " + line for line in body]
    loop += ["        V__[j__] = V"]
    loop += [f"        {x}__[j__] = {x}" for x in extras]
    loop += ["        bL__[j__] = bL * dL__", "        bS__[j__] = bS * dS__"]
    if hidden:
        loop += ["        aL__[j__] = aL * dL__", "        aS__[j__] = aS * dS__"]
    return top + "\n".join(loop)


_PROJECTED = '''\
@njit(**JIT)
def update_hidden_projected(k, V__, bL__, bS__, c__, b__, X__, lo, hi):
    """Never called: generated models keep explicit apical traces."""
    return'''


def _apical_functions(expr: str, names: set[str], extras, head: list[str]) -> str:
    used = [x for x in extras if x in names]
    loads = [f"        {n} = {n}__[j__]" for n in ("V", "b", "bL", "bS", "aL", "aS")
             if n in names]
    loads += ["        " + line for line in _loads(used)]
    before = ["    P__ = k.P"] + ["    " + line for line in head] + _rows(extras, used)
    return "\n".join([
        "@njit(**JIT)",
        "def add_apical(k, acc, V__, bL__, bS__, aL__, aS__, b__, X__, lo, hi):",
        *before,
        "    for j__ in range(acc.size):",
        *loads,
        f"        acc[j__] += {expr}",
        "",
        "",
        "@njit(**JIT)",
        "def apical_row(k, out, V__, bL__, bS__, aL__, aS__, b__, X__, lo, hi):",
        *before,
        "    for j__ in range(out.size):",
        *loads,
        f"        out[j__] = {expr}",
    ])
