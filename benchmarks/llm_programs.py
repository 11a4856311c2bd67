"""Each runtime's program of a language model, built from the same weights, and one timed process of it.

edgeq's are its own: ExecuTorch's LLM export through ``build_llm_artifact`` (cached with every edgeq artifact),
generated with by the device runner on the ``host`` profile over the local transport (``measure_llm``, what
``edgeq run`` does). The peers' are built the way their projects say and run by ``benchmarks/llm_host_runner.py``,
which shares that runner's generation and timing code: llama.cpp's GGUF (``gguf_export``) and ONNX Runtime GenAI's
int4 model folder (``genai_export``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from edgeq.bench import successful_report
from edgeq.bench.stats import latency_stats
from edgeq.cache import cache_dir
from edgeq.export import ArtifactCache
from edgeq.llm.bench import LlmBench, LlmSettings, measure_llm
from edgeq.llm.export import SCHEMES, build_llm_artifact
from edgeq.measure import Target
from edgeq.models import LoadedModel
from edgeq.transport import LocalTransport

EDGEQ, LLAMA_CPP, GENAI = "edgeq", "llama.cpp", "onnxruntime-genai"
LLAMA_CPP_NATIVE = "llama.cpp native"  # the same GGUF files, run by a llama.cpp compiled for this CPU
HOST_RUNNER = Path(__file__).resolve().parent / "llm_host_runner.py"
EDGEQ_SCHEMES = {"fp32": "fp32", "8da8w": "int8", "8da4w": "int4"}  # issue 25's three, and their weights' precision


@dataclass(frozen=True)
class Variant:
    """One row: a runtime's program of the model."""

    runtime: str
    name: str  # the scheme or quantization type, in the runtime's own words
    precision: str  # fp32 | int8 | int4
    detail: str

    @property
    def label(self) -> str:
        return f"{self.runtime} {self.name}"


def variants() -> list[Variant]:
    """Every row this host can build: edgeq's schemes; llama.cpp's when llama-cpp-python and gguf are installed,
    and its quantized files again with llama.cpp compiled for this CPU when that build is there; ONNX Runtime
    GenAI's when it is installed."""
    rows = [Variant(EDGEQ, scheme, precision, f".pte, {SCHEMES[scheme][2]}") for scheme, precision in EDGEQ_SCHEMES.items()]
    if _installed("llama_cpp") and _installed("gguf"):
        rows += [Variant(LLAMA_CPP, "F32", "fp32", "GGUF, fp32 weights"),
                 Variant(LLAMA_CPP, "Q8_0", "int8", "GGUF, int8 weights in blocks of 32 (fp16 scale)"),
                 Variant(LLAMA_CPP, "Q4_0", "int4", "GGUF, int4 weights in blocks of 32 (fp16 scale); llama.cpp's "
                                                    "default mix for Q4_0")]
        if _native_built():
            rows += [Variant(LLAMA_CPP_NATIVE, kind, precision, f"the {kind} GGUF; llama.cpp compiled with GGML_NATIVE=ON")
                     for kind, precision in (("Q8_0", "int8"), ("Q4_0", "int4"))]
    if _installed("onnxruntime_genai"):
        rows.append(Variant(GENAI, "int4", "int4", "model builder, int4 MatMulNBits in blocks of 32, int8 "
                                                   "activations (accuracy level 4)"))
    return rows


def missing_peers() -> list[str]:
    """The peers this host cannot measure, and why (said in the report)."""
    missing = []
    if not (_installed("llama_cpp") and _installed("gguf")):
        missing.append("llama.cpp: llama-cpp-python or gguf is not installed (the bench extra)")
    if not _installed("onnxruntime_genai"):
        missing.append("ONNX Runtime GenAI: onnxruntime-genai is not installed (the bench extra)")
    if not _native_built():
        missing.append(f"llama.cpp compiled for this CPU: none at {native_llama_cpp()} (`make bench-llama-native`)")
    return missing


