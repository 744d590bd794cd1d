"""Equation text of model files checked as data: expressions over names, numbers,
operators and Brian2's functions, never anything Python or SymPy would execute.

The ``[equations]`` entries of a model file (:class:`~dendrinet.config.EquationTerms`)
reach Brian2, SymPy and the fast engine's generated code. SymPy turns a string literal
into code (``sympify``), and Python's syntax has attributes, subscripts and lambdas,
so the text is checked when the model file is read, before anything else sees it:

* an **expression** (``apical``, ``hidden_coupling``, ``output_coupling``,
  ``hidden_soma``, ``output_soma``, the right-hand side of an equation line) is parsed
  with :func:`ast.parse` (never evaluated) and may hold only names (``V_a_lin``; not
  starting with ``_``), finite numbers, the operators ``+ - * / // % **``, comparisons,
  ``and``/``or``/``not``, and calls of Brian2's default functions (:data:`FUNCTIONS`)
  by name with positional arguments. Sizes are bounded: at most
  :data:`MAX_EXPRESSION_LENGTH` characters, :data:`MAX_DEPTH` levels of nesting, and
  powers whose expansion (``(V + 1)**k``) or exact value (``9**9**9``) would be larger
  than :data:`MAX_TERMS` terms or :data:`MAX_DIGITS` digits are refused, since SymPy
  expands and computes them.
* an **equation line** (``hidden_extra``, ``output_extra``; one per line, ``#``
  comments allowed) is ``dX/dt = EXPR : UNIT``, ``X = EXPR : UNIT`` or ``X : UNIT``,
  optionally followed by flags in parentheses (:data:`FLAGS`); ``UNIT`` is ``1``,
  ``boolean``, ``integer`` or a unit of :mod:`dendrinet.config.units`'s grammar.
* a **statement** (``hidden_on_spike``, ``output_on_spike``: code run when the neuron
  spikes; one per line, ``#`` comments allowed) is ``X = EXPR``, ``X += EXPR``,
  ``X -= EXPR``, ``X *= EXPR`` or ``X /= EXPR`` with ``EXPR`` an expression as above.

Errors are :class:`ExpressionError` with a reason that names the offending piece; the
model reader (:mod:`dendrinet.config`) adds the file and the key.
"""
from __future__ import annotations

import ast
import keyword
import math
import re
import warnings
from dataclasses import dataclass

from dendrinet.config.units import UnitSyntaxError, brian2_units, parse_unit

__all__ = ["FLAGS", "FUNCTIONS", "EquationLine", "ExpressionError", "Statement",
           "check_equation_lines", "check_expression", "check_identifier", "check_statements"]

#: Functions an equation may call: Brian2's default functions
#: (``brian2.core.functions.DEFAULT_FUNCTIONS``).
FUNCTIONS = frozenset({
    "abs", "arccos", "arcsin", "arctan", "ceil", "clip", "cos", "cosh", "exp", "expm1",
    "exprel", "floor", "int", "log", "log10", "log1p", "poisson", "rand", "randn", "sign",
    "sin", "sinh", "sqrt", "tan", "tanh", "timestep"})
#: Flags an equation line may carry (``noise = rand() : 1 (constant over dt)``).
FLAGS = frozenset({"constant", "constant over dt", "shared"})
#: Longest expression or equation line read.
MAX_EXPRESSION_LENGTH = 2000
#: Deepest nesting of operations and calls.
MAX_DEPTH = 60
#: Most terms an expression may expand to, and most digits of an exact number in it.
MAX_TERMS = 10_000
MAX_DIGITS = 10_000

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_OPERATORS = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
    ast.Mod: "%", ast.Pow: "**", ast.UAdd: "+", ast.USub: "-", ast.Not: "not",
    ast.And: "and", ast.Or: "or", ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<",
    ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
}
_HINTS = {ast.BitXor: "'^' (write '**' for a power)", ast.BitAnd: "'&' (write 'and')",
          ast.BitOr: "'|' (write 'or')", ast.Constant: "a string literal",
          ast.Attribute: "an attribute ('.')", ast.Subscript: "a subscript ('[...]')",
          ast.Lambda: "a lambda", ast.Starred: "a starred argument ('*')",
          ast.JoinedStr: "an f-string", ast.NamedExpr: "an assignment (':=')",
          ast.IfExp: "a conditional ('... if ... else ...')", ast.Tuple: "a tuple",
          ast.List: "a list", ast.Dict: "a dictionary", ast.Set: "a set",
          ast.keyword: "a keyword argument", ast.Await: "'await'",
          ast.ListComp: "a comprehension", ast.SetComp: "a comprehension",
          ast.DictComp: "a comprehension", ast.GeneratorExp: "a comprehension",
          ast.Yield: "'yield'", ast.YieldFrom: "'yield'", ast.Slice: "a slice"}


