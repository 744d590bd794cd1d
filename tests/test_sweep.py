"""``dendrinet sweep``: sweep-file validation, results.csv/summary.md numbers, and real
sweeps on Dask -- an external scheduler with two workers, one of them killed (SIGKILL)
mid-run, ending bit-identical to the same runs trained one after another; a second
invocation does no work; a local cluster."""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dendrinet.cli import main
from dendrinet.config import (
    MODEL_TABLES,
    ProtocolConfig,
    load_model,
    load_protocol,
    model_to_toml,
    protocol_to_toml,
)
from dendrinet.errors import ConfigError
from dendrinet.sweep import is_sweep_folder, load_sweep, write_sweep_report
from dendrinet.sweep.parameters import MODEL_PATHS, PROTOCOL_PATHS
from dendrinet.sweep.results import write_sweep_info

REPO = Path(__file__).resolve().parents[1]
TINY_MODEL = "extends = \"guerguiev2017-1hidden\"\n[model]\nname = \"tiny\"\n" \
             "[network]\nhidden = [10]\n"


def _sweep_file(folder: Path, body: str, name: str = "sweep.toml") -> Path:
    (folder / "tiny.toml").write_text(TINY_MODEL, encoding="utf-8")
    path = folder / name
    path.write_text(body, encoding="utf-8")
    return path


# ------------------------------------------------------------------ the file


def test_shipped_table_validates():
    sweep = load_sweep(REPO / "sweeps" / "guerguiev2017-table.toml")
    seeds: dict[str, list[int]] = {}
    for run in sweep.runs:
        seeds.setdefault(run.model.name, []).append(run.seed)
        assert (run.dataset, run.epochs, run.protocol.name) == ("mnist", 20, "guerguiev2017")
        protocol = run.protocol
        assert (protocol.phase_duration, protocol.settle, protocol.test_duration) == \
            (120.0, 90.0, 1000.0)
        assert Path(run.data_dir) == (REPO.parent / "shared" / "data" / "mnist-full").resolve()
        swept = {"guerguiev2017-2hidden": "eta=0.16-0.16-0.08__eta_decay=0.95__",
                 "guerguiev2017-2hidden-wide": "shift_pixels=1__"}.get(run.model.name, "")
        # only the best model's training images move
        assert protocol.shift_pixels == (1 if run.model.name.endswith("wide") else 0)
        assert run.run_id == f"{run.model.name}__guerguiev2017__mnist__{swept}seed{run.seed}"
        if run.model.name.endswith(("2hidden", "wide")):  # the wide model's own rates
            assert run.model.learning.eta == (0.16, 0.16, 0.08)
            assert run.model.learning.eta_decay == 0.95
        else:  # the others learn with their model's own constant rates
            assert run.model.learning.eta_decay == 1.0
    assert seeds == {"guerguiev2017-1hidden": [0, 1, 2], "guerguiev2017-2hidden": [0, 1, 2],
                     "guerguiev2017-2hidden-wide": [0, 1, 2],
                     "guerguiev2017-0hidden": [0], "guerguiev2017-sparse": [0],
                     "guerguiev2017-symmetric": [0]}
    modes = {r.model.name: (r.model.hidden, r.model.feedback.mode) for r in sweep.runs}
    assert modes["guerguiev2017-sparse"] == ((500,), "sparse")
    assert modes["guerguiev2017-symmetric"] == ((500,), "symmetric")
    assert modes["guerguiev2017-2hidden"] == ((500, 100), "random")
    assert modes["guerguiev2017-2hidden-wide"] == ((1000, 300), "random")


def test_shipped_fashion_sweep_validates_with_the_best_model_first():
    sweep = load_sweep(REPO / "sweeps" / "fashion-mnist.toml")
    assert sweep.references == ("logistic-regression", "mlp")
    first = [r for r in sweep.runs if r.model.name == sweep.runs[0].model.name]
    assert [r.seed for r in first] == [0, 1, 2]
    for run in sweep.runs:
        assert (run.dataset, run.epochs, run.protocol.name) == ("fashion-mnist", 20,
                                                                "guerguiev2017")
        assert Path(run.data_dir) == (REPO.parent / "shared" / "data" /
                                      "fashion-mnist").resolve()
    assert sweep.runs[0].model.name == "guerguiev2017-2hidden-on-off"
    codings = {r.model.name: r.model.input.coding for r in sweep.runs}
    assert codings == {"guerguiev2017-1hidden-on-off": "on-off",
                       "guerguiev2017-2hidden-on-off": "on-off",
                       "guerguiev2017-1hidden": "auto"}


