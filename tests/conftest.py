"""Shared fixtures: paths to the repository and to the read-only shared data."""
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")  # tests never open windows

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"


@pytest.fixture
def shared_mnist_dir():
    """The folder with the official MNIST t10k files (skip when absent)."""
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"shared MNIST data not found at {SHARED_MNIST}")
    return SHARED_MNIST


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    """Folder of the session's small real training run (trained once, see small_run.py)."""
    from small_run import small_run

    return small_run(tmp_path_factory)


@pytest.fixture
def close_figures():
    """Close every matplotlib figure after the test. Modules opt in with
    ``pytestmark = pytest.mark.usefixtures("close_figures")``."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
