"""A model, protocol or sweep file is data (issue 19): text that would run code when it
is read, built or compiled gives one ConfigError and has no side effect.

Each payload would ``touch`` a sentinel file; every test asserts the file was never
created. 1. The three payloads of the issue (a string literal reaching SymPy, an
``[equations.parameters]`` value escaping an ``eval``, a model name closing a docstring
of generated source), through every reader (model file, sweep file, the CLI). 2.
Hypothesis fuzzes equation and unit text (quotes, dots, brackets, ``__``, lambdas...):
reading it succeeds or raises ConfigError, never anything else, and what is accepted
holds only the allowed syntax. 3. The models the package, its examples and benchmarks
ship still load, with the same numbers.
"""
import ast
import dataclasses
import json
import os
import re
import runpy
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dendrinet.config import (
    EquationTerms,
    NeuronParams,
    _equation_parameters,
    load_model,
)
from dendrinet.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def _touch(path: Path) -> str:
    """Python that creates ``path`` (what each payload tries to run)."""
    return f'__import__("os").system("touch {path}")'


def _chars(text: str) -> str:
    """``text`` built without quotes: ``(INT).to_bytes(n).decode()``."""
    return f"({int.from_bytes(text.encode(), 'big')}).to_bytes({len(text)}).decode()"


def _unit_escape(path: Path) -> str:
    """The issue's ``[equations.parameters]`` value: only characters the old filter let
    through, escaping its ``eval`` by an attribute chain from a unit."""
    return (f"1 ms.in_unit.__globals__.get({_chars('__builtins__')})"
            f".get({_chars('__import__')})({_chars('os')}).system({_chars('touch ' + str(path))})")


def _model_file(tmp_path: Path, equations: dict | None = None, parameters: dict | None = None,
                name: str | None = None) -> Path:
    lines = ['extends = "guerguiev2017-1hidden"']
    if name is not None:
        lines += ["[model]", f"name = {json.dumps(name)}"]
    if equations:
        lines += ["[equations]"] + [f"{k} = {json.dumps(v)}" for k, v in equations.items()]
    if parameters:
        lines += ["[equations.parameters]"] + [f"{k} = {json.dumps(v)}"
                                                for k, v in parameters.items()]
    path = tmp_path / "payload.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _build(path: Path):
    """Read the model, then do what train/simulate do with its equations before the
    network runs (Brian2 equations, SymPy, the generated update, the parameters)."""
    from dendrinet.model.equations import extra_parameters
    from dendrinet.backends.numba.codegen import neuron_hooks_source

    model = load_model(path)
    extra_parameters(model)
    return neuron_hooks_source(model)


# ------------------------------------------------------------- the payloads


@pytest.mark.parametrize("key, text", [
    ("apical", "V_a_lin + 0*exp('{touch}')"),
    ("hidden_soma", "0*f('{touch}')/ms"),
    ("output_coupling", "g_D*(V_b - V) + 0*tanh('{touch}')"),
    ("hidden_extra", "x = 0*exp('{touch}') : 1"),
])
def test_a_string_literal_in_an_equation_is_one_error_and_runs_nothing(tmp_path, key, text):
    sentinel = tmp_path / "sentinel"
    path = _model_file(tmp_path, {key: text.format(touch=_touch(sentinel))})
    with pytest.raises(ConfigError) as info:
        _build(path)
    message = str(info.value)
    assert message.startswith("payload.toml") and f"[equations].{key}: a string literal" \
        in message and "\n" not in message, message
    assert not sentinel.exists()


def test_a_parameter_value_escaping_eval_is_one_error_and_runs_nothing(tmp_path):
    sentinel = tmp_path / "sentinel"
    path = _model_file(tmp_path, {"hidden_soma": "-w/ms"}, {"w": _unit_escape(sentinel)})
    with pytest.raises(ConfigError, match=r"payload.toml .*\[equations.parameters\]\.w: "
                                          r"cannot read .*'\.' is not allowed"):
        _build(path)
    assert not sentinel.exists()


def test_a_parameter_value_of_a_model_built_in_code_is_not_evaluated(tmp_path):
    from dendrinet.model.equations import extra_parameters

    sentinel = tmp_path / "sentinel"
    base = load_model("guerguiev2017-1hidden")
    model = dataclasses.replace(base, equations=dataclasses.replace(
        base.equations, parameters=(("w", _unit_escape(sentinel)),)))
    with pytest.raises(ConfigError, match=r"\[equations.parameters\]\.w"):
        extra_parameters(model)
    assert not sentinel.exists()


