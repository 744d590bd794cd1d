"""Sphinx directives that generate parts of the dendrinet documentation from the code.

Nothing here holds documentation of its own: every table is read, at build time, from
the objects that define the behaviour, so the pages cannot drift from the code.

``.. dendrinet-model-keys::``
    One table per section of a model file: key, type and unit, default, meaning. The
    sections and their keys come from ``dendrinet.config._MODEL_TABLES``, the dataclass
    behind each section from the fields of :class:`dendrinet.config.ModelConfig`, units
    from ``NeuronParams._UNITS``, defaults from the dataclass defaults, meanings from
    the numpydoc ``Attributes`` sections of the dataclass docstrings, else from the
    comment after the key in the shipped base model file.
``.. dendrinet-protocol-keys::``
    The same for protocol files (``dendrinet.config._PROTOCOL_KEYS``,
    ``ProtocolConfig._TIMES``).
``.. dendrinet-units::``
    The unit spellings a file may use (``_TIME_UNITS``, ``_RATE_UNITS``).
``.. dendrinet-shipped:: models|protocols``
    The shipped files: name, what it extends, description.
``.. dendrinet-cli::``
    The reference of every subcommand, walked from ``dendrinet.cli.build_parser()``.
``.. dendrinet-docstring:: module.name``
    A module's docstring, parsed as reStructuredText (without numpydoc's mangling).

A key the generator cannot place (a dataclass field that no file key sets, or a file
key without a field) stops the build with an error naming it.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import re
import tomllib

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.errors import ExtensionError
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

logger = logging.getLogger(__name__)

_RST_SPECIAL = re.compile(r"([\\`*|_])")


def escape(text: str) -> str:
    """Plain text made safe for reStructuredText inline markup."""
    return _RST_SPECIAL.sub(r"\\\1", str(text))


def one_line(text: str) -> str:
    return " ".join(str(text).split())


# ----------------------------------------------------------------- docstrings


def attribute_docs(cls) -> dict[str, str]:
    """Field name -> description from the numpydoc ``Attributes`` section of ``cls``
    (``a, b : float`` entries give both names the description)."""
    from numpydoc.docscrape import NumpyDocString

    doc = inspect.getdoc(cls) or ""
    try:
        parsed = NumpyDocString(doc)
    except Exception:  # noqa: BLE001 - a docstring numpydoc cannot read gives no entries
        return {}
    out = {}
    for entry in parsed["Attributes"]:
        text = one_line(" ".join(entry.desc))
        for name in entry.name.split(","):
            out[name.strip()] = text
    return out


def class_prose(cls) -> str:
    """The summary and extended summary of a class docstring (numpydoc sections cut)."""
    from numpydoc.docscrape import NumpyDocString

    try:
        parsed = NumpyDocString(inspect.getdoc(cls) or "")
    except Exception:  # noqa: BLE001
        return ""
    parts = [" ".join(parsed["Summary"])] + ["\n".join(parsed["Extended Summary"])]
    return "\n\n".join(p for p in parts if p.strip())


def toml_comments(text: str) -> dict[tuple[str, str], str]:
    """(section, key) -> the comment after ``key = value`` in a TOML file."""
    out = {}
    section = ""
    for line in text.splitlines():
        stripped = line.strip()
        header = re.match(r"^\[([^\]]+)\]", stripped)
        if header:
            section = header.group(1).strip()
            continue
        match = re.match(r"^([A-Za-z0-9_-]+)\s*=\s*(.*)$", stripped)
        if not match or "#" not in match.group(2):
            continue
        rest = match.group(2)
        for i, char in enumerate(rest):  # the first '#' that ends a valid TOML value
            if char != "#":
                continue
            try:
                tomllib.loads("x = " + rest[:i])
            except tomllib.TOMLDecodeError:
                continue
            comment = rest[i + 1:].strip()
            if comment:
                out[(section, match.group(1))] = comment
            break
    return out


# ----------------------------------------------------------------- key tables


def _type_text(annotation: str, unit_kind: str | None) -> str:
    """What a TOML file writes for a field: its TOML type, and the unit if any."""
    annotation = str(annotation).replace(" ", "")
    if unit_kind == "time":
        return "time, e.g. ``\"3 ms\"``"
    if unit_kind == "rate":
        return "rate, e.g. ``\"0.1 /ms\"``, ``\"200 Hz\"``"
    optional = "|None" in annotation
    base = annotation.replace("|None", "")
    names = {"float": "number", "int": "integer", "bool": "``true`` / ``false``",
             "str": "string", "tuple[float,...]": "array of numbers",
             "tuple[int,...]": "array of integers",
             "tuple[tuple[str,str],...]": "table ``[equations.parameters]``: name = number or "
                                          "quantity"}
    if base not in names:
        raise ExtensionError(f"dendrinet-docs: no TOML type known for annotation {annotation!r}")
    text = names[base]
    return text + (", optional" if optional else "")


def _default_text(value, unit_kind: str | None) -> str:
    if value is dataclasses.MISSING:
        return "the file's name without ``.toml``"
    if value is None:
        return "not set (see meaning)"
    if isinstance(value, bool):
        return f"``{str(value).lower()}``"
    if isinstance(value, str):
        return f'``"{value}"``' if value else '``""`` (none)'
    if isinstance(value, tuple):
        return "``[" + ", ".join(repr(v) for v in value) + "]``" if value else "``[]``"
    if unit_kind == "time":
        return f"``{value:g} ms``"
    if unit_kind == "rate":
        return f"``{value:g} /ms``" + (f" (= {value * 1000:g} Hz)" if value >= 0.01 else "")
    return f"``{value!r}``"


def _field_default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return dataclasses.MISSING


def _meaning(docs: dict[str, str], comments: dict, field: str, where: tuple[str, str],
             has_prose: bool) -> str:
    """A key's description: its ``Attributes`` entry (reST), else the comment after it in
    a shipped base file (plain text), else a pointer to the class prose."""
    if docs.get(field):
        return docs[field]
    if comments.get(where):
        return escape(comments[where])
    return "(described above)" if has_prose else "—"


def _table_rst(title: str, rows: list[tuple[str, str, str, str]], prose: str = "") -> list[str]:
    lines = [title, "^" * len(title), ""]
    if prose:
        lines += prose.splitlines() + [""]
    lines += [".. list-table::", "   :header-rows: 1", "   :widths: 16 20 16 48",
              "   :class: dendrinet-keys", "",
              "   * - key", "     - type and unit", "     - default", "     - meaning"]
    for key, kind, default, meaning in rows:
        lines += [f"   * - ``{key}``", f"     - {kind}", f"     - {default}",
                  f"     - {meaning}"]
    return lines + [""]


def model_key_tables() -> list[str]:
    from dendrinet import config, resources

    comments = {}  # the comments of the base models (the files that extend none)
    for source in resources.model_files().values():
        text = source.read_text(encoding="utf-8")
        if "extends" not in tomllib.loads(text):
            comments.update(toml_comments(text))
    model_fields = {f.name: f for f in dataclasses.fields(config.ModelConfig)}
    model_docs = attribute_docs(config.ModelConfig)
    covered: set[tuple[str, str]] = set()
    lines: list[str] = []
    for section, keys in config._MODEL_TABLES.items():  # noqa: SLF001
        owner = model_fields.get(section)
        factory = getattr(owner, "default_factory", dataclasses.MISSING) if owner else None
        if owner is not None and dataclasses.is_dataclass(factory):
            cls = factory
            fields = {f.name: f for f in dataclasses.fields(cls)}
            hints = {k: str(v) for k, v in cls.__annotations__.items()}
            docs, prose = attribute_docs(cls), class_prose(cls)
            units = getattr(cls, "_UNITS", {})
            covered |= {(cls.__name__, name) for name in fields}
            missing = set(fields) - set(keys)
            if missing:
                raise ExtensionError(f"dendrinet-docs: fields {sorted(missing)} of "
                                     f"{cls.__name__} are not keys of [{section}]")
        else:
            cls, fields = config.ModelConfig, model_fields
            hints = {k: str(v) for k, v in config.ModelConfig.__annotations__.items()}
            docs, prose, units = model_docs, "", {}
            covered |= {("ModelConfig", k) for k in keys}
        rows = []
        for key in sorted(keys, key=lambda k: list(fields).index(k) if k in fields else 99):
            if key not in fields:
                raise ExtensionError(f"dendrinet-docs: [{section}].{key} is no field of "
                                     f"{cls.__name__}")
            kind = units.get(key)
            meaning = _meaning(docs, comments, key, (section, key), bool(prose))
            if not meaning:
                logger.info(f"dendrinet-docs: model [{section}].{key} has no description "
                            f"(no Attributes entry in {cls.__name__}, no comment in the "
                            f"base file)")
            rows.append((key, _type_text(hints[key], kind),
                         _default_text(_field_default(fields[key]), kind), meaning))
        title = f"[{section}]"
        ref = f"{cls.__module__}.{cls.__name__}"
        intro = f"Read into :class:`~{ref}`." if cls is not config.ModelConfig else \
            f"Read into the fields of :class:`~{ref}`."
        lines += _table_rst(title, rows, intro + ("\n\n" + prose if prose else ""))
    # every nested dataclass field must be reachable
    for name, f in model_fields.items():
        if dataclasses.is_dataclass(getattr(f, "default_factory", None)):
            continue
        if ("ModelConfig", name) not in covered and name != "source":  # source: where read
            raise ExtensionError(f"dendrinet-docs: ModelConfig.{name} is set by no model-file key")
    return lines


def protocol_key_tables() -> list[str]:
    from dendrinet import config, resources

    cls = config.ProtocolConfig
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = {k: str(v) for k, v in cls.__annotations__.items()}
    docs = attribute_docs(cls)
    comments = toml_comments(resources.protocol_files()[cls.name].read_text(encoding="utf-8"))
    covered = set()
    lines = ["Read into :class:`~dendrinet.config.ProtocolConfig`.", ""]
    prose = class_prose(cls)
    if prose:
        lines += prose.splitlines() + [""]
    for section, keys in config._PROTOCOL_KEYS.items():  # noqa: SLF001
        rows = []
        for key in keys:
            # a key named after its section's prefix ([test].duration -> test_duration)
            name = f"{section}_{key}" if f"{section}_{key}" in fields else key
            if name not in fields:
                raise ExtensionError(f"dendrinet-docs: protocol key [{section}].{key} maps to "
                                     f"no field of ProtocolConfig")
            covered.add(name)
            kind = "time" if name in cls._TIMES else None  # noqa: SLF001
            meaning = _meaning(docs, comments, name, (section, key), bool(prose))
            if name != key:
                meaning = f"(field ``{name}``) {meaning}"
            rows.append((key, _type_text(hints[name], kind),
                         _default_text(_field_default(fields[name]), kind), meaning))
        order = list(fields)
        rows.sort(key=lambda r: order.index(f"{section}_{r[0]}") if f"{section}_{r[0]}" in
                  order else order.index(r[0]))
        lines += _table_rst(f"[{section}]", rows)
    missing = set(fields) - covered
    if missing:
        raise ExtensionError(f"dendrinet-docs: ProtocolConfig fields {sorted(missing)} are set "
                             f"by no protocol-file key")
    return lines


def unit_lines() -> list[str]:
    from dendrinet import config

    def spellings(units: dict[str, float], canonical: str) -> str:
        return ", ".join(f"``{u}``" + ("" if f == 1 else f" (= {f:g} {canonical})")
                         for u, f in units.items())

    return ["* **times**: " + spellings(config._TIME_UNITS, "ms"),  # noqa: SLF001
            "* **rates and conductances**: " + spellings(config._RATE_UNITS, "/ms"),  # noqa: SLF001
            ""]


def shipped_lines(kind: str) -> list[str]:
    from dendrinet import config, resources

    files = resources.model_files() if kind == "models" else resources.protocol_files()
    load = config.load_model if kind == "models" else config.load_protocol
    lines = [".. list-table::", "   :header-rows: 1", "   :widths: 25 20 55", "",
             "   * - name", "     - extends", "     - description"]
    for name, source in files.items():
        loaded = load(name)
        extends = tomllib.loads(source.read_text(encoding="utf-8")).get("extends", "")
        lines += [f"   * - ``{name}``", f"     - {'``' + extends + '``' if extends else '—'}",
                  f"     - {escape(one_line(loaded.description))}"]
    return lines + [""]


# ------------------------------------------------------------------------ CLI


def _subparsers(parser: argparse.ArgumentParser):
    for action in parser._actions:  # noqa: SLF001
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            helps = {a.dest: a.help for a in action._choices_actions}  # noqa: SLF001
            for name, sub in action.choices.items():
                yield name, sub, helps.get(name, "")


def _expand_help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    if not action.help:
        return ""
    formatter = parser._get_formatter()  # noqa: SLF001
    return one_line(formatter._expand_help(action))  # noqa: SLF001


def _argument_rows(parser: argparse.ArgumentParser) -> list[tuple[str, str, str]]:
    rows = []
    for action in parser._actions:  # noqa: SLF001
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):  # noqa: SLF001
            continue
        if action.option_strings:
            metavar = ""
            if action.nargs != 0:
                formatter = parser._get_formatter()  # noqa: SLF001
                metavar = " " + formatter._format_args(  # noqa: SLF001
                    action, formatter._get_default_metavar_for_optional(action))  # noqa: SLF001
            name = ", ".join(f"``{o}{metavar}``" for o in action.option_strings)
        else:
            name = f"``{action.metavar or action.dest}``"
        default = action.default
        if isinstance(action, argparse._VersionAction) or default in (None, False) or \
                default is argparse.SUPPRESS or action.nargs == 0:  # noqa: SLF001
            default_text = ""
        else:
            default_text = f"``{default}``"
        help_text = escape(_expand_help(parser, action))
        if action.choices is not None and not isinstance(action.choices, dict):
            help_text += " (one of " + ", ".join(f"``{c}``" for c in action.choices) + ")"
        rows.append((name, default_text, help_text))
    return rows


def _parser_section(title: str, anchor: str, parser, summary: str) -> list[str]:
    lines = [f".. _{anchor}:", "", title, "-" * len(title), ""]
    if summary:
        lines += [escape(summary[0].upper() + summary[1:]) + ".", ""]
    lines += [".. code-block:: text", ""]
    lines += ["   " + line for line in parser.format_usage().rstrip().splitlines()] + [""]
    if parser.description:
        lines += [escape(one_line(parser.description)), ""]
    rows = _argument_rows(parser)
    if rows:
        lines += [".. list-table::", "   :header-rows: 1", "   :widths: 30 15 55",
                  "   :class: dendrinet-cli", "",
                  "   * - argument", "     - default", "     - meaning"]
        for name, default, help_text in rows:
            lines += [f"   * - {name}", f"     - {default}", f"     - {help_text}"]
        lines.append("")
    if parser.epilog:
        lines += [escape(one_line(parser.epilog)), ""]
    return lines


def cli_lines() -> list[str]:
    from dendrinet.cli import build_parser

    parser = build_parser()
    lines = _parser_section(f"{parser.prog}", "cli-dendrinet", parser, "")
    for name, sub, summary in _subparsers(parser):
        lines += _parser_section(sub.prog, f"cli-{name}", sub, summary)
    return lines


# ----------------------------------------------------------------- directives


class _Generated(SphinxDirective):
    has_content = False

    def lines(self) -> list[str]:  # pragma: no cover - overridden
        raise NotImplementedError

    def run(self):
        source = f"<generated by {type(self).__name__}>"
        self.env.note_dependency(__file__)  # regenerate the page when this file changes
        content = StringList(self.lines(), source=source)
        holder = nodes.section()
        holder.document = self.state.document
        # titles in the generated text become subsections of the section around the
        # directive, whatever underline characters they use
        nested_parse_with_titles(self.state, content, holder)
        return holder.children


class ModelKeys(_Generated):
    def lines(self):
        self.env.note_dependency(importlib.import_module("dendrinet.config").__file__)
        return model_key_tables()


class ProtocolKeys(_Generated):
    def lines(self):
        self.env.note_dependency(importlib.import_module("dendrinet.config").__file__)
        return protocol_key_tables()


class Units(_Generated):
    def lines(self):
        return unit_lines()


class Shipped(_Generated):
    required_arguments = 1

    def lines(self):
        kind = self.arguments[0]
        if kind not in ("models", "protocols"):
            raise self.error("dendrinet-shipped takes 'models' or 'protocols'")
        return shipped_lines(kind)


class CliReference(_Generated):
    def lines(self):
        return cli_lines()


class ModuleDocstring(_Generated):
    required_arguments = 1
    option_spec = {"skip-summary": directives.flag}

    def lines(self):
        module = importlib.import_module(self.arguments[0])
        self.env.note_dependency(module.__file__)
        doc = inspect.getdoc(module) or ""
        if "skip-summary" in self.options:
            doc = doc.split("\n\n", 1)[1] if "\n\n" in doc else ""
        return doc.splitlines() + [""]


def setup(app):
    app.add_directive("dendrinet-model-keys", ModelKeys)
    app.add_directive("dendrinet-protocol-keys", ProtocolKeys)
    app.add_directive("dendrinet-units", Units)
    app.add_directive("dendrinet-shipped", Shipped)
    app.add_directive("dendrinet-cli", CliReference)
    app.add_directive("dendrinet-docstring", ModuleDocstring)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
