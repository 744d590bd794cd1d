"""Re-test a finished run as if it had averaged its weights (``[learning]
average_weights_from``): the last epoch's weights, and the running mean of the weights at
the ends of epochs FIRST..last, on the run's test set, with the run's own test seed.

Training is the same with and without the average (it only changes what is tested), so
this gives, for a run trained without it, exactly what the run would have recorded with
it. ``--test-duration`` re-tests with longer presentations (BENCHMARKS.md, "Test
presentations": the test duration changes no trained weight).

    python benchmarks/weight_average_retest.py RUN --first 16 --test-duration "1000 ms" \
        [--data-dir ../shared/data/mnist-full]

Prints one line per tested network: epochs averaged, test error (%), errors.
"""
from __future__ import annotations

import argparse
import numpy as np

from dendrinet.backends import make_engine
from dendrinet.datasets.input_coding import InputCoding
from dendrinet.learning.weight_average import WeightAverage
from dendrinet.sweep.parameters import apply_values
from dendrinet.training.epochs import evaluation_seed
from dendrinet.training.run_folder import Run
from dendrinet.training.trainer import load_run_dataset


def test_error(run: Run, params, protocol, ds) -> tuple[float, int]:
    """Test error of ``params`` on ``ds`` with the seed of the run's last evaluation."""
    s = run.summary
    engine = make_engine(s.engine, run.model, protocol, params.copy(),
                         evaluation_seed(s.seed, s.epochs_done))
    pred = np.asarray(engine.evaluate(ds.X_test, ds.y_test)["pred"])
    wrong = int(np.count_nonzero(pred != ds.y_test))
    return wrong / ds.n_test, wrong


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--first", type=int, nargs="+", required=True,
                        help="first epoch of the mean (several: one line each)")
    parser.add_argument("--test-duration", help='e.g. "1000 ms" (default: the run\'s)')
    parser.add_argument("--data-dir")
    args = parser.parse_args(argv)

    run = Run.open(args.run)
    s = run.summary
    protocol = run.protocol
    if args.test_duration:
        protocol = apply_values(protocol, {"protocol.test_duration": args.test_duration}, "protocol")
    ds, _ = load_run_dataset(run.path, run.info, s.dataset, args.data_dir, n_train=1,
                             n_test=s.n_test)
    ds = InputCoding.from_dict(run.info.get("input_coding"), "summary.json").apply_to(ds)
    last = s.epochs_done
    err, n = test_error(run, run.weights(last), protocol, ds)
    print(f"{run.path.name}: {protocol.test_duration:g} ms tests")
    print(f"  epoch {last} alone: {100 * err:.2f} % ({n} errors)", flush=True)
    for first in args.first:
        average = WeightAverage(first)
        for epoch in range(first, last + 1):
            tested = average.after_epoch(run.weights(epoch), epoch)
        err, n = test_error(run, tested, protocol, ds)
        print(f"  mean of epochs {first}-{last}: {100 * err:.2f} % ({n} errors)", flush=True)


if __name__ == "__main__":
    main()
