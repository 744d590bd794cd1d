"""Image validation and intensity -> rate encoding."""
import numpy as np
import pytest

from dendrinet.datasets.encoding import max_spike_probability, validate_images
from dendrinet.errors import DendrinetError


def test_single_image_becomes_one_row():
    image = np.linspace(0, 1, 5)
    out = validate_images(image)
    assert out.shape == (1, 5) and out.dtype == np.float64 and out.flags.c_contiguous
    np.testing.assert_array_equal(out[0], image)


def test_max_spike_probability_is_phi_max_times_dt():
    assert max_spike_probability(0.2, 1.0) == 0.2
    assert max_spike_probability(0.2, 0.1) == 0.2 * 0.1
    assert max_spike_probability(1.0, 1.0) == 1.0


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


@pytest.mark.parametrize("phi_max, dt, message", [
    (-0.2, 1.0, "phi_max"), (0.0, 1.0, "phi_max"), (float("nan"), 1.0, "phi_max"),
    (0.2, 0.0, "dt must be"), (0.2, 10.0, r"phi_max \* dt = 2 > 1.*at most 5 ms"),
])
def test_bad_phi_max_and_too_long_steps_are_refused(phi_max, dt, message):
    with pytest.raises(DendrinetError, match=message):
        max_spike_probability(phi_max, dt)
