"""``dendrinet simulate``: present a few examples to a network (no learning).

Draws initial weights (``weights.initial_parameters``), presents examples with the
protocol's training schedule (forward then target phase, the label's teaching signal) or
its test schedule on an engine of the registry (``Engine.present``: the Brian2 network
by default, or the fast engine; the command knows engines only through
:class:`dendrinet.engine.Engine`), prints rates per layer and plateau potentials per
presentation, and can write every spike to an HDF5 spike store.
"""
from __future__ import annotations

import argparse

from dendrinet.commands._common import (DATASETS_HELP, add_data_arguments, add_model_arguments,
                                        add_seed_argument, non_negative_int, positive_int)
from dendrinet.backends import ENGINES
from dendrinet.config import DEFAULT_PROTOCOL
from dendrinet.errors import DendrinetError

DEFAULT_MODEL = "guerguiev2017-1hidden"
DEFAULT_DATASET = "digits"
DEFAULT_ENGINE = "brian2"


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "simulate", help="present examples to a network and record spikes",
        description="Present examples to the network (Brian2 by default) with its initial "
                    "weights, or with --run the weights a training run learned (no "
                    "learning): training phases (forward, then target with the label's "
                    "teaching input) or test presentations. Prints firing rates per layer "
                    "and the plateau potentials of the hidden layers; --out writes all "
                    "spikes and presentations to an HDF5 spike store.",
        epilog="example: dendrinet simulate --model guerguiev2017-1hidden --dataset digits "
               "--index 0 --n-examples 3 --out run.h5")
    add_model_arguments(
        parser, model_help=f"model file or shipped model name (see 'dendrinet models'; default "
                           f"{DEFAULT_MODEL}, with --run the run's)",
        protocol_help=f"protocol file or shipped protocol name (see 'dendrinet protocols'; "
                      f"default {DEFAULT_PROTOCOL}, with --run the run's)")
    add_data_arguments(parser, dataset_help=f"{DATASETS_HELP} (default {DEFAULT_DATASET}, with "
                                            "--run the run's)",
                       data_dir_help="folder with the idx files")
    parser.add_argument("--run", metavar="RUN", default=None,
                        help="use the weights of this run folder (written by 'dendrinet "
                             "train') instead of initial weights, and its model, protocol and "
                             "dataset unless given")
    parser.add_argument("--epoch", type=non_negative_int, default=None,
                        help="with --run: the epoch whose weights to use (0 = initial; "
                             "default the last)")
    parser.add_argument("--index", type=non_negative_int, default=0,
                        help="first example (index in the chosen split, default 0)")
    parser.add_argument("--n-examples", type=positive_int, default=1,
                        help="number of consecutive examples (default 1)")
    parser.add_argument("--phase", choices=("train", "test"), default="train",
                        help="train: forward + target phase per example; test: one "
                             "presentation per example, state reset before it (default train)")
    parser.add_argument("--out", default=None,
                        help="write spikes to this HDF5 spike store (a new file; its folder "
                             "must exist)")
    parser.add_argument("--force", action="store_true",
                        help="with --out: replace an existing spike store (other files are "
                             "never replaced)")
    add_seed_argument(parser, default=0,
                      help="seed of weights, phase jitter and spikes (default 0)")
    parser.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE,
                        help="brian2: the Brian2 network (any equations; default); fast, "
                             "fast-double: the Numba engine, compiled from the same equations)")
    parser.add_argument("--target", choices=("numpy", "cython"), default="numpy",
                        help="Brian2 code generation target (default numpy; cython compiles "
                             "once, then runs faster; other engines ignore it)")
    parser.add_argument("--device", choices=("runtime", "cpp_standalone"), default="runtime",
                        help="Brian2 device (default runtime; cpp_standalone compiles C++; "
                             "other engines ignore it)")
    parser.set_defaults(func=run)
    return parser


