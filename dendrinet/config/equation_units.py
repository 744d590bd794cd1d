"""Dimensions of a model's ``[equations]`` checked when the model file is read, each
mismatch blamed on the entry or line the user wrote, in the user's units.

Brian2 checks units only when it builds the full equations, and then names the
assembled ``dV/dt`` in SI base units ("has unit m^2 kg s^-4 A^-1"). Here each user
entry is checked on its own, against the known dimensions of the standard equations
(:data:`STANDARD`, the same as :mod:`dendrinet.model.equations`; a test keeps
them equal) and of the user's own declarations, with Brian2's
:func:`~brian2.parsing.expressions.parse_expression_dimensions`:

* ``apical`` gives ``V_a``, a potential: dimensionless;
* ``hidden_coupling``, ``output_coupling``, ``hidden_soma``, ``output_soma`` are terms
  of ``dV/dt``: 1/ms (a rate);
* a line of ``hidden_extra`` / ``output_extra`` gives its declared unit (per second for
  ``dx/dt``);
* a statement of ``hidden_on_spike`` / ``output_on_spike`` assigns ``V`` or one of the
  population's own state variables (``dx/dt`` lines) a value of its unit (``=``, ``+=``,
  ``-=``) or scales it by a dimensionless factor (``*=``, ``/=``);
* ``hidden_spike_condition`` / ``output_spike_condition`` is true or false (its
  comparisons are between quantities of one unit).

The text given here was checked by :mod:`dendrinet.config.expressions` before (only names,
numbers, operators and Brian2's functions reach Brian2's parser). A name that is not
known is left to the equation builder, which names it.
"""
from __future__ import annotations

from dendrinet.errors import ConfigError
from dendrinet.config.expressions import check_equation_lines, check_statements
from dendrinet.config.units import brian2_units, parse_unit

__all__ = ["STANDARD", "check_equation_dimensions"]

#: Dimensions of the names the standard equations define, per population, as unit
#: names of Brian2 ("1": dimensionless).
STANDARD = {
    "common": {"V": "1", "V_b": "1", "phi": "Hz", "bL": "1", "bS": "1", "xL": "1",
               "xS": "1", "s": "1", "b": "1", "t": "second", "dt": "second", "i": "1",
               "N": "1"},
    "hidden": {"V_a_lin": "1", "V_a": "1", "aL": "1", "aS": "1"},
    "output": {"g_E": "Hz", "g_I": "Hz", "teach": "1", "label": "1"},
}
#: What a dimension is called in messages (by its unscaled unit).
_KINDS = {"V": "a voltage", "s": "a time", "Hz": "a rate", "A": "a current",
          "S": "a conductance", "F": "a capacitance", "ohm": "a resistance", "m": "a length"}
#: Entries that are terms of dV/dt, and the population each belongs to.
_RATE_TERMS = {"hidden_coupling": "hidden", "hidden_soma": "hidden",
               "output_coupling": "output", "output_soma": "output"}


