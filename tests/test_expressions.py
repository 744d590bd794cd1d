"""The checkers that read equation text and units as data (dendrinet.config.expressions,
dendrinet.config.units): what they accept, what they refuse and why, and that they agree with
Brian2 on its functions and with the ``eval`` they replaced on every value."""
import ast

import pytest

from dendrinet.config.expressions import (
    FUNCTIONS,
    ExpressionError,
    check_equation_lines,
    check_expression,
    check_identifier,
)
from dendrinet.config.units import UnitSyntaxError, brian2_units, parse_quantity, parse_unit

#: Expressions of the shipped models, examples, docs and tests, and Brian2 syntax.
ACCEPTED = [
    "V_a_lin", "2*tanh(V_a_lin/2)", "0.02*V_a*(2 - V)/ms - u/ms", "0.05*V_a/ms",
    "g_B*(V_b - V) + g_A*plateau*(E_E - V)", "g_D*(V_b - V)", "-0.05*tanh(V_b)*V/ms",
    "0.1*sin(2*pi*10*Hz*t)/ms", "-w**2/(10*ms)", "int(i == label)", "rand() < phi*dt",
    "not (V > 0) and V <= 1 or V != 2", "clip(V, -1, 1) % 3 // 2", "+V", "True", "1e-3",
    "(V_a_lin +\n 1)", "V**1e9", "(V + 1)**20", "log(V_a_lin)",
]

#: Refused expressions -> words of the reason.
REFUSED = {
    "V_a_lin + 0*exp('__import__(\"os\").system(\"true\")')": "a string literal",
    "0*f('...')/ms": "a string literal",
    "0*f(V)/ms": "the function 'f'",
    "b'x'": "a string literal",
    "ms.in_unit": "an attribute",
    "a[0]": "a subscript",
    "lambda: 1": "a lambda",
    "[x for x in y]": "a comprehension",
    "(x for x in y)": "a comprehension",
    "exp(x=1)": "a keyword argument",
    "exp(*a)": "a starred argument",
    "f'{a}'": "an f-string",
    "(a := 1)": "':='",
    "a if b else c": "a conditional",
    "(1, 2)": "a tuple",
    "{1: 2}": "a dictionary",
    "__import__": "the name '__import__'",
    "_x + 1": "the name '_x'",
    "exp(1)(2)": "calling an expression",
    "eval(V)": "the function 'eval'",
    "a ^ b": "write '**'",
    "a & b": "write 'and'",
    "a @ b": "MatMult",
    "1j": "the constant 1j",
    "None": "the constant None",
    "...": "the constant Ellipsis",
    "1e999": "the constant inf",
    "V # comment": "a comment",
    "9**9**9": "too large",
    "(2*V)**1000000": "too large",
    "2**-100000": "too large",
    "(V + W + 1)**100000": "too large",
    "V_a_lin + ": "cannot read",
    "V\u00e9": "printable ASCII",
    "V\x00": "printable ASCII",
    "-" * 100 + "V": "nested more than",
    "V+" * 1001 + "V": "longer than",
}


@pytest.mark.parametrize("text", ACCEPTED)
def test_expressions_of_brian2_syntax_are_accepted(text):
    assert isinstance(check_expression(text), ast.Expression)


@pytest.mark.parametrize("text", list(REFUSED), ids=range(len(REFUSED)))
def test_other_python_is_refused_with_the_reason(text):
    with pytest.raises(ExpressionError) as info:
        check_expression(text)
    assert REFUSED[text] in str(info.value)
    assert "\n" not in str(info.value)


def test_the_functions_are_brian2s_and_the_fast_engine_provides_a_subset():
    from brian2.core.functions import DEFAULT_FUNCTIONS

    from dendrinet.backends.numba.codegen import FUNCTIONS as GENERATED

    assert FUNCTIONS <= set(DEFAULT_FUNCTIONS)
    assert set(GENERATED) <= FUNCTIONS


def test_equation_lines():
    lines = check_equation_lines(
        "dw/dt = (a_w*V - w)/tau_w : 1   # adaptation\n\n"
        "  plateau = 1/(1 + exp(-V_a)) : 1\n"
        "noise = 0.1*rand() : 1 (constant over dt)\n"
        "# a comment line\n"
        "g_x : siemens/metre**2 (constant, shared)\n")
    assert [(e.kind, e.name, e.expression, e.unit, e.flags) for e in lines] == [
        ("differential", "w", "(a_w*V - w)/tau_w", "1", ()),
        ("subexpression", "plateau", "1/(1 + exp(-V_a))", "1", ()),
        ("subexpression", "noise", "0.1*rand()", "1", ("constant over dt",)),
        ("parameter", "g_x", "", "siemens/metre**2", ("constant", "shared")),
    ]


