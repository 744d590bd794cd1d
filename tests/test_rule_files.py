"""A rule file is code, runs only when its user names it, and says so (issue 19): a
model file naming one is data (refused, nothing run, no folder left, until the file is
named with --rule-file or dendrinet.allow_rule_file); announced with its path and SHA-256
before it runs, kept in the run folder (copy + hash) that evaluate, --resume, from_run
and simulate --run use; a changed copy, or a model naming any other file, is refused
before anything runs. And a run's named data set is found again where it was trained
from, or the error says what to pass."""
import contextlib
import dataclasses
import hashlib
import io
import json
import re
import shutil

import numpy as np
import pytest

from dendrinet import datasets
from dendrinet.learning import rule_files
from dendrinet.learning.rule_part import load_user_rule
from dendrinet.cli import main
from dendrinet.config import load_model
from dendrinet.datasets import load_dataset
from dendrinet.errors import DatasetError, DendrinetError, RunError
from dendrinet.training.estimator import SegregatedDendriteClassifier
from dendrinet.training.evaluation import evaluate_run
from dendrinet.training.run_folder import Run, read_marker
from dendrinet.training.trainer import train

from test_rules import RULE_FILE  # noqa: E402 (a rule file with plateau_sign)

MODEL = ('extends = "guerguiev2017-1hidden"\n[network]\nhidden = [10]\n'
         '[learning]\nrule = "my_rules.py:plateau_sign"\n')
SMALL = dict(protocol="quick", dataset="digits", n_train=100, n_test=50, seed=2,
             progress=False, n_spike_samples=0)


def sentinel_code(path) -> str:
    """A line that leaves a file behind if it is ever executed."""
    return f"\nimport pathlib\npathlib.Path({str(path)!r}).write_text('ran')\n"


@pytest.fixture(autouse=True)
def nothing_allowed(monkeypatch):
    """Every test starts with no rule file allowed, as a new process does."""
    monkeypatch.setattr(rule_files, "_allowed", set())


@pytest.fixture
def fresh_announcements(monkeypatch):
    """This process has announced no rule file yet."""
    monkeypatch.setattr(rule_files, "_announced", set())


@pytest.fixture(scope="module")
def rule_run(tmp_path_factory):
    """A 1-epoch run trained with a user's rule file, whose original folder (model and
    rule file) is deleted afterwards: ``(run folder, stderr of training, sha256,
    original rule path)``."""
    base = tmp_path_factory.mktemp("rule_run")
    original = base / "a"
    original.mkdir()
    (original / "my_rules.py").write_text(RULE_FILE)
    (original / "m.toml").write_text(MODEL)
    digest = hashlib.sha256(RULE_FILE.encode()).hexdigest()
    stderr = io.StringIO()
    saved = set(rule_files._announced)
    rule_files._announced.clear()  # training announces it, whatever ran before
    allowed = set(rule_files._allowed)
    try:
        rule_files.allow(original / "my_rules.py")  # its user names it
        with contextlib.redirect_stderr(stderr):
            train(original / "m.toml", out_dir=base / "run", epochs=1, **SMALL)
    finally:
        rule_files._announced.update(saved)
        rule_files._allowed.clear()
        rule_files._allowed.update(allowed)
    rule_path = (original / "my_rules.py").resolve()
    shutil.rmtree(original)  # the run must not need it any more
    return base / "run", stderr.getvalue(), digest, rule_path


def copy_of(run, tmp_path, name="run"):
    """A copy of the run folder at a new path (a path no rule was imported from yet)."""
    return shutil.copytree(run, tmp_path / name)


