"""How a key of a model or protocol file is declared, read, checked and written.

Every key is declared once, on the dataclass field it fills, with :func:`setting`: its
table and key in the file, its unit kind (``"time"``, ``"rate"`` or none), its check
(type, bounds, choices), its default and a one-line help. :func:`declared` turns those
fields into :class:`Setting` records, and everything else is derived from them: the
reader (:mod:`dendrinet.config.reader`: keys allowed per table, the value of each key), the writers
(:mod:`dendrinet.config.writer`), the sweep's parameter paths (:mod:`dendrinet.sweep.parameters`), the
dataclass docstrings' ``Attributes`` and the key tables of the documentation
(``docs/_ext/dendrinet_docs.py``).

Units. Dimensional values are written with their unit (``"3 ms"``, ``"0.1 /ms"``,
``"200 Hz"``), read by the grammar of :mod:`dendrinet.config.units` (no ``eval``) and stored as
plain floats in a canonical unit: ms for times, 1/ms for rates and conductances.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import re
from dataclasses import MISSING, dataclass, field
from typing import Any, Callable

from dendrinet.errors import ConfigError
from dendrinet.config.units import UnitSyntaxError, parse_quantity, parse_unit

__all__ = ["Bounds", "KIND_TEXT", "RATE_UNITS", "Setting", "TIME_UNITS", "TableParams",
           "UNIT_KINDS", "check_keys", "declared", "document_settings", "read_label",
           "read_number", "read_quantity", "read_values", "setting", "table_where"]

# Unit tables: factor to the canonical unit (ms, or 1/ms), by spelling. A spelling
# matches every text of the same unit ("/ms", "1/ms", "ms^-1", "1 / ms").
TIME_UNITS = {"ms": 1.0, "s": 1000.0, "us": 1e-3, "second": 1000.0}
RATE_UNITS = {
    "/ms": 1.0, "1/ms": 1.0, "ms^-1": 1.0, "kHz": 1.0,
    "Hz": 1e-3, "/s": 1e-3, "1/s": 1e-3, "s^-1": 1e-3,
}
#: Unit kind -> (spellings, canonical unit as written by the writers).
UNIT_KINDS = {"time": (TIME_UNITS, "ms"), "rate": (RATE_UNITS, "/ms")}

#: Longest name or description of a model or protocol.
MAX_LABEL = 1000

_SETTING = "dendrinet.setting"  # the key of a declaration in a dataclass field's metadata


# ------------------------------------------------------------------ values


@functools.cache
def _by_powers(units: tuple[tuple[str, float], ...]) -> dict:
    """A unit table keyed by each spelling's ``(name, power)`` pairs."""
    return {parse_unit(text).powers(): factor for text, factor in units}


def read_quantity(value: Any, kind: str, where: str) -> float:
    """``"3 ms"`` as a float in the canonical unit of ``kind`` (``"time"``: ms,
    ``"rate"``: 1/ms); the number times the unit's factor, so ``"3 ms"`` is exactly 3.0
    and ``"0.1 /ms"`` exactly 0.1."""
    units = UNIT_KINDS[kind][0]
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