class TrainedWeights:
    """The weights of one epoch of a run folder (``--run``, ``--epoch``)."""

    def __init__(self, run, epoch: int, params):
        self.run, self.epoch, self.params = run, epoch, params

    @property
    def text(self) -> str:
        return f"weights of {self.run.path} epoch {self.epoch}"

    def check(self, model, n_inputs: int) -> None:
        """Refuse a model or data set that cannot hold these weights; note other
        differences between ``model`` and the run's model."""
        from dendrinet.training.run_folder import differences

        sizes = "-".join(map(str, self.params.layer_sizes))
        wanted = model.layer_sizes(self.params.layer_sizes[0])
        if tuple(wanted) != tuple(self.params.layer_sizes):
            raise DendrinetError(
                f"model {model.name!r} has layers {'-'.join(map(str, wanted))} but the "
                f"weights of the run {self.run.path} are {sizes} (its model file: "
                f"{self.run.path / 'config' / 'model.toml'}); leave out --model to use the "
                "run's model")
        if n_inputs != self.params.layer_sizes[0]:
            raise DendrinetError(
                f"the dataset has {n_inputs} inputs per example but the run {self.run.path} "
                f"({sizes}) was trained on {self.params.layer_sizes[0]}; leave out --dataset to "
                f"use the run's ({self.run.summary.dataset})")
        diff = [d for d in differences(self.run.model, model)
                if not d.startswith(("name ", "description "))]
        if diff:
            print(f"note: model {model.name!r} differs from the run's in "
                  f"{', '.join(diff[:3])}{' ...' if len(diff) > 3 else ''}", flush=True)


class TimeReport:
    """``progress(ms_done, ms_total)`` of :meth:`dendrinet.engine.Engine.present`: the
    simulated time on stdout, with the command's other progress lines (a line at the
    start, then when it advances); stderr keeps only an error's one line."""

    def __init__(self, stream=None):
        import sys

        self.stream = sys.stdout if stream is None else stream
        self.started = None

    def __call__(self, ms_done: float, ms_total: float) -> None:
        import time

        if self.started is None:
            self.started = time.perf_counter()
            print(f"simulating {ms_total:g} ms", file=self.stream, flush=True)
        if ms_done > 0:
            print(f"{ms_done:g} ms ({100 * ms_done / max(ms_total, 1e-300):.0f}%) simulated "
                  f"in {time.perf_counter() - self.started:.1f} s", file=self.stream,
                  flush=True)


def check_output(out: str, force: bool) -> None:
    """Refuse an ``--out`` that cannot be written, or that would replace anything but a
    spike store (and a spike store without ``force``)."""
    import os
    from pathlib import Path

    from dendrinet.storage.files import check_writable_folder
    from dendrinet.errors import StoreError
    from dendrinet.store import SpikeStore

    path = Path(out)
    target = Path(os.path.realpath(path))  # a symbolic link's file is what gets replaced
    check_writable_folder(target.parent, "the output folder")
    if target.is_dir():
        raise DendrinetError(f"--out {out}: is a folder; give the name of a spike store file")
    if not target.exists():
        return
    try:
        SpikeStore(target, "r").close()
    except StoreError as exc:
        raise DendrinetError(f"--out {out}: exists and is not a readable dendrinet spike store "
                             f"({exc}); simulate replaces only spike stores: choose another "
                             "file name, or remove it") from None
    if not force:
        raise DendrinetError(f"--out {out}: a spike store exists there; add --force to "
                             "replace it")


def network_from_arguments(args):
    """``(model, protocol, trained)`` from ``--model``, ``--protocol``, ``--run`` and
    ``--epoch`` (``trained``: a :class:`TrainedWeights`, or None without ``--run``).
    Fills ``args.dataset`` with the run's or the default when it was not given."""
    from dendrinet.config import load_model, load_protocol

    if args.run is None:
        if args.epoch is not None:
            raise DendrinetError("--epoch needs --run (the run folder whose weights to use)")
        args.dataset = DEFAULT_DATASET if args.dataset is None else args.dataset
        return (load_model(DEFAULT_MODEL if args.model is None else args.model),
                load_protocol(DEFAULT_PROTOCOL if args.protocol is None else args.protocol),
                None)
    from dendrinet.commands.evaluate import check_run_folder
    from dendrinet.training.run_folder import Run

    check_run_folder(args.run)
    run_ = Run.open(args.run, allow_unfinished=True)
    epoch = run_.summary.epochs_done if args.epoch is None else args.epoch
    trained = TrainedWeights(run_, epoch, run_.weights(epoch))
    model = run_.model if args.model is None else load_model(args.model)
    protocol = run_.protocol if args.protocol is None else load_protocol(args.protocol)
    args.dataset = run_.summary.dataset if args.dataset is None else args.dataset
    return model, protocol, trained


