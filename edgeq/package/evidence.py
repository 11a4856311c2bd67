"""Where a bundle's latencies come from, and how they stay the same from one packaging run to the next.

A latency is evidence about an exact artifact (its sha256), not part of building it. In order:
1. the lab store, when one of its devices measured those very bytes (on a device of the target's
   profile first);
2. the release's measurements file, which keeps what an earlier packaging run measured on the host;
3. a measurement on the packaging host, taken now and added to that file.
The file is to a bundle what a lockfile is to a build: commit it beside the release config and a
packaging run on another machine writes the same manifest, byte for byte.

A language model's latency is its decode time per token (what the lab stores for it too), so its tokens per
second are 1000 over the p50; a packaging-host measurement of one also keeps its times to the first token.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeq.bench import BenchResult
from edgeq.bench.stats import latency_stats
from edgeq.errors import ConfigError

if TYPE_CHECKING:
    from edgeq.llm.bench import LlmBench

_FORMAT = "edgeq-measurements/1"


@dataclass(frozen=True)
class Evidence:
    """One artifact's latency and where, when and on what it was taken."""

    latency_ms: dict[str, Any]
    load_ms: float | None
    peak_rss_mb: float | None
    where: str  # "lab" (a device of the lab store) or "host" (the packaging machine, a stand-in)
    device: str
    profile: str
    arch: str
    measured_at: str
    versions: dict[str, Any] = field(default_factory=dict)
    threads: int | None = None
    cpu: str | None = None  # the CPU model of the machine that measured it, where known
    first_token_ms: dict[str, Any] | None = None  # a language model's prompt-to-first-token times, where measured

    def to_dict(self) -> dict[str, Any]:
        data = {"latency_ms": self.latency_ms, "load_ms": self.load_ms, "peak_rss_mb": self.peak_rss_mb,
                "measured_on": {"where": self.where, "device": self.device, "profile": self.profile, "arch": self.arch,
                                "cpu": self.cpu, "threads": self.threads, "versions": self.versions},
                "measured_at": self.measured_at}
        if self.first_token_ms is not None:
            data["first_token_ms"] = self.first_token_ms
        return data

    def on_target(self, target: str) -> bool:
        """Taken on a device of ``target``'s own profile (the packaging host counts for the ``host`` target)."""
        return self.profile == target and (self.where == "lab" or target == "host")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evidence:
        on = data["measured_on"]
        return cls(latency_ms=data["latency_ms"], load_ms=data.get("load_ms"), peak_rss_mb=data.get("peak_rss_mb"),
                   where=on["where"], device=on["device"], profile=on["profile"], arch=on["arch"],
                   measured_at=data["measured_at"], versions=on.get("versions", {}), threads=on.get("threads"),
                   cpu=on.get("cpu"), first_token_ms=data.get("first_token_ms"))

    def note_for(self, target: str) -> str:
        """What a reader of ``target``'s numbers must know: they were not taken on a ``target`` device."""
        if self.where == "host" and target != "host":
            return (f"measured on the packaging host ({self.cpu or self.arch}), standing in for {target}: not on a "
                    f"{target} device, until a lab device measures this artifact (edgeq lab run, then package with "
                    "[release] store)")
        if self.where == "lab" and self.profile != target:
            return (f"measured on lab device {self.device} (profile {self.profile or 'unknown'}): the lab holds no "
                    f"measurement of these bytes on a {target} device")
        return ""


def _summary(samples_ms: list[float] | tuple[float, ...]) -> dict[str, Any]:
    stats = latency_stats(samples_ms).to_dict()
    return {key: (round(value, 4) if isinstance(value, float) else value) for key, value in stats.items()}


