"""The epoch loop shared by training runs and the estimator: seeds, example order,
history."""
import dataclasses

import numpy as np
import pytest

from dendrinet.config import load_protocol
from dendrinet.training.epochs import (History, LearningStalledWarning, check_epochs, check_seed,
                                      evaluation_seed, seed_streams, stalled_message,
                                      train_epochs, warm_up)
from dendrinet.errors import DendrinetError


class OrderRecorder:
    """An engine stand-in that records the example orders it is given."""

    def __init__(self):
        self.orders, self.progress_calls = [], []

    def train_epoch(self, X, y, order=None, progress=None, sample_every=100):
        self.orders.append(np.array(order))
        if progress is not None:
            progress(len(order), len(order) // 2)
        self.progress_calls.append(sample_every)
        return {"correct": np.ones(len(order), bool), "sample_position": np.array([0])}


def test_seed_streams_are_reproducible_and_independent():
    a_init, a_order = seed_streams(7)
    b_init, b_order = seed_streams(7)
    np.testing.assert_array_equal(a_init.random(5), b_init.random(5))
    np.testing.assert_array_equal(a_order.permutation(20), b_order.permutation(20))
    init, order = seed_streams(7)
    assert not np.array_equal(init.random(5), order.random(5))
    assert not np.array_equal(seed_streams(8)[0].random(5), seed_streams(7)[0].random(5))


def test_evaluation_seed_depends_on_seed_and_epoch_and_fits_32_bits():
    seeds = {evaluation_seed(s, e) for s in range(3) for e in range(4)}
    assert len(seeds) == 12
    assert all(0 <= s < 2**32 for s in seeds)
    assert evaluation_seed(5, 2) == evaluation_seed(5, 2)


def test_train_epochs_draws_one_permutation_per_epoch_from_the_order_stream():
    protocol = load_protocol("quick")
    engine = OrderRecorder()
    X, y = np.zeros((12, 3)), np.zeros(12, np.int64)
    _, order_rng = seed_streams(3)
    epochs = [e for e, _, _ in train_epochs(engine, protocol, X, y, order_rng, 2, 4,
                                            progress=False, sample_every=5)]
    assert epochs == [2, 3, 4]
    _, expected = seed_streams(3)
    for order in engine.orders:
        np.testing.assert_array_equal(order, expected.permutation(12))
    assert engine.progress_calls == [5, 5, 5]


def test_train_epochs_keeps_the_order_without_shuffle():
    protocol = dataclasses.replace(load_protocol("quick"), shuffle=False)
    engine = OrderRecorder()
    _, order_rng = seed_streams(0)
    list(train_epochs(engine, protocol, np.zeros((5, 2)), np.zeros(5, np.int64), order_rng,
                      1, 2, progress=False))
    for order in engine.orders:
        np.testing.assert_array_equal(order, np.arange(5))


def test_history_concatenates_epochs_and_labels_them():
    history = History()
    history.append(1, {"correct": np.array([True, False]), "sample_position": np.array([0])})
    history.append(2, {"correct": np.array([True, True, False]),
                       "sample_position": np.array([0, 2])})
    arrays = history.arrays()
    np.testing.assert_array_equal(arrays["epoch"], [1, 1, 2, 2, 2])
    np.testing.assert_array_equal(arrays["correct"], [True, False, True, True, False])
    np.testing.assert_array_equal(arrays["sample_epoch"], [1, 2, 2])
    again = History.from_arrays(arrays)
    again.append(3, {"correct": np.array([False]), "sample_position": np.array([0])})
    assert again.arrays()["epoch"].tolist() == [1, 1, 2, 2, 2, 3]


@pytest.mark.parametrize("check, value, match", [
    (check_seed, -1, "seed"), (check_seed, 1.5, "seed"), (check_seed, True, "seed"),
    (check_epochs, 0, "epochs"), (check_epochs, "3", "epochs"),
])
def test_bad_seeds_and_epochs_are_refused(check, value, match):
    with pytest.raises(DendrinetError, match=match):
        check(value)


class WarmUpRecorder(OrderRecorder):
    def __init__(self, note):
        super().__init__()
        self.note, self.evaluated = note, []

    def compile_note(self):
        return self.note

    def evaluate(self, X, y=None, progress=None):
        self.evaluated.append(len(X))
        return {}


@pytest.mark.parametrize("note", [None, "compiling the kernels (once)"])
def test_warm_up_runs_one_example_on_a_fresh_engine_and_says_when_it_compiles(note, capsys):
    made = []

    def new_engine():
        made.append(WarmUpRecorder(note))
        return made[-1]

    seconds = warm_up(new_engine, np.zeros((7, 3)), np.zeros(7, np.int64))
    assert seconds >= 0 and len(made) == 1
    assert [len(o) for o in made[0].orders] == [1] and made[0].evaluated == [1]
    assert capsys.readouterr().out == ("" if note is None else note + "\n")


def test_is_cached_tells_a_cold_numba_cache_from_a_warm_one(tmp_path):
    """In a fresh process with an empty cache folder: not cached before the first call
    (which compiles and writes the cache), cached after it."""
    import subprocess
    import sys

    module = tmp_path / "tiny_kernel.py"
    module.write_text("from numba import njit\n\n@njit(cache=True)\ndef f(x):\n"
                      "    return x + 1\n")
    code = ("import sys; sys.path.insert(0, %r); import tiny_kernel as k; "
            "from dendrinet.backends.numba.jit_cache import is_cached; "
            "before = is_cached(k.f); k.f(1); print(before, is_cached(k.f))" % str(tmp_path))
    env = {**__import__("os").environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "True"]


def test_a_training_error_at_chance_is_told_apart_from_learning():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 1000)
    at_chance = rng.random(1000) < 0.1  # right one time in ten: 90 % error
    message = stalled_message(y, at_chance, 1)
    assert message.startswith("training error 89.5 %") and "epoch 1 is at chance" in message
    assert "\n" not in message and "smaller learning rates" in message
    assert stalled_message(y, rng.random(1000) < 0.2, 1) is None  # 80 %: learning
    # unbalanced classes: chance is always answering the most frequent one (70 %)
    y = np.r_[np.zeros(700, np.int64), np.ones(300, np.int64)]
    assert stalled_message(y, y == 0, 2) is not None           # 30 % error = chance
    assert stalled_message(y, rng.random(1000) < 0.8, 2) is None  # 20 % error
    assert stalled_message(y[:10], np.zeros(10, bool), 1) is None  # too few to tell


