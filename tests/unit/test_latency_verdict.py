"""The latency verdict on synthetic samples of known shape: faster, slower, no significant change or inconclusive."""

import numpy as np
import pytest

from edgeq.bench.verdict import MIN_SAMPLES, compare_samples


def _latencies(median_ms: float, spread: float, runs: int, seed: int) -> np.ndarray:
    """Right-skewed like real latencies: lognormal around ``median_ms``; ``spread`` is close to the CV when small."""
    return median_ms * np.exp(np.random.default_rng(seed).normal(0.0, spread, runs))


def test_a_twenty_percent_slowdown_is_slower():
    result = compare_samples(_latencies(12.0, 0.08, 50, seed=1), _latencies(10.0, 0.08, 50, seed=2))
    assert result.verdict == "slower"
    assert result.ratio > 1 and result.speedup == pytest.approx(1 / result.ratio)
    assert result.reason.startswith("median ") and "% slower (95 % CI " in result.reason and "p = " in result.reason


def test_a_faster_candidate_is_faster():
    result = compare_samples(_latencies(8.0, 0.08, 50, seed=1), _latencies(10.0, 0.08, 50, seed=2))
    assert result.verdict == "faster" and result.speedup > 1


def test_the_same_distribution_twice_is_no_significant_change():
    pairs = [(_latencies(10.0, 0.05, 50, seed=2 * s), _latencies(10.0, 0.05, 50, seed=2 * s + 1)) for s in range(20)]
    verdicts = [compare_samples(candidate, baseline).verdict for candidate, baseline in pairs]
    assert sum(verdict != "no significant change" for verdict in verdicts) <= 2


def test_a_small_difference_in_very_noisy_samples_is_inconclusive():
    result = compare_samples(_latencies(10.3, 1.0, 50, seed=1), _latencies(10.0, 1.0, 50, seed=2))
    assert result.verdict == "inconclusive"
    assert "reaches beyond ±5 %" in result.reason


@pytest.mark.parametrize("runs", [(MIN_SAMPLES - 1, 50), (50, MIN_SAMPLES - 1), (0, 50)])
def test_too_few_samples_on_either_side_are_inconclusive(runs):
    result = compare_samples(_latencies(20.0, 0.01, runs[0], seed=1), _latencies(10.0, 0.01, runs[1], seed=2))
    assert result.verdict == "inconclusive" and result.reason.startswith("too few samples")
    assert (result.n_candidate, result.n_baseline) == runs


def test_a_real_but_tiny_difference_is_no_significant_change():
    result = compare_samples(_latencies(10.2, 0.03, 500, seed=1), _latencies(10.0, 0.03, 500, seed=2))
    assert result.p_value < 0.05  # the test sees it ...
    assert result.verdict == "no significant change"  # ... but it is smaller than the 5 % that matters


def test_the_confidence_interval_brackets_the_true_ratio():
    pairs = [(_latencies(11.5, 0.08, 50, seed=2 * s), _latencies(10.0, 0.08, 50, seed=2 * s + 1)) for s in range(20)]
    results = [compare_samples(candidate, baseline) for candidate, baseline in pairs]
    bracketed = [result.ratio_low <= 1.15 <= result.ratio_high for result in results]
    assert sum(bracketed) >= 17  # a 95 % interval misses about one time in twenty


def test_the_verdict_is_deterministic_for_a_seed():
    candidate, baseline = _latencies(10.4, 0.1, 60, seed=1), _latencies(10.0, 0.1, 60, seed=2)
    assert compare_samples(candidate, baseline, seed=7) == compare_samples(list(candidate), list(baseline), seed=7)


def test_identical_constant_samples_are_no_significant_change():
    result = compare_samples([2.0] * 10, [2.0] * 10)
    assert (result.verdict, result.ratio, result.p_value) == ("no significant change", 1.0, 1.0)


def test_to_dict_is_json_ready_even_without_samples():
    data = compare_samples([], [1.0] * 10).to_dict()
    assert data["verdict"] == "inconclusive" and data["ratio"] is None and data["n_baseline"] == 10
    assert set(data) == {"verdict", "ratio", "ratio_low", "ratio_high", "p_value", "n_candidate", "n_baseline",
                         "reason", "speedup"}


@pytest.mark.parametrize("samples", [[1.0, -1.0] * 5, [1.0, float("nan")] * 5, [[1.0, 2.0]] * 5])
def test_samples_that_are_not_latencies_are_refused(samples):
    with pytest.raises(ValueError, match="positive, finite"):
        compare_samples(samples, [1.0] * 10)
