"""What a device really is: its architecture, runtime versions, free space, governor and temperature.

Each fact comes from its own small command with ``check=False``: a phone's
toybox shell lacks what a Raspberry Pi has, and a missing fact is reported as
unknown, never guessed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from edgeq.errors import ConfigError
from edgeq.profiles import DeviceProfile, cpu_name
from edgeq.transport import Transport

# `uname -m` spellings of each profile arch
MACHINES = {"aarch64": ("aarch64", "arm64", "armv8l"), "armv7": ("armv7l", "armv7", "armv8l"), "x86_64": ("x86_64", "amd64")}

_PYTHON_PROBE = (
    "import json, platform, sys\n"
    "found = {'python': platform.python_version(), 'machine': platform.machine()}\n"
    "from importlib.metadata import version\n"
    "for name in ('torch', 'executorch'):\n"
    "    try:\n"
    "        found[name] = version(name)\n"
    "    except Exception:\n"
    "        found[name] = None\n"
    "print(json.dumps(found))\n"
)
# The operators the device's ExecuTorch runtime has registered, quantized kernels loaded as the runner loads them.
_KERNEL_PROBE = (
    "import json, torch\n"
    "try:\n"
    "    from executorch.extension.pybindings import _portable_lib as bindings\n"
    "except ImportError:\n"
    "    from executorch.extension.pybindings import portable_lib as bindings\n"
    "try:\n"
    "    import executorch.kernels.quantized\n"
    "except ImportError:\n"
    "    pass\n"
    "try:\n"  # a language model's operators, loaded as edgeq_llm_runner.py loads them
    "    import glob, os, executorch.extension.llm.custom_ops as llm\n"
    "    torch.ops.load_library(glob.glob(os.path.join(os.path.dirname(llm.__file__), 'libcustom_ops_aot_lib*'))[0])\n"
    "except Exception:\n"
    "    pass\n"
    "print(json.dumps(sorted(bindings._get_operator_names())))\n"
)
PROBE_TIMEOUT_S = 120.0  # a first Python start on a slow board (or under emulation) takes a while


@dataclass
class DeviceFacts:
    machine: str | None = None
    python: str | None = None
    torch: str | None = None
    executorch: str | None = None
    python_error: str | None = None
    free_bytes: int | None = None
    native_runner: str | None = None  # the executor_runner found on the device
    governor: str | None = None
    temperature_c: float | None = None
    cpu: str | None = None  # the CPU model, from the device's /proc/cpuinfo
    kernels: dict[str, bool] = field(default_factory=dict)  # operator -> registered in the device's runtime

    def arch_matches(self, profile: DeviceProfile) -> bool | None:
        return None if self.machine is None else self.machine in MACHINES[profile.arch]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _first_line(transport: Transport, argv: list[str]) -> str | None:
    result = transport.run(argv, timeout_s=30.0, check=False)
    lines = result.stdout.strip().splitlines()
    return lines[0].strip() if result.ok and lines else None


def _cpu(transport: Transport) -> str | None:
    result = transport.run(["cat", "/proc/cpuinfo"], timeout_s=30.0, check=False)
    return cpu_name(result.stdout) if result.ok else None


def governor_and_temperature(transport: Transport) -> tuple[str | None, float | None]:
    """CPU 0's frequency governor and the first thermal zone's temperature, where the device exposes them."""
    governor = _first_line(transport, ["cat", "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"])
    raw = _first_line(transport, ["cat", "/sys/class/thermal/thermal_zone0/temp"])
    try:
        temperature = float(raw) / 1000.0 if raw is not None else None
    except ValueError:
        temperature = None
    return governor, temperature


def probe_device(transport: Transport, profile: DeviceProfile, workdir: str | None = None) -> DeviceFacts:
    """Ask the device what it is; ``workdir`` (already expanded) gets its free space measured."""
    facts = DeviceFacts(machine=_first_line(transport, ["uname", "-m"]), cpu=_cpu(transport))
    if profile.runtime == "executor_runner":
        binary = transport.expand(profile.native_runner)
        if transport.run(["test", "-x", binary], timeout_s=30.0, check=False).ok:
            facts.native_runner = binary
    if profile.runtime == "python":
        result = transport.run([profile.python, "-c", _PYTHON_PROBE], timeout_s=PROBE_TIMEOUT_S, check=False)
        try:
            found = json.loads(result.stdout.strip().splitlines()[-1]) if result.ok else None
        except (json.JSONDecodeError, IndexError):
            found = None
        if found is None:
            tail = (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[-1][:200]
            facts.python_error = f"{profile.python} failed on the device: {tail}"
        else:
            facts.python, facts.torch, facts.executorch = found["python"], found["torch"], found["executorch"]
            # the Python that runs the artifacts has the final word (an emulated board's shell is the host's)
            facts.machine = found["machine"] or facts.machine
    if workdir is not None:
        df = transport.run(["df", "-Pk", workdir], timeout_s=30.0, check=False)
        rows = df.stdout.strip().splitlines()
        try:
            facts.free_bytes = int(rows[-1].split()[3]) * 1024 if df.ok and len(rows) >= 2 else None
        except (IndexError, ValueError):
            facts.free_bytes = None
    facts.governor, facts.temperature_c = governor_and_temperature(transport)
    return facts


@dataclass(frozen=True)
class RuntimeProblem:
    """Something the device's runtime lacks for the given formats, and the command that fixes it."""

    name: str  # executor_runner | python | torch | executorch
    status: str  # fail: cannot run | warn: may not run
    detail: str
    fix: str


