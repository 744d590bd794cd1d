"""``dendrinet simulate``: present a few examples to a network (no learning).

Draws initial weights (``weights.initial_parameters``), presents examples with the
protocol's training schedule (forward then target phase, the label's teaching signal) or
its test schedule on an engine of the registry (``Engine.present``: the Brian2 network
by default, or the fast engine), prints rates per layer and plateau potentials per
presentation, and can write every spike to an HDF5 spike store.
"""
from __future__ import annotations

import argparse

from dendrinet.commands._common import (add_data_arguments, add_model_arguments,
                                        add_seed_argument, non_negative_int, positive_int)
from dendrinet.errors import DendrinetError


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "simulate", help="present examples to a network and record spikes",
        description="Present examples to the network (Brian2 by default) with its initial "
                    "weights (no "
                    "learning): training phases (forward, then target with the label's "
                    "teaching input) or test presentations. Prints firing rates per layer "
                    "and the plateau potentials of the hidden layers; --out writes all "
                    "spikes and presentations to an HDF5 spike store.",
        epilog="example: dendrinet simulate --model guerguiev2017-1hidden --dataset digits "
               "--index 0 --n-examples 3 --out run.h5")
    add_model_arguments(parser, model_default="guerguiev2017-1hidden",
                        protocol_default="guerguiev2017")
    add_data_arguments(parser, dataset_default="digits", data_dir_help="folder with the idx files")
    parser.add_argument("--index", type=non_negative_int, default=0,
                        help="first example (index in the chosen split, default 0)")
    parser.add_argument("--n-examples", type=positive_int, default=1,
                        help="number of consecutive examples (default 1)")
    parser.add_argument("--phase", choices=("train", "test"), default="train",
                        help="train: forward + target phase per example; test: one "
                             "presentation per example, state reset before it (default train)")
    parser.add_argument("--out", default=None, help="write spikes to this HDF5 spike store")
    add_seed_argument(parser, default=0,
                      help="seed of weights, phase jitter and spikes (default 0)")
    parser.add_argument("--engine", choices=("brian2", "fast", "fast-double"), default="brian2",
                        help="brian2: the Brian2 network (any equations; default); fast, "
                             "fast-double: the Numba engine (standard equations)")
    parser.add_argument("--target", choices=("numpy", "cython"), default="numpy",
                        help="Brian2 code generation target (default numpy; cython compiles "
                             "once, then runs faster)")
    parser.add_argument("--device", choices=("runtime", "cpp_standalone"), default="runtime",
                        help="Brian2 device (default runtime; cpp_standalone compiles C++)")
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    import numpy as np

    from dendrinet.config import load_model, load_protocol
    from dendrinet.datasets import load_dataset
    from dendrinet.backends import make_engine
    from dendrinet.schedule import PHASE_NAMES, test_schedule, training_schedule
    from dendrinet.weights import initial_parameters

    model = load_model(args.model)
    protocol = load_protocol(args.protocol)
    stop = args.index + args.n_examples
    split = "train" if args.phase == "train" else "test"
    data = load_dataset(args.dataset, data_dir=args.data_dir)
    X, y = (data.X_train, data.y_train) if split == "train" else (data.X_test, data.y_test)
    if stop > len(X):
        raise DendrinetError(f"examples {args.index}..{stop - 1} requested but the {split} "
                             f"split of {args.dataset!r} has {len(X)} examples")
    if model.n_outputs < data.n_classes:
        raise DendrinetError(f"model {model.name!r} has {model.n_outputs} outputs but "
                             f"{args.dataset!r} has {data.n_classes} classes")
    ids = np.arange(args.index, stop)
    rng = np.random.default_rng(args.seed)
    params = initial_parameters(model, data.n_inputs, rng)
    if args.phase == "train":
        schedule = training_schedule(protocol, ids, y[ids], rng)
    else:
        schedule = test_schedule(protocol, ids, y[ids])

    sizes = "-".join(str(n) for n in model.layer_sizes(data.n_inputs))
    if args.engine == "brian2":
        engine_text = f"Brian2 {args.target if args.device == 'runtime' else args.device}"
        options = {"target": args.target, "device": args.device}
    else:
        engine_text, options = f"{args.engine} engine (Numba)", {}
    print(f"dendrinet simulate: {model.name} ({sizes}), protocol {protocol.name}, "
          f"{args.dataset} {split} examples {args.index}..{stop - 1}, {len(schedule)} "
          f"presentation(s), {schedule.total_steps * schedule.dt:g} ms, {engine_text}",
          flush=True)
    engine = make_engine(args.engine, model, protocol, params, args.seed, **options)
    if args.engine == "brian2":
        result = engine.present(X, schedule, seed=args.seed)
    else:
        result = engine.present(X, schedule)

    names = list(result.sizes)
    rates = {name: result.rates(name).mean(axis=1) for name in names}
    header = (f"{'#':>3} {'example':>7} {'label':>5} {'phase':>7} {'ms':>5} "
              + " ".join(f"{name + ' Hz':>12}" for name in names)
              + "".join(f" {'alpha ' + name[7:]:>9}" for name in names[1:-1])
              + f" {'output':>6}")
    print(header)
    for p in range(len(schedule)):
        row = (f"{p:>3} {schedule.example_id[p]:>7} {schedule.label[p]:>5} "
               f"{PHASE_NAMES[schedule.phase[p]]:>7} {schedule.n_steps[p] * schedule.dt:>5g} "
               + " ".join(f"{rates[name][p]:>12.1f}" for name in names)
               + "".join(f" {result.alpha[name][p].mean():>9.3f}" for name in names[1:-1])
               + f" {result.predictions()[p]:>6}")
        print(row)
    print("rates: mean over neurons and the whole presentation; alpha: mean plateau "
          "potential sigmoid(mean V_a) of the hidden layer; output: argmax of the mean "
          "somatic potential")
    if args.out:
        result.write_store(args.out, {
            "model": model.to_dict(), "protocol": protocol.to_dict(), "dataset": args.dataset,
            "split": split, "example_ids": ids.tolist(), "seed": args.seed,
            "engine": args.engine, **({"brian2_target": args.target,
                                       "brian2_device": args.device}
                                      if args.engine == "brian2" else {}),
            "command": "simulate"})
        print(f"spikes written to {args.out}")
    return 0
