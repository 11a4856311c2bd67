import pytest
import torch

from edgeq.errors import ConfigError, ModelError
from edgeq.metrics import ENOUGH_SAMPLES, METRICS, caution, resolve_metric, score_outputs
from edgeq.models import EvalSet, LoadedModel, load_model
from edgeq.numerics import cannot_judge


def _loaded(**fields):
    return LoadedModel(name="m", model=torch.nn.Identity(), example_inputs=(torch.zeros(1, 3),), fingerprint="m", **fields)


LOGITS = [[torch.tensor([[0.1, 2.0, 0.3]])]]
EMBEDDING = [[torch.randn(1, 8, 16)]]


def test_the_default_metric_is_the_models_own_accuracy_when_it_has_one():
    loaded = _loaded(eval_set=EvalSet(inputs=[(torch.zeros(1, 3),)], labels=[1]))
    assert resolve_metric(None, loaded, LOGITS).name == "accuracy"


def test_without_labels_classifiers_default_to_top1_agreement_and_others_to_cosine():
    assert resolve_metric(None, _loaded(), LOGITS).name == "top1_agreement"
    assert resolve_metric(None, _loaded(), EMBEDDING).name == "cosine"
    assert resolve_metric(None, _loaded(default_metric="cosine"), LOGITS).name == "cosine"


def test_accuracy_without_evaluation_data_is_a_config_error_with_the_alternatives():
    with pytest.raises(ConfigError, match="no evaluation data") as info:
        resolve_metric("accuracy", _loaded(), LOGITS)
    assert "top1_agreement" in info.value.hint


def test_scores_are_in_the_metrics_unit():
    reference = [[torch.tensor([[0.1, 2.0, 0.3]])], [torch.tensor([[3.0, 2.0, 0.3]])]]
    outputs = [[torch.tensor([[0.1, 2.0, 0.3]])], [torch.tensor([[1.0, 2.0, 0.3]])]]
    assert score_outputs(METRICS["top1_agreement"], _loaded(), reference, outputs) == 50.0
    assert score_outputs(METRICS["cosine"], _loaded(), reference, reference) == pytest.approx(1.0)


def test_an_evaluation_set_scores_a_prefix_of_its_samples():
    eval_set = EvalSet(inputs=[(torch.zeros(1),)] * 4, labels=[0, 1, 1, 1])
    assert eval_set.score([[torch.tensor([1.0, 0.0])], [torch.tensor([0.0, 1.0])]]) == 100.0


def test_a_factory_can_return_training_data_and_it_calibrates(user_models, tmp_path):
    source = tmp_path / "with_training.py"
    source.write_text(
        "import torch\n"
        "def make():\n"
        "    model = torch.nn.Linear(4, 2)\n"
        "    samples = [(torch.randn(1, 4), i % 2) for i in range(10)]\n"
        "    return model, (torch.randn(1, 4),), None, samples\n"
        "def bad():\n"
        "    return torch.nn.Linear(4, 2), (torch.randn(1, 4),), None, 'train.csv'\n")
    loaded = load_model(f"{source}:make")
    assert len(loaded.training.inputs) == 10 and loaded.training.targets[:3] == [0, 1, 0]
    assert len(loaded.calibration) == 10
    with pytest.raises(ModelError, match="fourth item"):
        load_model(f"{source}:bad")


def test_a_judgement_on_numerics_and_one_sample_says_so_and_asks_for_evaluation_data():
    assert caution(METRICS["top1_agreement"], 1) == (
        "judged on 1 sample by top1_agreement against fp32's own outputs (numerics only, no evaluation data): "
        "bring evaluation data to trust this")


def test_a_judgement_on_numerics_names_its_metric_and_samples_even_when_they_are_many():
    assert caution(METRICS["cosine"], 128) == (
        "judged on 128 samples by cosine against fp32's own outputs (numerics only, no evaluation data)")


def test_accuracy_on_too_few_samples_says_so_and_on_enough_says_nothing():
    assert caution(METRICS["accuracy"], 20) == "judged on 20 samples of evaluation data: too few to trust, bring more"
    assert caution(METRICS["accuracy"], ENOUGH_SAMPLES) is None
    assert caution(METRICS["accuracy"], None) is None  # the model's own evaluation function


def test_outputs_all_near_zero_cannot_be_judged_by_numerics():
    reference = [[torch.full((1, 10), 1e-40)], [torch.full((1, 10), -3e-41)]]
    assert cannot_judge(reference) == "its outputs on the 2 check samples are all within 1e-40 of 0"


def test_outputs_that_are_all_the_same_value_cannot_be_judged_by_numerics():
    assert cannot_judge([[torch.full((1, 4), 0.25)]]) == "its outputs on the 1 check sample are all 0.25"


def test_ordinary_logits_can_be_judged_by_numerics():
    assert cannot_judge(LOGITS) is None and cannot_judge(EMBEDDING) is None