def test_load_user_rule_announces_path_and_sha256_once_per_content(tmp_path, capfd,
                                                                    fresh_announcements):
    path = tmp_path / "rules.py"
    path.write_text(RULE_FILE)
    rule_files.allow(path)
    load_user_rule(str(path), "plateau_sign")
    err = capfd.readouterr().err
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert err.count("\n") == 1 and f"{path} (sha256 {digest})" in err, err
    assert "Python code" in err and "trust" in err
    load_user_rule(str(path), "plateau_sign")
    assert capfd.readouterr().err == ""  # once per process
    path.write_text(RULE_FILE + "\n# changed\n")  # new content: allowed again, announced
    with pytest.raises(DendrinetError, match="you have not named"):
        load_user_rule(str(path), "plateau_sign")
    assert capfd.readouterr().err == ""
    rule_files.allow(path)
    load_user_rule(str(path), "plateau_sign")
    err = capfd.readouterr().err
    assert hashlib.sha256(path.read_bytes()).hexdigest() in err, err
    huge = tmp_path / "huge.py"
    huge.write_text(RULE_FILE + "#" * rule_files.MAX_RULE_BYTES)
    with pytest.raises(DendrinetError, match="larger than 4 MiB"):
        load_user_rule(str(huge), "plateau_sign")
    assert capfd.readouterr().err == ""  # refused before it was announced or run


def test_train_announces_the_rule_and_keeps_a_copy_with_its_hash(rule_run):
    run, stderr, digest, original = rule_run
    assert f"dendrinet: running the learning rule {original} (sha256 {digest})" in stderr
    copy = run / "config" / "my_rules.py"
    assert copy.read_text() == RULE_FILE
    info = json.loads((run / "summary.json").read_text())
    assert info["rule_file"]["path"] == "config/my_rules.py"
    assert info["rule_file"]["sha256"] == digest
    text = (run / "config" / "model.toml").read_text()
    assert re.search(r'^rule = "my_rules.py:plateau_sign"$', text, re.M), text
    assert str(original.parent) not in text  # named relative to the run, not the original
    assert Run.open(run).model.learning.rule == f"{copy.resolve()}:plateau_sign"
    assert "config/my_rules.py" in read_marker(run)["files"]  # --force may delete it


def test_a_run_stays_usable_when_its_rule_file_moves(rule_run, tmp_path, capfd,
                                                     fresh_announcements):
    run = copy_of(rule_run[0], tmp_path)
    _, _, digest, original = rule_run
    assert not original.exists()
    recorded = Run.open(run).predictions()
    result = evaluate_run(run)
    np.testing.assert_array_equal(result["y_pred"], recorded["y_pred"])
    # evaluation runs no plasticity: the rule file is not executed (nor announced); the
    # engine's kernels take the rule as a value only when training
    err = capfd.readouterr().err
    assert "running the learning rule" not in err, err
    clf = SegregatedDendriteClassifier.from_run(run)
    X_test = load_dataset("digits", n_test=SMALL["n_test"]).X_test
    np.testing.assert_array_equal(clf.predict(X_test), recorded["y_pred"])
    assert main(["evaluate", str(run), "--quiet"]) == 0
    assert "test error" in capfd.readouterr().out


def test_resume_runs_the_copy_and_ends_as_an_uninterrupted_run(rule_run, tmp_path):
    resumed = copy_of(rule_run[0], tmp_path)
    # a model file naming a rule file elsewhere: the same content resumes, another not
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "m.toml").write_text(MODEL)
    (tmp_path / "b" / "my_rules.py").write_text(RULE_FILE + "# edited\n")
    with pytest.raises(RunError, match="is not the one the run was trained with"):
        train(tmp_path / "b" / "m.toml", out_dir=resumed, resume=True, epochs=2,
              progress=False, n_spike_samples=0)
    (tmp_path / "b" / "my_rules.py").write_text(RULE_FILE)
    with pytest.raises(DendrinetError, match="you have not named"):  # resuming trains: asks
        train(tmp_path / "b" / "m.toml", out_dir=resumed, resume=True, epochs=2,
              progress=False, n_spike_samples=0)
    rule_files.allow(resumed / "config" / "my_rules.py")  # the run's copy: same content
    train(tmp_path / "b" / "m.toml", out_dir=resumed, resume=True, epochs=2, progress=False,
          n_spike_samples=0)
    # the same network trained for 2 epochs at once, from the run's own model
    straight = tmp_path / "straight"
    train(Run.open(rule_run[0]).model, out_dir=straight, epochs=2, **SMALL)
    a, b = Run.open(resumed), Run.open(straight)
    for name, value in a.weights(2).to_arrays().items():
        np.testing.assert_array_equal(b.weights(2).to_arrays()[name], value)
    np.testing.assert_array_equal(a.summary.test_errors, b.summary.test_errors)
    assert (straight / "config" / "my_rules.py").read_text() == RULE_FILE


