"""The building half of a language model's run, for one device profile: the prompts it is judged and timed on,
fp32's eager logits on them (the reference every program is compared with), and each scheme's program, exported
once and cached by content. ``edgeq run`` measures the programs on one device (``LlmSession``), the lab on every
device of the profile, as ``ModelBuild`` does for every other model (``Builds`` holds either).

Which models are built this way is decided once, by ``generates``: a causal LM that ExecuTorch's LLM export takes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from edgeq.bench import BenchSpec
from edgeq.cache import cache_dir
from edgeq.errors import BenchError, ConfigError, ModelError
from edgeq.export import Artifact, ArtifactCache
from edgeq.llm.agreement import compare_logits, eager_logits
from edgeq.llm.bench import LlmBench, LlmSettings, measure_llm
from edgeq.llm.checkpoint import SUPPORTED, architecture
from edgeq.llm.export import MAX_CONTEXT, SCHEMES, build_llm_artifact
from edgeq.llm.task import CAUSAL_LM, prompts_of, resolve_task
from edgeq.metrics import LANGUAGE_MODEL_METRICS, METRICS, Metric
from edgeq.models.types import LoadedModel
from edgeq.profiles import DeviceProfile

LLM_SCHEMES = tuple(SCHEMES)
AUTO_SCHEMES = ("fp32", "8da8w", "8da4w", "8da4w-emb4")  # what ``edgeq run --scheme auto`` measures
EXPECTED_FASTEST = "8da4w"  # what ``auto`` means where one program is built (the lab): 4-bit weights decode fastest


def check_exportable(loaded: LoadedModel) -> None:
    """``ModelError`` naming the architecture when ExecuTorch's LLM export cannot take this causal LM."""
    if architecture(loaded.model) not in SUPPORTED:
        raise ModelError(f"{loaded.name}: {architecture(loaded.model)} is a causal language model, but ExecuTorch's "
                         f"LLM export (KV cache, 4-bit weights) takes only {', '.join(SUPPORTED)} here",
                         hint="bring a Llama- or Qwen2-architecture model, or --task forward to measure one fixed-length "
                              "forward pass")


def generates(loaded: LoadedModel, task: str = "auto") -> tuple[bool, str | None]:
    """Whether ``loaded`` is built and measured as a language model (generated with, through a KV cache).

    ``(False, why)`` for a causal LM the export cannot take: it is measured as one fixed-length forward pass, and
    ``why`` is the warning that says so. With ``task`` ``causal-lm`` that is a ``ConfigError`` (exit 2) instead."""
    if resolve_task(task, loaded) != CAUSAL_LM:
        return False, None
    try:
        check_exportable(loaded)
    except ModelError as exc:
        if task == CAUSAL_LM:
            raise ConfigError(exc.message, hint=exc.hint) from exc
        return False, (f"{exc.message}: measured as one fixed-length forward pass, without a KV cache "
                       "(--task forward measures it so without this warning)")
    return True, None


def check_format(loaded: LoadedModel, fmt: str) -> None:
    """A language model is a ``.pte`` only: another format is a ``ConfigError`` saying so."""
    if fmt != "pte":
        raise ConfigError(f"{loaded.name} is a language model: it is exported as a .pte (ExecuTorch's LLM export), "
                          f"not a .{fmt}", hint="drop --format, or use a profile that runs .pte")


@dataclass(frozen=True)
class LlmSpec:
    """One program of a language model: its scheme, as a ``.pte``."""

    scheme: str  # fp32, or one of LANGUAGE_MODEL_SCHEMES

    format = "pte"

    @property
    def variant(self) -> str:
        return self.scheme

    @property
    def label(self) -> str:
        return f"{self.scheme} .pte"


@dataclass(frozen=True)
class LlmMeasured:
    """One program measured on the device: what the runner reported, its teacher-forced logits, and their
    agreement with fp32's."""

    bench: LlmBench
    numerics: dict[str, float]  # agreement.compare_logits against the eager fp32 model

    @property
    def outputs(self) -> list[torch.Tensor]:
        return self.bench.logits or []