class ExpressionError(ValueError):
    """Equation text that is not allowed (the message says what and where)."""


def _shown(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[:limit - 3] + "...")


def check_identifier(name: str, what: str = "a name") -> str:
    """``name`` if it is a plain identifier (letters, digits, ``_``, starting with a
    letter; not a Python keyword, no ``__``), else :class:`ExpressionError`."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name) or keyword.iskeyword(name) \
            or "__" in name:
        raise ExpressionError(f"{what} must be letters, digits and single underscores, starting "
                              f"with a letter (got {_shown(str(name))})")
    return name


def _checked_text(text: str, what: str) -> str:
    if not isinstance(text, str):
        raise ExpressionError(f"expected text, got {type(text).__name__}")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"{what} is longer than {MAX_EXPRESSION_LENGTH} characters")
    bad = next((c for c in text if not (c.isascii() and (c.isprintable() or c in "\n\t"))),
               None)
    if bad is not None:
        raise ExpressionError(f"the character {bad!r} is not allowed in {what} (printable "
                              f"ASCII only)")
    return text


def check_expression(text: str) -> ast.Expression:
    """Check one expression (``"2*tanh(V_a_lin/2)"``) and return its syntax tree.

    Raises
    ------
    ExpressionError
        The text is not an expression of the allowed form (module docstring); the
        message names the offending piece.
    """
    _checked_text(text, "an expression")
    if "#" in text:
        raise ExpressionError(f"a comment ('#') is not allowed in an expression "
                              f"({_shown(text)}); write it in a TOML comment")
    try:
        with warnings.catch_warnings():  # Python's remarks on odd text ("1if") are noise
            warnings.simplefilter("ignore")
            tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot read {_shown(text)} as an expression "
                              f"({exc.msg})") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # huge literals, deep nesting
        raise ExpressionError(f"cannot read {_shown(text)} as an expression "
                              f"({type(exc).__name__})") from None
    _check_depth(tree, text)
    nodes = list(ast.walk(tree))
    for node in nodes:  # text is what SymPy would run: the first reason to name
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            _check_node(node, text)
    for node in nodes:
        _check_node(node, text)
    _check_size(tree.body, text)
    return tree


def _piece(node: ast.AST, text: str) -> str:
    piece = ast.get_source_segment(text.strip(), node) or ""
    return f" ({_shown(piece)})" if piece else ""


def _check_node(node: ast.AST, text: str) -> None:
    kind = type(node)
    if kind in (ast.Expression, ast.Load) or kind in _OPERATORS:
        return
    if isinstance(node, (ast.UnaryOp, ast.BinOp, ast.BoolOp, ast.Compare)):
        op = node.op if hasattr(node, "op") else None
        ops = [op] if op is not None else list(getattr(node, "ops", []))
        for o in ops:
            if type(o) not in _OPERATORS:
                what = _HINTS.get(type(o), f"the operator {type(o).__name__}")
                raise ExpressionError(f"{what} is not allowed in an equation{_piece(node, text)}")
        return
    if kind is ast.Name:
        if not _IDENTIFIER.fullmatch(node.id) or "__" in node.id:
            raise ExpressionError(f"the name {node.id!r} is not allowed in an equation (names "
                                  f"start with a letter; no '__')")
        return
    if kind is ast.Constant:
        value = node.value
        if isinstance(value, bool) or (isinstance(value, (int, float))
                                       and math.isfinite(value)):
            return
        what = ("a string literal" if isinstance(value, (str, bytes))
                else f"the constant {value!r}")
        raise ExpressionError(f"{what} is not allowed in an equation{_piece(node, text)}")
    if kind is ast.Call:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            name = node.func.id if isinstance(node.func, ast.Name) else None
            what = (f"the function {name!r}" if name else "calling an expression")
            raise ExpressionError(f"{what} is not allowed in an equation{_piece(node, text)}; "
                                  f"functions: {', '.join(sorted(FUNCTIONS))}")
        if node.keywords:
            raise ExpressionError(f"a keyword argument is not allowed in an equation"
                                  f"{_piece(node, text)}")
        return  # the arguments are nodes of the walk, checked themselves (Starred too)
    what = _HINTS.get(kind, f"the syntax {kind.__name__}")
    raise ExpressionError(f"{what} is not allowed in an equation{_piece(node, text)}")


def _check_depth(tree: ast.AST, text: str) -> None:
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(f"{_shown(text)} is nested more than {MAX_DEPTH} levels deep")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _check_size(node: ast.AST, text: str) -> None:
    terms, digits, _ = _size(node)
    if terms > MAX_TERMS or digits > MAX_DIGITS:
        raise ExpressionError(f"{_shown(text)} is too large to expand (more than {MAX_TERMS} "
                              f"terms or {MAX_DIGITS} digits; a power of a power, or a large "
                              f"power of a sum)")


def _size(node: ast.AST) -> tuple[float, float, float | None]:
    """Bounds on what SymPy may build from ``node``: (terms of its expansion, digits of
    an exact number in it, its value if it holds no names), computed on floats so that
    nothing large is ever built here."""
    if isinstance(node, ast.Name):
        return 1.0, 0.0, None
    if isinstance(node, ast.Constant):
        try:
            value = float(node.value)
        except OverflowError:  # an integer literal beyond floats
            value = math.inf
        digits = float(len(str(abs(node.value)))) if isinstance(node.value, int) else 0.0
        return 1.0, digits, value
    if isinstance(node, ast.UnaryOp):
        terms, digits, value = _size(node.operand)
        return terms, digits, _apply(type(node.op), value)
    if isinstance(node, ast.BinOp):
        (ta, da, va), (tb, db, vb) = _size(node.left), _size(node.right)
        if isinstance(node.op, ast.Pow):
            if vb is None:  # a symbolic exponent: nothing is expanded
                return ta + tb, da + db, None
            if not math.isfinite(vb):
                return math.inf, math.inf, None
            k = math.ceil(abs(vb))
            terms = math.inf if k > MAX_TERMS and ta > 1 else _multinomial(ta, k)
            return terms, da * k, _apply(ast.Pow, va, vb)
        if isinstance(node.op, (ast.Add, ast.Sub)):
            return ta + tb, da + db, _apply(type(node.op), va, vb)
        return ta * tb, da + db, _apply(type(node.op), va, vb)
    sizes = [_size(child) for child in ast.iter_child_nodes(node)
             if isinstance(child, ast.expr) and not (isinstance(node, ast.Call)
                                                     and child is node.func)]
    terms = 1.0 if isinstance(node, ast.Call) else sum(s[0] for s in sizes) or 1.0
    return terms, sum(s[1] for s in sizes), None


def _multinomial(terms: float, k: int) -> float:
    """Terms of ``(a_1 + ... + a_n)**k`` expanded, for ``n = terms``."""
    if terms <= 1 or k == 0:
        return 1.0
    if terms > MAX_TERMS:
        return math.inf
    n = int(terms)
    return float(min(math.comb(n + k - 1, k), 10 ** 9))


def _apply(op, a, b=None):
    if a is None or (b is None and op not in (ast.UAdd, ast.USub, ast.Not)):
        return None
    try:
        if op is ast.USub:
            return -a
        if op in (ast.UAdd, ast.Not):
            return a
        return {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b,
                ast.Div: lambda: a / b, ast.FloorDiv: lambda: a // b, ast.Mod: lambda: a % b,
                ast.Pow: lambda: abs(a) ** b}[op]()
    except (ArithmeticError, ValueError, KeyError):
        return math.inf


@dataclass(frozen=True)
class EquationLine:
    """One checked equation line: ``kind`` is ``"differential"``, ``"subexpression"``
    or ``"parameter"``; ``expression`` is empty for a parameter; ``text`` is the line as
    written, without its comment (for messages)."""

    kind: str
    name: str
    expression: str
    unit: str
    flags: tuple[str, ...]
    text: str


_LINE = re.compile(
    r"^\s*(?:d\s*(?P<diff>[^\s/]+)\s*/\s*dt\s*=|(?P<sub>[^\s=:]+)\s*=|(?P<par>[^\s=:]+)\s*(?=:))"
    r"(?P<expr>[^:]*):(?P<unit>[^()]*)(?:\((?P<flags>[^()]*)\))?\s*$")


def _code_lines(text: str, what: str):
    """``(line as written, line without its comment)`` for every line of ``text`` that
    holds code (blank lines and ``#`` comments skipped), the text's size checked first."""
    _checked_text(text, what)
    for raw in text.splitlines():
        line = raw.split("#", 1)[0]
        if line.strip():
            yield raw, line


def check_equation_lines(text: str) -> tuple[EquationLine, ...]:
    """Check equation lines (``hidden_extra``), one equation per line; blank lines and
    ``#`` comments are skipped.

    Raises
    ------
    ExpressionError
        A line is not an equation of the allowed form (module docstring); the message
        quotes the line and names the offending piece.
    """
    out = []
    for raw, line in _code_lines(text, "equation lines"):
        match = _LINE.match(line)
        if match is None:
            raise ExpressionError(f"cannot read {_shown(raw)} as an equation line "
                                  f"('dx/dt = expression : unit', 'x = expression : unit' or "
                                  f"'x : unit', one per line)")
        kind = next(k for k in ("diff", "sub", "par") if match.group(k) is not None)
        name = check_identifier(match.group(kind), f"the variable name in {_shown(raw)}")
        expression = match.group("expr").strip()
        if kind == "par" and expression:
            raise ExpressionError(f"cannot read {_shown(raw)} as an equation line")
        if kind != "par":
            try:
                check_expression(expression)
            except ExpressionError as exc:
                raise ExpressionError(f"{exc} in the line {_shown(raw)}") from None
        unit = match.group("unit").strip()
        _check_line_unit(unit, raw)
        flags = tuple(" ".join(f.split()) for f in (match.group("flags") or "").split(","))
        flags = flags if match.group("flags") is not None else ()
        unknown = [f for f in flags if f not in FLAGS]
        if unknown:
            raise ExpressionError(f"the flag {unknown[0]!r} is not allowed in {_shown(raw)} "
                                  f"(allowed: {', '.join(sorted(FLAGS))})")
        out.append(EquationLine({"diff": "differential", "sub": "subexpression",
                                 "par": "parameter"}[kind], name, expression, unit, flags,
                                line.strip()))
    return tuple(out)


@dataclass(frozen=True)
class Statement:
    """One checked statement: ``target operator expression`` (``operator``: ``=``,
    ``+=``, ``-=``, ``*=``, ``/=``)."""

    target: str
    operator: str
    expression: str


_STATEMENT = re.compile(r"^\s*(?P<target>[^\s=+\-*/]+)\s*(?P<op>[+\-*/]?=)(?P<expr>[^=].*|)$")


def check_statements(text: str) -> tuple[Statement, ...]:
    """Check statements (``hidden_on_spike``), one per line; blank lines and ``#``
    comments are skipped.

    Raises
    ------
    ExpressionError
        A line is not ``X = EXPR`` or ``X op= EXPR``, or its expression is not allowed.
    """
    out = []
    for raw, line in _code_lines(text, "statements"):
        match = _STATEMENT.match(line)
        if match is None or not match.group("expr").strip():
            raise ExpressionError(f"cannot read {_shown(raw)} as a statement ('x = expression' "
                                  f"or 'x += expression', one per line)")
        target = check_identifier(match.group("target"), f"the variable in {_shown(raw)}")
        expression = match.group("expr").strip()
        try:
            check_expression(expression)
        except ExpressionError as exc:
            raise ExpressionError(f"{exc} in the line {_shown(raw)}") from None
        out.append(Statement(target, match.group("op"), expression))
    return tuple(out)


def _check_line_unit(unit: str, line: str) -> None:
    if unit in ("1", "boolean", "integer"):
        return
    if "^" in unit:  # Brian2's equation units have no '^'
        raise ExpressionError(f"write '**' for a power in the unit of {_shown(line)}")
    try:
        parsed = parse_unit(unit)
    except UnitSyntaxError as exc:
        raise ExpressionError(f"cannot read the unit {unit!r} of {_shown(line)} ({exc})") \
            from None
    known = brian2_units()
    unknown = [n for n in parsed.names() if n not in known]
    if unknown:
        raise ExpressionError(f"{unknown[0]!r} in {_shown(line)} is not a Brian2 unit "
                              f"(e.g. 1, ms, mV, Hz, second)")
