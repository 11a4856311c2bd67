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

from edgeq import metrics
from edgeq.bench import BenchSpec, Staged, stage_runner
from edgeq.bench.verdict import compare_samples
from edgeq.build import MAX_CHECK_SAMPLES, ModelBuild
from edgeq.device.probe import governor_and_temperature
from edgeq.errors import BenchError, ConfigError, EdgeqError, ExportError, ModelError, QuantizationError
from edgeq.export import Artifact
from edgeq.inspection import SENSITIVITY_METHODS, sensitivity_ranking
from edgeq.llm.task import TASKS
from edgeq.measure import DeviceBench, Target, push_artifact, reach
from edgeq.metrics import Metric
from edgeq.models import LoadedModel, load_model
from edgeq.models.tracing import user_name
from edgeq.models.types import Training
from edgeq.numerics import amplification_note, noise_amplification
from edgeq.profiles import DeviceProfile
from edgeq.quantize import OBSERVERS, QuantSpec, choose_scheme
from edgeq.quantize.spec import LANGUAGE_MODEL_SCHEMES, RUN_SCHEME_CHOICES, other_scheme
from edgeq.results import DeployResult, FailedVariant, RunResult, VariantResult, recommend, write_out_dir
from edgeq.selection import Budget
from edgeq.transport import DeviceAddress, Transport, open_transport

log = logging.getLogger(__name__)

_MIXED_COUNTS = (1, 2, 4)  # how many of the most sensitive layers to keep in float, trial by trial
_BUILD_ERRORS = (QuantizationError, ExportError, ModelError)
_FP32_COSINE_WARN = 0.999  # an fp32 artifact further than this from the eager model changed the model's math


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
    int8_embeddings: bool = True  # int8 .pte variants look embedding rows up in int8 (when the device can)
    sensitivity: str = "fast"  # how the search ranks layers for mixed precision: fast | exact
    task: str = "auto"  # auto | causal-lm (generate, through ExecuTorch's LLM export) | forward (one forward pass)
    new_tokens: int = 32  # a language model's tokens per timed generation

    def __post_init__(self) -> None:
        if self.scheme not in RUN_SCHEME_CHOICES:
            raise ConfigError(f"unknown scheme {self.scheme!r}", hint=f"use one of: {', '.join(RUN_SCHEME_CHOICES)}")
        if self.max_drop is not None and self.max_drop < 0:
            raise ConfigError(f"--max-drop must be ≥ 0, got {self.max_drop}")
        if self.sensitivity not in SENSITIVITY_METHODS:
            raise ConfigError(f"unknown sensitivity method {self.sensitivity!r}",
                              hint=f"use one of: {', '.join(SENSITIVITY_METHODS)}")
        if self.observer not in OBSERVERS:
            raise ConfigError(f"unknown observer {self.observer!r}", hint=f"use one of: {', '.join(OBSERVERS)}")
        if self.task not in TASKS:
            raise ConfigError(f"unknown task {self.task!r}", hint=f"use one of: {', '.join(TASKS)}")
        BenchSpec(runs=self.runs, warmup=self.warmup, threads=self.threads or 1, timeout_s=self.timeout_s,
                  min_time_s=self.min_time_s)


Progress = Callable[[str], None]


def _format(profile: DeviceProfile, options: RunOptions) -> str:
    fmt = options.format or profile.formats[0]
    if fmt not in profile.formats:
        raise ConfigError(f"profile {profile.name!r} does not run .{fmt} artifacts", hint=f"it runs: {', '.join(profile.formats)}")
    return fmt


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
        target = reach(transport, profile, fmt, device, say)
        say(f"loading {source if isinstance(source, str) else source.name}")
        loaded = load_model(source) if isinstance(source, str) else source
        if training is not None:
            loaded.training = training
        language, forward_only = _language_session(loaded, options, target, fmt, say)
        session = language or _Session(loaded, profile, options, fmt, target, say)
        if forward_only:
            session.notices.append(forward_only)
        with tempfile.TemporaryDirectory(prefix="edgeq-run-") as scratch:
            return session.run(Path(scratch))
    finally:
        if owned:
            transport.close()


def _language_session(loaded: LoadedModel, options: RunOptions, target: Target, fmt: str,
                      say: Progress) -> tuple[Any, str | None]:
    """``(session, None)`` for a causal language model (``edgeq.llm``), or ``(None, why)`` to measure the model's
    forward pass as for any model (``why``: a warning, when it is a language model the export cannot take).

    With ``--task causal-lm`` such a model is an error (exit 2) instead."""
    from edgeq.llm.build import generates

    language, forward_only = generates(loaded, options.task)
    if language:
        return _language_model(loaded, options, target, fmt, say), None
    _check_not_a_language_models_scheme(loaded, options)
    return None, forward_only


