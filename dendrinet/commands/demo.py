"""``dendrinet demo``: the main job on an embedded default, in under a minute once the
Numba kernels are compiled.

Trains ``guerguiev2017-1hidden`` with the paper's timing (protocol ``paper-timing``) on
scikit-learn's 8x8 digits (bundled, no download), writes a run folder, and prints a
non-spiking reference on the same split (:data:`REFERENCE`, computed by
``benchmarks/reference_digits.py``).

Timing (the project's 2-core AMD EPYC, shared with two training runs): the 30 epochs of
the 448-500-10 network (7 input neurons per pixel) take 45 s wall-clock (28 s CPU; 1.0-1.6
s per epoch); the very first run also compiles the Numba kernels, which took 64 s more
(they are cached on disk afterwards).
"""
from __future__ import annotations

import argparse
import dataclasses

from dendrinet.commands._common import (add_engine_argument, add_model_arguments,
                                        add_quiet_argument, add_seed_argument, positive_int)
from dendrinet.commands.train import print_result
from dendrinet.config import DEFAULT_PROTOCOL

DEFAULT_MODEL = "guerguiev2017-1hidden"
DEFAULT_EPOCHS = 30
# measured by `python benchmarks/reference_digits.py` (scikit-learn 1.9.1); the same script
# reports MLPClassifier(hidden_layer_sizes=(500,)): 8.89, 8.06, 8.89 % (seeds 0-2, mean 8.61 %)
REFERENCE = ("reference: scikit-learn LogisticRegression(max_iter=5000) on the same split: "
             "10.00% test error (36 of 360)")
TIMING = ("about 50 s; the first run compiles the Numba kernels once, 1-2 min more")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "demo", help=f"train a small network on the bundled digits ({TIMING})",
        description=f"Train {DEFAULT_MODEL} with the {DEFAULT_PROTOCOL} "
                    "protocol on scikit-learn's 8x8 handwritten digits (1437 training, 360 "
                    "test images, no download), print the error and time per example of "
                    "every epoch, then the test error of a logistic regression on the same "
                    "split for reference, and write a run folder. An earlier demo run in "
                    f"the same folder is replaced. Time with the defaults: {TIMING} (30 "
                    "epochs took 45 s, plus 64 s of compiling on the first run, on a busy "
                    "2-core machine).")
    parser.add_argument("--hidden", type=positive_int,
                        help="hidden layer size (default: the model's, 500)")
    parser.add_argument("--epochs", type=positive_int, default=DEFAULT_EPOCHS,
                        help=f"number of epochs (default {DEFAULT_EPOCHS})")
    add_model_arguments(parser, model=False, protocol_default=DEFAULT_PROTOCOL,
                        protocol_help=f"protocol file or name (default {DEFAULT_PROTOCOL}; "
                                      "'quick' is faster)")
    add_seed_argument(parser, default=0, help="seed (default 0)")
    parser.add_argument("--out", default="runs/demo", help="run folder (default runs/demo)")
    add_engine_argument(parser, default="fast")
    add_quiet_argument(parser)
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    from dendrinet.config import load_model
    from dendrinet.datasets import load_dataset
    from dendrinet.datasets.input_coding import fit_input_coding
    from dendrinet.training.trainer import train

    model = load_model(DEFAULT_MODEL)
    if args.hidden is not None:
        model = dataclasses.replace(model, hidden=(args.hidden,),
                                    description=f"{model.description}; hidden layer resized "
                                                f"to {args.hidden} for the digits demo")
    # the input layer as training sizes it: the digits' 64 pixels coded by the model
    n_inputs = fit_input_coding(model.input, load_dataset("digits").X_train).n_inputs(64)
    print(f"dendrinet demo: {model.name} ({'-'.join(map(str, model.layer_sizes(n_inputs)))} "
          f"neurons), protocol {args.protocol}, scikit-learn 8x8 digits, {args.epochs} "
          f"epoch(s)", flush=True)
    summary = train(model, args.protocol, "digits", args.out, epochs=args.epochs,
                    seed=args.seed, engine=args.engine, progress="lines" if args.quiet else True,
                    force=True)
    print(REFERENCE)
    print_result(summary)
    return 0
