"""Tests of dendrinet.store: exact round trips, lazy window reads, Neo export,
clear errors for bad files and input, and crash consistency under SIGKILL."""

import inspect
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from dendrinet.errors import StoreError
from dendrinet.store import CHUNK_ROWS, SpikeStore

REPO = Path(__file__).resolve().parents[1]
N_HIDDEN = 37


def _batch(seed, index, size=40_000, n_nodes=100):
    """Batch ``index`` of a deterministic spike stream: 1 s per batch, times on a
    0.5 ms grid (many ties, also across HDF5 chunk boundaries)."""
    rng = np.random.default_rng([seed, index])
    times = index * 1000.0 + np.sort(rng.integers(0, 2000, size)) * 0.5
    return times, rng.integers(0, n_nodes, size)


def _write_store(path, n_batches=3, size=100_000):
    """Write a store with batches larger than one chunk; return the in-memory copy."""
    batches = [_batch(7, b, size, N_HIDDEN) for b in range(n_batches)]
    out = {"times": np.concatenate([t for t, _ in batches]),
           "ids": np.concatenate([i for _, i in batches])}
    out["presentations"] = {
        "example_id": np.arange(2 * n_batches, dtype=np.int64),
        "label": np.array([3, -1] * n_batches, dtype=np.int64),
        "phase": np.array(["forward", "target"] * n_batches),
        "t_start": np.arange(2 * n_batches) * 500.0,
        "t_stop": np.arange(1, 2 * n_batches + 1) * 500.0 - 0.25}
    out["metadata"] = {"model": {"tau_L": 10.0, "layers": [500, 10], "name": "guerguiev"},
                       "seed": np.int64(12345), "weights": np.array([0.1, 1e-300])}
    with SpikeStore(path, "w", dt=0.5) as store:
        store.add_population("hidden", N_HIDDEN)
        store.add_population("output", 10)
        store.set_metadata(out["metadata"])
        pres = out["presentations"]
        for b, (times, ids) in enumerate(batches):
            store.append_spikes("hidden", times, ids)
            rows = slice(2 * b, 2 * b + 2)
            store.append_presentations(*(pres[k][rows] for k in pres))
        store.append_spikes("output", [0.0, 0.0, 2.5], [9, 0, 9])
        store.set_t_stop(3000.0)
    return out


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "spikes.h5"
    return path, _write_store(path)


def test_round_trip_is_exact(written):
    path, expected = written
    with SpikeStore(path) as store:
        assert store.populations == ["hidden", "output"]
        assert store.n_nodes("hidden") == N_HIDDEN and store.n_nodes("output") == 10
        assert store.n_spikes("hidden") == 300_000 > 4 * CHUNK_ROWS
        times, ids = store.spikes("hidden")
        np.testing.assert_array_equal(times, expected["times"])
        np.testing.assert_array_equal(ids, expected["ids"])
        assert times.dtype == np.float64 and ids.dtype == np.int64
        np.testing.assert_array_equal(store.spikes("output")[1], [9, 0, 9])
        for key, column in expected["presentations"].items():
            np.testing.assert_array_equal(store.presentations[key], column)
        metadata = store.metadata
        assert metadata["model"] == expected["metadata"]["model"]
        assert metadata["seed"] == 12345
        assert metadata["weights"] == [0.1, 1e-300]
        assert metadata["versions"]["numpy"] == np.__version__
        assert metadata["versions"]["h5py"] == h5py.__version__
        assert store.t_stop == 3000.0 and store.dt == 0.5
        blocks = list(store.iter_chunks("hidden", 70_000))
        assert [len(t) for t, _ in blocks] == [70_000] * 4 + [20_000]
        np.testing.assert_array_equal(np.concatenate([t for t, _ in blocks]), expected["times"])
        np.testing.assert_array_equal(np.concatenate([i for _, i in blocks]), expected["ids"])
    with h5py.File(path, "r") as raw:  # the documented layout, readable without dendrinet
        assert raw.attrs["format"] == "dendrinet-spikes" and raw.attrs["format_version"] == 1
        assert raw["spikes/hidden"].attrs["sorting"] == "by_time"
        assert raw["spikes/hidden/timestamps"].attrs["units"] == "ms"
        assert raw["spikes/hidden/timestamps"].chunks == (CHUNK_ROWS,)


