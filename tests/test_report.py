"""``dendrinet report`` on a small real run and on bare stores; bad input gives one line."""
import json
import re
import runpy
import shutil
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest

from dendrinet.analysis.learning import confusion_matrix, format_percent
from dendrinet.analysis.plots import LABEL_TITLE
from dendrinet.analysis.report import (
    psth_bin_ms, psth_figure, raster_figure, rate_heatmap_figure, write_report,
)
from dendrinet.cli import main
from dendrinet.store import SpikeStore
from small_run import EPOCHS, REPO, shallow_run, small_run, summary_json, unfinished_copy

RUN_FIGURES = [
    "learning_curves.png", "losses.png", "angle_to_backprop_hidden_0.png",
    "plateaus_hidden_0.png", "receptive_fields.png", "confusion_matrix.png",
    "weight_statistics.png", "feedback_alignment.png",
    "spikes_raster.png", "spikes_rate_heatmap.png", "spikes_psth.png", "spikes_isi_histogram.png",
]
STORE_FIGURES = ["raster.png", "rate_heatmap.png", "psth.png", "isi_histogram.png"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    return small_run(tmp_path_factory)


@pytest.fixture(scope="session")
def run_report(run_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert main(["report", str(run_dir), "--out", str(out)]) == 0
    return out


def _table_rows(text: str, header_start: str) -> list[list[str]]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header_start}"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_run_report_writes_every_figure_and_links_it(run_report):
    written = sorted(p.name for p in run_report.glob("*.png"))
    assert written == sorted(RUN_FIGURES)
    text = (run_report / "summary.md").read_text()
    for name in RUN_FIGURES:
        assert (run_report / name).read_bytes()[:8] == PNG_MAGIC
        assert f"]({name})" in text


def test_summary_holds_the_runs_numbers(run_dir, run_report):
    info = summary_json(run_dir)
    text = (run_report / "summary.md").read_text()
    assert f"final test error: **{format_percent(info['final_test_error'])}**" in text
    # the protocol by its values as well as its name (quick: 20 ms phases, settle 10 ms)
    assert "- protocol: `quick` (20 ms phases averaged after 10 ms, 60 ms tests); " in text
    # what the run made of the features (digits: 7 input neurons per pixel)
    coding = info["input_coding"]
    assert f"- input coding: intensity ({coding['reason']})" in text
    assert "7 input neurons per coded feature" in coding["reason"]
    rows = _table_rows(text, "epoch")
    assert len(rows) == len(info["epochs"])
    for row, epoch in zip(rows, info["epochs"]):
        assert row[:3] == [str(epoch["epoch"]), format_percent(epoch["train_error"]),
                           format_percent(epoch["test_error"])]
        assert float(row[3]) == pytest.approx(epoch["ms_per_train_example"], rel=5e-3)
    confusion = confusion_matrix(run_dir)
    rows = _table_rows(text, "class")
    assert [int(r[1]) for r in rows] == confusion.sum(axis=1).tolist()
    assert [int(r[2]) for r in rows] == (confusion.sum(axis=1) - np.diag(confusion)).tolist()


def test_summary_mean_rates_equal_spikes_in_windows(run_dir, run_report):
    rows = {r[0]: r for r in _table_rows((run_report / "summary.md").read_text(), "population")}
    with SpikeStore(run_dir / "spikes.h5") as store:
        assert list(rows) == ["input", "hidden_0", "output"]  # layer order
        p = store.presentations
        for name in store.populations:
            times, _ = store.spikes(name)
            inside = np.zeros(times.size, bool)  # each spike once, even on a shared edge
            for a, b in zip(p["t_start"], p["t_stop"]):
                inside |= (times >= a) & (times < b)
            inside = np.count_nonzero(inside)
            rate = inside / store.n_nodes(name) / (np.sum(p["t_stop"] - p["t_start"]) / 1000)
            assert int(rows[name][1]) == store.n_nodes(name)
            assert float(rows[name][3]) == pytest.approx(rate, rel=5e-3)


def test_store_report_of_a_bare_store(run_dir, tmp_path):
    out = tmp_path / "store-report"
    report = write_report(run_dir / "spikes.h5", out, populations=["output", "hidden_0"])
    assert sorted(p.name for p in report.figures) == sorted(STORE_FIGURES)
    text = report.summary.read_text()
    rows = {r[0]: r for r in _table_rows(text, "population")}
    with SpikeStore(run_dir / "spikes.h5") as store:
        assert set(rows) == {"output", "hidden_0"}
        for name in rows:  # every spike lies before t_stop, the end of the last window
            assert int(rows[name][2]) == store.n_spikes(name)
        assert f"presentations: {store.n_presentations}" in text


def test_report_of_a_run_without_hidden_layer(tmp_path_factory, tmp_path):
    run = shallow_run(tmp_path_factory)
    report = write_report(run, tmp_path / "shallow")
    assert sorted(p.name for p in report.figures) == sorted([
        "learning_curves.png", "losses.png", "receptive_fields.png", "confusion_matrix.png",
        "weight_statistics.png"])
    text = report.summary.read_text()
    info = summary_json(run)
    assert f"final test error: **{format_percent(info['final_test_error'])}**" in text
    assert "Receptive fields of the output layer" in text
    assert "Mean firing rates" not in text  # no spikes.h5 in this run


def _cli_error(capsys, *argv) -> str:
    assert main(["report", *map(str, argv)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("dendrinet report: error: ")
    return err


def test_bad_input_gives_one_clear_line(run_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert "not found" in _cli_error(capsys, tmp_path / "missing", "--out", out)
    unfinished = unfinished_copy(run_dir, tmp_path / "unfinished")
    assert "unfinished" in _cli_error(capsys, unfinished, "--out", out)
    spikes = run_dir / "spikes.h5"
    assert "no population 'nope'" in _cli_error(capsys, spikes, "--out", out,
                                                 "--populations", "nope")
    assert re.search(r"starts after the end of the recording",
                     _cli_error(capsys, spikes, "--out", out, "--t-start", "1e9"))
    assert "empty time window" in _cli_error(capsys, spikes, "--out", out, "--t-start", "20",
                                             "--t-stop", "10")
    empty = tmp_path / "empty.h5"
    SpikeStore(empty, "w", dt=1.0).close()
    assert "empty (no population)" in _cli_error(capsys, empty, "--out", out)
    silent = tmp_path / "silent.h5"
    with SpikeStore(silent, "w", dt=1.0) as store:
        store.add_population("hidden_0", 4)
    assert "empty (no spikes" in _cli_error(capsys, silent, "--out", out)
    not_a_store = tmp_path / "notes.h5"
    not_a_store.write_text("hello")
    assert "not a readable HDF5 file" in _cli_error(capsys, not_a_store, "--out", out)
    folder = tmp_path / "not-a-run"
    folder.mkdir()
    assert "not a run folder" in _cli_error(capsys, folder, "--out", out)


def test_paper_figures_example_writes_its_panels(run_dir, tmp_path, monkeypatch):
    out = tmp_path / "figs"
    monkeypatch.setattr(sys, "argv", ["paper_figures.py", str(run_dir), "--out", str(out)])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(REPO / "examples" / "paper_figures.py"), run_name="__main__")
    assert done.value.code == 0
    assert sorted(p.name for p in out.glob("*.png")) == sorted([
        "learning_curves.png", "plateau_differences.png", "angle_to_backprop.png",
        "receptive_fields.png", "paper_figure.png"])
    assert (out / "paper_figure.png").read_bytes()[:8] == PNG_MAGIC


# ------------------------------------------------------ what the figures show
@pytest.fixture
def close_all():
    yield
    plt.close("all")


def _visible_yticks(axis) -> np.ndarray:
    low, high = sorted(axis.get_ylim())
    ticks = axis.get_yticks()
    return ticks[(ticks >= low) & (ticks <= high)]


def test_raster_ticks_neuron_indices_and_names_the_labels_above_it(run_dir, close_all):
    with SpikeStore(run_dir / "spikes.h5") as store:
        p = store.presentations
        fig = raster_figure(store, ["input", "hidden_0", "output"], p, 0.0,
                            float(p["t_stop"].max()))
        fig.canvas.draw()
        for axis, name in zip(fig.axes, ["input", "hidden_0", "output"]):
            ticks = _visible_yticks(axis)
            np.testing.assert_array_equal(ticks, np.round(ticks))  # 0..9, not 2.5, 7.5
            assert ticks.min() >= 0 and ticks.max() <= store.n_nodes(name) - 1
        top = fig.axes[0]
        texts = [t.get_text() for t in top.texts]
        assert texts[0] == LABEL_TITLE == "class label:"
        assert texts[1:] == [str(label) for label in p["label"]]  # test: one phase each
        assert not fig.axes[2].texts  # nothing unexplained above the other panels


@pytest.mark.parametrize("span, dt, expected", [
    (5100.0, 1.0, 20.0),   # used to be 17 ms
    (300.0, 1.0, 2.0),
    (60_000.0, 1.0, 200.0),
    (1000.0, 0.1, 5.0),
    (100.0, 1.0, 1.0),     # never below the time step
    (20.0, 0.25, 0.25),
])
def test_psth_bins_are_round(span, dt, expected):
    assert psth_bin_ms(span, dt) == expected


def test_psth_figure_states_its_round_bin_width(run_dir, close_all):
    with SpikeStore(run_dir / "spikes.h5") as store:
        t_stop = store.t_stop
        fig = psth_figure(store, ["hidden_0", "output"], 0.0, t_stop)
        width = psth_bin_ms(t_stop, store.dt)
    assert width in (1, 2, 5, 10, 20, 50, 100)
    for axis in fig.axes:
        edges = axis.patches[0].get_data().edges
        np.testing.assert_allclose(np.diff(edges), width)
        assert axis.get_ylabel().endswith(f"{width:g} ms bins")


def _simulate_store(path):
    """A store like ``dendrinet simulate`` writes: forward then target phase per example."""
    rng = np.random.default_rng(0)
    labels = [3, 1, 3]
    with SpikeStore(path, "w", dt=1.0) as store:
        for name, n in (("hidden_0", 20), ("output", 10)):
            store.add_population(name, n)
            times = np.sort(rng.uniform(0, 300, 400))
            store.append_spikes(name, times, rng.integers(0, n, times.size))
        starts = np.arange(6) * 50.0
        store.append_presentations(np.repeat([0, 1, 2], 2), np.repeat(labels, 2),
                                   ["forward", "target"] * 3, starts, starts + 50.0)
        store.set_t_stop(300.0)
    return path


def test_rate_heatmap_marks_the_phases_of_simulate_stores(tmp_path, close_all):
    path = _simulate_store(tmp_path / "simulate.h5")
    with SpikeStore(path) as store:
        fig = rate_heatmap_figure(store, ["hidden_0", "output"], store.presentations)
    heatmaps = [axis for axis in fig.axes if axis.images]
    assert len(heatmaps) == 2
    for axis in heatmaps:
        assert [t.get_text() for t in axis.get_yticklabels()] == ["1 fwd", "1 tgt", "3 fwd",
                                                                  "3 tgt"]
        assert "fwd = forward, tgt = target" in axis.get_ylabel()
    report = write_report(path, tmp_path / "report")
    assert "rate_heatmap.png" in [f.name for f in report.figures]


# ------------------------------------------------------------ paper figures
@pytest.fixture(scope="module")
def paper():
    """The functions of examples/paper_figures.py."""
    return runpy.run_path(str(REPO / "examples" / "paper_figures.py"))


def test_paper_figure_orders_runs_and_names_model_layer_epoch(paper, run_dir, tmp_path_factory,
                                                              close_all):
    shallow = shallow_run(tmp_path_factory)
    # the detailed run first, as on the command line; panel A ordered 0, 1, ... hidden layers
    fig = paper["paper_figure"]([run_dir, shallow], n_fields=9)
    a, b, c, d = fig.axes[:4]
    assert [t.get_text() for t in a.get_legend().get_texts()] == [
        f"{shallow.name}: test error", f"{run_dir.name}: test error"]
    assert a.get_title() == "data set: digits"
    model = summary_json(run_dir)["model"]
    assert b.get_title() == f"{model}: plateau differences, hidden layer 0"
    assert c.get_title() == f"{model}: angle to backprop, hidden layer 0"
    assert d.get_title() == f"{model}:\nreceptive fields, hidden layer 0, epoch {EPOCHS}"
    assert [axis.get_title(loc="left") for axis in (a, b, c, d)] == list("ABCD")
    colorbar = d.images[0].colorbar
    assert colorbar.ax.get_ylabel() == "weight minus its field's mean (dimensionless)"
    assert "epoch boundaries" in [t.get_text() for t in c.get_legend().get_texts()]


def test_paper_figure_names_and_warns_about_different_data_sets(paper, run_dir, tmp_path,
                                                                close_all):
    other = tmp_path / "on-mnist"
    shutil.copytree(run_dir, other)
    info = summary_json(other)
    info["dataset"]["name"] = "mnist-10k"
    (other / "summary.json").write_text(json.dumps(info), encoding="utf-8")
    with pytest.warns(UserWarning, match="different data sets"):
        fig = paper["paper_figure"]([run_dir, other], n_fields=4)
    a = fig.axes[0]
    assert [t.get_text() for t in a.get_legend().get_texts()] == [
        f"{run_dir.name} on digits: test error", "on-mnist on mnist-10k: test error"]
    assert a.get_title() == "data sets differ (see legend)"


def test_report_quotes_the_steady_state_time_without_compilation():
    from dendrinet.analysis.report import steady_state_timing
    from dendrinet.training.run_folder import EpochResult

    epochs = [EpochResult(1, 0.5, 0.4, 40.0, 9.0, 60.0), EpochResult(2, 0.3, 0.3, 0.5, 0.4, 2.0),
              EpochResult(3, 0.2, 0.2, 0.7, 0.6, 2.0)]
    # new runs: compilation happened before epoch 1 and is quoted on its own
    line = steady_state_timing({"compile_seconds": 61.26}, epochs[1:])
    assert "0.6 ms, per test example 0.5 ms" in line and "61.3 s" in line
    # older runs: epoch 1 (with the compilation) is left out of the median
    line = steady_state_timing({}, epochs)
    assert "0.6 ms, per test example 0.5 ms" in line and "epoch 1 left out" in line
    assert "40" not in steady_state_timing({}, epochs)