def test_a_model_name_never_lands_in_generated_source(tmp_path):
    from dendrinet.backends.numba.codegen import neuron_hooks_source
    from dendrinet.backends.numba.model_part import _write_package

    sentinel = tmp_path / "sentinel"
    name = f'x""";{_touch(sentinel)};"""'
    model = load_model(_model_file(tmp_path, {"apical": "2*tanh(V_a_lin/2)"}, name=name))
    assert model.name == name  # a name is data: any printable text
    hooks = neuron_hooks_source(model)
    folder = tmp_path / "generated" / "dendrinet_generated_test"
    _write_package(folder, hooks, model)
    for file in sorted(folder.glob("*.py")):
        assert "touch" not in file.read_text(), file
    runpy.run_path(str(folder / "__init__.py"))  # the injected code would run here
    runpy.run_path(str(folder / "neuron.py"))  # and here (njit compiles lazily)
    assert not sentinel.exists()


def test_names_and_descriptions_with_control_characters_are_refused(tmp_path):
    for name in ("a\nb", "\x1b]0;title\x07", "x\x00"):
        with pytest.raises(ConfigError, match=r"\[model\]\.name: expected printable text"):
            load_model(_model_file(tmp_path, name=name))
    path = tmp_path / "p.toml"
    path.write_text('extends = "paper-timing"\n[protocol]\ndescription = "\\u001b[2J"\n')
    from dendrinet.config import load_protocol

    with pytest.raises(ConfigError, match=r"\[protocol\]\.description: expected printable"):
        load_protocol(path)


def test_a_swept_equation_is_checked_like_a_file(tmp_path):
    from dendrinet.sweep import load_sweep

    sentinel = tmp_path / "sentinel"
    path = tmp_path / "sweep.toml"
    payload = json.dumps(f"V_a_lin + 0*exp('{_touch(sentinel)}')")
    path.write_text('[sweep]\nmodels = ["guerguiev2017-1hidden"]\ndatasets = ["digits"]\n'
                    f'seeds = [0]\nepochs = 1\n[sweep.parameters]\n"equations.apical" = '
                    f'["2*tanh(V_a_lin/2)", {payload}]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"equations.apical = .*\[equations\]\.apical: "
                                          r"a string literal is not allowed"):
        load_sweep(path)
    assert not sentinel.exists()


def test_the_cli_reports_a_payload_in_one_line_and_runs_nothing(tmp_path):
    sentinel = tmp_path / "sentinel"
    path = _model_file(tmp_path, {"apical": f"V_a_lin + 0*exp('{_touch(sentinel)}')"})
    out = subprocess.run([sys.executable, "-m", "dendrinet.cli", "train", "--model", str(path),
                          "--dataset", "digits", "--epochs", "1", "--out",
                          str(tmp_path / "run")], capture_output=True, text=True)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 2 and len(lines) == 1, out.stderr
    assert "payload.toml" in lines[0] and "a string literal" in lines[0]
    assert not sentinel.exists() and not (tmp_path / "run").exists()


# ------------------------------------------------------------- one unit grammar


@pytest.mark.parametrize("key, value, expected", [
    ("tau_s", "3 ms", 3.0), ("tau_s", "0.003 s", 0.003 * 1000.0), ("tau_s", "10 us", 10 * 1e-3),
    ("tau_s", "0.003 second", 0.003 * 1000.0),
    ("g_A", "0.1 /ms", 0.1), ("g_A", "0.1 1/ms", 0.1), ("g_A", "0.1 ms^-1", 0.1),
    ("g_A", "0.1 kHz", 0.1), ("g_A", "200 Hz", 200 * 1e-3), ("g_A", "200 /s", 200 * 1e-3),
    ("g_A", "200 s^-1", 200 * 1e-3),
    # other spellings of the same units, read by the same grammar
    ("g_A", "0.1 1 / ms", 0.1), ("g_A", "0.1 ms**-1", 0.1), ("g_A", "0.1 (ms)^-1", 0.1),
    ("g_A", "200 1/s", 200 * 1e-3),
])
def test_neuron_units_give_the_same_floats_as_before(tmp_path, key, value, expected):
    path = tmp_path / "m.toml"
    path.write_text(f'extends = "guerguiev2017-1hidden"\n[neuron]\n{key} = "{value}"\n')
    assert getattr(load_model(path).neuron, key) == expected  # exactly: number * factor


