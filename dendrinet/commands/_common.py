"""Argument types and argument builders shared by the ``dendrinet`` subcommands.

Each subcommand keeps its own help text and defaults; these builders only make sure an
option that several commands share (``--model``, ``--dataset``, ``--seed``, ...) is parsed
the same way everywhere.
"""
from __future__ import annotations

import argparse
from pathlib import Path

DATASETS_HELP = ("digits, mnist-10k, mnist, fashion-mnist, or your own data: an .npz file "
                 "with X_train, y_train, X_test, y_test (pixels in [0, 1], uint8 0-255, or a "
                 "stored max_value) or a folder of MNIST-style idx files; the model's "
                 "[input] table codes features as input rates (default: on-off for features "
                 "that vary little around their mean, and at least 400 input neurons)")
DATA_DIR_HELP = "folder searched first for the data files"

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"
# files of a run folder (dendrinet.training.run_folder) -> what they are
_RUN_FILES = {
    "checkpoint.npz": "a training checkpoint (a .npz with the weights and state that "
                      "'dendrinet train --resume' continues from)",
    "history.npz": "the per-example training history of a run (a .npz)",
    "predictions.npz": "the test predictions of a run (a .npz)",
    "summary.json": "the summary of a run (JSON)",
    "spikes.h5": "the spike sample of a run (an HDF5 spike store)",
}


def shipped_names(kind: str) -> str:
    """The shipped model (``kind="model"``) or protocol names, comma-separated ("" if
    they cannot be listed)."""
    from dendrinet import resources
    from dendrinet.errors import DendrinetError

    try:
        files = resources.model_files() if kind == "model" else resources.protocol_files()
    except DendrinetError:
        return ""
    return ", ".join(files)


def describe_file(path) -> tuple[str, str, Path | None]:
    """What a file is, from its name, its first bytes and the folder it is in.

    Returns
    -------
    (kind, text, run) : (str, str, Path or None)
        ``kind`` is ``"hdf5"``, ``"npz"``, ``"run-file"`` (a file of a run folder that
        is not a spike store), ``"text"`` or ``"unknown"``; ``text`` says what the file is
        ("a training checkpoint (a .npz ...)"); ``run`` is the run folder holding it, if any.
    """
    path = Path(path)
    run = None
    for folder in (path.parent, path.parent.parent):
        if (folder / "summary.json").is_file():
            run = folder
            break
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        head = b""
    if run is not None and path.name in _RUN_FILES:
        kind = "hdf5" if head == _HDF5_MAGIC else "run-file"
        return kind, _RUN_FILES[path.name], run
    if run is not None and path.parent.name == "weights" and path.suffix == ".npz":
        return "run-file", f"the weights of one epoch of a run ({path.name}, a .npz)", run
    if head == _HDF5_MAGIC:
        return "hdf5", "an HDF5 file (a spike store, as 'dendrinet simulate --out' writes)", run
    if head.startswith(_ZIP_MAGIC) or path.suffix == ".npz":
        return "npz", "a NumPy .npz file", run
    if path.suffix in (".toml", ".json", ".md", ".txt", ".csv"):
        return "text", f"a {path.suffix[1:].upper()} text file", run
    return "unknown", "a file", run


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
                        protocol_help: str | None = None, model_group=None) -> None:
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
        Help texts; default "model file or shipped model name (<the names>; 'dendrinet
        models' describes them; default <model_default>)" and the same for protocols.
    model_group : argparse argument group, optional
        Where ``--model`` is listed in the help (e.g. a group "required unless
        --resume"); default the parser's options.
    """
    if model:
        (model_group or parser).add_argument(
            "--model", default=model_default,
            help=model_help or f"model file or shipped model name ({shipped_names('model')}; "
                               f"'dendrinet models' describes them; default {model_default})")
    parser.add_argument("--protocol", default=protocol_default,
                        help=protocol_help or f"protocol file or shipped protocol name "
                                              f"({shipped_names('protocol')}; 'dendrinet "
                                              f"protocols' describes them; default "
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
                        "in float64; rate: the mean field, no spikes, to explore settings)")


def add_rule_file_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--rule-file FILE`` (repeatable): the learning-rule files the user allows to run."""
    parser.add_argument("--rule-file", action="append", default=[], metavar="FILE",
                        help="a learning-rule file of yours (Python code) that the model "
                             "names ([learning] rule = \"FILE:function\"): a model file is "
                             "data, and a rule file runs only when you name it here (its "
                             "content: the run folder's copy of it runs too)")


def allow_rule_files(args) -> None:
    """Allow the files of ``--rule-file`` (:func:`dendrinet.learning.rule_files.allow`)."""
    from dendrinet.learning.rule_files import allow

    for path in args.rule_file:
        allow(path)


def add_quiet_argument(parser: argparse.ArgumentParser, *,
                       help: str = "no progress bars") -> None:
    """Add ``--quiet``, a flag that turns the progress bars off."""
    parser.add_argument("--quiet", action="store_true", help=help)