def native_llama_cpp() -> Path:
    """Where ``make bench-llama-native`` puts llama-cpp-python compiled with ``GGML_NATIVE=ON`` (the bench extra's
    is the portable build): ``EDGEQ_BENCH_LLAMA_NATIVE``, else beside edgeq's caches."""
    return Path(os.environ.get("EDGEQ_BENCH_LLAMA_NATIVE") or cache_dir() / "bench-llama-cpp-native")


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _native_built() -> bool:
    return (native_llama_cpp() / "llama_cpp").is_dir()


@dataclass
class Program:
    """A built program and how to run one timed process of it."""

    variant: Variant
    path: Path
    size_bytes: int
    build_s: float | None  # None when it came from a cache
    facts: dict[str, Any] = field(default_factory=dict)  # what the build says about it (tensor types, backend)
    artifact: Any = None  # edgeq's Artifact, for measure_llm


def build(variant: Variant, loaded: LoadedModel, caches: dict[str, ArtifactCache], say) -> Program:
    started = time.monotonic()
    with warnings.catch_warnings():  # exporters' deprecation chatter
        warnings.simplefilter("ignore")
        if variant.runtime == EDGEQ:
            artifact = build_llm_artifact(loaded.name, loaded.fingerprint, loaded.model, variant.name, caches[EDGEQ],
                                          "host", say=say)
            return Program(variant, artifact.path, artifact.size_bytes, _elapsed(started, artifact.cached),
                           {"backend": artifact.manifest.data.get("backend")}, artifact)
        if variant.runtime in (LLAMA_CPP, LLAMA_CPP_NATIVE):
            from benchmarks.gguf_export import build_gguf

            built = build_gguf(loaded.model, variant.name, caches[LLAMA_CPP], loaded.tokenizer)
        else:
            from benchmarks.genai_export import build_genai

            built = build_genai(loaded.model, caches[GENAI], loaded.tokenizer)
    facts = {key: built.manifest[key] for key in ("tensor_types", "notes") if key in built.manifest}
    return Program(variant, built.path, built.size_bytes, _elapsed(started, built.cached), facts)


def _elapsed(started: float, cached: bool) -> float | None:
    return None if cached else round(time.monotonic() - started, 1)


def run_process(program: Program, target: Target, prompt: list[int], check: list[list[int]], settings: LlmSettings,
                scratch: Path) -> LlmBench:
    """One fresh process generating with ``program``; with ``check``, it also returns their logits."""
    if program.variant.runtime == EDGEQ:
        return measure_llm(target, program.artifact, prompt, check, settings, scratch)
    runtime = LLAMA_CPP if program.variant.runtime == LLAMA_CPP_NATIVE else program.variant.runtime
    interpreter = [sys.executable] if runtime == program.variant.runtime else \
        ["env", f"PYTHONPATH={native_llama_cpp()}", sys.executable]  # its llama_cpp before the venv's
    argv = [*interpreter, str(HOST_RUNNER), "--runtime", runtime, "--artifact", str(program.path),
            "--prompt", ",".join(map(str, prompt)), "--new-tokens", str(settings.new_tokens),
            "--generations", str(settings.generations), "--threads", str(settings.threads)]
    logits_file = scratch / "peer-logits.pt"
    logits_file.unlink(missing_ok=True)
    if check:
        prompts_file = scratch / "peer-prompts.json"
        prompts_file.write_text(json.dumps(check), encoding="utf-8")
        argv += ["--check", str(prompts_file), "--check-out", str(logits_file)]
    report = successful_report(LocalTransport().run(argv, timeout_s=settings.timeout_s, check=False),
                               f"{program.variant.label}'s runner")
    return LlmBench(
        decode=latency_stats(report["latencies_ms"]), first_token=latency_stats(report["first_token_ms"]),
        prompt_tokens=int(report["prompt_tokens"]), new_tokens=int(report["new_tokens"]),
        load_ms=float(report["load_ms"]), first_run_ms=float(report["first_run_ms"]),
        peak_rss_mb=report.get("peak_rss_mb"), model_rss_mb=report.get("model_rss_mb"),
        baseline_rss_mb=report.get("baseline_rss_mb"), arch=str(report["arch"]), threads=int(report["threads"]),
        versions=dict(report.get("versions", {})), tokens=list(report["tokens"]), same_tokens=bool(report["same_tokens"]),
        logits=torch.load(logits_file, weights_only=True) if check else None)