def run(args) -> int:
    import numpy as np

    from dendrinet.backends import engine_options, make_engine
    from dendrinet.datasets import load_dataset
    from dendrinet.config.schedule import PHASE_NAMES, test_schedule, training_schedule
    from dendrinet.training.trainer import load_run_dataset
    from dendrinet.datasets.input_coding import InputCoding, fit_input_coding
    from dendrinet.model.weights import initial_parameters

    if args.out:  # before the simulation: a bad --out fails at once
        check_output(args.out, args.force)
    elif args.force:
        raise DendrinetError("--force applies to --out (replacing a spike store)")
    model, protocol, trained = network_from_arguments(args)
    stop = args.index + args.n_examples
    split = "train" if args.phase == "train" else "test"
    if trained is not None:  # the run's own named data set: where the run found it
        data, _ = load_run_dataset(trained.run.path, trained.run.info, args.dataset,
                                   args.data_dir)
        data = InputCoding.from_dict(trained.run.info.get("input_coding"),
                                     f"{trained.run.path}/summary.json").apply_to(data)
    else:  # the model's coding fitted to the training set, as training would
        data = load_dataset(args.dataset, data_dir=args.data_dir)
        data = fit_input_coding(model.input, data.X_train).apply_to(data)
    X, y = (data.X_train, data.y_train) if split == "train" else (data.X_test, data.y_test)
    if stop > len(X):
        raise DendrinetError(f"examples {args.index}..{stop - 1} requested but the {split} "
                             f"split of {args.dataset!r} has {len(X)} examples")
    if model.n_outputs < data.n_classes:
        raise DendrinetError(f"model {model.name!r} has {model.n_outputs} outputs but "
                             f"{args.dataset!r} has {data.n_classes} classes")
    ids = np.arange(args.index, stop)
    rng = np.random.default_rng(args.seed)
    if trained is not None:
        trained.check(model, data.n_inputs)
    # drawn with --run too, so that the phases are those of the same seed without it
    params = initial_parameters(model, data.n_inputs, rng)
    if trained is not None:
        params = trained.params.copy()
    if args.phase == "train":
        schedule = training_schedule(protocol, ids, y[ids], rng)
    else:
        schedule = test_schedule(protocol, ids, y[ids])

    sizes = "-".join(str(n) for n in model.layer_sizes(data.n_inputs))
    # each engine takes those of the command's engine options it knows
    engine = make_engine(args.engine, model, protocol, params, args.seed,
                         **engine_options(args.engine, target=args.target, device=args.device))
    print(f"dendrinet simulate: {model.name} ({sizes}), protocol {protocol.name}, "
          f"{args.dataset} {split} examples {args.index}..{stop - 1}, {len(schedule)} "
          f"presentation(s), {schedule.total_steps * schedule.dt:g} ms, {engine.describe()}, "
          f"{trained.text if trained else 'initial weights'}", flush=True)
    note = engine.compile_note("present")
    if note:
        print(note, flush=True)
    result = engine.present(X, schedule, seed=args.seed, progress=TimeReport())

    names = list(result.sizes)
    rates = {name: result.rates(name).mean(axis=1) for name in names}
    header = (f"{'#':>3} {'example':>7} {'label':>5} {'phase':>7} {'ms':>5} "
              + " ".join(f"{name + ' Hz':>12}" for name in names)
              + "".join(f" {'alpha ' + name[7:]:>9}" for name in names[1:-1])
              + f" {'output':>6}")
    print(header)
    predicted = result.predictions()
    for p in range(len(schedule)):
        row = (f"{p:>3} {schedule.example_id[p]:>7} {schedule.label[p]:>5} "
               f"{PHASE_NAMES[schedule.phase[p]]:>7} {schedule.n_steps[p] * schedule.dt:>5g} "
               + " ".join(f"{rates[name][p]:>12.1f}" for name in names)
               + "".join(f" {result.alpha[name][p].mean():>9.3f}" for name in names[1:-1])
               + f" {predicted[p]:>6}")
        print(row)
    print("rates: mean over neurons and the whole presentation; alpha: mean plateau "
          "potential sigmoid(mean V_a) of the hidden layer; output: argmax of the mean "
          "somatic potential")
    if args.out:
        result.write_store(args.out, overwrite=args.force, metadata={
            "model": model.to_dict(), "protocol": protocol.to_dict(), "dataset": args.dataset,
            "split": split, "example_ids": ids.tolist(), "seed": args.seed,
            "engine": args.engine, **engine.settings(), "command": "simulate"})
        print(f"spikes written to {args.out}")
    return 0
