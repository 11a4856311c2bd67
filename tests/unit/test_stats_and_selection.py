import pytest

from edgeq.bench.stats import compare, latency_stats
from edgeq.selection import Candidate, choose


def test_latency_stats_report_percentiles_and_spread():
    stats = latency_stats([1.0, 2.0, 3.0, 4.0, 5.0])
    assert (stats.p50, stats.mean, stats.runs) == (3.0, 3.0, 5)
    assert stats.p90 == pytest.approx(4.6)
    assert stats.cv == pytest.approx(stats.std / 3.0)


def test_a_spread_over_ten_percent_is_noisy():
    assert latency_stats([1.0, 1.5, 0.7, 1.4, 0.6]).noisy
    assert not latency_stats([1.0, 1.01, 0.99, 1.0]).noisy


def test_compare_says_faster_slower_or_not_significant():
    fast, slow = latency_stats([1.0, 1.0, 1.01]), latency_stats([2.0, 2.0, 2.02])
    assert compare(fast, slow)[0] == "faster"
    assert compare(slow, fast)[0] == "slower"
    assert compare(latency_stats([1.0, 1.02]), latency_stats([1.01, 1.0]))[0] == "not significant"


def _candidate(variant, p50, size, accuracy=None, cosine=None):
    return Candidate(variant, latency_stats([p50] * 5), size, accuracy, cosine)


def test_choose_takes_the_faster_variant_within_budget():
    variant, reason = choose([_candidate("fp32", 2.0, 400, 99.0), _candidate("int8", 1.0, 100, 98.5)], max_drop=1.0)
    assert variant == "int8" and "2.00x faster" in reason


def test_choose_rejects_a_variant_over_budget():
    variant, reason = choose([_candidate("fp32", 2.0, 400, 99.0), _candidate("int8", 1.0, 100, 97.0)], max_drop=1.0)
    assert variant == "fp32" and "int8 rejected" in reason


def test_choose_keeps_fp32_when_int8_is_slower():
    variant, reason = choose([_candidate("fp32", 1.0, 400, 99.0), _candidate("int8", 1.2, 100, 99.0)])
    assert variant == "fp32" and "slower" in reason


def test_choose_prefers_the_smaller_artifact_when_speed_is_a_tie():
    variant, _ = choose([_candidate("fp32", 1.0, 400, cosine=None), _candidate("int8", 1.01, 100, cosine=0.999)])
    assert variant == "int8"
