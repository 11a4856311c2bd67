"""Models shaped as users bring them, through the whole pipeline on the host: fp32 and int8 with numerics.

Each model packs several shapes that used to break export (see ``tests/support/user_models.py``). Runs are
short (3 timed runs): these tests check what was built and how close it is, not how fast it is.
"""

import json

import pytest
from edgeq_cli import edgeq as edgeq_cli

import edgeq
from edgeq import RunOptions, load_profile

pytestmark = pytest.mark.slow


def run(source: str, **options) -> dict:
    return edgeq.run(source, load_profile("host"), RunOptions(runs=3, warmup=1, **options)).to_dict()


def measured(result: dict, precision: str) -> dict:
    return next(r for r in result["results"] if r["status"] == "ok" and r["precision"] == precision)


@pytest.mark.parametrize("fmt", ["pte", "ptl"])
def test_a_top_level_sequential_cnn_with_batchnorm_gives_fp32_and_int8(user_models, fmt):
    result = run(f"{user_models}:sequential_cnn", format=fmt)
    fp32, int8 = measured(result, "fp32"), measured(result, "int8")
    assert fp32["format"] == int8["format"] == fmt
    assert int8["scheme"] == "static"
    assert fp32["numerics"]["cosine"] > 0.9999  # the artifact computes what the model computes
    assert int8["numerics"]["cosine"] >= 0.98
    assert int8["accuracy"]["value"] >= fp32["accuracy"]["value"] - 2.0
    assert int8["size_bytes"] < 0.7 * fp32["size_bytes"]  # a model this small carries the format's own overhead
    assert not result["warnings"]


@pytest.mark.parametrize("fmt", ["pte", "ptl"])
@pytest.mark.parametrize("factory,outputs", [
    ("token_tagger", 2),  # tied weights, token ids, a ModuleList, a buffer as input, a dataclass out
    ("multitask_heads", 3),  # a ModuleDict, keyword and keyword-only inputs, a dict out with None and a tuple
])
def test_user_model_shapes_give_fp32_and_int8_with_numerics(user_models, factory, outputs, fmt):
    result = run(f"{user_models}:{factory}", format=fmt)
    fp32, int8 = measured(result, "fp32"), measured(result, "int8")
    assert fp32["numerics"]["cosine"] > 0.9999
    assert int8["numerics"]["cosine"] >= 0.98
    assert len(fp32["outputs"]) == len(int8["outputs"]) == outputs
    failed = [(r["variant"], r["failed_stage"]) for r in result["results"] if r["status"] == "failed"]
    # torch.fx regenerates forward(image, mask=None, *, temperature) without its `*`: legacy static cannot trace it
    assert failed == ([("int8-static", "quantize")] if (factory, fmt) == ("multitask_heads", "ptl") else [])


def test_a_model_whose_int8_cannot_be_built_still_exits_0_with_fp32_measured(user_models, tmp_path):
    proc = edgeq_cli("run", f"{user_models}:float64_head", "--runs", "3", "--warmup", "1", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    fp32 = measured(result, "fp32")
    assert fp32["latency_ms"]["p50"] > 0 and fp32["numerics"]["cosine"] > 0.9999
    failed = [r for r in result["results"] if r["status"] == "failed"]
    # every candidate was tried: both schemes in both formats, and the torchao flow for dynamic .pte
    assert {(r["variant"], r["format"]) for r in failed} >= {("int8-dynamic", "pte"), ("int8-dynamic-torchao", "pte"),
                                                             ("int8-static", "pte"), ("int8-dynamic", "ptl")}
    assert all(r["error"] and "\n" not in r["error"] for r in failed)
    assert result["chosen"]["variant"] == "fp32" and result["budget"]["met"] is False
    table = proc.stdout
    assert "int8-dynamic .pte failed at quantize" in table and "float64" in table
    assert "chosen: fp32" in table


def test_an_enforced_budget_that_no_int8_could_be_built_for_exits_1(user_models):
    proc = edgeq_cli("run", f"{user_models}:float64_head", "--runs", "3", "--warmup", "1", "--format", "ptl",
                     "--scheme", "dynamic", "--max-drop", "1")
    assert proc.returncode == 1
    assert "none could be built (int8-dynamic .ptl failed)" in proc.stderr


def test_an_fp32_export_failure_moves_to_the_other_format_the_profile_runs(user_models):
    result = run(f"{user_models}:spectral_mixer")
    fp32, int8 = measured(result, "fp32"), measured(result, "int8")
    assert fp32["format"] == int8["format"] == "ptl"
    assert int8["numerics"]["cosine"] >= 0.98
    failed = {(r["variant"], r["format"], r["failed_stage"]) for r in result["results"] if r["status"] == "failed"}
    assert ("fp32", "pte", "export") in failed
    assert result["chosen"]["format"] == "ptl"


def test_a_value_branch_is_scripted_for_the_lite_interpreter_not_traced_down_one_path(user_models):
    result = run(f"{user_models}:value_branch", scheme="none")
    fp32 = measured(result, "fp32")
    assert fp32["format"] == "ptl" and fp32["backend"]["torchscript"] == "script"
    assert [r["failed_stage"] for r in result["results"] if r["status"] == "failed"] == ["export"]


def test_nothing_buildable_exits_2_naming_what_was_tried_and_the_users_line(user_models):
    proc = edgeq_cli("run", f"{user_models}:value_branch", "--format", "pte")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    first = proc.stderr.splitlines()[0]
    assert first.startswith("error: user_models.py:value_branch: no variant could be built (fp32 tried as .pte)")
    branch = next(number for number, line in enumerate(user_models.read_text().splitlines(), 1) if "if x.sum() > 0" in line)
    assert f"torch.export failed at user_models.py:{branch}" in first
    assert "hint: the model branches on tensor values" in proc.stderr
