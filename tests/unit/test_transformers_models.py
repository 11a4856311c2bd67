"""The transformers test zoo as edgeq prepares it: the same outputs as the model the user handed over."""

import hf_models
import pytest
import torch

from edgeq.models import load_model
from edgeq.models.tracing import prepare_for_tracing
from edgeq.numerics import flatten_outputs


@pytest.mark.parametrize("name", hf_models.ARCHITECTURES)
def test_prepared_transformers_model_gives_the_eager_models_outputs(name):
    loaded = load_model(f"{hf_models.__file__}:{name}")
    model, example = getattr(hf_models, name)()
    with torch.no_grad():
        eager = model.eval()(**example) if isinstance(example, dict) else model.eval()(*example)
        prepared = prepare_for_tracing(loaded.model, loaded.keywords)(*loaded.example_inputs)
    expected = [t for t in flatten_outputs(eager) if isinstance(t, torch.Tensor)]
    assert len(prepared) == len(expected) >= 1
    for got, want in zip(prepared, expected):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert loaded.keywords == (tuple(example) if isinstance(example, dict) else ())


def test_the_zoo_models_come_as_users_hand_them_over():
    model, example = hf_models.gpt2_lm()
    assert model.training  # from_pretrained-like: dropout live
    assert set(example) == {"input_ids", "attention_mask"} and example["input_ids"].dtype == torch.long
