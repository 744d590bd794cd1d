"""``dendrinet report`` on a small real run and on bare stores; bad input gives one line."""
import re
import runpy
import sys

import numpy as np
import pytest

from dendrinet.analysis.report import write_report
from dendrinet.analysis.training import confusion_matrix, format_percent
from dendrinet.cli import main
from dendrinet.store import SpikeStore
from small_run import REPO, shallow_run, small_run, summary_json, unfinished_copy

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
