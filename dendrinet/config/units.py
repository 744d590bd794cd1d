"""Quantities and units written in model and protocol files, read by one small grammar.

Every value with a unit in a model or protocol file (``[neuron]``, ``[protocol]``,
``[train]``, ``[test]`` and ``[equations.parameters]``) and the unit of an equation
line (``dw/dt = ... : 1``) is read here, without ``eval``::

    quantity := number [unit]             "100 ms", "0.05 /ms", "2 mV", "1/second"
    unit     := ['/'] product             a leading '/' means 1/...
    product  := power (('*' | '/') power)*
    power    := atom [('^' | '**') integer]   an integer power, |p| <= 10
    atom     := NAME | '1' | '(' product ')'

``number`` is a decimal number (``3``, ``-0.5``, ``1e-3``); spaces between tokens are
ignored. A NAME is only a key: the caller looks it up in its own table (the time and
rate units of :mod:`dendrinet.config`, or Brian2's unit objects, :func:`brian2_units`).
Nothing in the text is ever executed: the parser builds a small tree, and
:meth:`UnitExpression.evaluate` applies ``*``, ``/`` and ``**`` to the table's values in
the order Python would for the same text (so ``"0.05 /ms"`` gives exactly ``0.05 *
(1/ms)``, as the ``eval`` this replaces did).
"""
from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_POWER", "Quantity", "UnitExpression", "UnitSyntaxError", "brian2_units",
           "parse_quantity", "parse_unit"]

#: Largest integer power a unit may be raised to (``"metre^3"``).
MAX_POWER = 10
#: Longest quantity or unit text read (longer text is refused before it is parsed).
MAX_LENGTH = 200

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<int>[-+]?\d+)"
                    r"|(?P<op>\*\*|\^|\*|/|\(|\)))")


class UnitSyntaxError(ValueError):
    """Text that is not a quantity or a unit of the grammar (the message says why)."""


@dataclass(frozen=True)
class UnitExpression:
    """A parsed unit: a tree of ``("name", str)``, ``("one",)``, ``("*" | "/", left,
    right)`` and ``("**", base, int)`` nodes, and the text it was read from."""

    tree: tuple
    text: str

    def names(self) -> tuple[str, ...]:
        """The unit names used, in the order written."""
        return tuple(_names(self.tree))

    def powers(self) -> tuple[tuple[str, int], ...]:
        """The unit as sorted ``(name, power)`` pairs, zero powers dropped: ``"/ms"``,
        ``"1/ms"`` and ``"ms^-1"`` all give ``(("ms", -1),)``."""
        out: dict[str, int] = {}
        _collect(self.tree, 1, out)
        return tuple(sorted((n, p) for n, p in out.items() if p))

    def evaluate(self, table: dict[str, Any]) -> Any:
        """The unit's value with each name looked up in ``table`` (``KeyError`` for a
        name it lacks), computed in the order Python evaluates the same expression."""
        return _evaluate(self.tree, table)


@dataclass(frozen=True)
class Quantity:
    """A number and its unit (``None``: a plain number)."""

    number: float
    unit: UnitExpression | None


def parse_quantity(text: str) -> Quantity:
    """Read ``"100 ms"``, ``"0.05 /ms"``, ``"2 mV"``, ``"1/second"`` or ``"0.5"``.

    Raises
    ------
    UnitSyntaxError
        The text does not follow the grammar of the module docstring, or the number is
        not finite.
    """
    text = _checked_text(text)
    match = _NUMBER.match(text.strip())
    if match is None:
        raise UnitSyntaxError("expected a number first, e.g. '100 ms'")
    number = float(match.group(0))
    if not math.isfinite(number):
        raise UnitSyntaxError(f"the number {match.group(0)!r} is not finite")
    rest = text.strip()[match.end():]
    return Quantity(number, parse_unit(rest) if rest.strip() else None)


def parse_unit(text: str) -> UnitExpression:
    """Read a unit (``"ms"``, ``"/ms"``, ``"1/second"``, ``"mV^-1"``, ``"metre**2"``).

    Raises
    ------
    UnitSyntaxError
        The text does not follow the grammar of the module docstring.
    """
    text = _checked_text(text)
    tokens = _tokens(text)  # first: a character not allowed is the clearest reason
    if len(text) > MAX_LENGTH:  # bounds the nesting the parser recurses into
        raise UnitSyntaxError(f"the unit is longer than {MAX_LENGTH} characters")
    if tokens and tokens[0] == ("op", "/"):  # "/ms" is 1/ms
        tokens.insert(0, ("int", "1"))
    parser = _Parser(tokens)
    tree = parser.product()
    if parser.position != len(tokens):
        kind, value = tokens[parser.position]
        raise UnitSyntaxError(f"unexpected {value!r} in the unit {text.strip()!r}")
    return UnitExpression(tree, text.strip())


