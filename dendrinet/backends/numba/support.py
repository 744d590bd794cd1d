"""Which models the Numba backend can run."""
from __future__ import annotations

from dendrinet.config import ModelConfig
from dendrinet.errors import DendrinetError


def check_model_supported(model: ModelConfig) -> None:
    """Raise a :class:`DendrinetError` if the fast engine cannot run ``model``."""
    if not model.equations.is_default:
        raise DendrinetError(
            f"model {model.name!r} adds custom equation terms ([equations] section); the fast "
            f"engine implements only the standard equations: run it on the Brian2 engine "
            f"(--engine brian2 on the command line, engine='brian2' in Python)")
