"""Model and protocol files -> validated dataclasses."""
import dataclasses
import math
from pathlib import Path

import pytest

from dendrinet.config import (MODELS_DIR, PROTOCOLS_DIR, load_model, load_protocol,
                              model_to_toml, protocol_to_toml)
from dendrinet.errors import ConfigError

BASE = (MODELS_DIR / "guerguiev2017-1hidden.toml").read_text()


def write(tmp_path, text, name="m.toml"):
    path = Path(tmp_path) / name
    path.write_text(text)
    return path


def test_units_are_converted_to_ms_and_per_ms(tmp_path):
    text = BASE.replace('phi_max = "200 Hz"', 'phi_max = "0.2 kHz"').replace(
        'tau_L = "10 ms"', 'tau_L = "0.01 s"')
    model = load_model(write(tmp_path, text))
    assert model.neuron.phi_max == pytest.approx(0.2, rel=1e-15)
    assert model.neuron.tau_L == pytest.approx(10.0, rel=1e-15)
    assert model.neuron.g_B == 0.6
    # derived attenuations of the paper
    assert model.neuron.k_B == pytest.approx(0.6 / 0.7, rel=1e-15)
    assert model.neuron.k_D == pytest.approx(0.6 / 0.7, rel=1e-15)
    assert model.P_hidden == pytest.approx(100.0) and model.P_output == pytest.approx(500.0)


def test_shipped_models_parse_with_matching_learning_rates():
    for path in sorted(MODELS_DIR.glob("*.toml")):
        model = load_model(path)
        assert len(model.learning.eta) == len(model.hidden) + 1, path.name
        assert model.name == path.stem


def test_model_by_name_and_brian2_namespace():
    from brian2 import Hz, ms
    model = load_model("guerguiev2017-2hidden")
    assert model.hidden == (500, 100)
    ns = model.neuron.brian2_namespace()
    assert float(ns["phi_max"] / Hz) == pytest.approx(200.0)
    assert float(ns["g_L"] * ms) == pytest.approx(0.1)
    assert ns["psp_jump"] == pytest.approx(1 / 7)


@pytest.mark.parametrize("old, new, words", [
    ('g_L = "0.1 /ms"', 'g_L = "0.1 /ms"\nbogus = 1', "unknown key(s) bogus"),
    ('g_B = "0.6 /ms"', 'g_B = "-0.6 /ms"', "g_B: a conductance cannot be negative"),
    ('tau_s = "3 ms"', 'tau_s = "12 ms"', "tau_s: must be shorter than tau_L"),
    ('tau_s = "3 ms"', 'tau_s = "3 Hz"', "tau_s: unit 'Hz' is not a time unit"),
    ('g_L = "0.1 /ms"', 'g_L = 0.1', "g_L: a rate needs a unit"),
    ('mode = "random"', 'mode = "telepathic"', "mode: 'telepathic' is not one of"),
    ('hidden = [500]', 'hidden = [500, -3]', "hidden: expected a list of positive integers"),
])
def test_bad_model_files_name_the_key(tmp_path, old, new, words):
    assert old in BASE
    with pytest.raises(ConfigError) as err:
        load_model(write(tmp_path, BASE.replace(old, new, 1)))
    assert words in str(err.value)
    assert "m.toml" in str(err.value)


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_model(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_model(write(tmp_path, "[neuron\n"))


def test_protocol_defaults_match_the_paper():
    p = load_protocol("guerguiev2017")
    assert (p.dt, p.phase_duration, p.settle, p.test_duration) == (1.0, 50.0, 30.0, 250.0)
    assert p.settle_steps == 30 and p.test_steps == 250 and p.test_settle_steps == 30
    assert p.jitter and math.isclose(p.jitter_mean, 2.0)


def test_bad_protocol(tmp_path):
    text = (Path(__file__).parents[1] / "protocols" / "guerguiev2017.toml").read_text()
    with pytest.raises(ConfigError, match="settle time must be shorter"):
        load_protocol(write(tmp_path, text.replace('settle = "30 ms"', 'settle = "60 ms"', 1)))
    with pytest.raises(ConfigError, match="not a whole number of dt"):
        load_protocol(write(tmp_path, text.replace('phase_duration = "50 ms"', 'phase_duration = "50.5 ms"')))
    with pytest.raises(ConfigError, match=r"unknown key\(s\) speed"):
        load_protocol(write(tmp_path, text.replace("[test]", "[test]\nspeed = 3")))


def test_learning_rates_must_match_the_layers(tmp_path):
    import re
    text = re.sub(r"^eta = \[[^\]]*\]", "eta = [0.4]", BASE, count=1, flags=re.M)
    with pytest.raises(ConfigError, match=r"1 learning rate\(s\) given, but the network has 2"):
        load_model(write(tmp_path, text))


@pytest.mark.parametrize("path", sorted(MODELS_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_model_to_toml_reads_back_to_every_shipped_model(tmp_path, path):
    model = load_model(path)
    assert load_model(write(tmp_path, model_to_toml(model))) == model


def test_model_to_toml_round_trips_values_built_in_code(tmp_path):
    base = load_model("guerguiev2017-1hidden")
    model = dataclasses.replace(
        base, name="built", description='quotes " and \\ and\na newline',
        hidden=(7, 3), n_outputs=4,
        neuron=dataclasses.replace(base.neuron, tau_s=0.1 + 0.2, g_A=0.05),
        learning=dataclasses.replace(base.learning, eta=(0.1, 1e-3, 3.3e-5), P_hidden=12.5,
                                     train_hidden=False),
        feedback=dataclasses.replace(base.feedback, mode="sparse", sparsity=0.25),
        equations=dataclasses.replace(base.equations, apical="2*tanh(V_a_lin/2)"))
    back = load_model(write(tmp_path, model_to_toml(model)))
    assert back == model
    assert back.neuron.tau_s == 0.1 + 0.2  # floats are written exactly, not rounded


@pytest.mark.parametrize("path", sorted(PROTOCOLS_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_protocol_to_toml_reads_back_to_every_shipped_protocol(tmp_path, path):
    protocol = load_protocol(path)
    assert load_protocol(write(tmp_path, protocol_to_toml(protocol), "p.toml")) == protocol
