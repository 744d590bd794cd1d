"""Initial parameters, feedback variants, atomic save/load."""
import numpy as np
import pytest

from dendrinet.config import load_model
from dendrinet.errors import DendrinetError
from dendrinet.model.weights import Parameters, initial_parameters, refresh_feedback, symmetric_feedback


def test_initial_basal_potentials_have_target_mean_and_spread():
    model = load_model("guerguiev2017-1hidden")
    n_in = 784
    p = initial_parameters(model, n_in, 0)
    s = np.full(n_in, model.init.nu * model.neuron.phi_max)  # inputs at nu * phi_max
    vb = s @ p.W[0] + p.b[0]
    n = vb.size
    # mean and s.d. across 500 neurons: standard errors V_sd/sqrt(n) and ~V_sd/sqrt(2n)
    assert abs(vb.mean() - model.init.V_avg) < 4 * model.init.V_sd / np.sqrt(n)
    assert abs(vb.std() - model.init.V_sd) < 4 * model.init.V_sd / np.sqrt(2 * n)
    assert p.W[0].shape == (784, 500) and p.W[0].flags.c_contiguous
    assert p.Y[0].shape == (10, 500)


def test_sparse_feedback_zeroes_the_requested_fraction():
    model = load_model("guerguiev2017-sparse")
    p = initial_parameters(model, 64, 3)
    zero = (p.Y[0] == 0).mean()
    n = p.Y[0].size
    assert abs(zero - 0.8) < 4 * np.sqrt(0.8 * 0.2 / n)
    dense = initial_parameters(load_model("guerguiev2017-1hidden"), 64, 3).Y[0]
    assert np.abs(p.Y[0][p.Y[0] != 0]).mean() > 2.5 * np.abs(dense).mean()  # x5 scaling


def test_symmetric_feedback_is_product_of_transposes():
    model = load_model("guerguiev2017-2hidden")
    p = initial_parameters(model, 20, 1)
    y = symmetric_feedback(p.W)
    np.testing.assert_allclose(y[1], p.W[2].T, rtol=0, atol=0)
    np.testing.assert_allclose(y[0], (p.W[1] @ p.W[2]).T, rtol=1e-14)


def test_noisy_symmetric_adds_fixed_noise_after_refresh():
    model = load_model("guerguiev2017-noisy-symmetric")
    p = initial_parameters(model, 30, 2)
    noise = p.Y[0] - p.W[1].T
    assert abs(noise.std() - 0.05) < 4 * 0.05 / np.sqrt(2 * noise.size)
    p.W[1] += 1.0
    refresh_feedback(p, model)
    np.testing.assert_allclose(p.Y[0] - p.W[1].T, noise, atol=1e-12)


def test_save_load_round_trip_and_errors(tmp_path):
    p = initial_parameters(load_model("guerguiev2017-2hidden"), 16, 5)
    p.save(tmp_path / "p.npz")
    q = Parameters.load(tmp_path / "p.npz")
    for a, b in zip(p.to_arrays().values(), q.to_arrays().values()):
        assert np.array_equal(a, b)
    with pytest.raises(DendrinetError, match="not found"):
        Parameters.load(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    with pytest.raises(DendrinetError, match="not a readable parameter file"):
        Parameters.load(tmp_path / "bad.npz")
    bad = p.to_arrays()
    bad["W_1"] = bad["W_1"][:3]
    with pytest.raises(DendrinetError, match="W_1 has 3 inputs but layer 1 has 500"):
        Parameters.from_arrays(bad)


def test_truncated_parameter_file_gives_clear_error(tmp_path):
    p = initial_parameters(load_model("guerguiev2017-1hidden"), 16, 5)
    p.save(tmp_path / "p.npz")
    data = (tmp_path / "p.npz").read_bytes()
    (tmp_path / "p.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DendrinetError, match="not a readable parameter file"):
        Parameters.load(tmp_path / "p.npz")
