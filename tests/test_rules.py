"""Learning rules of the hidden layers (dendrinet.learning.rules) and user rules."""
import math

import numpy as np
import pytest

from dendrinet.learning.plasticity import hidden_error
from dendrinet.learning.rules import (HiddenLayer, direct_feedback_alignment, gaussian,
                                            noise_feedback, segregated_dendrite)
from dendrinet.learning.rule_files import allow
from dendrinet.learning.rule_part import check_rule_compiles, load_user_rule
from dendrinet.config import ConfigError, load_model
from dendrinet.errors import DendrinetError


def allowed_rule(path, name):
    """``load_user_rule`` of a file the test allowed first, as its user would."""
    allow(path)
    return load_user_rule(str(path), name)


def sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def layer(rng, n=40, n_out=10, key=7):
    return HiddenLayer(0, rng.normal(0, 1.5, n), rng.uniform(0.2, 0.8, n),
                       rng.uniform(0.2, 0.8, n), rng.uniform(0, 0.1, 64), rng.uniform(0, 0.1, n),
                       rng.normal(0, 0.01, n_out), rng.normal(0, 1, (n_out, n)), 0.2, 0.8,
                       np.uint64(key))


def test_segregated_dendrite_rule_is_the_plasticity_kernel_bit_for_bit():
    lay = layer(np.random.default_rng(0))
    a, b = np.zeros(40), np.zeros(40)
    segregated_dendrite(lay, a)
    hidden_error(lay.V_f, lay.alpha_f, lay.alpha_t, lay.phi_max, lay.k_B, b)
    assert np.array_equal(a, b)
    s = sig(lay.V_f)
    np.testing.assert_allclose(a, (lay.alpha_t - lay.alpha_f) * 0.8 * 0.2 * s * (1 - s),
                               rtol=1e-13)


def test_direct_feedback_alignment_projects_the_output_error():
    lay = layer(np.random.default_rng(1))
    e = np.full(40, np.nan)
    direct_feedback_alignment(lay, e)
    s = sig(lay.V_f)
    np.testing.assert_allclose(e, (lay.Y.T @ lay.e_out) * 0.8 * s * (1 - s), rtol=1e-12)


def test_noise_feedback_is_gaussian_scaled_to_the_output_error():
    rng = np.random.default_rng(2)
    lay = layer(rng, n=20000)
    e = np.zeros(20000)
    noise_feedback(lay, e)
    s = sig(lay.V_f)
    scale = math.sqrt(np.mean(lay.e_out ** 2)) / 0.2
    xi = e / (scale * 0.8 * 0.2 * s * (1 - s))
    # standard normal: mean within 4 standard errors, variance within 4 of its s.e.
    assert abs(xi.mean()) < 4 / math.sqrt(xi.size)
    assert abs(xi.var() - 1) < 4 * math.sqrt(2 / xi.size)
    again = np.zeros(20000)
    noise_feedback(lay, again)
    assert np.array_equal(e, again)  # counter-based: same key, same noise
    other = np.zeros(20000)
    noise_feedback(lay._replace(key=np.uint64(8)), other)
    assert abs(np.corrcoef(e, other)[0, 1]) < 4 / math.sqrt(e.size)
    silent = np.ones(20000)
    noise_feedback(lay._replace(e_out=np.zeros(10)), silent)
    assert not silent.any()  # no output error, no update


def test_gaussian_moments():
    x = np.array([gaussian(np.uint64(3), j) for j in range(40000)])
    assert abs(x.mean()) < 4 / 200 and abs(x.var() - 1) < 4 * math.sqrt(2 / 40000)
    assert abs(np.mean(x ** 3)) < 4 * math.sqrt(15 / 40000)  # symmetric


RULE_FILE = '''\
from numba import njit

@njit
def plateau_sign(layer, e):
    for j in range(e.size):
        d = layer.alpha_t[j] - layer.alpha_f[j]
        e[j] = 0.01 * ((d > 0) - (d < 0))

def forgets_one(layer, e):
    for j in range(e.size - 1):
        e[j] = 0.0

@njit
def wrong_signature(layer):
    return 0.0

def not_numba(layer, e):
    e[:] = layer.undefined_field
'''


def test_user_rules_load_compile_and_fail_with_one_message(tmp_path):
    path = tmp_path / "my_rules.py"
    path.write_text(RULE_FILE)
    rule = allowed_rule(path, "plateau_sign")
    check_rule_compiles(rule, "my_rules.py:plateau_sign")
    lay = layer(np.random.default_rng(3))
    e = np.zeros(40)
    rule(lay, e)
    np.testing.assert_array_equal(e, 0.01 * np.sign(lay.alpha_t - lay.alpha_f))
    plain = allowed_rule(path, "forgets_one")  # a plain function is njit-compiled
    with pytest.raises(DendrinetError, match="non-finite values"):
        check_rule_compiles(plain, "my_rules.py:forgets_one")
    for name in ("wrong_signature", "not_numba"):
        with pytest.raises(DendrinetError, match="does not compile or run as rule") as info:
            check_rule_compiles(allowed_rule(path, name), f"my_rules.py:{name}")
        assert "\n" not in str(info.value)
    with pytest.raises(DendrinetError, match="has no function 'absent'"):
        allowed_rule(path, "absent")
    broken = tmp_path / "broken.py"
    broken.write_text("import not_a_module_anywhere\n")
    with pytest.raises(DendrinetError, match="cannot be imported: ModuleNotFoundError"):
        allowed_rule(broken, "f")


