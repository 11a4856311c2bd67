"""Device profiles: what a device type is, loaded from TOML and validated.

A profile decides everything that depends on the target: architecture, ISA,
quantized engine, artifact formats, transport, threads and paths. The ``host``
profile is filled in at run time from the machine edgeq runs on.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeq._resources import resource_dir
from edgeq.errors import ProfileError

ARCHES = ("aarch64", "armv7", "x86_64")
ENGINES = ("qnnpack", "fbgemm", "x86")
TRANSPORTS = ("local", "ssh", "adb")
FORMATS = ("pte", "ptl")
RUNTIMES = ("python", "executor_runner")
ISAS = (
    "neon", "dotprod", "i8mm", "fp16", "sve", "sve2",
    "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx",
)
_VNNI = frozenset({"avx512_vnni", "avx_vnni", "amx"})
_ARCH_ENGINES = {"aarch64": ("qnnpack",), "armv7": ("qnnpack",), "x86_64": ("fbgemm", "x86", "qnnpack")}


@dataclass(frozen=True)
class DeviceProfile:
    """A device type: validated on construction, so a profile that exists is usable."""

    name: str
    arch: str
    engine: str
    transport: str
    cpu: str = "unknown"
    cores: int | None = None
    isa: tuple[str, ...] = ()
    formats: tuple[str, ...] = FORMATS
    threads: int | None = None
    workdir: str = "~/.cache/edgeq/device"
    python: str = "python3"
    runtime: str = "python"
    runner_binary: str = ""  # executor_runner on the device; empty: WORKDIR/bin/executor_runner
    cpus: tuple[int, ...] = ()  # pin the benchmark to these CPUs (e.g. the big cores); empty: let the OS choose
    cooldown_s: float = 0.0  # rest between variants, so one variant's heat does not slow the next
    llm_group_size: int = 32  # a language model's 4-bit weights share a scale per this many input channels
    description: str = ""
    source: str = field(default="<code>", compare=False)

    def __post_init__(self) -> None:
        where = self.source
        _check_choice(where, "arch", self.arch, ARCHES)
        _check_choice(where, "engine", self.engine, ENGINES)
        _check_choice(where, "transport", self.transport, TRANSPORTS)
        _check_choice(where, "runtime", self.runtime, RUNTIMES)
        if self.engine not in _ARCH_ENGINES[self.arch]:
            raise ProfileError(
                f"{where}: engine {self.engine!r} does not run on arch {self.arch!r}",
                hint=f"use one of: {', '.join(_ARCH_ENGINES[self.arch])}",
            )
        if not self.formats:
            raise ProfileError(f"{where}: key 'formats' is empty", hint=f"list some of: {', '.join(FORMATS)}")
        for fmt in self.formats:
            _check_choice(where, "formats", fmt, FORMATS)
        for flag in self.isa:
            _check_choice(where, "isa", flag, ISAS)
        if any(not isinstance(cpu, int) or isinstance(cpu, bool) or cpu < 0 for cpu in self.cpus):
            raise ProfileError(f"{where}: key 'cpus' must list CPU numbers ≥ 0, got {list(self.cpus)!r}")
        if isinstance(self.cooldown_s, bool) or not isinstance(self.cooldown_s, (int, float)) or self.cooldown_s < 0:
            raise ProfileError(f"{where}: key 'cooldown_s' must be a number of seconds ≥ 0, got {self.cooldown_s!r}")
        group = self.llm_group_size
        if isinstance(group, bool) or not isinstance(group, int) or group < 16 or group & (group - 1):
            raise ProfileError(f"{where}: key 'llm_group_size' must be a power of two ≥ 16, got {group!r}",
                               hint="32 (the default), 64, 128 or 256: the model's widths must be multiples of it")
        for key in ("cores", "threads"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ProfileError(f"{where}: key {key!r} must be a whole number ≥ 1, got {value!r}")
        if self.runtime == "executor_runner" and self.formats != ("pte",):
            raise ProfileError(f"{where}: runtime 'executor_runner' runs .pte only; set formats = [\"pte\"]")
        if not self.name or not isinstance(self.name, str):
            raise ProfileError(f"{where}: key 'name' must be a non-empty string")

    @property
    def reduce_range(self) -> bool:
        """fbgemm without VNNI saturates int8 products: quantize activations to 7 bits there."""
        return self.arch == "x86_64" and self.engine == "fbgemm" and not (_VNNI & set(self.isa))

    @property
    def native_runner(self) -> str:
        """The device path of the native runner (``runtime = "executor_runner"``)."""
        return self.runner_binary or f"{self.workdir.rstrip('/')}/bin/executor_runner"

    @property
    def default_threads(self) -> int:
        return self.threads or self.cores or 1

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["isa"] = list(self.isa)
        data["formats"] = list(self.formats)
        data["cpus"] = list(self.cpus)
        data["reduce_range"] = self.reduce_range
        return data


_KEYS = {f.name for f in dataclasses.fields(DeviceProfile)} - {"source"}
_REQUIRED = ("name", "arch", "engine", "transport")


def _check_choice(where: str, key: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ProfileError(
            f"{where}: key {key!r} has value {value!r}",
            hint=f"allowed values: {', '.join(allowed)}",
        )


def profiles_dir() -> Path:
    return resource_dir("device_profiles")


def list_profiles() -> list[DeviceProfile]:
    """Every shipped profile, validated, sorted by name."""
    return [load_profile_file(path) for path in sorted(profiles_dir().glob("*.toml"))]


def load_profile(name_or_path: str | os.PathLike[str]) -> DeviceProfile:
    """Load a shipped profile by name (``rpi5``) or a user's TOML file by path."""
    text = str(name_or_path)
    path = Path(text)
    if text.endswith(".toml") or path.exists():
        if not path.is_file():
            raise ProfileError(f"profile file {path} does not exist")
        return load_profile_file(path)
    shipped = profiles_dir() / f"{text}.toml"
    if not shipped.is_file():
        names = ", ".join(p.stem for p in sorted(profiles_dir().glob("*.toml")))
        raise ProfileError(f"no device profile named {text!r}", hint=f"known profiles: {names}; or pass a .toml path")
    return load_profile_file(shipped)


