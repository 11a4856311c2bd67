import pytest

from edgeq.bench.stats import latency_stats
from edgeq.metrics import METRICS
from edgeq.selection import Budget, Candidate, choose
from edgeq.units import ratio


def test_latency_stats_report_percentiles_and_spread():
    stats = latency_stats([1.0, 2.0, 3.0, 4.0, 5.0])
    assert (stats.p50, stats.mean, stats.runs) == (3.0, 3.0, 5)
    assert stats.p90 == pytest.approx(4.6)
    assert stats.cv == pytest.approx(stats.std / 3.0)


def test_a_spread_over_ten_percent_is_noisy():
    assert latency_stats([1.0, 1.5, 0.7, 1.4, 0.6]).noisy
    assert not latency_stats([1.0, 1.01, 0.99, 1.0]).noisy


def test_latency_stats_keep_their_samples_but_the_run_result_does_not():
    stats = latency_stats([3.0, 1.0, 2.0])
    assert stats.samples_ms == (3.0, 1.0, 2.0)  # in the order measured
    assert set(stats.to_dict()) == {"p50", "p90", "p99", "mean", "std", "cv", "runs", "noisy"}


ACCURACY = Budget(METRICS["accuracy"], max_drop=1.0, reference=99.0, enforced=False)


def _candidate(variant, p50, size, quality=None, budget=ACCURACY, spread=0.0):
    within, why = (True, "the float reference") if variant == "fp32" else budget.judge(quality)
    return Candidate(variant, latency_stats([p50 - spread, p50, p50 + spread, p50, p50]), size, within, why)


def test_budget_judges_the_drop_in_the_metrics_unit():
    assert ACCURACY.judge(98.5) == (True, "accuracy 98.50 vs fp32 99.00 (drop 0.50 points, budget 1)")
    assert not ACCURACY.judge(97.9)[0]
    cosine = Budget(METRICS["cosine"], max_drop=0.01, reference=1.0, enforced=True)
    assert cosine.judge(0.995)[0] and not cosine.judge(0.985)[0]
    assert ACCURACY.judge(None) == (False, "no accuracy measured")


def test_choose_takes_the_faster_variant_within_budget():
    variant, reason = choose([_candidate("fp32", 2.0, 400, 99.0), _candidate("int8", 1.0, 100, 98.5)])
    assert variant == "int8" and "2.00x faster" in reason


def test_choose_rejects_a_variant_over_budget():
    variant, reason = choose([_candidate("fp32", 2.0, 400, 99.0), _candidate("int8", 1.0, 100, 97.0)])
    assert variant == "fp32" and "int8 rejected" in reason


def test_choose_keeps_fp32_when_int8_is_slower():
    variant, reason = choose([_candidate("fp32", 1.0, 400, 99.0), _candidate("int8", 1.2, 100, 99.0)])
    assert variant == "fp32" and "slower" in reason


def test_choose_prefers_the_smaller_artifact_when_speed_is_a_near_tie():
    variant, _ = choose([_candidate("fp32", 1.0, 400), _candidate("int8", 1.01, 100, 99.0)])
    assert variant == "int8"


def test_choose_takes_the_fastest_of_several_within_budget():
    variant, _ = choose([_candidate("fp32", 3.0, 400), _candidate("int8-static", 1.0, 100, 90.0),
                         _candidate("int8-static-mixed1", 1.6, 130, 99.0), _candidate("int8-qat", 1.1, 100, 98.8)])
    assert variant == "int8-qat"


def test_a_smaller_candidate_more_than_five_percent_slower_does_not_win():
    variant, _ = choose([_candidate("fp32", 3.0, 400), _candidate("int8-a", 1.0, 150, 99.0, spread=0.3),
                         _candidate("int8-b", 1.08, 100, 99.0, spread=0.3)])
    assert variant == "int8-a"


def test_a_miss_smaller_than_the_shown_digits_still_reads_as_a_miss():
    budget = Budget(METRICS["cosine"], max_drop=0.0, reference=1.0, enforced=True)
    within, why = budget.judge(1.0 - 3e-7)
    assert not within and "drop 3e-07" in why


def test_a_thousandfold_slowdown_does_not_read_as_a_zero_ratio():
    variant, reason = choose([_candidate("fp32 .pte", 0.02, 400), _candidate("int8-dynamic .ptl", 26.0, 100, 99.0)])
    assert variant == "fp32 .pte"
    assert "int8-dynamic .ptl is within budget but slower (0.00077x), so fp32 .pte stays" in reason


def test_ratios_keep_two_decimals_and_more_digits_below_a_tenth():
    assert [ratio(value) for value in (2.744, 0.29, 0.0923, 0.000769, 1300.4, 0)] == \
        ["2.74x", "0.29x", "0.092x", "0.00077x", "1300x", "0.00x"]
    assert ratio(0.0042, suffix="") == "0.0042"  # the size column of the run table


def test_choose_names_the_chosen_artifact_and_the_baseline_by_their_labels():
    label, reason = choose([_candidate("fp32 .pte", 2.0, 400), _candidate("int8-dynamic .pte", 1.9, 100, 97.0),
                            _candidate("int8-dynamic .ptl", 1.0, 120, 99.0)])
    assert label == "int8-dynamic .ptl" and reason.startswith("2.00x faster than fp32 .pte at 0.30x the size")


def test_a_budget_that_numerics_cannot_judge_says_so_instead_of_a_drop():
    blind = Budget(METRICS["top1_agreement"], max_drop=1.0, reference=100.0, enforced=False, samples=1,
                   cannot_judge="its outputs on the 1 check sample are all within 1e-40 of 0")
    within, why = blind.judge(0.0)
    assert not within
    assert why == "numerics cannot judge this model on these inputs: its outputs on the 1 check sample are all within 1e-40 of 0"
