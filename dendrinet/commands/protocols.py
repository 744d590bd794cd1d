"""``dendrinet protocols``: the shipped protocol files, by name, with their descriptions
(the listing is shared with ``dendrinet models``)."""
from __future__ import annotations

import argparse

from dendrinet.commands.models import add_kind_parser, list_shipped


def add_parser(subparsers) -> argparse.ArgumentParser:
    return add_kind_parser(subparsers, "protocol", run)


def run(args) -> int:
    return list_shipped(args, "protocol")
