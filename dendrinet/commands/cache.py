"""``dendrinet cache``: the neuron parts compiled for models (list them, clear them).

A model with its own equations gets its neuron part generated into a package of the
cache folder (:mod:`dendrinet.backends.numba.model_part`); the folder is kept under a bound
(:mod:`dendrinet.backends.numba.generated_cache`). This command shows what is there and
removes packages; anything else in the folder is never touched.
"""
from __future__ import annotations

import argparse

from dendrinet.errors import DendrinetError


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of days, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number of days, got {text}")
    return value


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "cache", help="list or clear the neuron parts compiled for models",
        description="List the neuron parts compiled for models with their own equations "
                    "(model, size, last use, total against the bound $DENDRINET_CACHE_MAX, "
                    "default 1 GB), or clear them; packages of whole engines that dendrinet "
                    "0.3 compiled are listed too. A cleared model compiles again (seconds) "
                    "the next time it runs. Least recently used packages are "
                    "also removed automatically when a new one would exceed the bound.",
        epilog="examples: dendrinet cache; dendrinet cache clear --older-than 30; "
               "dendrinet cache clear --all")
    parser.add_argument("action", nargs="?", choices=("list", "clear"), default="list",
                        help="list (default) or clear")
    parser.add_argument("--all", action="store_true",
                        help="with clear: remove every compiled model part")
    parser.add_argument("--older-than", metavar="DAYS", type=_days, default=None,
                        help="with clear: remove the engines not used for DAYS days")
    parser.set_defaults(func=run)
    return parser


def _size_text(n_bytes: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{int(n_bytes)} B"


def _when(seconds: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds)) if seconds else "unknown"


def run(args) -> int:
    import time

    from dendrinet.backends.numba import generated_cache as cache

    if args.action == "list" and (args.all or args.older_than is not None):
        raise DendrinetError("--all and --older-than go with 'clear' (dendrinet cache clear "
                             "--all)")
    if args.action == "clear" and args.all == (args.older_than is not None):
        raise DendrinetError("dendrinet cache clear needs one of --all or --older-than DAYS")
    root = cache.cache_root()
    bound = cache.max_bytes()
    found = cache.packages(root)
    if args.action == "clear":
        cutoff = time.time() - (args.older_than or 0.0) * 86400.0
        chosen = [p for p in found if args.all or p.last_used < cutoff]
        removed = [p for p in chosen if cache.remove(p)]
        freed = sum(p.size for p in removed)
        print(f"removed {len(removed)} compiled model part(s), {_size_text(freed)}, from {root}")
        return 0
    if not found:
        print(f"no compiled model parts in {root} (bound {_size_text(bound)}, {cache.MAX_ENV})")
        return 0
    width = max([len("model")] + [len(p.model or "?") for p in found])
    print(f"{'package':<{len(found[0].path.name)}}  {'model':<{width}}  {'size':>9}  last used")
    for p in reversed(found):  # most recently used first
        print(f"{p.path.name}  {p.model or '?':<{width}}  {_size_text(p.size):>9}  "
              f"{_when(p.last_used)}")
    total = sum(p.size for p in found)
    print(f"{len(found)} compiled model part(s) in {root}: {_size_text(total)} of "
          f"{_size_text(bound)} ({cache.MAX_ENV}; least recently used removed beyond it)")
    return 0