def check_equation_dimensions(terms, neuron_namespace: dict, parameters: dict,
                              where: str) -> None:
    """Check the dimensions of every ``[equations]`` entry of a model.

    Parameters
    ----------
    terms : EquationTerms
        The model's ``[equations]`` (:class:`dendrinet.config.EquationTerms`), its text
        already checked as data.
    neuron_namespace : dict
        The neuron's constants as Brian2 quantities (``NeuronParams.brian2_namespace``).
    parameters : dict
        ``[equations.parameters]``: name -> (value text, Brian2 quantity).
    where : str
        The model file, for messages.

    Raises
    ------
    ConfigError
        One line naming the model file, the entry (and line) whose dimensions do not
        match, the units found and expected in Brian2's named units, and where the
        user's names in it declare their units.
    """
    from brian2.core.functions import DEFAULT_CONSTANTS, DEFAULT_FUNCTIONS
    from brian2.units.fundamentalunits import DIMENSIONLESS, get_dimensions

    units = brian2_units()
    base = {name: _Dimensioned(get_dimensions(value)) for name, value in units.items()}
    base.update(DEFAULT_CONSTANTS)
    base.update(DEFAULT_FUNCTIONS)
    for name, value in neuron_namespace.items():
        base[name] = _Dimensioned(get_dimensions(value))
    origin = {}  # user-declared name -> where its unit is declared (for messages)
    for name, (text, value) in parameters.items():
        base[name] = _Dimensioned(get_dimensions(value))
        origin[name] = f"[equations.parameters].{name} = {text!r}"

    def dimension(unit_text: str):
        if unit_text in ("1", "boolean", "integer"):
            return DIMENSIONLESS
        return get_dimensions(parse_unit(unit_text).evaluate(units))

    for kind in ("hidden", "output"):
        variables = dict(base)
        standard = {**STANDARD["common"], **STANDARD[kind]}
        for name, unit in standard.items():
            variables[name] = _Dimensioned(dimension(unit))
        key = f"{kind}_extra"
        lines = check_equation_lines(getattr(terms, key))
        local_origin = dict(origin)
        for line in lines:
            variables[line.name] = _Dimensioned(dimension(line.unit))
            if line.unit not in ("1", "boolean", "integer"):
                local_origin[line.name] = f"[equations].{key} line {line.text!r}"
        for line in lines:
            if line.kind == "parameter":
                continue
            declared = dimension(line.unit)
            expected = declared / get_dimensions(units["second"]) \
                if line.kind == "differential" else declared
            target = f"d{line.name}/dt" if line.kind == "differential" else line.name
            _check(line.expression, expected, variables, local_origin,
                   f"{where} [equations].{key} line {line.text!r}",
                   f"{line.name} is declared in {_unit(declared)} (': {line.unit}'), so "
                   f"{target} must be in {_unit(expected)}")
        key = f"{kind}_on_spike"
        assignable = {"V"} | {line.name for line in lines if line.kind == "differential"}
        for statement in check_statements(getattr(terms, key)):
            text = f"{statement.target} {statement.operator} {statement.expression}"
            place = f"{where} [equations].{key} line {text!r}"
            if statement.target not in assignable:
                raise ConfigError(f"{place}: on a spike a {kind} neuron may change V or its "
                                  f"own state variables (the 'dx/dt' lines of "
                                  f"[equations].{kind}_extra: "
                                  f"{', '.join(sorted(assignable - {'V'})) or 'none'}), not "
                                  f"{statement.target!r}")
            target = variables[statement.target].dim
            scaled = statement.operator in ("*=", "/=")
            _check(statement.expression, DIMENSIONLESS if scaled else target, variables,
                   local_origin, place,
                   f"{statement.target} is in {_unit(target)}, so "
                   + ("a factor must be dimensionless" if scaled else
                      f"what {statement.operator} gives it must be too"))
        condition = getattr(terms, f"{kind}_spike_condition").strip()
        if condition:
            _check(condition, DIMENSIONLESS, variables, local_origin,
                   f"{where} [equations].{kind}_spike_condition = {condition!r}",
                   "a condition compares quantities of one unit (it is true or false)")
        if kind == "hidden":
            _check(terms.apical.strip() or "V_a_lin", DIMENSIONLESS, variables, local_origin,
                   f"{where} [equations].apical = {terms.apical.strip()!r}",
                   "V_a is a potential, dimensionless (potentials carry no unit)")
        for key, population in _RATE_TERMS.items():
            text = getattr(terms, key).strip()
            if population == kind and text:
                _check(text, get_dimensions(1 / units["second"]), variables, local_origin,
                       f"{where} [equations].{key} = {text!r}",
                       "every term of dV/dt is a rate in 1/ms (potentials are dimensionless: "
                       "write '.../ms' or multiply by a conductance such as g_B)")


class _Dimensioned:
    """A variable of known dimensions, as Brian2's expression parser reads it."""

    def __init__(self, dim):
        self.dim = dim


def _unit(dim) -> str:
    """``dim`` in Brian2's named units: "1 (dimensionless)", "V (a voltage)", "V/s",
    "1/V" (SI base units only where no named unit fits)."""
    from brian2.units.fundamentalunits import DIMENSIONLESS, get_unit

    if dim is DIMENSIONLESS:
        return "1 (dimensionless)"
    try:
        text = _named(dim)
    except (ArithmeticError, ValueError):  # powers beyond numbers ('ms**(10**300)')
        return "a unit with a power out of range"
    if text == "Hz":
        return "1/s (a rate)"
    return f"{text} ({_KINDS[text]})" if text in _KINDS else text


def _named(dim) -> str:
    """A named unit of ``dim``, or one times or divided by seconds, or its inverse."""
    from brian2.units import fundamentalunits as fu

    second = fu.get_or_create_dimension(s=1)
    named = fu.standard_unit_register.units_for_dimensions  # Brian2's own names only
    suffix = {0: "", 1: "/s", 2: "/s^2", -1: "*s", -2: "*s^2"}
    for sign in (1, -1):
        for power in (0, 1, -1, 2, -2):
            base = dim ** sign * second ** power
            if base is fu.DIMENSIONLESS or 1.0 not in named.get(base, {}):
                continue
            name = str(named[base][1.0])
            if sign == 1:
                return name + suffix[power]
            if power >= 0:
                return f"{'s' if power == 1 else 's^2' if power == 2 else '1'}/{name}"
            return f"1/({name}{suffix[power]})"
    return str(fu.get_unit(dim))