@pytest.mark.parametrize("line, words", [
    ("dw/dt = (V - w/(10*ms) : 1", "was never closed"),
    ("x = 'a' : 1", "a string literal"),
    ("x = a.b : 1", "an attribute"),
    ("x = 1 : ms.__class__", "'.' is not allowed in a unit"),
    ("x = 1 : parsec", "'parsec' in 'x = 1 : parsec' is not a Brian2 unit"),
    ("x = 1 : metre^2", "write '**'"),
    ("x : 1 (linked)", "the flag 'linked'"),
    ("x : 1 (constant); import os", "cannot read"),
    ("__x = 1 : 1", "variable name"),
    ("dlambda/dt = 1 : 1", "variable name"),
    ("x = 1", "cannot read"),
    ("x = 1 : 1\nimport os", "cannot read 'import os'"),
    ("dw/dt = -w/(10*ms)", "cannot read"),
])
def test_bad_equation_lines_are_refused(line, words):
    with pytest.raises(ExpressionError, match=None) as info:
        check_equation_lines(line)
    assert words in str(info.value)


def test_identifiers():
    assert check_identifier("tau_w") == "tau_w"
    for bad in ("_x", "a__b", "lambda", "1a", "a-b", "a.b", ""):
        with pytest.raises(ExpressionError):
            check_identifier(bad)


# --------------------------------------------------------------------------- units


@pytest.mark.parametrize("text, number, powers", [
    ("100 ms", 100.0, (("ms", 1),)),
    ("0.05 /ms", 0.05, (("ms", -1),)),
    ("0.05 1/ms", 0.05, (("ms", -1),)),
    ("1/second", 1.0, (("second", -1),)),
    ("3 mV^-1", 3.0, (("mV", -1),)),
    ("3 mV**(-1)", 3.0, (("mV", -1),)),
    ("-2e-3 ms / (mV * ms)", -2e-3, (("mV", -1),)),
    ("7 metre**2", 7.0, (("metre", 2),)),
    ("0.5", 0.5, None),
    ("3ms", 3.0, (("ms", 1),)),
])
def test_quantities_are_parsed(text, number, powers):
    quantity = parse_quantity(text)
    assert quantity.number == number
    assert (quantity.unit.powers() if quantity.unit else None) == powers


@pytest.mark.parametrize("text, words", [
    ("1 ms.in_unit.__globals__", "'.' is not allowed"),
    ("1 (28531).to_bytes(2).decode()", "'.' is not allowed"),
    ("1 (28531)", "expected a unit name"),
    ("1 __import__('os')", "not allowed"),
    ("1 ms[0]", "not allowed"),
    ("1 ms^1.5", "'.' is not allowed"),
    ("1 ms^x", "must be an integer"),
    ("1 ms^(2", "missing ')' after a power"),
    ("1 ms^99", "out of range"),
    ("1 ms ms", "unexpected 'ms'"),
    ("1 ms*", "ends too early"),
    ("1 (ms", "missing ')'"),
    ("1 2/ms", "expected a unit name"),
    ("ms", "expected a number first"),
    ("1e999 ms", "not finite"),
    ("1 m\u00b5s", "printable ASCII"),
    ("1 " + "ms*" * 100 + "ms", "longer than"),
])
def test_other_text_is_not_a_quantity(text, words):
    with pytest.raises(UnitSyntaxError) as info:
        parse_quantity(text)
    assert words in str(info.value)


def test_units_evaluate_exactly_as_the_eval_they_replace():
    import brian2

    units = brian2_units()
    for text, python in [("ms", "ms"), ("/ms", "1/ms"), ("mV^-1", "mV**-1"),
                         ("ms/mV*Hz", "ms/mV*Hz"), ("(ms*mV)**2/nS", "(ms*mV)**2/nS")]:
        expected = eval(python, {"__builtins__": {}}, units)  # noqa: S307 (the test's reference)
        value = parse_unit(text).evaluate(units)
        assert float(value) == float(expected) and value.dim == expected.dim, text
    assert units["ms"] is brian2.ms
