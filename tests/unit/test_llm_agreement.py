"""How a language model's logits are compared with fp32's, and which models are run as language models."""

import pytest
import torch

from edgeq.errors import ConfigError, ModelError
from edgeq.llm.agreement import compare_logits
from edgeq.llm.task import CAUSAL_LM, FORWARD, prompts_of, resolve_task
from edgeq.models.types import LoadedModel


def test_identical_logits_agree_everywhere_with_no_divergence():
    logits = [torch.randn(5, 16, generator=torch.Generator().manual_seed(0)), torch.randn(3, 16)]
    found = compare_logits(logits, [t.clone() for t in logits])
    assert found["greedy_agreement"] == 1.0 and found["positions"] == 8 and found["prompts"] == 2
    assert found["kl_mean"] == pytest.approx(0.0, abs=1e-12) and found["cosine_min"] == pytest.approx(1.0)


def test_one_flipped_argmax_in_four_positions_is_75_percent_and_costs_divergence():
    reference = torch.tensor([[4.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 4.0], [4.0, 0.0, 0.0]])
    measured = reference.clone()
    measured[3] = torch.tensor([0.0, 4.0, 0.0])
    found = compare_logits([reference], [measured])
    assert found["greedy_agreement"] == 0.75
    assert found["kl_mean"] > 0.5  # a quarter of the positions put fp32's likely token at ~2 %


def test_logits_of_another_shape_are_refused():
    with pytest.raises(ValueError, match="shape"):
        compare_logits([torch.zeros(4, 8)], [torch.zeros(4, 9)])


def _loaded(model, example, **fields):
    return LoadedModel(name="m", model=model, example_inputs=example, fingerprint="m", **fields)


def test_a_transformers_causal_lm_is_run_as_one_and_a_plain_module_is_not():
    from transformers import LlamaConfig, LlamaForCausalLM

    llama = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=1))
    ids = torch.tensor([[1, 2, 3]])
    assert resolve_task("auto", _loaded(llama, (ids,))) == CAUSAL_LM
    assert resolve_task("forward", _loaded(llama, (ids,))) == FORWARD
    assert prompts_of(_loaded(llama, (ids,))) == [[1, 2, 3]]
    mlp = torch.nn.Linear(4, 2)
    assert resolve_task("auto", _loaded(mlp, (torch.zeros(1, 4),))) == FORWARD
    with pytest.raises(ConfigError, match="Linear\\) is not a causal language model"):
        resolve_task(CAUSAL_LM, _loaded(mlp, (torch.zeros(1, 4),)))


def test_a_language_models_prompt_must_be_one_row_of_token_ids():
    from transformers import LlamaConfig, LlamaForCausalLM

    llama = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=1))
    with pytest.raises(ModelError, match=r"a \[1, T\] integer tensor; got a \[1, 3\] float32 tensor"):
        prompts_of(_loaded(llama, (torch.zeros(1, 3),)))