class LlmBuild:
    """A language model's references and programs for one profile; the programs are shared by all its devices."""

    def __init__(self, loaded: LoadedModel, profile: DeviceProfile, *, metric: str | None = None,
                 new_tokens: int = LlmSettings.new_tokens, say: Callable[[str], None] | None = None) -> None:
        check_exportable(loaded)
        if metric is not None and metric not in LANGUAGE_MODEL_METRICS:
            raise ConfigError(f"--metric {metric} does not judge a language model",
                              hint=f"use one of: {', '.join(LANGUAGE_MODEL_METRICS)}")
        self.loaded, self.profile = loaded, profile
        self.say = say or (lambda message: None)
        self.prompts = prompts_of(loaded)
        longest = max(len(prompt) for prompt in self.prompts)
        if longest + new_tokens > MAX_CONTEXT:
            raise ConfigError(f"{loaded.name}: a prompt of {longest} tokens and {new_tokens} new tokens exceed the KV "
                              f"cache's {MAX_CONTEXT} positions", hint="give shorter prompts, or fewer --new-tokens")
        vocab = getattr(getattr(loaded.model, "config", None), "vocab_size", None)
        beyond = [token for prompt in self.prompts for token in prompt if vocab is not None and not 0 <= token < vocab]
        if beyond:
            raise ModelError(f"{loaded.name}: the prompts hold token id {beyond[0]}, outside the model's vocabulary of "
                             f"{vocab}", hint="make the prompts with the model's own tokenizer")
        self.cache = ArtifactCache(cache_dir() / "artifacts")
        self.model = loaded.model.eval()
        self.metric: Metric = METRICS[metric or "greedy_agreement"]

    @functools.cached_property
    def reference(self) -> list[torch.Tensor]:
        """fp32's logits at every position of each prompt, from the eager model (computed on first use: a deploy
        never needs them)."""
        self.say("computing fp32's logits on the prompts")
        return eager_logits(self.model, self.prompts)

    def auto_scheme(self) -> str:
        """The one scheme ``auto`` stands for where a single program is built (the lab's matrix)."""
        return EXPECTED_FASTEST

    def resolve(self, scheme: str) -> str:
        """A scheme as asked anywhere (``none``, ``auto``, an LM scheme) → the program's scheme; other schemes are a
        ``ConfigError`` naming those a language model takes."""
        resolved = {"none": "fp32", "auto": EXPECTED_FASTEST}.get(scheme, scheme)
        if resolved not in LLM_SCHEMES:
            raise ConfigError(f"{self.loaded.name} is a language model: scheme {scheme!r} does not apply to it",
                              hint=f"use none, auto, or one of: {', '.join(LLM_SCHEMES)}")
        return resolved

    def spec(self, scheme: str, fmt: str = "pte") -> LlmSpec:
        check_format(self.loaded, fmt)
        return LlmSpec(self.resolve(scheme))

    def artifact(self, spec: LlmSpec) -> Artifact:
        """``spec``'s program, from the cache when this model was exported that way before."""
        self.say(f"building {spec.label}")
        return build_llm_artifact(self.loaded.name, self.loaded.fingerprint, self.model, spec.scheme, self.cache,
                                  self.profile.name, say=self.say, group_size=self.profile.llm_group_size)

    def device_bench(self, target: Any, timing: LlmSettings | BenchSpec, scratch: Path) -> LlmDeviceBench:
        """The programs measured on ``target`` as ``timing`` says; a ``BenchSpec`` (the lab's) is read by
        ``settings_for_runs``."""
        if isinstance(timing, BenchSpec):
            timing = settings_for_runs(timing.runs, timing.threads, timing.timeout_s)
        return LlmDeviceBench(self, target, timing, scratch)

    def quality(self, agreement: dict[str, float]) -> float:
        """The value the budget judges: greedy agreement in percent, or the logits' mean cosine."""
        return 100.0 * agreement["greedy_agreement"] if self.metric.name == "greedy_agreement" else agreement["cosine"]

    def score(self, outputs: list[torch.Tensor], artifact: Artifact) -> tuple[None, float | None]:
        """``(accuracy, quality)`` as ``ModelBuild.score`` gives them: a language model has no accuracy."""
        return None, self.quality(compare_logits(self.reference, outputs)) if outputs else None


def settings_for_runs(runs: int, threads: int, timeout_s: float, new_tokens: int = LlmSettings.new_tokens) -> LlmSettings:
    """How ``runs`` timed runs (the lab's ``--runs``) time a language model: that many timed generations, spread
    over up to three fresh processes; every generation gives ``new_tokens`` - 1 decode samples."""
    processes = min(LlmSettings.processes, runs)
    return LlmSettings(new_tokens=new_tokens, processes=processes, generations=math.ceil(runs / processes),
                       threads=threads, timeout_s=timeout_s)


class LlmDeviceBench:
    """A language model's programs measured on one device with one setting."""

    def __init__(self, build: LlmBuild, target: Any, settings: LlmSettings, scratch: Path) -> None:
        self.build, self.target, self.settings, self.scratch = build, target, settings, scratch

    def measure(self, artifact: Artifact) -> LlmMeasured:
        """Generate with the program on the device and compare its logits with fp32's. Raises ``BenchError`` when
        the device cannot run it or its logits do not fit the prompts; transport errors pass through."""
        settings = self.settings
        self.build.say(f"generating with {artifact.manifest.data.get('variant')} .pte on the device ({settings.processes} "
                       f"processes × {settings.generations} generations of {settings.new_tokens} tokens)")
        prompts = self.build.prompts
        bench = measure_llm(self.target, artifact, prompts[0], prompts, settings, self.scratch)
        try:
            agreement = compare_logits(self.build.reference, bench.logits or [])
        except ValueError as exc:
            raise BenchError(f"{artifact.manifest.data.get('variant')} .pte: its logits do not fit the prompts: {exc}") from exc
        return LlmMeasured(bench, agreement)
