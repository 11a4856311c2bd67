"""``edgeq doctor``: is this device ready for edgeq, and for each problem, the command that fixes it."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from edgeq.errors import TransportError
from edgeq.export.manifest import toolchain_versions
from edgeq.device.probe import MACHINES, DeviceFacts, missing_kernels, probe_device, runtime_problems
from edgeq.profiles import DeviceProfile
from edgeq.quantize.embedding import EMBEDDING_KERNEL
from edgeq.transport import DeviceAddress, Transport, open_transport

MIN_FREE_BYTES = 200 * 1024 * 1024  # a few artifacts and their inputs
HOT_C = 70.0
# the kernels edgeq's artifacts call outside XNNPACK: the int8 embedding tables' lookup
OPTIONAL_KERNELS = (EMBEDDING_KERNEL,)


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str
    fix: str | None = None


@dataclass
class Diagnosis:
    device: str
    profile: str
    checks: list[Check]
    facts: DeviceFacts | None

    @property
    def reachable(self) -> bool:
        return self.facts is not None

    @property
    def healthy(self) -> bool:
        return all(check.status != "fail" for check in self.checks)

    def to_dict(self) -> dict[str, object]:
        return {"device": self.device, "profile": self.profile, "healthy": self.healthy, "reachable": self.reachable,
                "checks": [asdict(check) for check in self.checks], "facts": self.facts.to_dict() if self.facts else None}


def _runtime_checks(profile: DeviceProfile, facts: DeviceFacts) -> list[Check]:
    problems = {problem.name: problem for problem in runtime_problems(profile, profile.formats, facts, toolchain_versions())}
    as_check = {name: Check(name, p.status, p.detail, p.fix) for name, p in problems.items()}
    if profile.runtime == "executor_runner":
        return [as_check.get("executor_runner") or Check("executor_runner", "ok", str(facts.native_runner))]
    if "python" in as_check:
        return [as_check["python"]]
    checks = [Check("python", "ok", f"Python {facts.python}")]
    for package in ("executorch", "torch"):
        found = getattr(facts, package)
        if package in as_check:
            checks.append(as_check[package])
        elif found is None:  # the profile's formats do not need it
            checks.append(Check(package, "warn", f"{package} is not installed on the device",
                                f"{profile.python} -m pip install {package}"))
        else:
            checks.append(Check(package, "ok", f"{package} {found}"))
    return checks


def _lacking_kernels(transport: Transport, profile: DeviceProfile, facts: DeviceFacts) -> list[str] | None:
    """Which of ``OPTIONAL_KERNELS`` the device's runtime lacks; None when there is no runtime to ask."""
    native = profile.runtime == "executor_runner"
    if (native and facts.native_runner is None) or (not native and (facts.python_error or facts.executorch is None)):
        return None
    return missing_kernels(transport, profile, facts, list(OPTIONAL_KERNELS))


def _kernels_check(profile: DeviceProfile, lacking: list[str]) -> Check:
    if not lacking:
        return Check("kernels", "ok", ", ".join(OPTIONAL_KERNELS))
    runtime = "its executor_runner" if profile.runtime == "executor_runner" else "its ExecuTorch"
    fix = ("rebuild executor_runner with -DEXECUTORCH_BUILD_KERNELS_QUANTIZED=ON (docs/devices.md)"
           if profile.runtime == "executor_runner" else f"{profile.python} -m pip install -U executorch")
    return Check("kernels", "warn", f"{runtime} lacks {', '.join(lacking)}: int8 embedding tables cannot run there, "
                 "so edgeq keeps them fp32 (the -fp32emb variants)", fix)


def diagnose(profile: DeviceProfile, device: DeviceAddress | None = None, transport: Transport | None = None) -> Diagnosis:
    """Run every check; a device that cannot be reached gets one failed check that says why and what to do."""
    name = str(device) if device is not None else profile.name
    owned = transport is None
    try:
        transport = transport or open_transport(profile.transport, device)
        workdir = transport.expand(profile.workdir)
        made = transport.run(["mkdir", "-p", workdir], timeout_s=30.0, check=False)
        facts = probe_device(transport, profile, workdir)
        lacking = _lacking_kernels(transport, profile, facts)
    except TransportError as exc:
        return Diagnosis(name, profile.name, [Check("reachable", "fail", exc.message, exc.hint)], None)
    finally:
        if owned and transport is not None:
            transport.close()
    checks = [Check("reachable", "ok", f"connected over {profile.transport}")]
    matches = facts.arch_matches(profile)
    if matches is False:
        actual = next((arch for arch, names in MACHINES.items() if facts.machine in names), facts.machine)
        checks.append(Check("arch", "fail", f"the device is {facts.machine}, the profile {profile.name!r} says {profile.arch}",
                            f"use a profile for {actual} (edgeq profiles list)"))
    else:
        checks.append(Check("arch", "ok" if matches else "warn", facts.machine or "unknown (no uname)"))
    checks += _runtime_checks(profile, facts)
    if lacking is not None:
        checks.append(_kernels_check(profile, lacking))
    if not made.ok:
        checks.append(Check("workdir", "fail", f"cannot create {workdir}: {made.stderr.strip()[:200]}",
                            f"set workdir = \"…\" in the profile to a writable folder ({profile.source})"))
    elif facts.free_bytes is not None and facts.free_bytes < MIN_FREE_BYTES:
        checks.append(Check("free space", "fail", f"{facts.free_bytes / 2**20:.0f} MiB free in {workdir}",
                            f"edgeq clean --device {name}, or free space on the device"))
    else:
        free = "unknown" if facts.free_bytes is None else f"{facts.free_bytes / 2**30:.1f} GiB free"
        checks.append(Check("workdir", "ok", f"{workdir}, {free}"))
    if facts.governor is not None and facts.governor != "performance":
        checks.append(Check("governor", "warn", f"CPU governor is {facts.governor}: latency will wander with the clock",
                            "echo performance | sudo tee /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor"))
    if facts.temperature_c is not None and facts.temperature_c >= HOT_C:
        checks.append(Check("temperature", "warn", f"{facts.temperature_c:.0f} °C: the CPU may throttle",
                            "let it cool down, add a heatsink or fan"))
    return Diagnosis(name, profile.name, checks, facts)


__all__ = ["Check", "Diagnosis", "diagnose"]
