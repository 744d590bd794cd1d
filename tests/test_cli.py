"""The dendrinet command line, run in-process: train, evaluate, demo and their errors."""
import contextlib
import io
import json
import re
import shutil

import numpy as np
import pytest

from dendrinet.cli import build_parser, main
from dendrinet.training.evaluation import evaluate_run
from dendrinet.training.run_folder import Run

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


def test_evaluate_the_mean_of_epochs_and_another_test_duration(trained, capsys, monkeypatch):
    """--average-from K tests the mean of the saved weights of epochs K..last (what
    [learning] average_weights_from = K would have tested); --test-duration changes
    only the presentations."""
    import dendrinet.training.evaluation as evaluation

    out, _ = trained
    run = Run.open(out)
    built = []
    real = evaluation.make_engine
    monkeypatch.setattr(evaluation, "make_engine",
                        lambda name, model, protocol, params, seed:
                        built.append((protocol, params)) or real(name, model, protocol,
                                                                 params, seed))
    assert main(["evaluate", str(out), "--average-from", "1", "--test-duration", "80 ms",
                 "--quiet"]) == 0
    text = capsys.readouterr().out
    line = re.search(r"the mean of epochs 1-2 .*, 80 ms per example: test error [\d.]+% "
                     r"\((\d+) of 100\)", text)
    assert line, text
    assert "recorded during training" not in text
    # the network tested is (w1 + w2) / 2, under 80 ms presentations (the run's: 60 ms)
    protocol, params = built[0]
    assert protocol.test_duration == 80.0 != run.protocol.test_duration
    assert protocol.phase_duration == run.protocol.phase_duration
    w1, w2 = run.weights(1).to_arrays(), run.weights(2).to_arrays()
    for name, arr in params.to_arrays().items():
        np.testing.assert_allclose(arr, (w1[name] + w2[name]) / 2, rtol=1e-12, atol=1e-15)
    assert not np.array_equal(params.to_arrays()["W_0"], w2["W_0"])
    # a mean of one epoch is that epoch's weights: the recorded error, exactly
    alone = evaluate_run(out, average_from=2)
    assert alone["averaged"] == 2 and alone["test_duration"] == run.protocol.test_duration
    np.testing.assert_array_equal(alone["y_pred"], evaluate_run(out)["y_pred"])
    assert alone["error"] == run.summary.final_test_error


def test_evaluate_refuses_a_mean_it_cannot_form(trained, capsys):
    out = str(trained[0])
    _one_line_error(capsys, ["evaluate", out, "--average-from", "3"],
                    r"the mean must start at an epoch from 1 to the epoch tested \(2\), not 3")
    _one_line_error(capsys, ["evaluate", out, "--average-from", "0"],
                    r"not 0")
    _one_line_error(capsys, ["evaluate", out, "--test-duration=-5 ms"],
                    r"test duration '-5 ms': cannot be negative")
    _one_line_error(capsys, ["evaluate", out, "--test-duration", "5 mV"],
                    r"test duration '5 mV': .*(unit|dimension)")
    _one_line_error(capsys, ["evaluate", out, "--test-duration", "10 ms"],
                    r"test duration '10 ms': must be longer than the protocol's test settle "
                    r"time \(20 ms\)")


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
    # the header names the network the run trained (7 input neurons per pixel)
    assert run.info["layer_sizes"] == [448, 15, 10]
    assert "guerguiev2017-1hidden (448-15-10 neurons)" in text.splitlines()[0]
    match = re.search(r"test error ([\d.]+)% \((\d+) of 360\)", text)
    assert int(match.group(2)) / 360 == run.summary.final_test_error
    assert "ms per training example" in text
    # the reference line comes right after the final epoch line
    from dendrinet.commands.demo import REFERENCE
    lines = text.splitlines()
    last_epoch = max(i for i, line in enumerate(lines) if line.startswith("epoch 1/1:"))
    assert lines[last_epoch + 1] == REFERENCE
    # running the demo again replaces its own folder
    assert main(["demo", "--hidden", "15", "--epochs", "1", "--protocol", "quick", "--seed",
                 "1", "--out", str(out), "--quiet"]) == 0
    assert Run.open(out).summary.seed == 1


