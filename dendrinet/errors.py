"""Exceptions raised by dendrinet.

Every error a user can trigger through bad input derives from :class:`DendrinetError`,
so that callers can catch one type, and the command line can print one clear line
instead of a traceback.
"""


class DendrinetError(ValueError):
    """Base class for errors caused by bad input (files, parameters, arrays)."""


class ConfigError(DendrinetError):
    """A model or protocol file is invalid (unknown key, wrong unit, impossible value)."""


class StoreError(DendrinetError):
    """An HDF5 spike store is missing, truncated, foreign or asked for what it lacks."""


class DatasetError(DendrinetError):
    """A dataset cannot be found, downloaded or read (bad magic number, size, checksum)."""


class RunError(DendrinetError):
    """A training run folder is missing, unfinished or inconsistent."""


class ResourceError(DendrinetError):
    """A network's parameters or an engine would need more memory than this machine has
    (estimated by :mod:`dendrinet.config.limits`): refused before anything is allocated."""


class TrainingError(DendrinetError):
    """Training went non-finite: a potential, rate or weight became NaN or infinite (the
    equations or the learning rule diverged); the message names the variable, the layer,
    the epoch and the example."""
