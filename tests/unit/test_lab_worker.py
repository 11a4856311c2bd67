"""The shared queue and its workers on a real SQLite store, devices answering from Python (``FakeDevice``).

The same code runs across hosts on PostgreSQL (``tests/integration/test_lab_workers.py``); here each
behaviour of the queue — claims, leases that lapse, the reaper's budget, stale results refused — is
set up exactly, in one process.
"""

import threading

import pytest

from edgeq.errors import ConfigError
from edgeq.lab.plan import LabRequest
from edgeq.lab.records import Measurement
from edgeq.lab.scheduler import run_lab
from edgeq.lab.store import LeaseLost, open_store
from edgeq.lab.submission import submit, wait_for
from edgeq.lab.worker import WorkerOptions, run_worker
from edgeq.transport import FakeTransport
from edgeq.transport.fake_device import FakeDevice
from tests.unit.test_lab_scheduler import MODELS, BugOnFirstJob, states, write_inventory


def _store(tmp_path):
    return open_store(None, default_path=tmp_path / "lab.db")


def _submit(inventory, store, **request):
    request.setdefault("models", MODELS[:1])
    request.setdefault("schemes", ("none", "dynamic"))
    return submit(inventory, LabRequest(runs=5, warmup=1, **request), store)


def _serve(inventory, store, fakes, **kwargs):
    options = WorkerOptions(lease_ttl_s=kwargs.pop("lease_ttl_s", 30.0), poll_s=0.1, idle_exit_s=kwargs.pop("idle", 1.0),
                            name=kwargs.pop("name", None))
    return run_worker(inventory, store, options=options,
                      transport_factory=lambda entry, profile: FakeTransport(fakes[entry.name]), **kwargs)


def test_a_submitted_run_waits_in_the_queue_until_a_worker_runs_it(tmp_path):
    inventory = write_inventory(tmp_path, {"a": "host", "b": "host"})
    store = _store(tmp_path)
    run_id = _submit(inventory, store)
    queued = store.run(run_id)
    assert queued.queued and queued.status == "running" and set(states(queued).values()) == {"queued"}
    assert store.queue().pending == {"host": 4}

    worker = _serve(inventory, store, {"a": FakeDevice(), "b": FakeDevice()}, name="host-1")
    run = wait_for(store, run_id, timeout_s=5)
    assert run.status == "finished" and set(states(run).values()) == {"done"}
    assert all(job.device == job.planned_device for job in run.jobs)  # each device took its own jobs
    assert store.queue().pending == {} and worker.refused == 0
    (record,) = store.workers()
    assert record.name == "host-1" and record.state(lost_after_s=60) == "stopped" and record.devices == ("a", "b")
    assert store.leases() == []  # a worker that stops gives its devices back


def test_a_job_planned_on_a_device_no_worker_serves_moves_to_a_sibling_after_the_grace(tmp_path):
    inventory = write_inventory(tmp_path, {"a": "host", "gone": "host"})
    store = _store(tmp_path)
    run_id = _submit(inventory, store, schemes=("none",))
    store.shift_clock(31)  # no worker served "gone" for a whole lease: the grace has passed
    _serve(inventory, store, {"a": FakeDevice()}, devices=("a",))
    run = store.run(run_id)
    assert set(states(run).values()) == {"done"}
    assert {job.planned_device: job.device for job in run.jobs} == {"a": "a", "gone": "a"}


def _claimed(store, run_id, device="a", worker="w1", ttl_s=30.0):
    token = store.acquire_lease(device, worker, ttl_s)
    claim = store.claim_job(worker, device, "host", token, grace_s=30.0)
    assert claim is not None and claim.job.run_id == run_id
    return token, claim


def _measurement(claim, device="a"):
    return Measurement(result_key="k", artifact_sha256=claim.job.artifact_sha256, device=device, samples_ms=(1.0, 2.0),
                       measured_at="2026-12-06T00:00:00+00:00", size_bytes=1)


def test_two_claims_never_take_the_same_job(tmp_path):
    inventory = write_inventory(tmp_path, {"a": "host", "b": "host"})
    store = _store(tmp_path)
    run_id = _submit(inventory, store, schemes=("none",))
    store.sync_devices([("a", "host", []), ("b", "host", [])])
    token, first = _claimed(store, run_id, "a", "w1")
    _, second = _claimed(store, run_id, "b", "w2")
    assert {first.job.planned_device, second.job.planned_device} == {"a", "b"}
    assert first.job.id != second.job.id and (first.attempt, second.attempt) == (1, 1)
    assert store.claim_job("w1", "a", "host", token, grace_s=30) is None  # both jobs are taken


