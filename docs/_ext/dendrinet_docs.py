"""Sphinx directives that generate parts of the dendrinet documentation from the code.

Nothing here holds documentation of its own: every table is read, at build time, from
the objects that define the behaviour, so the pages cannot drift from the code.

``.. dendrinet-model-keys::``
    One table per section of a model file: key, type and unit, default, check, meaning.
    Every row is one declared key (``dendrinet.config.MODEL_SETTINGS``: each key of a
    file is declared once, on the dataclass field it fills, with its table, unit, check,
    default and one-line help); the prose above a table is the summary of the dataclass
    behind it.
``.. dendrinet-protocol-keys::``
    The same for protocol files (``dendrinet.config.PROTOCOL_SETTINGS``).
``.. dendrinet-units::``
    The unit spellings a file may use (``dendrinet.config.TIME_UNITS``, ``RATE_UNITS``).
``.. dendrinet-shipped:: models|protocols``
    The shipped files: name, what it extends, description.
``.. dendrinet-cli::``
    The reference of every subcommand, walked from ``dendrinet.cli.build_parser()``.
``.. dendrinet-docstring:: module.name``
    A module's docstring, parsed as reStructuredText (without numpydoc's mangling).

A dataclass field that no declared key fills stops the build with an error naming it
(tests/test_config_fields.py checks the same without building).
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
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

_RST_SPECIAL = re.compile(r"([\\`*|_])")


def escape(text: str) -> str:
    """Plain text made safe for reStructuredText inline markup."""
    return _RST_SPECIAL.sub(r"\\\1", str(text))


def one_line(text: str) -> str:
    return " ".join(str(text).split())


# ----------------------------------------------------------------- key tables


def class_prose(cls) -> str:
    """The summary and extended summary of a class docstring (numpydoc sections cut)."""
    from numpydoc.docscrape import NumpyDocString

    try:
        parsed = NumpyDocString(inspect.getdoc(cls) or "")
    except Exception:  # noqa: BLE001
        return ""
    parts = [" ".join(parsed["Summary"])] + ["\n".join(parsed["Extended Summary"])]
    return "\n\n".join(p for p in parts if p.strip())


def default_text(setting) -> str:
    """A declared key's default, as a file would write it."""
    value, unit = setting.default, setting.unit
    if value is dataclasses.MISSING:
        return "the file's name without ``.toml``"
    if setting.name == "name":  # a protocol's: the file's name too
        return "the file's name without ``.toml``"
    if value is None:
        return "not set (see meaning)"
    if isinstance(value, bool):
        return f"``{str(value).lower()}``"
    if isinstance(value, str):
        return f'``"{value}"``' if value else '``""`` (none)'
    if isinstance(value, tuple):
        return "``[" + ", ".join(repr(v) for v in value) + "]``" if value else "``[]``"
    if unit == "time":
        return f"``{value:g} ms``"
    if unit == "rate":
        return f"``{value:g} /ms``" + (f" (= {value * 1000:g} Hz)" if value >= 0.01 else "")
    return f"``{value!r}``"


def key_row(setting) -> tuple[str, str, str, str, str]:
    """(key, type and unit, default, check, meaning) of one declared key."""
    meaning = escape(setting.help)
    if setting.key != setting.name:
        meaning = f"(field ``{setting.name}``) {meaning}"
    check = setting.check_text()
    return (setting.key, setting.type_text(), default_text(setting),
            f"``{check}``" if check else "", meaning)


def _table_rst(title: str, rows, prose: str = "") -> list[str]:
    lines = [title, "^" * len(title), ""]
    if prose:
        lines += prose.splitlines() + [""]
    lines += [".. list-table::", "   :header-rows: 1", "   :widths: 14 20 16 10 40",
              "   :class: dendrinet-keys", "",
              "   * - key", "     - type and unit", "     - default", "     - check",
              "     - meaning"]
    for key, kind, default, check, meaning in rows:
        lines += [f"   * - ``{key}``", f"     - {kind}", f"     - {default}",
                  f"     - {check}", f"     - {meaning}"]
    return lines + [""]


def _check_covered(cls, settings, skip=("source",)) -> None:
    """Every field of dataclass ``cls`` (but nested tables and ``skip``) is declared."""
    declared = {s.name for s in settings}
    for f in dataclasses.fields(cls):
        nested = dataclasses.is_dataclass(getattr(f, "default_factory", None))
        if not nested and f.name not in skip and f.name not in declared:
            raise ExtensionError(f"dendrinet-docs: {cls.__name__}.{f.name} is set by no "
                                 f"declared file key")


def model_key_tables() -> list[str]:
    """The key tables of model files, one per table, from the declarations."""
    from dendrinet import config

    _check_covered(config.ModelConfig, config.MODEL_SETTINGS)
    lines: list[str] = []
    for table, cls in config.MODEL_TABLES.items():
        settings = [s for s in config.MODEL_SETTINGS if s.table == table]
        if cls is None:
            cls = config.ModelConfig
            intro = "Read into the fields of :class:`~dendrinet.config.ModelConfig`."
            prose = ""
        else:
            _check_covered(cls, settings)
            intro = f"Read into :class:`~dendrinet.config.{cls.__name__}`."
            prose = class_prose(cls)
        lines += _table_rst(f"[{table}]", [key_row(s) for s in settings],
                            intro + ("\n\n" + prose if prose else ""))
    return lines


def protocol_key_tables() -> list[str]:
    """The key tables of protocol files, one per table, from the declarations."""
    from dendrinet import config

    cls = config.ProtocolConfig
    _check_covered(cls, config.PROTOCOL_SETTINGS)
    lines = ["Read into :class:`~dendrinet.config.ProtocolConfig`.", ""]
    prose = class_prose(cls)
    if prose:
        lines += prose.splitlines() + [""]
    for table in config.PROTOCOL_TABLES:
        rows = [key_row(s) for s in config.PROTOCOL_SETTINGS if s.table == table]
        lines += _table_rst(f"[{table}]", rows)
    return lines


def unit_lines() -> list[str]:
    from dendrinet import config

    def spellings(units: dict[str, float], canonical: str) -> str:
        return ", ".join(f"``{u}``" + ("" if f == 1 else f" (= {f:g} {canonical})")
                         for u, f in units.items())

    return ["* **times**: " + spellings(config.TIME_UNITS, "ms"),
            "* **rates and conductances**: " + spellings(config.RATE_UNITS, "/ms"),
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


def _note_config(env) -> None:
    """Regenerate a page when a module of dendrinet.config (its declarations) changes."""
    package = importlib.import_module("dendrinet.config")
    for name in ("fields", "model", "protocol"):
        env.note_dependency(importlib.import_module(f"{package.__name__}.{name}").__file__)


class ModelKeys(_Generated):
    def lines(self):
        _note_config(self.env)
        return model_key_tables()


class ProtocolKeys(_Generated):
    def lines(self):
        _note_config(self.env)
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