def test_demo_reference_is_what_the_script_computes():
    """The demo's shipped reference line equals what benchmarks/reference_digits.py
    computes now (a logistic regression on the same split, about a second)."""
    import importlib.util
    from pathlib import Path

    from dendrinet.commands.demo import REFERENCE
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "reference_digits.py"
    spec = importlib.util.spec_from_file_location("reference_digits", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    error, n_errors, n_test = module.logistic_regression_error()
    shipped = re.search(r"([\d.]+)% test error \((\d+) of (\d+)\)", REFERENCE)
    assert float(shipped.group(1)) == round(100 * error, 2)
    assert (int(shipped.group(2)), int(shipped.group(3))) == (n_errors, n_test) == \
        (n_errors, 360)
    assert REFERENCE == module.reference_line(error, n_errors, n_test)


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
    _one_line_error(capsys, ["train", "--resume"], r"--resume needs --out, the run folder")


@pytest.mark.filterwarnings("ignore:training error")
def test_train_needs_only_the_data(capsys, tmp_path, monkeypatch):
    """``dendrinet train --dataset my.npz``: the default model, a run folder named after
    the data and the model, the input coding chosen from the data (issue 21)."""
    from dendrinet.commands.train import DEFAULT_MODEL, default_out
    from dendrinet.datasets import load_dataset

    ds = load_dataset("digits", n_train=100, n_test=40)
    np.savez(tmp_path / "my.npz", X_train=ds.X_train, y_train=ds.y_train, X_test=ds.X_test,
             y_test=ds.y_test)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--dataset", "my.npz", "--epochs", "1", "--protocol", "quick",
                 "--quiet", "--spike-samples", "0"]) == 0
    out = capsys.readouterr().out
    assert f"model: {DEFAULT_MODEL} (the default" in out
    assert default_out("my.npz", DEFAULT_MODEL) == f"runs/my-{DEFAULT_MODEL}"
    assert default_out(None, "models/x.toml") == "runs/mnist-10k-x"
    summary = json.loads((tmp_path / "runs" / f"my-{DEFAULT_MODEL}" / "summary.json")
                         .read_text())
    assert summary["model"] == DEFAULT_MODEL
    assert summary["layer_sizes"] == [448, 500, 10]  # digits: 7 input neurons per pixel
    assert "run folder: runs/my-guerguiev2017-1hidden" in out


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


# ------------------------------------------------------------- help and mistakes


