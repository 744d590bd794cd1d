"""Spike statistics: Poisson and regular trains, Elephant equality, lazy == in-memory."""

import neo
import numpy as np
import pytest
import quantities as pq

from dendrinet.analysis import (
    cv, cv2, fano_factor, isi, isi_histogram, mean_firing_rate, population_rate, psth,
    rates_by_presentation, spike_counts, synchrony,
)
from dendrinet.errors import DendrinetError

N_NODES, DURATION_MS, RATE_HZ = 50, 20_000.0, 20.0


def poisson_spikes(seed=1, n_nodes=N_NODES, duration_ms=DURATION_MS, rate_hz=RATE_HZ):
    """Homogeneous Poisson process: Poisson count, then uniform times. Sorted by time."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(rate_hz * duration_ms / 1000.0, size=n_nodes)
    node_ids = np.repeat(np.arange(n_nodes), counts)
    times = rng.uniform(0.0, duration_ms, size=node_ids.size)
    order = np.argsort(times, kind="stable")
    return times[order], node_ids[order]


def regular_spikes(period_ms=50.0, n_nodes=10, duration_ms=1000.0):
    """Neuron i fires at i ms + k period: exact binary-representable times."""
    node_ids = np.repeat(np.arange(n_nodes), int(duration_ms / period_ms))
    times = node_ids + period_ms * np.tile(np.arange(int(duration_ms / period_ms)), n_nodes)
    return times.astype(float), node_ids


def window(n_nodes=N_NODES, duration_ms=DURATION_MS):
    return dict(t_start=0.0, t_stop=duration_ms, n_nodes=n_nodes)


def to_neo(times, node_ids, n_nodes, duration_ms, units="s"):
    scale = 1000.0 if units == "s" else 1.0
    return [neo.SpikeTrain(times[node_ids == i] / scale, t_start=0.0, t_stop=duration_ms / scale,
                           units=units) for i in range(n_nodes)]


class ChunkedStore:
    """Minimal stand-in with the SpikeStore interface the analysis uses."""

    def __init__(self, times, node_ids, n_nodes, t_stop, presentations=None):
        self._times, self._ids = times, node_ids
        self._n, self.t_stop, self.presentations = n_nodes, t_stop, presentations
        self.populations = ["hidden"]
        self.chunks_read = 0

    def n_nodes(self, population):
        return self._n

    def iter_chunks(self, population, chunk_size):
        for start in range(0, self._times.size, chunk_size):
            self.chunks_read += 1
            yield self._times[start:start + chunk_size], self._ids[start:start + chunk_size]


@pytest.fixture(scope="module")
def poisson():
    return poisson_spikes()


# ---------------------------------------------------------------- Poisson statistics
def test_poisson_rates_within_four_sigma(poisson):
    rates = mean_firing_rate(poisson, **window())
    assert rates.units == pq.Hz and rates.shape == (N_NODES,)
    expected_count = RATE_HZ * DURATION_MS / 1000.0
    sigma_hz = np.sqrt(expected_count) / (DURATION_MS / 1000.0)  # Poisson count sd / duration
    assert np.all(np.abs(rates.magnitude - RATE_HZ) < 4 * sigma_hz)
    pop = population_rate(poisson, **window())
    assert abs(float(pop) - RATE_HZ) < 4 * sigma_hz / np.sqrt(N_NODES)
    assert float(pop) == pytest.approx(rates.magnitude.mean(), rel=1e-12)


def test_poisson_cv_cv2_near_one(poisson):
    n_isi = sum(len(x) for x in isi(poisson, **window()))
    # Delta method for exponential intervals: sd(CV) = 1/sqrt(n); pooled over neurons.
    assert abs(np.mean(cv(poisson, **window()).magnitude) - 1.0) < 4 / np.sqrt(n_isi)
    # 2|I2-I1|/(I1+I2) = 2|1-2U| with U uniform: mean 1, variance 1/3; neighbouring
    # terms share an interval, so allow twice the independent-terms sigma.
    sigma_cv2 = 2 * np.sqrt(1 / 3 / n_isi)
    assert abs(np.mean(cv2(poisson, **window()).magnitude) - 1.0) < 4 * sigma_cv2


def test_poisson_fano_factors_near_one(poisson):
    # Across neurons: 50 Poisson counts; sd of the sample variance / mean ~ sqrt(2/(n-1)).
    ff = fano_factor(poisson, **window())
    assert ff.units == pq.dimensionless and ff.shape == ()
    assert abs(float(ff) - 1.0) < 4 * np.sqrt(2 / (N_NODES - 1))
    # Across 100 ms bins of each neuron (lambda = 2 per bin, 200 bins):
    # var(s^2) = (mu4 - sigma^4)/n with mu4 = lambda(1+3 lambda), so sd(FF) ~ 0.11 per neuron.
    lam, n_bins = 2.0, 200
    sigma = np.sqrt((lam * (1 + 3 * lam) - lam**2) / n_bins) / lam / np.sqrt(N_NODES)
    per_neuron = fano_factor(poisson, bin_ms=100.0, **window())
    assert per_neuron.shape == (N_NODES,)
    assert abs(per_neuron.magnitude.mean() - 1.0) < 4 * sigma


def test_poisson_synchrony_is_one_over_sqrt_n(poisson):
    # Independent neurons: chi^2 = 1/N, relative sd of a variance over n bins ~ sqrt(2/n).
    n_bins = int(DURATION_MS / 5.0)
    chi = float(synchrony(poisson, bin_ms=5.0, **window()))
    assert abs(chi**2 * N_NODES - 1.0) < 4 * np.sqrt(2 / n_bins)
    # Identical trains are perfectly synchronous.
    times, _ = poisson_spikes(n_nodes=1, duration_ms=2000.0)
    copies = (np.tile(times, 5), np.repeat(np.arange(5), times.size))
    chi_identical = float(synchrony(copies, bin_ms=5.0, **window(5, 2000.0)))
    assert chi_identical == pytest.approx(1.0, abs=1e-12)


# ---------------------------------------------------------------- regular trains
def test_regular_trains_are_exact():
    spikes, kw = regular_spikes(), window(10, 1000.0)
    np.testing.assert_array_equal(mean_firing_rate(spikes, **kw).magnitude, 20.0)
    np.testing.assert_array_equal(cv(spikes, **kw).magnitude, 0.0)
    np.testing.assert_array_equal(cv2(spikes, **kw).magnitude, 0.0)
    assert float(fano_factor(spikes, **kw)) == 0.0
    np.testing.assert_array_equal(fano_factor(spikes, bin_ms=100.0, **kw).magnitude, 0.0)
    assert all(np.array_equal(x.magnitude, np.full(19, 50.0)) for x in isi(spikes, **kw))
    counts = spike_counts(spikes, bin_ms=100.0, **kw)
    assert counts.shape == (10, 10) and np.all(counts.magnitude == 2)
    rate, edges = psth(spikes, bin_ms=100.0, **kw)
    np.testing.assert_array_equal(rate.magnitude, 20.0)
    np.testing.assert_array_equal(edges.rescale(pq.ms).magnitude, np.arange(0, 1001, 100))
    hist, hist_edges = isi_histogram(spikes, bin_ms=10.0, max_ms=100.0, **kw)
    assert hist.magnitude[5] == 10 * 19 and hist.magnitude.sum() == 10 * 19
    assert hist_edges.units == pq.ms and hist_edges.size == 11


def test_window_is_half_open_and_partial_bin_dropped():
    spikes = (np.array([0.0, 10.0, 99.0, 100.0]), np.array([0, 0, 0, 0]))
    kw = dict(t_start=10.0, t_stop=100.0, n_nodes=1)
    assert float(mean_firing_rate(spikes, **kw)[0]) == pytest.approx(2 / 0.09)
    counts = spike_counts(spikes, bin_ms=40.0, **kw)  # bins [10,50), [50,90); [90,100) dropped
    np.testing.assert_array_equal(counts.magnitude, [[1, 0]])


def test_rates_by_presentation_and_phase():
    times = np.array([5.0, 15.0, 25.0, 26.0, 60.0, 99.9])
    ids = np.array([0, 1, 1, 0, 1, 1])
    presentations = {"example_id": np.array([0, 0, 1, 1]), "label": np.array([3, 3, 7, 7]),
                     "phase": np.array([b"forward", b"target", b"forward", b"target"]),
                     "t_start": np.array([0.0, 20.0, 50.0, 80.0]),
                     "t_stop": np.array([20.0, 50.0, 80.0, 100.0])}
    rates = rates_by_presentation((times, ids), presentations=presentations, n_nodes=2)
    assert rates.units == pq.Hz
    np.testing.assert_allclose(rates.magnitude, [[50, 50], [1 / 0.03, 1 / 0.03],
                                                 [0, 1 / 0.03], [0, 50]], rtol=1e-12)
    forward = rates_by_presentation((times, ids), presentations=presentations, phase="forward",
                                    n_nodes=2)
    np.testing.assert_allclose(forward.magnitude, [[50, 50], [0, 1 / 0.03]], rtol=1e-12)


# ---------------------------------------------------------------- Elephant equality
def test_equal_to_elephant(poisson):
    stats = pytest.importorskip("elephant.statistics")
    times, ids = poisson_spikes(seed=7, n_nodes=20, duration_ms=3000.0, rate_hz=5.0)
    trains = to_neo(times, ids, 20, 3000.0, units="s")  # seconds, to exercise unit handling
    ours_rate = mean_firing_rate(trains)
    their_rate = [float(stats.mean_firing_rate(st).rescale(pq.Hz)) for st in trains]
    np.testing.assert_allclose(ours_rate.rescale(pq.Hz).magnitude, their_rate, rtol=1e-9)
    ours_isi = isi(trains)
    for ours, st in zip(ours_isi, trains):
        np.testing.assert_allclose(ours.rescale(pq.ms).magnitude,
                                   stats.isi(st).rescale(pq.ms).magnitude, rtol=1e-9, atol=1e-9)
    their_cv = np.array([stats.cv(stats.isi(st).magnitude) if len(st) > 2 else np.nan
                         for st in trains])
    np.testing.assert_allclose(cv(trains).magnitude, their_cv, rtol=1e-9)
    their_cv2 = np.array([stats.cv2(stats.isi(st).magnitude, with_nan=True) if len(st) > 2
                          else np.nan for st in trains])
    np.testing.assert_allclose(cv2(trains).magnitude, their_cv2, rtol=1e-9)
    assert float(fano_factor(trains)) == pytest.approx(stats.fanofactor(trains), rel=1e-9)
    rate, _ = psth(trains, bin_ms=50 * pq.ms)
    hist = stats.time_histogram(trains, bin_size=50 * pq.ms, output="rate")
    np.testing.assert_allclose(rate.magnitude, hist.rescale(pq.Hz).magnitude.ravel(), rtol=1e-9)


def test_neo_and_flat_inputs_agree(poisson):
    trains = to_neo(*poisson, N_NODES, DURATION_MS, units="ms")
    np.testing.assert_allclose(cv(trains).magnitude, cv(poisson, **window()).magnitude, rtol=1e-12)
    np.testing.assert_array_equal(spike_counts(trains, bin_ms=500.0).magnitude,
                                  spike_counts(poisson, bin_ms=500.0, **window()).magnitude)


# ---------------------------------------------------------------- lazy == in-memory
def assert_lazy_equals_memory(store, population, spikes, kw, chunk_size, bin_ms):
    """Every streaming statistic on the store equals the in-memory result."""
    lazy = dict(population=population, chunk_size=chunk_size)
    mem = dict(kw)
    np.testing.assert_array_equal(mean_firing_rate(store, **lazy).magnitude,
                                  mean_firing_rate(spikes, **mem).magnitude)
    np.testing.assert_array_equal(spike_counts(store, bin_ms=bin_ms, **lazy).magnitude,
                                  spike_counts(spikes, bin_ms=bin_ms, **mem).magnitude)
    np.testing.assert_array_equal(psth(store, bin_ms=bin_ms, **lazy)[0].magnitude,
                                  psth(spikes, bin_ms=bin_ms, **mem)[0].magnitude)
    np.testing.assert_allclose(cv(store, **lazy).magnitude, cv(spikes, **mem).magnitude,
                               rtol=1e-12)
    np.testing.assert_allclose(cv2(store, **lazy).magnitude, cv2(spikes, **mem).magnitude,
                               rtol=1e-12)
    np.testing.assert_array_equal(fano_factor(store, bin_ms=bin_ms, **lazy).magnitude,
                                  fano_factor(spikes, bin_ms=bin_ms, **mem).magnitude)
    assert float(synchrony(store, bin_ms=bin_ms, **lazy)) == pytest.approx(
        float(synchrony(spikes, bin_ms=bin_ms, **mem)), rel=1e-12)
    np.testing.assert_array_equal(isi_histogram(store, **lazy)[0].magnitude,
                                  isi_histogram(spikes, **mem)[0].magnitude)
    for a, b in zip(isi(store, **lazy), isi(spikes, **mem)):
        np.testing.assert_array_equal(a.magnitude, b.magnitude)


@pytest.mark.parametrize("bin_ms", [3.0, 37.0, 700.0])  # bins within, across, spanning chunks
def test_lazy_chunks_equal_in_memory(bin_ms):
    times, ids = poisson_spikes(seed=3, n_nodes=20, duration_ms=5000.0)
    store = ChunkedStore(times, ids, 20, 5000.0)
    assert_lazy_equals_memory(store, "hidden", (times, ids), window(20, 5000.0), 97, bin_ms)
    assert store.chunks_read == 9 * int(np.ceil(times.size / 97))  # 9 statistics, many chunks
    # A window ends the read early: chunks after t_stop are never requested.
    store.chunks_read = 0
    mean_firing_rate(store, "hidden", t_stop=500.0, chunk_size=100)
    assert store.chunks_read <= 500.0 / 5000.0 * times.size / 100 + 2


def test_lazy_store_file_equals_in_memory(tmp_path):
    import dendrinet.store as store_module
    times, ids = poisson_spikes(seed=4, n_nodes=20, duration_ms=3000.0)
    starts = np.arange(60) * 50.0
    with store_module.SpikeStore(tmp_path / "spikes.h5", "w") as store:
        store.add_population("hidden", 20)
        for batch in np.array_split(np.arange(times.size), 7):
            store.append_spikes("hidden", times[batch], ids[batch])
        store.append_presentations(np.repeat(np.arange(30), 2), np.repeat(np.arange(30) % 10, 2),
                                   ["forward", "target"] * 30, starts, starts + 50.0)
        store.set_t_stop(3000.0)
    with store_module.SpikeStore(tmp_path / "spikes.h5") as store:
        in_memory = store.spikes("hidden")
        assert in_memory[0].size == times.size > 10 * 97  # more than 10 chunks
        assert_lazy_equals_memory(store, "hidden", in_memory, window(20, 3000.0), 97, 37.0)
        lazy = rates_by_presentation(store, "hidden", phase="target", chunk_size=97)
        target = {k: v[1::2] for k, v in store.presentations.items()}
        np.testing.assert_array_equal(
            lazy.magnitude,
            rates_by_presentation(in_memory, presentations=target, n_nodes=20).magnitude)
        assert lazy.shape == (30, 20)
        # Every spike falls in exactly one presentation window (they tile [0, 3000) ms).
        both = rates_by_presentation(store, "hidden", chunk_size=97).magnitude
        assert (both * 0.05).sum() == pytest.approx(times.size, abs=1e-9)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("call, message", [
    (lambda: mean_firing_rate((np.array([1.0, np.nan]), np.array([0, 1])), **window(2)), "NaN"),
    (lambda: mean_firing_rate((np.array([1.0]), np.array([0])), t_start=5.0, t_stop=5.0,
                              n_nodes=1), "t_stop"),
    (lambda: mean_firing_rate((np.array([1.0]), np.array([0])), t_start=0.0, t_stop=np.nan,
                              n_nodes=1), "t_stop"),
    (lambda: mean_firing_rate((np.array([1.0]), np.array([0]))), "n_nodes"),
    (lambda: mean_firing_rate((np.array([1.0]), np.array([3])), **window(2)), "node ids"),
    (lambda: mean_firing_rate((np.array([1.0]), np.array([0, 1])), **window(2)), "equal length"),
    (lambda: mean_firing_rate([]), "empty selection"),
    (lambda: mean_firing_rate((np.array([]), np.array([], int)), **window(0)), "empty selection"),
    (lambda: mean_firing_rate(ChunkedStore(*regular_spikes(), 10, 1000.0), "output"),
     "unknown population"),
    (lambda: mean_firing_rate(ChunkedStore(*regular_spikes(), 10, 1000.0)), "population name"),
    (lambda: psth(regular_spikes(), bin_ms=0.0, **window(10, 1000.0)), "bin_ms"),
    (lambda: psth(regular_spikes(), bin_ms=5 * pq.mV, **window(10, 1000.0)), "bin_ms"),
    (lambda: rates_by_presentation(
        regular_spikes(), n_nodes=10, phase="target",
        presentations={"t_start": [0.0], "t_stop": [10.0], "phase": ["forward"]}),
     "no presentation has phase 'target'"),
    (lambda: mean_firing_rate("spikes.h5"), "spikes must be"),
    (lambda: mean_firing_rate([neo.SpikeTrain([1] * pq.s, t_stop=2 * pq.s),
                               neo.SpikeTrain([1] * pq.s, t_stop=3 * pq.s)]), "different t_start"),
])
def test_bad_input_raises_one_clear_error(call, message):
    with pytest.raises(DendrinetError, match=message):
        call()
