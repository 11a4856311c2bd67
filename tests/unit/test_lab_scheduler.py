"""The lab's scheduler on pretend devices (``FakeTransport`` + ``FakeDevice``) and a real SQLite store.

The build and measure halves are edgeq's own (real artifacts, the runner protocol, the probe); only
the devices answer from Python, so each behaviour — retries, quarantine, invalid measurements,
reuse, stop and resume — is set up exactly.
"""

import json
import threading
from pathlib import Path

import pytest

from edgeq.device import Inventory
from edgeq.bench.stats import median
from edgeq.errors import CommandTimeout, ConfigError, ConnectError, InternalError
from edgeq.lab.gate import compare_runs
from edgeq.lab.plan import LabRequest
from edgeq.lab.reports import report_json, report_markdown
from edgeq.lab.reports.text import milliseconds
from edgeq.lab.scheduler import LabRun, run_lab
from edgeq.lab.store import open_store
from edgeq.transport import FakeTransport
from edgeq.transport.fake_device import FakeDevice

SUPPORT = Path(__file__).resolve().parent.parent / "support"
MODELS = (f"{SUPPORT / 'lab_models.py'}:mlp_a", f"{SUPPORT / 'lab_models.py'}:mlp_b")


class DroppingDevice(FakeDevice):
    """Answers the probe, then loses the connection whenever a benchmark runs (the golden one too)."""

    def _bench(self, argv):
        raise ConnectError("lost the connection to the device while python was running")


def write_inventory(folder: Path, devices: dict[str, str], extra: str = "") -> Inventory:
    text = "".join(f'[devices.{name}]\nprofile = "{profile}"\nhost = "{name}"\n' for name, profile in devices.items())
    path = folder / "edgeq-lab.toml"
    path.write_text(text + extra)
    return Inventory.load(path)


def hot_inventory(folder: Path, profile: str) -> Inventory:
    """One device, ``hot``, whose measurements are invalid above 70 °C."""
    write_inventory(folder, {"hot": profile})
    path = folder / "edgeq-lab.toml"
    path.write_text(path.read_text() + "max_temperature_c = 70\n")
    return Inventory.load(path)


def lab_run(inventory: Inventory, fakes: dict, *, store=None, **request):
    request.setdefault("models", MODELS)
    request.setdefault("schemes", ("none", "dynamic"))
    request.setdefault("runs", 10)
    request.setdefault("warmup", 1)
    store = store or open_store(None, default_path=inventory.path.with_name("edgeq-lab.db"))
    run = run_lab(inventory, LabRequest(**request), store=store,
                  transport_factory=lambda entry, profile: FakeTransport(fakes[entry.name]))
    return run, store


def states(run) -> dict[str, str]:
    return {job.name: job.state for job in run.jobs}


def test_a_matrix_runs_every_job_and_shares_artifacts_across_a_profile(tmp_path):
    inventory = write_inventory(tmp_path, {"a": "host", "b": "host"})
    devices = {"a": FakeDevice(), "b": FakeDevice()}
    run, store = lab_run(inventory, devices)
    assert len(run.jobs) == 2 * 2 * 2 and set(states(run).values()) == {"done"}
    by_cell = {}
    for job in run.jobs:
        by_cell.setdefault((job.model, job.variant), set()).add(job.artifact_sha256)
    assert all(len(shas) == 1 for shas in by_cell.values())  # built once, measured on both devices
    assert all(len(job.measurement.samples_ms) == 10 and job.measurement.device == job.device for job in run.jobs)
    assert {d.name: d.health for d in store.devices()} == {"a": "good", "b": "good"}
    assert run.status == "finished"


def test_a_device_that_drops_the_connection_is_quarantined_and_its_jobs_finish_on_a_sibling(tmp_path):
    inventory = write_inventory(tmp_path, {"good": "host", "flaky": "host"})
    run, store = lab_run(inventory, {"good": FakeDevice(), "flaky": DroppingDevice()}, models=MODELS[:1])
    assert set(states(run).values()) == {"done"}
    moved = [job for job in run.jobs if job.planned_device == "flaky"]
    assert moved and all(job.device == "good" for job in moved)
    flaky = store.device("flaky")
    assert flaky.health == "quarantined" and "lost the connection" in flaky.reason
    assert flaky.last_check.outcome == "bad"


