"""Shared argument types and builders of the subcommands: each command keeps its own
defaults, and bad integers stop argparse with one clear message."""
import argparse

import pytest

from dendrinet.cli import build_parser
from dendrinet.commands._common import (describe_file, non_negative_int, positive_int,
                                        shipped_names)


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
    (["simulate"], {"model": None, "protocol": None, "dataset": None, "data_dir": None,
                    "seed": 0, "run": None, "epoch": None}),
    (["train", "--out", "r"], {"model": None, "protocol": None, "dataset": None,
                               "data_dir": None, "seed": None, "engine": None,
                               "quiet": False}),
    (["evaluate", "r"], {"dataset": None, "data_dir": None, "seed": None, "quiet": False}),
    (["demo"], {"protocol": "paper-timing", "seed": 0, "engine": "fast", "quiet": False}),
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


def test_simulate_fills_in_its_defaults_without_a_run():
    from dendrinet.commands.simulate import network_from_arguments

    args = build_parser().parse_args(["simulate"])
    model, protocol, trained = network_from_arguments(args)
    assert (model.name, protocol.name, args.dataset, trained) == \
        ("guerguiev2017-1hidden", "paper-timing", "digits", None)
    args = build_parser().parse_args(["simulate", "--model", "guerguiev2017-0hidden",
                                      "--protocol", "quick", "--dataset", "mnist-10k"])
    model, protocol, _ = network_from_arguments(args)
    assert (model.hidden, protocol.name, args.dataset) == ((), "quick", "mnist-10k")


def test_describe_file_says_what_a_file_is_and_which_run_holds_it(tmp_path):
    run = tmp_path / "run"
    (run / "weights").mkdir(parents=True)
    (run / "summary.json").write_text("{}")
    (run / "checkpoint.npz").write_bytes(b"PK\x03\x04rest")
    (run / "weights" / "epoch_003.npz").write_bytes(b"PK\x03\x04rest")
    (tmp_path / "run.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    (tmp_path / "data.npz").write_bytes(b"PK\x03\x04rest")
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01")
    kind, text, where = describe_file(run / "checkpoint.npz")
    assert (kind, where) == ("run-file", run) and text.startswith("a training checkpoint (a .npz")
    kind, text, where = describe_file(run / "weights" / "epoch_003.npz")
    assert (kind, where) == ("run-file", run) and "weights of one epoch" in text
    assert describe_file(tmp_path / "run.h5")[:1] == ("hdf5",)
    assert "spike store" in describe_file(tmp_path / "run.h5")[1]
    assert describe_file(tmp_path / "data.npz") == ("npz", "a NumPy .npz file", None)
    assert describe_file(tmp_path / "blob.bin") == ("unknown", "a file", None)


def test_model_and_protocol_help_list_the_shipped_names(capsys):
    models, protocols = shipped_names("model").split(", "), shipped_names("protocol").split(", ")
    assert "guerguiev2017-1hidden" in models and "guerguiev2017-2hidden" in models
    assert protocols == sorted(protocols)
    assert {"paper-timing", "guerguiev2017", "quick"} <= set(protocols)
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["simulate", "--help"])
    assert info.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "(see 'dendrinet models'; default guerguiev2017-1hidden, with --run the run's)" \
        in help_text
