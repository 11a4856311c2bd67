"""The measuring half of a run: artifacts on one connected device.

``reach`` asks a device what it is and refuses what it cannot run before anything is pushed;
``DeviceBench`` stages the runner and a ``Workload`` there once, then pushes each artifact (under its
hash, verified, after checking the device's runtime has the kernels it calls) and benchmarks it in a fresh
process, comparing its outputs with the workload's reference outputs. It needs an artifact, its inputs and
the device — not a model: ``edgeq run`` and the lab measure what they built, ``edgeq verify`` measures a
bundle's artifact against the outputs recorded when it was packaged. Python devices and devices with the
native ``executor_runner`` go through the same calls and give the same ``Measured``.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from edgeq.bench import BenchResult, BenchSpec, Staged, run_bench, runner_path, stage_file
from edgeq.bench.native import NativeRunner, native_bench_result
from edgeq.device.probe import DeviceFacts, check_compatible, missing_kernels, probe_device
from edgeq.digest import file_sha256
from edgeq.errors import BenchError
from edgeq.export import Artifact
from edgeq.export.manifest import toolchain_versions
from edgeq.numerics import compare_outputs
from edgeq.profiles import DeviceProfile
from edgeq.transport import DeviceAddress, Transport


@dataclass
class Target:
    """A connected device that was asked what it is and can run the artifacts."""

    transport: Transport
    name: str
    workdir: str
    facts: DeviceFacts
    warnings: list[str]
    profile: DeviceProfile


def reach(transport: Transport, profile: DeviceProfile, fmt: str, device: DeviceAddress | str | None,
          say: Callable[[str], None]) -> Target:
    """Probe the device and refuse, before any model is loaded or file pushed, what it cannot run."""
    workdir = transport.expand(profile.workdir)
    say("asking the device what it is")
    facts = probe_device(transport, profile, workdir)
    warnings = check_compatible(profile, fmt, facts, toolchain_versions())
    return Target(transport, str(device) if device is not None else profile.name, workdir, facts, warnings, profile)


def push_artifact(target: Target, artifact: Artifact) -> Staged:
    """The artifact on the device under its hash: pushed (verified) only when the device lacks it.

    Raises ``BenchError`` before pushing when the device's runtime lacks a kernel the artifact calls.
    """
    needed = (artifact.manifest.data.get("backend") or {}).get("needs_kernels") or []
    profile = target.profile
    missing = missing_kernels(target.transport, profile, target.facts, needed) if needed else []
    if missing:
        runtime = ("the executor_runner at " + profile.native_runner if profile.runtime == "executor_runner"
                   else f"ExecuTorch {target.facts.executorch or '?'} under {profile.python}")
        language = any(kernel.startswith("llama::") for kernel in missing)
        raise BenchError(f"the device's runtime ({runtime}) lacks {', '.join(missing)}, which this artifact calls "
                         "outside XNNPACK (" + ("a language model's KV cache and attention" if language
                                                else "int8 embedding tables") + "): not pushed",
                         hint="install ExecuTorch with its LLM operators (executorch.extension.llm.custom_ops), or build "
                              "executor_runner with EXECUTORCH_BUILD_KERNELS_LLM=ON" if language else
                              "build executor_runner with the quantized kernels (EXECUTORCH_BUILD_KERNELS_QUANTIZED=ON), "
                              "or keep embedding tables fp32 (--fp32-embeddings)")
    return stage_file(target.transport, artifact.path, target.workdir, "artifacts", artifact.sha256, f".{artifact.format}")


@dataclass(frozen=True)
class Workload:
    """What an artifact is measured on: the inputs it is timed on, the samples its outputs are checked on, and
    the outputs those samples should give (the eager model's in a run, the recorded ones in a bundle)."""

    example: tuple[Any, ...]
    check: Sequence[tuple[Any, ...]]
    reference: Sequence[Sequence[torch.Tensor]]

    def save(self, folder: Path) -> tuple[Path, Path]:
        """The timing inputs and the check samples as files for the Python runner: (inputs.pt, check.pt)."""
        inputs, check = folder / "inputs.pt", folder / "check.pt"
        torch.save(tuple(self.example), inputs)
        torch.save(list(self.check), check)
        return inputs, check


@dataclass
class Measured:
    """One artifact measured on the device, with its outputs on the check samples and how far they are from the
    reference outputs."""

    bench: BenchResult
    numerics: dict[str, float] | None  # cosine, max_abs_err, samples against ``Workload.reference``
    remeasured: bool  # the first measurement was noisy (CV ≥ 10 %); this is the steadier of two
    staged: Staged  # where the artifact is on the device, and whether this measurement pushed it

    @property
    def outputs(self) -> list[list[Any]]:
        return self.bench.check_outputs or []


def label(artifact: Artifact) -> str:
    """``int8-static .pte``: how progress lines name an artifact."""
    return f"{artifact.manifest.data.get('variant', artifact.sha256[:12])} .{artifact.format}"


class DeviceBench:
    """The runner and one workload staged on a device; measures artifacts of that workload there."""

    def __init__(self, target: Target, workload: Workload, spec: BenchSpec, scratch: Path,
                 say: Callable[[str], None] | None = None, *, remeasure_noisy: bool = True,
                 runner: Path | None = None) -> None:
        """``remeasure_noisy``: measure once more when the spread is ≥ 10 % and keep the steadier (``edgeq run``);
        the lab keeps every measurement as taken and lets its statistics judge the noise. ``runner``: the
        device-side runner to push (a bundle's own); edgeq's by default."""
        self.target, self.workload, self.spec, self.scratch = target, workload, spec, scratch
        self.remeasure_noisy = remeasure_noisy
        self.transport, self.workdir, self.profile = target.transport, target.workdir, target.profile
        self.say = say or (lambda message: None)
        self.measured_before = False
        if self.profile.runtime == "executor_runner":
            self.native = NativeRunner(self.transport, self.transport.expand(self.profile.native_runner), self.workdir)
            return
        self.say("staging runner and inputs on the device")
        local_runner = runner or runner_path()
        self.runner = stage_file(self.transport, local_runner, self.workdir, "runner", file_sha256(local_runner), ".py").path
        inputs, check = workload.save(scratch)
        self.remote_inputs = self._stage_input(inputs)
        self.check_digest = file_sha256(check)
        self.remote_check = self._stage_input(check)

    def _stage_input(self, local: Path) -> str:
        return stage_file(self.transport, local, self.workdir, "inputs", file_sha256(local), ".pt").path

    def measure(self, artifact: Artifact) -> Measured:
        """Push the artifact (verified, after the kernel check), benchmark it (once more when the first measurement
        is noisy) and compare its outputs with the workload's reference.

        Raises ``BenchError`` when the device cannot run it, the runner fails or the outputs do not match the
        reference's shapes; transport errors pass through.
        """
        name = label(artifact)
        self.say(f"pushing {name} ({artifact.size_bytes / 1024:.0f} KiB)")
        staged = push_artifact(self.target, artifact)
        bench_spec = self.spec
        if self.measured_before and self.profile.cooldown_s:
            self.say(f"cooling down {self.profile.cooldown_s:g} s")
            time.sleep(self.profile.cooldown_s)
        self.measured_before = True
        self.say(f"benchmarking {name}: {bench_spec.warmup} warmup + {bench_spec.runs} runs, {bench_spec.threads} thread(s)")
        bench = self._bench(artifact, staged.path, check=True)
        remeasured = False
        if bench.latency.noisy and self.remeasure_noisy:
            self.say(f"{name}: latency spread {bench.latency.cv:.0%} ≥ 10 %, measuring once more")
            again = self._bench(artifact, staged.path, check=False)
            remeasured = True
            if again.latency.cv < bench.latency.cv:
                bench = dataclasses.replace(again, check_outputs=bench.check_outputs)
        outputs = bench.check_outputs or []
        try:
            numerics = compare_outputs(self.workload.reference, outputs) if outputs else None
        except ValueError as exc:
            raise BenchError(f"{name} outputs do not match the reference outputs: {exc}") from exc
        return Measured(bench, numerics, remeasured, staged)

    def _bench(self, artifact: Artifact, remote_artifact: str, *, check: bool) -> BenchResult:
        """One fresh measurement on the device: the Python runner, or the native executor_runner."""
        bench_spec, workload = self.spec, self.workload
        if self.profile.runtime == "executor_runner":
            timing = self.native.time(remote_artifact, workload.example, warmup=bench_spec.warmup, runs=bench_spec.runs,
                                      threads=bench_spec.threads, cpus=bench_spec.cpus, timeout_s=bench_spec.timeout_s)
            outputs = self.native.outputs(remote_artifact, workload.check, workload.reference, threads=bench_spec.threads,
                                          timeout_s=bench_spec.timeout_s) if check else None
            return native_bench_result(timing, arch=self.target.facts.machine or self.profile.arch,
                                       threads=bench_spec.threads, binary=self.native.binary, check_outputs=outputs)
        # named for this measurement: two devices may share a home, and one must never read the other's outputs
        remote_out = f"{self.workdir}/outputs/{artifact.sha256[:16]}-{self.check_digest[:16]}-{secrets.token_hex(4)}.pt"
        return run_bench(self.transport, python=self.profile.python, runner=self.runner, artifact=remote_artifact,
                         fmt=artifact.format, engine=artifact.manifest.data.get("engine"), inputs=self.remote_inputs,
                         spec=bench_spec, check=self.remote_check if check else None,
                         check_out=remote_out if check else None,
                         local_check_out=self.scratch / f"out-{artifact.sha256[:16]}.pt" if check else None)
