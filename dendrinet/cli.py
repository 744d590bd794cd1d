"""The ``dendrinet`` command line.

Each subcommand lives in :mod:`dendrinet.commands.<name>` and provides
``add_parser(subparsers)`` and ``run(args) -> int``. Heavy libraries are imported
only by the subcommand that needs them, so ``dendrinet --help`` stays instant.
"""
from __future__ import annotations

import argparse
import difflib
import importlib
import os
import re
import sys
import warnings

from dendrinet import __version__
from dendrinet.errors import DendrinetError

SUBCOMMANDS = ("demo", "simulate", "train", "evaluate", "report", "models", "protocols",
               "sweep", "cache")


_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")
_INVALID_CHOICE = re.compile(r"invalid choice: '?(.*?)'? \(choose from (.*)\)$")


def _closest(word: str, candidates) -> str | None:
    """The candidate most like ``word`` (difflib ratio >= 0.6), or None."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return close[0] if close else None


class HelpfulParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose "invalid choice" errors name the closest valid choice
    (``dendrinet trian`` -> "did you mean 'train'?")."""

    def error(self, message: str):
        match = _INVALID_CHOICE.search(message)
        if match:
            choices = [c.strip().strip("'\"") for c in match.group(2).split(",")]
            guess = _closest(match.group(1), choices)
            if guess is not None:
                message = f"{message}; did you mean {guess!r}?"
        super().error(message)


class SubcommandParser(HelpfulParser):
    """The parser of one subcommand (``add_subparsers(parser_class=...)``).

    It reports its own mistakes with its own usage line, before anything else: an
    unknown option (``dendrinet train --epocs 3``: "unrecognized option '--epocs'; did
    you mean --epochs?") or any argument left over. argparse would hand leftovers to the
    top-level parser, whose usage does not show the subcommand's options.
    """

    def _option_strings(self) -> list[str]:
        return [s for action in self._actions for s in action.option_strings]

    def _check_options(self, args: list[str]) -> None:
        options = self._option_strings()
        for token in args:
            if token == "--":
                break
            if not token.startswith("-") or token == "-" or _NEGATIVE_NUMBER.match(token):
                continue
            name = token.split("=", 1)[0]
            if name in options:
                continue
            if name.startswith("--") and self.allow_abbrev and \
                    any(o.startswith(name) for o in options):
                continue  # an abbreviation (argparse reports an ambiguous one)
            long_names = {o.lstrip("-"): o for o in options if o.startswith("--")}
            guess = _closest(name.lstrip("-"), long_names)
            hint = (f"; did you mean {long_names[guess]}?" if guess is not None else
                    f"; see '{self.prog} --help' for the options")
            self.error(f"unrecognized option {name!r}{hint}")

    def parse_known_args(self, args=None, namespace=None):
        args = sys.argv[1:] if args is None else list(args)
        self._check_options(args)
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}; see "
                       f"'{self.prog} --help'")
        return namespace, extras


def build_parser() -> argparse.ArgumentParser:
    parser = HelpfulParser(
        prog="dendrinet",
        description="Simulate and train spiking networks of pyramidal neurons with "
                    "segregated basal and apical dendrites (Guerguiev et al., eLife 2017).",
        epilog="Run 'dendrinet <command> --help' for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"dendrinet {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="<command>",
                                       parser_class=SubcommandParser)
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"dendrinet.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"dendrinet.commands.{name}":
                continue  # subcommand not installed in this build
            raise
        module.add_parser(subparsers)
    return parser


def _one_line_warnings(command: str) -> None:
    """dendrinet's own warnings (a training that stalls) as one line on stderr, like
    its errors; other warnings as Python prints them."""
    from dendrinet.training.epochs import LearningStalledWarning

    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, LearningStalledWarning):
            print(f"dendrinet {command}: warning: {message}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        with warnings.catch_warnings():
            _one_line_warnings(args.command)
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
    except OSError as exc:  # full disk, read-only file system, permissions, ...: one line
        from dendrinet.storage.files import os_error_text
        print(f"dendrinet {args.command}: error: {os_error_text(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
