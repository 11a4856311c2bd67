"""A transformers Qwen2 (attention biases, tied embeddings) through ExecuTorch's LLM export: the KV-cache program
computes the logits the eager model computes. Llama in fp32, 8da8w and 8da4w is run end to end on zoo:tiny-llama
(tests/e2e/test_language_models.py)."""

import pytest
import torch

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore")]


def test_a_qwen2_with_attention_biases_and_tied_embeddings_exports_exactly(tmp_path):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from edgeq.llm.export import export_llm, load_llm, teacher_forced

    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=512, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         tie_word_embeddings=True, architectures=["Qwen2ForCausalLM"])
    model = Qwen2ForCausalLM(config).eval()
    ids = torch.randint(0, 512, (1, 33), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(ids).logits[0]
    logits = teacher_forced(load_llm(export_llm(model, "fp32", tmp_path / "model.pte", max_context=64)), ids)
    assert torch.nn.functional.cosine_similarity(logits, expected, dim=1).min().item() >= 0.99999
