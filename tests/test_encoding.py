"""Image validation and intensity -> rate encoding."""
import numpy as np
import pytest

from dendrinet.encoding import (bernoulli_spikes, input_rates, input_rates_hz, spike_probability,
                                validate_images)
from dendrinet.errors import DendrinetError


def test_single_image_becomes_one_row():
    image = np.linspace(0, 1, 5)
    out = validate_images(image)
    assert out.shape == (1, 5) and out.dtype == np.float64 and out.flags.c_contiguous
    np.testing.assert_array_equal(out[0], image)


def test_rates_are_phi_max_times_intensity():
    images = np.array([[0.0, 0.25, 1.0], [0.5, 0.75, 0.1]])
    np.testing.assert_allclose(input_rates(images, 0.2), 0.2 * images, rtol=0, atol=0)
    np.testing.assert_allclose(input_rates_hz(images, 0.2), 200.0 * images, rtol=1e-15)


@pytest.mark.parametrize("images, message", [
    (np.array([[0.1, np.nan]]), "NaN or infinite"),
    (np.array([[0.1, np.inf]]), "NaN or infinite"),
    (np.array([[0.1, -0.2]]), ">= 0.*-0.2"),
    (np.array([[0.1, 255.0]]), "<= 1.*255.*divide 8-bit"),
    (np.zeros((2, 3, 4)), r"shape \(n_examples, n_inputs\)"),
    (np.zeros((0, 4)), "empty"),
    ("abc", "array of numbers"),
])
def test_bad_images_are_named(images, message):
    with pytest.raises(DendrinetError, match=message):
        validate_images(images)


def test_wrong_number_of_pixels_is_named():
    with pytest.raises(DendrinetError, match="5 pixels per image.*784 input neurons"):
        validate_images(np.zeros((2, 5)), n_inputs=784)


def test_error_points_at_the_offending_pixel():
    images = np.zeros((3, 4))
    images[2, 1] = 1.5
    with pytest.raises(DendrinetError, match="example 2, pixel 1"):
        validate_images(images)


def test_bad_phi_max_and_too_long_steps_are_refused():
    with pytest.raises(DendrinetError, match="phi_max"):
        input_rates(np.zeros((1, 2)), -0.2)
    with pytest.raises(DendrinetError, match="rate \\* dt = 2 > 1"):
        spike_probability([0.2, 2.0], 1.0)


def test_bernoulli_spikes_have_the_encoded_probability():
    """Fraction of steps with a spike = phi_max x dt, within a 4-sigma binomial bound."""
    rng = np.random.default_rng(0)
    rates = input_rates(np.array([0.0, 0.3, 1.0]), 0.2)[0]
    n = 20000
    counts = sum(bernoulli_spikes(rates, 1.0, rng).astype(int) for _ in range(n))
    p = rates * 1.0
    assert counts[0] == 0
    assert np.all(np.abs(counts - n * p) <= 4 * np.sqrt(n * p * (1 - p)))