def runtime_problems(profile: DeviceProfile, formats: tuple[str, ...], facts: DeviceFacts,
                     exporter: dict[str, str]) -> list[RuntimeProblem]:
    """What stops (``fail``) or may stop (``warn``) the device's runner from running ``formats``."""
    if profile.runtime == "executor_runner":
        if facts.native_runner is None:
            return [RuntimeProblem("executor_runner", "fail", f"no executor_runner at {profile.native_runner} on the device",
                                   "build ExecuTorch's executor_runner for the device as docs/devices.md shows and push it there, "
                                   f"or set runner_binary in {profile.source}")]
        return []
    if facts.python_error:
        return [RuntimeProblem("python", "fail", facts.python_error,
                               f"install Python 3 on the device, or set python = \"…\" in {profile.source}")]
    problems = []
    for package, needed, purpose in (("executorch", "pte" in formats, "it cannot run .pte artifacts"),
                                     ("torch", True, "the runner needs it")):
        found, built = getattr(facts, package), exporter.get(package)
        if found is None and needed:
            problems.append(RuntimeProblem(package, "fail", f"the device has no {package}: {purpose}",
                                           f"{profile.python} -m pip install {package}"))
        elif found and built and version_tuple(found) < version_tuple(built):
            problems.append(RuntimeProblem(package, "warn", f"the device's {package} {found} is older than the exporter's "
                                           f"{built}: artifacts that use newer operators may not load",
                                           f"{profile.python} -m pip install -U {package}"))
    return problems


def check_compatible(profile: DeviceProfile, fmt: str, facts: DeviceFacts, exporter: dict[str, str]) -> list[str]:
    """Refuse (``ConfigError``) what cannot run on the device; return warnings for what may not."""
    if facts.arch_matches(profile) is False:
        raise ConfigError(f"the device is {facts.machine}, but profile {profile.name!r} says {profile.arch}: "
                          "its artifacts would be built for the wrong target",
                          hint="pick the profile that matches the device (edgeq profiles list), or edgeq doctor --device …")
    problems = runtime_problems(profile, (fmt,), facts, exporter)
    for problem in problems:
        if problem.status == "fail":
            raise ConfigError(problem.detail, hint=problem.fix)
    return [problem.detail for problem in problems]


def missing_kernels(transport: Transport, profile: DeviceProfile, facts: DeviceFacts, needed: list[str]) -> list[str]:
    """Those of ``needed`` (operators such as ``quantized_decomposed::embedding_byte.out``) that the device's
    runtime lacks; asked once per device and remembered in ``facts``. Operators it cannot tell about count as
    present: the runner then says what failed."""
    unknown = [kernel for kernel in needed if kernel not in facts.kernels]
    if unknown:
        facts.kernels.update(_registered(transport, profile, unknown))
    return [kernel for kernel in needed if not facts.kernels.get(kernel, True)]


def _registered(transport: Transport, profile: DeviceProfile, kernels: list[str]) -> dict[str, bool]:
    if profile.runtime == "executor_runner":  # a kernel library linked in leaves its operator names in the binary
        binary = transport.expand(profile.native_runner)
        found = {}
        for kernel in kernels:
            result = transport.run(["grep", "-q", "-a", "-F", kernel.split(".")[0], binary], timeout_s=60.0, check=False)
            if result.returncode in (0, 1):  # 2 and up: no grep, or it could not read the binary
                found[kernel] = result.returncode == 0
        return found
    result = transport.run([profile.python, "-c", _KERNEL_PROBE], timeout_s=PROBE_TIMEOUT_S, check=False)
    try:
        names = set(json.loads(result.stdout.strip().splitlines()[-1])) if result.ok else None
    except (json.JSONDecodeError, IndexError):
        names = None
    return {} if names is None else {kernel: kernel in names for kernel in kernels}


def version_tuple(text: str | None) -> tuple[int, ...]:
    parts = []
    for piece in (text or "").split("+")[0].split("."):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts)
