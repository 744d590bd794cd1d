"""``dendrinet evaluate``: test error and per-class error of a run's weights."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from dendrinet.commands._common import (add_data_arguments, add_quiet_argument,
                                        add_seed_argument, describe_file, non_negative_int)


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "evaluate", help="test error and per-class error of a trained run",
        description="Evaluate the weights of one epoch of a run folder on a test set and "
                    "print the test error and the error of each class. Test spikes are "
                    "random, so the error can differ slightly from summary.json.")
    parser.add_argument("run_dir", metavar="RUN", help="run folder written by 'dendrinet train'")
    parser.add_argument("--epoch", type=non_negative_int,
                        help="epoch whose weights to use (0 = initial; default the last)")
    add_data_arguments(parser, dataset_help="test set to use: a shipped dataset name, your "
                                            "own .npz file or idx folder (default: the run's)")
    parser.add_argument("--n-test", type=non_negative_int, metavar="N",
                        help="use only the first N test examples (default: as many as the run "
                             "used on its own dataset, all of another)")
    parser.add_argument("--test-duration", metavar="TIME",
                        help='presentation time of each test example, e.g. "1000 ms" '
                             "(default: the run's protocol's; longer presentations re-test "
                             "the same weights with less spike noise)")
    parser.add_argument("--average-from", type=non_negative_int, metavar="K",
                        help="test the mean of the weights at the ends of epochs K to the "
                             "epoch tested, as [learning] average_weights_from = K would "
                             "have during training")
    add_seed_argument(parser, default=None, help="seed of the test spikes (default: the run's)")
    add_quiet_argument(parser, help="no progress bar")
    parser.set_defaults(func=run)
    return parser


def check_run_folder(path) -> None:
    """Refuse a file given where a run folder is expected, saying what the file is and
    which command reads it."""
    from dendrinet.errors import RunError

    path = Path(path)
    if not path.is_file():
        return  # a folder, or nothing: Run.open says what is wrong
    kind, text, run_dir = describe_file(path)
    if run_dir is not None:
        advice = f"to evaluate its run: dendrinet evaluate {run_dir}"
    elif kind == "hdf5":
        advice = (f"for figures of its spikes: dendrinet report {path} --out DIR; "
                  "'dendrinet evaluate' reads a run folder written by 'dendrinet train'")
    else:
        advice = "'dendrinet evaluate' reads a run folder written by 'dendrinet train'"
    raise RunError(f"{path} is {text}, not a run folder; {advice}")


def run(args) -> int:
    from dendrinet.errors import DendrinetError
    from dendrinet.training.evaluation import evaluate_run
    from dendrinet.training.run_folder import Run

    if args.n_test == 0:
        raise DendrinetError("--n-test must be at least 1")
    check_run_folder(args.run_dir)
    run_ = Run.open(args.run_dir, allow_unfinished=True)
    result = evaluate_run(run_, epoch=args.epoch, dataset=args.dataset,
                          data_dir=args.data_dir, n_test=args.n_test, seed=args.seed,
                          test_duration=args.test_duration, average_from=args.average_from,
                          progress=not args.quiet)
    n = len(result["y_true"])
    tested = (f"epoch {result['epoch']}" if result["averaged"] is None else
              f"the mean of epochs {result['averaged']}-{result['epoch']}")
    print(f"{run_.path}: {tested} of {run_.summary.model} on {result['dataset']}, "
          f"{result['test_duration']:g} ms per example: test error "
          f"{100 * result['error']:.2f}% ({result['n_errors']} of {n})")
    s = run_.summary
    as_recorded = (result["averaged"] is None and args.test_duration is None
                   and args.seed is None)
    if (as_recorded and result["epoch"] == s.epochs_done and result["dataset"] == s.dataset
            and n == s.n_test):
        print(f"  (recorded during training: {100 * s.final_test_error:.2f}%)")
    print("  class  examples  error")
    for k, (count, err) in enumerate(zip(result["class_counts"], result["per_class_error"])):
        shown = "   -" if np.isnan(err) else f"{100 * err:6.2f}%"
        print(f"  {k:5d}  {count:8d}  {shown}")
    return 0
