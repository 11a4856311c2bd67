"""A language model's run on one device: each scheme exported through ExecuTorch's LLM export, generated with on
the device, its logits compared with fp32's teacher-forced on the prompts, and the fastest decoder within the
budget chosen.

``--scheme auto`` measures fp32, 8da8w, 8da4w and 8da4w-emb4 (``AUTO_SCHEMES``): the two weight widths, and the
smallest program, which decodes as fast as 8da4w and wins the near-tie when its logits stay within budget;
8da8w-emb8 is measured when named. A named scheme measures fp32 and that one; ``none`` fp32 alone.
The budget is in greedy-token agreement (points lost against fp32, 5 by default) or the logits' mean cosine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgeq.errors import BenchError, ConfigError, ExportError
from edgeq.llm.bench import LlmSettings
from edgeq.llm.build import AUTO_SCHEMES, LLM_SCHEMES, LlmBuild
from edgeq.llm.export import SCHEMES
from edgeq.llm.results import LlmFailure, LlmRunResult, LlmVariant, write_out_dir
from edgeq.measure import Target
from edgeq.models.types import LoadedModel
from edgeq.selection import Budget, Candidate, choose


@dataclass(frozen=True)
class LlmOptions:
    scheme: str = "auto"  # auto | none | fp32 | one of LANGUAGE_MODEL_SCHEMES
    max_drop: float | None = None
    metric: str | None = None
    settings: LlmSettings = field(default_factory=LlmSettings)
    out_dir: Path | None = None  # copy the programs, their manifests, the tokenizer and result.json here

    def __post_init__(self) -> None:
        if self.scheme not in ("auto", "none", *LLM_SCHEMES):
            raise ConfigError(f"--scheme {self.scheme} is not a language-model scheme",
                              hint=f"use auto, none, or one of: {', '.join(LLM_SCHEMES)}")


class LlmSession:
    def __init__(self, loaded: LoadedModel, target: Target, options: LlmOptions, say: Callable[[str], None]) -> None:
        self.loaded, self.target, self.options, self.say = loaded, target, options, say
        self.profile = target.profile
        self.build = LlmBuild(loaded, target.profile, metric=options.metric, new_tokens=options.settings.new_tokens,
                              say=say)
        self.prompts, self.metric = self.build.prompts, self.build.metric
        self.results: list[LlmVariant] = []
        self.failures: list[LlmFailure] = []
        self.search: list[str] = []

    def schemes(self) -> list[str]:
        if self.options.scheme == "auto":
            return list(AUTO_SCHEMES)
        return ["fp32"] + ([] if self.options.scheme in ("none", "fp32") else [self.options.scheme])

    def run(self, scratch: Path) -> LlmRunResult:
        reason = {"auto": "--scheme auto: each language-model scheme, the fastest decoder within budget chosen"}.get(
            self.options.scheme, f"--scheme {self.options.scheme}")
        budget = None
        for scheme in self.schemes():
            why = "float reference" if scheme == "fp32" else f"{reason}: {SCHEMES[scheme][2]}"
            variant = self._attempt(scheme, why, scratch)
            if scheme == "fp32":
                if variant is None:
                    failure = self.failures[-1]
                    raise (ExportError if failure.stage == "export" else BenchError)(
                        f"{self.loaded.name}: fp32 {failure.stage} failed: {failure.error}",
                        hint=failure.hint or "no scheme can be measured without fp32; --debug shows the whole error")
                enforced = self.options.max_drop is not None
                budget = Budget(self.metric, self.metric.default_max_drop if not enforced else self.options.max_drop,
                                variant.quality, enforced, variant.agreement["positions"])
                continue
            if variant is not None:
                variant.within_budget, variant.budget_note = budget.judge(variant.quality)
                self.search.append(f"{variant.label}: {variant.budget_note}")
        result = self._result(budget)
        if self.options.out_dir is not None:
            write_out_dir(result, self.options.out_dir, self.loaded.tokenizer)
        return result

    def _result(self, budget: Budget) -> LlmRunResult:
        label, why = choose([Candidate(r.label, r.bench.decode, r.artifact.size_bytes, r.within_budget, r.budget_note)
                             for r in self.results])
        chosen = next(r for r in self.results if r.label == label)
        facts = self.target.facts
        return LlmRunResult(
            model=self.loaded.name, profile=self.profile, transport=self.target.transport.name, results=self.results,
            failures=self.failures, budget=budget, search=self.search, address=self.target.name,
            chosen={"variant": chosen.scheme, "format": "pte", "label": label, "reason": "by decode time per token: " + why,
                    "caution": None},
            prompts={"count": len(self.prompts), "positions": budget.samples, "timing_prompt_tokens": len(self.prompts[0]),
                     "new_tokens": self.options.settings.new_tokens, "tokenizer": str(self.loaded.tokenizer or "") or None},
            conditions={"governor": facts.governor, "temperature_c": facts.temperature_c, "free_bytes": facts.free_bytes,
                        "warnings": self.target.warnings},
            warnings=self._warnings())

    def _attempt(self, scheme: str, reason: str, scratch: Path) -> LlmVariant | None:
        """Export, measure and compare ``scheme``; a failure is recorded (and said) instead of ending the run."""
        try:
            artifact = self.build.artifact(self.build.spec(scheme))
        except ExportError as exc:
            return self._failed(scheme, "export", exc.message, reason, exc.hint)
        try:
            measured = self.build.device_bench(self.target, self.options.settings, scratch).measure(artifact)
        except BenchError as exc:
            return self._failed(scheme, "run", exc.message, reason, exc.hint)
        variant = LlmVariant(scheme, artifact, measured.bench, measured.numerics, reason,
                             quality=self.build.quality(measured.numerics))
        self.results.append(variant)
        return variant

    def _failed(self, scheme: str, stage: str, error: str, reason: str, hint: str | None = None) -> None:
        failure = LlmFailure(scheme, stage, error, reason, hint)
        self.failures.append(failure)
        self.search.append(failure.note)
        self.say(failure.note)

    def _warnings(self) -> list[str]:
        warnings = []
        for variant in self.results:
            if not variant.bench.same_tokens:
                warnings.append(f"{variant.label} generated different tokens in different generations from the same "
                                "prompt: greedy decoding should repeat itself")
        fp32 = self.results[0]
        if fp32.agreement and fp32.agreement["cosine_min"] < 0.999:
            warnings.append(f"fp32 .pte differs from the eager model (logits' worst cosine "
                            f"{fp32.agreement['cosine_min']:.4f}): the export changed the model's math")
        return warnings
