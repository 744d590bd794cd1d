"""The ``dendrinet`` command line.

Each subcommand lives in :mod:`dendrinet.commands.<name>` and provides
``add_parser(subparsers)`` and ``run(args) -> int``. Heavy libraries are imported
only by the subcommand that needs them, so ``dendrinet --help`` stays instant.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from dendrinet import __version__
from dendrinet.errors import DendrinetError

SUBCOMMANDS = ("demo", "simulate", "train", "evaluate", "report", "models", "protocols")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dendrinet",
        description="Simulate and train spiking networks of pyramidal neurons with "
                    "segregated basal and apical dendrites (Guerguiev et al., eLife 2017).",
        epilog="Run 'dendrinet <command> --help' for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"dendrinet {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="<command>")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"dendrinet.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"dendrinet.commands.{name}":
                continue  # subcommand not installed in this build
            raise
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except DendrinetError as exc:
        print(f"dendrinet {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dendrinet {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into a reader that stopped (| head)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
