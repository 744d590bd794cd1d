"""The dendrinet command line, run in-process: train, evaluate, demo and their errors."""
import contextlib
import io
import json
import re

import numpy as np
import pytest

from dendrinet.cli import main
from dendrinet.evaluation import evaluate_run
from dendrinet.run_folder import Run

TINY = ["--dataset", "digits", "--n-train", "300", "--n-test", "100", "--protocol", "quick"]


def _one_line_error(capsys, argv, pattern):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"dendrinet {argv[0]}: error: ")
    assert re.search(pattern, lines[0]), lines[0]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """guerguiev2017-1hidden with 20 hidden neurons, as a model file."""
    from dendrinet.config import MODELS_DIR
    text = (MODELS_DIR / "guerguiev2017-1hidden.toml").read_text()
    text = text.replace("hidden = [500]", "hidden = [20]")
    assert "hidden = [20]" in text
    path = tmp_path_factory.mktemp("models") / "tiny.toml"
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    stdout = io.StringIO()  # module-scoped fixtures cannot use capsys
    with contextlib.redirect_stdout(stdout):
        code = main(["train", "--model", tiny_model, *TINY, "--epochs", "2", "--seed", "1",
                     "--out", str(out), "--quiet", "--spike-samples", "3"])
    assert code == 0
    return out, stdout.getvalue()


def test_train_writes_the_run_folder_and_reports_its_test_error(trained):
    out, stdout = trained
    info = json.loads((out / "summary.json").read_text())
    assert info["status"] == "finished" and len(info["epochs"]) == 2
    assert info["dataset"]["name"] == "digits" and info["dataset"]["n_test"] == 100
    match = re.search(r"test error ([\d.]+)% \((\d+) of (\d+)\) after 2 epoch", stdout)
    assert match, stdout
    n_wrong, n_test = int(match.group(2)), int(match.group(3))
    assert n_test == 100
    assert n_wrong / n_test == info["final_test_error"]
    assert float(match.group(1)) == round(100 * info["final_test_error"], 2)
    # per-epoch lines (kept by --quiet) carry the same numbers as summary.json
    for record in info["epochs"]:
        line = re.search(rf"epoch {record['epoch']}/2: train error +([\d.]+)% +test error +"
                         rf"([\d.]+)%", stdout)
        assert float(line.group(1)) == round(100 * record["train_error"], 2)
        assert float(line.group(2)) == round(100 * record["test_error"], 2)
    assert sorted(p.name for p in (out / "weights").iterdir()) == \
        ["epoch_000.npz", "epoch_001.npz", "epoch_002.npz"]
    assert (out / "spikes.h5").is_file() and (out / "checkpoint.npz").is_file()


def test_evaluate_prints_total_and_per_class_errors(trained, capsys):
    out, _ = trained
    assert main(["evaluate", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    total = re.search(r"epoch 2 .* test error ([\d.]+)% \((\d+) of 100\)", text)
    assert total, text
    rows = re.findall(r"^\s+(\d)\s+(\d+)\s+([\d.]+)%$", text, flags=re.M)
    assert [int(r[0]) for r in rows] == list(range(10))
    counts = np.array([int(r[1]) for r in rows])
    errors = np.array([float(r[2]) for r in rows]) / 100
    assert counts.sum() == 100
    assert round(float(np.sum(counts * errors))) == int(total.group(2))
    assert "recorded during training" in text
    assert int(total.group(2)) / 100 == json.loads((out / "summary.json").read_text())[
        "final_test_error"]
    # epoch 0 (initial weights) is evaluated too
    assert main(["evaluate", str(out), "--epoch", "0", "--quiet"]) == 0
    initial = re.search(r"epoch 0 .*\((\d+) of 100\)", capsys.readouterr().out)
    assert int(initial.group(1)) == evaluate_run(out, epoch=0)["n_errors"]


def test_resume_through_the_cli_extends_the_run(trained, tmp_path, tiny_model, capsys):
    out = tmp_path / "run"
    assert main(["train", "--model", tiny_model, *TINY, "--epochs", "1", "--seed", "1",
                 "--out", str(out), "--quiet", "--spike-samples", "0"]) == 0
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2", "--quiet",
                 "--spike-samples", "0"]) == 0
    capsys.readouterr()
    a, b = Run.open(trained[0]), Run.open(out)
    for name, arr in a.weights(2).to_arrays().items():
        np.testing.assert_array_equal(b.weights(2).to_arrays()[name], arr)
    np.testing.assert_array_equal(a.summary.test_errors, b.summary.test_errors)


def test_demo_trains_on_digits(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--hidden", "15", "--epochs", "1", "--protocol", "quick",
                 "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    run = Run.open(out)
    assert run.model.hidden == (15,)
    assert run.summary.dataset == "digits" and run.summary.n_train == 1437
    match = re.search(r"test error ([\d.]+)% \((\d+) of 360\)", text)
    assert int(match.group(2)) / 360 == run.summary.final_test_error
    assert "ms per training example" in text
    # running the demo again replaces its own folder
    assert main(["demo", "--hidden", "15", "--epochs", "1", "--protocol", "quick", "--seed",
                 "1", "--out", str(out), "--quiet"]) == 0
    assert Run.open(out).summary.seed == 1


def test_unknown_dataset_is_one_line(capsys, tmp_path, tiny_model):
    _one_line_error(capsys, ["train", "--model", tiny_model, "--dataset", "cifar",
                             "--out", str(tmp_path / "x")], r"unknown dataset 'cifar'")
    assert not (tmp_path / "x").exists()


def test_bad_model_key_is_one_line(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[model]\nname = "bad"\n[network]\nhidden = [5]\nwidth = 3\n')
    _one_line_error(capsys, ["train", "--model", str(bad), *TINY, "--out",
                             str(tmp_path / "x")], r"unknown key\(s\) width")


def test_missing_model_is_one_line(capsys, tmp_path):
    _one_line_error(capsys, ["train", "--model", "nonexistent", "--out", str(tmp_path / "x")],
                    r"model file 'nonexistent' not found")
    _one_line_error(capsys, ["train", "--out", str(tmp_path / "x")], r"--model is required")


def test_existing_run_without_force_is_one_line(capsys, trained, tiny_model):
    out, _ = trained
    before = (out / "summary.json").read_text()
    _one_line_error(capsys, ["train", "--model", tiny_model, *TINY, "--out", str(out)],
                    r"a run already exists there .*--force")
    assert (out / "summary.json").read_text() == before


def test_resume_mismatch_is_one_line(capsys, trained):
    out, _ = trained
    _one_line_error(capsys, ["train", "--model", "guerguiev2017-2hidden", "--out", str(out),
                             "--resume", "--dataset", "digits", "--n-train", "300",
                             "--n-test", "100"],
                    r"cannot resume: model differs in name")
    _one_line_error(capsys, ["train", "--out", str(out), "--resume", "--seed", "9"],
                    r"seed 9 is not the run's 1")


def test_evaluate_missing_or_unknown_epoch_is_one_line(capsys, tmp_path, trained):
    _one_line_error(capsys, ["evaluate", str(tmp_path / "none")], r"run folder not found")
    _one_line_error(capsys, ["evaluate", str(trained[0]), "--epoch", "7"],
                    r"no epoch 7; this run has epochs 0..2")