def test_three_infra_failures_in_a_row_quarantine_a_device_and_each_job_is_retried_at_most_twice(tmp_path):
    inventory = write_inventory(tmp_path, {"only": "host"}, "[lab]\nquarantine_after = 3\n")

    class FailsJobs(FakeDevice):
        """Passes every health check (the golden benchmark runs 10 times); drops every job (7 runs)."""

        def _bench(self, argv):
            if argv[argv.index("--runs") + 1] != "10":
                raise ConnectError("connection reset by peer")
            return super()._bench(argv)

    run, store = lab_run(inventory, {"only": FailsJobs()}, models=MODELS[:1], schemes=("none",), runs=7)
    (job,) = run.jobs
    assert job.state == "infra" and [a.outcome for a in job.attempts] == ["infra"] * 3  # the first try and two retries
    assert store.device("only").health == "quarantined"
    assert "infrastructure failures in a row" in store.device("only").reason


def test_a_hung_benchmark_ends_timeout_and_is_not_retried(tmp_path):
    inventory = write_inventory(tmp_path, {"hang": "host", "ok": "host"})

    class Hangs(FakeDevice):
        count = 0

        def _bench(self, argv):
            Hangs.count += 1
            if Hangs.count > 1:  # after the golden health check
                raise CommandTimeout("python did not finish within 900 s on hang; it was killed")
            return super()._bench(argv)

    run, _ = lab_run(inventory, {"hang": Hangs(), "ok": FakeDevice()}, models=MODELS[:1], schemes=("none",))
    hung = next(job for job in run.jobs if job.planned_device == "hang")
    assert hung.state == "timeout" and len(hung.attempts) == 1 and "did not finish" in hung.reason
    assert next(job for job in run.jobs if job.planned_device == "ok").state == "done"


def test_a_hot_device_measures_again_once_then_reports_invalid_never_a_result(tmp_path):
    inventory = hot_inventory(tmp_path, "x86-server")
    run, _ = lab_run(inventory, {"hot": FakeDevice(temperature_c=88.0)}, models=MODELS[:1], schemes=("none",))
    (job,) = run.jobs
    assert job.state == "invalid" and "88.0 °C" in job.reason and job.measurement is None
    assert [attempt.outcome for attempt in job.attempts] == ["invalid", "invalid"]


def test_a_hot_devices_samples_are_kept_marked_invalid_shown_and_never_gated(tmp_path):
    inventory = hot_inventory(tmp_path, "host")
    run, _ = lab_run(inventory, {"hot": FakeDevice(temperature_c=88.0)}, models=MODELS[:1], schemes=("none",))
    (job,) = run.jobs
    kept = [attempt.measurement for attempt in job.attempts]
    assert [len(m.samples_ms) for m in kept] == [10, 10] and not any(m.valid for m in kept)
    assert job.measurement is None  # never the job's result
    (row,) = compare_runs(run, run).rows
    assert row.status == "inconclusive" and row.latency is None
    (reported,) = json.loads(report_json(run))["jobs"]
    assert reported["valid"] is False and reported["samples_ms"] == list(kept[-1].samples_ms)
    assert [attempt["samples_ms"] for attempt in reported["attempts"]] == [list(m.samples_ms) for m in kept]
    assert f"{milliseconds(median(kept[-1].samples_ms))} (invalid)" in report_markdown(run)


class BugOnFirstJob(FakeDevice):
    """Its first benchmark meets a bug in edgeq; the ones after it run."""

    def _bench(self, argv):
        if self.benchmarks == 0:
            self.benchmarks += 1
            raise InternalError("the runner's report was parsed twice")
        return super()._bench(argv)


def test_a_bug_in_edgeq_ends_its_job_once_as_error_and_leaves_the_device_good(tmp_path):
    inventory = write_inventory(tmp_path, {"a": "host", "b": "host"})
    store = open_store(None, default_path=tmp_path / "edgeq-lab.db")
    store.sync_devices([("a", "host", []), ("b", "host", [])])
    for device in ("a", "b"):
        store.set_health(device, "good")  # no health check: the first benchmark is the first job's
    devices = {"a": BugOnFirstJob(), "b": FakeDevice()}
    run, _ = lab_run(inventory, devices, store=store, models=MODELS[:1], devices=("a", "b"))
    broken = [job for job in run.jobs if job.state != "done"]
    (job,) = broken
    assert job.state == "error" and job.planned_device == "a"
    (attempt,) = job.attempts  # never retried, on this device or a sibling
    assert attempt.outcome == "error" and job.reason.startswith("this is a bug in edgeq, please report it")
    assert "InternalError: the runner's report was parsed twice" in attempt.traceback
    a = store.device("a")
    assert (a.health, a.consecutive_infra, a.recent_failures) == ("good", 0, 0)
    assert all(other.device == other.planned_device for other in run.jobs if other is not job)  # a kept serving


