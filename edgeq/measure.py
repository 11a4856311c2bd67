"""The measuring half of a run: artifacts on one connected device.

``reach`` asks a device what it is and refuses what it cannot run before anything is pushed;
``DeviceBench`` stages the runner and a model's inputs there once, then pushes each artifact
(under its hash, verified) and benchmarks it in a fresh process, checking its outputs against the
eager model's (``ModelBuild.reference``). ``edgeq run`` judges the measurements against a budget;
the lab stores them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeq.bench import BenchResult, BenchSpec, Staged, run_bench, stage_file, stage_runner
from edgeq.bench.native import NativeRunner, native_bench_result
from edgeq.build import ModelBuild
from edgeq.device.probe import DeviceFacts, check_compatible, missing_kernels, probe_device
from edgeq.digest import file_sha256
from edgeq.errors import BenchError, ModelError, summarize
from edgeq.export import Artifact
from edgeq.export.manifest import toolchain_versions
from edgeq.numerics import compare_outputs
from edgeq.profiles import DeviceProfile
from edgeq.quantize import QuantSpec
from edgeq.transport import DeviceAddress, Transport

_FP32_COSINE_WARN = 0.999  # an fp32 artifact further than this from the eager model changed the model's math


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
        raise BenchError(f"the device's runtime ({runtime}) lacks {', '.join(missing)}, which this artifact calls "
                         "outside XNNPACK (int8 embedding tables): not pushed",
                         hint="build executor_runner with the quantized kernels (EXECUTORCH_BUILD_KERNELS_QUANTIZED=ON), "
                              "or keep embedding tables fp32 (--fp32-embeddings)")
    return stage_file(target.transport, artifact.path, target.workdir, "artifacts", artifact.sha256, f".{artifact.format}")


@dataclass
class Measured:
    """One artifact measured on the device, with its outputs compared to the eager model's."""

    bench: BenchResult
    numerics: dict[str, float] | None
    accuracy: dict[str, Any] | None
    quality: float | None
    remeasured: bool  # the first measurement was noisy (CV ≥ 10 %); this is the steadier of two
    warnings: list[str] = field(default_factory=list)


