"""Reading model and protocol files: names of shipped files, ``extends``, documents.

A file is read into a *document* (its tables, every base it extends merged in), and a
document into a dataclass by :func:`model_from_document` / :func:`protocol_from_document`,
each key by its declaration (:mod:`dendrinet.config.fields`). A sweep builds its variants from a document
in memory through the same two functions (:mod:`dendrinet.sweep.parameters`), so a value
is checked the same way whether it comes from a file or a sweep.
"""
from __future__ import annotations

import tomllib
from dataclasses import replace
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from dendrinet import resources
from dendrinet.config import limits
from dendrinet.config.fields import check_keys, read_values, table_where
from dendrinet.config.model import (
    MODEL_SETTINGS,
    MODEL_TABLES,
    RULE_PATH,
    ModelConfig,
    check_equations,
    check_layers,
    check_rule_variables,
    check_synapse_names,
)
from dendrinet.config.protocol import (
    PROTOCOL_SETTINGS,
    PROTOCOL_TABLES,
    RENAMED_PROTOCOLS,
    ProtocolConfig,
)
from dendrinet.errors import ConfigError

__all__ = ["config_file", "file_keys", "load_model", "load_protocol", "model_from_document",
           "merge", "protocol_from_document", "read_document"]


def file_keys(kind: str) -> dict[str, set[str]]:
    """Table -> the keys a ``kind`` (``"model"``/``"protocol"``) file may hold there."""
    settings = MODEL_SETTINGS if kind == "model" else PROTOCOL_SETTINGS
    tables = MODEL_TABLES if kind == "model" else PROTOCOL_TABLES
    return {table: {s.key for s in settings if s.table == table} for table in tables}


def _table(doc: dict, key: str, where: str) -> dict:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{table_where(where, key)}: must be a table")
    return value


# --------------------------------------------------------------------------- model


def load_model(path_or_name: str | Path) -> ModelConfig:
    """Read a model file.

    Parameters
    ----------
    path_or_name : str or Path
        A file path, or the name of a shipped model (``dendrinet models`` lists them).
        The file may extend another (``extends = "guerguiev2017-1hidden"``, see
        :mod:`dendrinet.config`).

    Returns
    -------
    ModelConfig
    """
    source = config_file(path_or_name, "model")
    doc, where = read_document(source, "model")
    return model_from_document(doc, where, source)


def model_from_document(doc: dict, where: str, source: Traversable | None) -> ModelConfig:
    """The model of a document (the tables of a model file, bases merged in), every key
    read and checked by its declaration.

    Parameters
    ----------
    doc : dict
        Table -> key -> value, as :mod:`tomllib` reads a file.
    where : str
        Names the document in messages (``"m.toml (extending ...)"``; ``""`` for a
        document that is no file).
    source : Traversable or None
        The file (a user rule's path is relative to its folder; its name is the default
        name); None: the document names the model and holds no relative rule path.
    """
    check_keys(doc, MODEL_TABLES, where or "model")
    values: dict[str, Any] = {}
    for table in ("model", "network"):
        settings = [s for s in MODEL_SETTINGS if s.table == table and "." not in s.path]
        given = dict(_table(doc, table, where))
        if table == "model" and source is not None:
            given.setdefault("name", Path(source.name).stem)
        values.update(read_values(settings, given, table_where(where, table)))
    hidden = values.get("hidden", ModelConfig.hidden)
    limits.check_network_size(hidden, values.get("n_outputs", ModelConfig.n_outputs),
                              where)  # the memory check comes later
    for table, cls in MODEL_TABLES.items():
        if cls is not None:
            here = table_where(where, table)
            values[table] = cls.from_table(_table(doc, table, where), here)
    model = ModelConfig(**values)
    check_equations(model, where)
    rule = _resolve_rule(model.learning.rule, source, where)
    model = replace(model, learning=replace(model.learning, rule=rule), source=where)
    check_layers(model, where)
    check_rule_variables(model, where)
    check_synapse_names(model, where)
    return model


def _resolve_rule(rule: str, source: Traversable | None, where: str) -> str:
    """A user rule ``file.py:function`` with ``file.py`` made absolute (relative paths
    are relative to the model file's folder); shipped names unchanged."""
    match = RULE_PATH.match(rule)
    if match is None:
        return rule
    path = Path(match.group(1)).expanduser()
    here = f"{table_where(where, 'learning')}.rule"
    if not path.is_absolute():
        if not isinstance(source, Path):
            raise ConfigError(f"{here}: a shipped model cannot name a file relative to "
                              f"itself ({rule!r})")
        path = source.parent / path
    if not path.is_file():
        raise ConfigError(f"{here}: {path} does not exist (the rule {rule!r} names a Python "
                          f"file, relative to the model file)")
    return f"{path.resolve()}:{match.group(2)}"


# ------------------------------------------------------------------------ protocol


def load_protocol(path_or_name: str | Path) -> ProtocolConfig:
    """Read a protocol file.

    Parameters
    ----------
    path_or_name : str or Path
        A file path, or the name of a shipped protocol (``dendrinet protocols`` lists
        them). The file may extend another (``extends = "paper-timing"``).

    Returns
    -------
    ProtocolConfig
    """
    source = config_file(path_or_name, "protocol")
    doc, where = read_document(source, "protocol")
    return protocol_from_document(doc, where, source)


