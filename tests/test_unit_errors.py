"""Unit and dimension mistakes in ``[equations]`` are one ConfigError when the model file
is read, naming the entry or line the user wrote and the units in named units (V, 1/s),
not Brian2's SI base units against the assembled ``dV/dt``."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from dendrinet import resources
from dendrinet.config import load_model
from dendrinet.config.equation_units import STANDARD
from dendrinet.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def _assigned(path: Path, name: str) -> str:
    import ast

    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == name:
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path.name} has no {name}")


# the model of examples/write_your_own_neuron.py: the mistakes below are edits of it
GOOD = _assigned(ROOT / "examples" / "write_your_own_neuron.py", "MODEL_TOML")
BASE_UNITS = re.compile(r"\b(metre|kilogram|amp|kg|m\^|A\^|s\^-[2-9])")

MISTAKES = {
    "a state declared in volt": (
        ("tau_u : 1", "tau_u : volt"),
        ["[equations].hidden_extra line 'du/dt = (a_u*V - u)/tau_u : volt'",
         "'u' in V (a voltage)", "1 (dimensionless)", "du/dt must be in V/s"]),
    "a time constant in mV": (
        ('tau_u = "100 ms"', 'tau_u = "100 mV"'),
        ["[equations].hidden_extra line 'du/dt = (a_u*V - u)/tau_u : 1'", "gives 1/V",
         "1/s (a rate)", "tau_u is V (a voltage), declared in "
         "[equations.parameters].tau_u = '100 mV'"]),
    "a somatic term without /ms": (
        ('"0.02*V_a*(2 - V)/ms - u/ms"', '"0.02*V_a*(2 - V) - u/ms"'),
        ["[equations].hidden_soma = '0.02*V_a*(2 - V) - u/ms'", "1 (dimensionless)",
         "'u / ms' in 1/s (a rate)", "every term of dV/dt is a rate in 1/ms"]),
    "an apical potential with a unit": (
        ('"2*tanh(V_a_lin/2)"', '"V_a_lin*mV"'),
        ["[equations].apical = 'V_a_lin*mV'", "gives V (a voltage)", "dimensionless"]),
    "a function's argument with a unit": (
        ('"2*tanh(V_a_lin/2)"', '"2*tanh(V_a_lin*mV/2)"'),
        ["[equations].apical = '2*tanh(V_a_lin*mV/2)'",
         "tanh() needs 'V_a_lin * mV / 2' in 1 (dimensionless), but it is in V (a voltage)"]),
    "a state in volt used in dV/dt": (
        ("du/dt = (a_u*V - u)/tau_u : 1", "du/dt = (a_u*V*volt - u)/tau_u : volt"),
        ["[equations].hidden_soma", "'u / ms' in V/s", "u is V (a voltage), declared in "
         "[equations].hidden_extra line 'du/dt = (a_u*V*volt - u)/tau_u : volt'"]),
    "an output term in the wrong unit": (
        ("[equations.parameters]", 'output_soma = "g_T*mV"\n[equations.parameters]'),
        ["[equations].output_soma = 'g_T*mV'", "V/s", "every term of dV/dt"]),
}


@pytest.mark.parametrize("case", list(MISTAKES))
def test_a_unit_mistake_is_one_config_error_when_the_file_is_read(tmp_path, case):
    (old, new), phrases = MISTAKES[case]
    assert old in GOOD
    path = tmp_path / "my-neuron.toml"
    path.write_text(GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_model(path)  # nothing is built: the file is read
    message = str(info.value)
    assert message.startswith("my-neuron.toml (extending guerguiev2017-1hidden.toml) "), message
    for phrase in phrases:
        assert phrase in message, (phrase, message)
    assert "\n" not in message and not BASE_UNITS.search(message), message


def test_a_good_model_and_one_brian2_only_model_load(tmp_path):
    path = tmp_path / "good.toml"
    path.write_text(GOOD)
    assert load_model(path).equations.hidden_extra.startswith("du/dt")
    path.write_text(GOOD.replace('hidden_soma = "0.02*V_a*(2 - V)/ms - u/ms"',
                                 'hidden_soma = "0.1*sin(2*pi*10*Hz*t)/ms + rand()/ms - xL/ms"'))
    load_model(path)  # t, rand() and the spike traces have their dimensions
    path.write_text(GOOD.replace('"0.02*V_a*(2 - V)/ms - u/ms"', '"0.02*V_aa/ms"'))
    load_model(path)  # an unknown name is left to the equation builder, which names it


def test_every_shipped_documented_and_example_model_loads(tmp_path):
    for name in resources.model_files():
        load_model(name)
    texts = []
    for doc in ("neurons_and_rules.rst", "config_files.rst"):
        rst = (ROOT / "docs" / doc).read_text()
        for match in re.finditer(r"^( *)\.\. code-block:: toml\n\n", rst, re.MULTILINE):
            indent = match.group(1) + "   "  # the block's lines, however deep it is nested
            lines = []
            for line in rst[match.end():].splitlines():
                if line.strip() and not line.startswith(indent):
                    break
                lines.append(line[len(indent):])
            if "[equations]" in "\n".join(lines):
                texts.append("\n".join(lines))
    example = ROOT / "examples" / "write_your_own_neuron.py"
    texts.append(_assigned(example, "MODEL_TOML"))
    assert len(texts) >= 6  # neurons_and_rules: on-spike, burst, random numbers, ...
    for k, text in enumerate(texts):
        path = tmp_path / f"documented-{k}.toml"
        path.write_text(text)
        load_model(path)


def test_the_documented_unit_messages_are_the_real_ones(tmp_path):
    rst = (ROOT / "docs" / "neurons_and_rules.rst").read_text()
    shown = [" ".join(block.split()) for block in
             re.findall(r"code-block:: text\n\n((?:   .*\n)+)", rst)
             if block.strip().startswith("ConfigError: my-neuron.toml")]
    assert len(shown) == 3
    real = []
    for case in ("a somatic term without /ms", "a state declared in volt",
                 "a time constant in mV"):
        (old, new), _ = MISTAKES[case]
        path = tmp_path / "my-neuron.toml"
        path.write_text(GOOD.replace(old, new, 1))
        with pytest.raises(ConfigError) as info:
            load_model(path)
        real.append(" ".join(f"ConfigError: {info.value}".split()))
    assert shown == real


def test_the_standard_dimensions_are_those_of_the_assembled_equations():
    """STANDARD (what a user's entry is checked against) agrees with the equations that
    the Brian2 backend assembles."""
    import brian2

    from dendrinet.model.equations import hidden_equations, output_equations
    from dendrinet.config.units import brian2_units

    model = load_model("guerguiev2017-1hidden")
    units = brian2_units()
    for kind, text in (("hidden", hidden_equations(model)), ("output", output_equations(model))):
        eqs = brian2.Equations(text.replace("(linked)", ""))
        for name, unit in {**STANDARD["common"], **STANDARD[kind]}.items():
            if name in ("t", "dt", "i", "N"):
                continue  # Brian2's own variables
            expected = brian2.units.fundamentalunits.DIMENSIONLESS if unit == "1" \
                else units[unit].dim
            assert eqs[name].dim is expected, (kind, name)
        own = set(eqs.names) - {"t", "dt", "i", "N"}
        assert own <= set(STANDARD["common"]) | set(STANDARD[kind]), (kind, own)
