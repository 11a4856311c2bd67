"""`edgeq run` end to end on the host: real quantization, real artifacts, the real runner in a fresh process."""

import json
from pathlib import Path

import pytest
from edgeq_cli import edgeq

# one worker runs the module (make test: --dist loadgroup), so the digits_cnn run is made once
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("cli-run")]


def run_json(*args: str) -> dict:
    proc = edgeq("run", *args, "--runs", "20", "--warmup", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # stdout is pure JSON


def by_variant(result: dict) -> dict:
    """Results by variant, in the first format measured (``--scheme auto`` measures the profile's other format
    too, under the same names); ``int8`` is the first quantized trial (the scheme auto picks first)."""
    variants: dict = {}
    for r in result["results"]:
        variants.setdefault(r["variant"], r)
    variants["int8"] = next(r for r in result["results"] if r["precision"] == "int8")
    return variants


@pytest.fixture(scope="module")
def digits_cnn() -> dict:
    return run_json("zoo:digits-cnn", "--profile", "host")


def test_digits_cnn_static_int8_loses_at_most_half_a_point(digits_cnn):
    variants = by_variant(digits_cnn)
    drop = variants["fp32"]["accuracy"]["value"] - variants["int8-static"]["accuracy"]["value"]
    assert variants["fp32"]["accuracy"]["samples"] == 360
    assert drop <= 0.5


@pytest.mark.parametrize("fmt", ["pte", "ptl"])
def test_digits_cnn_qat_loses_at_most_a_third_of_a_point(fmt):
    variants = by_variant(run_json("zoo:digits-cnn", "--scheme", "qat", "--format", fmt))
    qat = variants["int8-qat"]
    assert any(note.startswith("fine-tuned 2 epoch(s)") for note in qat["notes"])
    # fine-tuned in batches: one sample at a time is the fallback for models whose batch cannot be left free
    assert not any("one sample at a time" in note for note in qat["notes"]), qat["notes"]
    assert variants["fp32"]["accuracy"]["value"] - qat["accuracy"]["value"] <= 0.3


def test_digits_cnn_int8_is_under_a_third_of_the_fp32_size(digits_cnn):
    variants = by_variant(digits_cnn)
    assert variants["int8"]["size_bytes"] <= 0.3 * variants["fp32"]["size_bytes"]


def test_run_result_follows_the_contract(digits_cnn):
    assert {"model", "profile", "results", "device", "chosen"} <= set(digits_cnn)
    for row in digits_cnn["results"]:
        assert {"variant", "scheme", "engine", "format", "artifact", "sha256", "size_bytes", "latency_ms", "load_ms",
                "peak_rss_mb", "accuracy", "numerics"} <= set(row)
        assert {"p50", "p90", "p99", "mean", "std", "cv"} <= set(row["latency_ms"])
        assert Path(row["artifact"]).is_file()
    assert digits_cnn["device"]["arch"] and digits_cnn["device"]["executorch"] == "1.4.1"
    assert digits_cnn["chosen"]["variant"] in {"fp32", "int8-static"} and digits_cnn["chosen"]["reason"]
    assert digits_cnn["budget"] == {"metric": "accuracy", "unit": "points", "max_drop": 1.0, "enforced": False,
                                    "met": True, "fp32_value": by_variant(digits_cnn)["fp32"]["accuracy"]["value"],
                                    "samples": 360, "cannot_judge": None}
    assert digits_cnn["chosen"]["caution"] is None  # 360 held-out samples: enough to trust
    numerics = by_variant(digits_cnn)["int8"]["numerics"]
    assert {"max_abs_err", "cosine", "top1_agreement"} <= set(numerics)


def test_a_second_identical_run_reuses_the_cached_artifacts(digits_cnn):
    again = run_json("zoo:digits-cnn", "--profile", "host")
    for first, second in zip(digits_cnn["results"], again["results"]):
        assert second["cached"] and second["sha256"] == first["sha256"]


def test_legacy_ptl_path_runs_the_engine_of_the_profile():
    result = run_json("zoo:digits-cnn", "--profile", "host", "--format", "ptl")
    variants = by_variant(result)
    assert variants["int8"]["format"] == "ptl" and variants["int8"]["artifact"].endswith(".ptl")
    assert variants["fp32"]["accuracy"]["value"] - variants["int8"]["accuracy"]["value"] <= 1.0


def test_digits_lstm_gets_dynamic_int8_with_its_weights_quantized():
    variants = by_variant(run_json("zoo:digits-lstm", "--profile", "host"))
    assert variants["int8"]["variant"] == "int8-dynamic"
    assert variants["int8"]["size_bytes"] <= 0.4 * variants["fp32"]["size_bytes"]
    assert variants["fp32"]["accuracy"]["value"] - variants["int8"]["accuracy"]["value"] <= 0.5


@pytest.mark.parametrize("factory,scheme,outputs", [
    ("depthwise_net", "static", 1),
    ("two_in_two_out", "static", 2),
    ("with_meta", "dynamic", 1),
])
def test_user_models_run_and_report_numerics(user_models, factory, scheme, outputs):
    # a loose budget: these models bring 20-sample evaluation sets (one flip is 5 points), and the search is not under test
    result = run_json(f"{user_models}:{factory}", "--profile", "host", "--max-drop", "10")
    int8 = by_variant(result)["int8"]
    assert int8["scheme"] == scheme
    assert int8["numerics"]["cosine"] > 0.98
    assert len(int8["outputs"]) == outputs == len(by_variant(result)["fp32"]["outputs"])
    assert int8["numerics"]["samples"] >= 1


def test_minilm_dynamic_int8_keeps_the_embeddings_of_every_shipped_sentence():
    variants = by_variant(run_json("zoo:minilm", "--threads", "1"))
    int8 = variants["int8-dynamic"]
    assert int8["numerics"]["samples"] >= 100  # the shipped sentence set, not the calibration slice
    assert int8["quality"] == int8["numerics"]["cosine"] >= 0.99
    assert variants["fp32"]["outputs"][0]["shape"] == [1, 384]
    # the 30522 × 384 word table is int8 too, looked up by ExecuTorch's quantized kernel
    assert int8["format"] == "pte" and int8["size_bytes"] <= 0.30 * variants["fp32"]["size_bytes"]
    assert int8["backend"]["needs_kernels"] == ["quantized_decomposed::embedding_byte.out"]
