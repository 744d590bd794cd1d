"""Argument types and argument builders shared by the ``dendrinet`` subcommands.

Each subcommand keeps its own help text and defaults; these builders only make sure an
option that several commands share (``--model``, ``--dataset``, ``--seed``, ...) is parsed
the same way everywhere.
"""
from __future__ import annotations

import argparse

DATASETS_HELP = "digits, mnist-10k, mnist or fashion-mnist"
DATA_DIR_HELP = "folder searched first for the data files"


def _int_at_least(text: str, minimum: int, expected: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """Parse a command-line integer >= 1 (a count), or raise ``ArgumentTypeError``."""
    return _int_at_least(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    """Parse a command-line integer >= 0 (an index, epoch or seed), or raise
    ``ArgumentTypeError``."""
    return _int_at_least(text, 0, "an integer >= 0")


def add_model_arguments(parser: argparse.ArgumentParser, *, model: bool = True,
                        model_default: str | None = None, model_help: str | None = None,
                        protocol_default: str | None = None,
                        protocol_help: str | None = None) -> None:
    """Add ``--model`` (unless ``model=False``) and ``--protocol``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    model : bool
        Whether to add ``--model`` (``demo`` has a fixed model).
    model_default, protocol_default : str or None
        Values used when the option is not given (None: the command decides).
    model_help, protocol_help : str or None
        Help texts; default "model file or shipped model name (see 'dendrinet models';
        default <model_default>)" and the same for protocols.
    """
    if model:
        parser.add_argument("--model", default=model_default,
                            help=model_help or f"model file or shipped model name (see "
                                               f"'dendrinet models'; default {model_default})")
    parser.add_argument("--protocol", default=protocol_default,
                        help=protocol_help or f"protocol file or shipped protocol name (see "
                                              f"'dendrinet protocols'; default "
                                              f"{protocol_default})")


def add_data_arguments(parser: argparse.ArgumentParser, *, dataset_default: str | None = None,
                       dataset_help: str | None = None,
                       data_dir_help: str = DATA_DIR_HELP) -> None:
    """Add ``--dataset`` and ``--data-dir`` (default None: ``DENDRINET_DATA_DIR``, then the
    shared data folders, see :func:`dendrinet.datasets.load_dataset`).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    dataset_default : str or None
        Dataset used when ``--dataset`` is not given (None: the command decides).
    dataset_help : str or None
        Help text; default "digits, mnist-10k, mnist or fashion-mnist (default
        <dataset_default>)".
    data_dir_help : str
        Help text of ``--data-dir``.
    """
    parser.add_argument("--dataset", default=dataset_default,
                        help=dataset_help or f"{DATASETS_HELP} (default {dataset_default})")
    parser.add_argument("--data-dir", default=None, help=data_dir_help)


def add_seed_argument(parser: argparse.ArgumentParser, *, default: int | None,
                      help: str) -> None:
    """Add ``--seed``, an integer >= 0 (default None: the command decides)."""
    parser.add_argument("--seed", type=non_negative_int, default=default, help=help)


def add_engine_argument(parser: argparse.ArgumentParser, *, default: str | None = None) -> None:
    """Add ``--engine``: ``fast`` (Numba), ``fast-double`` (float64 input sums) or
    ``brian2``; ``train`` uses ``fast`` when None."""
    from dendrinet.backends import ENGINES

    parser.add_argument("--engine", default=default, choices=ENGINES,
                        help="simulation engine (default fast; fast-double: input spikes summed "
                        "in float64)")


def add_quiet_argument(parser: argparse.ArgumentParser, *,
                       help: str = "no progress bars") -> None:
    """Add ``--quiet``, a flag that turns the progress bars off."""
    parser.add_argument("--quiet", action="store_true", help=help)
