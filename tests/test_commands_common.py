"""Shared argument types and builders of the subcommands: each command keeps its own
defaults, and bad integers stop argparse with one clear message."""
import argparse

import pytest

from dendrinet.cli import build_parser
from dendrinet.commands._common import non_negative_int, positive_int


def test_integer_types_accept_their_range_and_name_the_bad_value():
    assert positive_int("1") == 1 and positive_int("250") == 250
    assert non_negative_int("0") == 0 and non_negative_int("7") == 7
    for parse, bad, words in [(positive_int, "0", "a positive integer, got '0'"),
                              (positive_int, "2.5", "a positive integer, got '2.5'"),
                              (non_negative_int, "-1", "an integer >= 0, got '-1'"),
                              (non_negative_int, "x", "an integer >= 0, got 'x'")]:
        with pytest.raises(argparse.ArgumentTypeError, match=f"^expected {words}$"):
            parse(bad)


@pytest.mark.parametrize("argv, expected", [
    (["simulate"], {"model": "guerguiev2017-1hidden", "protocol": "guerguiev2017",
                    "dataset": "digits", "data_dir": None, "seed": 0}),
    (["train", "--out", "r"], {"model": None, "protocol": None, "dataset": None,
                               "data_dir": None, "seed": None, "engine": None,
                               "quiet": False}),
    (["evaluate", "r"], {"dataset": None, "data_dir": None, "seed": None, "quiet": False}),
    (["demo"], {"protocol": "guerguiev2017", "seed": 0, "engine": "fast", "quiet": False}),
])
def test_each_command_keeps_its_own_defaults(argv, expected):
    args = vars(build_parser().parse_args(argv))
    assert {key: args[key] for key in expected} == expected
    assert ("model" in args) == (argv[0] in ("simulate", "train"))


def test_shared_options_parse_the_same_in_every_command():
    parser = build_parser()
    for argv in (["simulate"], ["train", "--out", "r"], ["evaluate", "r"]):
        args = parser.parse_args([*argv, "--dataset", "mnist-10k", "--data-dir", "d",
                                  "--seed", "12"])
        assert (args.dataset, args.data_dir, args.seed) == ("mnist-10k", "d", 12)
    for argv in (["train", "--out", "r"], ["demo"]):
        assert parser.parse_args([*argv, "--engine", "brian2"]).engine == "brian2"
