"""``dendrinet report``: figures and a readable summary of a run folder or spike store."""
from __future__ import annotations

import argparse
from pathlib import Path

from dendrinet.commands._common import describe_file, positive_int


def _milliseconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a time in ms, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite time >= 0 ms, got {text!r}")
    return value


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "report", help="write figures and summary.md for a run folder or a spikes .h5",
        description="Write a folder of PNG figures and a summary.md readable without Python. "
                    "For a run folder: learning curves, losses, angle to backprop, plateau "
                    "potentials, receptive fields, confusion matrix, weight statistics, "
                    "feedback alignment, and the spike figures of its spikes.h5. For a spike "
                    "store: raster of the first presentations, rate heatmap, PSTH and ISI "
                    "histogram.",
        epilog="example: dendrinet report runs/1hidden --out reports/1hidden")
    parser.add_argument("source", metavar="SOURCE",
                        help="run folder written by 'dendrinet train', or a spikes .h5 file")
    parser.add_argument("--out", required=True, help="folder to write the report into")
    parser.add_argument("--populations", nargs="+", metavar="NAME",
                        help="populations in the spike figures (default all)")
    parser.add_argument("--t-start", type=_milliseconds, metavar="MS",
                        help="start of the spike analysis window, ms (default 0)")
    parser.add_argument("--t-stop", type=_milliseconds, metavar="MS",
                        help="end of the spike analysis window, ms (default: end of recording)")
    parser.add_argument("--presentations", type=positive_int, default=6, metavar="N",
                        help="examples shown in the raster (default 6)")
    parser.add_argument("--dpi", type=positive_int, default=110,
                        help="resolution of the PNG files (default 110)")
    parser.set_defaults(func=run)
    return parser


def check_source(source) -> None:
    """Refuse a file that is neither a run folder nor a spike store (a checkpoint, a
    weight file, a summary), saying what it is and what to run instead."""
    from dendrinet.errors import DendrinetError

    path = Path(source)
    if not path.is_file():
        return
    kind, text, run_dir = describe_file(path)
    if kind in ("hdf5", "unknown"):
        return  # a spike store, or something write_report diagnoses itself
    if run_dir is not None:
        advice = (f"for the figures of its run: dendrinet report {run_dir} --out DIR; for "
                  f"its test error: dendrinet evaluate {run_dir}")
    else:
        advice = "give a run folder written by 'dendrinet train' or a spikes .h5 file"
    raise DendrinetError(f"{path} is {text}, not a spike store or a run folder; {advice}")


def run(args) -> int:
    from dendrinet.analysis.report import write_report
    from dendrinet.sweep import is_sweep_folder, write_sweep_report

    if is_sweep_folder(args.source):
        sweep = write_sweep_report(args.source, args.out, dpi=args.dpi)
        print(f"wrote {len(sweep.figures)} figures, {sweep.results} and {sweep.summary}")
        return 0
    check_source(args.source)
    report = write_report(args.source, args.out, populations=args.populations,
                          t_start=args.t_start, t_stop=args.t_stop,
                          n_presentations=args.presentations, dpi=args.dpi)
    print(f"wrote {len(report.figures)} figures and {report.summary}")
    return 0
