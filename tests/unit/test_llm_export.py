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


def test_a_profiles_group_size_sets_the_4_bit_groups_and_keys_the_cache(tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    from edgeq.export import ArtifactCache
    from edgeq.llm.export import build_llm_artifact

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=256, hidden_size=128, intermediate_size=256, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    model = LlamaForCausalLM(config).eval()
    cache = ArtifactCache(tmp_path / "artifacts")
    built = {group: build_llm_artifact("tiny", "f", model, "8da4w", cache, "test", max_context=64, group_size=group)
             for group in (32, 128)}
    assert {group: artifact.manifest.data["group_size"] for group, artifact in built.items()} == {32: 32, 128: 128}
    # a scale per 128 input channels instead of per 32: fewer scales, a smaller program
    assert built[128].size_bytes < built[32].size_bytes


def test_only_4_bit_weights_take_the_profiles_group_size():
    from edgeq.llm.export import SCHEMES

    assert {name: scheme.group(128) for name, scheme in SCHEMES.items()} == {
        "fp32": None, "8da8w": 0, "8da4w": 128, "8da8w-emb8": 0, "8da4w-emb4": 128}
    assert SCHEMES["8da4w"].group(None) == 32
