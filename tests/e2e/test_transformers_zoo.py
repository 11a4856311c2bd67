"""Hugging Face transformers models as users hand them over, through the whole pipeline on the host.

Small configs with random weights (``tests/support/hf_models.py``): the library's own forward code, a
``ModelOutput`` out, keyword inputs for the text models. Each must give fp32 and an int8 variant whose
outputs stay within cosine 0.98 of the eager model's; where the main flow fails upstream, the result says
which candidate failed, where, and which flow built the int8 variant instead.
"""

import functools

import hf_models
import pytest

import edgeq
from edgeq import RunOptions, load_profile

# one worker runs the module (make test: --dist loadgroup), so each architecture is built once (run_zoo)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("transformers-zoo")]

# a text encoder, a causal LM, a hybrid conv + attention phone model, a ConvNet, a speech encoder
ARCHITECTURES = ("bert_encoder", "gpt2_lm", "mobilevitv2_classifier", "resnet_classifier", "whisper_encoder")


@functools.cache
def run_zoo(name: str, scheme: str = "auto") -> dict:
    """One short run per architecture and scheme for the whole module: building is what costs. Each model's forward
    pass is what is measured here: GPT-2 as one fixed-length forward (--task forward; ExecuTorch's LLM export does
    not take it, tests/e2e/test_language_models.py)."""
    source = f"{hf_models.__file__}:{name}"
    options = RunOptions(runs=3, warmup=1, scheme=scheme, task="forward")
    return edgeq.run(source, load_profile("host"), options).to_dict()


@pytest.fixture(params=ARCHITECTURES)
def result(request) -> dict:
    return run_zoo(request.param)


def _measured(result: dict) -> list[dict]:
    return [r for r in result["results"] if r["status"] == "ok"]


def test_fp32_artifact_computes_what_the_eager_model_computes(result):
    fp32 = next(r for r in _measured(result) if r["precision"] == "fp32")
    assert fp32["numerics"]["cosine"] > 0.9999
    assert not result["warnings"]


def test_an_int8_variant_stays_within_cosine_0_98_of_fp32_eager(result):
    int8 = [r for r in _measured(result) if r["precision"] == "int8"]
    assert int8, [r.get("error") for r in result["results"]]
    assert max(r["numerics"]["cosine"] for r in int8) >= 0.98
    fp32 = result["results"][0]  # the profile's first format; --scheme auto measures the other's int8 too
    assert all(r["size_bytes"] < fp32["size_bytes"] for r in int8 if r["format"] == fp32["format"])


def test_gpt2_conv1d_projections_are_quantized_like_the_linears_they_are():
    fp32, int8 = [r for r in _measured(run_zoo("gpt2_lm")) if r["format"] == "pte"]
    assert int8["scheme"] == "dynamic"
    assert int8["size_bytes"] < 0.6 * fp32["size_bytes"]  # the Conv1D weights (most of GPT-2's) are int8


def test_mobilevitv2s_upstream_failure_is_named_and_the_torchao_flow_takes_over():
    result = run_zoo("mobilevitv2_classifier")
    failed = [r for r in result["results"] if r["status"] == "failed" and r["format"] == "pte"]
    assert [(r["variant"], r["format"], r["failed_stage"]) for r in failed] == [("int8-dynamic", "pte", "run")]
    assert "(XNN" in failed[0]["error"]  # the line XNNPACK's delegate logged, not only "error: 0x1"
    torchao = next(r for r in _measured(result) if r["variant"] == "int8-dynamic-torchao")
    assert torchao["flow"] == "torchao" and "after int8-dynamic .pte failed" in torchao["scheme_reason"]
    assert any("int8-dynamic .pte failed at run" in line for line in result["search"])
