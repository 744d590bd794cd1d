"""``dendrinet demo``: the main job on an embedded default, in about a minute.

Trains ``guerguiev2017-1hidden`` with the paper's protocol on scikit-learn's 8x8
digits (bundled, no download) and writes a run folder.
"""
from __future__ import annotations

import argparse
import dataclasses

from dendrinet.commands._common import (add_engine_argument, add_model_arguments,
                                        add_quiet_argument, add_seed_argument, positive_int)
from dendrinet.commands.train import print_result

DEFAULT_MODEL = "guerguiev2017-1hidden"
DEFAULT_EPOCHS = 30


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "demo", help="train a small network on the bundled digits (about a minute)",
        description=f"Train {DEFAULT_MODEL} with the guerguiev2017 "
                    "protocol on scikit-learn's 8x8 handwritten digits (1437 training, 360 "
                    "test images, no download), print the error and time per example of "
                    "every epoch and write a run folder. An earlier demo run in the same "
                    "folder is replaced.")
    parser.add_argument("--hidden", type=positive_int,
                        help="hidden layer size (default: the model's, 500)")
    parser.add_argument("--epochs", type=positive_int, default=DEFAULT_EPOCHS,
                        help=f"number of epochs (default {DEFAULT_EPOCHS})")
    add_model_arguments(parser, model=False, protocol_default="guerguiev2017",
                        protocol_help="protocol file or name (default guerguiev2017; 'quick' "
                                      "is faster)")
    add_seed_argument(parser, default=0, help="seed (default 0)")
    parser.add_argument("--out", default="runs/demo", help="run folder (default runs/demo)")
    add_engine_argument(parser, default="fast")
    add_quiet_argument(parser)
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    from dendrinet.config import load_model
    from dendrinet.training import train

    model = load_model(DEFAULT_MODEL)
    if args.hidden is not None:
        model = dataclasses.replace(model, hidden=(args.hidden,),
                                    description=f"{model.description}; hidden layer resized "
                                                f"to {args.hidden} for the digits demo")
    print(f"dendrinet demo: {model.name} ({'-'.join(map(str, model.layer_sizes(64)))} "
          f"neurons), protocol {args.protocol}, scikit-learn 8x8 digits, {args.epochs} "
          f"epoch(s)", flush=True)
    summary = train(model, args.protocol, "digits", args.out, epochs=args.epochs,
                    seed=args.seed, engine=args.engine, progress="lines" if args.quiet else True,
                    force=True)
    print_result(summary)
    return 0
