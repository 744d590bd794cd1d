"""Every size is checked before the work starts (dendrinet.config.limits): steps per
presentation when a protocol is read, network size when a model is read, the memory of
parameters and engines before they are allocated (the machine's memory is set small
here, so that the tests do not depend on the machine)."""
from __future__ import annotations

import tracemalloc
import types

import numpy as np
import pytest

from dendrinet.config import limits
from dendrinet.backends import make_engine
from dendrinet.config import load_model, load_protocol
from dendrinet.errors import ConfigError, ResourceError
from dendrinet.model.weights import initial_parameters

GB = 10**9


def _protocol(tmp_path, table: str, line: str):
    path = tmp_path / "p.toml"
    path.write_text(f'extends = "paper-timing"\n[{table}]\n{line}\n', encoding="utf-8")
    return path


def _model(tmp_path, hidden):
    path = tmp_path / "m.toml"
    eta = ", ".join(["0.1"] * (len(hidden) + 1))
    path.write_text(f'extends = "guerguiev2017-1hidden"\n[model]\nname = "big"\n[network]\n'
                    f'hidden = {list(hidden)}\n[learning]\neta = [{eta}]\n', encoding="utf-8")
    return path


@pytest.fixture
def small_machine(monkeypatch):
    """A machine with 1 GB of memory."""
    monkeypatch.setattr(limits, "machine_memory_bytes", lambda: 1 * GB)


# ------------------------------------------------------------------ protocols


