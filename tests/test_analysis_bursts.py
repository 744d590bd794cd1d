"""Events and bursts: hand-counted trains, a burst generator's own truth, the Poisson
formulas, chunked == in-memory == Neo, and bad intervals refused."""
import math

import numpy as np
import pytest
import quantities as pq

from dendrinet.analysis import (burst_probability, burst_rate, event_rate, plot_bursts,
                                spike_kinds)
from dendrinet.analysis.bursts import BURST_START, IN_BURST, SINGLE
from dendrinet.errors import DendrinetError
from test_analysis_statistics import ChunkedStore, poisson_spikes, to_neo, window


def test_a_hand_counted_train():
    # groups: {0, 5, 10} burst, {50} single, {100, 110} burst, {126} single (16 ms after
    # 110: not closer than 16 ms), {200, 215.9} burst (cut by nothing)
    times = np.array([0, 5, 10, 50, 100, 110, 126, 200, 215.9])
    ids = np.zeros(times.size, np.int64)
    kw = dict(t_start=0.0, t_stop=1000.0, n_nodes=2)  # neuron 1 never fires
    assert event_rate((times, ids), **kw)[0] == 5 * pq.Hz
    assert burst_rate((times, ids), **kw)[0] == 3 * pq.Hz
    p = burst_probability((times, ids), **kw)
    assert p[0] == 0.6 and np.isnan(p[1]) and p.units == pq.dimensionless
    # a longer burst interval joins 110 and 126 and 50 to nothing new: 4 events, 3 bursts
    assert event_rate((times, ids), burst_isi=20 * pq.ms, **kw)[0] == 4 * pq.Hz
    assert burst_rate((times, ids), burst_isi=20.0, **kw)[0] == 3 * pq.Hz
    # the window cuts the last burst after its event: an event without a burst
    cut = dict(kw, t_stop=210.0)
    assert event_rate((times, ids), **cut)[0] == pytest.approx(5 / 0.21)
    assert burst_rate((times, ids), **cut)[0] == pytest.approx(2 / 0.21)


def burst_train(rng, n_events, p_burst, min_gap_ms=40.0, rate_hz=5.0):
    """Events of a renewal process (exponential intervals plus ``min_gap_ms``); each
    becomes a burst with probability ``p_burst``: a second spike 5 + 10 U ms after it
    (Payeur et al.'s simplified burst neuron). Returns times, which events burst."""
    gaps = min_gap_ms + rng.exponential(1000.0 / rate_hz, n_events)
    events = np.cumsum(gaps)
    burst = rng.random(n_events) < p_burst
    seconds = events[burst] + 5.0 + 10.0 * rng.random(burst.sum())
    return np.sort(np.concatenate([events, seconds])), events, burst


def test_a_burst_generator_is_read_back_exactly():
    rng = np.random.default_rng(3)
    trains, truth_p, truth_events = [], [], []
    for p in (0.0, 0.2, 0.5, 0.9, 1.0):
        times, events, burst = burst_train(rng, 400, p)
        trains.append(times)
        truth_p.append(burst.mean())
        truth_events.append(events.size)
    t_stop = max(t[-1] for t in trains) + 100.0
    ids = np.concatenate([np.full(t.size, i) for i, t in enumerate(trains)])
    times = np.concatenate(trains)
    order = np.argsort(times, kind="stable")
    pair = (times[order], ids[order])
    kw = dict(t_start=0.0, t_stop=t_stop, n_nodes=len(trains))
    np.testing.assert_array_equal(burst_probability(pair, **kw).magnitude, truth_p)
    np.testing.assert_allclose(event_rate(pair, **kw).magnitude,
                               np.array(truth_events) / (t_stop / 1000.0), rtol=1e-12)
    assert truth_p[0] == 0.0 and truth_p[-1] == 1.0
    # the firing rate is events + the bursts' second spikes
    rate = np.bincount(ids, minlength=5) / (t_stop / 1000.0)
    np.testing.assert_allclose(event_rate(pair, **kw).magnitude + burst_rate(pair, **kw).magnitude,
                               rate, rtol=1e-12)