def read_number(value: Any, where: str) -> float:
    """A finite TOML number as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{where}: must be finite, got {value!r}")
    return float(value)


def read_label(value: Any, where: str, lines: bool = False) -> str:
    """A name (one line) or description (lines) of printable text: shown in messages,
    reports and terminals (no control characters, such as terminal escapes), and never
    written into code."""
    if isinstance(value, (dict, list)):
        raise ConfigError(f"{where}: expected text, got {type(value).__name__}")
    text = str(value)
    parts = text.split("\n") if lines else [text]
    if not all(part.replace("\t", " ").isprintable() for part in parts) \
            or len(text) > MAX_LABEL:
        raise ConfigError(f"{where}: expected printable text without control characters "
                          f"(at most {MAX_LABEL} characters), got {text[:60]!r}")
    return text


def check_keys(table: dict, allowed, where: str) -> None:
    """Refuse the keys of ``table`` that are not in ``allowed``, naming them."""
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )


def table_where(where: str, table: str) -> str:
    """``"m.toml [neuron]"``; ``"[neuron]"`` for a document that is no file (``where``
    empty: a sweep's values)."""
    return f"{where} [{table}]".lstrip()


@dataclass(frozen=True)
class Bounds:
    """The values a number may take: ``low``/``high`` (None: unbounded), each end open
    or closed; ``reason`` is the message when a value falls outside."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    reason: str = ""

    def holds(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else
                                     value <= self.high)

    def text(self) -> str:
        """The bounds in symbols: ``> 0``, ``>= 0``, ``in [0, 1)``."""
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.low is None:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return (f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}"
                f"{')' if self.high_open else ']'}")

    def message(self) -> str:
        if self.reason:
            return self.reason
        return "must be positive" if (self.low, self.low_open, self.high) == (0, True, None) \
            else f"must be {self.text()}"


# ---------------------------------------------------------------- settings

#: What each kind of value is, in words (the docs' "type" column).
KIND_TEXT = {
    "number": "number", "integer": "integer", "bool": "``true`` / ``false``",
    "text": "string", "lines": "string", "choice": "string", "numbers": "array of numbers",
    "integers": "array of integers", "expression": "string (expression)",
    "equation lines": "string (equation lines)", "statements": "string (statements)",
    "rule": "string",
    "parameters": "table ``[equations.parameters]``: name = number or quantity",
}


@dataclass(frozen=True)
class Setting:
    """One key of a model or protocol file, as declared on its dataclass field.

    Attributes
    ----------
    name : str
        The dataclass field it fills.
    table, key : str
        Where it is written in a file: ``[table] key = ...``.
    kind : str
        What the value is (a key of :data:`KIND_TEXT`).
    unit : str or None
        ``"time"`` (stored in ms), ``"rate"`` (stored in 1/ms) or None (dimensionless).
    help : str
        One line on what it does.
    default : object
        The dataclass default (``dataclasses.MISSING`` where the reader supplies it).
    bounds : Bounds or None
        The numbers it may take (each element of a list).
    choices : tuple of str
        The values a ``"choice"`` may take.
    parse : callable or None
        ``parse(raw, where)`` for values checked by the model's own code (equation text,
        rules); it returns the value to store.
    swept : bool
        Whether a sweep may set it (names and descriptions, and a protocol's epochs, are
        not swept).
    omit_default : bool
        Leave it out of written files where it has its default (files of models that do
        not use it stay as they were).
    path : str
        Its dotted path from the config object: ``neuron.g_A``, ``hidden``, ``settle``.
    """

    name: str
    table: str
    key: str
    kind: str
    unit: str | None
    help: str
    default: Any
    bounds: Bounds | None = None
    choices: tuple[str, ...] = ()
    parse: Callable[[Any, str], Any] | None = None
    swept: bool = True
    omit_default: bool = False
    path: str = ""

    # ------------------------------------------------------------- reading

    def read(self, raw: Any, where: str) -> Any:
        """The stored value of ``raw`` (as in a TOML file), checked; ``where`` names the
        key in messages (``"m.toml [neuron].g_A"``)."""
        if self.parse is not None:
            return self.parse(raw, where)
        kind = self.kind
        if kind == "number":
            value = read_quantity(raw, self.unit, where) if self.unit else \
                read_number(raw, where)
            return self._bounded(value, where)
        if kind == "integer":
            if isinstance(raw, bool) or not isinstance(raw, int) or \
                    (self.bounds and not self.bounds.holds(raw)):
                reason = self.bounds.message() if self.bounds else "expected an integer"
                raise ConfigError(f"{where}: {reason}")
            return raw
        if kind == "bool":
            if not isinstance(raw, bool):
                raise ConfigError(f"{where}: expected true or false")
            return raw
        if kind in ("text", "lines"):
            return read_label(raw, where, lines=kind == "lines")
        if kind == "choice":
            if not isinstance(raw, str) or raw not in self.choices:
                raise ConfigError(f"{where}: {raw!r} is not one of {', '.join(self.choices)}")
            return raw
        if kind == "numbers":
            if isinstance(raw, (int, float)) and not isinstance(raw, bool):
                raw = [raw]  # one number for a one-layer list
            if not isinstance(raw, list) or not raw:
                raise ConfigError(f"{where}: expected a list of numbers")
            return tuple(self._bounded(read_number(v, where), where) for v in raw)
        if kind == "integers":
            if not isinstance(raw, list) or any(
                    isinstance(v, bool) or not isinstance(v, int) or
                    (self.bounds and not self.bounds.holds(v)) for v in raw):
                reason = self.bounds.message() if self.bounds else "expected integers"
                raise ConfigError(f"{where}: {reason}")
            return tuple(raw)
        raise TypeError(f"no reader for kind {kind!r} of {self.path}")  # a declaration bug

    def _bounded(self, value: float, where: str) -> float:
        if self.bounds is not None and not self.bounds.holds(value):
            raise ConfigError(f"{where}: {self.bounds.message()}, got {value!r}")
        return value

    # ------------------------------------------------------------- writing

    def write(self, value: Any) -> Any:
        """``value`` (as stored) as it is written in a file, or None to leave the key
        out (no value; or the default of an ``omit_default`` setting)."""
        if value is None or (self.omit_default and value == self.default):
            return None
        if self.unit is not None:
            return f"{value!r} {UNIT_KINDS[self.unit][1]}"
        if self.kind == "parameters":
            return dict(value) or None
        if isinstance(value, tuple):
            return list(value)
        return value

    # ----------------------------------------------------------- documents

    def type_text(self) -> str:
        """What a file writes for this key (the docs' "type and unit")."""
        if self.unit == "time":
            return "time, e.g. ``\"3 ms\"``"
        if self.unit:  # the other unit kind (no string compared: "rate" names an engine)
            return "rate, e.g. ``\"0.1 /ms\"``, ``\"200 Hz\"``"
        text = KIND_TEXT[self.kind]
        if self.kind == "choice":
            text += ": " + ", ".join(f"``{c}``" for c in self.choices)
        return text + (", optional" if self.default is None else "")

    def check_text(self) -> str:
        """The check of the value, in words (the docs' "check")."""
        return self.bounds.text() if self.bounds is not None else ""


def setting(default: Any = MISSING, help: str = "", *, kind: str = "number",  # noqa: A002
            unit: str | None = None, bounds: Bounds | None = None,
            choices: tuple[str, ...] = (), table: str | None = None, key: str | None = None,
            parse: Callable[[Any, str], Any] | None = None, swept: bool = True,
            omit_default: bool = False):
    """A dataclass field declared as a key of a model or protocol file (the one place
    that says its table, key, unit, check, default and help; see :class:`Setting`).
    ``table`` defaults to the class's ``TABLE``, ``key`` to the field's name."""
    if unit not in (None, *UNIT_KINDS):
        raise ValueError(f"unit kind {unit!r} is not one of {', '.join(UNIT_KINDS)}")
    if kind not in KIND_TEXT:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(KIND_TEXT)}")
    declaration = dict(help=help, kind=kind, unit=unit, bounds=bounds, choices=choices,
                       table=table, key=key, parse=parse, swept=swept,
                       omit_default=omit_default)
    return field(default=default, metadata={_SETTING: declaration})


