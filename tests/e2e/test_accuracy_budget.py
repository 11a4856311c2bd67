"""Accuracy budgets end to end: a model with one damaged layer, `edgeq inspect`, and `--scheme auto --max-drop`."""

import json

import pytest
from edgeq_cli import edgeq

pytestmark = pytest.mark.slow


@pytest.fixture
def damaged(user_models):
    return f"{user_models}:outlier_weights_cnn"


def test_inspect_ranks_the_damaged_layer_first(damaged):
    proc = edgeq("inspect", damaged, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    first, *rest = report["layers"]
    assert first["name"] == "features.3"  # the module's path in the user's model
    assert first["sensitivity"] > 50 and all(layer["sensitivity"] < 1 for layer in rest)
    assert first["weight_max"] > 50  # the outlier is visible in the weight range
    assert {"name", "kind", "sqnr_db", "max_abs_err", "sensitivity", "weight_min", "activation_max"} <= set(first)


def test_auto_keeps_the_culprit_in_float_to_meet_a_budget_static_misses(damaged):
    proc = edgeq("run", damaged, "--max-drop", "0.5", "--no-qat", "--format", "pte", "--runs", "5", "--warmup", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    trials = {row["variant"]: row for row in result["results"]}
    assert not trials["int8-static"]["within_budget"]
    assert trials["int8-static-mixed1"]["float_layers"] == ["features.3"]
    assert trials["int8-static-mixed1"]["within_budget"]
    assert result["chosen"]["variant"] in {"fp32", "int8-static-mixed1"}
    ranking = next(line for line in result["search"] if line.startswith("most sensitive layers"))
    assert ranking.startswith("most sensitive layers (fast ranking, ") and "s): features.3 " in ranking
    assert result["budget"]["enforced"] and result["budget"]["met"]


def test_an_impossible_budget_exits_1_and_shows_the_best_candidate(damaged):
    proc = edgeq("run", damaged, "--metric", "cosine", "--max-drop", "0", "--no-qat", "--format", "pte", "--runs", "3",
                 "--warmup", "1")
    assert proc.returncode == 1, proc.stderr
    assert "error: no int8 variant met the budget (cosine drop ≤ 0); best found: int8-static-mixed" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "search: int8-static-mixed4" in proc.stdout  # the table and the trial log are still printed


def test_auto_meets_the_budget_with_every_layer_int8_by_equalizing_an_outlier_activation(user_models):
    proc = edgeq("run", f"{user_models}:outlier_activation_mlp", "--max-drop", "1", "--runs", "5", "--warmup", "1",
                 "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    trials = {(row["variant"], row["format"]): row for row in result["results"]}
    plain = trials[("int8-dynamic", "pte")]
    equalized = trials[("int8-dynamic-eq", "pte")]
    assert not plain["within_budget"] and equalized["within_budget"] and equalized["float_layers"] == []
    assert any(note.startswith("equalized hidden → head") for note in equalized["notes"])
    assert not any(row["float_layers"] for row in result["results"])  # mixed precision was not needed
    assert result["budget"]["met"]


def test_inspect_names_the_outlier_channel_and_how_far_out_it_is(user_models):
    proc = edgeq("inspect", f"{user_models}:outlier_activation_mlp", "--json")
    assert proc.returncode == 0, proc.stderr
    layers = {layer["name"]: layer for layer in json.loads(proc.stdout)["layers"]}
    [outlier] = layers["head"]["outlier_channels"]
    assert outlier["ratio"] > 100
    assert layers["hidden"]["outlier_channels"] == []  # digits pixels: no channel dwarfs the rest
    text = edgeq("inspect", f"{user_models}:outlier_activation_mlp").stdout
    assert f"head's input has channel(s) far wider than its median channel: channel {outlier['channel']}" in text