def test_model_files_name_rules_relative_to_themselves(tmp_path):
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "mine.py").write_text(RULE_FILE)
    path = tmp_path / "m.toml"
    path.write_text('extends = "guerguiev2017-1hidden"\n[learning]\n'
                    'rule = "rules/mine.py:plateau_sign"\n')
    model = load_model(path)
    assert model.learning.rule == f"{(tmp_path / 'rules' / 'mine.py').resolve()}:plateau_sign"
    path.write_text('extends = "guerguiev2017-1hidden"\n[learning]\nrule = "nope.py:f"\n')
    with pytest.raises(ConfigError, match="nope.py does not exist"):
        load_model(path)
    path.write_text('extends = "guerguiev2017-1hidden"\n[learning]\nrule = "hebbian"\n')
    with pytest.raises(ConfigError, match="neither a shipped rule"):
        load_model(path)
    for name in ("noise-feedback", "direct-feedback-alignment"):
        assert load_model(name).learning.rule == name


OUT_OF_BOUNDS_RULES = '''\
from numba import njit

@njit
def writes_past_the_end(layer, e):
    for j in range(e.size):
        e[j] = 0.0
    e[e.size + 5] = 1.0

@njit
def writes_unit_seven(layer, e):
    for j in range(e.size):
        e[j] = 0.0
    e[7] = 0.01

@njit
def reads_inputs_per_unit(layer, e):
    for j in range(e.size):
        e[j] = layer.s_pre[j]

@njit
def reads_a_state_variable(layer, e):
    for j in range(e.size):
        e[j] = layer.X_f[0, j] - layer.X_t[0, j]
'''


def test_the_check_of_a_user_rule_is_bounds_checked_on_the_layers_shapes(tmp_path):
    """A rule indexing past an array is one error, in this process (the check runs the
    rule compiled with boundscheck=True: the bad write never happens), never a crash;
    training keeps the rule as compiled (no bounds checks)."""
    path = tmp_path / "outside.py"
    path.write_text(OUT_OF_BOUNDS_RULES)
    rule = allowed_rule(path, "writes_past_the_end")
    with pytest.raises(DendrinetError, match=r"learning rule outside.py:writes_past_the_end "
                                             r"writes or reads outside an array \(hidden layer "
                                             r"0, 3 units: e has shape \(3,\); X_f and X_t "
                                             r"have 0 rows, .*\): IndexError: "
                                             r"index is out of bounds") as info:
        check_rule_compiles(rule, "outside.py:writes_past_the_end")
    assert "\n" not in str(info.value)
    assert not rule.targetoptions.get("boundscheck")  # the user's compiled rule is kept
    # the model's real shapes: unit 7 exists in the first layer, not in the second
    seven = allowed_rule(path, "writes_unit_seven")
    check_rule_compiles(seven, "outside.py:writes_unit_seven", hidden=(8,), n_outputs=10)
    with pytest.raises(DendrinetError, match=r"\(hidden layer 1, 4 units"):
        check_rule_compiles(seven, "outside.py:writes_unit_seven", hidden=(8, 4), n_outputs=10)
    reads = allowed_rule(path, "reads_inputs_per_unit")
    check_rule_compiles(reads, "outside.py:reads_inputs_per_unit", hidden=(30,), n_inputs=64)
    with pytest.raises(DendrinetError, match="outside an array"):
        check_rule_compiles(reads, "outside.py:reads_inputs_per_unit", hidden=(30, 100),
                            n_inputs=64)
    # a rule reading the model's own state variables: checked on as many rows as the
    # model has (none: one error that says so)
    state = allowed_rule(path, "reads_a_state_variable")
    check_rule_compiles(state, "outside.py:reads_a_state_variable", n_x=1)
    with pytest.raises(DendrinetError, match=r"X_f and X_t have 0 rows, one per state "
                                             r"variable of the model's \[equations\] "
                                             r"hidden_extra"):
        check_rule_compiles(state, "outside.py:reads_a_state_variable")
    # the process goes on: a correct rule still checks
    good = tmp_path / "good.py"
    good.write_text(RULE_FILE)
    check_rule_compiles(allowed_rule(good, "plateau_sign"), "good.py:plateau_sign")


RAISING_RULE = """\
from numba import njit

@njit
def raises_while_training(layer, e):
    if layer.V_f[0] != 0.0:  # not in the check before training (V_f = 0 there)
        raise ValueError("my rule refuses this example")
    for j in range(e.size):
        e[j] = 0.0
"""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_rule_that_raises_during_training_stops_it(tmp_path):
    """An exception raised inside a rule cannot propagate through the compiled kernels
    (first-class functions): Numba prints it, and the errors the rule left unwritten are
    NaN, so training stops at the end of the chunk with one message, never learning from
    stale errors (the exception itself goes to stderr, through Python's hook for
    exceptions that cannot be raised)."""
    from dendrinet.datasets import load_dataset
    from dendrinet.errors import TrainingError
    from dendrinet.training import train

    (tmp_path / "raising.py").write_text(RAISING_RULE)
    allow(tmp_path / "raising.py")
    model = tmp_path / "m.toml"
    model.write_text('extends = "guerguiev2017-1hidden"\n[network]\nhidden = [8]\n'
                     '[learning]\nrule = "raising.py:raises_while_training"\n')
    data = load_dataset("digits", n_train=10, n_test=5)
    with pytest.raises(TrainingError, match="not finite|NaN|non-finite") as info:
        train(model, "quick", data, tmp_path / "run", epochs=1, progress=False,
              n_spike_samples=0)
    assert "epoch 1" in str(info.value), info.value
