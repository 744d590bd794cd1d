"""Each key of a model or protocol file is declared once (``dendrinet.config.fields``):
the reader, the writers, the sweep's paths and the documentation tables all come from the
declarations."""
from __future__ import annotations

import dataclasses
import importlib
import sys
from pathlib import Path

import pytest

from dendrinet import config
from dendrinet.config import (MODEL_SETTINGS, MODEL_TABLES, PROTOCOL_SETTINGS,
                              PROTOCOL_TABLES, ModelConfig, ProtocolConfig, load_model,
                              load_protocol, model_to_toml, protocol_to_toml)
from dendrinet.errors import ConfigError
from dendrinet.sweep.parameters import MODEL_PATHS, PROTOCOL_PATHS

DOCS_EXT = Path(__file__).resolve().parents[1] / "docs" / "_ext"
ALL = [*MODEL_SETTINGS, *PROTOCOL_SETTINGS]


def _write(tmp_path, text, name="m.toml"):
    path = Path(tmp_path) / name
    path.write_text(text, encoding="utf-8")
    return path


def _config_classes():
    yield ModelConfig, MODEL_SETTINGS
    for table, cls in MODEL_TABLES.items():
        if cls is not None:
            yield cls, [s for s in MODEL_SETTINGS if s.table == table]
    yield ProtocolConfig, PROTOCOL_SETTINGS


def test_every_dataclass_field_is_declared_once():
    for cls, settings in _config_classes():
        names = [s.name for s in settings if s.path.count(".") == settings[0].path.count(".")]
        for f in dataclasses.fields(cls):
            nested = dataclasses.is_dataclass(getattr(f, "default_factory", None))
            if nested or f.name == "source":
                continue
            assert names.count(f.name) == 1, (cls.__name__, f.name)
            setting = next(s for s in settings if s.name == f.name)
            assert setting.default is f.default  # the default lives in the declaration only
    # one (table, key) per setting in a file
    for settings in (MODEL_SETTINGS, PROTOCOL_SETTINGS):
        keys = [(s.table, s.key) for s in settings]
        assert len(keys) == len(set(keys))


def test_every_declaration_has_a_one_line_help_and_a_known_unit_kind():
    for s in ALL:
        assert s.help.strip() and "\n" not in s.help, s.path
        assert s.unit in (None, "time", "rate"), s.path
    units = {s.path: s.unit for s in ALL}
    assert units["neuron.tau_s"] == "time" and units["neuron.g_A"] == "rate"
    assert units["test_duration"] == "time" and units["neuron.E_E"] is None


def test_the_old_separate_schemas_are_gone():
    """NeuronParams._UNITS, ProtocolConfig._TIMES, _PROTOCOL_KEYS and _MODEL_TABLES were
    four more copies of what the declarations say."""
    assert not hasattr(config.NeuronParams, "_UNITS")
    assert not hasattr(ProtocolConfig, "_TIMES")
    assert not hasattr(config, "_PROTOCOL_KEYS") and not hasattr(config, "_MODEL_TABLES")
    import dendrinet.sweep.parameters as parameters
    assert not hasattr(parameters, "_PROTOCOL_FILE_KEYS")


def test_the_reader_allows_exactly_the_declared_keys(tmp_path):
    for kind, settings, tables, load in (("model", MODEL_SETTINGS, MODEL_TABLES, load_model),
                                         ("protocol", PROTOCOL_SETTINGS, PROTOCOL_TABLES,
                                          load_protocol)):
        for table in tables:
            declared = sorted(s.key for s in settings if s.table == table)
            with pytest.raises(ConfigError) as err:
                load(_write(tmp_path, f"[{table}]\nbogus_key = 1\n", f"{kind}.toml"))
            assert str(err.value).endswith("allowed: " + ", ".join(declared)), str(err.value)


def test_test_keys_are_renamed_by_their_declaration(tmp_path):
    by_name = {s.name: s for s in PROTOCOL_SETTINGS}
    assert (by_name["test_duration"].table, by_name["test_duration"].key) == ("test", "duration")
    protocol = load_protocol(_write(tmp_path, '[test]\nduration = "300 ms"\nsettle = "40 ms"\n',
                                    "p.toml"))
    assert (protocol.test_duration, protocol.test_settle) == (300.0, 40.0)


