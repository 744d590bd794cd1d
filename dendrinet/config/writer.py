"""Writing models and protocols back as documents and TOML files that read back equal.

A config becomes a *document* (table -> key -> value as in a file: times as ``"3.0 ms"``,
rates as ``"0.1 /ms"``), each key written by its declaration (:mod:`dendrinet.config.fields`); the TOML
writers serialise that document. The reader reads it back to an equal dataclass (floats
are written with ``repr``, which round-trips exactly).
"""
from __future__ import annotations

import json
import numbers
from typing import Any

from dendrinet.config.model import MODEL_SETTINGS, ModelConfig
from dendrinet.config.protocol import PROTOCOL_SETTINGS, ProtocolConfig

__all__ = ["model_document", "model_to_toml", "protocol_document", "protocol_to_toml",
           "toml_value"]


def _document(config, settings) -> dict[str, dict]:
    doc: dict[str, dict] = {}
    for s in settings:
        value = config
        for part in s.path.split("."):
            value = getattr(value, part)
        table = doc.setdefault(s.table, {})
        written = s.write(value)
        if written is not None:
            table[s.key] = written
    return doc


def model_document(model: ModelConfig) -> dict[str, dict]:
    """``model`` as the tables of a model file (what :func:`model_to_toml` writes)."""
    return _document(model, MODEL_SETTINGS)


def protocol_document(protocol: ProtocolConfig) -> dict[str, dict]:
    """``protocol`` as the tables of a protocol file (what :func:`protocol_to_toml`
    writes)."""
    return _document(protocol, PROTOCOL_SETTINGS)


def toml_value(value: Any) -> str:
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
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _toml_tables(tables: dict[str, dict], prefix: str = "") -> list[str]:
    """Each table as ``[name]`` and its keys, its subtables (``[equations.parameters]``)
    after it."""
    lines = []
    for name, table in tables.items():
        lines.append(f"[{prefix}{name}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in table.items()
                  if not isinstance(value, dict)]
        lines.append("")
        subtables = {k: v for k, v in table.items() if isinstance(v, dict)}
        lines += _toml_tables(subtables, f"{prefix}{name}.")
    return lines


def model_to_toml(model: ModelConfig) -> str:
    """A model file that :func:`~dendrinet.config.load_model` reads back to ``model``
    (equal dataclasses).

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
    return "# written by dendrinet.config.model_to_toml\n" + \
        "\n".join(_toml_tables(model_document(model)))


def protocol_to_toml(protocol: ProtocolConfig) -> str:
    """A protocol file that :func:`~dendrinet.config.load_protocol` reads back to
    ``protocol`` (times in ms).

    Parameters
    ----------
    protocol : ProtocolConfig
        The protocol to write.

    Returns
    -------
    str
        The text of a TOML protocol file.
    """
    return "# written by dendrinet.config.protocol_to_toml\n" + \
        "\n".join(_toml_tables(protocol_document(protocol)))