def _mismatch(tree, variables):
    """(reason, node): the innermost sum, comparison or function call whose operands'
    dimensions do not fit, told in named units ("'a_u * V - u' adds 'a_u * V' in 1
    (dimensionless) and 'u' in V (a voltage)"); None if none is found."""
    import ast

    from brian2.parsing.expressions import parse_expression_dimensions
    from brian2.units.fundamentalunits import have_same_dimensions

    for node in ast.walk(tree):
        pairs = []
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mod)):
            pairs = [(node.left, node.right)]
        elif isinstance(node, ast.Compare):
            items = [node.left, *node.comparators]
            pairs = list(zip(items[:-1], items[1:]))
        if isinstance(node, ast.Call):
            reason = _argument_reason(node, variables)
            if reason:
                return reason, node
        for left, right in pairs:
            try:
                a = parse_expression_dimensions(left, variables)
                b = parse_expression_dimensions(right, variables)
            except Exception:  # the mismatch is deeper: found later in the walk
                continue
            if not have_same_dimensions(a, b):
                what = "adds" if isinstance(node, ast.BinOp) else "compares"
                return (f"{ast.unparse(node)!r} {what} {ast.unparse(left)!r} in {_unit(a)} "
                        f"and {ast.unparse(right)!r} in {_unit(b)}", node)
    return None


def _check(expression: str, expected, variables: dict, origin: dict, entry: str,
           rule: str) -> None:
    """Raise one ConfigError if ``expression``'s dimensions are not ``expected``."""
    import ast

    from brian2.parsing.expressions import parse_expression_dimensions
    from brian2.units.fundamentalunits import DimensionMismatchError, have_same_dimensions

    tree = ast.parse(expression, mode="eval")
    if any(isinstance(n, ast.Name) and n.id not in variables for n in ast.walk(tree)):
        return  # an unknown name: the equation builder names it
    try:
        found = parse_expression_dimensions(expression, variables)
    except DimensionMismatchError as exc:
        mismatch = _mismatch(tree, variables)
        reason, node = mismatch if mismatch else (_brian2_reason(exc), tree)
        raise ConfigError(f"{entry}: {reason}{_declared(node, variables, origin, entry)}; "
                          f"{rule}") from None
    except Exception:  # not a question of units (a syntax Brian2 refuses, a function
        return  # called wrongly): the equation builder reports it with its own message
    if not have_same_dimensions(found, expected):
        raise ConfigError(f"{entry}: gives {_unit(found)}, but {rule}"
                          f"{_declared(tree, variables, origin, entry)}")


def _declared(node, variables, origin: dict, entry: str) -> str:
    """Where the names in ``node`` got their units, for those the user declared with a
    unit elsewhere than ``entry``: `` (tau_u is V (a voltage), declared in
    [equations.parameters].tau_u = '100 mV')``."""
    import ast

    from brian2.units.fundamentalunits import DIMENSIONLESS

    names = sorted({n.id for n in ast.walk(node) if isinstance(n, ast.Name)})
    shown = [f"{n} is {_unit(variables[n].dim)}, declared in {origin[n]}" for n in names
             if n in origin and origin[n] not in entry and variables[n].dim is not DIMENSIONLESS]
    return f" ({'; '.join(shown)})" if shown else ""


def _argument_reason(call, variables) -> str | None:
    """A function argument in the wrong unit, told in named units; None if none."""
    import ast

    from brian2.parsing.expressions import parse_expression_dimensions
    from brian2.units.fundamentalunits import get_dimensions, have_same_dimensions

    function = variables.get(call.func.id)
    wanted = getattr(function, "_arg_units", None) or ()
    names = getattr(function, "_arg_names", None) or ()
    for arg, unit in zip(call.args, wanted):
        if unit is None or unit is bool:
            continue
        try:
            found = parse_expression_dimensions(arg, variables)
            if isinstance(unit, str):  # "the same unit as the argument named so"
                other = call.args[list(names).index(unit)]
                expected = parse_expression_dimensions(other, variables)
                like = f" (that of {ast.unparse(other)!r})"
            else:
                expected, like = get_dimensions(unit), ""
        except Exception:  # the mismatch is inside the argument: found later in the walk
            continue
        if not have_same_dimensions(found, expected):
            return (f"{call.func.id}() needs {ast.unparse(arg)!r} in {_unit(expected)}{like}, "
                    f"but it is in {_unit(found)}")
    return None


def _brian2_reason(exc: BaseException) -> str:
    """Brian2's mismatch message, its units shown by name (it prints them so already
    for sums; comparisons and function arguments print base units, kept as they are)."""
    text = str(exc.args[0]) if exc.args else str(exc)
    return " ".join(text.split()).rstrip(".")