def test_t_stop_follows_appends_and_append_mode_continues(tmp_path):
    path = tmp_path / "a.h5"
    with SpikeStore(path, "a") as store:  # "a" creates a missing store
        store.add_population("p", 4)
        store.append_spikes("p", [1.0, 2.5], [0, 3])
        assert store.t_stop == 2.5
        store.append_presentations(0, -1, "test", 0.0, 4.0)
        assert store.t_stop == 4.0
    with SpikeStore(path, "a") as store:
        store.append_spikes("p", [2.5, 6.0], [1, 1])
        assert store.t_stop == 6.0
        with pytest.raises(StoreError, match="earlier than the last stored spike"):
            store.append_spikes("p", [5.0], [0])
        with pytest.raises(StoreError, match="before|earlier"):
            store.set_t_stop(5.9)
        store.set_t_stop(8.0)
        # structure changes after data was appended (the file leaves and re-enters SWMR)
        store.add_population("late", 2)
        store.append_spikes("late", [7.0], [1])
        store.set_metadata({"seed": 4})
        store.append_spikes("p", [7.5], [2])
    with SpikeStore(path) as store:
        np.testing.assert_array_equal(store.spikes("p")[0], [1.0, 2.5, 2.5, 6.0, 7.5])
        np.testing.assert_array_equal(store.spikes("p")[1], [0, 3, 1, 1, 2])
        np.testing.assert_array_equal(store.spikes("late")[0], [7.0])
        assert store.metadata["seed"] == 4 and store.t_stop == 8.0 and store.dt is None


def test_buffered_small_batches_round_trip(tmp_path):
    path = tmp_path / "buffered.h5"
    batches = [_batch(5, b, 1_000, 20) for b in range(40)]  # 40 000 spikes > 2 chunks
    with SpikeStore(path, "w") as store:
        store.add_population("p", 20)
        for b, (times, ids) in enumerate(batches[:25]):
            store.append_spikes("p", times, ids, flush=False)
            store.append_presentations(b, b % 10, "test", b * 1000.0, b * 1000.0 + 999.5,
                                       flush=False)
        # reads see the spikes held in memory, and no spike is written twice
        assert store.n_spikes("p") == 25_000
        np.testing.assert_array_equal(store.spikes("p", 3000.0, 4000.0)[0], batches[3][0])
        assert store.t_stop == 24_999.5
        for times, ids in batches[25:]:
            store.append_spikes("p", times, ids, flush=False)
    with SpikeStore(path) as store:
        times, ids = store.spikes("p")
        np.testing.assert_array_equal(times, np.concatenate([t for t, _ in batches]))
        np.testing.assert_array_equal(ids, np.concatenate([i for _, i in batches]))
        np.testing.assert_array_equal(store.presentations["label"], np.arange(25) % 10)
        assert store.t_stop == batches[-1][0][-1]


