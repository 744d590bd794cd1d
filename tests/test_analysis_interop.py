"""Neo and NWB export: exact round trips of the spike times of a real run's store."""
import sys

import numpy as np
import pytest
import quantities as pq

from dendrinet.analysis.interop import read_nwb_units, to_neo, to_nwb
from dendrinet.errors import DendrinetError, StoreError
from dendrinet.store import SpikeStore
from small_run import N_SPIKE_SAMPLES, small_run


@pytest.fixture(scope="session")
def spikes_path(tmp_path_factory):
    return small_run(tmp_path_factory) / "spikes.h5"


def _by_node(times, ids, node):
    return np.sort(times[ids == node], kind="stable")


def test_to_neo_of_a_presentation_equals_the_store_window(spikes_path):
    with SpikeStore(spikes_path) as store:
        t0, t1 = store.presentation_window(1)
        times, ids = store.spikes("hidden_0", t0, t1)
        trains = to_neo(store, "hidden_0", presentation=1)
        n_nodes = store.n_nodes("hidden_0")
    assert len(trains) == n_nodes
    assert sum(len(st) for st in trains) == times.size
    for node in (0, n_nodes - 1):
        np.testing.assert_array_equal(trains[node].times.rescale(pq.s).magnitude,
                                      _by_node(times, ids, node) / 1000.0)
        assert trains[node].t_start == t0 / 1000.0 * pq.s
        assert trains[node].t_stop == t1 / 1000.0 * pq.s
        assert trains[node].annotations["node_id"] == node


def test_to_neo_from_a_path_with_a_selection(spikes_path):
    trains = to_neo(spikes_path, "output", node_ids=[4, 2], t_start=0.0, t_stop=50.0)
    with SpikeStore(spikes_path) as store:
        times, ids = store.spikes("output", 0.0, 50.0)
    assert [st.annotations["node_id"] for st in trains] == [4, 2]
    np.testing.assert_array_equal(trains[1].magnitude, _by_node(times, ids, 2) / 1000.0)
    with pytest.raises(DendrinetError, match="either a presentation or a t_start"):
        to_neo(spikes_path, "output", presentation=0, t_start=0.0)
    with pytest.raises(StoreError, match="no population 'nope'"):
        to_neo(spikes_path, "nope")


def test_nwb_round_trip_gives_the_store_times_in_seconds(spikes_path, tmp_path):
    pynwb = pytest.importorskip("pynwb")
    out = to_nwb(spikes_path, tmp_path / "run.nwb")
    back = read_nwb_units(out)
    with SpikeStore(spikes_path) as store:
        assert sorted(back) == store.populations
        for population in store.populations:
            times, ids = store.spikes(population)
            assert len(back[population]) == store.n_nodes(population)
            assert sum(t.size for t in back[population]) == times.size
            for node in range(store.n_nodes(population)):
                np.testing.assert_array_equal(back[population][node],
                                              _by_node(times, ids, node) / 1000.0)
        presentations = store.presentations
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        trials = nwb.trials
        assert len(trials) == presentations["t_start"].size
        np.testing.assert_array_equal(trials["start_time"][:], presentations["t_start"] / 1000)
        np.testing.assert_array_equal(trials["label"][:], presentations["label"])
        assert N_SPIKE_SAMPLES == len(np.unique(trials["example_id"][:]))
        assert len(nwb.units) == sum(back_n for back_n in map(len, back.values()))


def test_nwb_window_and_population_selection(tmp_path):
    pytest.importorskip("pynwb")
    path = tmp_path / "s.h5"
    with SpikeStore(path, "w", dt=1.0) as store:
        store.add_population("a", 3)
        store.add_population("b", 2)
        store.append_spikes("a", [1.0, 5.0, 10.0, 20.0], [0, 2, 0, 1])
        store.append_spikes("b", [3.0], [1])
    back = read_nwb_units(to_nwb(path, tmp_path / "w.nwb", populations=["a"], t_start=2.0,
                                 t_stop=20.0))
    assert list(back) == ["a"]
    np.testing.assert_array_equal(back["a"][0], [0.010])
    assert back["a"][1].size == 0  # 20 ms is outside the half-open window
    np.testing.assert_array_equal(back["a"][2], [0.005])
    # no window: every spike, including the one at the store's t_stop (20 ms)
    back = read_nwb_units(to_nwb(path, tmp_path / "all.nwb"))
    np.testing.assert_array_equal(back["a"][1], [0.020])
    np.testing.assert_array_equal(back["b"][1], [0.003])


def test_nwb_bad_input(spikes_path, tmp_path):
    pytest.importorskip("pynwb")
    target = tmp_path / "x.nwb"
    target.write_bytes(b"")
    with pytest.raises(DendrinetError, match="already exists"):
        to_nwb(spikes_path, target)
    with pytest.raises(StoreError, match="no population 'nope'"):
        to_nwb(spikes_path, tmp_path / "y.nwb", populations=["nope"])
    with pytest.raises(DendrinetError, match="empty window"):
        to_nwb(spikes_path, tmp_path / "z.nwb", t_start=30.0, t_stop=30.0)
    with pytest.raises(StoreError, match="does not exist"):
        to_nwb(tmp_path / "missing.h5", tmp_path / "w.nwb")


def test_missing_pynwb_gives_one_clear_error(spikes_path, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynwb", None)  # import pynwb now raises ImportError
    with pytest.raises(DendrinetError, match=r"needs the optional package pynwb.*dendrinet\[nwb\]"):
        to_nwb(spikes_path, tmp_path / "out.nwb")
    assert not (tmp_path / "out.nwb").exists()
