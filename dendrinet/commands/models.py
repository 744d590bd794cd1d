"""``dendrinet models``: the shipped model files, by name, with their descriptions.

:func:`list_shipped` also serves ``dendrinet protocols`` (:mod:`dendrinet.commands.protocols`).
"""
from __future__ import annotations

import argparse


#: why the models named after the paper do not reproduce its table by themselves
_PAPER_MODELS_NOTE = (" The models guerguiev2017-* are the paper's networks; like every model "
                      "they train with the default protocol, paper-timing (the paper's 50 ms "
                      "phases): the paper's table needs --protocol guerguiev2017 (see "
                      "'dendrinet train --help').")


def add_kind_parser(subparsers, kind: str, run) -> argparse.ArgumentParser:
    """The parser of ``dendrinet models`` (``kind="model"``) or ``dendrinet protocols``."""
    option = "--model" if kind == "model" else "--protocol"
    parser = subparsers.add_parser(
        f"{kind}s", help=f"list the shipped {kind} files and what they are",
        description=f"List the {kind} files that come with dendrinet: the names accepted by "
                    f"{option} (and by 'extends' in a {kind} file), each with its "
                    f"one-line description. With NAME, print that file, to read or copy."
                    + (_PAPER_MODELS_NOTE if kind == "model" else ""),
        epilog=f"example: dendrinet {kind}s guerguiev2017{'-1hidden' if kind == 'model' else ''}"
               f" > my-{kind}.toml")
    parser.add_argument("name", metavar="NAME", nargs="?",
                        help=f"print the file of this shipped {kind}")
    parser.set_defaults(func=run)
    return parser


def list_shipped(args, kind: str) -> int:
    """Print ``NAME  description`` per shipped file, or the text of ``args.name``."""
    from dendrinet import resources
    from dendrinet.config import load_model, load_protocol
    from dendrinet.errors import ConfigError

    if kind == "model":
        files, loader = resources.model_files(), load_model
    else:
        files, loader = resources.protocol_files(), load_protocol
    if args.name is not None:
        if args.name not in files:
            raise ConfigError(f"no shipped {kind} is called {args.name!r} "
                              f"(available: {', '.join(files)})")
        print(files[args.name].read_text(encoding="utf-8"), end="")
        return 0
    width = max(map(len, files), default=0)
    for name in files:
        print(f"{name:<{width}}  {loader(name).description}")
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    return add_kind_parser(subparsers, "model", run)


def run(args) -> int:
    return list_shipped(args, "model")
