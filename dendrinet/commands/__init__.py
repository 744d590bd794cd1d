"""Subcommands of the ``dendrinet`` command line (one module each)."""
