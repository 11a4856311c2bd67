"""Who is at fault when a lab job ends badly: the one mapping from edgeq's error tree to a job's outcome."""

import errno

import pytest

from edgeq.errors import (BenchError, CommandTimeout, ConfigError, ConnectError, DeviceEnvironmentError, ExportError,
                          GateFailure, InternalError, ModelError)
from edgeq.lab.outcomes import outcome_of


def raised(exc: BaseException) -> BaseException:
    """``exc`` as it reaches the lab: raised, with a traceback."""
    try:
        raise exc
    except BaseException as caught:  # noqa: BLE001 - the test hands it on
        return caught


def test_an_internal_error_is_a_bug_in_edgeq_with_its_traceback():
    outcome = outcome_of(raised(InternalError("the plan lost a job")))
    assert outcome.state == "error"
    assert outcome.reason == "this is a bug in edgeq, please report it: InternalError: the plan lost a job"
    assert "Traceback" in outcome.traceback and "raised" in outcome.traceback


@pytest.mark.parametrize("exc", [KeyError("variant"), TypeError("unsupported operand"), GateFailure("a regression")],
                         ids=lambda exc: type(exc).__name__)
def test_an_exception_edgeq_does_not_classify_is_a_bug_in_edgeq(exc):
    outcome = outcome_of(raised(exc))
    assert outcome.state == "error" and outcome.reason.startswith("this is a bug in edgeq")
    assert type(exc).__name__ in outcome.traceback


@pytest.mark.parametrize("exc", [
    DeviceEnvironmentError("the runner failed on the device: OSError: [Errno 28] No space left on device"),
    OSError(errno.ENOSPC, "No space left on device"),
    PermissionError(errno.EACCES, "Permission denied"),
    FileNotFoundError(errno.ENOENT, "No such file or directory", "out.pt.tmp"),
    ConnectError("connection reset by peer"),
], ids=lambda exc: type(exc).__name__)
def test_a_failure_of_the_device_or_its_environment_is_infra(exc):
    outcome = outcome_of(raised(exc))
    assert outcome.state == "infra" and outcome.traceback is None


@pytest.mark.parametrize("exc, state", [
    (BenchError("the runner failed on the device: RuntimeError: bad kernel"), "failed"),
    (ModelError("cannot trace the model"), "failed"),
    (CommandTimeout("python did not finish within 600 s"), "timeout"),
    (ConfigError("the device's torch is too old"), "infra"),
], ids=["runner", "model", "timeout", "probe"])
def test_the_model_a_hang_and_a_device_that_cannot_run_the_job_keep_their_outcomes(exc, state):
    assert outcome_of(raised(exc)).state == state


def test_while_building_the_models_errors_fail_the_job_and_a_bug_is_still_a_bug():
    assert outcome_of(raised(ExportError("no XNNPACK kernel")), building=True).state == "failed"
    assert outcome_of(raised(ConfigError("no such scheme for this profile")), building=True).state == "failed"
    assert outcome_of(raised(InternalError("cache key collided")), building=True).state == "error"
    assert outcome_of(raised(OSError(errno.ENOSPC, "No space left on device")), building=True).state == "infra"
