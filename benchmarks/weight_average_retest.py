"""Re-test a finished run as if it had averaged its weights (``[learning]
average_weights_from``): the last epoch's weights, and the running mean of the weights at
the ends of epochs FIRST..last, on the run's test set, with the run's own test seed.

Training is the same with and without the average (it only changes what is tested), so
this gives, for a run trained without it, exactly what the run would have recorded with
it. ``--test-duration`` re-tests with longer presentations (BENCHMARKS.md, "Test
presentations": the test duration changes no trained weight).

    python benchmarks/weight_average_retest.py RUN --first 16 --test-duration "1000 ms" \
        [--data-dir ../shared/data/mnist-full]

Prints one line per tested network: epochs averaged, test error (%), errors. (One
network at a time: ``dendrinet evaluate RUN --average-from 16 --test-duration "1000 ms"``.)
"""
from __future__ import annotations

import argparse

from dendrinet.training.evaluation import evaluate_run
from dendrinet.training.run_folder import Run


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--first", type=int, nargs="+", required=True,
                        help="first epoch of the mean (several: one line each)")
    parser.add_argument("--test-duration", help='e.g. "1000 ms" (default: the run\'s)')
    parser.add_argument("--data-dir")
    args = parser.parse_args(argv)

    run = Run.open(args.run)
    last = run.summary.epochs_done
    for first in [None, *args.first]:  # the last epoch alone, then each mean
        r = evaluate_run(run, data_dir=args.data_dir, test_duration=args.test_duration,
                         average_from=first)
        if first is None:
            print(f"{run.path.name}: {r['test_duration']:g} ms tests")
        tested = f"epoch {last} alone" if first is None else f"mean of epochs {first}-{last}"
        print(f"  {tested}: {100 * r['error']:.2f} % ({r['n_errors']} errors)", flush=True)


if __name__ == "__main__":
    main()