@pytest.mark.parametrize("table, value, words", [
    ("neuron", 'tau_s = "3 mV"', "[neuron].tau_s: unit 'mV' is not a time unit"),
    ("neuron", 'g_L = "0.1 ms^-2"', "[neuron].g_L: unit 'ms^-2' is not a rate unit"),
    ("neuron", 'g_L = "0.1 ms.__class__"', "[neuron].g_L: cannot read"),
    ("equations.parameters", 'w = "3 parsecs"',
     "[equations.parameters].w: 'parsecs' in '3 parsecs' is not a Brian2 unit"),
    ("equations.parameters", 'w = "3 mV^(-1"', "[equations.parameters].w: cannot read"),
    ("equations.parameters", 'w__ = "3 mV"', "[equations.parameters].w__: not a valid"),
])
def test_a_wrong_unit_is_an_error_when_the_file_is_read(tmp_path, table, value, words):
    path = tmp_path / "m.toml"
    path.write_text(f'extends = "guerguiev2017-1hidden"\n[{table}]\n{value}\n')
    with pytest.raises(ConfigError) as info:
        load_model(path)  # not later, when the equations are built
    assert words in str(info.value) and str(info.value).startswith("m.toml")


# ----------------------------------------------------------------------- fuzzing

#: Created by nothing: a payload that ran would create it.
SENTINEL = Path(tempfile.gettempdir()) / f"dendrinet-payload-sentinel-{os.getpid()}"
_PAYLOAD = f"'{_touch(SENTINEL)}'"

#: Syntax an accepted expression may hold (an independent statement of the rule).
_ALLOWED_NODES = (ast.Expression, ast.Name, ast.Load, ast.Constant, ast.UnaryOp, ast.BinOp,
                  ast.BoolOp, ast.Compare, ast.Call, ast.UAdd, ast.USub, ast.Not, ast.Add,
                  ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.And, ast.Or,
                  ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_EXPRESSION_TOKENS = [
    "V", "V_a_lin", "V_a", "ms", "w", "exp", "tanh", "rand", "__import__", "os", "system",
    "eval", "open", "lambda", "_x", "__class__", "x.y", "True", "None", "1", "2.5", "1e-3",
    "9", "0x1f", "1j", "1e999", "+", "-", "*", "/", "**", "//", "%", "^", "&", "<", "==",
    "and", "not", "if", "else", "for", "in", "=", ":=", ":", "(", ")", "[", "]", "{", "}",
    ",", ".", "'", '"', "'os'", "f'", "b'", "#", "\n", "\\", ";", "`", "*a", "x=1",
    "dw/dt =", ": 1", "(constant)", "(linked)", _PAYLOAD,
]
_UNIT_TOKENS = [
    "1", "0.5", "-3", "1e-3", "ms", "mV", "Hz", "second", "metre", "nS", "parsec", "/", "*",
    "^", "**", "(", ")", "-1", "2", "11", ".", "__class__", "in_unit", "__globals__",
    "to_bytes", "decode", "'", '"', "[", "]", "lambda", ",", "e", "_", "$", "\t",
]
_EXPRESSION_KEYS = ["apical", "hidden_coupling", "output_coupling", "hidden_soma",
                    "output_soma"]
_NAMES = ["V", "V_a_lin", "V_a", "ms", "w", "pi", "t", "os", "system", "__import__", "_x",
          "lambda", "True", "None", "1", "2.5", "1e-3", "9", "0x1f", "1j", "1e999", "'os'",
          _PAYLOAD]


def _expressions():
    """Expressions built by Brian2's grammar, with Python's other syntax (attributes,
    subscripts, strings, lambdas, keywords, other functions) mixed in."""
    def extend(inner):
        return st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "**", "%", "<", "==", "and",
                                              "^", "@", "if 1 else"]), inner)
            .map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(st.sampled_from(["exp", "tanh", "clip", "rand", "f", "eval", "getattr"]),
                      st.lists(inner, max_size=3), st.sampled_from(["", "x=1", "*a"]))
            .map(lambda t: f"{t[0]}({', '.join(t[1] + ([t[2]] if t[2] else []))})"),
            st.tuples(st.sampled_from(["-", "not ", "lambda: ", "[", "{"]), inner)
            .map(lambda t: t[0] + t[1] + {"[": "]", "{": "}"}.get(t[0], "")),
            st.tuples(inner, st.sampled_from([".real", ".__class__", "[0]", "[::2]", "()"]))
            .map("".join))
    return st.recursive(st.sampled_from(_NAMES), extend, max_leaves=8)


