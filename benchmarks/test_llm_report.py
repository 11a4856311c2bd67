"""The language-model section's renderer on a hand-made results document (no timing; run with
``pytest benchmarks/test_llm_report.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.llm_report import render_document, render_llm

_NOISE = np.random.default_rng(0).standard_normal(62)


def _processes(p50: float, processes: int = 3, cv: float = 0.01) -> list[list[float]]:
    """Per-process decode times whose pooled median is exactly ``p50``."""
    noise = _NOISE - np.median(_NOISE)
    return [[float(p50 * np.exp(cv * z)) for z in np.roll(noise, index)] for index in range(processes)]


def _timing(decode_ms: float) -> dict[str, Any]:
    samples = _processes(decode_ms)
    return {"decode_ms": {"p50": decode_ms, "p90": decode_ms * 1.01, "cv": 0.01, "noisy": False},
            "decode_samples_ms": samples, "process_decode_p50_ms": [float(np.median(s)) for s in samples],
            "decode_tokens_per_s": 1000.0 / decode_ms, "first_token_ms": {"p50": decode_ms * 3},
            "first_token_samples_ms": [[decode_ms * 3]] * 3, "prompt_tokens": 30, "model_rss_mb": 50.0,
            "peak_rss_mb": 500.0, "tokens": [1, 2], "same_tokens": True, "runner_versions": {}}


def _row(runtime: str, variant: str, decode_ms: dict[str, float], **extra: Any) -> dict[str, Any]:
    return {"runtime": runtime, "variant": variant, "precision": "x", "detail": "", "label": f"{runtime} {variant}",
            "size_bytes": 10 << 20, "timings": {threads: _timing(ms) for threads, ms in decode_ms.items()},
            "agreement": {"greedy_agreement": 0.98, "kl_mean": 0.01, "cosine": 0.99, "cosine_min": 0.95}, **extra}


def _document() -> dict[str, Any]:
    return {
        "date": "2026-01-01T00:00:00+00:00",
        "machine": {"cpu": "Test CPU", "cores": 2, "arch": "x86_64", "isa": ["avx2", "avx512_vnni"]},
        "versions": {"llama_cpp_python": "0.3.36", "executorch": "1.4.1"},
        "settings": {"new_tokens": 32, "generations": 2, "processes": 3, "threads": [1, 2]},
        "missing": ["ONNX Runtime GenAI: not installed"],
        "models": [{
            "model": "llama-94m", "description": "a Llama", "parameters": 94e6, "prompts": 8, "timing_prompt_tokens": 30,
            "load_average": {"before": [2.0, 2.0, 2.0], "after": [3.0, 3.0, 3.0]},
            "rows": [
                _row("edgeq", "fp32", {"1": 40.0, "2": 25.0}),
                _row("edgeq", "8da8w", {"1": 20.0, "2": 12.0}),
                _row("edgeq", "8da4w", {"1": 10.0, "2": 8.0}),
                _row("llama.cpp", "Q8_0", {"1": 16.0, "2": 10.0}, tensor_types={"Q8_0": 58, "F32": 17}),
                _row("llama.cpp", "Q4_0", {"1": 20.0, "2": 9.0}),
                {"runtime": "llama.cpp", "variant": "F32", "precision": "fp32", "detail": "", "label": "llama.cpp F32",
                 "timings": {}, "error": "RuntimeError: boom | bang"},
            ],
        }],
    }


def test_8da4w_over_fp32_says_whether_its_whole_interval_clears_the_bar() -> None:
    page = render_document(_document())
    assert "- edgeq 8da4w over the fp32 .pte at 1 thread(s): 4.00× (95 % CI" in page
    assert "≥ 1.5× with its whole interval: **yes**" in page


def test_each_sides_fastest_are_set_against_each_other() -> None:
    page = render_document(_document())
    assert "| 1 | edgeq 8da4w vs llama.cpp Q8_0 (each side's fastest) | 1.60× (" in page
    assert "| 2 | edgeq 8da4w vs llama.cpp Q4_0 (each side's fastest) | 1.12× (" in page


def test_same_precision_pairs_are_compared() -> None:
    assert "| 1 | edgeq 8da8w vs llama.cpp Q8_0 | 0.80× (" in render_document(_document())


def test_the_fastest_decoder_is_named_per_thread_count() -> None:
    page = render_document(_document())
    assert "- Fastest decoder at 1 thread(s): **edgeq 8da4w**, 100.0 tokens/s." in page
    assert "- Fastest decoder at 2 thread(s): **edgeq 8da4w**, 125.0 tokens/s." in page


def test_a_failed_program_and_a_missing_peer_are_said() -> None:
    page = render_document(_document())
    assert "failed: RuntimeError: boom \\| bang" in page
    assert "- **Not measured:** ONNX Runtime GenAI: not installed." in page


def test_the_load_average_and_cpu_flags_go_with_the_figures() -> None:
    page = render_document(_document())
    assert "CPU flags: avx2, avx512_vnni" in page
    assert "Load average (1 min) 2.0 before and 3.0 after" in page


def test_no_results_file_no_section(tmp_path: Path) -> None:
    assert render_llm(tmp_path / "absent.json") == ""


def test_the_bar_is_judged_on_the_largest_model_only() -> None:
    document = _document()
    small = {**document["models"][0], "model": "tiny-llama", "parameters": 0.9e6}
    document["models"].insert(0, small)
    page = render_document(document)
    assert page.count("≥ 1.5× with its whole interval") == 2  # llama-94m at 1 and 2 threads
    assert "- Fastest decoder at 1 thread(s)" in page.split("### llama-94m")[0]


def test_a_fastest_decoder_within_the_noise_of_another_says_so() -> None:
    document = _document()
    document["models"][0]["rows"][4] = _row("llama.cpp", "Q4_0", {"1": 10.1, "2": 9.0})
    assert ("- Fastest decoder at 1 thread(s): **edgeq 8da4w**, 100.0 tokens/s; not significantly faster than "
            "llama.cpp Q4_0." in render_document(document))