def _other_value(s):
    """A value of setting ``s`` other than its default, within its check."""
    if s.unit == "time" and s.table in ("protocol", "train", "test"):  # whole steps
        return 0.5 if s.name == "dt" else s.default + (-10.0 if "settle" in s.name else 10.0)
    if s.kind == "number":
        base = 0.5 if s.default is None else s.default
        value = base * 0.5 if s.bounds and s.bounds.high is not None else base + 0.375
        if s.path == "neuron.E_I":
            value = s.default - 1.0
        return value
    return {"integer": lambda: s.default + 1, "bool": lambda: not s.default,
            "lines": lambda: "two\nlines", "text": lambda: "other-name",
            "numbers": lambda: tuple(v * 0.5 for v in s.default),
            "integers": lambda: (7,), "choice": lambda: s.choices[-1],
            "expression": lambda: {"apical": "2*tanh(V_a_lin/2)"}.get(s.name, s.default),
            }.get(s.kind, lambda: s.default)()


@pytest.mark.parametrize("setting", [s for s in ALL if s.swept or s.kind == "lines"],
                         ids=lambda s: s.path)
def test_each_declared_key_round_trips_through_the_writer(tmp_path, setting):
    if setting in PROTOCOL_SETTINGS:
        base, write, load = load_protocol("paper-timing"), protocol_to_toml, load_protocol
    else:
        base, write, load = load_model("guerguiev2017-1hidden"), model_to_toml, load_model
    if setting.path in ("hidden",):
        base = dataclasses.replace(base, learning=dataclasses.replace(base.learning,
                                                                      eta=(0.4, 0.1)))
    value = _other_value(setting)
    parts = setting.path.split(".")
    if len(parts) == 2:
        inner = dataclasses.replace(getattr(base, parts[0]), **{parts[1]: value})
        changed = dataclasses.replace(base, **{parts[0]: inner})
    else:
        changed = dataclasses.replace(base, **{parts[0]: value})
    text = write(changed)
    assert f"[{setting.table}]" in text
    back = load(_write(tmp_path, text, "c.toml"))
    assert back == changed, setting.path


def test_sweep_paths_are_the_declared_swept_keys():
    assert MODEL_PATHS == {s.path: (s.table, s.key) for s in MODEL_SETTINGS if s.swept}
    assert PROTOCOL_PATHS == {f"protocol.{s.path}": (s.table, s.key)
                              for s in PROTOCOL_SETTINGS if s.swept}
    assert PROTOCOL_PATHS["protocol.test_settle"] == ("test", "settle")
    assert "protocol.epochs" not in PROTOCOL_PATHS and "name" not in MODEL_PATHS


def test_a_unit_of_the_wrong_kind_is_refused_for_every_dimensional_key(tmp_path):
    for s in ALL:
        if s.unit is None:
            continue
        wrong = "3 Hz" if s.unit == "time" else "3 ms"
        with pytest.raises(ConfigError, match=rf"\[{s.table}\]\.{s.key}: unit .* is not a "
                                              rf"{s.unit} unit"):
            s.read(wrong, f"x.toml [{s.table}].{s.key}")


# ------------------------------------------------------------------ documentation


@pytest.fixture(scope="module")
def docs_ext():
    pytest.importorskip("sphinx")
    pytest.importorskip("numpydoc")
    sys.path.insert(0, str(DOCS_EXT))
    try:
        yield importlib.import_module("dendrinet_docs")
    finally:
        sys.path.remove(str(DOCS_EXT))


def _rows(lines: list[str]) -> dict[tuple[str, str], list[str]]:
    """(section, key) -> the cells of its row, from generated list tables."""
    rows, section, i = {}, None, 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("[") and i + 1 < len(lines) and set(lines[i + 1]) == {"^"}:
            section = line[1:-1]
        if line.startswith("   * - ``"):
            cells = [line[len("   * - "):]]
            while i + 1 < len(lines) and lines[i + 1].startswith("     - "):
                i += 1
                cells.append(lines[i][len("     - "):])
            rows[(section, cells[0].strip("`"))] = cells
        i += 1
    return rows


def test_the_docs_tables_list_every_declared_key_with_its_help(docs_ext):
    for settings, generate in ((MODEL_SETTINGS, docs_ext.model_key_tables),
                               (PROTOCOL_SETTINGS, docs_ext.protocol_key_tables)):
        rows = _rows(generate())
        assert set(rows) == {(s.table, s.key) for s in settings}
        for s in settings:
            key, kind, default, check, meaning = rows[(s.table, s.key)]
            assert meaning.endswith(docs_ext.escape(s.help)), s.path
            assert kind.startswith(s.unit or ""), s.path  # "time, e.g. ...", "rate, e.g. ..."
            assert kind.startswith(("time", "rate")) == (s.unit is not None), s.path
            if s.bounds is not None:
                assert s.bounds.text() in check, s.path


def test_the_docs_page_uses_the_generated_tables():
    page = (DOCS_EXT.parent / "config_files.rst").read_text(encoding="utf-8")
    assert ".. dendrinet-model-keys::" in page and ".. dendrinet-protocol-keys::" in page