def _equation_lines():
    line = st.tuples(st.sampled_from(["dw/dt = ", "plateau = ", "x : ", "d_x/dt = ", "lambda = ",
                                      "y.z = ", ""]),
                     _expressions(),
                     st.sampled_from([" : 1", " : second", " : ms.__class__", " : 1 (constant)",
                                      " : 1 (linked)", " : metre**2", " # c", ""]))
    return st.lists(line.map(lambda t: "x" + (t[2] or " : 1") if t[0] == "x : " else "".join(t)),
                    max_size=3).map("\n".join)


def _joined(tokens):
    return st.tuples(st.lists(st.sampled_from(tokens), max_size=14),
                     st.sampled_from(["", " "])).map(lambda t: t[1].join(t[0]))


def _assert_only_allowed_syntax(expression: str) -> None:
    tree = ast.parse(expression.strip(), mode="eval")
    for node in ast.walk(tree):
        assert isinstance(node, _ALLOWED_NODES), (expression, node)
        if isinstance(node, ast.Constant):
            assert isinstance(node.value, (int, float, bool)), expression
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name) and not node.keywords, expression
        if isinstance(node, ast.Name):
            assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", node.id) and "__" not in node.id


_FUZZ = settings(max_examples=200, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])


@_FUZZ
@given(data=st.data())
def test_fuzzed_equation_text_is_read_or_refused_with_a_config_error(data):
    key = data.draw(st.sampled_from(_EXPRESSION_KEYS + ["hidden_extra", "output_extra"]))
    lines = key.endswith("_extra")
    text = data.draw(st.one_of(_equation_lines() if lines else _expressions(),
                               _joined(_EXPRESSION_TOKENS), st.text(max_size=30)))
    from brian2.parsing.sympytools import str_to_sympy

    try:
        terms = EquationTerms.from_table({key: text}, "fuzz.toml [equations]")
    except ConfigError as exc:
        assert str(exc).startswith(f"fuzz.toml [equations].{key}")
        return
    if key in _EXPRESSION_KEYS:
        expressions = [text] if text.strip() else []
    else:
        expressions = [line.split("#")[0].split("=", 1)[1].rsplit(":", 1)[0]
                       for line in terms.hidden_extra.splitlines() + terms.output_extra
                       .splitlines() if "=" in line.split("#")[0]]
    for expression in expressions:
        _assert_only_allowed_syntax(expression)
        try:  # what SymPy makes of it (where the payload ran): nothing runs
            str_to_sympy(expression)
        except Exception:  # noqa: BLE001 (Brian2 may refuse what it cannot use)
            pass
    assert not SENTINEL.exists()


@_FUZZ
@given(text=st.one_of(_joined(_UNIT_TOKENS), st.text(max_size=20)))
def test_fuzzed_quantities_are_read_or_refused_with_a_config_error(text):
    from brian2 import Quantity

    from dendrinet.model.equations import extra_parameters

    try:
        pairs = _equation_parameters({"p": text}, "fuzz.toml [equations.parameters]")
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.toml [equations.parameters].p")
    else:
        base = load_model("guerguiev2017-1hidden")
        model = dataclasses.replace(base, equations=dataclasses.replace(
            base.equations, parameters=pairs))
        assert isinstance(extra_parameters(model)["p"], (float, Quantity))
    try:
        params = NeuronParams.from_table({"tau_s": text}, "fuzz.toml [neuron]")
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.toml [neuron]")
    else:
        assert 0 < params.tau_s < params.tau_L
    assert not SENTINEL.exists()


# ------------------------------------------------------------ what ships still loads


def test_benchmark_and_example_models_load_with_the_same_parameter_values(tmp_path):
    from brian2 import ms

    from dendrinet.model.equations import extra_parameters

    models = sorted((REPO / "benchmarks" / "models").glob("*.toml"))
    assert models
    for path in models:
        load_model(path)
    adapting = load_model(REPO / "benchmarks" / "models" / "adapting-apical-tanh.toml")
    assert extra_parameters(adapting) == {"a_w": 0.1, "tau_w": 100.0 * ms}
    example = (REPO / "examples" / "write_your_own_neuron.py").read_text()
    text = re.search(r"MODEL_TOML = '''\\\n(.*?)'''", example, re.DOTALL).group(1)
    path = tmp_path / "example.toml"
    path.write_text(text)
    model = load_model(path)
    assert extra_parameters(model) == {"a_u": 0.1, "tau_u": 100.0 * ms}
    assert model.equations.apical == "2*tanh(V_a_lin/2)"