def _check_not_a_language_models_scheme(loaded: LoadedModel, options: RunOptions) -> None:
    if options.scheme in LANGUAGE_MODEL_SCHEMES:
        raise ConfigError(f"--scheme {options.scheme} is a language model's scheme, and {loaded.name} is not run as one",
                          hint="use auto, dynamic, static, qat or fp16, or --task causal-lm for a Llama or Qwen2 causal LM")


def _language_model(loaded: LoadedModel, options: RunOptions, target: Target, fmt: str, say: Progress) -> Any:
    from edgeq.llm.bench import LlmSettings
    from edgeq.llm.build import check_format
    from edgeq.llm.session import LlmOptions, LlmSession

    check_format(loaded, fmt)
    settings = LlmSettings(new_tokens=options.new_tokens, threads=options.threads or target.profile.default_threads,
                           timeout_s=options.timeout_s)
    return LlmSession(loaded, target, LlmOptions(options.scheme, options.max_drop, options.metric, settings, options.out_dir),
                      say)


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
        target = reach(transport, profile, fmt, device, say)
        loaded = load_model(source) if isinstance(source, str) else source
        from edgeq.llm.build import check_format, generates

        if generates(loaded, options.task)[0]:
            from edgeq.llm.deploy import deploy_language_model

            check_format(loaded, fmt)
            return deploy_language_model(loaded, target, options.scheme, say)
        _check_not_a_language_models_scheme(loaded, options)
        return _Session(loaded, profile, options, fmt, target, say).deploy()
    finally:
        if owned:
            transport.close()


