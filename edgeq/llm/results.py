"""What a language model's run returns: one ``LlmVariant`` per program measured, the failures, and the
``LlmRunResult`` around them. Its ``to_dict`` is the run result of DESIGN.md with a language model's fields:
``latency_ms`` holds the decode time per token (so every reader of run results compares what generation speed
depends on), and ``first_token_ms``, the tokens per second and the logits' agreement sit beside it."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeq.export import Artifact
from edgeq.llm.bench import LlmBench
from edgeq.llm.export import SCHEMES
from edgeq.profiles import DeviceProfile
from edgeq.quantize.spec import artifact_label
from edgeq.selection import Budget

CAUSAL_LM = "causal-lm"


def _precision(scheme: str) -> str:
    return SCHEMES[scheme].precision


class _Scheme:
    """How every output names a language model's program: its scheme, as a .pte."""

    scheme: str

    @property
    def label(self) -> str:
        return artifact_label(self.scheme, "pte")

    @property
    def is_float(self) -> bool:
        return self.scheme == "fp32"


@dataclass
class LlmVariant(_Scheme):
    scheme: str
    artifact: Artifact
    bench: LlmBench
    agreement: dict[str, float] | None  # agreement.compare_logits against fp32 eager
    scheme_reason: str
    quality: float | None = None
    within_budget: bool = True
    budget_note: str = "the float reference"

    def to_dict(self) -> dict[str, Any]:
        bench = self.bench
        return {
            "variant": self.scheme, "label": self.label, "status": "ok", "precision": _precision(self.scheme),
            "scheme": self.scheme, "scheme_reason": self.scheme_reason, "format": "pte", "float_layers": [],
            "engine": None, "flow": "llm-export",
            "group_size": self.artifact.manifest.data.get("group_size"),
            "max_context": self.artifact.manifest.data.get("max_context"),
            "artifact": str(self.artifact.path), "sha256": self.artifact.sha256, "size_bytes": self.artifact.size_bytes,
            "cached": self.artifact.cached,
            "latency_ms": bench.decode.to_dict(),  # per decoded token
            "first_token_ms": bench.first_token.to_dict(),
            "decode_tokens_per_s": bench.decode_tokens_per_s,
            "prefill_tokens_per_s": bench.prefill_tokens_per_s,
            "prompt_tokens": bench.prompt_tokens, "new_tokens": bench.new_tokens,
            "load_ms": bench.load_ms, "first_run_ms": bench.first_run_ms, "peak_rss_mb": bench.peak_rss_mb,
            "model_rss_mb": bench.model_rss_mb, "baseline_rss_mb": bench.baseline_rss_mb,
            "tokens": bench.tokens, "same_tokens": bench.same_tokens,
            "agreement": self.agreement, "quality": self.quality, "within_budget": self.within_budget,
            "budget_note": self.budget_note, "backend": self.artifact.manifest.data.get("backend"),
            "notes": self.artifact.notes,
        }


@dataclass
class LlmFailure(_Scheme):
    """A scheme that could not be exported or run: a finding of the run, not its end."""

    scheme: str
    stage: str  # export | run
    error: str
    scheme_reason: str
    hint: str | None = None  # what to try, from the error

    @property
    def note(self) -> str:
        return f"{self.label} failed at {self.stage}: {self.error}"

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.scheme, "label": self.label, "status": "failed", "precision": _precision(self.scheme),
                "scheme": self.scheme, "scheme_reason": self.scheme_reason, "format": "pte", "float_layers": [],
                "failed_stage": self.stage, "error": self.error, "within_budget": False,
                "budget_note": f"failed at {self.stage}: {self.error}", "notes": []}


@dataclass
class LlmRunResult:
    model: str
    profile: DeviceProfile
    transport: str
    results: list[LlmVariant]
    failures: list[LlmFailure]
    chosen: dict[str, Any]
    budget: Budget
    search: list[str]
    prompts: dict[str, Any]  # how many prompts the agreement is measured on, the timing prompt's length
    address: str | None = None
    conditions: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    task: str = CAUSAL_LM

    @property
    def budget_met(self) -> bool:
        quantized = [r for r in self.results if not r.is_float]
        if not quantized:
            return not any(not f.is_float for f in self.failures)
        return any(r.within_budget for r in quantized)

    def to_dict(self) -> dict[str, Any]:
        first = self.results[0].bench
        return {
            "model": self.model, "task": self.task, "profile": self.profile.name,
            "results": [r.to_dict() for r in self.results] + [f.to_dict() for f in self.failures],
            "device": {"name": self.address or self.profile.name, "transport": self.transport, "arch": first.arch,
                       "torch": first.versions.get("torch"), "executorch": first.versions.get("executorch"),
                       "python": first.versions.get("python"), "threads": first.threads, "cpu": self.profile.cpu,
                       **self.conditions},
            "budget": {"metric": self.budget.metric.name, "unit": self.budget.metric.unit,
                       "max_drop": self.budget.max_drop, "fp32_value": self.budget.reference,
                       "enforced": self.budget.enforced, "met": self.budget_met, "samples": self.budget.samples,
                       "cannot_judge": None},
            "prompts": self.prompts, "search": self.search, "chosen": self.chosen, "warnings": self.warnings,
        }


def write_out_dir(result: LlmRunResult, out_dir: Path, tokenizer: Path | None) -> None:
    """Each program as ``SCHEME.pte`` with its manifest, the tokenizer the prompts were made with, and result.json."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for variant in result.results:
        shutil.copyfile(variant.artifact.path, out_dir / f"{variant.scheme}.pte")
        shutil.copyfile(variant.artifact.path.parent / "manifest.json", out_dir / f"{variant.scheme}.pte.manifest.json")
    if tokenizer is not None:
        shutil.copyfile(tokenizer, out_dir / tokenizer.name)
    (out_dir / "result.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
