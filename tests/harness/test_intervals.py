"""The bootstrap over seeds and items: exact on known cases, the normal interval on one seed, 95% coverage."""

import numpy as np
import pytest

from primbench.harness.analysis.intervals import bootstrap_interval


def test_a_difference_known_exactly_has_a_point_interval():
    right, wrong = np.ones((3, 40)), np.zeros((3, 40))
    assert bootstrap_interval(right, wrong).to_dict() == {"mean": 1.0, "low": 1.0, "high": 1.0}
    assert bootstrap_interval(wrong, right).excludes(0.0) == -1
    same = np.random.default_rng(0).random((2, 30)) < 0.5
    assert bootstrap_interval(same, same).to_dict() == {"mean": 0.0, "low": 0.0, "high": 0.0}


def test_one_seed_agrees_with_the_normal_paired_interval():
    rng = np.random.default_rng(1)
    model, baseline = rng.random((1, 400)) < 0.6, rng.random((1, 400)) < 0.4
    interval = bootstrap_interval(model, baseline)
    differences = model[0].astype(float) - baseline[0]
    half = 1.96 * differences.std(ddof=1) / np.sqrt(differences.size)
    assert interval.mean == pytest.approx(differences.mean())
    assert interval.low == pytest.approx(differences.mean() - half, abs=0.01)
    assert interval.high == pytest.approx(differences.mean() + half, abs=0.01)


def test_pairing_removes_what_both_models_share():
    """Items that are easy for both models move both scores alike; paired, the interval is much narrower."""
    rng = np.random.default_rng(2)
    easy = rng.random((1, 200)) < 0.5
    better = easy | (rng.random((1, 200)) < 0.1)
    paired = bootstrap_interval(better, easy)
    alone = bootstrap_interval(better)
    assert paired.low > 0 and (paired.high - paired.low) < (alone.high - alone.low) / 2


def test_intervals_cover_a_known_accuracy_about_95_percent_of_the_time():
    """Simulated reproductions: 3 seeds whose true accuracies scatter around 0.5, 200 items each."""
    rng = np.random.default_rng(3)
    truth, covered, trials = 0.5, 0, 100
    for _ in range(trials):
        per_seed = np.clip(truth + rng.normal(0, 0.02, size=(3, 1)), 0, 1)
        scores = rng.random((3, 200)) < per_seed
        covered += bootstrap_interval(scores, resamples=500).excludes(truth) == 0
    assert 0.85 <= covered / trials <= 0.99


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="equal shapes"):
        bootstrap_interval(np.ones((2, 5)), np.ones((3, 5)))
    with pytest.raises(ValueError, match="non-empty"):
        bootstrap_interval(np.ones((0, 5)))