def test_reuse_measures_nothing_when_the_store_has_the_exact_measurement(tmp_path):
    inventory = write_inventory(tmp_path, {"a": "host"})
    device = FakeDevice()
    first, store = lab_run(inventory, {"a": device}, models=MODELS[:1])
    benchmarks = device.benchmarks
    second, _ = lab_run(inventory, {"a": device}, store=store, models=MODELS[:1], reuse=True)
    assert device.benchmarks == benchmarks  # nothing ran
    assert all(job.reused and job.state == "done" for job in second.jobs)
    assert {j.measurement.samples_ms for j in second.jobs} == {j.measurement.samples_ms for j in first.jobs}


def test_a_stopped_run_keeps_what_finished_and_resume_runs_only_the_rest_once(tmp_path):
    inventory = write_inventory(tmp_path, {"a": "host"})
    stop = threading.Event()

    class StopsTheRun(FakeDevice):
        def _bench(self, argv):
            if self.benchmarks >= 2:  # the golden check and one job have been measured
                stop.set()
                raise ConnectError("the connection was closed")
            return super()._bench(argv)

    store = open_store(None, default_path=tmp_path / "edgeq-lab.db")
    request = LabRequest(models=MODELS, schemes=("none", "dynamic"), runs=10, warmup=1)
    stopped = LabRun(inventory, request, store, transport_factory=lambda e, p: FakeTransport(StopsTheRun()), stop=stop)
    run_id = stopped.prepare()
    stopped.execute()
    interrupted = store.run(run_id)
    assert interrupted.status == "interrupted"
    done_before = {job.id for job in interrupted.jobs if job.state == "done"}
    assert len(done_before) == 1 and {job.state for job in interrupted.jobs} == {"done", "queued"}

    resumed, _ = lab_run(inventory, {"a": FakeDevice()}, store=store, resume=run_id)
    assert resumed.id == run_id and resumed.status == "finished" and set(states(resumed).values()) == {"done"}
    assert len(resumed.jobs) == len(interrupted.jobs)
    for job in resumed.jobs:
        measured = [attempt for attempt in job.attempts if attempt.outcome == "done"]
        assert len(measured) == 1  # exactly once, the finished one not again


def test_a_device_whose_golden_latency_drifts_out_of_its_band_is_quarantined(tmp_path):
    inventory = write_inventory(tmp_path, {"a": "host"}, "[lab]\nhealth_margin = 0.3\n")
    store = open_store(None, default_path=tmp_path / "edgeq-lab.db")
    from edgeq.lab.records import HealthCheck

    store.sync_devices([("a", "host", [])])
    for day in range(3):
        store.record_health_check(HealthCheck("a", f"2026-12-0{day + 1}T00:00:00+00:00", "good", "", 1.0))
    run, _ = lab_run(inventory, {"a": FakeDevice(latency_ms=2.0)}, store=store, models=MODELS[:1], schemes=("none",))
    device = store.device("a")
    assert device.health == "quarantined" and "outside the device's band" in device.reason
    assert states(run) == {f"{MODELS[0]}/a/fp32.pte": "skipped"}


@pytest.mark.parametrize("request_args, message", [
    ({"devices": ("nope",)}, "no device named 'nope'"),
    ({"tags": ("gpu",)}, "no device is tagged 'gpu'"),
    ({"profiles": ("rpi5",)}, "no device uses profile 'rpi5'"),
])
def test_unknown_devices_tags_and_profiles_are_errors_naming_the_inventory(tmp_path, request_args, message):
    inventory = write_inventory(tmp_path, {"a": "host"})
    with pytest.raises(ConfigError, match=message) as info:
        lab_run(inventory, {"a": FakeDevice()}, **request_args)
    assert str(inventory.path) in info.value.message


class BugInTheHealthCheck(FakeDevice):
    """Its golden benchmark (the first) meets a bug in edgeq; nothing of it reaches a job."""

    def _bench(self, argv):
        raise InternalError("the golden report was parsed twice")


def test_a_bug_in_a_health_check_is_not_the_devices_fault_and_its_jobs_run_on_a_sibling(tmp_path):
    inventory = write_inventory(tmp_path, {"a": "host", "b": "host"})
    store = open_store(None, default_path=tmp_path / "edgeq-lab.db")
    store.sync_devices([("a", "host", []), ("b", "host", [])])
    store.set_health("b", "good")  # a checks first, and meets the bug
    run, _ = lab_run(inventory, {"a": BugInTheHealthCheck(), "b": FakeDevice()}, store=store, models=MODELS[:1],
                     schemes=("none",))
    assert states(run) == {f"{MODELS[0]}/a/fp32.pte": "done", f"{MODELS[0]}/b/fp32.pte": "done"}
    assert {job.planned_device: job.device for job in run.jobs} == {"a": "b", "b": "b"}
    assert store.device("a").health == "unknown" and store.device("a").last_check is None  # not quarantined
