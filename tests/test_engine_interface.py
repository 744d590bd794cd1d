"""One engine interface: every registered engine implements every method of
:class:`dendrinet.engine.Engine` with the Protocol's parameters, callers outside the
backends never compare engine names, and ``present`` keeps its keyword contract
(``seed``, ``progress``) on every engine."""
from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

from dendrinet.backends import ENGINES, engine_class, engine_options, make_engine
from dendrinet.config import load_model, load_protocol
from dendrinet.engine import Engine
from dendrinet.errors import DendrinetError
from dendrinet.config.schedule import test_schedule
from dendrinet.model.weights import initial_parameters

PACKAGE = Path(__file__).resolve().parents[1] / "dendrinet"

#: What every caller may use, whichever the engine.
REQUIRED = {"describe", "settings", "compile_note", "train_epoch", "evaluate", "present",
            "record_spikes", "get_state", "set_state"}


def _protocol_methods() -> dict[str, object]:
    return {name: value for name, value in vars(Engine).items()
            if not name.startswith("_") and inspect.isfunction(value)}


def _parameters(function) -> list[tuple]:
    """(name, kind, default) of every parameter: what a caller relies on (annotations
    are documentation)."""
    return [(p.name, p.kind, p.default)
            for p in inspect.signature(function).parameters.values()]


def _engine(name: str):
    model = load_model("guerguiev2017-0hidden")
    return make_engine(name, model, load_protocol("quick"), initial_parameters(model, 64, 0), 3)


def test_the_protocol_holds_every_method_callers_use():
    assert REQUIRED <= set(_protocol_methods())
    assert isinstance(vars(Engine)["n_inputs"], property)


@pytest.mark.parametrize("name", ENGINES)
def test_every_engine_implements_the_protocol_with_its_parameters(name):
    cls = engine_class(name)
    for method, declared in _protocol_methods().items():
        implemented = getattr(cls, method, None)
        assert implemented is not None, f"{cls.__name__} lacks {method}"
        assert _parameters(implemented) == _parameters(declared), (
            f"{cls.__name__}.{method}{inspect.signature(implemented)} differs from "
            f"Engine.{method}{inspect.signature(declared)}")
    engine = _engine(name)
    assert isinstance(engine, Engine)
    assert engine.n_inputs == 64 and engine.epochs_done == 0 and isinstance(engine.name, str)
    assert isinstance(engine.describe(), str) and engine.describe()
    assert isinstance(engine.settings(), dict)
    with pytest.raises(DendrinetError, match="what must be one of train, present"):
        engine.compile_note("simulate")


def test_engine_options_give_each_engine_its_own():
    given = {"target": "numpy", "device": "runtime", "input_precision": "single"}
    assert engine_options("brian2", **given) == {"target": "numpy", "device": "runtime"}
    assert engine_options("fast", **given) == {"input_precision": "single"}
    assert engine_options("fast-double", **given) == {}  # its name fixes the precision
    with pytest.raises(DendrinetError, match="unknown engine 'slow'"):
        engine_options("slow")


def _compared_engine_names(source: str) -> list[int]:
    """Lines of every comparison (==, !=, in, not in, is) with a string that is a
    registered engine name."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for operand in list(operands):
            if isinstance(operand, (ast.Tuple, ast.List, ast.Set)):
                operands.extend(operand.elts)
        if any(isinstance(o, ast.Constant) and o.value in ENGINES for o in operands):
            lines.append(node.lineno)
    return lines


def test_the_source_check_finds_engine_name_comparisons():
    source = ("a = engine == 'brian2'\nb = name in ('x', 'fast')\nc = x == 'numpy'\n"
              "d = 'fast-double' != y\n")
    assert _compared_engine_names(source) == [1, 2, 4]


def test_no_module_outside_the_backends_compares_engine_names():
    """``simulate`` (and every other caller) treats engines alike: what differs between
    engines is asked of the engine (``describe``, ``settings``, ``compile_note``) or of the
    registry (``engine_options``)."""
    simulate = PACKAGE / "commands" / "simulate.py"
    assert _compared_engine_names(simulate.read_text(encoding="utf-8")) == []
    offenders = [f"{path.relative_to(PACKAGE)}:{line}"
                 for path in sorted(PACKAGE.rglob("*.py"))
                 if "backends" not in path.relative_to(PACKAGE).parts
                 for line in _compared_engine_names(path.read_text(encoding="utf-8"))]
    assert offenders == []


def test_fast_present_takes_the_common_keywords():
    """``seed`` defaults to the engine's own (the numbers of ``simulate`` are those of
    before), another seed gives other spikes, and ``progress`` sees 0 and the total."""
    engine = _engine("fast")
    X = np.random.default_rng(0).random((3, 64))
    schedule = test_schedule(engine.protocol, np.arange(3))
    calls = []
    default = engine.present(X, schedule, progress=lambda done, total: calls.append(
        (done, total)))
    total = schedule.total_steps * schedule.dt
    assert calls == [(0.0, total), (total, total)]
    same = engine.present(X, schedule, seed=3)
    other = engine.present(X, schedule, seed=4)
    for name in default.sizes:
        np.testing.assert_array_equal(default.spikes[name][0], same.spikes[name][0])
    assert any(not np.array_equal(default.spikes[n][0], other.spikes[n][0])
               for n in default.sizes)
    with pytest.raises(DendrinetError, match="seed must be None or a non-negative integer"):
        engine.present(X, schedule, seed=-1)
    with pytest.raises(DendrinetError, match="progress must be None or a callable"):
        engine.present(X, schedule, progress="stderr")


def test_brian2_present_reports_progress_in_simulated_ms():
    model = load_model("guerguiev2017-0hidden")
    engine = make_engine("brian2", model, load_protocol("quick"),
                         initial_parameters(model, 64, 0), 3, target="numpy")
    X = np.random.default_rng(0).random((1, 64))
    schedule = test_schedule(engine.protocol, np.arange(1))
    calls = []
    result = engine.present(X, schedule, seed=3, progress=lambda *a: calls.append(a))
    total = schedule.total_steps * schedule.dt
    assert calls[0] == (0.0, total) and calls[-1] == pytest.approx((total, total))
    assert result.V_bar["output"].shape == (1, model.n_outputs)