class MeasurementsFile:
    """The release's record of host measurements, by artifact sha256 (JSON, sorted, diff-friendly)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, dict[str, Any]] = {}
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if data.get("format") != _FORMAT:
                    raise ValueError(f"format is {data.get('format')!r}, not {_FORMAT!r}")
                self.entries = dict(data["measurements"])
                for entry in self.entries.values():
                    Evidence.from_dict(entry)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise ConfigError(f"{path}: not an edgeq measurements file ({exc})",
                                  hint="move it away and package again: the host measurements are taken anew") from exc
        self.changed = False

    def get(self, sha256: str) -> Evidence | None:
        entry = self.entries.get(sha256)
        return Evidence.from_dict(entry) if entry else None

    def put(self, sha256: str, evidence: Evidence) -> None:
        self.entries[sha256] = evidence.to_dict()
        self.changed = True

    def save(self) -> None:
        if not self.changed:
            return
        tmp = self.path.with_name(f".{self.path.name}.partial")
        tmp.write_text(json.dumps({"format": _FORMAT, "measurements": self.entries}, indent=2, sort_keys=True) + "\n",
                       encoding="utf-8")
        tmp.replace(self.path)
        self.changed = False


def from_store(store: Any, sha256: str, profile: str) -> Evidence | None:
    """The newest lab measurement of these bytes, on a device of ``profile`` when there is one."""
    found = store.measurements_of(sha256)
    if not found:
        return None
    measurement, device_profile = next(((m, p) for m, p in found if p == profile), found[0])
    return _lab_evidence(measurement, device_profile)


def _lab_evidence(measurement: Any, profile: str) -> Evidence | None:
    if not measurement.samples_ms:
        return None
    versions = dict(measurement.versions)
    arch, threads = str(versions.pop("arch", "") or "unknown"), versions.pop("threads", None)
    cpu = versions.pop("cpu", None)
    return Evidence(latency_ms=_summary(measurement.samples_ms), load_ms=measurement.load_ms,
                    peak_rss_mb=measurement.peak_rss_mb, where="lab", device=measurement.device, profile=profile,
                    arch=arch, measured_at=measurement.measured_at, versions=versions, threads=threads, cpu=cpu)


@dataclass(frozen=True)
class TargetMeasurements:
    """The lab's measurements of a release's candidates on one device of the target's profile."""

    device: str
    profile: str
    samples_ms: dict[str, tuple[float, ...]]  # by artifact sha256
    evidence: dict[str, Evidence]  # by artifact sha256


def on_target_device(store: Any, profile: str, candidates: list[str]) -> TargetMeasurements | None:
    """The lab device of ``profile`` that measured the first candidate (fp32, the baseline) and the most of the
    others (the newest measurement of each), so that every latency compared comes from one device; None when no
    device of that profile measured the baseline and another candidate."""
    newest: dict[str, dict[str, Any]] = {}  # device -> sha256 -> its newest measurement there
    for sha256 in dict.fromkeys(candidates):
        for measurement, device_profile in store.measurements_of(sha256):  # newest first
            if device_profile == profile and measurement.samples_ms:
                newest.setdefault(measurement.device, {}).setdefault(sha256, measurement)
    usable = {device: found for device, found in newest.items() if candidates[0] in found and len(found) > 1}
    if not usable:
        return None
    device = max(sorted(usable), key=lambda name: (len(usable[name]), usable[name][candidates[0]].measured_at))
    found = usable[device]
    return TargetMeasurements(device, profile, {sha: m.samples_ms for sha, m in found.items()},
                              {sha: evidence for sha, m in found.items() if (evidence := _lab_evidence(m, profile))})


def from_host_run(bench: BenchResult | LlmBench, measured_at: str) -> Evidence:
    """A measurement on the packaging host (a stand-in when the target is another device: ``note_for``). A language
    model's ``LlmBench`` gives its decode times per token as the latency, and its times to the first token."""
    from edgeq.llm.bench import LlmBench

    versions = {key: value for key, value in bench.versions.items() if key in ("torch", "executorch", "runner")}
    first_token = _summary(bench.first_token.samples_ms) if isinstance(bench, LlmBench) else None
    return Evidence(latency_ms=_summary(bench.latency.samples_ms), load_ms=round(bench.load_ms, 3),
                    peak_rss_mb=None if bench.peak_rss_mb is None else round(bench.peak_rss_mb, 1), where="host",
                    device=f"packaging host ({_cpu()})", profile="host", arch=bench.arch, measured_at=measured_at,
                    versions=versions, threads=bench.threads, cpu=_cpu(), first_token_ms=first_token)


def _cpu() -> str:
    from edgeq.profiles import describe_host

    described = describe_host()
    return str(described.get("cpu") or platform.machine())
