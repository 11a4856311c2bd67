"""A transformers LlamaForCausalLM through ExecuTorch's LLM export: the KV-cache program computes the logits
the eager model computes, in fp32 exactly and in 8da8w/8da4w within the issue's published bounds."""

import pytest
import torch

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore")]


@pytest.fixture(scope="module")
def llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=512, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         tie_word_embeddings=False, architectures=["LlamaForCausalLM"])
    model = LlamaForCausalLM(config).eval()
    ids = torch.randint(0, 512, (1, 33), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return model, ids, model(ids).logits[0]


@pytest.mark.parametrize("scheme,cosine", [("fp32", 0.99999), ("8da8w", 0.9995), ("8da4w", 0.98)])
def test_the_kv_cache_program_gives_the_eager_logits_teacher_forced(llama, scheme, cosine, tmp_path):
    from edgeq.llm.export import export_llm, load_llm, teacher_forced

    model, ids, expected = llama
    logits = teacher_forced(load_llm(export_llm(model, scheme, tmp_path / f"{scheme}.pte")), ids)
    cosines = torch.nn.functional.cosine_similarity(logits, expected, dim=1)
    assert cosines.min().item() >= cosine, cosines


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