@functools.cache
def declared(cls: type, prefix: str = "") -> tuple[Setting, ...]:
    """The settings declared on the fields of dataclass ``cls``, in field order; their
    paths start with ``prefix`` (``"neuron."``)."""
    out = []
    for f in dataclasses.fields(cls):
        meta = f.metadata.get(_SETTING)
        if meta is None:
            continue
        meta = dict(meta)
        table = meta.pop("table") or cls.TABLE
        key = meta.pop("key") or f.name
        out.append(Setting(name=f.name, table=table, key=key, default=f.default,
                           path=prefix + f.name, **meta))
    return tuple(out)


def _rst(text: str) -> str:
    """Plain help text made safe in a reStructuredText docstring (``*``, backquotes,
    ``|`` and a word's trailing ``_`` are markup there)."""
    return re.sub(r"(\w)_(?!\w)", r"\1\\_", re.sub(r"([\\`*|])", r"\\\1", text))


def document_settings(cls: type) -> type:
    """Class decorator: append an ``Attributes`` section, written from the declared
    settings (help, unit), to the docstring of dataclass ``cls``, so the API pages show
    the declarations and no second description of a key is kept by hand."""
    lines = ["Attributes", "----------"]
    types = {f.name: f.type for f in dataclasses.fields(cls)}
    for s in declared(cls):
        unit = {"time": ", ms", "rate": ", 1/ms"}.get(s.unit or "", "")
        lines += [f"{s.name} : {types[s.name]}{unit}", f"    {_rst(s.help)}"]
    cls.__doc__ = inspect.cleandoc(cls.__doc__ or "") + "\n\n" + "\n".join(lines) + "\n"
    return cls


def read_values(settings, table: dict, where: str) -> dict[str, Any]:
    """The values of the keys of one file ``table`` (``where``: ``"m.toml [neuron]"``),
    each read and checked by its setting, by field name; unknown keys refused."""
    by_key = {s.key: s for s in settings}
    check_keys(table, by_key, where)
    return {by_key[key].name: by_key[key].read(raw, f"{where}.{key}")
            for key, raw in table.items()}


class TableParams:
    """Base of a dataclass that is one table of a file (its ``TABLE``): read with
    :meth:`from_table`, then checked across fields by :meth:`check`."""

    TABLE = ""

    @classmethod
    def from_table(cls, table: dict, where: str):
        """The dataclass of a file table (``where``: ``"m.toml [neuron]"``, for messages)."""
        params = cls(**read_values(declared(cls), table, where))
        params.check(where)
        return params

    def check(self, where: str) -> None:
        """Checks across fields (each field's own check ran when it was read)."""
