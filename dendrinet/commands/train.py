"""``dendrinet train``: train a network and write a run folder."""
from __future__ import annotations

import argparse

from dendrinet.commands._common import (DATASETS_HELP, add_data_arguments, add_engine_argument,
                                        add_model_arguments, add_quiet_argument,
                                        add_rule_file_argument, add_seed_argument,
                                        allow_rule_files, non_negative_int, positive_int,
                                        shipped_names)
from dendrinet.config import DEFAULT_PROTOCOL

#: The model of ``dendrinet train`` without ``--model``: one hidden layer (on a user's data
#: it beats logistic regression wherever an MLP does by more than 3 points; BENCHMARKS.md,
#: "Defaults on a user's own data").
DEFAULT_MODEL = "guerguiev2017-1hidden"


def _protocol_epochs() -> str:
    """ "60 for guerguiev2017, ..., 5 for quick": the epochs of the shipped protocols."""
    from dendrinet import resources
    from dendrinet.config import load_protocol
    from dendrinet.errors import DendrinetError

    try:
        return ", ".join(f"{load_protocol(name).epochs} for {name}"
                         for name in resources.protocol_files())
    except DendrinetError:
        return "see 'dendrinet protocols'"


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train", help="train a network and write a run folder",
        usage="%(prog)s [--model MODEL] [--dataset DATASET] [--out OUT] [options]\n"
              "       %(prog)s --out OUT --resume [options]",
        description="Train a segregated-dendrite network with its local learning rules and "
                    "write a run folder (summary.json, weights per epoch, history, "
                    "predictions, spike sample, checkpoint). A killed run continues with "
                    "--resume and ends bit for bit where an uninterrupted run would.",
        epilog="examples: dendrinet train --model guerguiev2017-1hidden --dataset mnist-10k "
               "--epochs 10 --out runs/1hidden; dendrinet train --dataset my.npz (your "
               f"data, the default model {DEFAULT_MODEL}, run folder "
               "runs/my-guerguiev2017-1hidden)")
    parser.add_argument("--out", help="run folder to write (default runs/DATASET-MODEL, e.g. "
                                      f"runs/digits-{DEFAULT_MODEL}; required with --resume)")
    add_model_arguments(
        parser,
        model_help=f"model file or shipped model name ({shipped_names('model')}; "
                   f"'dendrinet models' describes them; default {DEFAULT_MODEL}, one hidden "
                   "layer, input coding chosen from the data); with --resume, the run's",
        protocol_help=f"protocol file or shipped protocol name ({shipped_names('protocol')}; "
                      f"'dendrinet protocols' describes them; default {DEFAULT_PROTOCOL} (the "
                      "paper's 50 ms phases) for every model, those named after the paper "
                      "too: the paper's table needs --protocol guerguiev2017, whose longer "
                      "phases suit dendrinet's exact PSP kernel (with the default, 784-500-10 "
                      "stalls above 6 %% on MNIST); with --resume, the run's)")
    add_data_arguments(parser, dataset_help=f"{DATASETS_HELP} (default mnist-10k; with "
                                            "--resume, the run's)",
                       data_dir_help="folder searched first for the idx files of a named "
                                     "dataset (default: $DENDRINET_DATA_DIR, then the cache "
                                     "~/.cache/dendrinet)")
    parser.add_argument("--epochs", type=positive_int,
                        help=f"number of epochs (default: the protocol's epochs, "
                             f"{_protocol_epochs()}; with --resume, the run's, or more to "
                             "extend it)")
    add_seed_argument(parser, default=None, help="seed of everything random (default 0; with "
                                                 "--resume, the run's)")
    add_engine_argument(parser)
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its last checkpoint")
    parser.add_argument("--force", action="store_true",
                        help="delete the files an earlier run in --out wrote (nothing else) "
                             "and start again")
    parser.add_argument("--n-train", type=positive_int, metavar="N",
                        help="use only the first N training examples (default: all)")
    parser.add_argument("--n-test", type=positive_int, metavar="N",
                        help="use only the first N test examples (default: all)")
    parser.add_argument("--spike-samples", type=non_negative_int, default=20, metavar="N",
                        help="test presentations recorded to spikes.h5 (default 20; 0: no "
                             "spikes.h5)")
    add_rule_file_argument(parser)
    add_quiet_argument(parser, help="no progress bars (the per-epoch lines stay)")
    parser.set_defaults(func=run)
    return parser


def print_result(summary) -> None:
    """The closing lines of ``train`` and ``demo``: final errors and the folder."""
    last = summary.epochs[-1]
    n_wrong = round(last.test_error * summary.n_test)
    print(f"{summary.model} on {summary.dataset}: test error {100 * last.test_error:.2f}% "
          f"({n_wrong} of {summary.n_test}) after {summary.epochs_done} epoch(s); "
          f"{last.ms_per_train_example:.3f} ms per training example, "
          f"{last.ms_per_test_example:.3f} ms per test example")
    print(f"run folder: {summary.path}")


def default_out(dataset: str | None, model: str) -> str:
    """``runs/DATASET-MODEL``: the stems of a data file or folder and of a model file."""
    from pathlib import PurePath

    data = PurePath(dataset).stem if dataset else "mnist-10k"
    return str(PurePath("runs") / f"{data}-{PurePath(model).stem}")


def run(args) -> int:
    from dendrinet.errors import DendrinetError
    from dendrinet.training.trainer import train

    if args.resume and args.force:
        raise DendrinetError("--resume and --force exclude each other")
    if args.resume and args.out is None:
        raise DendrinetError("--resume needs --out, the run folder to continue")
    allow_rule_files(args)
    model = args.model
    if model is None and not args.resume:
        model = DEFAULT_MODEL
        print(f"model: {DEFAULT_MODEL} (the default; --model chooses another, "
              "'dendrinet models' lists them)", flush=True)
    out = args.out if args.out is not None else default_out(args.dataset, model)
    summary = train(model, args.protocol, args.dataset, out, epochs=args.epochs,
                    seed=args.seed, engine=args.engine, resume=args.resume,
                    progress="lines" if args.quiet else True, n_spike_samples=args.spike_samples,
                    force=args.force, data_dir=args.data_dir, n_train=args.n_train,
                    n_test=args.n_test)
    print_result(summary)
    return 0