def protocol_from_document(doc: dict, where: str,
                           source: Traversable | None) -> ProtocolConfig:
    """The protocol of a document (the tables of a protocol file, bases merged in), every
    key read and checked by its declaration (``where`` and ``source`` as in
    :func:`model_from_document`)."""
    check_keys(doc, PROTOCOL_TABLES, where or "protocol")
    values: dict[str, Any] = {}
    for table in PROTOCOL_TABLES:
        settings = [s for s in PROTOCOL_SETTINGS if s.table == table]
        values.update(read_values(settings, _table(doc, table, where),
                                  table_where(where, table)))
    if source is not None:
        values.setdefault("name", Path(source.name).stem)
    protocol = ProtocolConfig(**values)
    protocol.check(where)
    return protocol


# ------------------------------------------------------------------- files, extends


def _shipped(kind: str) -> dict[str, Traversable]:
    return resources.model_files() if kind == "model" else resources.protocol_files()


def config_file(path_or_name: str | Path, kind: str) -> Traversable:
    """The file :func:`load_model` (``kind="model"``) or :func:`load_protocol`
    (``kind="protocol"``) reads for ``path_or_name``: an existing file, else the shipped
    file of that name. A file that extends another is returned as it is (use
    :func:`~dendrinet.config.model_to_toml` / :func:`~dendrinet.config.protocol_to_toml`
    of the loaded config for a self-contained copy)."""
    path = Path(path_or_name)
    if path.is_file():
        return path
    shipped = _shipped(kind)
    if str(path_or_name) in shipped:
        return shipped[str(path_or_name)]
    available = ", ".join(shipped) or "none"
    old = path.stem if path.suffix == ".toml" else str(path_or_name)  # a name or an old path
    if kind == "protocol" and old in RENAMED_PROTOCOLS:
        new_name, change = RENAMED_PROTOCOLS[old]
        raise ConfigError(f"protocol {str(path_or_name)!r} was renamed {new_name!r} in "
                          f"dendrinet 0.3 ({change}); the protocol called 'guerguiev2017' "
                          f"before is now 'paper-timing'")
    raise ConfigError(f"{kind} file {str(path_or_name)!r} not found (neither a file nor the "
                      f"name of a shipped {kind}; available: {available})")


_OWN_KEYS = ("name", "description")  # of [model] / [protocol]: describe one file, not inherited


def read_document(source: Traversable, kind: str) -> tuple[dict, str]:
    """(document with every base merged in, ``where`` for messages) of a file."""
    doc, chain = _read_extending(source, kind, ())
    where = source.name
    if len(chain) > 1:
        where += " (extending " + ", ".join(f.name for f in chain[1:]) + ")"
    return doc, where


def _identity(source: Traversable) -> str:
    return str(source.resolve()) if isinstance(source, Path) else str(source)


def _read_extending(source: Traversable, kind: str,
                    seen: tuple[Traversable, ...]) -> tuple[dict, list[Traversable]]:
    """The document of ``source`` merged over its bases, and the files read (``source``
    first). Keys are checked per file, so an unknown key names its own file."""
    if _identity(source) in {_identity(s) for s in seen}:
        first = [_identity(s) for s in seen].index(_identity(source))
        cycle = " -> ".join(str(s) for s in (*seen[first:], source))
        raise ConfigError(f"{seen[-1].name}: 'extends' makes a cycle: {cycle}")
    doc = _read_toml(source)
    where = source.name
    schema = file_keys(kind)
    check_keys(doc, set(schema) | {"extends"}, where)
    for name, allowed in schema.items():
        check_keys(_table(doc, name, where), allowed, f"{where} [{name}]")
    extends = doc.pop("extends", None)
    if extends is None:
        return doc, [source]
    if not isinstance(extends, str) or not extends.strip():
        raise ConfigError(f"{where}: extends: expected the name of a shipped {kind} or a file "
                          f"path, got {extends!r}")
    base_source = _find_base(extends, source, kind, where)
    base, chain = _read_extending(base_source, kind, (*seen, source))
    for key in _OWN_KEYS:
        base.get(kind, {}).pop(key, None)
    return merge(base, doc), [source, *chain]


def _find_base(extends: str, source: Traversable, kind: str, where: str) -> Traversable:
    """The file named by ``extends`` in ``source``: a path (relative to ``source``'s
    folder), else a shipped name."""
    candidate = Path(extends).expanduser()
    if not candidate.is_absolute() and isinstance(source, Path):
        candidate = source.parent / candidate
    if (candidate.is_absolute() or isinstance(source, Path)) and candidate.is_file():
        return candidate
    shipped, name = _shipped(kind), extends.removesuffix(".toml")
    if name in shipped:
        return shipped[name]
    raise ConfigError(f"{where}: extends = {extends!r} is neither a file ({candidate}) nor "
                      f"the name of a shipped {kind} (available: {', '.join(shipped)})")


def merge(base: dict, child: dict) -> dict:
    """``child`` over ``base``: tables merge key by key, other values replace (what
    ``extends`` does, and a sweep's values over their config's document)."""
    out = dict(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_toml(source: Traversable) -> dict:
    try:
        return tomllib.loads(source.read_bytes().decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot be read ({exc.strerror})") from None