class StalledEngine(OrderRecorder):
    """Right on one example in ten, whatever it is shown."""

    def train_epoch(self, X, y, order=None, progress=None, sample_every=100):
        hist = super().train_epoch(X, y, order, progress, sample_every)
        return {**hist, "label": y[order], "correct": np.arange(len(order)) % 10 == 0}


def test_train_epochs_warns_once_when_training_stalls():
    protocol = load_protocol("quick")
    X, y = np.zeros((200, 3)), np.arange(200) % 10
    with pytest.warns(LearningStalledWarning) as caught:
        list(train_epochs(StalledEngine(), protocol, X, y, seed_streams(0)[1], 1, 3,
                          progress=False))
    assert len(caught) == 1 and "epoch 1 is at chance" in str(caught[0].message)


def test_the_cli_prints_the_stall_warning_in_one_line(tmp_path, capsys):
    """Labels that have nothing to do with the features: training cannot learn them,
    and dendrinet train says so, once, in one line (with what to try)."""
    from dendrinet.cli import main

    rng = np.random.default_rng(1)
    data = tmp_path / "noise.npz"
    np.savez(data, X_train=rng.random((300, 16)), y_train=rng.integers(0, 4, 300),
             X_test=rng.random((40, 16)), y_test=rng.integers(0, 4, 40))
    model = tmp_path / "m.toml"
    model.write_text('extends = "guerguiev2017-0hidden"\n[network]\nn_outputs = 4\n')
    assert main(["train", "--model", str(model), "--dataset", str(data), "--protocol", "quick",
                 "--epochs", "2", "--spike-samples", "0", "--quiet",
                 "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "warning" in line]
    assert len(lines) == 1, err
    assert lines[0].startswith("dendrinet train: warning: training error") and \
        "is at chance" in lines[0]
