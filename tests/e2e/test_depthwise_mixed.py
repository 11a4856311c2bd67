"""Mixed precision on MobileNet-style nets: keeping layers in fp32 never breaks the XNNPACK lowering, `--scheme auto`
finds int8 within a cosine budget of 0.98 or says what blocks it, and `edgeq inspect` names each layer's cause.

The nets: zoo:mobilenet-v2, and transformers' MobileNetV2 with TensorFlow-style "same" padding computed in front
of every strided depthwise convolution (tests/support/hf_models.py), once trained on digits and once as
transformers initialises it (random weights brought to a trained net's scale)."""

import json
from pathlib import Path

import pytest
import torch
from edgeq_cli import edgeq

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::FutureWarning")]

SUPPORT = Path(__file__).parents[1] / "support"
TRAINED = f"{SUPPORT / 'hf_models.py'}:mobilenetv2_digits"
RANDOM = f"{SUPPORT / 'hf_models.py'}:mobilenetv2_classifier"


@pytest.mark.parametrize("source", ["zoo:mobilenet-v2", TRAINED])
def test_every_layer_kept_fp32_beside_int8_neighbours_lowers_and_computes_the_model(source, tmp_path):
    """Every Conv/Linear layer is kept fp32 in one of two builds (every other layer in graph order), so each
    fp32 layer has int8 layers on both sides: every boundary of the net is lowered and run."""
    from edgeq.export.host_runtime import load_forward
    from edgeq.export.pte import write_pte
    from edgeq.models import load_model
    from edgeq.models.tracing import prepare_for_tracing
    from edgeq.quantize import QuantSpec, quantize

    loaded = load_model(source)
    model = prepare_for_tracing(loaded.model, loaded.keywords)
    layers = [name for name, m in model.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(layers) >= 50  # MobileNetV2: 52 convolutions and the classifier
    samples = loaded.check_inputs or [loaded.example_inputs]
    for half in (layers[0::2], layers[1::2]):
        spec = QuantSpec(scheme="static", engine="x86", format="pte", float_layers=tuple(half))
        result = quantize(model, loaded.example_inputs, spec, calibration=loaded.calibration[:16])
        backend = write_pte(result.model, loaded.example_inputs, tmp_path / "mixed.pte")
        assert backend["delegated_subgraphs"] >= 1 and not backend["ops_outside_backend"], backend
        forward = load_forward(tmp_path / "mixed.pte", "pte")
        for sample in samples[:4]:
            expected = model(*sample)[0].flatten()
            cosine = torch.nn.functional.cosine_similarity(forward(*sample).flatten(), expected, dim=0).item()
            assert cosine >= 0.95, (source, len(half), cosine)


def run_json(*args: str) -> dict:
    proc = edgeq("run", *args, "--profile", "host", "--format", "pte", "--runs", "3", "--warmup", "1", "--json")
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout)


def test_auto_on_the_trained_padded_net_finds_int8_within_a_cosine_budget_of_0_98():
    result = run_json(TRAINED, "--metric", "cosine", "--max-drop", "0.02", "--no-qat")
    within = [row for row in result["results"] if row["precision"] == "int8" and row["within_budget"]]
    assert within and result["budget"]["met"], result["search"]
    assert all(row["quality"] >= 0.98 for row in within)


def test_auto_on_the_untrained_padded_net_lowers_every_mixed_candidate_and_says_what_blocks_int8():
    result = run_json(RANDOM, "--metric", "cosine", "--max-drop", "0.02", "--no-qat")  # the test is about mixed
    mixed = [row for row in result["results"] if "-mixed" in row["variant"]]
    assert [row["variant"] for row in mixed] == ["int8-static-mixed1", "int8-static-mixed2", "int8-static-mixed4"]
    assert all(row["status"] == "ok" and row["backend"]["delegated_subgraphs"] >= 1 for row in mixed), mixed
    # none meets 0.98 on this net: the search names the layers it kept and why they are not enough
    assert not result["budget"]["met"]
    why = next(line for line in result["search"] if line.startswith("mixed precision missed the budget: "))
    assert "the float model amplifies small errors: noise 40 dB below its inputs" in why, why
    ranking = next(line for line in result["search"] if line.startswith("most sensitive layers"))
    assert "mobilenet_v2.layer." in ranking


def inspect_json(source: str) -> dict:
    proc = edgeq("inspect", source, "--metric", "cosine", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_inspect_ranks_the_costly_layers_of_the_untrained_net_with_their_cause():
    report = inspect_json(RANDOM)
    first = report["layers"][0]
    assert first["sensitivity"] > 0 and first["causes"], first
    assert first["causes"][0].startswith("rounding: nothing unusual in its ranges (input resolved to")
    later = [layer for layer in report["layers"] if layer["sqnr_db"] is not None and layer["sqnr_db"] < 10]
    assert later and all(any(c.startswith(("compounded:", "range:", "channel:")) for c in layer["causes"])
                         for layer in later)
    padded = [layer for layer in report["layers"] if layer["padded_input"]]
    # the 3x3 convolutions (the stem's and every depthwise one) read a padded input; the 1x1 ones do not
    assert padded and all(layer["name"].endswith(("conv_3x3.convolution", "first_conv.convolution")) for layer in padded)
    assert any(note.startswith("the float model amplifies small errors") for note in report["notes"])


def test_inspect_finds_nothing_to_blame_on_the_trained_net():
    report = inspect_json(TRAINED)
    assert report["float_value"] - report["quantized_value"] < 0.02
    assert not any(note.startswith("the float model amplifies small errors") for note in report["notes"])
    assert not any(cause.startswith(("rounding:", "range:")) for layer in report["layers"][:5] for cause in layer["causes"])