def test_windows_and_node_selections_equal_numpy_filter(written):
    path, expected = written
    times, ids = expected["times"], expected["ids"]
    rng = np.random.default_rng(3)
    # random windows, windows on exact (tied) spike times and on chunk boundaries,
    # empty windows and windows past the end
    edges = list(rng.uniform(0, 3100, 20)) + list(times[[0, CHUNK_ROWS - 1, CHUNK_ROWS,
                                                          2 * CHUNK_ROWS, len(times) - 1]])
    windows = [tuple(sorted(rng.choice(edges, 2))) for _ in range(30)]
    windows += [(times[CHUNK_ROWS],) * 2, (0.0, 0.0), (2999.5, 5000.0), (4000.0, 5000.0)]
    with SpikeStore(path) as store:
        for t0, t1 in windows:
            keep = (times >= t0) & (times < t1)
            got_t, got_i = store.spikes("hidden", t0, t1)
            np.testing.assert_array_equal(got_t, times[keep])
            np.testing.assert_array_equal(got_i, ids[keep])
        nodes = [0, 5, 36]
        keep = (times >= 700.0) & (times < 1900.0) & np.isin(ids, nodes)
        got_t, got_i = store.spikes("hidden", 700.0, 1900.0, node_ids=nodes)
        assert keep.sum() > 1000
        np.testing.assert_array_equal(got_t, times[keep])
        np.testing.assert_array_equal(got_i, ids[keep])
        keep = (times >= 2500.0) & (ids == 4)
        np.testing.assert_array_equal(store.spikes("hidden", t_start=2500.0, node_ids=[4])[0],
                                      times[keep])


def test_presentation_selection(written):
    path, expected = written
    times, ids = expected["times"], expected["ids"]
    pres = expected["presentations"]
    with SpikeStore(path) as store:
        assert store.n_presentations == 6
        for i in range(6):
            assert store.presentation_window(i) == (pres["t_start"][i], pres["t_stop"][i])
            keep = (times >= pres["t_start"][i]) & (times < pres["t_stop"][i])
            got_t, got_i = store.spikes_in_presentation("hidden", i)
            np.testing.assert_array_equal(got_t, times[keep])
            np.testing.assert_array_equal(got_i, ids[keep])
        with pytest.raises(StoreError, match=r"in \[0, 6\)"):
            store.presentation_window(6)


def test_to_neo_times_in_seconds_and_store_t_stop(written):
    import quantities as pq
    path, expected = written
    times, ids = expected["times"], expected["ids"]
    with SpikeStore(path) as store:
        trains = store.to_neo("hidden")
        assert len(trains) == N_HIDDEN
        for node, train in enumerate(trains):
            assert train.units == pq.s
            np.testing.assert_array_equal(train.magnitude, times[ids == node] / 1000.0)
            assert float(train.t_stop.magnitude) == store.t_stop / 1000.0 == 3.0
            assert float(train.t_start.magnitude) == 0.0
            assert train.annotations["node_id"] == node
        output = store.to_neo("output")  # empty trains included
        assert [len(t) for t in output] == [1] + [0] * 8 + [2]
        window = store.to_neo("hidden", 1000.0, 1500.0, node_ids=[30, 2])
        for node, train in zip([30, 2], window):
            keep = (ids == node) & (times >= 1000.0) & (times < 1500.0)
            np.testing.assert_array_equal(train.magnitude, times[keep] / 1000.0)
            assert (float(train.t_start.magnitude), float(train.t_stop.magnitude)) == (1.0, 1.5)