@pytest.mark.parametrize("table, line, message", [
    ("train", 'phase_duration = "1e7 ms"',
     r"\[train\].phase_duration = 1e\+07 ms plus the jitter's tail \(224 steps\) is "
     r"10,000,224 steps of dt = 1 ms; at most 1,000,000 steps per presentation"),
    ("train", 'phase_duration = "1e9 ms"', r"is 1,000,000,224 steps of dt = 1 ms"),
    ("protocol", 'dt = "1e-9 ms"',
     r"\[train\].phase_duration = 50 ms .* is 50,000,000,224 steps of dt = 1e-09 ms"),
    ("test", 'duration = "1e12 ms"',
     r"\[test\].duration = 1e\+12 ms is 1,000,000,000,000 steps of dt = 1 ms; at most "
     r"1,000,000"),
    ("train", "jitter_mean = 1e9", r"\[train\].jitter_mean = 1e\+09 .* lets a phase's jitter "
                                   r"reach"),
])
def test_too_many_steps_per_presentation_is_refused_when_the_protocol_is_read(
        tmp_path, table, line, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_protocol(_protocol(tmp_path, table, line))
    assert str(info.value).startswith("p.toml (extending paper-timing.toml) [")
    assert "\n" not in str(info.value)


def test_the_bound_allows_long_presentations(tmp_path):
    protocol = load_protocol(_protocol(tmp_path, "test", 'duration = "999000 ms"'))
    assert protocol.test_steps == 999_000
    assert limits.jitter_tail_steps(load_protocol("paper-timing")) == 224
    assert limits.jitter_tail_steps(load_protocol("quick")) >= 0


# ------------------------------------------------------------------- networks


def test_a_layer_beyond_the_bound_is_refused_when_the_model_is_read(tmp_path):
    with pytest.raises(ConfigError, match=r"m.toml .*\[network\].hidden: a layer of 2,000,000 "
                                          r"units; at most 1,000,000 units per layer"):
        load_model(_model(tmp_path, [500, 2_000_000]))
    with pytest.raises(ConfigError, match=r"\[network\].hidden: 101 hidden layers; at most 100"):
        load_model(_model(tmp_path, [10] * 101))
    assert load_model(_model(tmp_path, [100_000, 100_000])).hidden == (100_000, 100_000)


def test_parameters_beyond_memory_are_refused_before_they_are_drawn(tmp_path, small_machine):
    model = load_model(_model(tmp_path, [100_000, 100_000]))
    tracemalloc.start()
    try:
        with pytest.raises(ResourceError) as info:
            initial_parameters(model, 784, 0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(info.value) == ("drawing the parameters of model 'big' (784-100000-100000-10) "
                               "needs about 160.7 GB; this machine has 1.0 GB (at most 80% "
                               "of it is used)")
    assert peak < 10**7  # nothing of the 80 GB was allocated


def test_an_engine_beyond_memory_is_refused_by_make_engine(tmp_path, small_machine):
    model = load_model(_model(tmp_path, [100_000, 100_000]))
    tiny = types.SimpleNamespace(W=[np.zeros((784, 1))])  # make_engine looks at n_inputs only
    with pytest.raises(ResourceError, match=r"the fast engine of model 'big' "
                                            r"\(784-100000-100000-10\) with protocol "
                                            r"'paper-timing' needs about [\d,.]+ GB; this "
                                            r"machine has 1.0 GB"):
        make_engine("fast", model, load_protocol("paper-timing"), tiny)
    # long test presentations: input-event buffers of 784 x 10^5 int64 per thread
    small = load_model(_model(tmp_path, [20]))
    long_test = load_protocol(_protocol(tmp_path, "test", 'duration = "100000 ms"'))
    params = initial_parameters(small, 784, 0)
    with pytest.raises(ResourceError, match=r"784-20-10\) with protocol 'p' needs about"):
        make_engine("fast", small, long_test, params)


def test_the_engine_estimate_is_close_to_the_engines_arrays():
    from dendrinet.backends.numba.input_spikes import new_events

    model, protocol = load_model("guerguiev2017-1hidden"), load_protocol("paper-timing")
    params = initial_parameters(model, 784, 0)
    engine = make_engine("fast", model, protocol, params, 0)
    net, _ = engine._net()
    train_steps = 2 * (protocol.steps(protocol.phase_duration) + 224)
    events = new_events(784, train_steps) + new_events(784, protocol.test_steps)
    arrays = [*params.W, *params.b, *params.Y, *params.Y_noise, *net, *engine._state, *events]
    measured = sum(a.nbytes for a in arrays if isinstance(a, np.ndarray))
    estimate = limits.engine_bytes(model.layer_sizes(784), protocol, threads=1)
    assert measured / 1.5 < estimate < 1.5 * measured, (estimate, measured)
    stored = sum(a.nbytes for a in (*params.W, *params.b, *params.Y, *params.Y_noise))
    assert limits.parameter_bytes(model.layer_sizes(784)) == stored


def test_memory_text_and_machine_memory():
    assert limits.gigabytes(160.7e9) == "160.7 GB"
    assert limits.gigabytes(2.2e7) == "0.022 GB"
    assert 10**8 < limits.machine_memory_bytes() < 10**15
    limits.check_memory(10**6, "a little")
    with pytest.raises(ResourceError, match=r"^a lot needs about 1,000,000.0 GB; this machine "
                                            r"has"):
        limits.check_memory(10**15, "a lot")


def test_run_names_are_shortened_with_a_stable_hash():
    short = "guerguiev2017-1hidden__digits__seed0"
    assert limits.shorten_run_name(short) == short
    name = "m" * 150 + "__digits__eta=0.1__seed12"
    cut = limits.shorten_run_name(name)
    assert len(cut) == 120 and cut.endswith("__seed12") and cut.startswith("m" * 90)
    assert cut == limits.shorten_run_name(name)
    assert cut != limits.shorten_run_name(name.replace("eta=0.1", "eta=0.2"))


def test_the_spike_sample_is_checked_before_training(tmp_path, monkeypatch):
    """train records its spike sample after the last epoch: a sample beyond memory is
    refused before the first epoch, not after hours of training."""
    from dendrinet.training.trainer import train

    monkeypatch.setattr(limits, "machine_memory_bytes", lambda: 0.2 * GB)
    monkeypatch.setattr(limits, "engine_bytes", lambda *args, **kwargs: 0)
    long_test = _protocol(tmp_path, "test", 'duration = "200000 ms"')
    # 20 presentations x 200,000 steps x (448 + 20 + 10) neurons (the digits' 64 pixels
    # drive 7 input neurons each), one byte each: 1.912 GB
    assert limits.recording_bytes((448, 20, 10), load_protocol(long_test), 20) == 1_912_000_000
    with pytest.raises(ResourceError, match=r"recording the spikes of 20 test presentations "
                                            r"after training .* needs about 1.9 GB"):
        train(_model(tmp_path, [20]), long_test, "digits", tmp_path / "run", epochs=1,
              n_train=30, n_test=30, progress=False, n_spike_samples=20)
    assert not (tmp_path / "run" / "weights" / "epoch_001.npz").exists()


def test_a_run_refused_for_its_size_leaves_no_folder_behind(tmp_path, small_machine):
    """train creates the folder and its marker before it draws the parameters; a model
    beyond memory fails there, and the folder it created goes (nothing was written)."""
    from dendrinet.training.trainer import train

    with pytest.raises(ResourceError, match="needs about"):
        train(_model(tmp_path, [100_000, 100_000]), "quick", "digits", tmp_path / "run",
              epochs=1, progress=False, n_spike_samples=0)
    assert not (tmp_path / "run").exists()
    (tmp_path / "kept").mkdir()  # a folder the user made stays, empty
    with pytest.raises(ResourceError, match="needs about"):
        train(_model(tmp_path, [100_000, 100_000]), "quick", "digits", tmp_path / "kept",
              epochs=1, progress=False, n_spike_samples=0)
    assert (tmp_path / "kept").is_dir()


@pytest.mark.parametrize("engine", ["fast", "brian2"])
def test_presenting_beyond_memory_is_refused_before_the_traces_are_allocated(
        tmp_path, small_machine, engine):
    """present records every spike and trace of a schedule: 1,000 test presentations of
    100,000 steps for 64-20-10 would need 1e8 steps x (94 bytes of spikes + 8 x 30 x 3
    bytes of V, V_b, V_a) = 81 GB; refused with the numbers, not a MemoryError."""
    from dendrinet.config.schedule import test_schedule

    assert limits.trace_bytes(64, 30, 0, 10**8) == 10**8 * (94 + 720)
    model = load_model(_model(tmp_path, [20]))
    long_test = load_protocol(_protocol(tmp_path, "test", 'duration = "100000 ms"'))
    X = np.full((1000, 64), 0.5)
    eng = make_engine(engine, model, long_test, initial_parameters(model, 64, 0), 0)
    with pytest.raises(ResourceError, match=r"recording every spike and trace of 1000 "
                                            r"presentations \(100,000,000 steps\) needs "
                                            r"about 81.4 GB; this machine has 1.0 GB"):
        eng.present(X, test_schedule(long_test, np.arange(1000)))