class _Session:
    """One run on one device: a ``ModelBuild`` for the profile, a ``DeviceBench`` on the device, and the
    search over variants with what it found (measured, failed) so far."""

    def __init__(self, loaded: LoadedModel, profile: DeviceProfile, options: RunOptions, fmt: str,
                 target: Target, say: Progress) -> None:
        self.loaded, self.profile, self.options, self.fmt, self.say = loaded, profile, options, fmt, say
        self.target, self.transport, self.workdir = target, target.transport, target.workdir
        self.facts, self.warnings = target.facts, target.warnings
        self.build = ModelBuild(loaded, profile, observer=options.observer, metric=options.metric,
                                int8_embeddings=options.int8_embeddings, say=say)
        self.prepared, self.metric = self.build.prepared, self.build.metric
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
        return self.build.spec(scheme, fmt or self.fmt, **overrides)

    def run(self, scratch: Path) -> RunResult:
        self.bench = DeviceBench(self.target, self.build.workload, self.bench_spec, scratch, self.say)
        fp32 = self._baseline()
        reference_value = metrics.reference_value(self.metric, fp32.quality)
        enforced = self.options.max_drop is not None
        self.budget = Budget(self.metric, self.metric.default_max_drop if not enforced else float(self.options.max_drop),
                             reference_value, enforced, self.build.judged_samples, self.build.cannot_judge)
        if self.budget.cannot_judge is not None:
            self.notices.append(f"numerics cannot judge {self.loaded.name} on these inputs: {self.budget.cannot_judge}; "
                                "no int8 variant is judged (bring evaluation data, or check inputs the model responds to)")
        if self.options.scheme == "auto":
            self._search()
        elif self.options.scheme != "none":
            self._first_that_builds([self.options.scheme], f"--scheme {self.options.scheme}")
        judged = any(r.spec.scheme != "none" for r in self.results)
        chosen = recommend(self.results, self.profile.formats, self.budget.caution if judged else None)
        governor, temperature = governor_and_temperature(self.transport)
        result = RunResult(model=self.loaded.name, profile=self.profile, transport=self.transport.name, results=self.results,
                           chosen=chosen,
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
                artifact = self.build.artifact(spec)
                staged = self._push(spec, artifact)
            except (*_BUILD_ERRORS, BenchError) as exc:
                if spec.scheme == "none":  # without fp32 there is nothing to deploy
                    raise
                stage = "run" if isinstance(exc, BenchError) else _build_stage(exc)
                failed.append(FailedVariant(spec, stage, exc.message, f"--scheme {self.options.scheme}"))
                continue
            artifacts.append({"variant": spec.variant, "format": spec.format, "label": spec.label, "local": str(artifact.path),
                              "remote": staged.path, "sha256": artifact.sha256, "size_bytes": artifact.size_bytes,
                              "pushed": staged.pushed})
        return DeployResult(self.target.name, self.workdir, runner, artifacts, self.warnings, failed)

    def _push(self, spec: QuantSpec, artifact: Artifact) -> Staged:
        """The artifact on the device under its hash (``BenchError`` when the device cannot run it)."""
        self.say(f"pushing {spec.label} ({artifact.size_bytes / 1024:.0f} KiB)")
        return push_artifact(self.target, artifact)

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

    def _candidates(self, schemes: list[str], formats: list[str] | None = None) -> list[QuantSpec]:
        """Each scheme in each format, in order; dynamic .pte also through torchao after the PT2E graph."""
        specs = []
        for fmt in formats or self.formats:
            for scheme in schemes:
                if scheme == "fp16" and fmt != "pte":
                    continue  # XNNPACK's fp16 kernels: .pte only
                specs += self._with_fp32_tables(self.spec(scheme, fmt))
                if scheme == "dynamic" and fmt == "pte":
                    specs += self._with_fp32_tables(self.spec(scheme, fmt, flow="torchao"))
        return specs

    def _with_fp32_tables(self, spec: QuantSpec) -> list[QuantSpec]:
        """``spec``, then the same with fp32 embedding tables when it has int8 ones (for a runtime without the
        quantized kernels)."""
        if not spec.int8_embeddings or not self.build.embedding_tables:
            return [spec]
        return [spec, dataclasses.replace(spec, int8_embeddings=False)]

    def _first_that_builds(self, schemes: list[str], reason: str, formats: list[str] | None = None) -> VariantResult | None:
        """The first candidate of ``schemes`` that builds and runs; each failure is recorded on the way."""
        for spec in self._candidates(schemes, formats):
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
            artifact = self.build.artifact(spec)
        except _BUILD_ERRORS as exc:
            raise _CandidateFailed(_build_stage(exc), exc) from exc
        try:
            return self._run_and_judge(spec, artifact, reason)
        except (BenchError, ModelError) as exc:
            raise _CandidateFailed("run", exc) from exc

    def _run_and_judge(self, spec: QuantSpec, artifact: Artifact, reason: str) -> VariantResult:
        measured = self.bench.measure(artifact)
        accuracy, quality = self.build.score(measured.outputs, artifact)
        numerics = measured.numerics
        if spec.scheme == "none" and numerics and numerics["cosine"] < _FP32_COSINE_WARN and self.build.cannot_judge is None:
            self.notices.append(f"fp32 .{spec.format} differs from the eager model (cosine {numerics['cosine']:.4f}, "
                                f"max error {numerics['max_abs_err']:.3g}): the export changed the model's math")
        result = VariantResult(spec, artifact, measured.bench, accuracy, numerics, reason, quality=quality,
                               remeasured=measured.remeasured)
        if spec.scheme != "none":
            result.within_budget, result.budget_note = self.budget.judge(result.quality)
        self.results.append(result)
        return result

    def _search(self) -> None:
        """Try the expected-fastest scheme (the other one, then the other format, when it cannot be built);
        when it misses the budget, keep its worst layers in float, then QAT."""
        expected, reason = choose_scheme(self.prepared)
        first = self._first_that_builds([expected, other_scheme(expected)], reason)
        if first is None:
            return
        self.search.append(f"{first.spec.label}: {first.budget_note}")
        if self.budget.cannot_judge is not None:
            self.search.append("equalization, mixed precision and QAT not tried: numerics cannot judge this model on "
                               "these inputs")
        elif not first.within_budget:
            self._mixed_precision_and_qat(first)
        self._other_formats([expected, other_scheme(expected)], reason)
        self._half_precision()

    def _half_precision(self) -> None:
        """fp16 where the device's CPU has fp16 arithmetic (the profile's ``fp16`` ISA flag) and runs .pte, when
        no int8 variant met the budget or none is faster than fp32."""
        if "fp16" not in self.profile.isa or "pte" not in self.formats:
            return
        baseline = self.results[0].bench.latency.samples_ms
        int8 = [r for r in self.results if r.spec.precision == "int8" and r.within_budget]
        if any(compare_samples(r.bench.latency.samples_ms, baseline).verdict == "faster" for r in int8):
            return
        why = "no int8 variant met the budget" if not int8 else "no int8 variant within budget is faster than fp32"
        trial = self.attempt(self.spec("fp16", "pte"), f"fp16: {why}, and the CPU has fp16 arithmetic")
        if trial is not None:
            self.search.append(f"{trial.spec.label}: {trial.budget_note}")

    def _other_formats(self, schemes: list[str], reason: str) -> None:
        """The best candidate of each other format the profile runs, measured too, so that the fastest
        artifact of any format wins (unless ``--format`` pinned one)."""
        if self.options.format is not None:
            return
        done = {r.spec.format for r in self.results if r.spec.scheme != "none"}
        done |= {f.spec.format for f in self.failures if f.spec.scheme != "none"}  # tried, and none built there
        for fmt in [f for f in self.profile.formats if f not in done]:
            result = self._first_that_builds(schemes, f"{reason}; measured in .{fmt} as well, so the fastest "
                                                      "format within budget wins", [fmt])
            if result is not None:
                self.search.append(f"{result.spec.label}: {result.budget_note}")

    def _equalized(self, first: VariantResult) -> bool:
        """Try ``first`` with activation outlier channels moved into the weights; True when that met the budget.
        An artifact equalization left as it was (no outlier to move) is not measured again."""
        spec = dataclasses.replace(first.spec, equalize=True)
        try:
            unchanged = self.build.artifact(spec).sha256 == first.artifact.sha256
        except _BUILD_ERRORS:
            unchanged = False  # attempt() records why
        if unchanged:
            self.search.append(f"{spec.label}: no activation has an outlier channel to move (the same artifact as "
                               f"{first.spec.label})")
            return False
        equalized = self.attempt(spec, "equalization: activation outlier channels moved into the weights, every layer int8")
        if equalized is None:
            return False
        self.search.append(f"{equalized.spec.label}: {equalized.budget_note}")
        return equalized.within_budget

    def _mixed_precision_and_qat(self, first: VariantResult) -> None:
        """``first`` missed the budget: move activation outliers into the weights (every layer stays int8), then
        keep its most sensitive layers in float, then try QAT."""
        scheme, fmt = first.spec.scheme, first.spec.format
        if self._equalized(first):
            return
        self.say(f"ranking layers by sensitivity ({self.options.sensitivity})")
        samples = self.build.check_inputs[:_sensitivity_samples(self.metric)]
        started = time.monotonic()
        try:
            ranking = sensitivity_ranking(self.loaded, self.prepared, self.spec(scheme, fmt), self.metric, samples, self.say,
                                          method=self.options.sensitivity)
        except _BUILD_ERRORS as exc:
            self.search.append(f"mixed precision not tried: ranking the layers failed: {exc.message}")
            ranking = []
        ranked_in_s = time.monotonic() - started
        if ranking:
            self.search.append(f"most sensitive layers ({self.options.sensitivity} ranking, {ranked_in_s:.1f} s): "
                               + ", ".join(f"{user_name(layer)} ({metrics.format_value(self.metric, -drop)}, "
                                           f"output error {error:.2g})" for layer, drop, error in ranking[:5]
                                           if drop is not None and error is not None))
        for count in sorted({min(count, len(ranking)) for count in _MIXED_COUNTS} - {0}):
            kept = tuple(layer for layer, _, _ in ranking[:count])
            trial = self.attempt(dataclasses.replace(first.spec, float_layers=kept),
                                 f"mixed precision: the {count} most sensitive layer(s) stay fp32")
            if trial is None:
                continue
            self.search.append(f"{trial.spec.label} (fp32: {', '.join(user_name(k) for k in kept)}): {trial.budget_note}")
            if trial.within_budget:
                break
        else:  # no mixed candidate met the budget
            if ranking:
                self.search.append(self._why_mixed_precision_missed(first, ranking))
        if scheme == "static" and self.options.allow_qat and self.loaded.training is not None:
            trial = self.attempt(self.spec("qat", fmt), "quantization-aware training: static int8 missed the budget")
            if trial is not None:
                self.search.append(f"{trial.spec.label}: {trial.budget_note}")
        elif scheme == "static":
            self.search.append("QAT not tried: " + ("--no-qat" if not self.options.allow_qat else "the model brings no training data"))

    def _why_mixed_precision_missed(self, first: VariantResult, ranking: list[tuple[str, float | None, float | None]]) -> str:
        """Which layers block int8 and why: the model's own growth of small errors when it has it, else how
        little of the whole drop the worst layer explains."""
        samples = self.build.check_inputs[:_AMPLIFICATION_SAMPLES]
        try:
            growth = noise_amplification(self.prepared, samples, self.build.reference[:len(samples)])
        except Exception as exc:  # noqa: BLE001 - the user's model on noisy inputs; the search goes on without it
            log.debug("measuring how the model grows small errors failed: %s", exc)
            growth = None
        amplified = amplification_note(growth, len(ranking))
        if amplified:
            return f"mixed precision missed the budget: {amplified}"
        layer, drop, _ = ranking[0]
        baseline = self.results[0].quality
        whole = None if baseline is None or first.quality is None else baseline - first.quality
        if drop is None or whole is None:
            return "mixed precision missed the budget: the layers' sensitivities could not be measured"
        return (f"mixed precision missed the budget: no few layers hold the error: the worst, {user_name(layer)}, "
                f"costs {metrics.format_value(self.metric, drop)} alone of the {metrics.format_value(self.metric, whole)} "
                f"lost with every layer int8 ({len(ranking)} layers); edgeq inspect names each layer's cause")


_AMPLIFICATION_SAMPLES = 8  # samples the float model's growth of small errors is measured on


def _sensitivity_samples(metric: Metric) -> int:
    # accuracy needs the whole evaluation set to mean the same as on the device; comparisons converge sooner
    return MAX_CHECK_SAMPLES if metric.name == "accuracy" else 32
