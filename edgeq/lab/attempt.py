"""One attempt of a claimed job on a device, for the lab's worker: its artifact from this host's content cache
(the bytes the run planned), ``--reuse`` of an identical measurement, the measurement through the measuring
half ``edgeq run`` uses, the outcome from edgeq's error tree (``outcomes``), and the attempt's end, which the
store writes with what follows (``policy``)."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from edgeq.bench import BenchSpec
from edgeq.bench.stats import median
from edgeq.device.inventory import DeviceEntry
from edgeq.device.probe import governor_and_temperature
from edgeq.errors import ConfigError
from edgeq.lab.events import LabEvent
from edgeq.lab.outcomes import Outcome, invalid_conditions, outcome_of
from edgeq.lab.plan import LabRequest
from edgeq.lab.records import Claim, JobKey, JobRecord, Measurement
from edgeq.lab.store import LeaseLost, StoreError
from edgeq.lab.store.engine import now

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted: the lab run was stopped"


def result_key(artifact_sha256: str, device: str, runner_sha256: str, versions: dict[str, Any],
               bench: BenchSpec) -> str:
    """What decides a measurement, hashed: the artifact, the device, the runner, the device's runtime
    versions and how it was timed. ``--reuse`` skips a job whose key is already in the store."""
    decided = {"artifact": artifact_sha256, "device": device, "runner": runner_sha256,
               "versions": {k: versions.get(k) for k in ("python", "torch", "executorch")},
               "runs": bench.runs, "warmup": bench.warmup, "threads": bench.threads}
    return hashlib.sha256(json.dumps(decided, sort_keys=True).encode()).hexdigest()


class AttemptRunner:
    """The worker's part that runs one claimed attempt; ``Worker`` provides the store, the builds, the devices'
    profiles and connections, and the live view."""

    store: Any
    builds: Any
    profiles: dict[str, Any]
    settings: Any
    stop: Any
    say: Any
    run_id: str | None
    runner_sha256: str
    refused: int

    def _reach(self, entry: DeviceEntry, fmt: str) -> Any: ...  # the Worker's: the device, probed
    def _disconnect(self, entry: DeviceEntry) -> None: ...  # the Worker's: its connection closed

    def _run_claim(self, entry: DeviceEntry, claim: Claim, token: int, scratch: Path,
                   benches: dict[tuple[str, BenchSpec], Any]) -> None:
        """Run the claimed attempt on the device and end it; the store writes what follows."""
        job = claim.job
        name = JobKey(job.model, job.planned_device, job.profile, job.variant, job.format).label
        self.say(LabEvent(entry.name, "running", name, f"attempt {claim.attempt}"))
        ended = self._attempt(entry, name, claim, token, scratch, benches)
        if ended is None:
            return  # reused, refused or interrupted: already recorded
        outcome, measurement = ended
        if outcome.traceback:
            log.error("%s on %s: %s\n%s", name, entry.name, outcome.reason, outcome.traceback)
        if outcome.state == "infra":
            self._disconnect(entry)
            benches.clear()
        self._end(entry, name, claim, token, outcome, measurement)

    def _attempt(self, entry: DeviceEntry, name: str, claim: Claim, token: int, scratch: Path,
                 benches: dict[tuple[str, BenchSpec], Any]) -> tuple[Outcome, Measurement | None] | None:
        """How the attempt ended and what it measured; None when nothing is left to record."""
        try:
            artifact = self._artifact(entry, claim.job)
        except Exception as exc:  # noqa: BLE001 - the model's fault, or edgeq's
            return outcome_of(exc, building=True), None
        try:
            if claim.args.get("reuse") and self._reused(entry, claim, artifact, token):
                self.say(LabEvent(entry.name, "done", name, "reused: the store holds this exact measurement"))
                return None
            return self._measure(entry, claim.job, artifact, claim.args, scratch, benches)
        except LeaseLost as exc:
            self._refused(entry, name, exc)
            return None
        except Exception as exc:  # noqa: BLE001 - classified in one place
            if self.stop.is_set():
                self._end(entry, name, claim, token, Outcome("infra", INTERRUPTED), interrupted=True)
                return None
            return outcome_of(exc), None

    def _end(self, entry: DeviceEntry, name: str, claim: Claim, token: int, outcome: Outcome,
             measurement: Measurement | None = None, *, interrupted: bool = False) -> None:
        store, job, number = self.store, claim.job, claim.attempt
        try:
            if outcome.state == "done":
                decision = store.record_measurement(job.id, number, measurement, token)
            else:
                decision = store.end_attempt(job.id, number, outcome.state, outcome.reason, token,
                                             measurement=measurement if outcome.state == "invalid" else None,
                                             traceback=outcome.traceback, interrupted=interrupted)
        except LeaseLost as exc:
            self._refused(entry, name, exc)
            return
        except StoreError as exc:
            log.warning("%s on %s: %s", name, entry.name, exc.message)
            return
        finally:
            if self.run_id is None:
                store.finish_if_drained(job.run_id)
        if outcome.state == "done":
            p50 = median(measurement.samples_ms)
            said = f"decode {1000 / p50:.4g} tokens/s" if job.per_token else f"p50 {p50:.3g} ms"
            self.say(LabEvent(entry.name, "done", name, said))
        else:
            again = " (queued again)" if decision.job_state == "queued" else ""
            self.say(LabEvent(entry.name, outcome.state, name, outcome.reason + again))
        if decision.device_health == "quarantined":
            self._lose(entry, "quarantined", decision.health_reason)

    def _refused(self, entry: DeviceEntry, name: str, exc: LeaseLost) -> None:
        self.refused += 1
        log.warning("%s on %s: the store refused the result: %s", name, entry.name, exc.message)
        self.say(LabEvent(entry.name, "refused", name, exc.message))

    def _artifact(self, entry: DeviceEntry, job: JobRecord) -> Any:
        """The job's artifact from this host's content cache (built on first use), the bytes the run planned."""
        _, artifact = self.builds.artifact(job.model, self.profiles[entry.profile], job.scheme, job.format)
        if job.artifact_sha256 and artifact.sha256 != job.artifact_sha256:
            raise ConfigError(f"this host built other bytes than the run planned (sha256 {artifact.sha256[:12]}…, "
                              f"planned {job.artifact_sha256[:12]}…): its torch, executorch or edgeq differ",
                              hint="install the planning host's versions on this worker host")
        return artifact

    def _bench_spec(self, entry: DeviceEntry, args: dict[str, Any]) -> BenchSpec:
        """How a job is timed on this device: the run's runs, warmup and timeout, the profile's threads and CPUs."""
        profile = self.profiles[entry.profile]
        return BenchSpec(runs=int(args.get("runs", LabRequest.runs)), warmup=int(args.get("warmup", LabRequest.warmup)),
                         threads=profile.default_threads,
                         timeout_s=float(args.get("job_timeout_s", self.settings.job_timeout_s)), cpus=profile.cpus)

    def _result_key(self, entry: DeviceEntry, artifact: Any, facts: Any, args: dict[str, Any]) -> str:
        versions = {"python": facts.python, "torch": facts.torch, "executorch": facts.executorch}
        return result_key(artifact.sha256, entry.name, self.runner_sha256, versions, self._bench_spec(entry, args))

    def _reused(self, entry: DeviceEntry, claim: Claim, artifact: Any, token: int) -> bool:
        """``--reuse``: the job is done without running when the store holds its exact measurement."""
        try:
            facts = self._reach(entry, artifact.format).facts
        except Exception:  # noqa: BLE001 - the measurement that follows meets and classifies the same failure
            return False
        key = self._result_key(entry, artifact, facts, claim.args)
        return self.store.reuse_measurement(claim.job.id, claim.attempt, key, token) is not None

    def _measure(self, entry: DeviceEntry, job: JobRecord, artifact: Any, args: dict[str, Any], scratch: Path,
                 benches: dict[tuple[str, BenchSpec], Any]) -> tuple[Outcome, Measurement]:
        target = self._reach(entry, artifact.format)
        facts = target.facts
        build = self.builds.build(job.model, self.profiles[entry.profile])
        spec = self._bench_spec(entry, args)
        bench = benches.get((job.model, spec))
        if bench is None:
            folder = scratch / hashlib.sha256(job.model.encode()).hexdigest()[:12]
            folder.mkdir(exist_ok=True)
            bench = benches[(job.model, spec)] = build.device_bench(target, spec, folder)
        before = {"governor": facts.governor, "temperature_c": facts.temperature_c}
        measured = bench.measure(artifact)
        _, quality = build.score(measured.outputs, artifact)
        governor, temperature = governor_and_temperature(target.transport)
        after = {"governor": governor, "temperature_c": temperature}
        result = measured.bench
        measurement = Measurement(
            result_key=self._result_key(entry, artifact, facts, args), artifact_sha256=artifact.sha256,
            device=entry.name, samples_ms=tuple(result.latencies_ms), measured_at=now(), size_bytes=artifact.size_bytes,
            load_ms=result.load_ms, peak_rss_mb=result.peak_rss_mb, metric=build.metric.name, quality=quality,
            numerics=measured.numerics,
            versions={**result.versions, "runner": self.runner_sha256[:16], "arch": result.arch,
                      "threads": result.threads, "cpu": facts.cpu},
            conditions={"before": before, "after": after})
        invalid = invalid_conditions(before, after, entry.max_temperature_c)
        return (Outcome("invalid", invalid) if invalid is not None else Outcome("done", "")), measurement


