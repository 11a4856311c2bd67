"""The report renderer on a hand-made results document (no timing; run with ``pytest benchmarks/test_report.py``)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from benchmarks import notes
from benchmarks.report import render


def _latency(p50: float, cv: float = 0.01) -> dict[str, Any]:
    return {"p50": p50, "p90": p50 * 1.01, "p99": p50 * 1.02, "mean": p50, "std": p50 * cv, "cv": cv, "runs": 50,
            "noisy": cv >= 0.10}


_NOISE = np.random.default_rng(0).standard_normal(50)


def _samples(p50: float, cv: float = 0.01, processes: int = 3) -> list[list[float]]:
    """Per-process raw latencies whose pooled median is exactly ``p50``, as benchmarks/run.py writes them."""
    noise = _NOISE - np.median(_NOISE)  # the same shape for every row, so ratios of medians are exact
    return [[float(p50 * np.exp(cv * z)) for z in np.roll(noise, index)] for index in range(processes)]


def _row(runtime: str, precision: str, p50: float, size: int, cosine: float = 1.0, cv: float = 0.01,
         **extra: Any) -> dict[str, Any]:
    label = f"{runtime} {precision}"
    return {"runtime": runtime, "precision": precision, "scheme": "none" if precision == "fp32" else "dynamic",
            "engine": None, "activations": None, "detail": "", "format": "x", "label": label,
            "size_bytes": size, "latency_ms": _latency(p50, cv), "latencies_ms": _samples(p50, cv),
            "accuracy": {"cosine": cosine, "top1_agreement": 1.0}, "backend": None, "notes": [], **extra}


def _document(model: str = "minilm") -> dict[str, Any]:
    return {
        "schema": 1, "date": "2026-01-01T00:00:00+00:00", "wall_s": 60.0,
        "machine": {"cpu": "Test CPU", "cores": 2, "arch": "x86_64", "isa": ["avx2"], "engine": "x86",
                    "platform": "Linux"},
        "versions": {"torch": "2", "executorch": "1", "python": "3.11", "edgeq": "0.1", "git": "abc"},
        "settings": {"runs": 50, "warmup": 5, "threads": 1},
        "models": [{
            "model": model, "description": "a model", "int8_scheme": "dynamic", "scheme_reason": "because",
            "metric": "cosine", "check": "cosine on 3 sentences", "check_samples": 3,
            "results": [
                _row("eager", "fp32", 10.0, 4000),
                {**_row("torch.ao", "int8", 5.0, 1000, cv=0.2), "engine": "qnnpack", "detail": "qnnpack"},
                _row("executorch", "fp32", 4.0, 4000),
                _row("executorch", "int8", 2.0, 1000, cosine=0.999,
                     backend={"delegated_nodes": 9, "delegated_subgraphs": 2, "non_delegated_nodes": 3,
                              "ops_outside_backend": ["aten_embedding_default"]}),
                _row("onnxruntime", "fp32", 4.0, 4000),
                _row("onnxruntime", "int8", 1.0, 900, cosine=0.98, backend={"optimized_ops": {"MatMulInteger": 4}}),
                {"runtime": "onnxruntime", "precision": "int8", "label": "onnxruntime int8 (uint8 activations)",
                 "detail": "uint8 activations", "engine": None, "error": "RuntimeError: boom | bang"},
            ],
        }],
    }


def test_ratios_say_faster_or_slower_with_the_speedup() -> None:
    page = render(_document())
    assert "| minilm | executorch int8 | 5.00× faster | 2.00× faster | 0.25× | 0.25× |" in page


def test_a_noisy_run_is_flagged() -> None:
    assert "20.0% ⚠ noisy" in render(_document())


def test_a_failed_variant_is_shown_with_its_error_escaped() -> None:
    assert "failed: RuntimeError: boom \\| bang" in render(_document())


def test_ort_faster_than_executorch_names_the_model_and_asks_for_analysis_when_missing() -> None:
    page = render(_document("not-a-zoo-model"))
    assert "### not-a-zoo-model" in page
    assert "**2.00× faster** than ExecuTorch int8" in page
    assert "No analysis written for not-a-zoo-model yet" in page


def test_ort_faster_section_uses_the_written_analysis(monkeypatch: Any) -> None:
    monkeypatch.setitem(notes.INT8_GRAPHS, "some-model", "Because ORT fuses the whole thing.")
    page = render(_document("some-model"))
    assert "Because ORT fuses the whole thing." in page
    assert "No analysis written" not in page


def test_ops_outside_xnnpack_and_ort_fusions_are_listed() -> None:
    page = render(_document())
    assert "`aten_embedding_default`" in page
    assert "`MatMulInteger` ×4" in page


def test_a_near_tie_reads_no_significant_change() -> None:
    document = _document()
    document["models"][0]["results"][4] = _row("onnxruntime", "fp32", 4.04, 4000)  # 1 % slower than the .pte
    assert "| minilm | onnxruntime fp32 | 2.48× faster | — |" in render(document)
    document["models"][0]["results"][5] = _row("onnxruntime", "int8", 2.02, 900)  # 1 % slower than ExecuTorch int8
    assert "2.02 ms: 1.01×, no significant change — median 1.0 % faster (95 % CI" in render(document)


def test_a_very_noisy_comparison_is_inconclusive() -> None:
    document = _document()
    document["models"][0]["results"][5] = _row("onnxruntime", "int8", 3.9, 900, cv=0.5)
    assert "| minilm | onnxruntime int8 | 2.56× faster | 1.03× inconclusive |" in render(document)


def test_rows_without_raw_samples_are_inconclusive() -> None:
    document = _document()
    for row in document["models"][0]["results"]:
        row.pop("latencies_ms", None)
    assert "| minilm | executorch int8 | 5.00× inconclusive | 2.00× inconclusive |" in render(document)


def test_each_row_shows_its_build_time_and_the_models_own_memory() -> None:
    document = _document()
    document["models"][0]["results"][3].update(build_s=12.34, cached=False, model_rss_mb=21.25)
    assert "| ExecuTorch (.pte, XNNPACK) | int8 | 2.00 | 2.02 | 1.0% | 2.00 | 1 KiB | 21.2 MiB | 12.3 | 0.9990 |" \
        in render(document)
    assert "| PyTorch eager | fp32 | 10.0 | 10.1 | 1.0% | 10.0 | 4 KiB | — | — |" in render(document)  # not measured


def test_the_auto_search_shows_its_time_its_candidates_of_both_formats_and_how_near_the_fastest_it_chose() -> None:
    document = _document()
    document["models"][0]["auto"] = {
        "search_s": 42.0, "chosen": {"variant": "int8-static", "format": "pte"}, "search": [],
        "candidates": [
            {"variant": "fp32", "format": "pte", "status": "ok", "p50_ms": 4.0, "within_budget": True},
            {"variant": "int8-static", "format": "pte", "status": "ok", "p50_ms": 2.0, "within_budget": True},
            {"variant": "int8-static", "format": "ptl", "status": "ok", "p50_ms": 1.9, "within_budget": True},
            {"variant": "int8-dynamic", "format": "ptl", "status": "failed", "p50_ms": None, "within_budget": False},
        ]}
    page = render(document)
    assert "| minilm | 42.0 | — (not needed) | int8-static .pte | 1.05× | fp32 .pte 4.00, int8-static .pte 2.00, int8-static .ptl 1.90, " \
           "int8-dynamic .ptl failed |" in page


def _lowering(name: str, p50: float, **extra: Any) -> dict[str, Any]:
    return {"name": name, "description": f"{name} described", "precision": "int8", "probe": False, "build_s": 12.5,
            "size_bytes": 240_000, "latency_ms": _latency(p50), "process_p50_ms": [p50, p50 * 1.02],
            "latencies_ms": _samples(p50), "accuracy": {"top1": 96.11}, **extra}


def test_the_lstm_lowerings_are_compared_with_onnx_runtime_and_explained(tmp_path: Any) -> None:
    from benchmarks.report import _lstm_lowerings

    results = tmp_path / "lstm-lowerings.json"
    results.write_text(json.dumps({
        "date": "2026-01-01T00:00:00+00:00", "machine": {"cpu": "Test CPU", "isa": ["avx2"]},
        "settings": {"runs": 500, "warmup": 50, "processes": 2, "threads": 1}, "model": "digits-lstm",
        "check": "held-out top-1 on 360 labelled samples", "shipped": "wavefront", "baseline": "onnxruntime int8",
        "lowerings": [
            _lowering("per layer", 0.100, xnnpack_subgraphs=20, ops_outside=["aten_split_with_sizes_copy_default"]),
            _lowering("wavefront", 0.080, xnnpack_subgraphs=1, ops_outside=[]),
            _lowering("onnxruntime int8", 0.082),
        ]}))
    text = _lstm_lowerings(results)
    per_layer, wavefront, ort = (next(line for line in text.splitlines() if line.startswith(f"| {name}"))
                                 for name in ("per layer", "**wavefront** (edgeq)", "onnxruntime int8"))
    assert "0.82× slower" in per_layer and "`aten_split_with_sizes_copy_default`" in per_layer and "| 20 |" in per_layer
    assert "1.02× n.s." in wavefront and "96.11 %" in wavefront
    assert "| — |" in ort
    assert "- **per layer**: per layer described." in text
    assert "What is left." in text  # the analysis in benchmarks/notes.py


def test_the_lstm_section_is_left_out_until_it_was_measured(tmp_path: Any) -> None:
    from benchmarks.report import _lstm_lowerings

    assert _lstm_lowerings(tmp_path / "absent.json") == ""