def test_parameters_are_parsed_with_units_and_applied(tmp_path):
    path = _sweep_file(tmp_path, """
[sweep]
models = ["tiny.toml", "guerguiev2017-0hidden"]
protocols = ["quick"]
datasets = ["digits"]
seeds = [3]
epochs = 2
n_train = 50
[sweep.parameters]
"neuron.g_A" = ["0.05 /ms", "50 Hz"]
"protocol.settle" = ["12 ms"]
"feedback.mode" = ["sparse"]
""")
    sweep = load_sweep(path)
    assert sweep.parameters == ("neuron.g_A", "protocol.settle", "feedback.mode")
    assert len(sweep.runs) == 4
    tiny = load_model(tmp_path / "tiny.toml")
    quick = load_protocol("quick")
    first = sweep.runs[0]
    assert first.model == dataclasses.replace(
        tiny, neuron=dataclasses.replace(tiny.neuron, g_A=0.05),
        feedback=dataclasses.replace(tiny.feedback, mode="sparse"))
    assert first.protocol == dataclasses.replace(quick, settle=12.0)
    assert sweep.runs[1].model.neuron.g_A == 0.05  # 50 Hz = 0.05 /ms
    assert first.run_id == "tiny__quick__digits__g_A=0.05_per_ms__settle=12_ms__mode=sparse__seed3"
    assert sweep.runs[1].run_id.endswith("g_A=50_Hz__settle=12_ms__mode=sparse__seed3")
    assert sweep.runs[2].model.name == "guerguiev2017-0hidden"
    assert (first.n_train, first.n_test, first.epochs, first.engine) == (50, None, 2, "fast")
    assert first.value("protocol.settle") == 12.0 and first.value("hidden") == [10]


def test_every_dataclass_field_is_a_parameter_path():
    for f in dataclasses.fields(ProtocolConfig):
        if f.name not in ("name", "description", "epochs"):
            assert f"protocol.{f.name}" in PROTOCOL_PATHS
    assert {"hidden", "n_outputs", "learning.eta", "neuron.g_A", "init.V_sd",
            "feedback.mode"} <= set(MODEL_PATHS)
    assert not any(p in MODEL_PATHS for p in ("name", "description"))
    assert len(MODEL_PATHS) == 2 + sum(len(dataclasses.fields(cls))
                                       for cls in MODEL_TABLES.values() if cls is not None)
    assert {"synapses.feedforward_tau_D", "input.coding"} <= set(MODEL_PATHS)