def _usage_error(capsys, argv):
    """(stderr) of an argparse error, which exits with status 2."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    return capsys.readouterr().err


def _help(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main([*argv, "--help"])
    assert info.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_a_mistyped_option_gets_the_subcommand_usage_and_the_closest_option(capsys):
    err = _usage_error(capsys, ["train", "--epocs", "3"])
    assert err.startswith("usage: dendrinet train [--model MODEL] [--dataset DATASET] "
                          "[--out OUT] [options]")
    assert err.strip().endswith("dendrinet train: error: unrecognized option '--epocs'; did "
                                "you mean --epochs?")
    err = _usage_error(capsys, ["evaluate", "runs/x", "--n-tset=5"])
    assert err.startswith("usage: dendrinet evaluate")
    assert "unrecognized option '--n-tset'; did you mean --n-test?" in err
    err = _usage_error(capsys, ["report", "x", "--out", "r", "--colour"])
    assert "unrecognized option '--colour'; see 'dendrinet report --help' for the options" in err
    # a left-over argument is the subcommand's mistake too, and abbreviations still work
    err = _usage_error(capsys, ["evaluate", "a", "b"])
    assert err.startswith("usage: dendrinet evaluate") and "unrecognized arguments: b" in err
    assert vars(build_parser().parse_args(["train", "--out", "r", "--epo", "4"]))["epochs"] == 4
    err = _usage_error(capsys, ["trian"])
    assert "invalid choice: 'trian'" in err and err.strip().endswith("did you mean 'train'?")
    err = _usage_error(capsys, ["train", "--out", "r", "--engine", "fsat"])
    assert err.strip().endswith("did you mean 'fast'?")


def test_train_help_shows_what_is_required_and_the_defaults(capsys):
    text = _help(capsys, ["train"])
    assert text.startswith("usage: dendrinet train [--model MODEL] [--dataset DATASET] "
                           "[--out OUT] [options] dendrinet train --out OUT --resume [options]")
    assert "--out OUT run folder to write (default runs/DATASET-MODEL" in text
    assert "--model MODEL model file or shipped model name (direct-feedback-" in text
    assert "default guerguiev2017-1hidden, one hidden layer" in text
    assert "guerguiev2017-0hidden, guerguiev2017-1hidden," in text
    assert "'dendrinet models' describes them" in text
    from dendrinet.config import load_protocol
    assert f"default: the protocol's epochs, {load_protocol('guerguiev2017').epochs} for " \
           f"guerguiev2017," in text
    assert f"{load_protocol('quick').epochs} for quick" in text
    assert "an .npz file with X_train, y_train, X_test, y_test" in text
    _one_line_error(capsys, ["train", "--resume"], r"--resume needs --out")


def test_demo_help_states_the_measured_time(capsys):
    text = _help(capsys, ["demo"])
    assert "about a minute" not in text
    assert re.search(r"about \d+ s; the first run compiles the Numba kernels once", text)


def test_evaluate_and_report_say_what_a_file_is(trained, capsys, tmp_path):
    out, _ = trained
    store = tmp_path / "run.h5"
    shutil.copy(out / "spikes.h5", store)
    _one_line_error(capsys, ["evaluate", str(store)],
                    rf"{re.escape(str(store))} is an HDF5 file \(a spike store.*\), not a run "
                    rf"folder; for figures of its spikes: dendrinet report "
                    rf"{re.escape(str(store))} --out DIR")
    checkpoint = re.escape(str(out / "checkpoint.npz"))
    _one_line_error(capsys, ["evaluate", str(out / "checkpoint.npz")],
                    rf"{checkpoint} is a training checkpoint \(a \.npz .*\), not a run folder; "
                    rf"to evaluate its run: dendrinet evaluate {re.escape(str(out))}$")
    _one_line_error(capsys, ["report", str(out / "checkpoint.npz"), "--out",
                             str(tmp_path / "r")],
                    rf"{checkpoint} is a training checkpoint \(a \.npz .*\), not a spike store "
                    rf"or a run folder; for the figures of its run: dendrinet report "
                    rf"{re.escape(str(out))} --out DIR; for its test error: dendrinet "
                    rf"evaluate {re.escape(str(out))}$")
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------- own data


def test_train_resume_and_evaluate_on_an_own_npz(tmp_path, tiny_model, capsys, monkeypatch):
    from dendrinet.datasets import load_dataset
    digits = load_dataset("digits", n_train=200, n_test=60)
    data = tmp_path / "data" / "mine.npz"
    data.parent.mkdir()
    np.savez(data, X_train=(digits.X_train * 16).astype(np.uint8), y_train=digits.y_train,
             X_test=(digits.X_test * 16).astype(np.uint8), y_test=digits.y_test,
             max_value=np.array(16))
    monkeypatch.chdir(data.parent)
    out = tmp_path / "run"
    assert main(["train", "--model", tiny_model, "--dataset", "mine.npz", "--protocol", "quick",
                 "--epochs", "1", "--out", str(out), "--quiet", "--spike-samples", "0"]) == 0
    run = Run.open(out)
    assert run.summary.dataset == str(data.resolve())
    assert (run.summary.n_train, run.summary.n_test) == (200, 60)
    monkeypatch.chdir(tmp_path)  # the recorded path is found from anywhere
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2", "--quiet",
                 "--spike-samples", "0"]) == 0
    assert Run.open(out).summary.epochs_done == 2
    capsys.readouterr()
    assert main(["evaluate", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    recorded = Run.open(out).summary.final_test_error
    match = re.search(r"test error ([\d.]+)% \((\d+) of 60\)", text)
    assert int(match.group(2)) / 60 == recorded
    # the same digits as in digits/16: the run's test error on the shipped split agrees
    np.testing.assert_array_equal(evaluate_run(out, dataset="digits", n_test=60)["y_pred"],
                                  evaluate_run(out)["y_pred"])
    _one_line_error(capsys, ["train", "--model", tiny_model, "--dataset", "missing.npz",
                             "--out", str(tmp_path / "x")],
                    r"missing\.npz: no such file or folder")


# ------------------------------------------------------------------ trained weights


def test_simulate_runs_the_weights_of_a_run(trained, capsys, monkeypatch):
    import dendrinet.backends as backends
    out, _ = trained
    used = []
    original = backends.make_engine

    def recording(name, model, protocol, params, seed, **options):
        used.append((model, protocol, params))
        return original(name, model, protocol, params, seed, **options)

    monkeypatch.setattr(backends, "make_engine", recording)
    assert main(["simulate", "--run", str(out), "--epoch", "1", "--engine", "fast",
                 "--phase", "test", "--n-examples", "2"]) == 0
    text = capsys.readouterr().out
    assert "guerguiev2017-1hidden (448-20-10), protocol quick, digits test examples 0..1" in text
    assert f"weights of {out} epoch 1" in text
    model, protocol, params = used[-1]
    run = Run.open(out)
    assert model == run.model and protocol == run.protocol
    for name, arr in run.weights(1).to_arrays().items():
        np.testing.assert_array_equal(params.to_arrays()[name], arr, err_msg=name)
    # default: the last epoch
    assert main(["simulate", "--run", str(out), "--engine", "fast", "--n-examples", "1"]) == 0
    assert f"weights of {out} epoch 2" in capsys.readouterr().out
    np.testing.assert_array_equal(used[-1][2].W[0], run.weights(2).W[0])


def test_simulate_refuses_weights_that_do_not_fit(trained, capsys):
    out, _ = trained
    _one_line_error(capsys, ["simulate", "--run", str(out), "--model", "guerguiev2017-1hidden"],
                    rf"model 'guerguiev2017-1hidden' has layers 448-500-10 but the weights of "
                    rf"the run {re.escape(str(out))} are 448-20-10 \(its model file: .*\); leave "
                    rf"out --model to use the run's model$")
    _one_line_error(capsys, ["simulate", "--epoch", "1"], r"--epoch needs --run")
    _one_line_error(capsys, ["simulate", "--run", str(out), "--epoch", "5"],
                    r"no epoch 5; this run has epochs 0..2")
