"""``python -m benchmarks.llm``: language models generated with on this host, edgeq's programs against llama.cpp's
and ONNX Runtime GenAI's of the same weights, at one thread and at every core.

Per model (``benchmarks.llm_models``): every program (``benchmarks.llm_programs``) is built, then timed in
interleaved rounds of fresh processes (the order reversed every other round, so a slow spell on a busy host does not
always hit the same rows): each process generates once untimed and ``generations`` times timed from the first
prompt. The first process of each program also feeds every prompt teacher-forced, and its logits are compared with
the eager fp32 model's (``edgeq.llm.agreement``). Raw samples go to ``benchmarks/results/llm.json``;
``benchmarks/report.py`` renders them into ``docs/benchmarks.md``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from benchmarks.llm_models import MODELS
from benchmarks.llm_programs import EDGEQ, GENAI, LLAMA_CPP, Program, build, missing_peers, run_process, variants
from benchmarks.rounds import write_results
from benchmarks.run import machine, versions
from edgeq.bench.stats import latency_stats
from edgeq.cache import cache_dir
from edgeq.errors import summarize
from edgeq.export import ArtifactCache
from edgeq.llm.agreement import compare_logits, eager_logits
from edgeq.llm.bench import LlmBench, LlmSettings
from edgeq.measure import reach
from edgeq.models import LoadedModel
from edgeq.profiles import load_profile
from edgeq.transport import LocalTransport

RESULTS = Path(__file__).resolve().parent / "results" / "llm.json"
SCHEMA = 1


@dataclass(frozen=True)
class LlmRounds:
    """How long each program is timed: fresh processes per thread count, timed generations in each."""

    new_tokens: int = 32
    generations: int = 2
    processes: int = 3
    threads: tuple[int, ...] = (1, os.cpu_count() or 1)
    timeout_s: float = 1800.0

    def settings(self, threads: int) -> LlmSettings:
        return LlmSettings(new_tokens=self.new_tokens, processes=1, generations=self.generations, threads=threads,
                           timeout_s=self.timeout_s)


def measure(names: tuple[str, ...], rounds: LlmRounds, console: Console) -> dict[str, Any]:
    started = time.monotonic()
    document: dict[str, Any] = {
        "schema": SCHEMA, "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(), "versions": {**versions(), **_peer_versions()},
        "settings": {"new_tokens": rounds.new_tokens, "generations": rounds.generations,
                     "processes": rounds.processes, "threads": list(rounds.threads)},
        "missing": missing_peers(), "models": [],
    }
    caches = {EDGEQ: ArtifactCache(cache_dir() / "artifacts"), LLAMA_CPP: ArtifactCache(cache_dir() / "bench-gguf"),
              GENAI: ArtifactCache(cache_dir() / "bench-genai")}
    target = reach(LocalTransport(), load_profile("host"), "pte", None, console.log)
    with tempfile.TemporaryDirectory(prefix="edgeq-bench-llm-") as scratch:
        for name in names:
            document["models"].append(_ModelBench(MODELS[name](), rounds, caches, target, Path(scratch), console).run())
    document["wall_s"] = round(time.monotonic() - started, 1)
    return document


class _ModelBench:
    def __init__(self, loaded: LoadedModel, rounds: LlmRounds, caches: dict[str, ArtifactCache], target: Any,
                 scratch: Path, console: Console) -> None:
        self.loaded, self.rounds, self.caches, self.target, self.console = loaded, rounds, caches, target, console
        self.scratch = scratch

    def run(self) -> dict[str, Any]:
        started, load_before = time.monotonic(), os.getloadavg()
        loaded, say = self.loaded, self.console.log
        prompts = [list(prompt) for prompt in loaded.prompts]
        say(f"{loaded.name}: fp32 eager logits on {len(prompts)} prompts")
        reference = eager_logits(loaded.model, prompts)
        rows, programs = [], []
        for variant in variants():
            row: dict[str, Any] = {"runtime": variant.runtime, "variant": variant.name, "precision": variant.precision,
                                   "detail": variant.detail, "label": variant.label, "timings": {}}
            say(f"{loaded.name}: building {variant.label}")
            try:
                program = build(variant, loaded, self.caches, say)
                row.update(size_bytes=program.size_bytes, build_s=program.build_s, **program.facts)
            except Exception as exc:  # noqa: BLE001 - one runtime that cannot build must not sink the table
                row["error"] = summarize(exc)
                say(f"[yellow]{loaded.name} {variant.label}: {row['error']}")
                program = None
            rows.append(row)
            programs.append(program)
        for threads in self.rounds.threads:
            self._time(rows, programs, threads, prompts, reference)
        return {"model": loaded.name.removeprefix("zoo:"), "description": loaded.description,
                "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "settings": {"processes": self.rounds.processes, "generations": self.rounds.generations,
                             "new_tokens": self.rounds.new_tokens},
                "parameters": sum(parameter.numel() for parameter in loaded.model.parameters()),
                "prompts": len(prompts), "timing_prompt_tokens": len(prompts[0]),
                "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
                "wall_s": round(time.monotonic() - started, 1), "rows": rows}

    def _time(self, rows: list[dict[str, Any]], programs: list[Program | None], threads: int,
              prompts: list[list[int]], reference: list[Any]) -> None:
        """Every program in ``processes`` interleaved rounds at ``threads``; the first process of each program, at
        the first thread count, also gives its logits."""
        settings = self.rounds.settings(threads)
        processes: list[list[LlmBench]] = [[] for _ in rows]
        order = list(enumerate(zip(rows, programs, strict=True)))
        for round_index in range(self.rounds.processes):
            for index, (row, program) in order if round_index % 2 == 0 else order[::-1]:
                if program is None or "error" in row:
                    continue
                check = prompts if round_index == 0 and "agreement" not in row else []
                self.console.log(f"{self.loaded.name}: {row['label']}, {threads} thread(s), process "
                                 f"{round_index + 1}/{self.rounds.processes}")
                try:
                    bench = run_process(program, self.target, prompts[0], check, settings, self.scratch)
                    if check:
                        row["agreement"] = compare_logits(reference, bench.logits or [])
                except Exception as exc:  # noqa: BLE001 - a runner that fails must not sink the table
                    row["error"] = summarize(exc)
                    self.console.log(f"[yellow]{self.loaded.name} {row['label']}: {row['error']}")
                    continue
                processes[index].append(bench)
        for row, benches in zip(rows, processes, strict=True):
            if benches and "error" not in row:
                row["timings"][str(threads)] = _pooled(benches)
                self.console.log(_line(self.loaded.name, row, threads))


def merged(document: dict[str, Any], path: Path) -> dict[str, Any]:
    """``document`` with the models of an earlier results file at ``path`` that it did not measure again, so that
    ``--model NAME`` re-measures one model and keeps the others."""
    if not path.is_file():
        return document
    earlier = json.loads(path.read_text(encoding="utf-8"))
    if earlier.get("schema") != document["schema"]:
        return document
    measured = {model["model"]: model for model in document["models"]}
    models = [measured.pop(model["model"], model) for model in earlier["models"]]  # in the earlier file's order
    return {**document, "models": models + list(measured.values())}


def _pooled(benches: list[LlmBench]) -> dict[str, Any]:
    """One program at one thread count: the processes' samples kept apart (the renderer pools and compares them),
    and their summary."""
    decode = [list(bench.decode.samples_ms) for bench in benches]
    first_token = [list(bench.first_token.samples_ms) for bench in benches]
    pooled = latency_stats([value for process in decode for value in process])
    return {
        "decode_ms": pooled.to_dict(), "decode_samples_ms": decode,
        "process_decode_p50_ms": [bench.decode.p50 for bench in benches],
        "decode_tokens_per_s": 1000.0 / pooled.p50,
        "first_token_ms": latency_stats([value for process in first_token for value in process]).to_dict(),
        "first_token_samples_ms": first_token, "prompt_tokens": benches[0].prompt_tokens,
        "load_ms": sorted(bench.load_ms for bench in benches)[len(benches) // 2],
        "model_rss_mb": _median([bench.model_rss_mb for bench in benches]),
        "peak_rss_mb": max((bench.peak_rss_mb for bench in benches if bench.peak_rss_mb is not None), default=None),
        "tokens": benches[0].tokens,
        "same_tokens": all(bench.same_tokens and bench.tokens == benches[0].tokens for bench in benches),
        "runner_versions": benches[0].versions,
    }


def _median(values: list[float | None]) -> float | None:
    known = sorted(value for value in values if value is not None)
    return known[len(known) // 2] if known else None


def _line(model: str, row: dict[str, Any], threads: int) -> str:
    timing = row["timings"][str(threads)]
    agreement = row.get("agreement") or {}
    return (f"{model:<11} {row['label']:<24} {threads} thr  decode {timing['decode_tokens_per_s']:7.1f} tok/s "
            f"(cv {timing['decode_ms']['cv']:.0%})  first token {timing['first_token_ms']['p50']:7.1f} ms  "
            f"{row['size_bytes'] / 2**20:6.1f} MiB  greedy {agreement.get('greedy_agreement', float('nan')):.1%}")


def _peer_versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for package in ("llama_cpp_python", "gguf", "onnxruntime-genai"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


@click.command()
@click.option("--model", "models", multiple=True, type=click.Choice(tuple(MODELS)),
              help="Measure only these (repeatable); default: all.")
@click.option("--processes", default=LlmRounds.processes, type=click.IntRange(min=1), show_default=True,
              help="Fresh processes per program and thread count, in interleaved rounds; their samples are pooled.")
@click.option("--generations", default=LlmRounds.generations, type=click.IntRange(min=1), show_default=True,
              help="Timed generations per process.")
@click.option("--new-tokens", default=LlmRounds.new_tokens, type=click.IntRange(min=2), show_default=True,
              help="Tokens each generation makes.")
@click.option("--threads", "threads", multiple=True, type=click.IntRange(min=1),
              help="Thread counts to time at (repeatable); default: 1 and every core.")
@click.option("--out", type=click.Path(path_type=Path), default=RESULTS, show_default=True, help="Results JSON.")
@click.option("--render/--no-render", default=True, show_default=True, help="Re-render docs/benchmarks.md after.")
def main(models: tuple[str, ...], processes: int, generations: int, new_tokens: int, threads: tuple[int, ...],
         out: Path, render: bool) -> None:
    """Generate with each language model in edgeq's programs, llama.cpp's and ONNX Runtime GenAI's."""
    console = Console(stderr=True, highlight=False, log_path=False)
    rounds = LlmRounds(new_tokens=new_tokens, generations=generations, processes=processes,
                       threads=tuple(dict.fromkeys(threads)) or LlmRounds.threads)
    write_results(merged(measure(models or tuple(MODELS), rounds, console), out), out)
    console.log(f"wrote {out}")
    if render:
        from benchmarks import report

        report.main([])
        console.log(f"rendered {report.DOC}")


if __name__ == "__main__":
    main()
