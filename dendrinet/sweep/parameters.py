"""Swept parameters: their paths, parsing and applying their values, and run names.

A path names a field of the model or protocol dataclasses
(:class:`~dendrinet.config.ModelConfig`, :class:`~dendrinet.config.ProtocolConfig`):
``hidden``, ``n_outputs`` or ``<table>.<field>`` (``neuron.g_A``, ``learning.eta``) of
the model, ``protocol.<field>`` (``protocol.settle``) of the protocol. The paths are the
declared keys of model and protocol files that a sweep may set
(:data:`~dendrinet.config.MODEL_SETTINGS`, :data:`~dendrinet.config.PROTOCOL_SETTINGS`).
A value is written as in a model or protocol file (``"80 ms"``, ``"0.05 /ms"``) and
parsed by the same reader, in memory: :func:`apply_values` puts the values into the
config's document (the tables a file of it would hold), reads that document with
:func:`~dendrinet.config.model_from_document` /
:func:`~dendrinet.config.protocol_from_document` (every check of a file, across fields
too; no file is written) and sets the parsed values with :func:`dataclasses.replace`.
"""
from __future__ import annotations

import dataclasses
import json
import math
import re

from dendrinet.config import (
    MODEL_SETTINGS,
    PROTOCOL_SETTINGS,
    model_document,
    model_from_document,
    protocol_document,
    protocol_from_document,
)
from dendrinet.errors import ConfigError

__all__ = ["MODEL_PATHS", "PROTOCOL_PATHS", "apply_values", "freeze", "path_problem",
           "run_name_keys", "run_name_part", "value_problem", "value_text"]

#: Sweepable model parameter paths -> (table, key) of the model file.
MODEL_PATHS = {s.path: (s.table, s.key) for s in MODEL_SETTINGS if s.swept}
#: Sweepable protocol parameter paths -> (table, key) of the protocol file.
PROTOCOL_PATHS = {f"protocol.{s.path}": (s.table, s.key) for s in PROTOCOL_SETTINGS
                  if s.swept}
# Fields that describe a file rather than a network (not swept).
_NOT_SWEPT = {s.name for s in (*MODEL_SETTINGS, *PROTOCOL_SETTINGS)
              if not s.swept and s.name != "epochs"} | {"source"}


def path_problem(path: str) -> str | None:
    """Why ``path`` is not a parameter path (with the paths that are), or None."""
    if path in MODEL_PATHS or path in PROTOCOL_PATHS:
        return None
    head = path.split(".", 1)[0]
    if path in ("protocol.epochs", "epochs"):
        hint = "the number of epochs is the sweep's 'epochs'"
    elif path.rsplit(".", 1)[-1] in _NOT_SWEPT:
        hint = "names and descriptions are not swept (make a model/protocol file instead)"
    elif head == "protocol":
        hint = "protocol fields: " + ", ".join(PROTOCOL_PATHS)
    elif head in {p.split(".")[0] for p in MODEL_PATHS if "." in p}:
        hint = f"fields of {head}: " + ", ".join(p for p in MODEL_PATHS
                                                 if p.startswith(head + "."))
    elif head in ("network", "train", "test"):
        hint = ("write the dataclass path: 'hidden', 'n_outputs', 'protocol.settle', "
                "'protocol.test_duration', 'protocol.test_settle', ...")
    else:
        tables = sorted({p.split(".")[0] for p in MODEL_PATHS if "." in p})
        hint = ("model paths are 'hidden', 'n_outputs' or <table>.<field> with table one "
                f"of {', '.join(tables)}; protocol paths are 'protocol.<field>'")
    return f"{path!r} is not a parameter path; {hint}"


def value_problem(value) -> str | None:
    """Why ``value`` cannot be written into a model or protocol file, or None."""
    if isinstance(value, dict):
        return f"a value cannot be a table, got {value!r}"
    if isinstance(value, list):
        return next(filter(None, map(value_problem, value)), None)
    if not isinstance(value, (str, int, float, bool)):
        return f"a value must be a number, a string, true/false or a list, got {value!r}"
    return None


def value_text(value) -> str:
    """``value`` as a TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic strings
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    return "[" + ", ".join(value_text(v) for v in value) + "]"


def apply_values(config, values: dict, kind: str):
    """``config`` (a model or protocol, ``kind``) with ``values`` (path -> value as
    written in the sweep file) parsed, checked and applied, without any file: the
    values replace their keys in the config's document, which is read back by the
    reader of files.

    Raises
    ------
    ConfigError
        A value the model/protocol reader refuses (its message, naming the table and
        key, ``[neuron].g_A: ...``).
    """
    if not values:
        return config
    paths = MODEL_PATHS if kind == "model" else PROTOCOL_PATHS
    document = (model_document if kind == "model" else protocol_document)(config)
    for path, value in values.items():
        table, key = paths[path]
        document.setdefault(table, {})[key] = value
    read = model_from_document if kind == "model" else protocol_from_document
    try:
        parsed = read(document, "", None)
    except ConfigError as exc:
        raise ConfigError(str(exc).lstrip()) from None
    for path in values:
        parts = path.split(".")[1:] if kind == "protocol" else path.split(".")
        config = _replace(config, parts, _get(parsed, parts))
    return config


def _get(config, parts):
    for part in parts:
        config = getattr(config, part)
    return config


def _replace(config, parts, value):
    if len(parts) == 1:
        return dataclasses.replace(config, **{parts[0]: value})
    inner = _replace(getattr(config, parts[0]), parts[1:], value)
    return dataclasses.replace(config, **{parts[0]: inner})


# ------------------------------------------------------------------- names


def freeze(value):
    """A hashable copy of a TOML value (lists become tuples)."""
    return tuple(freeze(v) for v in value) if isinstance(value, (list, tuple)) else value


def run_name_keys(paths) -> dict[str, str]:
    """Path -> its key in run names: the last part (``eta``), or the whole path where
    two swept paths share their last part."""
    last = [p.rsplit(".", 1)[-1] for p in paths]
    return {p: (name if last.count(name) == 1 else p) for p, name in zip(paths, last)}


def _value_label(value) -> str:
    if isinstance(value, (list, tuple)):
        return "-".join(_value_label(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip().replace(" /", "/").replace("/", "_per_")


def run_name_part(text: str, value=None) -> str:
    """One part of a run name: ``text``, or ``text=<value>`` for a swept value (lists
    joined with ``-``, ``/`` read "per"); runs of characters other than letters, digits
    and ``.+=-`` become one ``_``, so ``__`` only separates parts."""
    if value is not None:
        text = f"{text}={_value_label(value)}"
    return re.sub(r"[^A-Za-z0-9.+=-]+", "_", text).strip("._") or "x"
