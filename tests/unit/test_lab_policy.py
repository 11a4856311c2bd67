"""What follows an attempt: one decision for the in-process lab, the workers and the reaper."""

import pytest

from edgeq.errors import ConfigError
from edgeq.lab.policy import Budgets, after_attempt

BUDGETS = Budgets(infra_retries=2, invalid_requeues=1, quarantine_after=3)


def decide(outcome, *, infra=0, invalid=0, in_a_row=0, budgets=BUDGETS):
    return after_attempt(outcome, "why", infra_attempts=infra, invalid_attempts=invalid, infra_in_a_row=in_a_row,
                         budgets=budgets)


def test_a_done_attempt_ends_the_job_and_the_devices_run_of_infra_failures():
    decision = decide("done", in_a_row=2)
    assert (decision.job_state, decision.device_health, decision.infra_in_a_row) == ("done", None, 0)


def test_an_infra_failure_moves_the_job_to_a_sibling_and_checks_the_device_before_its_next_job():
    decision = decide("infra", infra=1)
    assert (decision.job_state, decision.moved, decision.device_health, decision.infra_in_a_row) == (
        "queued", True, "unknown", 1)


def test_an_infra_failure_past_the_retry_budget_ends_the_job_infra():
    assert decide("infra", infra=3).job_state == "infra" and not decide("infra", infra=3).moved


def test_the_third_infra_failure_in_a_row_quarantines_the_device_and_says_why():
    decision = decide("infra", infra=1, in_a_row=2)
    assert decision.device_health == "quarantined" and decision.health_reason == (
        "3 infrastructure failures in a row; the last: why")


def test_an_invalid_measurement_is_taken_again_on_its_own_device_once_then_kept_invalid():
    again = decide("invalid", invalid=1)
    assert (again.job_state, again.moved, again.device_health) == ("queued", False, None)
    assert decide("invalid", invalid=2).job_state == "invalid"


@pytest.mark.parametrize("outcome", ["failed", "timeout"])
def test_a_job_the_device_ran_to_a_failure_is_not_retried_and_not_the_devices_fault(outcome):
    decision = decide(outcome, in_a_row=2)
    assert (decision.job_state, decision.moved, decision.device_health, decision.infra_in_a_row) == (
        outcome, False, None, 0)


@pytest.mark.parametrize("outcome", ["error", "skipped"])
def test_a_bug_in_edgeq_or_a_skipped_job_is_never_retried_and_counts_for_nothing_on_the_device(outcome):
    decision = decide(outcome, in_a_row=2)
    assert (decision.job_state, decision.device_health, decision.infra_in_a_row) == (outcome, None, 2)


def test_budgets_refuse_what_cannot_be_meant():
    with pytest.raises(ConfigError, match="quarantine_after must be ≥ 1"):
        Budgets(quarantine_after=0)
    with pytest.raises(ConfigError, match="infra_retries must be ≥ 0"):
        Budgets(infra_retries=-1)