def load_profile_file(path: Path) -> DeviceProfile:
    """Parse and validate one profile file; errors name the file and the key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read: {exc.strerror}") from exc
    return profile_from_dict(data, source=str(path))


def profile_from_dict(data: dict[str, Any], *, source: str = "<dict>") -> DeviceProfile:
    data = dict(data)
    detect = data.pop("detect", False)
    if not isinstance(detect, bool):
        raise ProfileError(f"{source}: key 'detect' must be true or false, got {detect!r}")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise ProfileError(
            f"{source}: unknown key {unknown[0]!r}",
            hint=f"allowed keys: {', '.join(sorted(_KEYS | {'detect'}))}",
        )
    if detect:
        if data.get("transport", "local") != "local":
            raise ProfileError(f"{source}: key 'detect' needs transport = \"local\" (it describes this machine)")
        data = {**describe_host(), **data}
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise ProfileError(f"{source}: missing required key {missing[0]!r}", hint=f"required keys: {', '.join(_REQUIRED)}")
    for key in ("isa", "formats", "cpus"):
        if key in data:
            if not isinstance(data[key], list):
                raise ProfileError(f"{source}: key {key!r} must be a list, got {data[key]!r}")
            data[key] = tuple(data[key])
    for key in ("name", "cpu", "workdir", "python", "runner_binary", "description"):
        if key in data and not isinstance(data[key], str):
            raise ProfileError(f"{source}: key {key!r} must be a string, got {data[key]!r}")
    return DeviceProfile(**data, source=source)


def describe_host() -> dict[str, Any]:
    """The facts of the machine edgeq runs on, in profile keys."""
    machine = platform.machine().lower()
    arch = {"amd64": "x86_64", "arm64": "aarch64", "armv7l": "armv7"}.get(machine, machine)
    isa = _host_isa(arch)
    if arch == "x86_64":
        engine = "x86" if _VNNI & set(isa) else "fbgemm"
    else:
        engine = "qnnpack"
    return {
        "arch": arch,
        "engine": engine,
        "cpu": _host_cpu_name() or platform.processor() or "unknown",
        "cores": os.cpu_count() or 1,
        "isa": isa,
        "python": sys.executable,
    }


_CPUINFO_FLAGS = {
    "sse4_2": "sse4_2", "avx": "avx", "avx2": "avx2", "fma": "fma", "avx512f": "avx512f",
    "avx512_vnni": "avx512_vnni", "avx_vnni": "avx_vnni", "amx_int8": "amx",
    "asimd": "neon", "asimddp": "dotprod", "i8mm": "i8mm", "fphp": "fp16", "sve": "sve", "sve2": "sve2",
}


def _read_cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _host_isa(arch: str) -> list[str]:
    words: set[str] = set()
    for line in _read_cpuinfo().splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            words.update(value.split())
    found = {name for flag, name in _CPUINFO_FLAGS.items() if flag in words}
    if arch == "aarch64":
        found.add("neon")  # mandatory in ARMv8-A
    return [name for name in ISAS if name in found]


def _host_cpu_name() -> str | None:
    return cpu_name(_read_cpuinfo())


# Arm's part numbers (``CPU part`` in /proc/cpuinfo of implementer 0x41), for boards whose kernel names no model.
_ARM_PARTS = {
    "0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57", "0xd08": "Cortex-A72",
    "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76", "0xd0c": "Neoverse-N1", "0xd0d": "Cortex-A77",
    "0xd40": "Neoverse-V1", "0xd41": "Cortex-A78", "0xd44": "Cortex-X1", "0xd46": "Cortex-A510", "0xd47": "Cortex-A710",
    "0xd48": "Cortex-X2", "0xd49": "Neoverse-N2", "0xd4b": "Cortex-A78C", "0xd4d": "Cortex-A715", "0xd4e": "Cortex-X3",
    "0xd4f": "Neoverse-V2", "0xd80": "Cortex-A520", "0xd81": "Cortex-A720", "0xd82": "Cortex-X4",
}


def cpu_name(cpuinfo: str) -> str | None:
    """The CPU a ``/proc/cpuinfo`` text describes: x86's model name; on Arm, the cores by part
    (``4x Cortex-A76``) with the board's model when the kernel names it; None when it says nothing."""
    fields: dict[str, str] = {}
    parts: dict[str, int] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if not sep or not value:
            continue
        fields.setdefault(key, value)
        if key == "CPU part":
            name = _ARM_PARTS.get(value.lower(), f"Arm part {value}")
            parts[name] = parts.get(name, 0) + 1
    board = fields.get("Model") or fields.get("Hardware")
    if "model name" in fields and not parts:
        return fields["model name"]
    if parts:
        cores = " + ".join(f"{count}x {name}" for name, count in parts.items())
        return f"{cores} ({board})" if board else cores
    return board or fields.get("model name")