def test_a_result_written_after_the_lease_lapsed_is_refused_and_the_job_goes_back_to_the_queue(tmp_path):
    inventory = write_inventory(tmp_path, {"a": "host", "b": "host"})
    store = _store(tmp_path)
    run_id = _submit(inventory, store, schemes=("none",), devices=("a",))
    token, claim = _claimed(store, run_id, "a", "paused")
    store.shift_clock(31)  # the worker is silent past its lease
    assert store.reap() == [claim.job.id]
    job = store.job(claim.job.id)
    assert job.state == "queued" and job.attempts[0].outcome == "infra" and "lost its worker" in job.attempts[0].reason

    new_token, again = _claimed(store, run_id, "b", "alive")
    assert again.job.id == claim.job.id and again.attempt == 2  # moved: any device of the profile
    with pytest.raises(LeaseLost, match="no longer held"):
        store.record_measurement(claim.job.id, claim.attempt, _measurement(claim), token)
    store.record_measurement(again.job.id, again.attempt, _measurement(again, "b"), new_token)
    assert store.job(claim.job.id).measurement.device == "b"


def test_a_job_that_keeps_losing_its_worker_ends_infra_with_the_history_of_its_attempts(tmp_path):
    inventory = write_inventory(tmp_path, {"a": "host"}, extra="[lab]\ninfra_retries = 1\n")
    store = _store(tmp_path)
    run_id = _submit(inventory, store, schemes=("none",))
    for attempt in (1, 2):
        _, claim = _claimed(store, run_id, "a", f"w{attempt}")
        store.shift_clock(31)  # the worker went silent: its lease lapsed
        store.reap()
    job = store.job(claim.job.id)
    assert job.state == "infra" and [a.outcome for a in job.attempts] == ["infra", "infra"]
    assert job.reason.startswith("lost its device 2 times: attempt 1 on a (w1)") and "attempt 2 on a (w2)" in job.reason
    assert store.finish_if_drained(run_id)


def test_a_bug_in_edgeq_ends_a_claimed_job_once_and_the_worker_keeps_serving_the_device(tmp_path):
    inventory = write_inventory(tmp_path, {"a": "host"})
    store = _store(tmp_path)
    run_id = _submit(inventory, store)
    store.set_health("a", "good")  # no health check: the first benchmark is the first job's
    worker = _serve(inventory, store, {"a": BugOnFirstJob()})
    run = store.run(run_id)
    assert sorted(states(run).values()) == ["done", "error"] and run.status == "finished"
    (job,) = [job for job in run.jobs if job.state == "error"]
    (attempt,) = job.attempts
    assert attempt.outcome == "error" and "InternalError" in attempt.traceback
    assert job.reason.startswith("this is a bug in edgeq")
    assert store.device("a").health == "good" and store.device("a").consecutive_infra == 0 and worker.refused == 0


def test_draining_finishes_the_running_job_and_takes_no_other(tmp_path):
    inventory = write_inventory(tmp_path, {"a": "host"})
    store = _store(tmp_path)
    run_id = _submit(inventory, store, models=MODELS, schemes=("none",))
    store.set_health("a", "good")  # no health check: the first benchmark is the first job's
    drain = threading.Event()

    class DrainsDuringTheFirstJob(FakeDevice):
        def _bench(self, argv):
            drain.set()  # what SIGTERM does to `edgeq lab worker`
            return super()._bench(argv)

    _serve(inventory, store, {"a": DrainsDuringTheFirstJob(work_s=0.3)}, idle=None, drain=drain)
    assert sorted(states(store.run(run_id)).values()) == ["done", "queued"]
    assert store.leases() == [] and store.workers()[0].stopped_at is not None


def test_a_run_being_submitted_is_neither_taken_nor_finished_until_every_job_is_in(tmp_path):
    store = _store(tmp_path)
    store.sync_devices([("a", "host", [])])
    run_id = store.create_run(None, {})  # what submit does first; the models are still building
    store.set_job_state(store.add_job(run_id, "m", "host", "none", "pte", "fp32", "a"), "failed", "did not build")
    token = store.acquire_lease("a", "w", 30)
    assert not store.finish_if_drained(run_id) and store.run(run_id).status == "running"
    second = store.add_job(run_id, "m2", "host", "none", "pte", "fp32", "a")
    store.put_artifact("ab" * 32, "m2", "host", "fp32", "none", "pte", 1, {})
    store.set_job_state(second, "queued", artifact_sha256="ab" * 32)
    assert store.claim_job("w", "a", "host", token, grace_s=0) is None
    store.enqueue_run(run_id)
    assert store.claim_job("w", "a", "host", token, grace_s=0).job.id == second


def test_a_submitted_run_is_not_resumed_on_one_host_while_workers_own_it(tmp_path):
    inventory = write_inventory(tmp_path, {"a": "host"})
    store = _store(tmp_path)
    run_id = _submit(inventory, store, schemes=("none",))
    with pytest.raises(ConfigError, match=f"run {run_id} was submitted to the lab's workers") as caught:
        run_lab(inventory, LabRequest(models=MODELS[:1], resume=run_id), store=store)
    assert f"edgeq lab wait {run_id}" in caught.value.hint