def test_a_changed_copy_is_refused_before_it_runs(rule_run, tmp_path, capsys):
    run = copy_of(rule_run[0], tmp_path)
    sentinel = tmp_path / "ran.txt"
    with open(run / "config" / "my_rules.py", "a") as fh:
        fh.write(sentinel_code(sentinel))
    for attempt in (lambda: evaluate_run(run), lambda: SegregatedDendriteClassifier.from_run(run),
                    lambda: train(out_dir=run, resume=True, epochs=2, progress=False)):
        with pytest.raises(RunError, match="copy of its learning rule .* has changed since "
                                           "training .*nothing was run"):
            attempt()
    assert main(["evaluate", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "has changed since training" in err, err
    assert main(["simulate", "--run", str(run), "--engine", "fast", "--phase", "test"]) == 2
    assert "has changed since training" in capsys.readouterr().err
    assert not sentinel.exists()


@pytest.mark.parametrize("where", ["relative", "absolute", "unrecorded"])
def test_a_model_naming_another_rule_file_is_refused_before_it_runs(rule_run, tmp_path,
                                                                     where):
    run = copy_of(rule_run[0], tmp_path)
    sentinel = tmp_path / "ran.txt"
    evil = tmp_path / "evil.py"
    evil.write_text(RULE_FILE + sentinel_code(sentinel))
    model_toml = run / "config" / "model.toml"
    text = model_toml.read_text()
    if where == "relative":
        name, words = "../../evil.py", "outside the run folder"
    elif where == "absolute":
        name, words = str(evil), "outside the run folder"
    else:  # planted inside config/, or a run that recorded no rule copy
        shutil.copy(evil, run / "config" / "evil.py")
        info = json.loads((run / "summary.json").read_text())
        del info["rule_file"]
        (run / "summary.json").write_text(json.dumps(info))
        name, words = "evil.py", "does not record as the run's copy"
    model_toml.write_text(text.replace('"my_rules.py:', f'"{name}:'))
    assert load_model(model_toml).learning.rule.endswith("evil.py:plateau_sign")
    for attempt in (lambda: evaluate_run(run), lambda: SegregatedDendriteClassifier.from_run(run),
                    lambda: train(out_dir=run, resume=True, epochs=2, progress=False)):
        with pytest.raises(RunError, match=words):
            attempt()
    assert not sentinel.exists()


def test_a_model_file_naming_a_rule_file_runs_nothing_until_the_user_names_it(tmp_path,
                                                                              capsys):
    sentinel = tmp_path / "ran.txt"
    (tmp_path / "my_rules.py").write_text(RULE_FILE + sentinel_code(sentinel))
    (tmp_path / "m.toml").write_text(MODEL)
    out = tmp_path / "runs" / "shared"
    with pytest.raises(DendrinetError, match=r"is Python code that you have not named.*"
                                             r"--rule-file .*my_rules.py.*Nothing was run"):
        train(tmp_path / "m.toml", out_dir=out, epochs=1, **SMALL)
    digits = load_dataset("digits", n_train=50, n_test=10)
    with pytest.raises(DendrinetError, match="you have not named"):  # the estimator too
        SegregatedDendriteClassifier(model=str(tmp_path / "m.toml"), protocol="quick",
                                     epochs=1).fit(digits.X_train, digits.y_train)
    argv = ["train", "--model", str(tmp_path / "m.toml"), "--dataset", "digits", "--protocol",
            "quick", "--epochs", "1", "--n-train", "60", "--n-test", "30", "--quiet",
            "--spike-samples", "0", "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--rule-file" in err, err
    # nothing run, no folder left: neither the run folder nor the runs/ made for it
    assert not sentinel.exists() and not out.parent.exists()
    # named on purpose: it runs (announced), and the run keeps its copy
    assert main(argv + ["--rule-file", str(tmp_path / "my_rules.py")]) == 0
    assert sentinel.read_text() == "ran"
    assert "running the learning rule" in capsys.readouterr().err
    assert (out / "config" / "my_rules.py").is_file()


def test_a_sweep_asks_before_it_starts_and_its_workers_run_what_was_allowed(tmp_path):
    from dendrinet.sweep import load_sweep, run_sweep
    from dendrinet.sweep.execute import execute_run

    sentinel = tmp_path / "ran.txt"
    (tmp_path / "my_rules.py").write_text(RULE_FILE + sentinel_code(sentinel))
    (tmp_path / "m.toml").write_text(MODEL)
    (tmp_path / "s.toml").write_text('[sweep]\nmodels = ["m.toml"]\ndatasets = ["digits"]\n'
                                     'seeds = [0]\nepochs = 1\nprotocols = ["quick"]\n'
                                     'n_train = 60\nn_test = 30\n')
    sweep = load_sweep(tmp_path / "s.toml")
    with pytest.raises(DendrinetError, match="you have not named"):
        run_sweep(sweep, tmp_path / "out", progress=False, log=lambda line: None)
    assert not (tmp_path / "out").exists()
    # a worker process allows what its client allowed, and nothing else
    runs = tmp_path / "runs"
    runs.mkdir()
    spec, = sweep.runs
    failed = execute_run(spec, str(runs))
    assert failed["status"] == "failed" and "you have not named" in failed["error"]
    assert not sentinel.exists()
    digest = rule_files.allow(tmp_path / "my_rules.py")
    rule_files._allowed.clear()  # the worker: a new process
    done = execute_run(spec, str(runs), (digest,))
    assert done["status"] == "finished", done
    assert sentinel.read_text() == "ran"


# ----------------------------------------------------------- the run's data set


@pytest.fixture
def isolated_data(monkeypatch, tmp_path, shared_mnist_dir):
    """mnist-10k only in ``tmp_path/data``: no other folder, cache or download finds it."""
    data = tmp_path / "data"
    data.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(shared_mnist_dir / name, data / name)
    monkeypatch.setattr(datasets.folders, "REPO_ROOT", None)  # no fallback to ../shared
    monkeypatch.setenv(datasets.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(datasets.DATA_DIR_ENV, raising=False)

    def no_network(url, timeout=None):
        raise OSError("no network in the tests")

    monkeypatch.setattr(datasets.fetch, "urlopen", no_network)
    return data


def test_resume_and_evaluate_find_a_named_dataset_again(isolated_data, tmp_path, capsys):
    model = load_model("guerguiev2017-1hidden")
    model = dataclasses.replace(model, hidden=(10,))
    run = tmp_path / "run"
    train(model, "quick", "mnist-10k", run, epochs=1, seed=1, progress=False,
          n_spike_samples=0, data_dir=isolated_data, n_train=30, n_test=20)
    info = json.loads((run / "summary.json").read_text())
    assert info["dataset"]["data_dir"] == str(isolated_data.resolve())
    with pytest.raises(DatasetError):  # the data is nowhere else
        load_dataset("mnist-10k", n_train=30, n_test=20)
    # no --data-dir: the folder the run recorded
    assert main(["train", "--out", str(run), "--resume", "--epochs", "2", "--quiet",
                 "--spike-samples", "0"]) == 0
    assert Run.open(run).summary.epochs_done == 2
    result = evaluate_run(run)
    np.testing.assert_array_equal(result["y_pred"], Run.open(run).predictions()["y_pred"])
    assert main(["simulate", "--run", str(run), "--engine", "fast", "--phase", "test"]) == 0
    capsys.readouterr()

    # the folder is gone: the error names it and what to pass
    moved = shutil.move(isolated_data, tmp_path / "moved")
    with pytest.raises(DatasetError) as info:
        evaluate_run(run)
    message = str(info.value)
    assert f"trained on 'mnist-10k' from {isolated_data.resolve()}, which is gone" in message
    assert "--data-dir DIR" in message and "t10k-images-idx3-ubyte.gz" in message
    assert main(["evaluate", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "which is gone" in err, err
    assert evaluate_run(run, data_dir=moved)["error"] == result["error"]
