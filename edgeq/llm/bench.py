"""A language model measured on the device: the LLM runner in fresh processes, its timings pooled.

Each process loads the program, generates once untimed, then ``generations`` times timed: the prompt in one call
(the time to first token) and ``new_tokens`` - 1 more tokens one call each (the decode times). The first process
also feeds the check prompts teacher-forced and saves their logits. Decode times are what the statistics, the
chosen artifact and the lab's gate read: tokens per second is 1000 over their median.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from edgeq._resources import resource_dir
from edgeq.bench import stage_file, successful_report
from edgeq.bench.stats import LatencyStats, latency_stats
from edgeq.digest import file_sha256
from edgeq.errors import BenchError, ConfigError
from edgeq.export import Artifact
from edgeq.measure import Target, push_artifact
from edgeq.profiles import DeviceProfile

LLM_RUNNER_NAME = "edgeq_llm_runner.py"


@dataclass(frozen=True)
class LlmSettings:
    """How a language model is timed: new tokens per generation, fresh processes, timed generations in each."""

    new_tokens: int = 32
    processes: int = 3
    generations: int = 2
    threads: int = 1
    timeout_s: float = 900.0

    def __post_init__(self) -> None:
        if self.new_tokens < 2:
            raise ConfigError(f"--new-tokens must be ≥ 2 (one to end the prefill, one to decode), got {self.new_tokens}")
        if self.processes < 1 or self.generations < 1 or self.threads < 1:
            raise ConfigError("processes, generations and threads must each be ≥ 1")


@dataclass(frozen=True)
class LlmBench:
    """What the runner reported for one language-model program, pooled over its processes."""

    decode: LatencyStats  # ms per token after the first
    first_token: LatencyStats  # ms from the whole prompt to the first new token
    prompt_tokens: int
    new_tokens: int
    load_ms: float
    first_run_ms: float
    peak_rss_mb: float | None
    model_rss_mb: float | None
    baseline_rss_mb: float | None
    arch: str
    threads: int
    versions: dict[str, Any]
    tokens: list[int]  # the greedy continuation of the timing prompt
    same_tokens: bool  # every generation, in every process, gave the same tokens
    logits: list[torch.Tensor] | None = None  # teacher-forced, one [T, vocab] per check prompt

    @property
    def latency(self) -> LatencyStats:
        """The decode times: what ``selection.choose`` and the lab compare."""
        return self.decode

    @property
    def latencies_ms(self) -> list[float]:
        """Every decode time in measured order (what the lab stores and its gate compares)."""
        return list(self.decode.samples_ms)

    @property
    def decode_tokens_per_s(self) -> float:
        return 1000.0 / self.decode.p50

    @property
    def prefill_tokens_per_s(self) -> float:
        return self.prompt_tokens * 1000.0 / self.first_token.p50


def runner_path() -> Path:
    return resource_dir("runners") / LLM_RUNNER_NAME


def check_runtime(profile: DeviceProfile) -> None:
    """``BenchError`` when the profile's runtime cannot generate: the native executor_runner times one forward call."""
    if profile.runtime == "executor_runner":
        raise BenchError(f"{profile.name} runs the native executor_runner, which times one forward call and cannot "
                         "generate: language models need ExecuTorch's Python runtime on the device for now",
                         hint="use a profile whose runtime is python (edgeq profiles)")


def measure_llm(target: Target, artifact: Artifact, prompt: list[int], check: list[list[int]], settings: LlmSettings,
                scratch: Path, *, runner: Path | None = None) -> LlmBench:
    """Push the program (after the kernel check) and the runner (``runner``, a bundle's own, or edgeq's), and time it
    in ``settings.processes`` fresh processes; the first also returns the teacher-forced logits of ``check``.

    Raises ``BenchError`` when the device cannot run it (``DeviceEnvironmentError`` when its runtime lacks what
    language models need); transport errors pass through.
    """
    profile, transport, workdir = target.profile, target.transport, target.workdir
    check_runtime(profile)
    staged = push_artifact(target, artifact)
    local_runner = runner or runner_path()
    remote_runner = stage_file(transport, local_runner, workdir, "runner", file_sha256(local_runner), ".py").path
    prompts_file = scratch / "llm-prompts.json"
    prompts_file.write_text(json.dumps(check), encoding="utf-8")
    remote_check = stage_file(transport, prompts_file, workdir, "inputs", file_sha256(prompts_file), ".json").path
    reports, logits = [], None
    for index in range(settings.processes):
        argv = [profile.python, remote_runner, "--artifact", staged.path, "--prompt", ",".join(map(str, prompt)),
                "--new-tokens", str(settings.new_tokens), "--generations", str(settings.generations),
                "--threads", str(settings.threads)]
        remote_out = None
        if index == 0 and check:
            remote_out = f"{workdir}/outputs/{artifact.sha256[:16]}-llm-{secrets.token_hex(4)}.pt"
            argv += ["--check", remote_check, "--check-out", remote_out]
        report = successful_report(transport.run(argv, timeout_s=settings.timeout_s, check=False), "the LLM runner")
        if remote_out:
            local = scratch / f"llm-logits-{artifact.sha256[:16]}.pt"
            transport.pull(remote_out, local)
            logits = torch.load(local, weights_only=True)
        reports.append(report)
    first = reports[0]
    return LlmBench(
        decode=latency_stats([ms for report in reports for ms in report["latencies_ms"]]),
        first_token=latency_stats([ms for report in reports for ms in report["first_token_ms"]]),
        prompt_tokens=int(first["prompt_tokens"]), new_tokens=int(first["new_tokens"]),
        load_ms=sorted(float(r["load_ms"]) for r in reports)[len(reports) // 2], first_run_ms=float(first["first_run_ms"]),
        peak_rss_mb=max(float(r["peak_rss_mb"]) for r in reports),
        model_rss_mb=_median([r.get("model_rss_mb") for r in reports]),
        baseline_rss_mb=_median([r.get("baseline_rss_mb") for r in reports]),
        arch=str(first["arch"]), threads=int(first["threads"]), versions=dict(first.get("versions", {})),
        tokens=list(first["tokens"]), same_tokens=all(r["same_tokens"] and r["tokens"] == first["tokens"] for r in reports),
        logits=logits,
    )


def _median(values: list[Any]) -> float | None:
    known = sorted(float(v) for v in values if v is not None)
    return known[len(known) // 2] if known else None
