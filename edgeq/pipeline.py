"""The run pipeline: load → prepare → quantize+export (cached) → stage on the device → bench → judge.

``run`` is what ``edgeq run`` calls; it returns a ``RunResult`` whose
``to_dict`` is the run-result contract of DESIGN.md.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from edgeq import metrics
from edgeq.bench import BenchResult, BenchSpec, Staged, run_bench, stage_file, stage_runner
from edgeq.bench.native import NativeRunner, native_bench_result
from edgeq.cache import cache_dir
from edgeq.errors import BenchError, ConfigError, EdgeqError, ExportError, ModelError, QuantizationError, summarize
from edgeq.export import Artifact, ArtifactCache, build_artifact, file_sha256
from edgeq.export.manifest import toolchain_versions
from edgeq.inspection import check_samples, sensitivity_ranking
from edgeq.lab.probe import DeviceFacts, check_compatible, governor_and_temperature, probe_device
from edgeq.metrics import Metric, resolve_metric
from edgeq.models import LoadedModel, load_model
from edgeq.models.tracing import prepare_for_tracing, user_name
from edgeq.models.types import Training
from edgeq.numerics import compare_outputs, flatten_outputs
from edgeq.profiles import DeviceProfile
from edgeq.quantize import OBSERVERS, QuantSpec, choose_scheme
from edgeq.quantize.spec import SCHEME_CHOICES, other_scheme
from edgeq.results import DeployResult, FailedVariant, RunResult, VariantResult, write_out_dir
from edgeq.selection import Budget, Candidate, choose
from edgeq.transport import DeviceAddress, Transport, open_transport

log = logging.getLogger(__name__)

_MAX_CHECK_SAMPLES = 512
_MAX_NATIVE_CHECK_SAMPLES = 128  # the native runner takes one process per sample
_MIXED_COUNTS = (1, 2, 4)  # how many of the most sensitive layers to keep in float, trial by trial
_FP32_COSINE_WARN = 0.999  # an fp32 artifact further than this from the eager model changed the model's math
_BUILD_ERRORS = (QuantizationError, ExportError, ModelError)


class _CandidateFailed(Exception):
    """A candidate failed at ``stage`` with ``error``: recorded as a finding, and the run goes on."""

    def __init__(self, stage: str, error: EdgeqError) -> None:
        super().__init__(error.message)
        self.stage, self.error = stage, error


def _build_stage(exc: EdgeqError) -> str:
    return "quantize" if isinstance(exc, QuantizationError) else "export"


@dataclass(frozen=True)
class RunOptions:
    """How to run: the scheme (``auto`` searches), the budget, and how to time.

    ``max_drop`` is in the unit of ``metric`` (points for accuracy and
    top-1 agreement, absolute for cosine); ``None`` uses the metric's default
    and does not fail the run when no int8 variant meets it.
    """

    scheme: str = "auto"
    format: str | None = None
    runs: int = 50
    warmup: int = 5
    threads: int | None = None  # None: the profile's threads
    timeout_s: float = 900.0
    min_time_s: float = 0.0  # time each variant at least this long (past ``runs``)
    out_dir: Path | None = None
    max_drop: float | None = None
    metric: str | None = None
    observer: str = "histogram"
    allow_qat: bool = True

    def __post_init__(self) -> None:
        if self.scheme not in SCHEME_CHOICES:
            raise ConfigError(f"unknown scheme {self.scheme!r}", hint=f"use one of: {', '.join(SCHEME_CHOICES)}")
        if self.max_drop is not None and self.max_drop < 0:
            raise ConfigError(f"--max-drop must be ≥ 0, got {self.max_drop}")
        if self.observer not in OBSERVERS:
            raise ConfigError(f"unknown observer {self.observer!r}", hint=f"use one of: {', '.join(OBSERVERS)}")
        BenchSpec(runs=self.runs, warmup=self.warmup, threads=self.threads or 1, timeout_s=self.timeout_s,
                  min_time_s=self.min_time_s)


Progress = Callable[[str], None]


def _format(profile: DeviceProfile, options: RunOptions) -> str:
    fmt = options.format or profile.formats[0]
    if fmt not in profile.formats:
        raise ConfigError(f"profile {profile.name!r} does not run .{fmt} artifacts", hint=f"it runs: {', '.join(profile.formats)}")
    return fmt


def _save(obj: Any, path: Path) -> str:
    torch.save(obj, path)
    return file_sha256(path)


def run(source: str | LoadedModel, profile: DeviceProfile, options: RunOptions | None = None, *,
        device: DeviceAddress | None = None, transport: Transport | None = None, training: Training | None = None,
        progress: Progress | None = None) -> RunResult:
    """Quantize, export, run and judge ``source`` on the device ``profile`` describes.

    ``device`` is the instance to reach (``ssh://…``, ``adb://…``); without it the
    profile must be a local one. A ready ``transport`` may be passed instead.
    ``training`` (a ``TrainSet`` or a loop ``train(model)``) enables quantization-aware
    training for models whose source brings none.
    """
    options = options or RunOptions()
    say = progress or (lambda message: None)
    fmt = _format(profile, options)
    owned = transport is None
    if owned and device is not None:
        say(f"connecting to {device}")
    transport = transport or open_transport(profile.transport, device)
    try:
        target = _reach(transport, profile, fmt, device, say)
        say(f"loading {source if isinstance(source, str) else source.name}")
        loaded = load_model(source) if isinstance(source, str) else source
        if training is not None:
            loaded.training = training
        session = _Session(loaded, profile, options, fmt, target, say)
        with tempfile.TemporaryDirectory(prefix="edgeq-run-") as scratch:
            return session.run(Path(scratch))
    finally:
        if owned:
            transport.close()


def deploy(source: str | LoadedModel, profile: DeviceProfile, options: RunOptions | None = None, *,
           device: DeviceAddress | None = None, transport: Transport | None = None,
           progress: Progress | None = None) -> DeployResult:
    """Build the fp32 and int8 artifacts (``options.scheme``; auto = the expected-fastest) and push them, verified."""
    options = options or RunOptions()
    say = progress or (lambda message: None)
    fmt = _format(profile, options)
    owned = transport is None
    transport = transport or open_transport(profile.transport, device)
    try:
        target = _reach(transport, profile, fmt, device, say)
        loaded = load_model(source) if isinstance(source, str) else source
        return _Session(loaded, profile, options, fmt, target, say).deploy()
    finally:
        if owned:
            transport.close()


@dataclass
class _Target:
    """A connected device that was asked what it is and can run the artifacts."""

    transport: Transport
    name: str
    workdir: str
    facts: DeviceFacts
    warnings: list[str]


def _reach(transport: Transport, profile: DeviceProfile, fmt: str, device: DeviceAddress | None, say: Progress) -> _Target:
    """Probe the device and refuse, before any model is loaded or file pushed, what it cannot run."""
    workdir = transport.expand(profile.workdir)
    say("asking the device what it is")
    facts = probe_device(transport, profile, workdir)
    warnings = check_compatible(profile, fmt, facts, toolchain_versions())
    return _Target(transport, str(device) if device is not None else profile.name, workdir, facts, warnings)


class _Session:
    """One run: the model's references, the device's staged files, and the variants measured so far."""

    def __init__(self, loaded: LoadedModel, profile: DeviceProfile, options: RunOptions, fmt: str,
                 target: _Target, say: Progress) -> None:
        self.loaded, self.profile, self.options, self.fmt, self.say = loaded, profile, options, fmt, say
        self.target, self.transport, self.workdir = target, target.transport, target.workdir
        self.facts, self.warnings = target.facts, target.warnings
        self.prepared = prepare_for_tracing(loaded.model, loaded.keywords)
        self.cache = ArtifactCache(cache_dir() / "artifacts")
        self.bench_spec = BenchSpec(runs=options.runs, warmup=options.warmup,
                                    threads=options.threads or profile.default_threads, timeout_s=options.timeout_s,
                                    min_time_s=options.min_time_s, cpus=profile.cpus)
        self.results: list[VariantResult] = []
        self.failures: list[FailedVariant] = []
        self.errors: list[EdgeqError] = []  # the failures' errors, for the message when nothing could be built
        self.search: list[str] = []
        self.notices: list[str] = []
        # the format asked for first; the profile's others are tried when a candidate fails in it (unless pinned)
        self.formats = [fmt] + ([f for f in profile.formats if f != fmt] if options.format is None else [])

    def spec(self, scheme: str, fmt: str | None = None, **overrides: Any) -> QuantSpec:
        return QuantSpec(scheme=scheme, engine=self.profile.engine, format=fmt or self.fmt,
                         reduce_range=self.profile.reduce_range, observer=self.options.observer, **overrides)

    def run(self, scratch: Path) -> RunResult:
        loaded = self.loaded
        with torch.no_grad():
            try:
                example_outputs = flatten_outputs(self.prepared(*loaded.example_inputs))
            except Exception as exc:  # noqa: BLE001 - user model code
                raise ModelError(f"{loaded.name}: the model fails on its own example inputs: {summarize(exc)}",
                                 hint="check that the example inputs match forward()") from exc
        if not example_outputs:
            raise ModelError(f"{loaded.name}: the model returns no tensors")
        self.check_inputs = check_samples(loaded, _MAX_CHECK_SAMPLES if loaded.eval_set or loaded.check_inputs else 32)
        with torch.no_grad():
            self.reference = [flatten_outputs(self.prepared(*sample)) for sample in self.check_inputs]
        self.metric = resolve_metric(self.options.metric, loaded, self.reference)
        self._stage(scratch)

        fp32 = self._baseline()
        reference_value = metrics.reference_value(self.metric, fp32.quality)
        enforced = self.options.max_drop is not None
        self.budget = Budget(self.metric, self.metric.default_max_drop if not enforced else float(self.options.max_drop),
                             reference_value, enforced)
        if self.options.scheme == "auto":
            self._search()
        elif self.options.scheme != "none":
            self._first_that_builds([self.options.scheme], f"--scheme {self.options.scheme}")
        labels = {self.label(r): r for r in self.results}
        chosen, why = choose([Candidate(label, r.bench.latency, r.artifact.size_bytes, r.within_budget, r.budget_note)
                              for label, r in labels.items()])
        governor, temperature = governor_and_temperature(self.transport)
        result = RunResult(model=loaded.name, profile=self.profile, transport=self.transport.name, results=self.results,
                           chosen={"variant": labels[chosen].spec.variant, "format": labels[chosen].spec.format,
                                   "reason": why},
                           budget=self.budget, search=self.search, out_dir=self.options.out_dir, address=self.target.name,
                           conditions={"governor": self.facts.governor, "governor_after": governor,
                                       "temperature_c": self.facts.temperature_c, "temperature_c_after": temperature,
                                       "free_bytes": self.facts.free_bytes, "warnings": self.warnings},
                           failures=self.failures, warnings=self.notices)
        if self.options.out_dir is not None:
            write_out_dir(result, self.options.out_dir)
        return result

    def deploy(self) -> DeployResult:
        if self.profile.runtime == "executor_runner":
            runner = self.facts.native_runner or self.profile.native_runner  # the device's own binary
        else:
            runner = stage_runner(self.transport, self.workdir)
        if self.options.scheme == "auto":
            scheme, _ = choose_scheme(self.prepared)
        else:
            scheme = self.options.scheme
        specs = [self.spec("none")] + ([] if scheme == "none" else [self.spec(scheme)])
        artifacts, failed = [], []
        for spec in specs:
            try:
                artifact, staged = self._build_and_push(spec)
            except _BUILD_ERRORS as exc:
                if spec.scheme == "none":  # without fp32 there is nothing to deploy
                    raise
                failed.append(FailedVariant(spec, _build_stage(exc), exc.message, f"--scheme {self.options.scheme}"))
                continue
            artifacts.append({"variant": spec.variant, "format": spec.format, "local": str(artifact.path),
                              "remote": staged.path, "sha256": artifact.sha256, "size_bytes": artifact.size_bytes,
                              "pushed": staged.pushed})
        return DeployResult(self.target.name, self.workdir, runner, artifacts, self.warnings, failed)

    def _build_and_push(self, spec: QuantSpec) -> tuple[Artifact, Staged]:
        """The artifact for ``spec`` (from the cache when built before), on the device under its hash."""
        self.say(f"building {spec.variant} .{spec.format}")
        artifact = build_artifact(self.loaded, self.prepared, spec, self.cache, self.profile.name, say=self.say)
        self.say(f"pushing {spec.variant} .{spec.format} ({artifact.size_bytes / 1024:.0f} KiB)")
        staged = stage_file(self.transport, artifact.path, self.workdir, "artifacts", artifact.sha256, f".{spec.format}")
        return artifact, staged

    def _stage(self, scratch: Path) -> None:
        self.scratch = scratch
        if self.profile.runtime == "executor_runner":
            self.native = NativeRunner(self.transport, self.transport.expand(self.profile.native_runner), self.workdir)
            self.check_inputs = self.check_inputs[:_MAX_NATIVE_CHECK_SAMPLES]
            self.reference = self.reference[:_MAX_NATIVE_CHECK_SAMPLES]
            return
        self.say("staging runner and inputs on the device")
        self.runner = stage_runner(self.transport, self.workdir)
        inputs_digest = _save(self.loaded.example_inputs, scratch / "inputs.pt")
        self.remote_inputs = stage_file(self.transport, scratch / "inputs.pt", self.workdir, "inputs", inputs_digest, ".pt").path
        self.check_digest = _save(self.check_inputs, scratch / "check.pt")
        self.remote_check = stage_file(self.transport, scratch / "check.pt", self.workdir, "inputs", self.check_digest,
                                       ".pt").path

    def _bench(self, spec: QuantSpec, artifact: Artifact, remote_artifact: str, *, check: bool) -> BenchResult:
        """One fresh measurement on the device: the Python runner, or the native executor_runner."""
        spec_b = self.bench_spec
        if self.profile.runtime == "executor_runner":
            timing = self.native.time(remote_artifact, self.loaded.example_inputs, warmup=spec_b.warmup, runs=spec_b.runs,
                                      threads=spec_b.threads, cpus=spec_b.cpus, timeout_s=spec_b.timeout_s)
            outputs = self.native.outputs(remote_artifact, self.check_inputs, self.reference, threads=spec_b.threads,
                                          timeout_s=spec_b.timeout_s) if check else None
            return native_bench_result(timing, arch=self.facts.machine or self.profile.arch, threads=spec_b.threads,
                                       binary=self.native.binary, check_outputs=outputs)
        remote_out = f"{self.workdir}/outputs/{artifact.sha256[:16]}-{self.check_digest[:16]}.pt"
        return run_bench(self.transport, python=self.profile.python, runner=self.runner, artifact=remote_artifact,
                         fmt=spec.format, engine=spec.engine, inputs=self.remote_inputs, spec=spec_b,
                         check=self.remote_check if check else None, check_out=remote_out if check else None,
                         local_check_out=self.scratch / f"out-{spec.variant}.pt" if check else None)

    def label(self, result: VariantResult | FailedVariant) -> str:
        """The variant's name, with its format when that is not the float baseline's."""
        base = self.results[0].spec.format if self.results else self.fmt
        return result.spec.variant if result.spec.format == base else f"{result.spec.variant} .{result.spec.format}"

    def attempt(self, spec: QuantSpec, reason: str) -> VariantResult | None:
        """``measure``, with a candidate that cannot be built or run recorded as a finding (None) instead of
        ending the run. Device and connection failures still end it."""
        try:
            return self.measure(spec, reason)
        except _CandidateFailed as failed:
            failure = FailedVariant(spec, failed.stage, failed.error.message, reason)
            log.debug("%s", failure.note, exc_info=failed.error)
            self.failures.append(failure)
            self.errors.append(failed.error)
            self.search.append(failure.note)
            self.say(failure.note)
            return None

    def _baseline(self) -> VariantResult:
        """fp32 in the first format that builds and runs; when none does, the run has nothing to report."""
        for fmt in self.formats:
            tried = "" if not self.failures else f" (fp32 {', '.join(f.label for f in self.failures)} failed)"
            fp32 = self.attempt(self.spec("none", fmt), "float reference" + tried)
            if fp32 is not None:
                return fp32
        first = self.errors[0]
        tried = " and ".join(f".{fmt}" for fmt in self.formats)
        hint = first.hint if isinstance(first, ModelError) and first.hint else (
            "the float model itself fails, so no int8 variant can be built from it; --debug shows each trace")
        raise type(first)(f"{self.loaded.name}: no variant could be built (fp32 tried as {tried}): "
                          + "; ".join(f"{f.label} at {f.stage}: {f.error}" for f in self.failures), hint=hint)

    def _candidates(self, schemes: list[str]) -> list[QuantSpec]:
        """Each scheme in each format, in order; dynamic .pte also through torchao after the PT2E graph."""
        specs = []
        for fmt in self.formats:
            for scheme in schemes:
                specs.append(self.spec(scheme, fmt))
                if scheme == "dynamic" and fmt == "pte":
                    specs.append(self.spec(scheme, fmt, flow="torchao"))
        return specs

    def _first_that_builds(self, schemes: list[str], reason: str) -> VariantResult | None:
        """The first candidate of ``schemes`` that builds and runs; each failure is recorded on the way."""
        for spec in self._candidates(schemes):
            failed = [f.label for f in self.failures if f.spec.scheme != "none"]
            why = reason if not failed else f"{reason}; after {', '.join(failed)} failed"
            if spec.flow == "torchao":
                why += ": torchao quantize_ on the eager Linear layers before export"
            result = self.attempt(spec, why)
            if result is not None:
                return result
        self.search.append("no int8 variant could be built: " + ", ".join(
            f.label for f in self.failures if f.spec.scheme != "none") + " failed; fp32 is what can ship")
        return None

    def measure(self, spec: QuantSpec, reason: str) -> VariantResult:
        """Build ``spec``'s artifact, run it on the device, and judge it against the budget.

        Raises ``_CandidateFailed`` when the candidate cannot be built, or fails or gives wrong-shaped
        outputs on the device; transport errors pass through.
        """
        try:
            artifact, staged = self._build_and_push(spec)
        except _BUILD_ERRORS as exc:
            raise _CandidateFailed(_build_stage(exc), exc) from exc
        try:
            return self._run_and_judge(spec, artifact, staged.path, reason)
        except (BenchError, ModelError) as exc:
            raise _CandidateFailed("run", exc) from exc

    def _run_and_judge(self, spec: QuantSpec, artifact: Artifact, remote_artifact: str, reason: str) -> VariantResult:
        spec_b = self.bench_spec
        if self.results and self.profile.cooldown_s:
            self.say(f"cooling down {self.profile.cooldown_s:g} s")
            time.sleep(self.profile.cooldown_s)
        self.say(f"benchmarking {spec.variant} .{spec.format}: {spec_b.warmup} warmup + {spec_b.runs} runs, {spec_b.threads} thread(s)")
        bench = self._bench(spec, artifact, remote_artifact, check=True)
        remeasured = False
        if bench.latency.noisy:
            self.say(f"{spec.variant}: latency spread {bench.latency.cv:.0%} ≥ 10 %, measuring once more")
            again = self._bench(spec, artifact, remote_artifact, check=False)
            remeasured = True
            if again.latency.cv < bench.latency.cv:
                bench = dataclasses.replace(again, check_outputs=bench.check_outputs)
        outputs = bench.check_outputs or []
        try:
            numerics = compare_outputs(self.reference, outputs) if outputs else None
        except ValueError as exc:
            raise BenchError(f"{spec.variant} .{spec.format} outputs do not match the model's: {exc}") from exc
        if spec.scheme == "none" and numerics and numerics["cosine"] < _FP32_COSINE_WARN:
            self.notices.append(f"fp32 .{spec.format} differs from the eager model (cosine {numerics['cosine']:.4f}, "
                                f"max error {numerics['max_abs_err']:.3g}): the export changed the model's math")
        accuracy = _accuracy(self.loaded, outputs, artifact)
        result = VariantResult(spec, artifact, bench, accuracy, numerics, reason, quality=self._quality(accuracy, outputs),
                               remeasured=remeasured)
        if spec.scheme != "none":
            result.within_budget, result.budget_note = self.budget.judge(result.quality)
        self.results.append(result)
        return result

    def _quality(self, accuracy: dict[str, Any] | None, outputs: list[list[torch.Tensor]]) -> float | None:
        if self.metric.name == "accuracy":
            return accuracy["value"] if accuracy else None
        return metrics.score_outputs(self.metric, self.loaded, self.reference, outputs) if outputs else None

    def _search(self) -> None:
        """Try the expected-fastest scheme (the other one, then the other format, when it cannot be built);
        when it misses the budget, keep its worst layers in float, then QAT."""
        expected, reason = choose_scheme(self.prepared)
        first = self._first_that_builds([expected, other_scheme(expected)], reason)
        if first is None:
            return
        scheme, fmt = first.spec.scheme, first.spec.format
        self.search.append(f"{self.label(first)}: {first.budget_note}")
        if first.within_budget:
            return
        self.say("ranking layers by sensitivity (only one layer int8 at a time)")
        samples = self.check_inputs[:_sensitivity_samples(self.metric)]
        try:
            ranking = sensitivity_ranking(self.loaded, self.prepared, self.spec(scheme, fmt), self.metric, samples, self.say)
        except _BUILD_ERRORS as exc:
            self.search.append(f"mixed precision not tried: ranking the layers failed: {exc.message}")
            ranking = []
        if ranking:
            self.search.append("most sensitive layers: " + ", ".join(
                f"{user_name(layer)} ({metrics.format_value(self.metric, -drop)}, output error {error:.2g})"
                for layer, drop, error in ranking[:5]))
        for count in sorted({min(count, len(ranking)) for count in _MIXED_COUNTS} - {0}):
            kept = tuple(layer for layer, _, _ in ranking[:count])
            trial = self.attempt(dataclasses.replace(first.spec, float_layers=kept),
                                 f"mixed precision: the {count} most sensitive layer(s) stay fp32")
            if trial is None:
                continue
            self.search.append(f"{self.label(trial)} (fp32: {', '.join(user_name(k) for k in kept)}): {trial.budget_note}")
            if trial.within_budget:
                break
        if scheme == "static" and self.options.allow_qat and self.loaded.training is not None:
            trial = self.attempt(self.spec("qat", fmt), "quantization-aware training: static int8 missed the budget")
            if trial is not None:
                self.search.append(f"{self.label(trial)}: {trial.budget_note}")
        elif scheme == "static":
            self.search.append("QAT not tried: " + ("--no-qat" if not self.options.allow_qat else "the model brings no training data"))


def _sensitivity_samples(metric: Metric) -> int:
    # accuracy needs the whole evaluation set to mean the same as on the device; comparisons converge sooner
    return _MAX_CHECK_SAMPLES if metric.name == "accuracy" else 32


def _accuracy(loaded: LoadedModel, outputs: list[list[torch.Tensor]], artifact: Artifact) -> dict[str, Any] | None:
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