def test_poisson_trains_follow_the_formulas_within_statistical_bounds():
    """Poisson of rate r: events at r exp(-r T), burst probability 1 - exp(-r T)."""
    times, ids = poisson_spikes(seed=5, n_nodes=50, duration_ms=40_000.0, rate_hz=20.0)
    kw = window(50, 40_000.0)
    r, T = 20.0, 0.016
    events = event_rate((times, ids), **kw).magnitude * 40.0    # counts per neuron
    bursts = burst_rate((times, ids), **kw).magnitude * 40.0
    p_hat = bursts.sum() / events.sum()
    p = 1 - math.exp(-r * T)
    assert abs(p_hat - p) < 5 * math.sqrt(p * (1 - p) / events.sum()), (p_hat, p)
    expected_events = r * math.exp(-r * T) * 40.0 * 50
    assert abs(events.sum() - expected_events) < 5 * math.sqrt(expected_events)


def test_streamed_chunks_and_neo_trains_give_the_in_memory_numbers():
    times, ids = poisson_spikes(seed=2, n_nodes=20, duration_ms=5_000.0, rate_hz=40.0)
    kw = window(20, 5_000.0)
    store = ChunkedStore(times, ids, 20, 5_000.0)
    trains = to_neo(times, ids, 20, 5_000.0)
    for f in (event_rate, burst_rate, burst_probability):
        in_memory = f((times, ids), **kw)
        np.testing.assert_array_equal(f(store, "hidden", chunk_size=7), in_memory)
        assert f(trains).units == in_memory.units
        np.testing.assert_allclose(f(trains).magnitude, in_memory.magnitude, rtol=1e-12)
    assert store.chunks_read > 100


@pytest.mark.parametrize("bad, message", [
    (0.0, r"burst_isi must be a positive time, got 0\.0 ms"),
    (-3 * pq.ms, r"burst_isi must be a positive time"),
    (float("nan"), r"burst_isi"),
    (3 * pq.mV, r"burst_isi"),
])
def test_a_bad_burst_interval_is_one_clear_error(bad, message):
    times, ids = np.array([1.0, 2.0]), np.array([0, 0])
    with pytest.raises(DendrinetError, match=message) as info:
        burst_probability((times, ids), burst_isi=bad, t_start=0, t_stop=10, n_nodes=1)
    assert "\n" not in str(info.value)


def test_spike_kinds_name_each_spike_and_agree_with_the_counts():
    times = np.array([215.9, 0, 5, 10, 50, 100, 110, 126, 200, 3.0])  # any order
    ids = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    kinds = spike_kinds(times, ids)
    expected = {0: BURST_START, 5: IN_BURST, 10: IN_BURST, 50: SINGLE, 100: BURST_START,
                110: IN_BURST, 126: SINGLE, 200: BURST_START, 215.9: IN_BURST}
    assert [int(k) for k in kinds[:-1]] == [expected[t] for t in times[:-1]]
    assert kinds[-1] == SINGLE  # neuron 1's only spike
    order = np.argsort(times)
    kw = dict(t_start=0.0, t_stop=1000.0, n_nodes=2)
    events = event_rate((times[order], ids[order]), **kw).magnitude
    bursts = burst_rate((times[order], ids[order]), **kw).magnitude
    np.testing.assert_array_equal(events, [np.sum((kinds != IN_BURST) & (ids == n))
                                           for n in (0, 1)])
    np.testing.assert_array_equal(bursts, [np.sum((kinds == BURST_START) & (ids == n))
                                           for n in (0, 1)])
    assert spike_kinds(np.array([0.0, 5.0]) * pq.s, np.array([0, 0]))[1] == SINGLE  # 5 s apart
    with pytest.raises(DendrinetError, match="equal length"):
        spike_kinds(np.zeros(3), np.zeros(2, int))


def test_plot_bursts_draws_each_kind_where_its_spikes_are():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(4)
    times, _, burst = burst_train(rng, 60, 0.5)
    ids = np.zeros(times.size, np.int64)
    ax = plot_bursts(times, ids, presentations={"t_start": np.array([0.0]),
                                                "t_stop": np.array([times[-1] + 1]),
                                                "phase": np.array(["forward"])})
    kinds = spike_kinds(times, ids)
    drawn = {c.get_gid(): c.get_offsets() for c in ax.collections if c.get_gid()}
    for gid, kind in (("single", SINGLE), ("burst-start", BURST_START), ("in-burst", IN_BURST)):
        np.testing.assert_array_equal(np.asarray(drawn[gid])[:, 0], times[kinds == kind])
    assert (kinds == BURST_START).sum() == burst.sum()
    texts = [t.get_text() for legend in ax.findobj(matplotlib.legend.Legend)
             for t in [legend.get_title(), *legend.get_texts()]]
    assert f"burst probability {burst.mean():.2f}" in texts
    assert f"burst: event ({burst.sum()})" in texts and "forward" in texts  # one legend
    plt.close(ax.figure)