class DeviceBench:
    """The runner and one model's inputs staged on a device; measures that model's artifacts there."""

    def __init__(self, target: Target, build: ModelBuild, spec: BenchSpec, scratch: Path,
                 say: Callable[[str], None] | None = None, *, remeasure_noisy: bool = True) -> None:
        """``remeasure_noisy``: measure once more when the spread is ≥ 10 % and keep the steadier (``edgeq run``);
        the lab keeps every measurement as taken and lets its statistics judge the noise."""
        self.target, self.build, self.spec, self.scratch = target, build, spec, scratch
        self.remeasure_noisy = remeasure_noisy
        self.transport, self.workdir, self.profile = target.transport, target.workdir, build.profile
        self.say = say or (lambda message: None)
        self.measured_before = False
        if self.profile.runtime == "executor_runner":
            self.native = NativeRunner(self.transport, self.transport.expand(self.profile.native_runner), self.workdir)
            return
        self.say("staging runner and inputs on the device")
        self.runner = stage_runner(self.transport, self.workdir)
        inputs, check = build.save_inputs(scratch)
        self.remote_inputs = self._stage_input(inputs)
        self.check_digest = file_sha256(check)
        self.remote_check = self._stage_input(check)

    def _stage_input(self, local: Path) -> str:
        return stage_file(self.transport, local, self.workdir, "inputs", file_sha256(local), ".pt").path

    def measure(self, spec: QuantSpec, artifact: Artifact, remote_artifact: str) -> Measured:
        """Benchmark the pushed artifact (once more when the first measurement is noisy) and score its outputs.

        Raises ``BenchError`` when the runner fails or the outputs do not match the model's;
        transport errors pass through.
        """
        bench_spec = self.spec
        if self.measured_before and self.profile.cooldown_s:
            self.say(f"cooling down {self.profile.cooldown_s:g} s")
            time.sleep(self.profile.cooldown_s)
        self.measured_before = True
        self.say(f"benchmarking {spec.variant} .{spec.format}: {bench_spec.warmup} warmup + {bench_spec.runs} runs, "
                 f"{bench_spec.threads} thread(s)")
        bench = self._bench(spec, artifact, remote_artifact, check=True)
        remeasured = False
        if bench.latency.noisy and self.remeasure_noisy:
            self.say(f"{spec.variant}: latency spread {bench.latency.cv:.0%} ≥ 10 %, measuring once more")
            again = self._bench(spec, artifact, remote_artifact, check=False)
            remeasured = True
            if again.latency.cv < bench.latency.cv:
                bench = dataclasses.replace(again, check_outputs=bench.check_outputs)
        outputs = bench.check_outputs or []
        try:
            numerics = compare_outputs(self.build.reference, outputs) if outputs else None
        except ValueError as exc:
            raise BenchError(f"{spec.variant} .{spec.format} outputs do not match the model's: {exc}") from exc
        warnings = []
        if spec.scheme == "none" and numerics and numerics["cosine"] < _FP32_COSINE_WARN:
            warnings.append(f"fp32 .{spec.format} differs from the eager model (cosine {numerics['cosine']:.4f}, "
                            f"max error {numerics['max_abs_err']:.3g}): the export changed the model's math")
        accuracy = _accuracy(self.build, outputs, artifact)
        return Measured(bench, numerics, accuracy, self._quality(accuracy, outputs), remeasured, warnings)

    def _quality(self, accuracy: dict[str, Any] | None, outputs: list[list[Any]]) -> float | None:
        from edgeq import metrics

        if self.build.metric.name == "accuracy":
            return accuracy["value"] if accuracy else None
        return metrics.score_outputs(self.build.metric, self.build.loaded, self.build.reference, outputs) if outputs else None

    def _bench(self, spec: QuantSpec, artifact: Artifact, remote_artifact: str, *, check: bool) -> BenchResult:
        """One fresh measurement on the device: the Python runner, or the native executor_runner."""
        bench_spec, build = self.spec, self.build
        if self.profile.runtime == "executor_runner":
            timing = self.native.time(remote_artifact, build.loaded.example_inputs, warmup=bench_spec.warmup,
                                      runs=bench_spec.runs, threads=bench_spec.threads, cpus=bench_spec.cpus,
                                      timeout_s=bench_spec.timeout_s)
            outputs = self.native.outputs(remote_artifact, build.check_inputs, build.reference, threads=bench_spec.threads,
                                          timeout_s=bench_spec.timeout_s) if check else None
            return native_bench_result(timing, arch=self.target.facts.machine or self.profile.arch,
                                       threads=bench_spec.threads, binary=self.native.binary, check_outputs=outputs)
        remote_out = f"{self.workdir}/outputs/{artifact.sha256[:16]}-{self.check_digest[:16]}.pt"
        return run_bench(self.transport, python=self.profile.python, runner=self.runner, artifact=remote_artifact,
                         fmt=spec.format, engine=spec.engine, inputs=self.remote_inputs, spec=bench_spec,
                         check=self.remote_check if check else None, check_out=remote_out if check else None,
                         local_check_out=self.scratch / f"out-{artifact.sha256[:16]}.pt" if check else None)


def _accuracy(build: ModelBuild, outputs: list[list[Any]], artifact: Artifact) -> dict[str, Any] | None:
    loaded = build.loaded
    if loaded.eval_set is not None and outputs:
        return {"metric": loaded.eval_set.metric, "value": loaded.eval_set.score(outputs), "samples": len(outputs)}
    if loaded.evaluator is not None:
        from edgeq.export.host_runtime import load_forward

        try:
            value = float(loaded.evaluator(load_forward(artifact.path, artifact.format, artifact.manifest.data.get("engine"))))
        except Exception as exc:  # noqa: BLE001 - user evaluation code
            raise ModelError(f"{loaded.name}: the evaluation function raised {summarize(exc)}") from exc
        return {"metric": "user", "value": value, "evaluated_on": "host"}
    return None
