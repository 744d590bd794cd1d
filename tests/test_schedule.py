"""Presentation schedules: phase lengths and per-step arrays."""
import numpy as np

from dendrinet.config import load_protocol
from dendrinet.config.schedule import FORWARD, TARGET, TEST, phase_steps, training_schedule
from dendrinet.config.schedule import test_schedule as make_test_schedule


def test_phase_lengths_follow_the_shifted_wald_distribution():
    protocol = load_protocol("paper-timing")
    n = 20000
    lengths = phase_steps(protocol, np.random.default_rng(1), n)
    assert lengths.min() >= 50
    # E[int(W)] for W ~ Wald(2, 1) computed numerically from an independent large sample
    ref = np.floor(np.random.default_rng(2).wald(2.0, 1.0, 400000)).mean()
    sd = (lengths - 50).std()
    assert abs((lengths - 50).mean() - ref) < 4 * sd / np.sqrt(n)


def test_training_schedule_alternates_phases_and_windows():
    protocol = load_protocol("paper-timing")
    sched = training_schedule(protocol, [4, 7], [1, 3], np.random.default_rng(0))
    assert list(sched.phase) == [FORWARD, TARGET, FORWARD, TARGET]
    assert list(sched.example_id) == [4, 4, 7, 7] and list(sched.label) == [1, 1, 3, 3]
    assert np.array_equal(sched.start[1:], np.cumsum(sched.n_steps)[:-1])
    steps = sched.per_step()
    assert len(steps["phase"]) == sched.total_steps == sched.n_steps.sum()
    # window = every step after the 30 ms settle time, per presentation
    for k in range(len(sched)):
        w = steps["window"][sched.start[k]: sched.start[k] + sched.n_steps[k]]
        assert w[:30].sum() == 0 and w[30:].all()
    np.testing.assert_allclose(sched.t_stop - sched.t_start, sched.n_steps * 1.0)
    assert not sched.reset.any()


def test_test_schedule_resets_and_uses_test_duration():
    protocol = load_protocol("paper-timing")
    sched = make_test_schedule(protocol, [0, 1, 2])
    assert list(sched.n_steps) == [250] * 3 and list(sched.phase) == [TEST] * 3
    assert sched.reset.all() and list(sched.label) == [-1] * 3
    assert sched.per_step()["window"].sum() == 3 * 220
