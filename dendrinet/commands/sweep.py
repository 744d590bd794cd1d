"""``dendrinet sweep``: a grid of training runs on Dask, each an ordinary run folder."""
from __future__ import annotations

import argparse

from dendrinet.commands._common import (
    add_quiet_argument,
    add_rule_file_argument,
    allow_rule_files,
    non_negative_int,
    positive_int,
)
from dendrinet.config.limits import MAX_SWEEP_RUNS


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "sweep", help="train a grid of runs (models x data sets x seeds x parameters) on Dask",
        description="Train every combination of a sweep file as one run folder under "
                    "DIR/runs/, on a local Dask cluster (one single-threaded worker process "
                    "per core) or an existing one (--scheduler), and write DIR/results.csv, "
                    "DIR/summary.md (final test error, mean ± s.d. over seeds) and "
                    "DIR/learning_curves.png. A run whose worker dies continues from its "
                    "last epoch checkpoint on another worker; the command started again with "
                    "the same arguments skips finished runs and resumes the others. The "
                    "exit status is 1 when a run failed.",
        epilog="example: dendrinet sweep sweeps/guerguiev2017-table.toml --out sweeps/table")
    parser.add_argument("sweep_file", metavar="SWEEP.toml", help="the sweep file")
    parser.add_argument("--out", required=True, metavar="DIR", help="the sweep folder")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="address of a running Dask scheduler (tcp://HOST:PORT) whose "
                            "workers see DIR at the same path (default: a local cluster)")
    where.add_argument("--scheduler-file", metavar="FILE",
                       help="scheduler file written by 'dask scheduler --scheduler-file'")
    parser.add_argument("--workers", type=positive_int, metavar="N",
                        help="worker processes of the local cluster (default: one per core)")
    parser.add_argument("--retries", type=non_negative_int, default=2, metavar="N",
                        help="times a run that crashed with an unexpected exception is tried "
                             "again (default 2; a worker that dies is handled by Dask)")
    parser.add_argument("--dry-run", action="store_true",
                        help="validate the sweep file, list its runs and their state, "
                             "and stop")
    parser.add_argument("--allow-large", action="store_true",
                        help=f"accept a sweep of more than {MAX_SWEEP_RUNS:,} runs (refused by "
                             f"default: a mistyped grid would fill the disk)")
    add_rule_file_argument(parser)
    add_quiet_argument(parser, help="no progress bars (one line per finished run)")
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    from pathlib import Path

    from dendrinet.errors import DendrinetError
    from dendrinet.sweep import load_sweep, run_sweep
    from dendrinet.sweep.execute import run_state
    from dendrinet.sweep.results import RUNS_DIR

    if args.workers is not None and (args.scheduler or args.scheduler_file):
        raise DendrinetError("--workers applies to the local cluster, not to --scheduler")
    allow_rule_files(args)
    sweep = load_sweep(args.sweep_file, allow_large=args.allow_large)
    if args.dry_run:
        runs_dir = Path(args.out) / RUNS_DIR
        for spec in sweep.runs:
            state, done = run_state(spec, runs_dir)
            print(f"{spec.run_id}  {state} ({done} of {spec.epochs} epochs)")
        print(f"{len(sweep.runs)} runs")
        return 0
    outcome = run_sweep(sweep, args.out, scheduler=args.scheduler,
                        scheduler_file=args.scheduler_file, workers=args.workers,
                        retries=args.retries, progress=not args.quiet)
    print(f"{outcome.runs} runs: {len(outcome.finished)} finished now, {len(outcome.skipped)} "
          f"skipped (finished before), {len(outcome.failed)} failed")
    for run_id, message in outcome.failed.items():
        print(f"  failed: {run_id}: {message}")
    report = outcome.report
    print(f"results: {report.results}, {report.summary}" +
          "".join(f", {f}" for f in report.figures))
    return 0 if outcome.ok else 1