def test_truncated_foreign_missing_and_text_files(tmp_path, written):
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(written[0].read_bytes())
    with open(truncated, "r+b") as handle:
        handle.truncate(truncated.stat().st_size // 2)
    with pytest.raises(StoreError, match=r"truncated\.h5' is not a readable HDF5 file "
                                         r"\(truncated or corrupt\)"):
        SpikeStore(truncated)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as raw:
        raw["x"] = np.arange(3)
    with pytest.raises(StoreError, match="foreign.h5' is an HDF5 file but not a dendrinet"):
        SpikeStore(foreign)
    with pytest.raises(StoreError, match="foreign.h5' is an HDF5 file but not a dendrinet"):
        SpikeStore(foreign, "a")
    with pytest.raises(StoreError, match="nothing.h5' does not exist"):
        SpikeStore(tmp_path / "nothing.h5")
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5\n" * 100)
    with pytest.raises(StoreError, match="not a readable HDF5 file"):
        SpikeStore(text)
    with pytest.raises(StoreError, match="mode must be"):
        SpikeStore(text, "x")


def test_bad_input_raises_one_clear_store_error(tmp_path, written):
    with SpikeStore(written[0]) as store:
        with pytest.raises(StoreError,
                           match=r"no population 'inputs'; available: \['hidden', 'output'\]"):
            store.spikes("inputs")
        with pytest.raises(StoreError, match="t_start 5.0 ms is after t_stop 4.0 ms"):
            store.spikes("hidden", 5.0, 4.0)
        with pytest.raises(StoreError, match="NaN"):
            store.spikes("hidden", float("nan"), 4.0)
        with pytest.raises(StoreError, match=r"in \[0, 37\), got 37"):
            store.spikes("hidden", node_ids=[1, 37])
        with pytest.raises(StoreError, match="read-only"):
            store.append_spikes("hidden", [4000.0], [1])
    with SpikeStore(tmp_path / "w.h5", "w") as store:
        store.add_population("p", 3)
        for times, nodes, message in [([1.0, float("nan")], [0, 1], "NaN"),
                                      ([-1.0], [0], "must not be negative"),
                                      ([1.0, 2.0], [0, 3], r"in \[0, 3\), got 3"),
                                      ([1.0, 2.0], [0], "2 spike times but 1 node ids"),
                                      ([2.0, 1.0], [0, 0], "non-decreasing"),
                                      ([1.0], [0.5], "integers")]:
            with pytest.raises(StoreError, match=message):
                store.append_spikes("p", times, nodes)
        with pytest.raises(StoreError, match="unknown presentation phase"):
            store.append_presentations(0, 1, "sleep", 0.0, 1.0)
        with pytest.raises(StoreError, match="mismatched lengths"):
            store.append_presentations([0, 1, 2], 1, "test", [0.0, 1.0], 2.0)
        with pytest.raises(StoreError, match="already has a population 'p'"):
            store.add_population("p", 3)
        assert store.n_spikes("p") == 0 and store.n_presentations == 0
    with pytest.raises(StoreError, match="is closed"):
        store.spikes("p")


WRITER = """
import sys
import numpy as np
sys.path.insert(0, {repo!r})
from dendrinet.store import SpikeStore
{batch_source}
store = SpikeStore({path!r}, "w", dt=0.5)
store.add_population("pop", 100)
total = 0
for index in range(100_000):
    times, ids = _batch(11, index, {size})
    store.append_spikes("pop", times, ids, flush={flush_each})
    total += len(times)
    if (index + 1) % {flush_every} == 0:
        store.flush()
        print(total, flush=True)
"""


@pytest.mark.parametrize("size, flush_every", [(40_000, 1), (3_000, 10)],
                         ids=["each-append-flushes", "buffered-then-flush"])
def test_sigkill_mid_write_leaves_flushed_spikes_readable(tmp_path, size, flush_every):
    path = tmp_path / "killed.h5"
    script = WRITER.format(repo=str(REPO), path=str(path), size=size, flush_every=flush_every,
                           flush_each=flush_every == 1,
                           batch_source=textwrap.dedent(inspect.getsource(_batch)))
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        flushed = [int(writer.stdout.readline()) for _ in range(4)][-1]
    finally:
        os.kill(writer.pid, signal.SIGKILL)  # lands while later batches are being written
        writer.wait()
    assert writer.returncode == -signal.SIGKILL
    assert flushed == 4 * size * flush_every
    with SpikeStore(path) as store:
        n = store.n_spikes("pop")
        assert n >= flushed
        batches = [_batch(11, b, size) for b in range(n // size + 1)]
        times, ids = store.spikes("pop")
        np.testing.assert_array_equal(times, np.concatenate([t for t, _ in batches])[:n])
        np.testing.assert_array_equal(ids, np.concatenate([i for _, i in batches])[:n])
        assert store.t_stop >= times[-1]
        trains = store.to_neo("pop", 1000.0, 2000.0)
        assert sum(len(t) for t in trains) == np.count_nonzero((times >= 1000) & (times < 2000))
    with pytest.raises(StoreError, match="died without closing it"):
        SpikeStore(path, "a")


def test_structure_changes_keep_path_permissions_and_leave_no_reserved_space(tmp_path):
    from dendrinet.store.superblock import superblock_of
    real = tmp_path / "real.h5"
    link = tmp_path / "link.h5"
    link.symlink_to(real)
    with SpikeStore(link, "w", dt=1.0) as store:  # created through a symlink
        os.chmod(real, 0o640)
        store.add_population("p", 3)
        store.append_spikes("p", np.arange(40_000) * 0.01, np.arange(40_000) % 3)
        store.set_metadata({"seed": 1})
        store.append_spikes("p", [500.0], [2], flush=False)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.h5", "real.h5"]
    block, size = superblock_of(real)
    assert block.flags == 0 and size == block.end  # the room reserved ahead was given back
    with SpikeStore(link) as store:
        assert store.n_spikes("p") == 40_001 and store.metadata["seed"] == 1


def test_recover_clears_a_dead_writers_marks_and_cuts_its_unfinished_batch(tmp_path):
    from dendrinet.store.superblock import read_superblock, superblock_of, write_superblock
    path = tmp_path / "dead.h5"
    with SpikeStore(path, "w") as store:
        store.add_population("p", 5)
        store.append_spikes("p", [1.0, 2.0, 3.0], [0, 1, 2])
        store.append_presentations([0, 1], [2, 3], "test", [0.0, 2.0], [2.0, 3.5])
    assert SpikeStore.recover(path)["status_flags"] == 0  # closed cleanly: nothing to do
    # what a SWMR writer killed mid-batch leaves: node ids written, timestamps not,
    # a t_stop behind its data, bytes written past the recorded end, SWMR status flags
    with h5py.File(path, "r+") as raw:
        raw["spikes/p/node_ids"].resize((5,))
        raw["spikes/p/node_ids"][3:] = [3, 4]
        raw["presentations/label"].resize((3,))
        raw["spikes/p/timestamps"].resize((4,))
        raw["spikes/p/timestamps"][3] = 4.0
        raw["spikes/p/node_ids"][3] = 3
        raw.attrs["t_stop"] = 1.0
    fd = os.open(path, os.O_RDWR)
    try:
        block = read_superblock(fd)
        os.pwrite(fd, b"\x17" * 1000, os.fstat(fd).st_size)
        write_superblock(fd, block, 0x05, block.end)
    finally:
        os.close(fd)
    end = block.end
    with SpikeStore(path) as store:  # readable as it is: the shorter column counts
        assert store.n_spikes("p") == 4 and store.n_presentations == 2
        assert store.t_stop == 4.0
    with pytest.raises(StoreError, match=r"writer died without closing it\. Call "
                                         r"SpikeStore\.recover\('.*dead\.h5'\)"):
        SpikeStore(path, "a")
    report = SpikeStore.recover(path)
    assert report["status_flags"] == 0x05
    assert report["end_of_file"] == (end, end + 1000)  # past the bytes written after it
    assert report["n_spikes"] == {"p": 4} and report["n_presentations"] == 2
    assert superblock_of(path)[0].flags == 0
    with h5py.File(path, "r") as raw:  # any HDF5 tool opens it now, columns cut
        assert raw["spikes/p/node_ids"].shape == raw["spikes/p/timestamps"].shape == (4,)
        assert raw["presentations/label"].shape == (2,) and raw.attrs["t_stop"] == 4.0
    with SpikeStore(path, "a") as store:
        store.append_spikes("p", [4.0, 5.0], [4, 4])
    with SpikeStore(path) as store:
        np.testing.assert_array_equal(store.spikes("p")[0], [1.0, 2.0, 3.0, 4.0, 4.0, 5.0])
        np.testing.assert_array_equal(store.spikes("p")[1], [0, 1, 2, 3, 4, 4])
    with pytest.raises(StoreError, match="does not exist"):
        SpikeStore.recover(tmp_path / "missing.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(StoreError, match="not a readable HDF5 file"):
        SpikeStore.recover(tmp_path / "text.h5")