def test_a_sweep_sets_its_values_without_writing_any_file(tmp_path, monkeypatch):
    """The values are read by the file reader in memory (no config file, no temporary
    folder written and parsed back)."""
    import builtins
    import io
    import tempfile

    path = _sweep_file(tmp_path, """
[sweep]
models = ["tiny.toml"]
protocols = ["quick"]
datasets = ["digits"]
seeds = [0]
epochs = 1
[sweep.parameters]
"neuron.g_A" = ["50 Hz"]
"learning.eta" = [[0.2, 0.05]]
"protocol.test_settle" = ["10 ms"]
""")
    real_open = io.open

    def read_only_open(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+"):
            raise AssertionError(f"a file was written: {file}")
        return real_open(file, mode, *args, **kwargs)

    def no_temporary(*args, **kwargs):
        raise AssertionError("a temporary folder or file was made")

    monkeypatch.setattr(io, "open", read_only_open)
    monkeypatch.setattr(builtins, "open", read_only_open)
    for name in ("TemporaryDirectory", "mkdtemp", "NamedTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, no_temporary)
    before = sorted(tmp_path.rglob("*"))
    run, = load_sweep(path).runs
    monkeypatch.undo()
    assert sorted(tmp_path.rglob("*")) == before
    assert run.model.neuron.g_A == 0.05 and run.model.learning.eta == (0.2, 0.05)
    assert run.protocol.test_settle == 10.0
    assert run.run_id == "tiny__quick__digits__g_A=50_Hz__eta=0.2-0.05__test_settle=10_ms__seed0"


@pytest.mark.parametrize("kind, path, value, table", [
    ("model", "neuron.g_B", "-0.6 /ms", "[neuron]"),
    ("model", "neuron.tau_s", "3 Hz", "[neuron]"),
    ("model", "neuron.tau_s", "12 ms", "[neuron]"),  # across fields: tau_s < tau_L
    ("model", "learning.eta", [0.1], "[learning]"),  # across tables: one rate per layer
    ("model", "hidden", [10, 10], "[learning]"),
    ("model", "equations.apical", "V_a_lin*mV", "[equations]"),  # a dimension error
    ("model", "feedback.mode", "mirror", "[feedback]"),
    ("protocol", "protocol.settle", "80 ms", "[train]"),
    ("protocol", "protocol.test_duration", "10.5 ms", "[test]"),
    ("protocol", "protocol.jitter", 1, "[train]"),
])
def test_a_swept_value_is_refused_with_the_message_of_a_file(tmp_path, kind, path, value,
                                                             table):
    """The same check and message as the value written into a file that extends the
    config (less the file's name)."""
    from dendrinet.sweep.parameters import MODEL_PATHS, apply_values, value_text

    paths = MODEL_PATHS if kind == "model" else PROTOCOL_PATHS
    file_table, key = paths[path]
    config = load_model("guerguiev2017-1hidden") if kind == "model" else \
        load_protocol("paper-timing")
    base = "guerguiev2017-1hidden" if kind == "model" else "paper-timing"
    variant = tmp_path / "v.toml"
    variant.write_text(f'extends = "{base}"\n[{file_table}]\n{key} = {value_text(value)}\n')
    with pytest.raises(ConfigError) as from_file:
        (load_model if kind == "model" else load_protocol)(variant)
    with pytest.raises(ConfigError) as from_sweep:
        apply_values(config, {path: value}, kind)
    file_message, sweep_message = str(from_file.value), str(from_sweep.value)
    prefix = f"v.toml (extending {base}.toml) "
    assert file_message.startswith(prefix) and sweep_message.startswith(table)
    assert sweep_message == file_message[len(prefix):]


def test_a_swept_model_keeps_its_user_rule_file(tmp_path):
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "mine.py").write_text("def my_rule():\n    pass\n")
    (tmp_path / "ruled.toml").write_text('extends = "guerguiev2017-1hidden"\n'
                                         '[network]\nhidden = [10]\n'
                                         '[learning]\nrule = "rules/mine.py:my_rule"\n')
    path = _sweep_file(tmp_path, GRID.replace('"guerguiev2017-1hidden"', '"ruled.toml"')
                       + '[sweep.parameters]\n"init.V_sd" = [0.5]\n')
    run, = load_sweep(path).runs
    assert run.model.learning.rule == f"{(tmp_path / 'rules' / 'mine.py').resolve()}:my_rule"
    assert run.model.init.V_sd == 0.5 and run.model.source.startswith("ruled.toml")


GRID = '[sweep]\nmodels = ["guerguiev2017-1hidden"]\ndatasets = ["digits"]\nseeds = [0]\n' \
       'epochs = 2\n'


@pytest.mark.parametrize("body, message", [
    ("", r"no \[sweep\] table"),
    ("[sweeps]\nmodels = []", r"unknown top-level key\(s\) sweeps"),
    (GRID + "modles = ['x']\n", r"\[sweep\]: unknown key\(s\) modles; allowed: models"),
    (GRID.replace('epochs = 2\n', ''), r"missing key 'epochs'"),
    (GRID.replace("guerguiev2017-1hidden", "guerguiev2017-9hidden"),
     r"model file 'guerguiev2017-9hidden' not found .*available: direct-feedback-alignment, guerguiev2017-0hidden"),
    (GRID.replace('"guerguiev2017-1hidden"', '"models/nothere.toml"'),
     r"models/nothere.toml' not found \(paths in a sweep file are relative to its folder"),
    (GRID.replace("seeds = [0]", "seeds = []"), r"\[sweep\].seeds: the list is empty"),
    (GRID.replace("seeds = [0]", "seeds = [0, 0]"), r"\[sweep\].seeds: 0 is listed twice"),
    (GRID.replace("seeds = [0]", "seeds = [-1]"), r"seeds: expected integers >= 0"),
    (GRID.replace("seeds = [0]", "seeds = 0"), r"seeds: expected a list, got 0"),
    (GRID.replace('"digits"', '"mnist-5k"'), r"unknown dataset 'mnist-5k'; available: digits"),
    (GRID.replace("epochs = 2", "epochs = 0"), r"epochs: expected a positive integer, got 0"),
    (GRID + "engine = 'nest'\n", r"engine: 'nest' is not one of fast, fast-double, brian2"),
    (GRID + "protocols = ['quik']\n", r"protocols: protocol file 'quik' not found"),
    (GRID + "[sweep.parameters]\n'learning.etaa' = [1]\n",
     r"'learning.etaa' is not a parameter path; fields of learning: learning.eta"),
    (GRID + "[sweep.parameters]\n'network.hidden' = [[10]]\n",
     r"'network.hidden' is not a parameter path; write the dataclass path: 'hidden'"),
    (GRID + "[sweep.parameters]\n'protocol.epochs' = [3]\n",
     r"the number of epochs is the sweep's 'epochs'"),
    (GRID + "[sweep.parameters]\n'protocol.setle' = ['3 ms']\n",
     r"'protocol.setle' is not a parameter path; protocol fields: protocol.dt"),
    (GRID + "[sweep.parameters]\n'init.V_sd' = []\n", r"'init.V_sd'.*: the list is empty"),
    (GRID + "[sweep.parameters]\n'init.V_sd' = 1.0\n", r"'init.V_sd'.*: expected a list"),
    (GRID + "[sweep.parameters]\n'neuron.g_A' = [0.05]\n",
     r"neuron.g_A = 0.05 in model 'guerguiev2017-1hidden': \[neuron\].g_A: a rate needs a "
     r"unit, e.g. '0.1 /ms' or '200 Hz' \(got 0.05\)"),
    (GRID + "[sweep.parameters]\n'protocol.settle' = ['80 ms']\n",
     r"protocol.settle = \"80 ms\" in protocol 'paper-timing': \[train\].settle: the settle "
     r"time must be shorter than the phase"),
    (GRID + "[sweep.parameters]\n'learning.eta' = [[0.1]]\n",
     r"1 learning rate\(s\) given, but the network has 2 weight layer\(s\)"),
    (GRID + "[sweep.parameters]\n'feedback.mode' = ['mirror']\n",
     r"'mirror' is not one of random, sparse"),
    (GRID + "[sweep.parameters]\n'init.V_sd' = [{a = 1}]\n", r"a value cannot be a table"),
    ("[[sweep]]\n" + GRID[8:] + "\n[[sweep]]\n" + GRID[8:].replace("epochs = 2", "epochs = 3"),
     r"\[\[sweep\]\] #2: run 'guerguiev2017-1hidden__digits__seed0' is defined twice with "
     r"different settings"),
])
def test_a_bad_sweep_file_gives_one_clear_error(tmp_path, body, message):
    path = _sweep_file(tmp_path, body)
    with pytest.raises(ConfigError, match=message):
        load_sweep(path)


def test_every_problem_of_a_file_is_named_at_once(tmp_path):
    path = _sweep_file(tmp_path, GRID.replace("seeds = [0]", "seeds = []").replace(
        '"digits"', '"cifar"') + "[sweep.parameters]\n'neuron.gA' = [1]\n")
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    text = str(info.value)
    assert text.startswith("sweep.toml: 3 problems:")
    assert "seeds: the list is empty" in text and "unknown dataset 'cifar'" in text
    assert "'neuron.gA' is not a parameter path" in text


def test_the_command_reports_a_bad_file_in_one_line_before_any_work(tmp_path, capsys):
    path = _sweep_file(tmp_path, GRID.replace("seeds = [0]", "seeds = []"))
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["dendrinet sweep: error: sweep.toml: [sweep].seeds: the list is empty"]
    assert not (tmp_path / "out").exists()


def test_a_foreign_folder_is_refused(tmp_path, capsys):
    path = _sweep_file(tmp_path, GRID)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "exists and is not a sweep folder" in capsys.readouterr().err
    assert main(["sweep", str(path), "--out", str(tmp_path / "new"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "guerguiev2017-1hidden__digits__seed0  new (0 of 2 epochs)" in out
    assert not (tmp_path / "new").exists()


# ------------------------------------------------------------------ sizes


def test_a_grid_of_a_million_runs_is_refused_before_it_is_built(tmp_path, capsys,
                                                                 monkeypatch):
    from dendrinet.sweep import spec

    def no_work(*args, **kwargs):
        raise AssertionError("a file was loaded or the grid expanded")

    monkeypatch.setattr(spec._Grid, "expand", no_work)
    monkeypatch.setattr(spec, "_load", no_work)
    values = ", ".join(str(v) for v in range(1000))
    path = _sweep_file(tmp_path, GRID.replace("seeds = [0]", f"seeds = [{values}]")
                       + f'[sweep.parameters]\n"init.V_sd" = [{values}]\n')
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["dendrinet sweep: error: sweep.toml: the grid has 1,000,000 runs, more "
                   "than 10,000; pass --allow-large (load_sweep(..., allow_large=True)) "
                   "to run them all"]
    assert not out.exists()  # no sweep.json, no folder


def test_allow_large_accepts_a_sweep_above_the_limit(tmp_path, capsys, monkeypatch):
    from dendrinet.config import limits

    monkeypatch.setattr(limits, "MAX_SWEEP_RUNS", 2)
    path = _sweep_file(tmp_path, GRID.replace("seeds = [0]", "seeds = [0, 1, 2]"))
    with pytest.raises(ConfigError, match="the grid has 3 runs, more than 2"):
        load_sweep(path)
    assert len(load_sweep(path, allow_large=True).runs) == 3
    assert main(["sweep", str(path), "--out", str(tmp_path / "new"), "--dry-run",
                 "--allow-large"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "3 runs"


def test_long_run_names_are_shortened_the_same_way_every_time(tmp_path, capsys):
    long_name = "x" * 200
    (tmp_path / "long.toml").write_text(TINY_MODEL.replace('"tiny"', f'"{long_name}"'),
                                        encoding="utf-8")
    path = _sweep_file(tmp_path, GRID.replace('"guerguiev2017-1hidden"',
                                              '"long.toml", "guerguiev2017-1hidden"')
                       .replace("seeds = [0]", "seeds = [0, 1]"))
    ids = [r.run_id for r in load_sweep(path).runs]
    assert ids[2:] == ["guerguiev2017-1hidden__digits__seed0",
                       "guerguiev2017-1hidden__digits__seed1"]  # short names unchanged
    assert all(len(i) <= 120 for i in ids)
    assert ids[0].startswith("x" * 80) and ids[0].endswith("__seed0")
    assert ids[1].endswith("__seed1") and ids[0][:-1] != ids[1][:-1]  # distinct hashes
    assert [r.run_id for r in load_sweep(path).runs] == ids  # stable: resume finds them
    assert main(["sweep", str(path), "--out", str(tmp_path / "new"), "--dry-run"]) == 0
    assert f"{ids[0]}  new (0 of 2 epochs)" in capsys.readouterr().out


# ------------------------------------------------------------------ results


def _fake_run(folder: Path, spec, test_errors, train_errors, status="finished",
              protocol: bool = False) -> None:
    """A run folder holding only a summary.json (what the results are computed from)
    and, with ``protocol``, the run's protocol file."""
    folder.mkdir(parents=True)
    if protocol:
        (folder / "config").mkdir()
        (folder / "config" / "protocol.toml").write_text(protocol_to_toml(spec.protocol))
    epochs = [{"epoch": i + 1, "train_error": tr, "test_error": te,
               "ms_per_train_example": 0.5 + i, "ms_per_test_example": 0.25,
               "seconds": 1.0} for i, (te, tr) in enumerate(zip(test_errors, train_errors))]
    (folder / "summary.json").write_text(json.dumps({
        "model": spec.model.name, "protocol": spec.protocol.name,
        "dataset": {"name": spec.dataset, "n_train": 10, "n_test": 10}, "seed": spec.seed,
        "engine": "fast", "status": status, "epochs_planned": spec.epochs,
        "epochs": epochs}))


def test_results_csv_and_summary_md_are_computed_from_the_runs_summaries(tmp_path):
    path = _sweep_file(tmp_path, """
[sweep]
models = ["tiny.toml"]
datasets = ["digits"]
seeds = [0, 1, 2]
epochs = 2
[sweep.parameters]
"learning.eta" = [[0.4, 0.1], [0.8, 0.05]]
""")
    sweep = load_sweep(path)
    out = tmp_path / "sweep"
    out.mkdir()
    write_sweep_info(out, sweep, {"tiny__digits__eta=0.8-0.05__seed2": "it broke"})
    assert is_sweep_folder(out) and not is_sweep_folder(tmp_path)
    errors = {}
    rng = np.random.default_rng(1)
    for i, spec in enumerate(sweep.runs):
        if spec.run_id.endswith("eta=0.8-0.05__seed2"):
            continue  # failed before its first epoch: no folder
        test, train = rng.uniform(0.05, 0.5, 2), rng.uniform(0.05, 0.5, 2)
        unfinished = spec.run_id.endswith("eta=0.8-0.05__seed1")
        _fake_run(out / "runs" / spec.run_id, spec, test[:1] if unfinished else test,
                  train[:1] if unfinished else train, "running" if unfinished else "finished")
        errors[spec.run_id] = (test, train)

    report = write_sweep_report(out, tmp_path / "report")
    with open(report.results, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["model", "protocol", "dataset", "learning.eta", "seed", "epoch",
                             "train_error", "test_error", "ms_per_train_example",
                             "ms_per_test_example", "seconds", "status", "run"]
    assert len(rows) == 4 * 2 + 1
    for row in rows:
        test, train = errors[row["run"]]
        e = int(row["epoch"])
        assert float(row["test_error"]) == test[e - 1] and float(row["train_error"]) == train[e - 1]
        assert float(row["ms_per_train_example"]) == 0.5 + e - 1
        assert row["model"] == "tiny" and row["dataset"] == "digits"
        assert row["learning.eta"] == ("[0.4, 0.1]" if "eta=0.4" in row["run"] else "[0.8, 0.05]")
        assert row["run"].endswith(f"seed{row['seed']}")

    md = report.summary.read_text()
    finals = [100 * errors[f"tiny__digits__eta=0.4-0.1__seed{s}"][0][-1] for s in range(3)]
    assert (f"| tiny digits eta=[0.4, 0.1] | 2 | 3 of 3 | {np.mean(finals):.2f} ± "
            f"{np.std(finals, ddof=1):.2f} |") in md
    only = 100 * errors["tiny__digits__eta=0.8-0.05__seed0"][0][-1]
    assert f"| tiny digits eta=[0.8, 0.05] | 2 | 1 of 3 | {only:.2f} |" in md
    assert "- `tiny__digits__eta=0.8-0.05__seed1` (running, 1 of 2 epochs)" in md
    assert "- `tiny__digits__eta=0.8-0.05__seed2` (not started): it broke" in md
    assert report.figures == [tmp_path / "report" / "learning_curves.png"]
    assert report.figures[0].stat().st_size > 10_000
    assert "![learning curves](learning_curves.png)" in md
    assert "Protocols" not in md  # no run has its protocol file


def test_summary_md_puts_the_papers_numbers_beside_its_networks_on_mnist(tmp_path):
    """Only configurations of the paper's models on full MNIST get a published figure;
    a sweep without any has no such column (the test above)."""
    sweep = load_sweep(REPO / "sweeps" / "guerguiev2017-table.toml")
    out = tmp_path / "sweep"
    out.mkdir()
    write_sweep_info(out, sweep)
    for spec in sweep.runs:
        _fake_run(out / "runs" / spec.run_id, spec, [0.1] * 20, [0.1] * 20, protocol=True)
    md = write_sweep_report(out, tmp_path / "report").summary.read_text()
    # the protocol's durations from the runs' own files, once
    assert md.count("- `guerguiev2017`: 120 ms phases averaged after 90 ms, "
                    "1000 ms tests") == 1
    assert "| ms per training example | paper, 60 epochs (%) |" in md
    for model, paper in [("0hidden", "8.3"), ("1hidden", "4.1"), ("2hidden", "3.2"),
                         ("sparse", "3.7"), ("symmetric", "3.6")]:
        row = next(line for line in md.splitlines()
                   if line.startswith(f"| guerguiev2017-{model} "))
        sd = " ± 0.00" if model in ("1hidden", "2hidden") else ""  # three seeds
        # ms: the mean of 0.5, 1.5, ..., 19.5
        assert row.endswith(f"| 10.00{sd} | 10.00{sd} | 10.000 | {paper} |"), row


# --------------------------------------------------------------------- Dask

TABLE = """
[[sweep]]
models = ["tiny.toml"]
protocols = ["quick"]
datasets = ["digits"]
n_test = 200
seeds = [0, 1]
epochs = 3

[[sweep]]          # a run that fails on its worker: inputs beyond memory
models = ["tiny.toml"]
protocols = ["quick"]
datasets = ["digits"]
n_test = 200
seeds = [0]
epochs = 3
[sweep.parameters]
"input.min_inputs" = [100000000]
"""
GOOD = ["tiny__quick__digits__seed0", "tiny__quick__digits__seed1"]
FAILING = "tiny__quick__digits__min_inputs=100000000__seed0"


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def dask_cluster(tmp_path):
    """A dask scheduler and two single-threaded workers (no nanny: SIGKILL kills the
    worker itself) on 127.0.0.1, each a process started from another folder."""
    distributed = pytest.importorskip("distributed")
    folder = tmp_path / "cluster"
    folder.mkdir()
    scheduler_file = folder / "scheduler.json"
    procs = []
    log = open(folder / "cluster.log", "w")
    try:
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
             "--port", "0", "--no-dashboard", "--scheduler-file", str(scheduler_file)],
            cwd=folder, stdout=log, stderr=subprocess.STDOUT))
        _wait_for(scheduler_file.is_file, 60, "the scheduler file")
        for i in range(2):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
                 str(scheduler_file), "--nthreads", "1", "--no-nanny", "--no-dashboard",
                 "--host", "127.0.0.1", "--name", f"worker-{i}"],
                cwd=folder, stdout=log, stderr=subprocess.STDOUT))
        client = distributed.Client(scheduler_file=str(scheduler_file), timeout="30s")
        client.wait_for_workers(2, timeout=60)
        yield scheduler_file, client
        client.close()
    finally:
        for p in procs:  # only the processes started here
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()


def _sweep_command(sweep_file, out, scheduler_file):
    return subprocess.Popen(
        [sys.executable, "-m", "dendrinet.cli", "sweep", str(sweep_file), "--out", str(out),
         "--scheduler-file", str(scheduler_file), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _executing(client) -> dict[str, tuple[int, list[str]]]:
    """Worker address -> (pid, keys of the tasks it is executing)."""
    return client.run(lambda dask_worker: (os.getpid(), [str(ts.key) for ts in
                                                         dask_worker.state.executing]))


def _checkpoint_epochs(run: Path) -> list[dict]:
    with np.load(run / "checkpoint.npz") as ck:
        return json.loads(str(ck["epochs_json"]))


def _same_run(a: Path, b: Path) -> None:
    sa, sb = (json.loads((p / "summary.json").read_text()) for p in (a, b))
    assert sa["status"] == sb["status"] == "finished"
    for key in ("test_error", "train_error"):
        assert [e[key] for e in sa["epochs"]] == [e[key] for e in sb["epochs"]]
    names = sorted(p.name for p in (a / "weights").iterdir())
    assert names == sorted(p.name for p in (b / "weights").iterdir()) and len(names) == 4
    for name in [f"weights/{n}" for n in names] + ["history.npz", "predictions.npz"]:
        with np.load(a / name) as wa, np.load(b / name) as wb:
            assert sorted(wa.files) == sorted(wb.files)
            for k in wa.files:
                assert np.array_equal(wa[k], wb[k]), (name, k)  # bit for bit


def test_a_sweep_survives_a_killed_worker_and_is_not_repeated(dask_cluster, tmp_path):
    scheduler_file, client = dask_cluster
    sweep_file = _sweep_file(tmp_path, TABLE)
    out = tmp_path / "sweep"
    proc = _sweep_command(sweep_file, out, scheduler_file)
    try:
        def a_run_between_epochs():
            for run_id in GOOD:
                run = out / "runs" / run_id
                try:
                    info = json.loads((run / "summary.json").read_text())
                except (OSError, ValueError):
                    continue
                if (run / "checkpoint.npz").is_file() and info["status"] == "running":
                    for pid, keys in _executing(client).values():
                        if any(run_id in k for k in keys):
                            os.kill(pid, signal.SIGKILL)
                            return run_id, _checkpoint_epochs(run)
            return None

        killed, before = _wait_for(a_run_between_epochs, 120, "a run between two epochs")
        stdout, _ = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert 1 <= len(before) < 3
    assert proc.returncode == 1, stdout  # the failing run
    assert f"finished {killed}: " in stdout and "resumed after epoch " in stdout, stdout
    assert f"failed: {FAILING}: " in stdout and "100,000,000 input neurons" in stdout, stdout
    assert "3 runs: 2 finished now, 0 skipped (finished before), 1 failed" in stdout

    # the killed run continued from its checkpoint: its first epochs are the ones
    # written before the kill (their timings too)
    final = json.loads((out / "runs" / killed / "summary.json").read_text())
    assert final["epochs"][:len(before)] == before

    # ... and every run ends bit for bit as the same runs trained one after another
    from dendrinet.training.trainer import train
    for spec in load_sweep(sweep_file).runs:
        if spec.run_id == FAILING:
            continue
        ref = tmp_path / "sequential" / spec.run_id
        train(spec.model, spec.protocol, spec.dataset, ref, epochs=spec.epochs, seed=spec.seed,
              engine=spec.engine, progress=False, n_train=spec.n_train, n_test=spec.n_test)
        _same_run(out / "runs" / spec.run_id, ref)

    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted((r["run"], r["epoch"]) for r in rows) == \
        sorted((g, str(e)) for g in GOOD for e in (1, 2, 3))
    md = (out / "summary.md").read_text()
    assert "| tiny quick digits min_inputs=400 | 3 | 2 of 2 |" in md and FAILING in md
    assert json.loads((out / "sweep.json").read_text())["failures"][FAILING]

    # started again: the finished runs are skipped, untouched; the failed one fails again
    stamps = {p: p.stat().st_mtime_ns for g in GOOD for p in (out / "runs" / g).rglob("*")}
    again = _sweep_command(sweep_file, out, scheduler_file)
    stdout, _ = again.communicate(timeout=120)
    assert again.returncode == 1, stdout
    assert "3 runs: 2 already finished (skipped), 0 to resume, 1 to start" in stdout, stdout
    assert "0 finished now, 2 skipped (finished before), 1 failed" in stdout, stdout
    assert stamps == {p: p.stat().st_mtime_ns for g in GOOD
                      for p in (out / "runs" / g).rglob("*")}


def test_a_sweep_on_a_local_cluster(tmp_path, capsys):
    """(With a model whose equations need Brian2 in the worker: the burst neuron.)"""
    pytest.importorskip("distributed")
    (tmp_path / "burst.toml").write_text('extends = "payeur2021-burstprop"\n[model]\n'
                                         'name = "burst"\n[network]\nhidden = [20]\n')
    sweep_file = _sweep_file(tmp_path, """
[sweep]
models = ["tiny.toml", "burst.toml"]
protocols = ["quick"]
datasets = ["digits"]
n_train = 100
n_test = 50
seeds = [4]
epochs = 1
""")
    out = tmp_path / "sweep"
    assert main(["sweep", str(sweep_file), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    stdout = capsys.readouterr().out
    assert "Dask: a local cluster, 1 workers, 1 threads" in stdout
    assert "2 runs: 2 finished now, 0 skipped (finished before), 0 failed" in stdout
    burst = json.loads((out / "runs" / "burst__quick__digits__seed4" / "summary.json").read_text())
    assert burst["status"] == "finished" and burst["layer_sizes"][1] == 20
    info = json.loads((out / "runs" / "tiny__quick__digits__seed4" / "summary.json").read_text())
    assert info["status"] == "finished" and info["dataset"]["n_train"] == 100
    assert (out / "sweep.toml").read_text() == sweep_file.read_text()
    with open(out / "results.csv", newline="") as fh:
        row = next(csv.DictReader(fh))
    assert float(row["test_error"]) == info["final_test_error"]
    assert (out / "learning_curves.png").is_file()


def test_two_sweeps_cannot_share_a_folder(tmp_path, capsys):
    from dendrinet.storage.locks import FolderLock

    path = _sweep_file(tmp_path, GRID)
    with FolderLock(tmp_path / "out", what="sweep folder"):
        assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "this sweep folder is in use by pid" in err, err
    assert list((tmp_path / "out").iterdir()) == []


def test_a_missing_data_dir_stops_the_sweep_before_it_writes_anything(tmp_path, capsys):
    path = _sweep_file(tmp_path, GRID + "data_dir = 'no-such-folder'\n")
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"data_dir {tmp_path / 'no-such-folder'} does not exist" in err, err
    assert not (tmp_path / "out").exists()


def test_summary_md_puts_reference_classifiers_of_the_same_shapes_beside_the_runs(
        tmp_path, monkeypatch):
    from dendrinet.analysis import references
    from dendrinet.datasets import load_dataset
    path = _sweep_file(tmp_path, """
references = ["logistic-regression", "mlp"]
[sweep]
models = ["tiny.toml"]
datasets = ["digits"]
n_test = 100
seeds = [0, 1]
epochs = 3
""")
    sweep = load_sweep(path)
    assert sweep.references == ("logistic-regression", "mlp")
    out = tmp_path / "sweep"
    out.mkdir()
    write_sweep_info(out, sweep)
    for spec in sweep.runs:
        _fake_run(out / "runs" / spec.run_id, spec, [0.3, 0.2, 0.1], [0.3, 0.2, 0.1])
        (out / "runs" / spec.run_id / "config" / "model.toml").parent.mkdir(exist_ok=True)
        (out / "runs" / spec.run_id / "config" / "model.toml").write_text(
            model_to_toml(spec.model))
    md = write_sweep_report(out).summary.read_text()
    ds = load_dataset("digits", n_test=100)
    data = (ds.X_train, ds.y_train, ds.X_test, ds.y_test)
    lr = references.logistic_regression_error(*data)
    mlp = references.mlp_error(*data, (10,), 3)
    assert 0 < lr < 0.5 and 0 < mlp < 1
    assert f"| digits (all train / 100 test) | logistic regression | {100 * lr:.2f} |" in md
    assert f"| digits (all train / 100 test) | MLP 10 (backprop, 3 epochs) | {100 * mlp:.2f} |" \
        in md
    # computed once: a second report reads references.json; a damaged entry is redone
    monkeypatch.setattr(references, "mlp_error", lambda *a, **k: pytest.fail("recomputed"))
    assert write_sweep_report(out).summary.read_text() == md
    cache = json.loads((out / "references.json").read_text())
    key = next(k for k in cache if "logistic-regression" in k)
    cache[key] = "broken"
    (out / "references.json").write_text(json.dumps(cache))
    assert write_sweep_report(out).summary.read_text() == md
    with pytest.raises(ConfigError, match="references: unknown classifier 'svm'"):
        load_sweep(_sweep_file(tmp_path, 'references = ["svm"]\n[sweep]\nmodels = ["tiny.toml"]'
                               '\ndatasets = ["digits"]\nseeds = [0]\nepochs = 1\n',
                               name="bad.toml"))


def test_brian2_imports_in_a_worker_thread():
    """A Dask worker runs tasks off the main thread, where a plain ``import brian2``
    fails (its SIGINT handler); :func:`dendrinet.brian2_import.import_brian2` imports it
    there, and the main thread's handler stays. Fresh interpreters: Brian2 not imported."""
    import subprocess
    import sys

    def run(body):
        code = ("import signal, threading\nout = []\ndef task():\n    try:\n"
                f"        {body}\n        out.append('imported')\n"
                "    except Exception as exc:\n        out.append(str(exc))\n"
                "before = signal.getsignal(signal.SIGINT)\n"
                "t = threading.Thread(target=task); t.start(); t.join()\n"
                "print(out[0]); print(signal.getsignal(signal.SIGINT) is before)\n")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=300, check=True)
        return proc.stdout.split("\n")[:2]

    assert run("import brian2")[0] == "signal only works in main thread of the main interpreter"
    assert run("from dendrinet.brian2_import import import_brian2; "
               "assert import_brian2().ms.dim is not None") == ["imported", "True"]