@functools.cache
def brian2_units() -> dict[str, Any]:
    """Brian2's unit objects by name (``ms``, ``mV``, ``Hz``, ``metre``, ...): the table
    of names a unit of ``[equations.parameters]`` or of an equation line may use."""
    import brian2
    from brian2.units.fundamentalunits import Unit

    return {name: value for name, value in vars(brian2).items() if isinstance(value, Unit)}


# ----------------------------------------------------------------------- internals


def _checked_text(text: Any) -> str:
    if not isinstance(text, str):
        raise UnitSyntaxError(f"expected text, got {type(text).__name__}")
    if not text.isascii() or not text.isprintable():
        raise UnitSyntaxError("only printable ASCII characters are allowed")
    return text


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text):
        if not text[position:].strip():
            break
        match = _TOKEN.match(text, position)
        if match is None:
            bad = text[position:].strip()[:1]
            raise UnitSyntaxError(f"{bad!r} is not allowed in a unit (use unit names, "
                                  f"*, /, ^ and integer powers)")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        position = match.end()
    if not tokens:
        raise UnitSyntaxError("the unit is empty")
    return tokens


class _Parser:
    """Recursive descent over the tokens (the text is at most MAX_LENGTH characters, so
    the nesting of parentheses is bounded)."""

    def __init__(self, tokens):
        self.tokens, self.position = tokens, 0

    def peek(self):
        return self.tokens[self.position] if self.position < len(self.tokens) else (None, None)

    def take(self):
        token = self.peek()
        if token[0] is None:
            raise UnitSyntaxError("the unit ends too early")
        self.position += 1
        return token

    def product(self):
        tree = self.power()
        while self.peek() in (("op", "*"), ("op", "/")):
            op = self.take()[1]
            tree = (op, tree, self.power())
        return tree

    def power(self):
        tree = self.atom()
        if self.peek() in (("op", "^"), ("op", "**")):
            self.take()
            parenthesised = self.peek() == ("op", "(")
            if parenthesised:
                self.take()
            kind, value = self.take()
            if kind != "int":
                raise UnitSyntaxError(f"a unit's power must be an integer, got {value!r}")
            if parenthesised and self.peek() != ("op", ")"):
                raise UnitSyntaxError("missing ')' after a power")
            if parenthesised:
                self.take()
            if abs(int(value)) > MAX_POWER:
                raise UnitSyntaxError(f"the power {value} is out of range "
                                      f"(-{MAX_POWER}..{MAX_POWER})")
            tree = ("**", tree, int(value))
        return tree

    def atom(self):
        kind, value = self.take()
        if kind == "name":
            return ("name", value)
        if kind == "int" and value == "1":
            return ("one",)
        if (kind, value) == ("op", "("):
            tree = self.product()
            if self.peek() != ("op", ")"):
                raise UnitSyntaxError("missing ')'")
            self.take()
            return tree
        raise UnitSyntaxError(f"unexpected {value!r} in a unit (expected a unit name)")


def _names(tree):
    if tree[0] == "name":
        yield tree[1]
    elif tree[0] in ("*", "/", "**"):
        yield from _names(tree[1])
        if tree[0] != "**":
            yield from _names(tree[2])


def _collect(tree, sign, out):
    if tree[0] == "name":
        out[tree[1]] = out.get(tree[1], 0) + sign
    elif tree[0] == "**":
        inner: dict[str, int] = {}
        _collect(tree[1], 1, inner)
        for name, power in inner.items():
            out[name] = out.get(name, 0) + sign * power * tree[2]
    elif tree[0] in ("*", "/"):
        _collect(tree[1], sign, out)
        _collect(tree[2], sign if tree[0] == "*" else -sign, out)


def _evaluate(tree, table):
    kind = tree[0]
    if kind == "name":
        return table[tree[1]]
    if kind == "one":
        return 1
    if kind == "**":
        return _evaluate(tree[1], table) ** tree[2]
    left, right = _evaluate(tree[1], table), _evaluate(tree[2], table)
    return left * right if kind == "*" else left / right
